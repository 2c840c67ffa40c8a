"""Connection settings read from the environment: DATABASE_URL (one host, or libpq's
multi-host form for a Patroni cluster), DATABASE_REPLICA_URL, and Redis directly or
through Sentinel. Pure functions of strings, so that they are tested without Django.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import dj_database_url
from psycopg.conninfo import conninfo_to_dict

ENGINE = "django_prometheus.db.backends.postgresql"  # PostgreSQL's, counting queries
# A multi-host URL names a cluster: without a bound, libpq waits for a dead host's TCP
# time-out (minutes) before it tries the next one; the URL's own values win.
CLUSTER_DEFAULTS = {
    "connect_timeout": "3",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
}


class ConnectionSettingError(ValueError):
    pass


def is_multi_host(url: str) -> bool:
    """True for `postgres://u@h1:5432,h2:5432/db`: more than one host in the authority."""
    return "," in urlsplit(url).netloc


def database(url: str, *, conn_max_age: int, prepared_statements: bool) -> dict[str, Any]:
    """Django's DATABASES entry for `url`.

    A one-host URL goes through dj-database-url as before. A multi-host one (which
    dj-database-url refuses) is parsed by libpq itself (psycopg's conninfo_to_dict): the
    host and port lists reach libpq intact, and every query parameter
    (`target_session_attrs`, `sslmode`, `connect_timeout`...) becomes a connection option."""
    if is_multi_host(url):
        try:
            params: dict[str, Any] = conninfo_to_dict(url)
        except Exception as error:  # psycopg.ProgrammingError: libpq's own message
            raise ConnectionSettingError(f"cannot parse the database URL: {error}") from None
        if not params.get("dbname"):
            raise ConnectionSettingError("the database URL names no database")
        entry: dict[str, Any] = {
            "NAME": unquote(params.pop("dbname")),
            "USER": params.pop("user", ""),
            "PASSWORD": params.pop("password", ""),
            "HOST": params.pop("host", ""),
            "PORT": params.pop("port", ""),
            "CONN_MAX_AGE": conn_max_age,
        }
        options = {**CLUSTER_DEFAULTS, **params}
    else:
        entry = dict(dj_database_url.parse(url, conn_max_age=conn_max_age))
        options = dict(entry.get("OPTIONS") or {})
    entry["ENGINE"] = ENGINE
    entry["CONN_HEALTH_CHECKS"] = True
    # The payment hot path (common.db.pgsql) prepares its statements once per connection
    # (psycopg keeps them per connection: a new one, after a failover, prepares them
    # again). Django leaves them off unless a threshold is given.
    options["prepare_threshold"] = 5 if prepared_statements else None
    entry["OPTIONS"] = options
    return entry


def sentinels(text: str) -> list[tuple[str, int]]:
    """`host:port,host:port` -> [(host, port), ...]; `[::1]:26379` for IPv6."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConnectionSettingError(f"REDIS_SENTINELS: {item!r} is not host:port")
        found.append((host.strip("[]"), int(port)))
    return found


def redis_auth(url: str) -> dict[str, Any]:
    """The database number, user name and password of a redis:// URL (its host is not
    used under Sentinel: Sentinel names the master)."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    return {
        "DB": int(path) if path.isdigit() else 0,
        "USERNAME": unquote(parts.username) if parts.username else None,
        "PASSWORD": unquote(parts.password) if parts.password else None,
    }


def rq_connection(*, url: str, sentinel_hosts: list[tuple[str, int]], master: str) -> dict:
    """The connection part of a django-rq queue: the URL, or Sentinel's master."""
    if not sentinel_hosts:
        return {"URL": url}
    return {
        "SENTINELS": sentinel_hosts,
        "MASTER_NAME": master,
        **redis_auth(url),
        # A worker waits on BLPOP for minutes: no read time-out, but keepalives so that a
        # master that vanished without a FIN is noticed, and a bounded connect.
        "CONNECTION_KWARGS": {"socket_connect_timeout": 2, "socket_keepalive": True},
        "SENTINEL_KWARGS": {"socket_timeout": 1, "socket_connect_timeout": 1},
    }
