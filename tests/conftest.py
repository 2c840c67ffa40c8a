"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.factories import AccountFactory, UserFactory, fund
from tests.helpers import make_operator, otp_login


@pytest.fixture
def funded_account(db):
    """An EUR account with 1000.00 available."""
    account = AccountFactory(currency="EUR")
    fund(account, 100_000)
    return account


@pytest.fixture(scope="session", autouse=True)
def redis_url():
    """A Redis for the cache and the queues: REDIS_URL's, else an embedded one, stopped at
    the end of the session by this fixture, which started it (or by the kernel, should
    pytest be killed: config/embedded_redis.py). A server that was already answering on
    the socket is someone else's and stays."""
    import os
    import subprocess

    from config import embedded_redis

    if os.environ.get("REDIS_URL"):
        yield settings.REDIS_URL
        return
    process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, settings.DATA_DIR)
    try:
        yield settings.REDIS_URL
    finally:
        if process is not None:
            process.terminate()  # it saves its data set first: give it time on a busy machine
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(autouse=True)
def _webhooks_to_the_test_receivers(settings):
    """The suite's webhook receivers listen on 127.0.0.1, which production refuses
    (tests/payments/test_outbound.py turns the setting back off to show it)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters must not leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def operator_user(db):
    """A member of the payments staff (role `operator`) whose password is UserFactory's."""
    return make_operator()


@pytest.fixture
def operator_client(client, operator_user):
    """A client logged in to the dashboard as `operator_user`: password, then a real TOTP code."""
    otp_login(client, operator_user)
    return client


@pytest.fixture
def admin_client(client, db):
    """pytest-django's admin_client, but through the second factor that the admin requires."""
    otp_login(client, UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


@pytest.fixture(autouse=True)
def _forget_blocked_addresses():
    """The failed-authentication throttle remembers blocked addresses per process."""
    from payments.api import auth

    yield
    getattr(auth, "_blocked", {}).clear()
