"""DATABASE_URL in libpq's multi-host form, DATABASE_REPLICA_URL's router, Redis through
Sentinel: what the settings make of the environment, and that Django and redis-py then
reach the servers with it."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.backends.postgresql.base import DatabaseWrapper
from redis.exceptions import RedisError

from common.db import routing
from config import connections as conn_settings

CLUSTER = "postgres://hub:s%40cret@db1:5432,db2:5433,db3/payhub?target_session_attrs=read-write"


def test_a_multi_host_url_reaches_libpq_intact():
    entry = conn_settings.database(CLUSTER, conn_max_age=60, prepared_statements=True)

    assert entry["HOST"] == "db1,db2,db3"
    assert entry["PORT"] == "5432,5433,"  # the third host on libpq's default port
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"]) == ("payhub", "hub", "s@cret")
    assert entry["OPTIONS"]["target_session_attrs"] == "read-write"
    assert entry["OPTIONS"]["prepare_threshold"] == 5
    assert entry["CONN_HEALTH_CHECKS"] is True
    # A dead host is given up after a few seconds, not after the TCP time-out
    assert entry["OPTIONS"]["connect_timeout"] == "3"


def test_the_urls_own_options_win_over_the_cluster_defaults():
    entry = conn_settings.database(
        CLUSTER + "&connect_timeout=10&sslmode=require", conn_max_age=0, prepared_statements=False
    )

    assert entry["OPTIONS"]["connect_timeout"] == "10"
    assert entry["OPTIONS"]["sslmode"] == "require"
    assert entry["OPTIONS"]["prepare_threshold"] is None


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u@db1,db2/payhub?no_such_option=1",  # libpq refuses it: so do we
        "postgres://u@db1,db2/",  # no database
    ],
)
def test_a_malformed_cluster_url_is_refused_with_a_message(url):
    with pytest.raises(conn_settings.ConnectionSettingError):
        conn_settings.database(url, conn_max_age=60, prepared_statements=True)


def test_a_one_host_url_is_read_as_before():
    entry = conn_settings.database(
        "postgres://u:p@db:6543/payhub?sslmode=require", conn_max_age=60, prepared_statements=True
    )

    assert (entry["HOST"], entry["PORT"], entry["NAME"]) == ("db", 6543, "payhub")
    assert entry["OPTIONS"] == {"sslmode": "require", "prepare_threshold": 5}


def test_django_connects_through_a_multi_host_url_to_the_host_that_takes_writes(db):
    # given the test database's server, named second after a host where nothing listens
    params = connection.get_connection_params()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # closed again: a refused connection
    host = connection.settings_dict["HOST"]
    if not host or host.startswith("/"):
        pytest.skip("the test server is on a Unix socket")
    port = connection.settings_dict["PORT"] or 5432
    url = (
        f"postgres://{params['user']}@127.0.0.1:{dead_port},{host}:{port}/"
        f"{params['dbname']}?target_session_attrs=read-write"
    )
    entry = conn_settings.database(url, conn_max_age=0, prepared_statements=True)
    wrapper = DatabaseWrapper({**connection.settings_dict, **entry}, alias="cluster")
    try:
        # when Django connects with it
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT inet_server_port(), pg_is_in_recovery()")
            # then libpq skipped the dead host and kept the primary
            assert cursor.fetchone() == (int(port), False)
    finally:
        wrapper.close()


def test_sentinels_are_read_as_host_port_pairs():
    assert conn_settings.sentinels(" 10.0.0.1:26379, [::1]:26380 ,") == [
        ("10.0.0.1", 26379),
        ("::1", 26380),
    ]
    assert conn_settings.sentinels("") == []
    with pytest.raises(conn_settings.ConnectionSettingError):
        conn_settings.sentinels("10.0.0.1")


def test_rq_queues_use_sentinel_when_sentinels_are_given():
    queue = conn_settings.rq_connection(
        url="redis://:pw@ignored:6379/3", sentinel_hosts=[("s1", 26379)], master="payhub"
    )
    assert queue["SENTINELS"] == [("s1", 26379)]
    assert (queue["MASTER_NAME"], queue["DB"], queue["PASSWORD"]) == ("payhub", 3, "pw")
    assert "URL" not in queue
    assert conn_settings.rq_connection(url="redis://r:6379/0", sentinel_hosts=[], master="x") == {
        "URL": "redis://r:6379/0"
    }


def test_without_a_replica_every_read_is_on_the_primary():
    assert "replica" not in settings.DATABASES
    assert routing.replica_alias() == DEFAULT_DB_ALIAS


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_with_a_replica_the_late_reads_go_to_it_and_writes_stay_on_the_primary(settings):
    settings.DATABASES = {**settings.DATABASES, "replica": dict(settings.DATABASES["default"])}
    router = routing.PrimaryWritesRouter()

    assert routing.replica_alias() == "replica"
    assert router.db_for_read(object) is None  # only where the caller asks
    assert router.db_for_write(object) == DEFAULT_DB_ALIAS
    assert not router.allow_migrate("replica", "payments")
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "payments")


@pytest.mark.django_db
def test_a_row_read_from_the_replica_is_saved_on_the_primary():
    from django.db import router

    from tests.factories import MerchantFactory

    merchant = MerchantFactory()
    merchant._state.db = "replica"  # as if read with .using("replica")
    assert router.db_for_write(type(merchant), instance=merchant) == DEFAULT_DB_ALIAS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, RedisError):  # not up yet
            logging.getLogger(__name__).debug("not up yet", exc_info=True)
        time.sleep(0.1)
    raise AssertionError("not up in time")


@pytest.mark.e2e
@pytest.mark.skipif(not shutil.which("redis-sentinel"), reason="needs redis-sentinel")
def test_the_cache_and_the_throttle_find_the_master_through_sentinel(db, settings, tmp_path: Path):
    import redis
    from django.core.cache.backends.redis import RedisCache

    from common import redis_client

    master_port, sentinel_port = _free_port(), _free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\nprotected-mode no\ndir {tmp_path}\n"
        f"sentinel monitor hubtest 127.0.0.1 {master_port} 1\n"
    )
    processes = [
        subprocess.Popen(
            ["redis-server", "--port", str(master_port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen(["redis-sentinel", str(config)], stdout=subprocess.DEVNULL),
    ]
    try:
        _wait(lambda: redis.Redis(port=sentinel_port).ping())
        settings.REDIS_SENTINELS = [("127.0.0.1", sentinel_port)]
        settings.REDIS_SENTINEL_MASTER = "hubtest"
        settings.REDIS_SENTINEL_AUTH = {"DB": 2, "USERNAME": None, "PASSWORD": None}
        redis_client.sentinel.cache_clear()
        _wait(lambda: redis_client.master_address() == ("127.0.0.1", master_port))

        # the throttle's client
        client = redis_client.client(socket_timeout=1)
        client.set("hello", "1")
        assert redis.Redis(port=master_port, db=2).get("hello") == b"1"

        # the cache, as settings.CACHES builds it under Sentinel
        cache = RedisCache(
            "redis:///2", {"OPTIONS": {"pool_class": "common.redis_client.SentinelPool"}}
        )
        cache.set("k", "v")
        assert cache.get("k") == "v"
        assert redis.Redis(port=master_port, db=2).dbsize() == 2

        # and /readyz names the master Sentinel gave
        from django.test import Client

        assert Client().get("/readyz").json()["redis_master"] == f"127.0.0.1:{master_port}"
    finally:
        redis_client.sentinel.cache_clear()
        for process in processes:
            process.kill()
            process.wait(timeout=10)
