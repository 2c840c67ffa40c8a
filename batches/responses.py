"""The HTTP responses that carry a batch's reports, for the API and the dashboard alike."""

from __future__ import annotations

import tempfile

from django.http import FileResponse, StreamingHttpResponse

from batches import reports
from batches.models import Batch
from iso20022.pain002 import VERSIONS


def csv_response(batch: Batch, which: str) -> StreamingHttpResponse:
    rows = reports.result_csv(batch) if which == "report" else reports.failed_csv(batch)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.id}-{which}.csv"'
    return response


def xml_response(batch: Batch, version: str) -> FileResponse:
    """The pain.002 in `version` (one of pain002.VERSIONS; the caller checks it)."""
    assert version in VERSIONS
    # Spooled: small reports stay in memory, a 100,000-row one goes to a temporary file.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    reports.write_result_xml(batch, spool, version=version)
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=f"batch-{batch.id}-{version}.xml",
        content_type="application/xml",
    )


def unknown_version(version: str) -> str:
    return f"version {version[:40]!r} is not offered; ask for {' or '.join(VERSIONS)}"
