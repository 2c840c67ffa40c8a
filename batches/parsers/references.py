"""Structured creditor references (RmtInf/Strd/CdtrRefInf): the check digits a bank checks.

Swiss QR reference (type Prtry QRR, Swiss SPS): 27 digits, the last a recursive modulo-10
check digit. ISO 11649 creditor reference (type Cd SCOR in the EPC rulebook and Swiss SPS):
"RF", two check digits, up to 21 letters or digits, valid when modulo 97 of it is 1.
"""

from __future__ import annotations

import re

from lxml import etree

_QRR = re.compile(r"[0-9]{27}")
_RF = re.compile(r"RF[0-9]{2}[0-9A-Za-z]{1,21}")
# The table of the recursive modulo-10 algorithm (Swiss payment standards, QR-bill annex).
_MOD10 = (0, 9, 4, 6, 8, 2, 7, 1, 3, 5)


def qr_reference_is_valid(reference: str) -> bool:
    if not _QRR.fullmatch(reference):
        return False
    carry = 0
    for digit in reference[:-1]:
        carry = _MOD10[(carry + int(digit)) % 10]
    return (10 - carry) % 10 == int(reference[-1])


def creditor_reference_is_valid(reference: str) -> bool:
    """ISO 11649: move "RFcc" to the end, letters to numbers (A=10 ... Z=35), modulo 97 is 1."""
    if not _RF.fullmatch(reference):
        return False
    moved = reference[4:] + reference[:4]
    digits = "".join(str(int(char, 36)) for char in moved.upper())
    return int(digits) % 97 == 1


def problem(reference_type: str, reference: str) -> str:
    """What is wrong with a structured reference, "" when nothing is (or there is none: the
    schema lets CdtrRefInf carry a type without a Ref, and no guide refuses it)."""
    if not reference:
        return ""
    if reference_type == "QRR":
        if not qr_reference_is_valid(reference):
            return f"QR reference {reference[:40]!r} is not 27 digits with a valid check digit"
    elif reference.upper().startswith("RF") and not creditor_reference_is_valid(reference):
        # SCOR may also carry a national reference; an RF one always has check digits.
        return f"creditor reference {reference[:40]!r} fails the ISO 11649 check"
    return ""


def read(element: etree._Element) -> dict[str, str]:
    """A pain.001 `Strd/CdtrRefInf` as {"CdtrRefInf/Ref", "CdtrRefInf/Tp"}, or {} when it has
    no Ref: the schema makes both Tp and Ref optional, and a type without a reference (SPS and
    EPC files carry them) says nothing to check or to echo. Its type is its Tp/CdOrPrtry's one
    element, Cd or Prtry (a comment beside it is not the type)."""
    found: dict[str, str] = {}
    for child in element:
        name = child.tag.rpartition("}")[2] if isinstance(child.tag, str) else ""
        if name == "Ref":
            found["CdtrRefInf/Ref"] = (child.text or "").strip()
        elif name == "Tp":
            for part in child.iter():
                if isinstance(part.tag, str) and part.tag.rpartition("}")[2] in ("Cd", "Prtry"):
                    found["CdtrRefInf/Tp"] = (part.text or "").strip()
                    break
    return found if found.get("CdtrRefInf/Ref") else {}
