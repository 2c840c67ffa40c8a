"""Every state change of a batch, a module per stage: upload, validation (with the
duplicates' flags), decisions (four eyes, the funds held), execution.

Validation and execution run in RQ workers (batches/jobs.py) and are safe to run again
after a crash: validation starts over, execution continues with the rows that are still
unpaid, in chunks of one database transaction each. Callers import from here.
"""

from batches.services.base import BatchError, CodeRefused, FundsShort, NotAllowed
from batches.services.decisions import batch_approve, batch_cancel, batch_reject
from batches.services.execution import (
    batch_event_data,
    batch_execute,
    batch_mail_maker,
    batch_resume_stalled,
    batch_start_due,
    refresh_statistics,
)
from batches.services.upload import batch_upload
from batches.services.validation import ANALYZE_FROM_ROWS, batch_validate

__all__ = [
    "ANALYZE_FROM_ROWS",
    "BatchError",
    "CodeRefused",
    "FundsShort",
    "NotAllowed",
    "batch_approve",
    "batch_cancel",
    "batch_event_data",
    "batch_execute",
    "batch_mail_maker",
    "batch_reject",
    "batch_resume_stalled",
    "batch_start_due",
    "batch_upload",
    "batch_validate",
    "refresh_statistics",
]
