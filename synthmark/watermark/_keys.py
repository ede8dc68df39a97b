"""Watermark keys: generation, the published public detection key, and key files."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthmark.carriers.atomic import atomic_write_bytes
from synthmark.errors import KeyError_

SECRET_BYTES = 32
KEY_FILE_TYPE = "synthmark-watermark-key"
KEYRING_FILE_TYPE = "synthmark-watermark-keyring"
KEY_FILE_VERSION = 1


def derive_key_id(secret: bytes) -> str:
    """Return the short public id of a secret: first 16 hex digits of SHA-256.

    Args:
        secret: The 32-byte key secret.

    Returns:
        16 lower-case hex characters.
    """
    return hashlib.sha256(b"synthmark-keyid" + secret).hexdigest()[:16]


@dataclass(frozen=True)
class WatermarkKey:
    """A watermark key.

    Attributes:
        key_id: Short hex id derived from the secret (see :func:`derive_key_id`).
        secret: 32 secret bytes; every carrier and the payload tag derive from it.
        public: True for the published public detection key, whose secret is known to all.
    """

    key_id: str
    secret: bytes
    public: bool = False

    def __post_init__(self) -> None:
        if len(self.secret) != SECRET_BYTES:
            raise KeyError_(f"a watermark key secret must be {SECRET_BYTES} bytes")
        if self.key_id != derive_key_id(self.secret):
            raise KeyError_("the key id does not match the key secret")

    @classmethod
    def from_secret(cls, secret: bytes, *, public: bool = False) -> WatermarkKey:
        """Build a key from its secret, deriving the id.

        Args:
            secret: 32 bytes.
            public: Mark the key as a published detection key.

        Returns:
            The key.
        """
        return cls(key_id=derive_key_id(secret), secret=secret, public=public)

    def __repr__(self) -> str:
        # The secret must never end up in logs or tracebacks.
        return f"WatermarkKey(key_id={self.key_id!r}, public={self.public})"


def generate_key() -> WatermarkKey:
    """Create a new private key from the operating system's CSPRNG.

    Returns:
        A fresh private :class:`WatermarkKey`.
    """
    return WatermarkKey.from_secret(secrets.token_bytes(SECRET_BYTES))


PUBLIC_DETECTION_SECRET = hashlib.sha256(b"synthmark public detection key v1").digest()
PUBLIC_DETECTION_KEY: WatermarkKey = WatermarkKey.from_secret(PUBLIC_DETECTION_SECRET, public=True)
"""The published key: anyone can detect (and therefore also forge or weaken) its mark."""


def _key_to_json(key: WatermarkKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "secret": base64.b64encode(key.secret).decode("ascii"),
        "public": key.public,
    }


def _key_from_json(obj: Any, path: Path) -> WatermarkKey:
    if not isinstance(obj, dict):
        raise KeyError_("a key entry must be a JSON object", path=path)
    secret_text = obj.get("secret")
    key_id = obj.get("key_id")
    public = obj.get("public", False)
    if not isinstance(secret_text, str) or not isinstance(key_id, str):
        raise KeyError_("a key entry needs string fields 'key_id' and 'secret'", path=path)
    if not isinstance(public, bool):
        raise KeyError_("the field 'public' must be true or false", path=path)
    try:
        secret = base64.b64decode(secret_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyError_("the key secret is not valid base64", path=path) from exc
    if len(secret) != SECRET_BYTES:
        raise KeyError_(f"the key secret must decode to {SECRET_BYTES} bytes", path=path)
    if derive_key_id(secret) != key_id:
        raise KeyError_(
            "the key id does not match the secret", path=path, hint="the key file is damaged"
        )
    return WatermarkKey(key_id=key_id, secret=secret, public=public)


def _read_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyError_("the key file does not exist", path=path) from exc
    except OSError as exc:
        raise KeyError_(f"cannot read the key file: {exc.strerror}", path=path) from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyError_("the key file is not UTF-8 JSON", path=path) from exc


def _check_header(obj: Any, expected_type: str, path: Path) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise KeyError_("the key file must hold a JSON object", path=path)
    if obj.get("type") != expected_type:
        raise KeyError_(f"the file is not a {expected_type!r} file", path=path)
    if obj.get("version") != KEY_FILE_VERSION:
        raise KeyError_(f"unsupported key file version {obj.get('version')!r}", path=path)
    return obj


def save_key(key: WatermarkKey, path: Path) -> None:
    """Write a key as a JSON file, atomically, readable by its owner only (mode 0600).

    Args:
        key: The key to write.
        path: Destination file; replaced if it exists.
    """
    doc = {"type": KEY_FILE_TYPE, "version": KEY_FILE_VERSION, **_key_to_json(key)}
    atomic_write_bytes(Path(path), (json.dumps(doc, indent=2) + "\n").encode(), mode=0o600)


def load_key(path: Path) -> WatermarkKey:
    """Read a key file written by :func:`save_key`.

    Args:
        path: The key file.

    Returns:
        The key.

    Raises:
        KeyError_: when the file is missing, unreadable, malformed or inconsistent.
    """
    path = Path(path)
    obj = _check_header(_read_json(path), KEY_FILE_TYPE, path)
    return _key_from_json(obj, path)


def save_keyring(keys: list[WatermarkKey], path: Path) -> None:
    """Write several keys to one JSON keyring file (mode 0600, atomic).

    Args:
        keys: The keys, in the order detection will try them.
        path: Destination file.
    """
    doc = {
        "type": KEYRING_FILE_TYPE,
        "version": KEY_FILE_VERSION,
        "keys": [_key_to_json(k) for k in keys],
    }
    atomic_write_bytes(Path(path), (json.dumps(doc, indent=2) + "\n").encode(), mode=0o600)


def load_keyring(path: Path) -> list[WatermarkKey]:
    """Read a keyring file (several keys); a single-key file is accepted too.

    Args:
        path: The keyring file.

    Returns:
        The keys, in file order, without duplicates.

    Raises:
        KeyError_: when the file is missing, unreadable, malformed, or holds no key.
    """
    path = Path(path)
    obj = _read_json(path)
    if isinstance(obj, dict) and obj.get("type") == KEY_FILE_TYPE:
        return [load_key(path)]
    obj = _check_header(obj, KEYRING_FILE_TYPE, path)
    entries = obj.get("keys")
    if not isinstance(entries, list) or not entries:
        raise KeyError_("the keyring must hold a non-empty list 'keys'", path=path)
    keys: list[WatermarkKey] = []
    for entry in entries:
        key = _key_from_json(entry, path)
        if key not in keys:
            keys.append(key)
    return keys
