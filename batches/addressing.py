"""A batch row's postal addresses: how they are stored (COPY values) and the rule validation
applies to them (BE04).

The addresses themselves are iso20022.addresses dicts; the parsers read them from the file.
"""

from __future__ import annotations

import json
from typing import Any

from clearing import services as clearing
from iso20022 import addresses

# BatchItem's address columns, in the order `copy_values` gives them (and ParsedRow's names).
ROW_FIELDS = (
    "debtor_address",
    "creditor_address",
    "ultimate_debtor_address",
    "ultimate_creditor_address",
)
MISSING_ADDRESS = "BE04"  # ExternalStatusReason1Code: creditor address missing or not correct


def copy_values(row: Any) -> tuple[str | None, ...]:
    """The row's addresses as COPY writes them into jsonb columns: JSON text, or NULL."""
    return tuple(
        None if (address := getattr(row, name)) is None else json.dumps(address)
        for name in ROW_FIELDS
    )


class AddressRule:
    """BE04 for a batch's rows, with the peers that serve its IBANs looked up once each."""

    def __init__(self) -> None:
        self.served: dict[str, bool] = {}

    def refusal(self, row: Any, *, held_here: bool) -> tuple[str, str] | None:
        """(BE04, why) when the row's addresses cannot go on, else None.

        Any row: an address part the schema would refuse (too long, a country that is not
        two capital letters), for the creditor and the ultimate creditor, whose addresses a
        CSV may carry. A row to another bank (an IBAN the hub does not hold and a peer
        serves): the creditor's address must be structured or hybrid, with town and country
        (iso20022.addresses.network_problem). An on-us row needs no address."""
        for label, address in (
            ("creditor", row.creditor_address),
            ("ultimate creditor", row.ultimate_creditor_address),
        ):
            if wrong := addresses.problems(address):
                return MISSING_ADDRESS, f"the {label}'s postal address: {'; '.join(wrong)}"
        if held_here or not self.is_external(row.creditor_account):
            return None
        if problem := addresses.network_problem(row.creditor_address):
            return MISSING_ADDRESS, f"a transfer to another bank: {problem}"
        return None

    def is_external(self, account: str) -> bool:
        iban = clearing.normalise_iban(account)
        if iban not in self.served:
            self.served[iban] = clearing.is_iban(iban) and (
                clearing.peer_for_iban(iban) is not None
            )
        return self.served[iban]
