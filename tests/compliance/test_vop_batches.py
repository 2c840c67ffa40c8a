"""Verification of Payee of a batch: each row's payee verified at validation (here for this
hub's accounts, by the peer hub for its IBANs), the result per row with a flag, in the API
and the pain.002; an approval over close-match or no-match rows only with the approver's
explicit confirmation, recorded; the merchant's opt-out, audited and shown on every batch it
affects."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import roles
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.identity.models import AuditEvent, Decision
from batches import reports, services
from batches.models import Batch, BatchItem
from batches.services.decisions import MismatchesNotConfirmed
from compliance.vop.models import PayeeVerification
from payments.models import Payment
from tests.batches.conftest import Desk
from tests.batches.test_pain002 import check_valid, ns
from tests.compliance.vop_helpers import InProcessPeerHub
from tests.factories import AccountFactory, MerchantFactory, fund
from tests.helpers import fresh_code, make_operator, otp_login, signed
from tests.payments.conftest import Merchant

HEADER = "creditor_account,creditor_name,amount,currency,reference,end_to_end_id"


@pytest.fixture
def desk(db) -> Desk:
    """The batch tests' desk (tests/batches/conftest.py), its merchant verifying payees and
    its payees named."""
    merchant = MerchantFactory(name="Payroll Co", vop_batch_opt_out=False)
    account = AccountFactory(merchant=merchant, currency="EUR", number="PAYROLL0001")
    fund(account, 5_000_000)
    names = ["Anna Schmidt", "Jürgen Groß", "Acme Ltd", "Dora Holder", "Emil Holder"]
    payees = [
        AccountFactory(merchant=None, currency="EUR", number=f"PAYEE{i:04d}", name=name)
        for i, name in enumerate(names)
    ]
    return Desk(
        merchant=merchant,
        account=account,
        payees=payees,
        maker=make_operator(roles.OPERATOR, username="maker"),
        checker=make_operator(roles.OPERATOR, roles.APPROVER, username="checker"),
        checker2=make_operator(roles.OPERATOR, roles.APPROVER, username="checker2"),
    )


def _csv(*rows: tuple) -> str:
    return "\n".join([HEADER, *(",".join(row) for row in rows)]) + "\n"


def _validated(desk: Desk, content: str) -> Batch:
    batch = desk.upload(content)
    return services.batch_validate(batch_id=batch.id)


ON_US = (
    ("PAYEE0000", "SCHMIDT Anna", "10.00", "EUR", "r1", "E1"),  # MTCH
    ("PAYEE0001", "Juergen Gross", "11.00", "EUR", "r2", "E2"),  # MTCH (umlauts written out)
    ("PAYEE0000", "Anna Schmid", "12.00", "EUR", "r3", "E3"),  # CMTC
    ("PAYEE0000", "Bob Martin", "13.00", "EUR", "r4", "E4"),  # NMTC
    ("PAYEE0003", "", "14.00", "EUR", "r5", "E5"),  # no name: not verified
)


def _results(batch: Batch) -> dict[int, dict | None]:
    return dict(batch.items.order_by("row").values_list("row", "verification"))


def test_on_us_rows_are_verified_here_and_mismatches_flagged(desk):
    batch = _validated(desk, _csv(*ON_US))
    assert batch.status == "awaiting_approval", batch.error_message
    assert _results(batch) == {
        1: {"result": "MTCH", "matched_name": None},
        2: {"result": "MTCH", "matched_name": None},
        3: {"result": "CMTC", "matched_name": "Anna Schmidt"},
        4: {"result": "NMTC", "matched_name": None},
        5: None,
    }
    flagged = {item.row for item in batch.items.all() if item.is_vop_mismatch}
    assert flagged == {3, 4}
    assert batch.flag_counts["vop_mismatch"] == 2 and not batch.vop_opted_out
    assert PayeeVerification.objects.filter(direction="out", purpose="batch").count() == 4


# The peer's payees are asked from threads, with connections of their own: committed data.
@pytest.mark.django_db(transaction=True)
def test_rows_paying_another_bank_are_verified_by_it_each_payee_once(
    desk, settings, monkeypatch, tmp_path
):
    settings.CLEARING_KEY_FILE = tmp_path / "clearing_key"
    settings.CLEARING_KEY_ENCRYPTION_KEY = ""
    settings.VOP_BATCH_CONCURRENCY = 1  # the in-process peer swaps the settings it answers with
    peer = InProcessPeerHub(monkeypatch)
    AccountFactory(number=peer.customer_iban(1), name="Jean Dupont", merchant=None)
    AccountFactory(number=peer.customer_iban(2), name="Boulangerie Martin SARL", merchant=None)
    one, two, nine = peer.customer_iban(1), peer.customer_iban(2), peer.customer_iban(9)
    batch = _validated(
        desk,
        _csv(
            (one, "Jean Dupont", "10.00", "EUR", "r1", "E1"),
            (one, "Jean Dupond", "11.00", "EUR", "r2", "E2"),
            (two, "Garage Lefebvre", "12.00", "EUR", "r3", "E3"),
            (nine, "Jean Dupont", "13.00", "EUR", "r4", "E4"),
            (one, "Jean Dupont", "14.00", "EUR", "r5", "E5"),
            ("PAYEE0000", "Anna Schmidt", "15.00", "EUR", "r6", "E6"),
        ),
    )
    assert _results(batch) == {
        1: {"result": "MTCH", "matched_name": None},
        2: {"result": "CMTC", "matched_name": "Jean Dupont"},
        3: {"result": "NMTC", "matched_name": None},
        4: {"result": "NOAP", "matched_name": None},
        5: {"result": "MTCH", "matched_name": None},
        6: {"result": "MTCH", "matched_name": None},
    }
    assert len(peer.posts) == 4  # rows 1 and 5 name the same payee
    # The rows of another bank are what issue 19's batch work makes payable; whatever their
    # status, an approver reads each one's result in the API.
    client = Merchant("Reader").client
    client.credentials(HTTP_AUTHORIZATION=_key_of(desk))
    items = client.get(f"/api/v1/batches/{batch.pk}/items/").json()["results"]
    assert items[1]["verification"] == {"result": "CMTC", "matched_name": "Jean Dupont"}


def _key_of(desk: Desk) -> str:
    from payments.api_keys import api_key_create

    _row, key = api_key_create(merchant=desk.merchant, name="reader", actor=Actor.system("tests"))
    return f"Bearer {key}"


def test_an_approval_over_mismatches_needs_the_explicit_confirmation(desk):
    batch = _validated(desk, _csv(*ON_US))
    code = fresh_code(desk.checker)
    with pytest.raises(MismatchesNotConfirmed, match="2 rows of this batch name a payee"):
        services.batch_approve(
            batch_id=batch.pk,
            approver=desk.checker,
            actor=Actor.for_user(desk.checker),
            otp_token=code,
        )
    batch.refresh_from_db()
    assert batch.status == "awaiting_approval" and not batch.approvals.exists()
    assert not Decision.objects.filter(subject_id=str(batch.pk)).exists()
    # The code was not spent on a refused approval.
    assert TOTPDevice.objects.get(user=desk.checker).last_t == -1

    batch = services.batch_approve(
        batch_id=batch.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=code,
        confirm_mismatches=True,
    )
    assert batch.status == "executing"
    decision = Decision.objects.get(subject_id=str(batch.pk))
    assert decision.detail["vop_mismatches_confirmed"] == "2"
    event = AuditEvent.objects.get(action=AuditAction.BATCH_APPROVE, target_id=str(batch.pk))
    assert event.detail["vop_mismatches_confirmed"] == 2


def test_a_batch_without_mismatches_needs_no_confirmation(desk):
    batch = _validated(desk, _csv(*ON_US[:2]))
    assert "vop_mismatch" not in batch.flag_counts
    batch = services.batch_approve(
        batch_id=batch.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    assert batch.status == "executing"


def test_the_batch_page_shows_each_result_and_asks_for_the_confirmation(desk):
    batch = _validated(desk, _csv(*ON_US))
    client = Client()
    otp_login(client, desk.checker)
    page = client.get(f"/batches/{batch.pk}/").content.decode()
    assert "close match: Anna Schmidt" in page and "name does not match" in page
    assert 'name="confirm_mismatches"' in page
    assert 'id="flag-vop-mismatch">2<' in page

    refused = client.post(f"/batches/{batch.pk}/approve/", signed(desk.checker), follow=True)
    assert any("Verification of Payee" in str(m) for m in refused.context["messages"])
    batch.refresh_from_db()
    assert batch.status == "awaiting_approval" and not batch.approvals.exists()

    client.post(f"/batches/{batch.pk}/approve/", signed(desk.checker, confirm_mismatches="yes"))
    batch.refresh_from_db()
    assert batch.status == "executing"


def test_the_pain002_carries_each_rows_result(desk):
    batch = _validated(desk, _csv(*ON_US))
    batch = services.batch_approve(
        batch_id=batch.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
        confirm_mismatches=True,
    )
    services.batch_execute(batch_id=batch.pk)
    batch.refresh_from_db()
    for version in ("pain.002.001.10", "pain.002.001.03"):
        out = io.BytesIO()
        reports.write_result_xml(batch, out, version=version)
        root = check_valid(out.getvalue(), version)  # valid against each version's schema
        info = {
            tx.findtext("p:OrgnlEndToEndId", namespaces=ns(version)): tx.findtext(
                "p:StsRsnInf/p:AddtlInf", namespaces=ns(version)
            )
            for tx in root.iterfind(".//p:TxInfAndSts", ns(version))
        }
        assert info == {
            "E1": "VOP MTCH name matches",
            "E2": "VOP MTCH name matches",
            "E3": "VOP CMTC close match, account holder: Anna Schmidt",
            "E4": "VOP NMTC name does not match",
            "E5": None,
        }
    # Each row's payment carries its result too.
    paid = dict(
        Payment.objects.filter(batch_id=batch.pk).values_list("end_to_end_id", "verification")
    )
    assert paid["E3"] == {"result": "CMTC", "matched_name": "Anna Schmidt"}
    assert paid["E5"] is None and len(paid) == 5


def test_the_merchant_opts_out_and_back_in_audited_and_shown_on_every_batch(desk):
    client = Merchant("Other").client
    client.credentials(HTTP_AUTHORIZATION=_key_of(desk))
    url = "/api/v1/payee-verifications/batch-opt-out/"
    assert client.get(url).json() == {"batch_opt_out": False}
    assert client.post(url, {"opt_out": True}, format="json").json() == {"batch_opt_out": True}
    (event,) = AuditEvent.objects.filter(action=AuditAction.MERCHANT_VOP_BATCH_OPT_OUT)
    assert (event.target_id, event.after) == (str(desk.merchant.pk), {"vop_batch_opt_out": True})

    skipped = _validated(desk, _csv(*ON_US))
    assert skipped.vop_opted_out and "vop_mismatch" not in skipped.flag_counts
    assert set(_results(skipped).values()) == {None}
    assert (
        not BatchItem.objects.filter(batch=skipped).exclude(flags=0).filter(flags__gte=8).exists()
    )
    assert client.get(f"/api/v1/batches/{skipped.pk}/").json()["vop_opted_out"] is True
    page = Client()
    otp_login(page, desk.checker)
    assert (
        "the merchant opted out for batches" in page.get(f"/batches/{skipped.pk}/").content.decode()
    )
    # Approved without any confirmation: nothing was verified.
    services.batch_approve(
        batch_id=skipped.pk,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )

    assert client.post(url, {"opt_out": False}, format="json").json() == {"batch_opt_out": False}
    assert AuditEvent.objects.filter(action=AuditAction.MERCHANT_VOP_BATCH_OPT_IN).count() == 1
    verified = _validated(desk, _csv(*(row[:5] + ("F" + row[5],) for row in ON_US)))
    assert not verified.vop_opted_out and verified.flag_counts["vop_mismatch"] == 2
    # Saying the same again changes nothing and audits nothing.
    client.post(url, {"opt_out": False}, format="json")
    assert AuditEvent.objects.filter(action=AuditAction.MERCHANT_VOP_BATCH_OPT_IN).count() == 1


def test_the_opt_out_refuses_a_value_that_is_not_a_boolean(desk):
    client = Merchant("Other").client
    client.credentials(HTTP_AUTHORIZATION=_key_of(desk))
    response = client.post(
        "/api/v1/payee-verifications/batch-opt-out/", {"opt_out": "perhaps"}, format="json"
    )
    assert response.status_code == 400
    desk.merchant.refresh_from_db()
    assert desk.merchant.vop_batch_opt_out is False
