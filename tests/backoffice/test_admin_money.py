"""Every admin page shows money in major units with its currency; read-only pages offer
no Save; a save that changes nothing records nothing."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import transaction
from django.urls import reverse

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.ledger import limits
from accounts.models import AuditEvent, LedgerEntry, LedgerTransaction, User
from outbox import services as outbox
from payments import actions, api_keys
from tests.backoffice.conftest import AUTHORIZED, FUNDED, PAID, REFUNDED
from tests.factories import UserFactory
from tests.helpers import fresh_code, grant, otp_login

pytestmark = pytest.mark.django_db

OUR_APPS = {"accounts", "payments", "batches"}
# Rows only an approved, executing batch makes: their (empty) list is opened, not a page.
LIST_ONLY = {"batches.batchhold"}
# The screens where something may be edited (a name, a URL, a key's label, a user).
EDITABLE = {"accounts.account", "accounts.merchant", "accounts.user", "payments.merchantapikey"}

DEBTOR_AFTER_PAYMENT = FUNDED - PAID  # 98,765,433
DEBTOR_AFTER_REFUND = FUNDED - PAID + REFUNDED  # 98,965,433
# Minor units that must never reach a page as they are stored.
RAW = [
    FUNDED,
    PAID,
    REFUNDED,
    AUTHORIZED,
    DEBTOR_AFTER_PAYMENT,
    DEBTOR_AFTER_REFUND,
    PAID - REFUNDED,
]


@pytest.fixture
def superuser_client(client, db):
    user = UserFactory(username="backoffice", is_staff=True, is_superuser=True)
    otp_login(client, user)
    return client


def _an_object(model, world):
    if model is User:
        return User.objects.get(username="backoffice")
    if model._meta.label_lower == "payments.payment":
        return world.paid
    return model._default_manager.order_by("pk").first()


def _assert_no_minor_units(html: str, where: str) -> None:
    for raw in RAW:
        assert f">{raw}<" not in html and f" {raw}<" not in html and f">{raw} " not in html, (
            f"{where} shows {raw} in minor units"
        )


def test_every_admin_change_page_shows_major_units_and_save_only_where_editable(
    superuser_client, world
):
    api_keys.api_key_create(merchant=world.merchant, name="till", actor=Actor.system("tests"))
    backoffice = grant(User.objects.get(username="backoffice"), roles.ADMIN)
    actions.backoffice_action_request(
        kind="void",
        payment_id=world.authorized.pk,
        reason="duplicate",
        actor=Actor.for_user(backoffice),
        otp_token=fresh_code(backoffice),
    )  # 7,654.32 EUR: waits for approval
    # A raise of an instant limit waiting for its second person (12,345.67 EUR a payment).
    limits.instant_limits_request(
        account_id=world.debtor.pk, actor=Actor.system("tests"), per_payment=1_234_567
    )
    with transaction.atomic():  # background work asked for, as an upload asks for it
        outbox.schedule(
            key="tests.outbox", job="accounts.ledger.jobs.verify_ledger", args=[], queue="default"
        )
    opened = []
    for model in admin.site._registry:
        if model._meta.app_label not in OUR_APPS:
            continue
        obj = _an_object(model, world)
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        listing = superuser_client.get(reverse(f"admin:{info}_changelist"))
        assert listing.status_code == 200, model._meta.label
        _assert_no_minor_units(listing.content.decode(), f"the {model._meta.label} list")
        if model._meta.label_lower in LIST_ONLY:
            continue
        assert obj is not None, f"the world has no {model._meta.label}"
        page = superuser_client.get(reverse(f"admin:{info}_change", args=[obj.pk]))
        assert page.status_code == 200, model._meta.label
        html = page.content.decode()
        _assert_no_minor_units(html, f"the {model._meta.label} page")
        if model._meta.label_lower in EDITABLE:
            assert 'name="_save"' in html, model._meta.label
        else:
            assert 'name="_save"' not in html, f"{model._meta.label} offers Save"
            assert 'name="_continue"' not in html, model._meta.label
        opened.append(model._meta.label_lower)
    assert {
        "payments.payment",
        "payments.refund",
        "accounts.ledgertransaction",
        "accounts.ledgerentry",
        "accounts.hold",
        "accounts.account",
        "batches.batch",
        "batches.batchitem",
        "payments.webhookdelivery",
        "accounts.auditevent",
    } <= set(opened)


def test_payment_page_and_list_show_amounts_with_currency_and_separators(superuser_client, world):
    page = superuser_client.get(
        reverse("admin:payments_payment_change", args=[world.paid.pk])
    ).content.decode()
    assert "12,345.67 EUR" in page  # amount and captured
    assert "2,000.00 EUR" in page  # refunded, and the refund inline
    assert "10,345.67 EUR" in page  # left to refund

    listing = superuser_client.get(reverse("admin:payments_payment_changelist")).content.decode()
    assert "12,345.67 EUR" in listing and "7,654.32 EUR" in listing


def test_ledger_pages_show_balances_in_major_units(superuser_client, world):
    txn = LedgerTransaction.objects.get(payment=world.paid)
    page = superuser_client.get(
        reverse("admin:accounts_ledgertransaction_change", args=[txn.pk])
    ).content.decode()
    assert "12,345.67 EUR" in page and "987,654.33 EUR" in page  # amount, debtor's balance after

    entry = LedgerEntry.objects.get(transaction=txn, account=world.debtor)
    page = superuser_client.get(
        reverse("admin:accounts_ledgerentry_change", args=[entry.pk])
    ).content.decode()
    assert "-12,345.67 EUR" in page and "987,654.33 EUR" in page

    page = superuser_client.get(
        reverse("admin:accounts_account_change", args=[world.debtor.pk])
    ).content.decode()
    assert "989,654.33 EUR" in page  # balance
    assert "7,654.32 EUR" in page  # held
    assert "982,000.01 EUR" in page  # available

    page = superuser_client.get(
        reverse("admin:batches_batch_change", args=[world.batch.pk])
    ).content.decode()
    assert "12,345.67 EUR" in page


def test_a_save_that_changes_nothing_records_nothing(superuser_client, world):
    url = reverse("admin:accounts_account_change", args=[world.debtor.pk])

    response = superuser_client.post(url, {"name": world.debtor.name})

    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="account.rename").exists()

    superuser_client.post(url, {"name": "Supplier Shop Ltd"})
    event = AuditEvent.objects.get(action="account.rename")
    assert event.before == {"name": world.debtor.name} and event.after == {
        "name": "Supplier Shop Ltd"
    }
