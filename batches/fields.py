"""The ISO 20022 fields that a batch row carries from its file to its reports, defined once.

Each name is the same attribute on the parsed row (`parsers.ParsedRow`), the stored row
(`BatchItem`), the API's row (`BatchItemSerializer`) and the pain.002's transaction
(`iso20022.pain002.TransactionStatus`): validation copies them, the API and the reports read
them. A new field is added here, to the model (with its migration), to ParsedRow and to
TransactionStatus; nothing else lists them.
"""

from __future__ import annotations

from operator import attrgetter

ISO_ROW_FIELDS: tuple[str, ...] = (
    "instruction_id",  # PmtId/InstrId
    "uetr",  # PmtId/UETR (.09)
    "transfer_currency",  # Amt/EqvtAmt/CcyOfTrf
    "creditor_reference",  # RmtInf/Strd/CdtrRefInf/Ref
    "creditor_reference_type",  # its Tp/CdOrPrtry/Cd or Prtry
    "creditor_agent_bic",  # CdtrAgt/FinInstnId/BIC(FI)
    "ultimate_debtor",  # UltmtDbtr/Nm
    "ultimate_creditor",  # UltmtCdtr/Nm
)

iso_values = attrgetter(*ISO_ROW_FIELDS)  # a row's ISO fields as a tuple, in that order
