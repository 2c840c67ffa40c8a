"""The VoP request and answer as they travel between banks (CONTRACT.md, EPC VOP scheme):
`POST {peer url}/vop/v1/payee-verifications`, signed like clearing's messages, headers
`X-Request-ID` (a UUID) and `X-Request-Timestamp`, a JSON body naming the party (or its
identification), its IBAN, the responding and the requesting agent; the answer's
`partyNameMatch` is MTCH, CMTC (with `matchedName`), NMTC or NOAP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PATH = "/vop/v1/payee-verifications"
RESULTS = ("MTCH", "CMTC", "NMTC", "NOAP")
MISMATCHES = ("CMTC", "NMTC")  # what an approver confirms explicitly
MAX_BODY_BYTES = 16 * 1024
NAME_LENGTH = 140  # EPC: Max140Text


@dataclass(frozen=True)
class Verification:
    """One answer: the result, and the holder's name with CMTC only."""

    result: str
    matched_name: str | None = None
    peer_bic: str | None = None  # who answered; None for this hub's own accounts
    error: str = ""  # why NOAP without an answer (kept for the back office, never shown)

    def as_json(self) -> dict[str, Any]:
        """What rows and payments carry (`verification`)."""
        return {"result": self.result, "matched_name": self.matched_name}


class BadRequest(ValueError):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass(frozen=True)
class Request:
    name: str | None  # None: the party is given by identification
    iban: str
    party_agent: str
    requesting_agent: str


def request_body(*, name: str, iban: str, party_agent: str, requesting_agent: str) -> dict:
    return {
        "party": {"name": name[:NAME_LENGTH]},
        "partyAccount": {"iban": iban},
        "partyAgent": party_agent,
        "requestingAgent": requesting_agent,
    }


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(400, "invalid_request", f"{what} must be a non-empty string")
    if len(value) > limit:
        raise BadRequest(400, "invalid_request", f"{what} is longer than {limit} characters")
    return value.strip()


def parse_request(data: Any) -> Request:
    """The request body, checked; BadRequest says what is wrong."""
    if not isinstance(data, dict):
        raise BadRequest(400, "invalid_request", "the body must be a JSON object")
    party = data.get("party")
    if not isinstance(party, dict):
        raise BadRequest(400, "invalid_request", "party must be an object")
    name: str | None
    if "name" in party:
        name = _text(party["name"], "party.name", NAME_LENGTH)
    elif party.get("identification"):
        name = None
    else:
        raise BadRequest(400, "invalid_request", "party needs a name or an identification")
    account = data.get("partyAccount")
    if not isinstance(account, dict):
        raise BadRequest(400, "invalid_request", "partyAccount must be an object")
    iban = _text(account.get("iban"), "partyAccount.iban", 34)
    return Request(
        name=name,
        iban=iban,
        party_agent=_text(data.get("partyAgent"), "partyAgent", 11).upper(),
        requesting_agent=_text(data.get("requestingAgent"), "requestingAgent", 11).upper(),
    )


def answer_body(verification: Verification) -> dict[str, str]:
    body = {"partyNameMatch": verification.result}
    if verification.result == "CMTC" and verification.matched_name:
        body["matchedName"] = verification.matched_name
    return body


def parse_answer(data: Any) -> Verification:
    """A peer's answer, checked: anything else is no answer (ValueError)."""
    if not isinstance(data, dict) or data.get("partyNameMatch") not in RESULTS:
        raise ValueError("the answer carries no partyNameMatch of the scheme")
    result = data["partyNameMatch"]
    matched = data.get("matchedName")
    if result == "CMTC":
        if not isinstance(matched, str) or not matched.strip():
            raise ValueError("a close match (CMTC) without matchedName")
        return Verification(result, matched.strip()[:NAME_LENGTH])
    return Verification(result)
