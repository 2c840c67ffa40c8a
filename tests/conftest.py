"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import AccountFactory, fund


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


requires_postgres = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="needs PostgreSQL row locks and real concurrency; set DATABASE_URL to PostgreSQL",
)


@pytest.fixture
def funded_account(db):
    """An EUR account with 1000.00 available."""
    account = AccountFactory(currency="EUR")
    fund(account, 100_000)
    return account


@pytest.fixture(scope="session")
def redis_url():
    """A Redis for tests that enqueue: REDIS_URL's, else the embedded one."""
    import os

    from config import embedded_redis

    if os.environ.get("REDIS_URL"):
        yield settings.REDIS_URL
        return
    process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, settings.DATA_DIR)
    yield settings.REDIS_URL
    if process is not None:
        process.terminate()
        process.wait(timeout=10)
