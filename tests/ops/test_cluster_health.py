"""/readyz and /metrics say where the connections lead: the primary, whether the
connection is on one, the replica's lag, the standbys, the Redis master."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from common.db import cluster

pytestmark = pytest.mark.django_db


def test_readyz_names_the_primary_it_reached(client):
    answer = client.get("/readyz").json()

    server = cluster.server()
    assert not server.in_recovery
    assert answer["database"] == "ok"
    assert answer["database_primary"] == server.address
    # nothing configured, nothing claimed
    assert "database_replica" not in answer and "redis_master" not in answer


def test_readyz_is_503_when_the_connection_reached_a_standby(client, monkeypatch):
    # A one-host DATABASE_URL left pointing at a demoted primary after a switchover.
    standby = cluster.Server(host="10.0.0.2", port=5432, in_recovery=True)
    monkeypatch.setattr(cluster, "server", lambda alias="default": standby)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "standby" in response.json()["database"]


def test_a_primary_is_never_late_and_a_standalone_server_streams_to_no_one():
    assert cluster.lag_seconds("default") == 0.0
    assert cluster.standbys() == []


def test_metrics_show_the_server_and_its_role():
    text = Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode()

    server = cluster.server()
    assert f'payhub_database_server{{address="{server.address}",role="primary"}} 1.0' in text
    assert "payhub_database_standby_lag_bytes" in text
    assert "payhub_redis_master" not in text  # no Sentinel configured


def test_the_server_address_is_the_one_the_connection_uses():
    host = connection.settings_dict["HOST"]
    if not host or host.startswith("/"):
        assert cluster.server().host == "local"
    else:
        assert cluster.server().port == int(connection.settings_dict["PORT"] or 5432)
