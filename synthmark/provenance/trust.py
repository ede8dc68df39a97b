"""Trust files: which keys are trusted for what, when, and which stages must be attested.

A trust file is JSON (schema/trust.v1.schema.json, spec/attestations.md §6). It is the
verifier's own decision, never taken from the thing verified: an envelope only names a
key id; whether that key may sign a stage, and at what time, is looked up here.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthmark.errors import AttestationFormatError, ConfigError
from synthmark.provenance.keys import VerifyingKey
from synthmark.record.models import Sha256Hex, ShortText, Timestamp
from synthmark.record.vocab import LifecycleStage

TRUST_FILE_TYPE = "synthmark-trust"
MAX_TRUST_FILE_BYTES = 4 * 1024 * 1024

#: A scope a key can be trusted for: a lifecycle stage, or ``record`` for signed records.
RECORD_SCOPE = "record"
Scope = Literal[
    "data_collection",
    "data_processing",
    "model_training",
    "model_evaluation",
    "deployment",
    "record",
]


class RevocationReason(StrEnum):
    """Why a key was revoked; it decides what happens to what it signed before."""

    KEY_COMPROMISE = "key_compromise"
    SUPERSEDED = "superseded"
    CESSATION = "cessation_of_operation"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrustedKey(_Model):
    """A public key, its owner, what it may sign, and when."""

    key_id: Sha256Hex = Field(description="SHA-256 of the key's DER SubjectPublicKeyInfo.")
    public_key_pem: Annotated[str, Field(min_length=1, max_length=4096)] = Field(
        description="SubjectPublicKeyInfo PEM (Ed25519 or ECDSA P-256)."
    )
    owner: ShortText = Field(description="Organisation that holds the private key.")
    scopes: list[Scope] = Field(
        min_length=1, description="Lifecycle stages (and/or `record`) this key may sign."
    )
    not_before: Timestamp | None = Field(
        default=None, description="Statements attested before this instant are not accepted."
    )
    not_after: Timestamp | None = Field(
        default=None,
        description="Statements attested after this instant are not accepted (rotation).",
    )

    @model_validator(mode="after")
    def _key_matches(self) -> Self:
        try:
            key = VerifyingKey.from_pem(self.public_key_pem.encode("ascii"))
        except Exception as exc:
            raise ValueError(f"public_key_pem is not a usable public key: {exc}") from exc
        if key.key_id != self.key_id:
            raise ValueError(f"key_id does not match public_key_pem (which has {key.key_id})")
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            raise ValueError("not_after must be later than not_before")
        return self

    def verifying_key(self) -> VerifyingKey:
        """The public key, parsed."""
        return VerifyingKey.from_pem(self.public_key_pem.encode("ascii"))


class Revocation(_Model):
    """A revoked key."""

    key_id: Sha256Hex = Field(description="The revoked key's id.")
    revoked_at: Timestamp = Field(description="When the key stopped being trusted.")
    reason: RevocationReason = Field(description="Why; `key_compromise` voids all it signed.")


class TrustPolicy(_Model):
    """A verifier's trust decisions."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="synthmark trust file")

    type: Literal["synthmark-trust"] = Field(description="File type marker.")
    version: Literal[1] = Field(description="Trust file format version.")
    keys: list[TrustedKey] = Field(default_factory=list, description="Trusted keys.")
    revoked: list[Revocation] = Field(default_factory=list, description="Revocation list.")
    required_stages: list[LifecycleStage] = Field(
        default_factory=list,
        description="Stages a dataset must have attested before it can be published.",
    )
    c2pa_trust_anchors_pem: list[Annotated[str, Field(max_length=65536)]] = Field(
        default_factory=list,
        description="Root certificates (PEM) trusted for C2PA Content Credentials.",
    )

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [k.key_id for k in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError("each key_id may appear at most once in keys")
        for index, pem in enumerate(self.c2pa_trust_anchors_pem):
            check_certificate_pem(pem.encode("utf-8"), f"c2pa_trust_anchors_pem[{index}]")
        return self

    def key(self, key_id: str) -> TrustedKey | None:
        """The trusted key with ``key_id``, if any."""
        for entry in self.keys:
            if entry.key_id == key_id:
                return entry
        return None

    def revocation(self, key_id: str) -> Revocation | None:
        """The revocation of ``key_id``, if revoked."""
        for entry in self.revoked:
            if entry.key_id == key_id:
                return entry
        return None

    def key_status(self, key_id: str, scope: str, at: datetime) -> tuple[str, str] | None:
        """Why ``key_id`` may not sign ``scope`` at instant ``at``; None when it may.

        Returns:
            (reason, message) with reason one of ``untrusted``, ``scope``, ``revoked``,
            ``expired``, ``not_yet_valid``.
        """
        entry = self.key(key_id)
        if entry is None:
            return "untrusted", f"key {key_id[:16]} is not in the trust file"
        revocation = self.revocation(key_id)
        if revocation is not None and (
            revocation.reason == RevocationReason.KEY_COMPROMISE or at >= revocation.revoked_at
        ):
            return "revoked", (
                f"key {key_id[:16]} ({entry.owner}) was revoked at "
                f"{revocation.revoked_at.isoformat()} ({revocation.reason.value})"
            )
        if scope not in entry.scopes:
            return "scope", (
                f"key {key_id[:16]} ({entry.owner}) is trusted for "
                f"{', '.join(entry.scopes)}, not {scope}"
            )
        if entry.not_before is not None and at < entry.not_before:
            return "not_yet_valid", (
                f"key {key_id[:16]} ({entry.owner}) is valid from {entry.not_before.isoformat()}"
            )
        if entry.not_after is not None and at > entry.not_after:
            return "expired", (
                f"key {key_id[:16]} ({entry.owner}) expired at {entry.not_after.isoformat()}"
            )
        return None


def check_certificate_pem(pem: bytes, what: str) -> None:
    """Raise ValueError unless ``pem`` holds X.509 certificates and nothing else.

    A trust file is shared; a private key pasted into it by mistake must be refused.
    """
    from cryptography import x509

    if b"PRIVATE KEY" in pem:
        raise ValueError(f"{what} contains a private key; give the root certificate only")
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ValueError(f"{what} is not a PEM certificate") from exc


def parse_trust(data: bytes, *, source: str = "trust file") -> TrustPolicy:
    """Parse trust-file bytes.

    Raises:
        ConfigError: when the file is not a valid trust file.
    """
    if len(data) > MAX_TRUST_FILE_BYTES:
        raise ConfigError(f"{source} is larger than {MAX_TRUST_FILE_BYTES} bytes")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"{source} is not UTF-8 JSON") from exc
    try:
        return TrustPolicy.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise ConfigError(
            f"{source} is invalid: {where}: {first['msg']}",
            hint="see spec/attestations.md section 6 and schema/trust.v1.schema.json",
        ) from exc


def load_trust(path: Path) -> TrustPolicy:
    """Read and parse a trust file.

    Raises:
        ConfigError: when it is missing, unreadable or invalid.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"trust file cannot be read: {exc.strerror}", path=path) from exc
    return parse_trust(data, source=str(path))


def trusted_key_entry(
    key: VerifyingKey,
    owner: str,
    scopes: list[str],
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> TrustedKey:
    """A trust-file entry for ``key`` (used by ``synthmark attest trust add``)."""
    try:
        return TrustedKey.model_validate(
            {
                "key_id": key.key_id,
                "public_key_pem": key.pem().decode("ascii"),
                "owner": owner,
                "scopes": scopes,
                "not_before": not_before,
                "not_after": not_after,
            }
        )
    except ValidationError as exc:
        raise AttestationFormatError(f"invalid trust entry: {exc.errors()[0]['msg']}") from exc
