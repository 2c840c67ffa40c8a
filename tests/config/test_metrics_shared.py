"""Metrics count every process's work (issue 22, point 11): under `make run` the RQ worker
writes into the same PROMETHEUS_MULTIPROC_DIR as gunicorn, so /metrics shows the payments
a batch execution made in the worker."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

from prometheus_client import generate_latest

from config import metrics, run
from tests.e2e.launcher import ROOT

WORKER = (
    "from payments.metrics import PAYMENTS; "
    "PAYMENTS.labels(status='completed', channel='batch').inc(7)"
)


def test_make_run_shares_one_metrics_directory_and_a_workers_payments_are_scraped(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"stale")  # a previous run's

    directory = run.share_metrics_dir(tmp_path)

    assert directory == tmp_path / "metrics" and not (directory / "counter_1.db").exists()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)
    # a process started after this (the RQ worker's work horse) counts into it
    subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=dict(os.environ), check=True)
    scraped = generate_latest(metrics.registry()).decode()
    assert 'payhub_payments_total{channel="batch",status="completed"} 7.0' in scraped


def test_gunicorn_leaves_a_shared_directory_as_the_launcher_emptied_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("METRICS_DIR_CLEAR_ON_START", "false")
    (tmp_path / "counter_42.db").write_bytes(b"the worker's")
    gunicorn_conf = importlib.import_module("config.gunicorn")

    gunicorn_conf.on_starting(None)

    assert (tmp_path / "counter_42.db").exists()
    monkeypatch.setenv("METRICS_DIR_CLEAR_ON_START", "true")
    gunicorn_conf.on_starting(None)
    assert not (tmp_path / "counter_42.db").exists()


def test_the_workers_only_exporter_needs_the_directory(monkeypatch, capsys):
    from config import metrics_exporter

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert metrics_exporter.main(["--bind", "127.0.0.1:0"]) == 2
    assert "PROMETHEUS_MULTIPROC_DIR" in capsys.readouterr().err
