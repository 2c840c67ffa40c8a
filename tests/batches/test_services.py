"""Batch life cycle through the services: upload, validation, four eyes, execution."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from accounts.identity.audit import Actor
from accounts.ledger.errors import InvalidState
from accounts.ledger.selectors import ledger_verify
from accounts.models import Account, AuditEvent
from batches import services
from batches.models import Batch
from payments.models import Payment
from tests.factories import fund
from tests.helpers import fresh_code, run_outbox

pytestmark = pytest.mark.django_db


def validated(desk, content, **kwargs) -> Batch:
    batch = desk.upload(content, **kwargs)
    return services.batch_validate(batch_id=batch.id)


def approve(batch, *users):
    for user in users:
        batch = services.batch_approve(
            batch_id=batch.id, approver=user, actor=Actor.for_user(user), otp_token=fresh_code(user)
        )
    return batch


def test_happy_path_csv_is_validated_approved_and_paid(desk):
    batch = validated(
        desk,
        desk.csv(
            ("PAYEE0000", "10.00", "EUR", "inv-1", "E1"),
            ("PAYEE0001", "20.50", "EUR", "inv-2", "E2"),
        ),
    )

    assert batch.status == "awaiting_approval"
    assert (batch.item_count, batch.valid_count, batch.invalid_count) == (2, 2, 0)
    assert batch.total_amount == 3050 and batch.currency == "EUR" and batch.format == "csv"
    assert batch.validated_sha256

    batch = approve(batch, desk.checker)
    assert batch.status == "executing"
    batch = services.batch_execute(batch_id=batch.id)

    assert batch.status == "completed"
    assert (batch.succeeded_count, batch.failed_count, batch.processed_count) == (2, 0, 2)
    desk.account.refresh_from_db()
    assert desk.account.balance == 5_000_000 - 3050
    assert Account.objects.get(number="PAYEE0001").balance == 2050
    assert Payment.objects.filter(batch_id=batch.id, status="completed").count() == 2
    assert set(batch.items.values_list("status", flat=True)) == {"paid"}
    assert ledger_verify()["ok"]


@pytest.mark.parametrize(
    ("row", "code"),
    [
        (("NOPE", "1.00", "EUR", "r", ""), "AC01"),
        (("CLOSED1", "1.00", "EUR", "r", ""), "AC04"),
        (("FROZEN1", "1.00", "EUR", "r", ""), "AC06"),
        (("PAYEE0000", "0.00", "EUR", "r", ""), "AM01"),
        (("PAYEE0000", "1.001", "EUR", "r", ""), "AM02"),
        (("PAYEE0000", "abc", "EUR", "r", ""), "AM02"),
        (("PAYEE0000", "-5.00", "EUR", "r", ""), "AM02"),
        (("PAYEE0000", "99.9999999999999999999999999999", "EUR", "r", ""), "AM02"),
        (("PAYEE0000", "1.00", "USD", "r", ""), "AM03"),
        (("PAYEE0000", "1.00", "XYZ", "r", ""), "AM03"),
    ],
)
def test_row_errors_mark_the_row_and_keep_the_rest(desk, row, code):
    from tests.factories import AccountFactory

    AccountFactory(number="CLOSED1", merchant=None, status="closed")
    AccountFactory(number="FROZEN1", merchant=None, status="frozen")

    batch = validated(desk, desk.csv(("PAYEE0001", "5.00", "EUR", "good", "E1"), row))

    assert batch.status == "awaiting_approval"
    assert (batch.valid_count, batch.invalid_count) == (1, 1)
    bad = batch.items.get(row=2)
    assert bad.status == "invalid" and bad.error_code == code and bad.error_message
    assert batch.total_amount == 500


def test_repeated_end_to_end_id_is_am05(desk):
    batch = validated(
        desk,
        desk.csv(
            ("PAYEE0000", "1.00", "EUR", "a", "DUP"), ("PAYEE0001", "1.00", "EUR", "b", "DUP")
        ),
    )
    assert list(batch.items.order_by("row").values_list("error_code", flat=True)) == ["", "AM05"]


def test_same_file_again_is_an_invalid_dupl_batch(desk):
    content = desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1"))
    validated(desk, content)
    again = desk.upload(content)
    assert again.status == "invalid" and again.error_code == "DUPL"


def test_unreadable_file_is_invalid_ff01(desk):
    batch = validated(desk, b"\xff\xfe\x00garbage\x00", name="x.csv")
    assert batch.status == "invalid" and batch.error_code == "FF01" and batch.error_message
    assert batch.items.count() == 0


def test_maker_can_never_approve_and_threshold_needs_two(desk, settings):
    settings.BATCH_SECOND_APPROVAL_ABOVE = 100
    batch = validated(desk, desk.csv(("PAYEE0000", "150.00", "EUR", "big", "E1")))

    from batches.services import NotAllowed

    with pytest.raises(NotAllowed):
        services.batch_approve(
            batch_id=batch.id,
            approver=desk.maker,
            actor=Actor.for_user(desk.maker),
            otp_token=fresh_code(desk.maker),
        )
    batch = approve(batch, desk.checker)
    assert batch.status == "awaiting_approval"  # one of two
    with pytest.raises(InvalidState):
        approve(batch, desk.checker)  # the same approver twice does not count
    batch = approve(batch, desk.checker2)
    assert batch.status == "executing"
    assert (
        list(batch.approvals.values_list("validated_sha256", flat=True))
        == [batch.validated_sha256] * 2
    )


def test_maker_with_the_approver_role_still_cannot_approve_own_batch(desk):
    from batches.services import NotAllowed

    desk.maker = desk.checker
    batch = validated(desk, desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1")))
    with pytest.raises(NotAllowed):
        approve(batch, desk.checker)


def test_reject_needs_a_reason_and_ends_the_batch(desk):
    from batches.services import BatchError

    batch = validated(desk, desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1")))
    with pytest.raises(BatchError):
        services.batch_reject(
            batch_id=batch.id,
            approver=desk.checker,
            reason="  ",
            actor=Actor.for_user(desk.checker),
            otp_token=fresh_code(desk.checker),
        )
    batch = services.batch_reject(
        batch_id=batch.id,
        approver=desk.checker,
        reason="wrong month",
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
    )
    assert batch.status == "rejected" and batch.decision_reason == "wrong month"
    with pytest.raises(InvalidState):
        approve(batch, desk.checker2)
    assert AuditEvent.objects.filter(action="batch.reject", target_id=str(batch.id)).exists()


def test_maker_cancels_before_approval_only(desk):
    from batches.services import NotAllowed

    batch = validated(desk, desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1")))
    with pytest.raises(NotAllowed):
        services.batch_cancel(
            batch_id=batch.id, user=desk.checker, actor=Actor.for_user(desk.checker)
        )
    batch = services.batch_cancel(
        batch_id=batch.id, user=desk.maker, actor=Actor.for_user(desk.maker)
    )
    assert batch.status == "cancelled"
    other = validated(desk, desk.csv(("PAYEE0001", "1.00", "EUR", "b", "E2")))
    approve(other, desk.checker)
    with pytest.raises(InvalidState):
        services.batch_cancel(batch_id=other.id, user=desk.maker, actor=Actor.for_user(desk.maker))


def test_insufficient_funds_refuse_the_last_approval_not_the_rows(desk):
    # Funds are held when the last approval lands: a batch that the account cannot
    # cover is not approved (AM04) and waits; once funded, it is approved and paid whole.
    batch = validated(
        desk,
        desk.csv(
            ("PAYEE0000", "30000.00", "EUR", "a", "E1"),
            ("PAYEE0001", "30000.00", "EUR", "b", "E2"),
            ("PAYEE0002", "1.00", "EUR", "c", "E3"),
        ),
    )
    batch = approve(batch, desk.checker)
    with pytest.raises(services.FundsShort, match="AM04"):
        approve(batch, desk.checker2)
    batch.refresh_from_db()
    assert batch.status == "awaiting_approval" and batch.approvals.count() == 1

    fund(desk.account, 2_000_000)
    batch = approve(batch, desk.checker2)
    batch = services.batch_execute(batch_id=batch.id)
    assert batch.status == "completed"
    assert set(batch.items.values_list("status", flat=True)) == {"paid"}
    assert ledger_verify()["ok"]


def test_execution_twice_pays_each_row_once(desk):
    batch = validated(
        desk, desk.csv(*[(f"PAYEE000{i % 5}", "1.00", "EUR", f"r{i}", f"E{i}") for i in range(7)])
    )
    batch = approve(batch, desk.checker)
    services.batch_execute(batch_id=batch.id, chunk_size=3)
    Batch.objects.filter(pk=batch.id).update(status="executing")  # as if a second job ran
    services.batch_execute(batch_id=batch.id, chunk_size=3)
    assert Payment.objects.filter(batch_id=batch.id).count() == 7
    desk.account.refresh_from_db()
    assert desk.account.balance == 5_000_000 - 700


def test_future_execution_date_waits_in_scheduled(desk):
    today = date(2026, 11, 25)
    batch = validated(
        desk,
        desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1")),
        execution_date=today + timedelta(days=2),
        today=today,
    )
    batch = services.batch_approve(
        batch_id=batch.id,
        approver=desk.checker,
        actor=Actor.for_user(desk.checker),
        otp_token=fresh_code(desk.checker),
        today=today,
    )
    assert batch.status == "scheduled"
    assert services.batch_start_due(today=today + timedelta(days=1)) == []
    assert services.batch_start_due(today=today + timedelta(days=2)) == [batch.id]
    assert Batch.objects.get(pk=batch.id).status == "executing"


def test_past_execution_date_is_refused_at_upload(desk):
    from batches.services import BatchError

    with pytest.raises(BatchError, match="past"):
        desk.upload(
            desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1")), execution_date=date(2020, 1, 1)
        )
    assert Batch.objects.count() == 0


def test_csv_without_debtor_account_is_refused(desk):
    from batches.services import BatchError

    with pytest.raises(BatchError, match="debtor account"):
        desk.upload(desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1")), debtor_account_number="")


def test_file_over_the_size_limit_is_refused(desk, settings):
    from batches.services import BatchError

    settings.BATCH_MAX_FILE_BYTES = 1000
    with pytest.raises(BatchError, match="limit"):
        desk.upload("x" * 1001)
    assert Batch.objects.count() == 0


PAIN = (Path(__file__).parent / "files" / "pain001_03.xml").read_text()


@pytest.fixture
def pain_accounts(desk):
    """The accounts the pain.001 sample names: the merchant's debtor and three payees."""
    from tests.factories import AccountFactory, fund

    debtor = AccountFactory(merchant=desk.merchant, currency="EUR", number="DE89370400440532013000")
    fund(debtor, 1_000_000)
    for number in ("FR1420041010050500013M02606", "ACC-0002", "ACC-0003"):
        AccountFactory(merchant=None, currency="EUR", number=number)
    return debtor


