"""Batch files kept in PostgreSQL as large objects, so any host that reaches the database
reads them: no shared file system between the web hosts that store an upload and the
workers that validate it.

A `batches.StoredFile` row maps a name to its large object. Saving writes through the
caller's connection and transaction (`lo_create`, then `lo_put` a chunk at a time), so an
upload rolled back leaves neither row nor large object. Reading is lazy: `lo_get` one chunk
at a time, never the whole file. Only the server-side SQL functions are used, each call a
statement of its own (no large-object descriptors), so they work in autocommit and behind a
pooler in transaction mode.

Large objects belong to the role that created them, and `lo_get` needs read access to them:
every host connects as the same role (or that role grants SELECT ON LARGE OBJECT).

Every open verifies the bytes (issue 18): the large object is copied once into a spooled
temporary file while its SHA-256 is computed, and the copy is handed out only if the digest is
the one recorded at upload and the row's MAC (an HMAC, under a key that is not in the
database, of its name, size and digest) is the server's. Bytes rewritten with lo_put, or
rewritten together with the digest column, raise `TamperedFile` (a `FileRejected`: the batch
ends invalid and is never validated or reported from them) and are recorded in the audit trail.
What is verified is what is read: the caller reads the checked copy, not the database again.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import tempfile
from datetime import datetime
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from django.db import connection, transaction
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property

from batches.parsers.base import FileRejected
from common import keyring

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024  # bytes per lo_put and per lo_get
SPOOL_BYTES = 8 * 1024 * 1024  # a verified copy stays in memory up to this, then on disk
MAC_PURPOSE = "stored-file"


class TamperedFile(FileRejected):
    """The stored bytes are not the ones uploaded: refused, loudly."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(
            "NARR", f"the stored file {name} was changed after upload ({problem}): refused"
        )
        self.problem = problem


def row_mac(*, name: str, size: int, sha256: str) -> str:
    """The server's seal on a stored file's name, size and digest (common/keyring.py)."""
    message = f"{name}\n{size}\n{sha256}".encode()
    return keyring.mac(keyring.current(), MAC_PURPOSE, message).hex()


def _mac_is_ours(row: Any) -> bool:
    message = f"{row.name}\n{row.size}\n{row.sha256}".encode()
    return any(
        hmac.compare_digest(keyring.mac(master, MAC_PURPOSE, message).hex(), row.mac)
        for master in keyring.master_keys()
    )


class LargeObjectReader(io.RawIOBase):
    """A read-only, seekable view of one large object that reads a chunk per `lo_get`."""

    def __init__(self, oid: int, size: int, chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__()
        self.oid = oid
        self.size = size
        self.chunk_size = chunk_size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def readall(self) -> bytes:
        # RawIOBase's own reads 8 KiB per call: a query each. A chunk per query instead.
        pieces = []
        buffer = bytearray(self.chunk_size)
        while count := self.readinto(buffer):
            pieces.append(bytes(buffer[:count]))
        return b"".join(pieces)

    def readinto(self, buffer: Any) -> int:
        self._checkClosed()
        view = memoryview(buffer).cast("B")
        length = min(len(view), self.chunk_size, self.size - self._position)
        if length <= 0:
            return 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT lo_get(%s, %s, %s)", [self.oid, self._position, length])
            data = bytes(cursor.fetchone()[0])
        view[: len(data)] = data
        self._position += len(data)
        return len(data)


def files_under_older_keys() -> int:
    from batches.models import StoredFile

    rows = StoredFile.objects.only("name", "size", "sha256", "mac").iterator(chunk_size=2000)
    return sum(
        1 for row in rows if row.mac != row_mac(name=row.name, size=row.size, sha256=row.sha256)
    )


def rekey_files() -> dict[str, int]:
    """After a rotation: each row whose MAC is under an older key of ours gets the current
    key's. A row whose MAC is no key's stays as it is (it is refused when read)."""
    from batches.models import StoredFile

    counts = {"rekeyed": 0, "current": 0, "not_ours": 0}
    pks = list(StoredFile.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), 1000):
        with transaction.atomic():
            rows = StoredFile.objects.select_for_update().filter(pk__in=pks[start : start + 1000])
            for row in rows.order_by("pk"):
                fresh = row_mac(name=row.name, size=row.size, sha256=row.sha256)
                if row.mac == fresh:
                    counts["current"] += 1
                elif row.mac and _mac_is_ours(row):
                    StoredFile.objects.filter(pk=row.pk).update(mac=fresh)
                    counts["rekeyed"] += 1
                else:
                    counts["not_ours"] += 1
    return counts


