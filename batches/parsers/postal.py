"""Postal addresses as a pain.001 writes them: PostalAddress6 (.03) and PostalAddress24 (.09)
read into the hub's address dict (iso20022.addresses keys, `AdrLine`s as `address_lines`).

Only the elements the hub keeps are read (AdrTp is not); values are stripped, the schema has
already bounded their lengths.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from iso20022 import addresses


def read(element: etree._Element | None) -> dict[str, Any] | None:
    """A PstlAdr element as an address dict, or None when it holds nothing the hub keeps."""
    if element is None:
        return None
    found: dict[str, Any] = {}
    lines: list[str] = []
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # a comment or a processing instruction
        name = tag.rpartition("}")[2]
        text = (child.text or "").strip()
        if not text:
            continue
        if name == "AdrLine":
            lines.append(text)
        elif (key := addresses.KEY_OF.get(name)) is not None:
            found[key] = text
    if lines:
        found[addresses.LINES] = lines
    return addresses.clean(found)


# The CSV upload's optional address columns (docs/file-formats.md), the creditor's.
CSV_COLUMNS = (
    "creditor_street",
    "creditor_building_number",
    "creditor_postcode",
    "creditor_town",
    "creditor_country",
    "creditor_address_line_1",
    "creditor_address_line_2",
)

# (column, required, meaning) for the upload page and docs, as batches.reports lists them.
CSV_DOCUMENTATION = [
    ("creditor_street", False, "the payee's street (StrtNm, up to 70 characters)"),
    ("creditor_building_number", False, "the building number (BldgNb, up to 16)"),
    ("creditor_postcode", False, "the postcode (PstCd, up to 16)"),
    ("creditor_town", False, "the town (TwnNm, up to 35); needed to pay another bank"),
    (
        "creditor_country",
        False,
        "ISO 3166 two-letter country code (Ctry): DE; needed to pay another bank",
    ),
    ("creditor_address_line_1", False, "a free address line (AdrLine, up to 70)"),
    ("creditor_address_line_2", False, "a second address line (AdrLine, up to 70)"),
]


def from_csv(values: dict[str, str], prefix: str = "creditor_") -> dict[str, Any] | None:
    """The address a CSV row's `<prefix>*` cells give, or None when they are all empty.

    The country is read in capitals ("de" is DE); lengths and the country's form are
    checked at validation (batches.addressing), which says which part is wrong."""
    address: dict[str, Any] = {
        key: values.get(prefix + key, "")
        for key in ("street", "building_number", "postcode", "town")
    }
    address["country"] = values.get(prefix + "country", "").upper()
    address[addresses.LINES] = [
        values.get(f"{prefix}address_line_{number}", "") for number in (1, 2)
    ]
    return addresses.clean(address)


def to_csv(address: dict[str, Any] | None) -> tuple[str, ...]:
    """The cells of CSV_COLUMNS for an address (failed.csv writes a row back as uploaded)."""
    address = address or {}
    lines = list(address.get(addresses.LINES) or [])[:2]
    lines += [""] * (2 - len(lines))
    return (
        *(str(address.get(key) or "") for key in ("street", "building_number", "postcode")),
        str(address.get("town") or ""),
        str(address.get("country") or ""),
        *lines,
    )
