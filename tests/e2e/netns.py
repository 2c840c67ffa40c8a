"""Hosts on one machine: Linux network namespaces on a bridge that lives in a namespace
of its own (the machine's network is not touched), for the many-hosts tests. Needs root
and ip(8); `tear_down` kills every process left in each namespace and deletes them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sh(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=check, capture_output=True, text=True, timeout=60)


class Network:
    def __init__(self, hosts: dict[str, int], tag: str = "ph"):
        self.hosts = hosts  # name -> last octet of its address
        self.tag = f"{tag}{os.getpid() % 10000}"
        self.subnet = f"10.213.{os.getpid() % 200 + 20}"
        self.switch = f"{self.tag}sw"
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen] = []

    def ns(self, host: str) -> str:
        return f"{self.tag}{host}"

    def address(self, host: str) -> str:
        return f"{self.subnet}.{self.hosts[host]}"

    def build(self) -> None:
        sh("ip", "netns", "add", self.switch)
        self.namespaces.append(self.switch)
        sh("ip", "netns", "exec", self.switch, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", self.switch, "ip", "link", "set", "br0", "up")
        for host in self.hosts:
            name = self.ns(host)
            sh("ip", "netns", "add", name)
            self.namespaces.append(name)
            inside, outside = f"{self.tag}{host}i"[:15], f"{self.tag}{host}o"[:15]
            sh("ip", "link", "add", inside, "type", "veth", "peer", "name", outside)
            sh("ip", "link", "set", inside, "netns", name)
            sh("ip", "link", "set", outside, "netns", self.switch)
            sh("ip", "netns", "exec", self.switch, "ip", "link", "set", outside, "master", "br0")
            sh("ip", "netns", "exec", self.switch, "ip", "link", "set", outside, "up")
            sh(
                "ip",
                "netns",
                "exec",
                name,
                "ip",
                "addr",
                "add",
                f"{self.address(host)}/24",
                "dev",
                inside,
            )
            sh("ip", "netns", "exec", name, "ip", "link", "set", inside, "up")
            sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")

    def start(
        self, host: str, command: list[str], env: dict[str, str], log: Path
    ) -> subprocess.Popen:
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(host), *command],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def pids(self, host: str) -> list[int]:
        """Every process running in the host's namespace."""
        listed = sh("ip", "netns", "pids", self.ns(host), check=False).stdout.split()
        return [int(pid) for pid in listed if pid.isdigit()]

    @staticmethod
    def kill(pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def tear_down(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        for name in reversed(self.namespaces):
            # Anything still running inside dies with a kill of its namespace's pids.
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", name, check=False)


def wait_port(
    network: Network, host: str, port: int, process: subprocess.Popen, seconds=60
) -> None:
    deadline = time.monotonic() + seconds
    probe = f"import socket; socket.create_connection(('{network.address(host)}', {port}), 1)"
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{host}:{port} exited"
        if (
            sh(
                "ip", "netns", "exec", network.ns("cl"), sys.executable, "-c", probe, check=False
            ).returncode
            == 0
        ):
            return
        time.sleep(0.3)
    raise AssertionError(f"{host}:{port} never answered")
