"""The audit trail is tamper-evident: a hash chain that `verify_audit` walks."""

from __future__ import annotations

import json
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.identity import audit
from accounts.identity.audit import Actor
from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db


def verify(capsys) -> tuple[int, dict]:
    code = 0
    try:
        call_command("verify_audit")
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def events(n: int) -> list[AuditEvent]:
    return [
        audit.record(actor=Actor.system(), action=f"test.{i}", target=None, n=i) for i in range(n)
    ]


def sql(statement: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_an_untouched_trail_verifies(capsys):
    made = events(3)

    code, result = verify(capsys)

    assert (code, result["ok"], result["broken"]) == (0, True, [])
    assert result["events_checked"] == AuditEvent.objects.count() >= 3
    assert made[1].prev_hash == made[0].hash and made[2].prev_hash == made[1].hash


def test_an_event_edited_with_sql_is_named(capsys):
    made = events(3)
    sql("UPDATE accounts_auditevent SET actor_label = 'nobody' WHERE id = %s", [made[1].id])

    code, result = verify(capsys)

    assert code == 1 and not result["ok"]
    assert [b["id"] for b in result["broken"]] == [made[1].id]
    assert "edited" in result["broken"][0]["problem"]


def test_an_event_deleted_with_sql_is_noticed_at_the_next(capsys):
    made = events(3)
    sql("DELETE FROM accounts_auditevent WHERE id = %s", [made[1].id])

    code, result = verify(capsys)

    assert code == 1
    assert [b["id"] for b in result["broken"]] == [made[2].id]
    assert "deleted or reordered" in result["broken"][0]["problem"]


def test_two_events_swapped_with_sql_are_both_named(capsys):
    made = events(4)
    first, second = made[1].id, made[2].id
    sql("UPDATE accounts_auditevent SET id = -id WHERE id = %s", [first])
    sql("UPDATE accounts_auditevent SET id = %s WHERE id = %s", [first, second])
    sql("UPDATE accounts_auditevent SET id = %s WHERE id = %s", [second, -first])

    code, result = verify(capsys)

    assert code == 1
    assert {b["id"] for b in result["broken"]} >= {first, second}


@pytest.mark.django_db(transaction=True)
def test_concurrent_events_never_fork_the_chain(capsys):
    barrier = threading.Barrier(4)

    def write() -> None:
        try:
            barrier.wait()
            for i in range(10):
                audit.record(actor=Actor.system(), action="test.concurrent", target=None, i=i)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    code, result = verify(capsys)
    assert code == 0, result["broken"]
    prev_hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(prev_hashes) == len(set(prev_hashes))
    assert AuditEvent.objects.filter(action="test.concurrent").count() == 40


def test_the_back_offices_payment_searches_are_audited(operator_user):
    from django.test import Client

    from tests.factories import UserFactory
    from tests.helpers import otp_login

    operator, back_office = Client(), Client()
    otp_login(operator, operator_user)
    otp_login(back_office, UserFactory(is_staff=True, is_superuser=True))
    operator.get("/payments/", {"reference": "inv-42"})
    back_office.get("/admin/payments/payment/", {"q": "inv-43"})

    dashboard = AuditEvent.objects.get(action="payments.search")
    assert dashboard.detail["filters"] == {"reference": "inv-42"}
    assert dashboard.actor_label and dashboard.ip == "127.0.0.1"
    back_office = AuditEvent.objects.get(action="payments.admin_search")
    assert back_office.detail["filters"] == {"q": "inv-43"}