def test_pain001_happy_path_pays_from_the_pmtinf_debtor(desk, pain_accounts):
    batch = validated(desk, PAIN, name="pain.xml", debtor_account_number="")
    assert batch.status == "awaiting_approval", batch.error_message
    assert batch.format == "pain.001.001.03" and batch.message_id == "MSG-03-0001"
    assert (batch.valid_count, batch.invalid_count) == (3, 0)
    assert batch.total_amount == 126075
    batch = approve(batch, desk.checker)
    batch = services.batch_execute(batch_id=batch.id)
    assert batch.status == "completed"
    pain_accounts.refresh_from_db()
    assert pain_accounts.balance == 1_000_000 - 126075


def test_an_over_precise_pain001_amount_is_refused_not_rounded(desk, pain_accounts):
    # 10.2499999999999999999999999999 rounds to 10.25 at Decimal's default 28 digits; the
    # schema allows InstdAmt 5 decimals, so the file is refused whole and nothing is paid.
    content = PAIN.replace(">10.25<", ">10.2499999999999999999999999999<").replace(
        "<CtrlSum>1260.75<", "<CtrlSum>1260.7499999999999999999999999999<"
    )
    batch = validated(desk, content, name="pain.xml", debtor_account_number="")
    assert batch.status == "invalid" and batch.error_code == "FF01", batch.error_message
    assert batch.valid_count == 0 and batch.total_amount == 0


