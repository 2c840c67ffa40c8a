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
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from typing import Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from django.db import connection, transaction
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property

CHUNK_SIZE = 1024 * 1024  # bytes per lo_put and per lo_get


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


class StoredFileHandle(File):
    """The File `DatabaseStorage.open` hands out: reopened from the database once closed."""

    def __init__(self, oid: int, size: int, name: str) -> None:
        super().__init__(self._reader(oid, size), name)
        self.oid = oid
        self.size = size

    @staticmethod
    def _reader(oid: int, size: int) -> io.BufferedReader:
        return io.BufferedReader(LargeObjectReader(oid, size), buffer_size=CHUNK_SIZE)

    def open(self, mode: str | None = None, *args: Any, **kwargs: Any) -> StoredFileHandle:
        if mode not in (None, "rb", "r"):
            raise ValueError("a stored batch file opens read-only ('rb')")
        if self.closed:
            self.file = self._reader(self.oid, self.size)
        else:
            self.seek(0)
        return self


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
        return StoredFileHandle(row.oid, row.size, name)

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
            StoredFile.objects.create(name=name, oid=oid, size=size, sha256=digest.hexdigest())
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
