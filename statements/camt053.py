"""ISO 20022 camt.053 (BankToCustomerStatement), .001.08 and, where asked for, .001.02.

Written incrementally (iso20022.xmlwriter) from iterators of ledger lines, so a day of 100,000
entries takes constant memory. A batch's debits on its debtor's account are one booking
(BtchBookg): one Ntry for the batch's total, with one NtryDtls per PmtInf (Btch with the
file's MsgId and PmtInfId) holding each transaction's TxDtls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from uuid import UUID

from accounts.ledger import money
from accounts.models import Account
from iso20022.markup import account_id_markup, creditor_reference_markup, postal_address_markup
from iso20022.xmlwriter import XmlWriter, attribute, escape
from statements.selectors import Balances, BatchBooking, BlockTotal, Line, Period

VERSIONS = ("camt.053.001.08", "camt.053.001.02")
DEFAULT_VERSION = VERSIONS[0]
_ID = 35


@dataclass(frozen=True)
class Batches:
    """What the writer asks of a batch booking when it meets the batch's first debit."""

    bookings: dict[UUID, BatchBooking]
    blocks: Callable[[UUID], list[BlockTotal]]
    lines: Callable[[UUID], Iterator[Line]]


def write_camt053(
    out: BinaryIO,
    *,
    version: str = DEFAULT_VERSION,
    message_id: str,
    created_at: datetime,
    account: Account,
    span: Period,
    balances: Balances,
    lines: Callable[[frozenset[UUID]], Iterable[Line]],
    batches: Batches,
) -> None:
    if version not in VERSIONS:
        raise ValueError(f"camt.053 version {version!r} is not offered")
    writer = _Writer(version, account.currency, XmlWriter(out))
    with writer.xml.element("Document", xmlns=writer.namespace):
        with writer.element("BkToCstmrStmt"):
            with writer.element("GrpHdr"):
                writer.leaf("MsgId", message_id[:_ID])
                writer.leaf("CreDtTm", created_at.isoformat(timespec="seconds"))
            with writer.element("Stmt"):
                writer.leaf(
                    "Id",
                    f"{span.first_day:%Y%m%d}-{span.last_day:%Y%m%d}-{account.pk.hex[:12]}",
                )
                writer.leaf("CreDtTm", created_at.isoformat(timespec="seconds"))
                with writer.element("FrToDt"):
                    writer.leaf("FrDtTm", span.start.isoformat())
                    writer.leaf("ToDtTm", span.end.isoformat())
                writer.account(account)
                writer.balance("OPBD", balances.opening_booked, span.first_day.isoformat())
                writer.balance("CLBD", balances.closing_booked, span.last_day.isoformat())
                writer.balance("CLAV", balances.closing_available, span.last_day.isoformat())
                grouped = []
                for batch_id, booking in batches.bookings.items():
                    blocks = batches.blocks(batch_id)
                    # One booking only when the period holds all of the batch's debits
                    # (an execution across midnight is booked on two days: entry by entry).
                    if (
                        sum(block.count for block in blocks) == booking.count
                        and sum(block.total for block in blocks) == booking.total
                    ):
                        grouped.append((booking, blocks))
                # A booking stands where its batch's first debit was booked.
                grouped.sort(key=lambda pair: pair[0].first_entry_id)
                pending = iter(grouped)
                upcoming = next(pending, None)
                for line in lines(frozenset(booking.batch_id for booking, _ in grouped)):
                    while upcoming is not None and upcoming[0].first_entry_id < line.entry_id:
                        writer.batch_entry(*upcoming, batches.lines(upcoming[0].batch_id))
                        upcoming = next(pending, None)
                    writer.entry(line)
                while upcoming is not None:
                    writer.batch_entry(*upcoming, batches.lines(upcoming[0].batch_id))
                    upcoming = next(pending, None)
    writer.xml.flush()