class StoredFileHandle(File):
    """The File `DatabaseStorage.open` hands out: a verified copy of the stored bytes, copied
    and verified again when it is reopened."""

    def __init__(self, row: Any, name: str) -> None:
        self.row = row
        self.oid = row.oid
        super().__init__(self._verified(), name)
        self.size = row.size

    def _verified(self) -> IO[bytes]:
        row = self.row
        reader = io.BufferedReader(LargeObjectReader(row.oid, row.size), buffer_size=CHUNK_SIZE)
        copy = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        digest = hashlib.sha256()
        while chunk := reader.read(CHUNK_SIZE):
            digest.update(chunk)
            copy.write(chunk)
        problem = ""
        if not row.mac or not _mac_is_ours(row):
            problem = "its record does not carry the server's MAC"
        elif not hmac.compare_digest(digest.hexdigest(), row.sha256):
            problem = f"SHA-256 {digest.hexdigest()} where {row.sha256} was recorded"
        if problem:
            copy.close()
            _record_tampering(row, problem)
            raise TamperedFile(row.name, problem)
        copy.seek(0)
        return copy

    def open(self, mode: str | None = None, *args: Any, **kwargs: Any) -> StoredFileHandle:
        if mode not in (None, "rb", "r"):
            raise ValueError("a stored batch file opens read-only ('rb')")
        if self.closed:
            self.file = self._verified()
        else:
            self.seek(0)
        return self


def _record_tampering(row: Any, problem: str) -> None:
    """Loudly: an error in the log, and an event in the audit trail (in the caller's
    transaction: a validation that meets it commits the batch as invalid, with the event)."""
    from accounts.identity import audit
    from accounts.identity.actions import AuditAction

    logger.error("stored file %s (large object %s) refused: %s", row.name, row.oid, problem)
    audit.record(
        actor=audit.current_actor(),
        action=AuditAction.BATCH_FILE_TAMPERED,
        target=row,
        problem=problem,
        recorded_sha256=row.sha256,
    )


@deconstructible(path="batches.storage.DatabaseStorage")
class DatabaseStorage(Storage):
    """Files as PostgreSQL large objects, named by `batches.StoredFile` rows."""

    @cached_property
    def legacy(self) -> FileSystemStorage:
        # Deployments from before this storage have batch files on disk under MEDIA_ROOT:
        # a name without a StoredFile row is looked up there, so those keep opening.
        return FileSystemStorage()

    def _row(self, name: str) -> Any:
        from batches.models import StoredFile

        return StoredFile.objects.filter(name=name).first()

    def _open(self, name: str, mode: str = "rb") -> File:
        if "w" in mode or "a" in mode or "+" in mode or "x" in mode:
            raise ValueError("stored batch files are read-only once saved")
        row = self._row(name)
        if row is None:
            return self.legacy.open(name, "rb")
        return StoredFileHandle(row, name)

    def _save(self, name: str, content: File) -> str:
        from batches.models import StoredFile

        digest = hashlib.sha256()
        size = 0
        # A savepoint inside the caller's transaction (or a transaction of its own): a
        # failure part-way leaves no large object behind.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT lo_create(0)")
            oid = cursor.fetchone()[0]
            for chunk in content.chunks(chunk_size=CHUNK_SIZE):
                data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                if not data:
                    continue
                cursor.execute("SELECT lo_put(%s, %s, %s)", [oid, size, data])
                digest.update(data)
                size += len(data)
            sha256 = digest.hexdigest()
            StoredFile.objects.create(
                name=name,
                oid=oid,
                size=size,
                sha256=sha256,
                mac=row_mac(name=name, size=size, sha256=sha256),
            )
        return name

    def delete(self, name: str) -> None:
        from batches.models import StoredFile

        with transaction.atomic():
            row = StoredFile.objects.select_for_update().filter(name=name).first()
            if row is None:
                self.legacy.delete(name)
                return
            with connection.cursor() as cursor:
                cursor.execute("SELECT lo_unlink(%s)", [row.oid])
            row.delete()

    def exists(self, name: str) -> bool:
        from batches.models import StoredFile

        # A name on disk from before counts too: a new file never hides an old one.
        return StoredFile.objects.filter(name=name).exists() or self.legacy.exists(name)

    def size(self, name: str) -> int:
        row = self._row(name)
        return self.legacy.size(name) if row is None else int(row.size)

    def get_created_time(self, name: str) -> datetime:
        row = self._row(name)
        return self.legacy.get_created_time(name) if row is None else row.created_at

    def get_modified_time(self, name: str) -> datetime:
        return self.get_created_time(name)

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        raise NotImplementedError("stored batch files are not listed by directory")

    def url(self, name: str | None) -> str:
        raise NotImplementedError("batch files are never served directly")


batch_file_storage = DatabaseStorage()
