"""The server's keys that are not in the database: one list of master keys, newest first.

A copy of the database (a backup, a read-only role, a replica) holds no key: secrets are sealed
with them (common/sealed.py), sessions are found by an HMAC of their key, and the audit chain is
an HMAC chain. Each use has a key of its own, derived from a master key with HKDF
(`purpose_key`), so a key leaked from one use opens nothing of another.

Where the master keys come from:
- the setting FIELD_ENCRYPTION_KEYS (environment, comma-separated, each 32 random bytes in
  urlsafe base64; the first is current, the others still open what they sealed), else
- the key file FIELD_ENCRYPTION_KEY_FILE (one key a line, current first), generated once with
  mode 0600 like SECRET_KEY's file. The file is read again whenever it changes, so a rotation
  (`manage.py rotate_keys`) reaches every running process without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32


@dataclass(frozen=True)
class MasterKey:
    secret: bytes

    @property
    def id(self) -> bytes:
        """Two bytes that name the key inside what it sealed (not secret, not unique proof)."""
        return hashlib.sha256(b"payhub key id:" + self.secret).digest()[:2]

    @property
    def label(self) -> str:
        return self.id.hex()


def new_key() -> str:
    """A new master key, as it is written in the setting or the key file."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _parse(text: str, where: str) -> MasterKey:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"{where}: a key must be {KEY_BYTES} random bytes in urlsafe base64 "
            "(python -c 'import common.keyring as k; print(k.new_key())')"
        )
    return MasterKey(raw)


def key_file() -> Path:
    return Path(settings.FIELD_ENCRYPTION_KEY_FILE)


def from_environment() -> bool:
    return bool(settings.FIELD_ENCRYPTION_KEYS)


_lock = threading.Lock()
_loaded: dict[str, tuple[object, tuple[MasterKey, ...]]] = {}  # "keys": (source, keys)
_purposes: dict[tuple[bytes, str], bytes] = {}


def master_keys() -> tuple[MasterKey, ...]:
    """The master keys, current first."""
    configured = tuple(text for text in settings.FIELD_ENCRYPTION_KEYS if text.strip())
    if configured:
        source, keys = _loaded.get("keys", (None, ()))
        if source != configured:
            keys = tuple(_parse(text, "FIELD_ENCRYPTION_KEYS") for text in configured)
            _loaded["keys"] = (configured, keys)
        return keys
    path = key_file()
    with _lock:
        if not path.exists():
            _create_key_file_once(path)
        status = path.stat()
        stamp = (str(path), status.st_mtime_ns, status.st_size, status.st_ino)
        source, keys = _loaded.get("keys", (None, ()))
        if source != stamp:
            lines = [line for line in path.read_text().splitlines() if line.strip()]
            if not lines:
                raise ImproperlyConfigured(f"{path} holds no key")
            keys = tuple(_parse(line, str(path)) for line in lines)
            _loaded["keys"] = (stamp, keys)
        return keys


def _create_key_file_once(path: Path) -> None:
    """The first key, written by whichever process gets there first: processes starting
    together (`make run`'s web and workers) all end up reading the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(new_key() + "\n")
    try:
        os.link(temporary, path)  # fails if another process made it meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def write_key_file(keys: list[str]) -> None:
    """Replace the key file atomically (mode 0600): keys as written, current first."""
    path = key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("".join(f"{key}\n" for key in keys))
    os.replace(temporary, path)
    _loaded.clear()


def key_file_lines() -> list[str]:
    return [line.strip() for line in key_file().read_text().splitlines() if line.strip()]


def current() -> MasterKey:
    return master_keys()[0]


def purpose_key(master: MasterKey, purpose: str) -> bytes:
    """The key of one use (sealing, sessions, the audit chain) under one master key."""
    cached = _purposes.get((master.secret, purpose))
    if cached is None:
        cached = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=None,
            info=b"payhub:" + purpose.encode(),
        ).derive(master.secret)
        _purposes[(master.secret, purpose)] = cached
    return cached


def mac(master: MasterKey, purpose: str, message: bytes) -> bytes:
    """HMAC-SHA256 of `message` under the purpose's key."""
    return hmac.new(purpose_key(master, purpose), message, hashlib.sha256).digest()


@dataclass(frozen=True)
class Rekeyer:
    """What an app keeps under these keys beyond sealed columns and the audit chain (say, MACs
    of its rows): `rekey` makes it again under the current key (a dict of counts), `older`
    counts what is still under another key. `rotate_keys` runs every one registered."""

    name: str
    rekey: Callable[[], dict[str, int]]
    older: Callable[[], int]


_rekeyers: dict[str, Rekeyer] = {}


def register_rekeyer(
    name: str, *, rekey: Callable[[], dict[str, int]], older: Callable[[], int]
) -> None:
    """Called from an app's ready(): the keyring knows nothing of the apps."""
    _rekeyers[name] = Rekeyer(name, rekey, older)


def rekeyers() -> list[Rekeyer]:
    return list(_rekeyers.values())
