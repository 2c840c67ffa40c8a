"""The "largest" flag marks an outlier, not the top N (issue 22, point 5): an approver who
sees it on every ordinary payroll row learns to ignore every flag."""

from __future__ import annotations

import pytest

from batches.models import BatchItem
from tests.batches.test_duplicates import validated

pytestmark = pytest.mark.django_db

HEADER = "creditor_account,amount,currency,reference,end_to_end_id\n"


def payroll(amounts: list[str]) -> str:
    return HEADER + "".join(
        f"PAYEE000{i % 3},{amount},EUR,salary {i},S{i}\n" for i, amount in enumerate(amounts)
    )


def flagged_rows(batch) -> list[int]:
    return sorted(item.row for item in BatchItem.objects.filter(batch=batch) if item.is_largest)


def test_an_even_payroll_of_48_rows_has_no_largest_flag(desk):
    amounts = [f"{280 + (i * 7) % 45}.{i % 100:02d}" for i in range(48)]  # 280-325 EUR

    batch = validated(desk, payroll(amounts))

    assert batch.valid_count == 48
    assert batch.flag_counts["largest"] == 0 and flagged_rows(batch) == []


def test_a_small_pain001_like_file_of_three_ordinary_rows_has_no_largest_flag(desk):
    batch = validated(desk, payroll(["100.00", "250.50", "75.25"]))

    assert batch.flag_counts["largest"] == 0


def test_the_row_that_stands_out_is_flagged_and_only_it(desk):
    amounts = [f"{300 + i}.00" for i in range(47)]
    amounts.insert(20, "5000.00")  # row 21

    batch = validated(desk, payroll(amounts))

    assert flagged_rows(batch) == [21]
    assert batch.flag_counts["largest"] == 1
