"""What a connection says about the replicated cluster behind it, for /readyz and /metrics:
which server it reached and whether that one is a primary, how late a standby is, and the
primary's view of its standbys (pg_stat_replication)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections

# A standby that has replayed everything it received is not late, however long ago the
# last transaction was; otherwise, how old the last replayed transaction is.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END::float8
"""


@dataclass(frozen=True)
class Server:
    host: str  # as the server sees its own address; the socket directory's "local" on a socket
    port: int
    in_recovery: bool  # a standby

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def role(self) -> str:
        return "standby" if self.in_recovery else "primary"


@dataclass(frozen=True)
class Standby:
    name: str  # application_name: Patroni's member name
    address: str
    sync_state: str  # sync, potential, async, quorum
    lag_bytes: int | None  # None without the pg_monitor privilege
    replay_lag_seconds: float | None


def server(alias: str = DEFAULT_DB_ALIAS) -> Server:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT host(inet_server_addr()), inet_server_port(), pg_is_in_recovery()")
        host, port, in_recovery = cursor.fetchone()
    settings_port = connections[alias].settings_dict.get("PORT") or 5432
    return Server(
        host=host or "local",
        port=int(port or str(settings_port).split(",")[0] or 5432),
        in_recovery=bool(in_recovery),
    )


def lag_seconds(alias: str) -> float:
    """How far behind the primary the server of `alias` is (0 on a primary)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(LAG_SQL)
        return float(cursor.fetchone()[0])


def standbys() -> list[Standby]:
    """The primary's standbys, as it streams to them."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(
            """
            SELECT application_name, host(client_addr), sync_state,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
                   EXTRACT(EPOCH FROM replay_lag)::float8
            FROM pg_stat_replication
            WHERE NOT pg_is_in_recovery()
            ORDER BY application_name
            """
        )
        return [
            Standby(
                name=name,
                address=address or "",
                sync_state=sync_state or "",
                lag_bytes=lag_bytes,
                replay_lag_seconds=replay_lag,
            )
            for name, address, sync_state, lag_bytes, replay_lag in cursor.fetchall()
        ]
