"""A small labelled set to measure screening: evasions of listed names, and innocent names.

Each positive is a way of writing a name that the lists in tests/compliance/files carry
(the UN list of 29 October 2018, OFAC's SDN list of January 2022, the EU sample), with the
list and reference it must find. The negatives are ordinary names of people and firms
that must not raise an alert (some of them share a first name and a surname with a
listed person: those are the false positives a screening officer sees in real life).

`measure(search)` gives the hit rate (positives whose entry is found) and the
false-positive rate (negatives that raise any alert). bench_screening prints both, and
tests/compliance/test_evasions.py holds them to a floor and a ceiling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# (name as written, evasion, list, reference)
POSITIVES: list[tuple[str, str, str, str]] = [
    # diacritics and accents
    ("Joaquín Guzmán Loera", "diacritics", "ofac", "6861"),
    ("Nicolás Maduro Moros", "diacritics", "ofac", "22790"),
    ("Ramzán Kadýrov", "diacritics", "ofac", "23343"),
    ("Ósama bin Ládin", "diacritics", "ofac", "6365"),
    ("Qásem Soleimání", "diacritics", "un", "IRi.039"),
    ("Bánco Nacionál de Cúba", "diacritics", "ofac", "306"),
    # word order
    ("Rotenberg Arkady", "word order", "ofac", "16669"),
    ("Timchenko Gennady", "word order", "ofac", "16666"),
    ("Zawahiri Ayman", "word order", "un", "QDi.006"),
    ("Guzman Loera Joaquin", "word order", "ofac", "6861"),
    ("Kovalchuk Yuri Valentinovich", "word order", "eu", "EU.3744.41"),
    ("Cuba Banco Nacional de", "word order", "ofac", "306"),
    # missing middle names
    ("Viktor Vekselberg", "missing middle name", "ofac", "24306"),
    ("Oleg Deripaska", "missing middle name", "ofac", "24283"),
    ("Yuri Kovalchuk", "missing middle name", "ofac", "16680"),
    ("Joaquin Guzman", "missing middle name", "ofac", "6861"),
    ("Ayman Zawahiri", "missing middle name", "un", "QDi.006"),
    ("Kirill Kovalchuk", "missing middle name", "ofac", "21164"),
    # transliterated Cyrillic (and spelling variants of transliteration)
    ("Аркадий Ротенберг", "Cyrillic", "ofac", "16669"),
    ("Геннадий Тимченко", "Cyrillic", "ofac", "16666"),
    ("Игорь Сечин", "Cyrillic", "ofac", "16692"),
    ("Виктор Вексельберг", "Cyrillic", "ofac", "24306"),
    ("Олег Дерипаска", "Cyrillic", "ofac", "24283"),
    ("Рамзан Кадыров", "Cyrillic", "ofac", "23343"),
    ("Юрий Ковальчук", "Cyrillic", "eu", "EU.3744.41"),
    ("Совкомфлот", "Cyrillic", "eu", "EU.5.79"),
    ("Arkadij Rotenberg", "transliteration variant", "ofac", "16669"),
    ("Gennadij Timtschenko", "transliteration variant", "ofac", "16666"),
    ("Igor Setschin", "transliteration variant", "ofac", "16692"),
    ("Jurij Kowaltschuk", "transliteration variant", "ofac", "16680"),
    # transliterated Arabic (written in Arabic script, or in another Latin spelling)
    ("أسامة بن لادن", "Arabic", "ofac", "6365"),
    ("أيمن الظواهري", "Arabic", "un", "QDi.006"),
    ("قاسم سليماني", "Arabic", "un", "IRi.039"),
    ("رامي مخلوف", "Arabic", "ofac", "10725"),
    ("بشار الأسد", "Arabic", "ofac", "12735"),
    ("حسن نصر الله", "Arabic", "ofac", "2686"),
    ("Qassem Soleimani", "transliteration variant", "un", "IRi.039"),
    ("Hassan Nasrallah", "transliteration variant", "ofac", "2686"),
    ("Usamah bin Laden", "transliteration variant", "ofac", "6365"),
    ("Hezbollah", "transliteration variant", "ofac", "4697"),
]

NEGATIVES: list[str] = [
    "Maria Schmidt",
    "Jean Dupont",
    "Demo Shop Ltd",
    "Acme Trading GmbH",
    "Hans Müller",
    "Anna Kowalska",
    "Peter Jansen",
    "Giulia Rossi",
    "Sophie Martin",
    "Lars Nielsen",
    "Eva Novak",
    "Pablo García López",
    "Fatima Zahra",
    "Wei Chen",
    "Olga Ivanova",
    "Sergei Petrov",
    "Kim Min-jun",
    "Ali Reza Ahmadi",
    "Bäckerei Schulz GmbH",
    "Dupont Logistique SARL",
    "Rossi Costruzioni S.p.A.",
    "Van der Berg Transport BV",
    "Nordic Energy AB",
    "Al Noor Trading FZE",
    "Omar Abdullah",
    "Yusuf Ibrahim",
    "Ivan Sidorov",
    "Elena Popescu",
    "Mehmet Yılmaz",
    "Rafael Nadal",
    "Jean-Pierre Lefèvre",
    "Global Trade Partners",
    "Euro Finance Group",
    "Sunrise Holdings Ltd",
    "Petro Services SA",
    "National Trading Company",
    "Carlos Rodríguez",
    "Luis Hernández",
    "José Martínez",
    "Ahmed Hassan",
    "Ahmad Khan",
    "Orient Star Shipping",
    "Iran Air Tours",
    "Dmitri Smirnov",
    "Mohammed Ali",
]


@dataclass(frozen=True)
class Measure:
    positives: int
    found: int
    negatives: int
    alerted: int
    missed: list[str]
    false_positives: list[str]

    @property
    def hit_rate(self) -> float:
        return self.found / self.positives

    @property
    def false_positive_rate(self) -> float:
        return self.alerted / self.negatives


def measure(search: Callable[[str], list[tuple[str, str]]]) -> Measure:
    """search(name) -> [(list, reference), ...] of the hits at the alert threshold."""
    missed = []
    for name, _, source, reference in POSITIVES:
        if (source, reference) not in search(name):
            missed.append(name)
    false_positives = [name for name in NEGATIVES if search(name)]
    return Measure(
        positives=len(POSITIVES),
        found=len(POSITIVES) - len(missed),
        negatives=len(NEGATIVES),
        alerted=len(false_positives),
        missed=missed,
        false_positives=false_positives,
    )