def test_a_repeated_msgid_is_an_invalid_dupl_batch(desk, pain_accounts):
    validated(desk, PAIN, name="pain.xml", debtor_account_number="")
    # Another file (other bytes) that reuses the MsgId.
    again = validated(
        desk, PAIN.replace("Salary May", "Salary June"), name="pain2.xml", debtor_account_number=""
    )
    assert again.status == "invalid" and again.error_code == "DUPL"
    assert "MSG-03-0001" in again.error_message


def test_a_finished_batch_tells_the_merchant_and_mails_the_maker(
    desk, mailoutbox, django_capture_on_commit_callbacks
):
    from payments.models import WebhookDelivery

    desk.merchant.webhook_url = "https://merchant.example/hooks"
    desk.merchant.save()
    desk.maker.email = "maker@bank.example"
    desk.maker.save()
    batch = validated(desk, desk.csv(("PAYEE0000", "1.00", "EUR", "a", "E1")))
    batch = approve(batch, desk.checker)
    with django_capture_on_commit_callbacks(execute=True):
        batch = services.batch_execute(batch_id=batch.id)
    delivery = WebhookDelivery.objects.get(merchant=desk.merchant)
    assert delivery.event_type == "batch.completed"
    assert delivery.payload["data"]["succeeded_count"] == 1
    assert mailoutbox == []  # the mail is an outbox job, run by a worker:
    run_outbox()
    # the maker heard of the approval too (batches.notifications); this is the end's mail
    finished = [m for m in mailoutbox if "completed" in m.subject.lower()]
    assert [m.to for m in finished] == [["maker@bank.example"]]
