"""New and external payees screened at validation: a possible sanctions match opens an
alert, flags its rows (FLAG_SANCTIONS) and holds the approval until the alert is decided."""

from __future__ import annotations

from collections import Counter

import pytest

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.models import AuditEvent
from batches import payee_screening, services
from batches.models import Batch, BatchItem
from compliance import index, screening
from compliance import services as compliance
from compliance.models import ScreeningAlert
from tests.compliance.conftest import EU
from tests.helpers import fresh_code, make_operator, otp_login, signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def eu_list(db):
    screening._index_cache.clear()
    imported, _ = compliance.sanctions_list_import(
        source="eu", paths=EU, actor=Actor.system("tests"), schedule_screening=False
    )
    yield imported
    screening._index_cache.clear()


def validated(desk, *rows: tuple[str, str, str]) -> Batch:
    lines = ["creditor_account,amount,currency,reference,creditor_name"]
    lines += [
        f"{account},{amount},EUR,ref {n},{name}" for n, (account, amount, name) in enumerate(rows)
    ]
    return services.batch_validate(batch_id=desk.upload("\n".join(lines) + "\n").id)


def approve(batch: Batch, user):
    return services.batch_approve(
        batch_id=batch.id, approver=user, actor=Actor.for_user(user), otp_token=fresh_code(user)
    )


def decide(alert: ScreeningAlert, user, decision: str) -> None:
    compliance.alert_decide(
        alert_id=alert.pk,
        decision=decision,
        reason="checked the payee's registry",
        actor=Actor.for_user(user),
        otp_token=fresh_code(user),
    )


def test_a_new_payee_that_may_be_listed_is_flagged_and_alerted(desk, eu_list):
    batch = validated(
        desk, ("PAYEE0000", "10.00", "Sovcomflot PJSC"), ("PAYEE0001", "20.00", "Jane Smith")
    )

    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert batch.flag_counts["sanctions"] == 1
    rows = {item.row: item for item in batch.items.all()}
    assert rows[1].is_sanctions_hit and rows[1].flags & BatchItem.FLAG_SANCTIONS
    assert not rows[2].is_sanctions_hit
    (alert,) = ScreeningAlert.objects.all()
    assert (alert.subject, alert.name, alert.status) == (
        "payee:PAYEE0000",
        "Sovcomflot PJSC",
        "open",
    )
    assert AuditEvent.objects.filter(action="sanctions.alert_open").count() == 1


def test_the_approval_waits_until_the_alert_is_decided_a_false_positive(desk, eu_list):
    batch = validated(desk, ("PAYEE0000", "10.00", "Sovcomflot PJSC"))
    alert = ScreeningAlert.objects.get()

    with pytest.raises(payee_screening.SanctionsHold, match="open alert"):
        approve(batch, desk.checker)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL and not batch.approvals.exists()

    first = make_operator(roles.ADMIN, username="officer1")
    second = make_operator(roles.ADMIN, username="officer2")
    decide(alert, first, "false_positive")
    decide(alert, second, "false_positive")

    assert approve(batch, desk.checker).status == Batch.Status.EXECUTING


def test_a_confirmed_match_never_lets_the_batch_through(desk, eu_list):
    batch = validated(desk, ("PAYEE0000", "10.00", "Sovcomflot PJSC"))
    alert = ScreeningAlert.objects.get()
    decide(alert, make_operator(roles.ADMIN, username="officer1"), "confirmed")
    decide(alert, make_operator(roles.ADMIN, username="officer2"), "confirmed")

    with pytest.raises(payee_screening.SanctionsHold, match="confirmed"):
        approve(batch, desk.checker)
    services.batch_reject(
        batch_id=batch.id,
        approver=desk.checker,
        reason="sanctioned payee",
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )


def test_each_distinct_name_is_screened_once(desk, eu_list, monkeypatch):
    searched: Counter[str] = Counter()
    search = index.NameIndex.search

    def counting(self, name, threshold):
        searched[name] += 1
        return search(self, name, threshold)

    monkeypatch.setattr(index.NameIndex, "search", counting)

    validated(
        desk,
        *[("PAYEE0001", "1.00", "Jane Smith")] * 3,
        *[("PAYEE0002", "1.00", "Sovcomflot PJSC")] * 2,
    )

    assert searched["Jane Smith"] == 1
    assert searched["Sovcomflot PJSC"] == 2  # found once, then by the alert's screening


def test_a_payee_paid_before_is_not_screened_at_validation(desk, eu_list):
    from payments.services import payment_authorize

    payment_authorize(
        merchant=desk.merchant,
        debtor=desk.account,
        creditor=desk.payees[0],
        amount=100,
        currency="EUR",
    )

    batch = validated(desk, ("PAYEE0000", "10.00", "Sovcomflot PJSC"))

    assert batch.flag_counts.get("sanctions", 0) == 0
    assert not ScreeningAlert.objects.exists()
    assert approve(batch, desk.checker).status == Batch.Status.EXECUTING


def test_without_lists_nothing_is_screened(desk):
    batch = validated(desk, ("PAYEE0000", "10.00", "Sovcomflot PJSC"))

    assert batch.flag_counts.get("sanctions", 0) == 0
    assert approve(batch, desk.checker).status == Batch.Status.EXECUTING


def test_the_batch_page_shows_the_flag_and_says_why_it_cannot_be_approved(desk, eu_list, client):
    batch = validated(desk, ("PAYEE0000", "10.00", "Sovcomflot PJSC"))
    otp_login(client, desk.checker)

    page = client.get(f"/batches/{batch.pk}/").content.decode()
    refused = client.post(f"/batches/{batch.pk}/approve/", signed(desk.checker), follow=True)

    assert 'id="flag-sanctions">1<' in page
    assert "possible sanctions match" in page
    assert "may be on a sanctions list" in refused.content.decode()
    batch.refresh_from_db()
    assert batch.status == Batch.Status.AWAITING_APPROVAL
