"""`seed_volume`: realistic rows straight into PostgreSQL, and a ledger that still verifies."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from accounts.ledger.selectors import ledger_verify
from accounts.models import Account, LedgerEntry
from batches.models import Batch, BatchItem
from payments.models import Payment, Refund

pytestmark = pytest.mark.django_db


def test_seed_volume_writes_every_kind_of_row_and_the_ledger_verifies(db):
    out = io.StringIO()

    call_command("seed_volume", "--payments", "4000", stdout=out)

    printed = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(printed) == {"payments", "entries", "batches", "seconds"}
    assert printed["payments"] == Payment.objects.count() == 4000
    assert printed["entries"] == LedgerEntry.objects.count()
    assert printed["batches"] == Batch.objects.count() > 0
    assert (
        BatchItem.objects.filter(payment__isnull=False).count()
        == Payment.objects.exclude(batch_id=None).count()
    )
    assert set(Payment.objects.values_list("status", flat=True).distinct()) >= {
        "completed",
        "failed",
        "refunded",
        "partially_refunded",
        "voided",
        "expired",
    }
    assert set(Payment.objects.values_list("currency", flat=True).distinct()) >= {"EUR", "JPY"}
    assert Refund.objects.exists()
    assert Account.objects.filter(merchant__isnull=False).values("merchant").distinct().count() > 3
    verified = ledger_verify()
    assert verified["ok"], verified
    first, last = (
        Payment.objects.order_by("created_at").first(),
        Payment.objects.order_by("created_at").last(),
    )
    assert (last.created_at - first.created_at).days >= 100  # spread over the 120 days
