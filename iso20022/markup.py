"""Elements that several ISO 20022 messages write the same way: an account's `Id`, a
structured creditor reference and a postal address (pain.002, camt.053, pacs.008...)."""

from __future__ import annotations

import re
from functools import lru_cache

from iso20022 import addresses
from iso20022.xmlwriter import escape

_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}")
# DocumentType3Code: a creditor reference type that is one of these is a Cd, else a Prtry.
_DOCUMENT_TYPES = {"RADM", "RPIN", "FXDR", "DISP", "PUOR", "SCOR"}


def account_id_markup(number: str) -> str:
    """An account's `Id`: its IBAN, or else `Othr/Id` (at most 34 characters); the same in
    pain.002 and camt.053."""
    if is_iban(number):
        return f"<Id><IBAN>{escape(number)}</IBAN></Id>"
    return f"<Id><Othr><Id>{escape(number[:34])}</Id></Othr></Id>"


def creditor_reference_markup(reference_type: str, reference: str) -> str:
    """`Strd/CdtrRefInf`: the reference and its type (an ISO document type code, else a
    proprietary one such as QRR); the same in pain.002 and camt.053."""
    kind = ""
    if reference_type:
        tag = "Cd" if reference_type in _DOCUMENT_TYPES else "Prtry"
        kind = f"<Tp><CdOrPrtry><{tag}>{escape(reference_type)}</{tag}></CdOrPrtry></Tp>"
    return f"<Strd><CdtrRefInf>{kind}<Ref>{escape(reference)}</Ref></CdtrRefInf></Strd>"


# PostalAddress6 (camt.053.001.02, pain.001.001.03): PostalAddress24's parts less BldgNm,
# Flr, PstBx, Room, TwnLctnNm and DstrctNm.
_POSTAL_ADDRESS_6 = {
    "department",
    "sub_department",
    "street",
    "building_number",
    "postcode",
    "town",
    "country_subdivision",
    "country",
}
_MAX_LINES = 7  # AdrLine occurs at most 7 times in both


def postal_address_markup(address: dict | None, *, version6: bool = False) -> str:
    """`PstlAdr` with the address's parts as structured elements in the schema's order
    (PostalAddress24, or PostalAddress6 when `version6`), then its `AdrLine`s; "" for none."""
    if not address:
        return ""
    parts = [
        f"<{tag}>{escape(str(address[key])[:length])}</{tag}>"
        for key, tag, length in addresses.ELEMENTS
        if address.get(key) and (not version6 or key in _POSTAL_ADDRESS_6)
    ]
    parts.extend(
        f"<AdrLine>{escape(str(line)[: addresses.LINE_LENGTH])}</AdrLine>"
        for line in (address.get(addresses.LINES) or [])[:_MAX_LINES]
    )
    return f"<PstlAdr>{''.join(parts)}</PstlAdr>" if parts else ""


@lru_cache(maxsize=4096)  # a batch pays the same few payees, from the same accounts
def is_iban(number: str) -> bool:
    """An account number that is an IBAN: ISO 13616's shape and its modulo-97 check."""
    if not _IBAN.fullmatch(number):
        return False
    moved = (number[4:] + number[:4]).upper()
    return int("".join(str(int(char, 36)) for char in moved)) % 97 == 1