class _Writer:
    def __init__(self, version: str, currency: str, xml: XmlWriter) -> None:
        self.v08 = version == "camt.053.001.08"
        self.namespace = f"urn:iso:std:iso:20022:tech:xsd:{version}"
        self.currency = currency
        self.currency_attribute = attribute(currency)
        self.xml = xml
        self.element = xml.element
        self.leaf = xml.leaf

    def amount(self, tag: str, minor: int) -> None:
        self.leaf(tag, money.to_major(abs(minor), self.currency), Ccy=self.currency)

    def account(self, account: Account) -> None:
        with self.element("Acct"):
            self.xml.raw(account_id_markup(account.number))
            self.leaf("Ccy", account.currency)
            if account.name:
                self.leaf("Nm", account.name[:70])

    def balance(self, code: str, minor: int, day: str) -> None:
        with self.element("Bal"):
            with self.element("Tp"), self.element("CdOrPrtry"):
                self.leaf("Cd", code)
            self.amount("Amt", minor)
            self.leaf("CdtDbtInd", "DBIT" if minor < 0 else "CRDT")
            with self.element("Dt"):
                self.leaf("Dt", day)

    def entry_head(self, reference: str, minor: int, booked_at: datetime, servicer: str) -> None:
        self.leaf("NtryRef", reference[:_ID])
        self.amount("Amt", minor)
        self.leaf("CdtDbtInd", "DBIT" if minor < 0 else "CRDT")
        if self.v08:
            with self.element("Sts"):
                self.leaf("Cd", "BOOK")
        else:
            self.leaf("Sts", "BOOK")
        with self.element("BookgDt"):
            self.leaf("DtTm", booked_at.isoformat())
        with self.element("ValDt"):
            self.leaf("Dt", booked_at.date().isoformat())
        self.leaf("AcctSvcrRef", servicer[:_ID])

    def bank_transaction_code(self, family: str, sub_family: str) -> None:
        with self.element("BkTxCd"), self.element("Domn"):
            self.leaf("Cd", "PMNT")
            with self.element("Fmly"):
                self.leaf("Cd", family)
                self.leaf("SubFmlyCd", sub_family)

    def entry(self, line: Line) -> None:
        credit = line.amount > 0
        with self.element("Ntry"):
            self.entry_head(
                str(line.entry_id), line.amount, line.booked_at, f"LT{line.transaction_id}"
            )
            sub_family = "DMCT" if line.kind in ("transfer", "capture") else "OTHR"
            self.bank_transaction_code("RCDT" if credit else "ICDT", sub_family)
            with self.element("NtryDtls"):
                self.transaction(line)
            if line.description:
                self.leaf("AddtlNtryInf", line.description[:500])

    def batch_entry(
        self, booking: BatchBooking, blocks: list[BlockTotal], lines: Iterator[Line]
    ) -> None:
        first = next(lines, None)
        if first is None:
            return
        with self.element("Ntry"):
            self.entry_head(
                f"B{booking.batch_id.hex[:34]}",
                -booking.total,
                first.booked_at,
                f"BATCH-{booking.batch_id.hex[:29]}",
            )
            self.bank_transaction_code("ICDT", "DMCT")
            pending: Line | None = first
            for block in blocks:
                with self.element("NtryDtls"):
                    with self.element("Btch"):
                        if block.message_id:
                            self.leaf("MsgId", block.message_id[:_ID])
                        if block.payment_information_id:
                            self.leaf("PmtInfId", block.payment_information_id[:_ID])
                        self.leaf("NbOfTxs", str(block.count))
                        self.amount("TtlAmt", -block.total)
                        self.leaf("CdtDbtInd", "DBIT")
                    for _ in range(block.count):
                        line = pending if pending is not None else next(lines)
                        pending = None
                        self.transaction(line)
            self.leaf("AddtlNtryInf", f"batch booking of {booking.count} payments")

    def transaction(self, line: Line) -> None:
        """One TxDtls, written as one string: a 100,000-entry statement has two million
        elements, and a call per element was most of its time (the same bytes as writing
        element by element)."""
        credit = line.amount > 0
        parts = ["<TxDtls><Refs>"]
        if line.message_id:
            parts.append(f"<MsgId>{escape(line.message_id[:_ID])}</MsgId>")
        if line.payment_id is not None:
            parts.append(f"<AcctSvcrRef>{line.payment_id.hex}</AcctSvcrRef>")
        if line.payment_information_id:
            parts.append(f"<PmtInfId>{escape(line.payment_information_id[:_ID])}</PmtInfId>")
        if line.instruction_id:
            parts.append(f"<InstrId>{escape(line.instruction_id[:_ID])}</InstrId>")
        end_to_end = escape(line.end_to_end_id[:_ID] or "NOTPROVIDED")
        parts.append(f"<EndToEndId>{end_to_end}</EndToEndId>")
        if self.v08 and line.uetr:
            parts.append(f"<UETR>{escape(line.uetr)}</UETR>")
        parts.append(f"<TxId>LT{line.transaction_id}</TxId></Refs>")
        amount = self.amount_text("Amt", line.amount)
        if self.v08:
            parts.append(f"{amount}<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd>")
        else:
            parts.append(f"<AmtDtls><TxAmt>{amount}</TxAmt></AmtDtls>")
        if (
            line.counterparty_account
            or line.counterparty_name
            or line.ultimate_debtor
            or line.ultimate_creditor
            or line.counterparty_address
            or line.ultimate_debtor_address
            or line.ultimate_creditor_address
        ):
            self.parties(parts, line, credit)
        if line.reference or line.creditor_reference:
            parts.append("<RmtInf>")
            reference = line.reference
            if reference and reference != line.creditor_reference:
                parts.append(f"<Ustrd>{escape(reference[:140])}</Ustrd>")
            if line.creditor_reference:
                parts.append(
                    creditor_reference_markup(
                        line.creditor_reference_type[:_ID], line.creditor_reference[:_ID]
                    )
                )
            parts.append("</RmtInf>")
        parts.append("</TxDtls>")
        self.xml.raw("".join(parts))

    def amount_text(self, tag: str, minor: int) -> str:
        """What `amount` writes, as a string."""
        text = money.to_major(abs(minor), self.currency)
        return f'<{tag} Ccy="{self.currency_attribute}">{text}</{tag}>'

    def parties(self, parts: list[str], line: Line, credit: bool) -> None:
        parts.append("<RltdPties>")
        # On a credit the counterparty is the debtor, on a debit the creditor.
        if credit:
            if line.counterparty_name or line.counterparty_address:
                self.party(parts, "Dbtr", line.counterparty_name, line.counterparty_address)
            if line.counterparty_account:
                parts.append(f"<DbtrAcct>{account_id_markup(line.counterparty_account)}</DbtrAcct>")
        if line.ultimate_debtor or line.ultimate_debtor_address:
            self.party(parts, "UltmtDbtr", line.ultimate_debtor, line.ultimate_debtor_address)
        if not credit:
            if line.counterparty_name or line.counterparty_address:
                self.party(parts, "Cdtr", line.counterparty_name, line.counterparty_address)
            if line.counterparty_account:
                parts.append(f"<CdtrAcct>{account_id_markup(line.counterparty_account)}</CdtrAcct>")
        if line.ultimate_creditor or line.ultimate_creditor_address:
            self.party(parts, "UltmtCdtr", line.ultimate_creditor, line.ultimate_creditor_address)
        parts.append("</RltdPties>")

    def party(self, parts: list[str], tag: str, name: str, address: dict | None = None) -> None:
        """A party with its name and its postal address as structured elements
        (PostalAddress24 in .08, PostalAddress6 in .02); either may be absent."""
        party = f"<Nm>{escape(name[:140])}</Nm>" if name else ""
        party += postal_address_markup(address, version6=not self.v08)
        if self.v08:
            parts.append(f"<{tag}><Pty>{party}</Pty></{tag}>")
        else:
            parts.append(f"<{tag}>{party}</{tag}>")
