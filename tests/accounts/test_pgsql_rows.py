"""The prepared-statement paths (common.db.pgsql) update, re-read and convert what the ORM
would, and are seen where the ORM's queries are seen."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, Merchant
from common.db import pgsql
from payments.models import IdempotencyRecord
from tests.factories import AccountFactory, MerchantFactory

pytestmark = pytest.mark.django_db


def test_a_sealed_secret_and_a_json_document_are_read_as_the_orm_reads_them():
    # given a merchant with a webhook secret (sealed at rest) and a JSON document
    merchant = MerchantFactory()
    merchant.webhook_secret = "whsec-clear"
    merchant.save()
    record = IdempotencyRecord.objects.create(
        merchant=merchant, key="k1", fingerprint="f", response_status=201, response_body={"a": [1]}
    )
    # when both are read through prepared statements
    (merchant_row,) = pgsql.execute(
        f"SELECT {pgsql.columns(Merchant)} FROM accounts_merchant WHERE id = %s", [merchant.pk]
    )
    (record_row,) = pgsql.execute(
        f"SELECT {pgsql.columns(IdempotencyRecord)} FROM payments_idempotencyrecord WHERE id = %s",
        [record.pk],
    )
    # then the secret is clear and the document is a dict, as the ORM gives them
    assert pgsql.from_row(Merchant, merchant_row).webhook_secret == "whsec-clear"
    assert pgsql.from_row(IdempotencyRecord, record_row).response_body == {"a": [1]}


def test_update_writes_the_named_fields_and_touches_auto_now():
    account = AccountFactory(name="Before")
    stamped = account.updated_at
    account.name = "After"
    account.status = Account.Status.FROZEN
    changed = pgsql.update(account, ["name", "updated_at"])  # status left out
    stored = Account.objects.get(pk=account.pk)
    assert changed == 1
    assert (stored.name, stored.status) == ("After", Account.Status.ACTIVE)
    assert stored.updated_at > stamped


def test_update_of_a_row_gone_changes_nothing():
    account = AccountFactory()
    account.pk = uuid.uuid4()  # no row has this key
    assert pgsql.update(account, ["name"]) == 0


def test_insert_unless_conflict_skips_a_duplicate_and_says_so():
    merchant = MerchantFactory()
    first = IdempotencyRecord(
        merchant=merchant, key="same", fingerprint="a", response_status=0, response_body={}
    )
    again = IdempotencyRecord(
        merchant=merchant, key="same", fingerprint="b", response_status=0, response_body={}
    )
    assert pgsql.insert_unless_conflict(first) is True and first.pk is not None
    assert pgsql.insert_unless_conflict(again) is False and again.pk is None
    assert IdempotencyRecord.objects.get(merchant=merchant, key="same").fingerprint == "a"


def test_refresh_reads_the_named_fields_again():
    merchant = MerchantFactory()
    record = IdempotencyRecord.objects.create(
        merchant=merchant, key="k2", fingerprint="f", response_status=0, response_body={}
    )
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        response_status=201, response_body={"status": "completed"}, fingerprint="changed"
    )
    pgsql.refresh(record, ["response_status", "response_body"])
    assert (record.response_status, record.response_body) == (201, {"status": "completed"})
    assert record.fingerprint == "f"  # not asked for


def test_refresh_of_a_row_gone_raises_does_not_exist():
    record = IdempotencyRecord.objects.create(
        merchant=MerchantFactory(), key="k3", fingerprint="f", response_status=0, response_body={}
    )
    IdempotencyRecord.objects.filter(pk=record.pk).delete()
    with pytest.raises(IdempotencyRecord.DoesNotExist):
        pgsql.refresh(record, ["response_status"])


def test_statements_are_seen_where_the_orms_are():
    with CaptureQueriesContext(connection) as queries:
        pgsql.execute("SELECT %s::int", [7])
        Account.objects.filter(created_at__lt=timezone.now()).exists()
    assert len(queries.captured_queries) == 2
    assert queries.captured_queries[0]["sql"].startswith("SELECT %s::int -- [7]")
