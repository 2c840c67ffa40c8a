"""Screening from the outside: who is caught, who is not, and alerts decided with four eyes."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.ledger.errors import AccountFrozen, InvalidState
from accounts.models import Account, AuditEvent
from batches.selectors import external_payees
from compliance import services
from compliance.models import ScreeningAlert, Whitelist
from payments import services as payments
from payments.models import Payment
from tests.compliance.conftest import EU
from tests.factories import AccountFactory, MerchantFactory, UserFactory, fund
from tests.helpers import make_operator, totp_code, totp_device

SYSTEM = Actor.system("tests")

PAYEES = [("DE89370400440532013000", "Al Qaida"), ("FR1420041010050500013M02606", "Jean Dupont")]


def stored_payees():
    return iter(PAYEES)


@pytest.fixture
def people(db):
    """A sanctioned-looking merchant, an innocent one, and account holders of both kinds."""
    sovcomflot = MerchantFactory(name="Sovcomflot PJSC")
    shop = MerchantFactory(name="Demo Shop Ltd")
    frozen_soon = AccountFactory(merchant=sovcomflot, currency="EUR", name="Sovcomflot PJSC")
    fund(frozen_soon, 50_000)
    holder = AccountFactory(merchant=shop, currency="EUR", name="Юрий Ковальчук")
    innocent = AccountFactory(merchant=shop, currency="EUR", name="Maria Schmidt")
    return {
        "sovcomflot": sovcomflot,
        "shop": shop,
        "sovcomflot_account": frozen_soon,
        "holder": holder,
        "innocent": innocent,
    }


def screen():
    return services.sanctions_screen(actor=SYSTEM)


@override_settings(SANCTIONS_PAYEE_SOURCES=["tests.compliance.test_screening.stored_payees"])
def test_screening_catches_merchants_holders_and_payees(eu_list, people):
    result = screen()
    # 2 merchants, 3 account holders, 2 payees.
    assert result == {"screened": 7, "alerts": 4}
    alerts = {(a.subject_type, a.name): a for a in ScreeningAlert.objects.all()}
    assert set(alerts) == {
        ("merchant", "Sovcomflot PJSC"),
        ("account", "Sovcomflot PJSC"),
        ("account", "Юрий Ковальчук"),
        ("payee", "Al Qaida"),
    }
    assert alerts[("account", "Юрий Ковальчук")].reference == "EU.3744.41"
    assert alerts[("payee", "Al Qaida")].subject == "payee:DE89370400440532013000"
    assert all(a.status == "open" and a.source == "eu" for a in alerts.values())
    assert AuditEvent.objects.filter(action="sanctions.alert_open").count() == 4
    assert AuditEvent.objects.get(action="sanctions.screen").after == result


def test_screening_again_opens_nothing_new(eu_list, people):
    assert screen()["alerts"] == 3
    assert screen() == {"screened": 5, "alerts": 0}
    assert ScreeningAlert.objects.count() == 3


def test_no_list_no_alert(people):
    assert screen() == {"screened": 5, "alerts": 0}


def test_screen_name_for_batch_validation(eu_list):
    hits = services.screen_name("Kovalchuk, Yuri")
    assert [(h.source, h.reference, h.kind) for h in hits] == [("eu", "EU.3744.41", "person")]
    assert hits[0].score >= 88
    assert services.screen_name("Maria Schmidt") == []
    assert services.screen_name("") == []


def test_external_payees_of_batches_are_read(db):
    assert list(external_payees()) == []


# --------------------------------------------------------------------- four eyes


@pytest.fixture
def officers(db):
    """Two persons of the back office (the admin role by a grant), with authenticators."""
    first = make_operator(roles.ADMIN, username="first")
    second = make_operator(roles.ADMIN, username="second")
    totp_device(first)
    totp_device(second)
    return Actor.for_user(first), Actor.for_user(second)


def fresh_code(user) -> str:
    """The code of the user's authenticator for the first time step not used yet."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return ""
    step = max(int((time.time() - device.t0) // device.step), device.last_t + 1)
    return totp_code(device, at=device.t0 + step * device.step + 1)


def decide(*, actor, **kwargs):
    """alert_decide as the admin form calls it: signed with a fresh authenticator code."""
    token = fresh_code(actor.user) if actor.user is not None else ""
    return services.alert_decide(actor=actor, otp_token=token, **kwargs)


def alert_of(name: str) -> ScreeningAlert:
    return ScreeningAlert.objects.get(name=name, subject_type="account")


def test_the_proposer_cannot_confirm_their_own_proposal(eu_list, people, officers):
    first, _ = officers
    screen()
    alert = alert_of("Sovcomflot PJSC")
    decide(alert_id=alert.pk, decision="confirmed", reason="same IMO", actor=first)
    with pytest.raises(services.AlertDecisionError, match="four eyes"):
        decide(alert_id=alert.pk, decision="confirmed", reason="sure", actor=first)
    alert.refresh_from_db()
    assert alert.status == "open"
    assert Account.objects.get(pk=people["sovcomflot_account"].pk).status == "active"


def test_confirmed_freezes_the_accounts_and_holds_pending_payments(eu_list, people, officers):
    first, second = officers
    account = people["sovcomflot_account"]
    payee = AccountFactory(merchant=None, currency="EUR", name="Someone")
    pending = payments.payment_authorize(
        merchant=people["sovcomflot"],
        debtor=account,
        creditor=payee,
        amount=1000,
        currency="EUR",
        capture=False,
    )
    assert pending.status == Payment.Status.AUTHORIZED
    screen()
    alert = ScreeningAlert.objects.get(subject_type="merchant")
    decide(alert_id=alert.pk, decision="confirmed", reason="listed", actor=first)
    decide(alert_id=alert.pk, decision="confirmed", reason="agreed", actor=second)
    alert.refresh_from_db()
    assert alert.status == "confirmed"
    assert alert.proposed_by.username == "first" and alert.decided_by.username == "second"
    account.refresh_from_db()
    assert account.status == Account.Status.FROZEN
    decided = AuditEvent.objects.get(action="sanctions.alert_decide")
    assert decided.after["frozen_accounts"] == [account.number]
    assert decided.after["held_payments"] == [str(pending.pk)]
    assert AuditEvent.objects.filter(action="account.freeze", target_id=str(account.pk)).exists()
    # The held payment can no longer take the money.
    with pytest.raises(AccountFrozen):
        payments.payment_capture(payment_id=pending.pk)
    with pytest.raises(InvalidState):
        decide(alert_id=alert.pk, decision="confirmed", reason="again", actor=first)


def test_a_different_decision_by_the_second_person_rejects_the_proposal(eu_list, people, officers):
    first, second = officers
    screen()
    alert = alert_of("Юрий Ковальчук")
    decide(alert_id=alert.pk, decision="confirmed", reason="looks like him", actor=first)
    decide(alert_id=alert.pk, decision="false_positive", reason="DOB differs", actor=second)
    alert.refresh_from_db()
    assert alert.status == "open"
    assert alert.proposals.get().status == "rejected"
    assert Account.objects.get(pk=people["holder"].pk).status == "active"
    # A new proposal may be made, by either.
    decide(alert_id=alert.pk, decision="false_positive", reason="DOB", actor=second)
    assert alert.proposals.filter(status="pending").count() == 1


def test_a_decision_needs_a_person_a_reason_and_a_known_decision(eu_list, people, officers):
    first, _ = officers
    screen()
    alert = alert_of("Юрий Ковальчук")
    for kwargs, message in [
        ({"decision": "confirmed", "reason": " ", "actor": first}, "needs a reason"),
        ({"decision": "ignore", "reason": "x", "actor": first}, "decision must be one of"),
        ({"decision": "confirmed", "reason": "x", "actor": SYSTEM}, "only a person"),
    ]:
        with pytest.raises(services.AlertDecisionError, match=message):
            decide(alert_id=alert.pk, **kwargs)
    with pytest.raises(services.AlertDecisionError, match="no alert"):
        decide(alert_id=10**9, decision="confirmed", reason="x", actor=first)
    assert not alert.proposals.exists()


def test_false_positive_is_whitelisted_until_the_entry_changes(eu_list, people, officers, tmp_path):
    first, second = officers
    screen()
    alert = alert_of("Юрий Ковальчук")
    decide(alert_id=alert.pk, decision="false_positive", reason="DOB 1980", actor=first)
    decide(alert_id=alert.pk, decision="false_positive", reason="checked", actor=second)
    alert.refresh_from_db()
    assert alert.status == "false_positive"
    assert Whitelist.objects.filter(subject_ref=str(people["holder"].pk)).count() == 1
    assert screen()["alerts"] == 0  # still whitelisted
    # A new version of the list where the entry has changed (a new alias): an alert again.
    changed = tmp_path / "eu.xml"
    changed.write_bytes(
        open(EU[0], "rb")
        .read()
        .replace(b"2026-11-30T18:02", b"2026-12-02T18:02")
        .replace(b'wholeName="Iurii Valentinovici Kovalciuc"', b'wholeName="Yurii Kovalchuk"')
    )
    services.sanctions_list_import(source="eu", paths=[str(changed)], actor=SYSTEM)
    assert screen()["alerts"] == 1
    new = ScreeningAlert.objects.filter(status="open", name="Юрий Ковальчук").get()
    assert new.content_hash != alert.content_hash


# ----------------------------------------------------------------------- commands


def run(*args) -> list[dict]:
    out = StringIO()
    call_command(*args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def test_commands_print_the_contract_json(db, people):
    lines = run("sanctions_import", "--format", "eu", *EU)
    assert {
        "list": "eu",
        "version": "2026-11-30T18:02:11.437+01:00",
        "entries": 4,
    }.items() <= lines[0].items()
    assert lines[-1]["screened"] == 5 and lines[-1]["alerts"] == 3
    assert run("sanctions_screen")[-1] == {"screened": 5, "alerts": 0}
    alerts = run("sanctions_alerts")[-1]["alerts"]
    assert len(alerts) == 3
    assert set(alerts[0]) == {"id", "subject", "name", "list", "entry", "score", "status"}
    assert {a["status"] for a in alerts} == {"open"}
    assert run("sanctions_alerts", "--status", "confirmed")[-1] == {"alerts": []}


def test_import_command_refuses_a_bad_file_with_a_message(db, tmp_path):
    from django.core.management.base import CommandError

    bad = tmp_path / "x.xml"
    bad.write_text("<html/>")
    with pytest.raises(CommandError, match="not an EU financial sanctions file"):
        call_command("sanctions_import", "--format", "eu", str(bad), stdout=StringIO())


def test_the_daily_screening_is_asked_once_a_day_and_runs_through_the_outbox(eu_list, people):
    from compliance.jobs import schedule_daily_screening
    from outbox import services as outbox
    from outbox.models import OutboxJob

    schedule_daily_screening()
    schedule_daily_screening()  # the cron asks every hour
    job = OutboxJob.objects.get(key__startswith="sanctions.screen.daily.")
    assert outbox.run(job.pk) == {"screened": 5, "alerts": 3}
    schedule_daily_screening()  # done today: not asked again
    assert OutboxJob.objects.filter(key__startswith="sanctions.screen.daily.").count() == 1


def test_a_second_user_account_of_the_proposer_is_the_same_person(eu_list, people):
    from accounts.identity import gate

    proposer = make_operator(roles.ADMIN, username="proposer")
    totp_device(proposer)
    other_account = UserFactory(username="proposer-2", person=gate.person_of(proposer))
    screen()
    alert = alert_of("Юрий Ковальчук")
    decide(alert_id=alert.pk, decision="confirmed", reason="him", actor=Actor.for_user(proposer))
    with pytest.raises(services.AlertDecisionError, match="four eyes"):
        decide(
            alert_id=alert.pk,
            decision="confirmed",
            reason="me again",
            actor=Actor.for_user(other_account),
        )
    alert.refresh_from_db()
    assert alert.status == "open"


def test_a_decision_passes_the_gate_role_and_code(eu_list, people, officers):
    from accounts.identity.gate import CodeRefused, NotAllowed

    first, _ = officers
    screen()
    alert = alert_of("Юрий Ковальчук")
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    totp_device(boss)
    with pytest.raises(NotAllowed, match="admin"):  # a superuser flag confers nothing
        decide(alert_id=alert.pk, decision="confirmed", reason="x", actor=Actor.for_user(boss))
    with pytest.raises(CodeRefused):
        services.alert_decide(
            alert_id=alert.pk, decision="confirmed", reason="x", actor=first, otp_token="000000"
        )
    assert not alert.proposals.exists()
    totp_device(first.user)  # as if the throttle of wrong codes had passed
    decide(alert_id=alert.pk, decision="confirmed", reason="him", actor=first)
    from accounts.identity.models import Decision

    assert Decision.objects.get(kind="sanctions_alert").verdict == "initiate"
