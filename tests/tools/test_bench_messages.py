"""`bench_messages` measures the checks on documents that pass them: a signature that
verifies and documents valid against their schemas (else it raises, and prints nothing)."""

from __future__ import annotations

import json

from django.core.management import call_command

from clearing.iso import validation
from tools.management.commands import bench_messages


def test_the_documents_it_measures_are_valid_and_the_figures_add_up(capsys):
    pacs008, pacs002 = bench_messages.documents()
    assert validation.validate(pacs008)[0] == "pacs.008.001.08"
    assert validation.validate(pacs002)[0] == "pacs.002.001.10"
    call_command("bench_messages", "--times", "3")
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["times"] == 3
    assert figures["per_interbank_payment_ms"] == round(
        3 * (figures["sign_ms"] + figures["verify_ms"])
        + 2 * (figures["schema_check_pacs008_ms"] + figures["schema_check_pacs002_ms"]),
        2,
    )
