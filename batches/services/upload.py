"""Upload: store the file, refuse a copy of one seen before, and ask for its validation."""

from __future__ import annotations

import hashlib
from datetime import date

import structlog
from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.models import Account, Merchant, User
from batches import parsers
from batches.models import Batch
from batches.services.base import BatchError, enqueue
from payments.models import MerchantAPIKey


def _file_sha256(upload: File) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


# --- upload -------------------------------------------------------------------------------


@transaction.atomic
def batch_upload(
    *,
    merchant: Merchant,
    upload: File,  # an UploadedFile, or a File (manage.py bench_batch)
    debtor_account_number: str = "",
    execution_date: date | None = None,
    actor: Actor,
    uploaded_by: User | None = None,
    api_key: MerchantAPIKey | None = None,
    today: date | None = None,
) -> Batch:
    """Store the file and queue its validation. A file seen before becomes an invalid DUPL batch."""
    today = today or timezone.localdate()
    if upload.size == 0:
        raise BatchError("the file is empty")
    if upload.size > settings.BATCH_MAX_FILE_BYTES:
        raise BatchError(
            f"the file is {upload.size // (1024 * 1024)} MB; the limit is "
            f"{settings.BATCH_MAX_FILE_BYTES // (1024 * 1024)} MB"
        )
    if execution_date is not None and execution_date < today:
        raise BatchError("the execution date is in the past")
    head = upload.read(parsers.base.HEAD_SIZE)
    upload.seek(0)
    is_csv = not parsers.base.looks_like_xml(head)
    debtor = None
    if debtor_account_number:
        debtor = Account.objects.filter(number=debtor_account_number, merchant=merchant).first()
        if debtor is None:
            raise BatchError(f"you have no account {debtor_account_number!r}")
    elif is_csv:
        raise BatchError("a CSV file needs the debtor account it pays from")
    sha256 = _file_sha256(upload)
    batch = Batch(
        merchant=merchant,
        debtor_account=debtor,
        file_name=(upload.name or "upload")[-255:],
        file_size=upload.size,
        file_sha256=sha256,
        execution_date=execution_date,
        uploaded_by=uploaded_by,
        api_key=api_key,
    )
    earlier = (
        Batch.objects.filter(merchant=merchant, file_sha256=sha256)
        .exclude(status__in=Batch.REUSABLE)
        .order_by("created_at")
        .first()
    )
    if earlier is not None:
        batch.duplicate_of = earlier
        _mark_duplicate(batch, f"this file was uploaded before: batch {earlier.pk}")
    batch.file.save(f"{batch.id}.upload", upload, save=False)
    try:
        with transaction.atomic():
            batch.save()
    except IntegrityError:
        # The same file raced in through another request: this copy is the duplicate.
        _mark_duplicate(batch, "this file was uploaded before")
        batch.save()
    structlog.contextvars.bind_contextvars(batch_id=str(batch.id))
    audit.record(
        actor=actor,
        action=AuditAction.BATCH_UPLOAD,
        target=batch,
        file=batch.file_name,
        sha256=sha256,
    )
    if batch.status == Batch.Status.UPLOADED:
        enqueue("validate", batch.id)
    return batch


def _mark_duplicate(batch: Batch, message: str) -> None:
    batch.status = Batch.Status.INVALID
    batch.error_code = "DUPL"
    batch.error_message = message
