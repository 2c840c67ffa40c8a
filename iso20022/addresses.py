"""Postal addresses as the hub keeps them: ISO 20022's PostalAddress24, as a plain dict.

One definition for every door (API, CSV, pain.001) and every document written (pacs.008,
camt.053, pain.002): the keys below, in the schema's element order, and the rule of the
November 2026 release (SWIFT CBPR+ and the EPC schemes): an address is structured (its
parts in their own elements) or hybrid (at least town and country, plus at most two
`AdrLine` of 70 characters); an address of free-text lines only is refused between banks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# (key, PostalAddress24 element, Max length) in the schema's order; `address_lines` (AdrLine,
# Max70Text, at most two once structured or hybrid) comes after them.
ELEMENTS: tuple[tuple[str, str, int], ...] = (
    ("department", "Dept", 70),
    ("sub_department", "SubDept", 70),
    ("street", "StrtNm", 70),
    ("building_number", "BldgNb", 16),
    ("building_name", "BldgNm", 35),
    ("floor", "Flr", 70),
    ("post_box", "PstBx", 16),
    ("room", "Room", 70),
    ("postcode", "PstCd", 16),
    ("town", "TwnNm", 35),
    ("town_location", "TwnLctnNm", 35),
    ("district", "DstrctNm", 35),
    ("country_subdivision", "CtrySubDvsn", 35),
    ("country", "Ctry", 2),
)
KEYS = tuple(key for key, _tag, _length in ELEMENTS)
TAG_OF = {key: tag for key, tag, _length in ELEMENTS}
KEY_OF = {tag: key for key, tag, _length in ELEMENTS}
LINES = "address_lines"
MAX_LINES = 2
LINE_LENGTH = 70
COUNTRY = re.compile(r"[A-Z]{2}")


def clean(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The address with its empty parts left out (None when nothing is left); values are
    stripped strings, `address_lines` a list of them. Unknown keys are dropped."""
    if not address:
        return None
    kept: dict[str, Any] = {}
    for key in KEYS:
        value = str(address.get(key) or "").strip()
        if value:
            kept[key] = value
    lines = [str(line).strip() for line in (address.get(LINES) or []) if str(line).strip()]
    if lines:
        kept[LINES] = lines
    return kept or None


def problems(address: Mapping[str, Any] | None) -> list[str]:
    """What is wrong with an address as written (lengths, country code), whoever it goes to."""
    if not address:
        return []
    found = []
    for key, tag, length in ELEMENTS:
        value = address.get(key)
        if value and len(str(value)) > length:
            found.append(f"{key} ({tag}) is longer than {length} characters")
    country = address.get("country")
    if country and not COUNTRY.fullmatch(str(country)):
        found.append(f"country {country!r} is not an ISO 3166 two-letter code")
    for line in address.get(LINES) or []:
        if len(str(line)) > LINE_LENGTH:
            found.append(f"an address line is longer than {LINE_LENGTH} characters")
    return found


def network_problem(address: Mapping[str, Any] | None) -> str | None:
    """Why this address may not name the creditor of a transfer to another bank (BE04), or
    None when it may: structured or hybrid, with town and country, at most two lines."""
    address = clean(address) or {}
    wrong = problems(address)
    if wrong:
        return wrong[0]
    if not address:
        return "the creditor's postal address is missing (town and country are required)"
    missing = [key for key in ("town", "country") if not address.get(key)]
    if missing:
        only_lines = set(address) == {LINES}
        kind = "unstructured (address lines only)" if only_lines else "incomplete"
        return f"the creditor's postal address is {kind}: {' and '.join(missing)} missing"
    if len(address.get(LINES) or []) > MAX_LINES:
        return f"a structured or hybrid address has at most {MAX_LINES} address lines"
    return None


def one_line(address: Mapping[str, Any] | None) -> str:
    """An address as an approver reads it: "Hauptstr. 1, 10115 Berlin, DE"; "" for none."""
    if not address:
        return ""
    street = " ".join(
        str(address[key]) for key in ("street", "building_number") if address.get(key)
    )
    town = " ".join(str(address[key]) for key in ("postcode", "town") if address.get(key))
    parts = [
        *(str(address[key]) for key in ("department", "sub_department") if address.get(key)),
        street,
        *(str(address[key]) for key in ("building_name", "floor", "room") if address.get(key)),
        f"PO Box {address['post_box']}" if address.get("post_box") else "",
        *(str(line) for line in address.get(LINES) or []),
        town,
        *(str(address[key]) for key in ("district", "country_subdivision") if address.get(key)),
        str(address.get("country") or ""),
    ]
    return ", ".join(part for part in parts if part)
