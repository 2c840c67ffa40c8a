"""A stored batch file is verified every time it is read (issue 18, point 7).

The attacker can write the database: they rewrite the uploaded bytes (lo_put) between upload
and validation, alone or with the recorded digest, so that a row pays their account.
"""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from accounts.models import AuditEvent
from batches import services
from batches.models import Batch, BatchItem, StoredFile
from batches.storage import TamperedFile, batch_file_storage

pytestmark = pytest.mark.django_db


def rewrite(row: StoredFile, data: bytes, *, digest_too: bool = False) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT lo_truncate(lo_open(%s, 131072), 0)", [row.oid])
        cursor.execute("SELECT lo_put(%s, 0, %s)", [row.oid, data])
        if digest_too:
            cursor.execute(
                "UPDATE batches_storedfile SET sha256 = %s, size = %s WHERE id = %s",
                [hashlib.sha256(data).hexdigest(), len(data), row.pk],
            )


def uploaded(desk) -> tuple[Batch, StoredFile, str]:
    honest = desk.csv((desk.payees[0].number, "100.00", "EUR", "salary", "E2E-1"))
    batch = desk.upload(honest)
    return batch, StoredFile.objects.get(name=batch.file.name), honest


@pytest.mark.parametrize("digest_too", [False, True], ids=["bytes", "bytes-and-digest"])
def test_a_file_rewritten_before_validation_is_refused_and_recorded(desk, digest_too):
    batch, row, honest = uploaded(desk)
    mule = honest.replace(desk.payees[0].number, desk.payees[1].number).replace("100.00", "900.00")
    rewrite(row, mule.encode(), digest_too=digest_too)

    batch = services.batch_validate(batch_id=batch.pk)

    assert batch.status == Batch.Status.INVALID
    assert "changed after upload" in batch.error_message
    assert not BatchItem.objects.filter(batch=batch).exists()  # nothing read from those bytes
    event = AuditEvent.objects.get(action="batch_file.tampered")
    assert event.target_id == str(row.pk)


def test_an_untouched_file_validates(desk):
    batch, _row, _honest = uploaded(desk)
    batch = services.batch_validate(batch_id=batch.pk)
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert not AuditEvent.objects.filter(action="batch_file.tampered").exists()


def test_every_open_checks_again_and_a_cleared_mac_is_no_way_round():
    name = batch_file_storage.save("batches/test/x.upload", ContentFile(b"a,b\n1,2\n"))
    row = StoredFile.objects.get(name=name)
    with batch_file_storage.open(name) as stream:
        assert stream.read() == b"a,b\n1,2\n"
    StoredFile.objects.filter(pk=row.pk).update(mac="")

    with pytest.raises(TamperedFile, match="MAC"):
        batch_file_storage.open(name)


def test_a_handle_reopened_after_a_rewrite_refuses():
    name = batch_file_storage.save("batches/test/y.upload", ContentFile(b"honest bytes"))
    handle = batch_file_storage.open(name)
    handle.close()
    rewrite(StoredFile.objects.get(name=name), b"mule bytes!!")

    with pytest.raises(TamperedFile, match="SHA-256"):
        handle.open("rb")
