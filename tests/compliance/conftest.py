"""Fixtures of the sanctions tests: the real list files, and an index built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.identity.audit import Actor
from compliance import screening, services

FILES = Path(__file__).parent / "files"
EU = [str(FILES / "eu-fsf-sample.xml")]
UN = [str(FILES / "un-consolidated-2018-10-29.xml.gz")]
OFAC = [str(FILES / "ofac-2022-01" / f"{name}.csv.gz") for name in ("sdn", "alt", "add")]


@pytest.fixture
def eu_list(db):
    """The EU sample imported (four entries: fast), no screening scheduled."""
    imported, _ = services.sanctions_list_import(
        source="eu", paths=EU, actor=Actor.system("tests"), schedule_screening=False
    )
    return imported


@pytest.fixture(autouse=True)
def _fresh_index():
    screening._index_cache.clear()
    yield
    screening._index_cache.clear()
