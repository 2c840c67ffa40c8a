"""The base of every refusal the hub's services raise: a stable `code` (the API's error
code), an HTTP `status` and an ISO 20022 `reason_code` (the reason that batch rows, pain.002
reports and interbank answers carry). Views and the API turn one into a clear message."""

from __future__ import annotations


class DomainError(Exception):
    code = "ledger_error"
    reason_code = "NARR"
    status = 400

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.__doc__ or self.code
        super().__init__(self.detail)
