"""Signing keys: Ed25519 (default) and ECDSA P-256, as standard PEM files.

Private keys are PKCS#8 PEM written with mode 0600; public keys are SubjectPublicKeyInfo
PEM. A key id is the hex SHA-256 of the public key's DER SubjectPublicKeyInfo, so anyone
holding the public key computes the same id (spec/attestations.md section 4).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from synthmark.carriers.atomic import atomic_write_bytes
from synthmark.errors import KeyError_, OutputExistsError

KeyAlgorithm = Literal["ed25519", "p256"]
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

# A PEM key is a few hundred bytes; anything much larger is not a key file.
_MAX_KEY_FILE = 64 * 1024


def key_id_of(public: PublicKey) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo of ``public``."""
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _algorithm_of(key: PrivateKey | PublicKey) -> KeyAlgorithm:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key.curve, ec.SECP256R1):
        return "p256"
    raise KeyError_(
        f"unsupported elliptic curve {key.curve.name}",
        hint="synthmark signs with Ed25519 or ECDSA P-256",
    )


@dataclass(frozen=True)
class VerifyingKey:
    """A public key that checks signatures.

    Attributes:
        key_id: Hex SHA-256 of the DER SubjectPublicKeyInfo.
        algorithm: ``ed25519`` or ``p256``.
        public: The key itself.
    """

    key_id: str
    algorithm: KeyAlgorithm
    public: PublicKey

    @classmethod
    def from_public(cls, public: PublicKey) -> VerifyingKey:
        """Wrap a cryptography public key, deriving its id."""
        return cls(key_id_of(public), _algorithm_of(public), public)

    @classmethod
    def from_pem(cls, pem: bytes, *, source: str = "public key") -> VerifyingKey:
        """Parse a SubjectPublicKeyInfo PEM.

        Raises:
            KeyError_: when the PEM is not an Ed25519 or P-256 public key.
        """
        try:
            public = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyError_(f"{source} is not a PEM public key") from exc
        if not isinstance(public, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
            raise KeyError_(
                f"{source} is a {type(public).__name__}",
                hint="synthmark signs with Ed25519 or ECDSA P-256",
            )
        return cls.from_public(public)

    def pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM of the key."""
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``message``."""
        try:
            if isinstance(self.public, ed25519.Ed25519PublicKey):
                self.public.verify(signature, message)
            else:
                self.public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """A private signing key. Its ``repr`` never shows the secret.

    Attributes:
        key_id: Id of the matching public key.
        algorithm: ``ed25519`` or ``p256``.
    """

    key_id: str
    algorithm: KeyAlgorithm
    _private: PrivateKey

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r}, algorithm={self.algorithm!r})"

    @classmethod
    def generate(cls, algorithm: KeyAlgorithm = "ed25519") -> SigningKey:
        """A fresh key from the operating system's random source."""
        private: PrivateKey
        if algorithm == "ed25519":
            private = ed25519.Ed25519PrivateKey.generate()
        elif algorithm == "p256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            raise KeyError_(f"unknown signing algorithm {algorithm!r}")
        return cls._wrap(private)

    @classmethod
    def _wrap(cls, private: PrivateKey) -> SigningKey:
        return cls(key_id_of(private.public_key()), _algorithm_of(private), private)

    @classmethod
    def from_pem(cls, pem: bytes, *, source: str = "private key") -> SigningKey:
        """Parse an unencrypted PKCS#8 (or traditional) PEM private key.

        Raises:
            KeyError_: when the PEM is not an Ed25519 or P-256 private key.
        """
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except TypeError as exc:
            raise KeyError_(
                f"{source} is encrypted",
                hint="decrypt it first (openssl pkey -in KEY -out PLAIN); keep it 0600",
            ) from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyError_(f"{source} is not a PEM private key") from exc
        if not isinstance(private, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyError_(
                f"{source} is a {type(private).__name__}",
                hint="synthmark signs with Ed25519 or ECDSA P-256",
            )
        return cls._wrap(private)

    @property
    def verifying_key(self) -> VerifyingKey:
        """The matching public key."""
        return VerifyingKey.from_public(self._private.public_key())

    def sign(self, message: bytes) -> bytes:
        """Sign ``message``: raw 64-byte Ed25519, or DER ECDSA over SHA-256 for P-256."""
        if isinstance(self._private, ed25519.Ed25519PrivateKey):
            return self._private.sign(message)
        return self._private.sign(message, ec.ECDSA(hashes.SHA256()))

    def private_pem(self) -> bytes:
        """PKCS#8 PEM of the private key, for writing to a 0600 file only."""
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _read_small(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_KEY_FILE + 1)
    except FileNotFoundError as exc:
        raise KeyError_(f"{what} not found", path=path) from exc
    except OSError as exc:
        raise KeyError_(f"{what} cannot be read: {exc.strerror}", path=path) from exc
    if len(data) > _MAX_KEY_FILE:
        raise KeyError_(f"{what} is larger than {_MAX_KEY_FILE} bytes", path=path)
    return data


def load_signing_key(path: Path) -> SigningKey:
    """Read a private key file written by ``synthmark keygen --type ed25519|p256``."""
    key = SigningKey.from_pem(_read_small(path, "private key file"), source=str(path))
    return key


def load_verifying_key(path: Path) -> VerifyingKey:
    """Read a public key PEM (or derive it from a private key PEM)."""
    data = _read_small(path, "public key file")
    if b"PRIVATE KEY" in data:
        return SigningKey.from_pem(data, source=str(path)).verifying_key
    return VerifyingKey.from_pem(data, source=str(path))


def public_key_path(private_path: Path) -> Path:
    """Where keygen puts the public half of ``private_path``: ``NAME.pub.pem``."""
    name = private_path.name
    stem = name[: -len(".pem")] if name.endswith(".pem") else name
    return private_path.with_name(stem + ".pub.pem")


def write_key_pair(key: SigningKey, private_path: Path, *, overwrite: bool = False) -> Path:
    """Write the private key (mode 0600) and its public key beside it; return the latter."""
    public_path = public_key_path(private_path)
    if not overwrite:
        for path in (private_path, public_path):
            if path.exists():
                raise OutputExistsError("key file exists", path=path)
    atomic_write_bytes(private_path, key.private_pem(), mode=0o600)
    atomic_write_bytes(public_path, key.verifying_key.pem(), mode=0o644)
    return public_path
