"""Outbound HTTP that cannot be aimed inward: webhooks now, the clearing app's peers next.

`post(url, body, headers, timeout=..., allow_private=...)`:
- http and https only, no user:password@ in the URL;
- the host is resolved here, and every address it resolves to must be public (not loopback,
  private, link-local, shared, multicast, reserved or unspecified; an IPv4-mapped IPv6 address
  is judged as the IPv4 address): one bad address refuses the whole name, so a name that
  answers both a public and an internal address is not a coin toss;
- the connection goes to the address that was checked (urllib3 with the address as the host,
  the name for SNI, the certificate check and the Host header): the name is not resolved a
  second time, so DNS rebinding between the check and the connection has nothing to switch;
- no redirect is followed (a 3xx is the answer), no proxy from the environment is used.
`allow_private` (setting WEBHOOK_ALLOW_PRIVATE) lets loopback and private addresses through
for a demo or the tests; multicast and unspecified addresses stay refused.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(ValueError):
    """The target is not one the hub may send to (said without what lies behind it)."""


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str  # the first bytes of the body, for the staff's eyes only


def address_refusal(address: Address, *, allow_private: bool) -> str | None:
    """Why the hub may not connect to this address, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        return "not a unicast address"
    if allow_private:
        return None
    if not address.is_global or address.is_reserved or address.is_link_local:
        return "not a public address"
    return None


def resolve(host: str, port: int, *, allow_private: bool) -> Address:
    """The address to connect to: every address of the name checked, the first one used."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise OutboundRefused(f"the host name does not resolve ({error})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise OutboundRefused("the host name does not resolve")
    for address in addresses:
        why = address_refusal(address, allow_private=allow_private)
        if why:
            raise OutboundRefused(f"the host resolves to {why}: refused")
    return addresses[0]


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool,
    read_limit: int = 500,
) -> Answer:
    """POST once to a checked address; the status and the start of the body. Raises
    OutboundRefused before any connection, or OSError/urllib3's errors for the network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused("only http and https URLs are sent to")
    if parts.username or parts.password:
        raise OutboundRefused("a URL with credentials is not sent to")
    host = parts.hostname
    if not host:
        raise OutboundRefused("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundRefused("the URL's port is not a port") from None
    address = resolve(host, port, allow_private=allow_private)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool_options: dict[str, object] = {
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": False,
        "maxsize": 1,
    }
    if parts.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            str(address),
            port,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs=ssl.CERT_REQUIRED,
            **pool_options,  # type: ignore[arg-type]
        )
    else:
        pool = urllib3.HTTPConnectionPool(str(address), port, **pool_options)  # type: ignore[arg-type]
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers={**headers, "host": host_header},
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            excerpt = response.read(read_limit, decode_content=False)
        finally:
            response.release_conn()
    finally:
        pool.close()
    return Answer(status=response.status, excerpt=excerpt.decode(errors="replace"))


__all__ = ["Answer", "OutboundRefused", "Urllib3Error", "address_refusal", "post", "resolve"]
