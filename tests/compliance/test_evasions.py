"""The hit rate and false-positive rate on the labelled evasions (compliance/evaluation.py)."""

from __future__ import annotations

import pytest

from compliance.evaluation import NEGATIVES, POSITIVES, measure
from compliance.importers import parse
from compliance.index import SCREEN_THRESHOLD, NameIndex
from compliance.names import normalise
from tests.compliance.conftest import EU, OFAC, UN


@pytest.fixture(scope="module")
def lists():
    entries = [
        (source, entry)
        for source, paths in (("ofac", OFAC[:2]), ("un", UN), ("eu", EU))
        for entry in parse(source, paths).entries
    ]
    rows = [
        (n, i, name, normalise(name).text)
        for i, (_, entry) in enumerate(entries)
        for n, name in enumerate(entry.names)
    ]
    return entries, NameIndex(rows)


def test_every_labelled_entry_is_in_the_lists(lists):
    entries, _ = lists
    references = {(source, entry.reference) for source, entry in entries}
    assert {(source, ref) for _, _, source, ref in POSITIVES} <= references


def test_evasions_are_caught_and_innocent_names_mostly_not(lists):
    entries, index = lists

    def search(name):
        return [
            (entries[hit.entry_id][0], entries[hit.entry_id][1].reference)
            for hit in index.search(name, SCREEN_THRESHOLD)
        ]

    result = measure(search)
    # Measured on 7 December 2026: 39 of 40 caught ("Hezbollah" for HIZBALLAH is missed),
    # 6 of 45 innocent names alerted (namesakes of listed people; docs/compliance.md).
    assert result.hit_rate >= 0.95, result.missed
    assert result.false_positive_rate <= 0.15, result.false_positives
    for kind in ("diacritics", "word order", "missing middle name", "Cyrillic", "Arabic"):
        names = [name for name, evasion, _, _ in POSITIVES if evasion == kind]
        assert len(names) >= 5
        assert not set(names) & set(result.missed), kind
    assert "Maria Schmidt" in NEGATIVES and "Maria Schmidt" not in result.false_positives
