"""Batch files in PostgreSQL large objects (batches/storage.py), and the files of before on disk."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.base import ContentFile
from django.db import connection, transaction

from batches import services, storage
from batches.models import Batch, StoredFile
from batches.services import upload
from batches.storage import CHUNK_SIZE, batch_file_storage

pytestmark = pytest.mark.django_db


def large_objects() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_largeobject_metadata")
        return cursor.fetchone()[0]


class LoGets:
    """Every lo_get the reader asks for: (offset, length)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, execute, sql, params, many, context):
        if "lo_get" in sql:
            self.calls.append((params[1], params[2]))
        return execute(sql, params, many, context)


def test_a_file_of_several_chunks_reads_back_byte_for_byte():
    data = os.urandom(2 * CHUNK_SIZE + 12345)
    before = large_objects()
    name = batch_file_storage.save("batches/test/big.upload", ContentFile(data))
    assert name == "batches/test/big.upload"
    row = StoredFile.objects.get(name=name)
    assert row.size == len(data)
    assert large_objects() == before + 1
    assert batch_file_storage.exists(name)
    assert batch_file_storage.size(name) == len(data)
    with batch_file_storage.open(name, "rb") as stream:
        assert stream.read() == data
    with batch_file_storage.open(name) as stream:
        assert stream.read(10) == data[:10]
        stream.seek(CHUNK_SIZE - 5)
        assert stream.tell() == CHUNK_SIZE - 5
        assert stream.read(10) == data[CHUNK_SIZE - 5 : CHUNK_SIZE + 5]
        stream.seek(-3, io.SEEK_END)
        assert stream.read() == data[-3:]
        assert stream.read(1) == b""
        buffer = bytearray(7)
        stream.seek(0)
        assert stream.readinto(buffer) == 7
        assert bytes(buffer) == data[:7]
    # Closed, it opens again (as FieldFile.open does with the same File).
    handle = batch_file_storage.open(name)
    handle.close()
    with handle.open("rb") as again:
        assert again.read(4) == data[:4]


def test_a_taken_name_gets_another_and_delete_unlinks_the_large_object():
    first = batch_file_storage.save("batches/test/same.upload", ContentFile(b"one"))
    second = batch_file_storage.save("batches/test/same.upload", ContentFile(b"two"))
    assert first != second
    before = large_objects()
    batch_file_storage.delete(second)
    assert not batch_file_storage.exists(second)
    assert large_objects() == before - 1
    with batch_file_storage.open(first) as stream:
        assert stream.read() == b"one"
    with pytest.raises(NotImplementedError):
        batch_file_storage.url(first)
    with pytest.raises(ValueError):
        batch_file_storage.open(first, "wb")


def test_reading_asks_lo_get_for_one_chunk_at_most():
    data = os.urandom(3 * CHUNK_SIZE + 1)
    name = batch_file_storage.save("batches/test/chunks.upload", ContentFile(data))
    gets = LoGets()
    with connection.execute_wrapper(gets), batch_file_storage.open(name) as stream:
        read = bytearray()
        while piece := stream.read(8192):  # as the CSV parser's TextIOWrapper reads
            read += piece
        stream.seek(0)
        whole = stream.read()  # and one read of everything
    assert bytes(read) == data
    assert whole == data
    assert gets.calls
    assert max(length for _, length in gets.calls) <= CHUNK_SIZE
    # The 8 KiB reads were served from a buffer of one chunk, not a query each.
    assert len(gets.calls) <= 2 * (len(data) // CHUNK_SIZE + 1)


def test_a_rolled_back_upload_leaves_no_row_and_no_large_object(desk, monkeypatch):
    rows, objects = StoredFile.objects.count(), large_objects()

    def refuse(*args, **kwargs):
        raise RuntimeError("the enqueue fails after the file was saved")

    monkeypatch.setattr(upload, "enqueue", refuse)
    with pytest.raises(RuntimeError):
        desk.upload(desk.csv(("PAYEE0000", "10.00", "EUR", "r1", "e2e-1")))
    assert not Batch.objects.exists()
    assert StoredFile.objects.count() == rows
    assert large_objects() == objects


def test_a_rolled_back_transaction_takes_the_file_with_it():
    objects = large_objects()
    with pytest.raises(RuntimeError), transaction.atomic():
        batch_file_storage.save("batches/test/gone.upload", ContentFile(b"x" * 10))
        assert large_objects() == objects + 1
        raise RuntimeError
    assert not StoredFile.objects.filter(name="batches/test/gone.upload").exists()
    assert large_objects() == objects


def test_an_uploaded_batch_is_stored_in_the_database_and_validated(desk):
    content = desk.csv(("PAYEE0000", "10.00", "EUR", "r1", "e2e-1"))
    batch = desk.upload(content)
    stored = StoredFile.objects.get(name=batch.file.name)
    assert stored.size == len(content)
    assert stored.sha256 == batch.file_sha256
    batch = services.batch_validate(batch_id=batch.id)
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert batch.valid_count == 1


def test_a_file_saved_on_disk_before_still_opens(desk, settings, tmp_path):
    """Deployments from before keep their batch files under MEDIA_ROOT: no row, read from disk."""
    settings.MEDIA_ROOT = tmp_path
    content = desk.csv(("PAYEE0000", "10.00", "EUR", "r1", "e2e-1"), ("PAYEE0001", "2", "EUR"))
    batch = desk.upload(content)
    name = batch.file.name
    batch_file_storage.delete(name)  # as if it had been saved before the storage moved
    on_disk = tmp_path / name
    on_disk.parent.mkdir(parents=True)
    on_disk.write_bytes(content.encode())
    assert not StoredFile.objects.filter(name=name).exists()
    assert batch_file_storage.exists(name)
    assert batch_file_storage.size(name) == len(content)
    with batch_file_storage.open(name) as stream:
        assert stream.read() == content.encode()
    batch = services.batch_validate(batch_id=batch.id)
    assert batch.status == Batch.Status.AWAITING_APPROVAL
    assert batch.item_count == 2
    # A new file never takes the name of one on disk.
    assert batch_file_storage.get_available_name(name) != name
    assert storage.DatabaseStorage().deconstruct() == ("batches.storage.DatabaseStorage", (), {})
