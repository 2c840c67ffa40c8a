"""`bench_admin` signs in as a browser does and times every page of the issue."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_bench_admin_signs_in_and_times_each_page(world):
    out = io.StringIO()

    call_command("bench_admin", "--rounds", "2", stdout=out)

    printed = json.loads(out.getvalue().strip().splitlines()[-1])
    assert printed["payments"] == 2
    names = [page["name"] for page in printed["pages"]]
    assert len(names) == 9 and any("end-to-end" in name for name in names)
    assert all(page["p95_ms"] >= page["p50_ms"] > 0 for page in printed["pages"])
