"""The HTTP response carrying a statement, for the API and the dashboard alike."""

from __future__ import annotations

import tempfile
from typing import BinaryIO, cast

from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse

from accounts.models import Account
from statements import exports
from statements.requests import StatementRequest


def statement_response(account: Account, wanted: StatementRequest) -> HttpResponseBase:
    span = wanted.span
    name = f"statement-{account.number}-{span.first_day}-{span.last_day}"
    if wanted.format == "camt.053":
        # Spooled: a small statement stays in memory, a day of 100,000 entries goes to disk.
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        exports.write_camt(
            cast(BinaryIO, spool), account=account, span=span, version=wanted.version
        )
        spool.seek(0)
        return FileResponse(
            spool, as_attachment=True, filename=f"{name}.xml", content_type="application/xml"
        )
    if wanted.format == "csv":
        response = StreamingHttpResponse(
            exports.statement_csv(account=account, span=span),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    return StreamingHttpResponse(
        exports.statement_json(account=account, span=span, after=wanted.after, limit=wanted.limit),
        content_type="application/json",
    )
