"""`manage.py bench_screening [--names N]`: screening speed and quality, one JSON line.

Screens N generated names (people and firms of many countries, some in Cyrillic, Greek
or Arabic script, with accents and legal forms, and one in a hundred a listed name
disguised) against full lists, and measures the labelled evasions of
compliance/evaluation.py. The lists are the real files of tests/compliance/files (OFAC
SDN of January 2022, the UN list of October 2018, the EU sample), or with `--from-db`
the lists currently imported. Nothing is written.
"""

from __future__ import annotations

import random
import resource
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from accounts.management.jsoncommand import JsonCommand
from compliance import evaluation, importers
from compliance.index import SCREEN_THRESHOLD, NameIndex
from compliance.models import SanctionsEntry, SanctionsName
from compliance.names import normalise

FIRST = (
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Hans Anna Peter Maria Jean Marie Pierre Sophie "
    "Luca Giulia Jan Eva Lars Ingrid Pablo Lucía José Ahmed Fatima Omar Layla Olga Ivan Wei "
    "Yuki Ana Carlos Søren Zoë François Małgorzata Jürgen Ελένη Νίκος Дмитрий Наталья "
    "Сергей Анна محمد فاطمة علي"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Müller Schmidt "
    "Schneider Fischer Weber Meyer Wagner Becker Dupont Martin Bernard Dubois Rossi Russo "
    "Ferrari Esposito Jansen Visser Nielsen Hansen Larsen Novák Kowalski Nowak Horváth Silva "
    "Santos Costa Petrov Ivanov Tanaka Chen Wang Kim López Ødegaard Papadopoulos Иванова "
    "Смирнов Παπαδόπουλος حسن الأحمد"
).split()
TRADE = (
    "Trading Logistics Consulting Holdings Foods Textiles Energy Systems Software Partners "
    "Capital Motors Pharma Media Retail Studio Bakery Garage Shipping Import Export Metals"
).split()
FORMS = ["GmbH", "Ltd", "SARL", "BV", "AG", "S.A.", "LLC", "plc", "S.p.A.", "Sp. z o.o.", "ООО"]


def generated_names(count: int, listed: list[str], seed: int = 20261207) -> list[str]:
    rng = random.Random(seed)
    names = []
    for i in range(count):
        if listed and i % 100 == 0:  # a listed name, its words shuffled
            words = rng.choice(listed).split()
            rng.shuffle(words)
            names.append(" ".join(words))
        elif i % 3 == 0:
            names.append(f"{rng.choice(LAST)} {rng.choice(TRADE)} {rng.choice(FORMS)}")
        elif i % 7 == 0:
            names.append(f"{rng.choice(FIRST)} {rng.choice(FIRST)} {rng.choice(LAST)}")
        else:
            names.append(f"{rng.choice(FIRST)} {rng.choice(LAST)}")
    return names


Rows = list[tuple[int, int, str, str]]
References = dict[int, tuple[str, str]]


def bundled_lists() -> tuple[Rows, References]:
    """The names of the real files in tests/compliance/files, and each entry's (list, reference)."""
    files = Path(settings.BASE_DIR) / "tests" / "compliance" / "files"
    ofac = [str(files / "ofac-2022-01" / f"{name}.csv.gz") for name in ("sdn", "alt", "add")]
    parsed = [
        importers.parse("ofac", ofac),
        importers.parse("un", [str(files / "un-consolidated-2018-10-29.xml.gz")]),
        importers.parse("eu", [str(files / "eu-fsf-sample.xml")]),
    ]
    rows: Rows = []
    references: References = {}
    for source in parsed:
        for entry in source.entries:
            entry_id = len(references)
            references[entry_id] = (source.source, entry.reference)
            for name in entry.names:
                rows.append((len(rows), entry_id, name, normalise(name).text))
    return rows, references


def current_lists() -> tuple[Rows, References]:
    names = SanctionsName.objects.filter(entry__sanctions_list__current=True)
    rows = list(names.values_list("pk", "entry_id", "name", "normalised"))
    entries = SanctionsEntry.objects.filter(sanctions_list__current=True)
    references = {
        pk: (source, reference)
        for pk, source, reference in entries.values_list(
            "pk", "sanctions_list__source", "reference"
        )
    }
    return rows, references


class Command(JsonCommand):
    help = "Screen N generated names against full sanctions lists; prints the speed and rates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--names", type=int, default=100_000)
        parser.add_argument("--from-db", action="store_true", help="the lists imported now")

    def run(self, *, names: int, from_db: bool, **_: Any) -> dict[str, Any]:
        started = time.perf_counter()
        rows, references = current_lists() if from_db else bundled_lists()
        read = time.perf_counter()
        index = NameIndex(rows)
        built = time.perf_counter()
        queries = generated_names(names, [row[2] for row in rows[:: max(1, len(rows) // 500)]])
        normalise.cache_clear()  # the queries' normalisation is part of what is measured
        start = time.perf_counter()
        with_hits = sum(1 for name in queries if index.search(name, SCREEN_THRESHOLD))
        screened = time.perf_counter() - start
        quality = evaluation.measure(
            lambda name: [references[hit.entry_id] for hit in index.search(name, SCREEN_THRESHOLD)]
        )
        return {
            "list_names": len(index),
            "names": names,
            "read_seconds": round(read - started, 2),
            "index_seconds": round(built - read, 2),
            "screening_seconds": round(screened, 2),
            "names_per_s": round(names / screened) if screened else None,
            "names_with_hits": with_hits,
            "threshold": SCREEN_THRESHOLD,
            "evasion_hit_rate": round(quality.hit_rate, 3),
            "false_positive_rate": round(quality.false_positive_rate, 3),
            "evasions_missed": quality.missed,
            "false_positives": quality.false_positives,
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
