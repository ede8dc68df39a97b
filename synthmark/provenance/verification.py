"""Verifying attestations and signed records (spec/attestations.md §7, numbered steps).

Verification returns values (a verdict with findings, each with a stable code); it raises
only for the caller's own mistakes. Steps cite the spec.
"""

from __future__ import annotations

import base64
import json
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from synthmark.errors import AttestationFormatError
from synthmark.provenance.dsse import (
    IN_TOTO_PAYLOAD_TYPE,
    RECORD_PAYLOAD_TYPE,
    Envelope,
    envelope_from_dict,
    parse_envelope,
    sign_envelope,
)
from synthmark.provenance.keys import SigningKey
from synthmark.provenance.predicates import Predicate
from synthmark.provenance.statement import Statement, file_sha256, parse_statement
from synthmark.provenance.trust import RECORD_SCOPE, TrustPolicy
from synthmark.record.vocab import LifecycleStage

#: Allowed clock skew before a statement counts as future-dated.
CLOCK_SKEW = timedelta(minutes=5)

# Stable finding codes of attestation verification (spec/attestations.md §7.2).
ENVELOPE_MALFORMED = "SMA001"
STATEMENT_INVALID = "SMA002"
BAD_SIGNATURE = "SMA003"
UNTRUSTED_KEY = "SMA004"
KEY_NOT_FOR_STAGE = "SMA005"
KEY_REVOKED = "SMA006"
KEY_EXPIRED = "SMA007"
STATEMENT_EXPIRED = "SMA008"
STATEMENT_FUTURE_DATED = "SMA009"
SUBJECT_MISMATCH = "SMA010"
SUBJECT_MISSING = "SMA011"
STAGE_MISSING = "SMA012"
STAGE_UNEXPECTED = "SMA013"

# Signed-record codes share the family (spec/attestations.md §8).
RECORD_SIGNATURE_MALFORMED = "SMA020"
RECORD_SIGNATURE_BAD = "SMA021"
RECORD_SIGNER_UNTRUSTED = "SMA022"

_KEY_REASON_CODES = {
    "untrusted": UNTRUSTED_KEY,
    "scope": KEY_NOT_FOR_STAGE,
    "revoked": KEY_REVOKED,
    "expired": KEY_EXPIRED,
    "not_yet_valid": KEY_EXPIRED,
}

#: Every code, with its one-line meaning, for `synthmark attest verify` and the spec.
CODES: dict[str, str] = {
    ENVELOPE_MALFORMED: "not a DSSE envelope carrying an in-toto statement",
    STATEMENT_INVALID: "statement or predicate fails its schema, or unknown predicate type",
    BAD_SIGNATURE: "signature does not verify with the trusted key it names (tampered)",
    UNTRUSTED_KEY: "no signature is by a key in the trust file",
    KEY_NOT_FOR_STAGE: "signed by a trusted key that is not trusted for this stage",
    KEY_REVOKED: "signed by a revoked key",
    KEY_EXPIRED: "signed outside the key's validity period",
    STATEMENT_EXPIRED: "statement is past its valid_until",
    STATEMENT_FUTURE_DATED: "statement is dated in the future",
    SUBJECT_MISMATCH: "a subject file's SHA-256 differs from the statement",
    SUBJECT_MISSING: "a subject file is absent",
    STAGE_MISSING: "a required lifecycle stage has no valid attestation",
    STAGE_UNEXPECTED: "the attestation is not of the stage expected",
    RECORD_SIGNATURE_MALFORMED: "the record's signature block is malformed",
    RECORD_SIGNATURE_BAD: "the record was changed after it was signed",
    RECORD_SIGNER_UNTRUSTED: "the record's signer is not trusted for records",
}


@dataclass(frozen=True)
class AttestationFinding:
    """One problem found while verifying."""

    code: str
    message: str


@dataclass
class AttestationVerdict:
    """What verifying one envelope found.

    Attributes:
        valid: True when there is no finding.
        stage: The lifecycle stage, once the statement parsed.
        signer: Key id of the trusted signature that verified, if any.
        statement: The parsed statement, if it parsed.
        predicate: The parsed predicate, if it parsed.
        findings: Problems, in verification-step order.
    """

    stage: LifecycleStage | None = None
    signer: str | None = None
    signer_owner: str | None = None
    statement: Statement | None = None
    predicate: Predicate | None = None
    findings: list[AttestationFinding] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def add(self, code: str, message: str) -> None:
        """Record a finding."""
        self.findings.append(AttestationFinding(code, message))


def _check_signatures(
    envelope: Envelope,
    trust: TrustPolicy,
    scope: str,
    at: datetime,
    verdict: AttestationVerdict,
    *,
    bad_code: str,
    untrusted_code: str,
) -> None:
    """Steps 2-3: a signature by a known key must verify, and that key may sign ``scope``."""
    best: tuple[str, str] | None = None
    tampered: str | None = None
    for sig in envelope.signatures:
        entry = trust.key(sig.keyid)
        if entry is None:
            continue
        if not envelope.verified_by(entry.verifying_key()):
            tampered = sig.keyid
            continue
        problem = trust.key_status(sig.keyid, scope, at)
        if problem is None:
            verdict.signer, verdict.signer_owner = sig.keyid, entry.owner
            return
        best = best or problem
    if tampered is not None and best is None:
        verdict.add(
            bad_code,
            f"signature by key {tampered[:16]} does not verify: the payload or the signature "
            "was changed, or another key signed it",
        )
    elif best is not None:
        reason, message = best
        code = untrusted_code if reason == "untrusted" else _KEY_REASON_CODES[reason]
        verdict.add(code, message)
    else:
        ids = ", ".join(s.keyid[:16] or "(none)" for s in envelope.signatures)
        verdict.add(untrusted_code, f"signed by {ids}, none of which is in the trust file")


def verify_attestation(
    data: bytes | Envelope,
    trust: TrustPolicy,
    *,
    now: datetime | None = None,
    subject_root: Path | None = None,
    expected_stage: LifecycleStage | None = None,
) -> AttestationVerdict:
    """Verify an envelope: format, signature, key trust, times, subjects (spec §7.1).

    Args:
        data: Envelope bytes or a parsed envelope.
        trust: The verifier's trust policy.
        now: Verification time (default: the current time).
        subject_root: Folder against which subject names are resolved; None skips step 6.
        expected_stage: When given, an attestation of another stage is a finding.

    Returns:
        The verdict; ``valid`` is True only when every step passed.
    """
    verdict = AttestationVerdict()
    now = now or datetime.now(UTC)
    # Step 1: envelope and statement.
    try:
        envelope = data if isinstance(data, Envelope) else parse_envelope(data)
    except AttestationFormatError as exc:
        verdict.add(ENVELOPE_MALFORMED, exc.message)
        return verdict
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        verdict.add(
            ENVELOPE_MALFORMED,
            f"payloadType is {envelope.payload_type!r}, not {IN_TOTO_PAYLOAD_TYPE!r}",
        )
        return verdict
    try:
        statement, stage, predicate = parse_statement(envelope.payload)
    except AttestationFormatError as exc:
        # The payload is unauthenticated until step 2; say whether it is also unsigned.
        verdict.add(STATEMENT_INVALID, exc.message)
        return verdict
    verdict.statement, verdict.stage, verdict.predicate = statement, stage, predicate
    if expected_stage is not None and stage != expected_stage:
        verdict.add(STAGE_UNEXPECTED, f"attests {stage.value}, expected {expected_stage.value}")
    # Steps 2-3: signature by a trusted key, valid for the stage at the attestation time.
    attested_at, valid_until = predicate.window
    _check_signatures(
        envelope,
        trust,
        stage.value,
        attested_at,
        verdict,
        bad_code=BAD_SIGNATURE,
        untrusted_code=UNTRUSTED_KEY,
    )
    # Steps 4-5: the statement's own validity window.
    if attested_at > now + CLOCK_SKEW:
        verdict.add(
            STATEMENT_FUTURE_DATED,
            f"attested_at {attested_at.isoformat()} is after the verification time",
        )
    if valid_until is not None and now > valid_until:
        verdict.add(STATEMENT_EXPIRED, f"statement expired at {valid_until.isoformat()}")
    # Step 6: subjects against the files.
    if subject_root is not None:
        for subject in statement.subject:
            _check_subject(subject.name, subject.digest["sha256"], subject_root, verdict)
    return verdict


def _check_subject(name: str, expected: str, root: Path, verdict: AttestationVerdict) -> None:
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        verdict.add(SUBJECT_MISSING, f"subject {name!r} is not a path inside the subject root")
        return
    path = root.joinpath(*parts)
    try:
        # Only a regular file inside the root is a subject: a FIFO would block the
        # verifier, a link could lead out of the root.
        resolved = path.resolve()
        inside = resolved.is_relative_to(root.resolve())
        if not inside or not stat.S_ISREG(resolved.stat().st_mode):
            verdict.add(SUBJECT_MISSING, f"subject {name} is not a regular file in the root")
            return
        actual = file_sha256(resolved)
    except FileNotFoundError:
        verdict.add(SUBJECT_MISSING, f"subject {name} is absent")
        return
    except (OSError, ValueError) as exc:
        verdict.add(SUBJECT_MISSING, f"subject {name} cannot be read: {exc}")
        return
    if actual != expected:
        verdict.add(SUBJECT_MISMATCH, f"subject {name} has changed since it was attested")


# ---------------------------------------------------------------- signed records


def record_signing_payload(record_obj: dict[str, Any]) -> bytes:
    """The bytes a record signature covers: canonical JSON of the record minus ``signature``."""
    unsigned = {k: v for k, v in record_obj.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def sign_record_object(record_obj: dict[str, Any], keys: list[SigningKey]) -> dict[str, Any]:
    """Return ``record_obj`` with an embedded ``signature`` block (spec §8)."""
    payload = record_signing_payload(record_obj)
    envelope = sign_envelope(payload, RECORD_PAYLOAD_TYPE, keys)
    signed = dict(record_obj)
    signed["signature"] = {
        "payloadType": envelope.payload_type,
        "signatures": [
            {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
            for s in envelope.signatures
        ],
    }
    return signed


@dataclass(frozen=True)
class RecordSignatureState:
    """The signature state of a record.

    Attributes:
        state: ``unsigned``, ``malformed``, ``bad`` (record changed after signing),
            ``untrusted`` (verifies, but not with a key trusted for records),
            ``unverified`` (signed, no trust file given), or ``trusted``.
        signer: Key id that verified, for ``trusted``.
        code: The finding code for the bad states, else None.
        message: Explanation.
    """

    state: str
    signer: str | None = None
    code: str | None = None
    message: str = ""


def record_signature_state(
    record_obj: dict[str, Any], trust: TrustPolicy | None, *, at: datetime
) -> RecordSignatureState:
    """Check a record's embedded signature against ``trust`` (spec §8, steps 1-3)."""
    block = record_obj.get("signature")
    if block is None:
        return RecordSignatureState("unsigned", message="the record is not signed")
    try:
        if not isinstance(block, dict) or block.get("payloadType") != RECORD_PAYLOAD_TYPE:
            raise AttestationFormatError(f"signature.payloadType must be {RECORD_PAYLOAD_TYPE!r}")
        envelope = envelope_from_dict(
            {
                "payloadType": RECORD_PAYLOAD_TYPE,
                "payload": base64.b64encode(record_signing_payload(record_obj)).decode("ascii"),
                "signatures": block.get("signatures"),
            }
        )
    except AttestationFormatError as exc:
        return RecordSignatureState(
            "malformed", code=RECORD_SIGNATURE_MALFORMED, message=exc.message
        )
    if trust is None:
        return RecordSignatureState(
            "unverified",
            message="the record is signed; give a trust file to check the signature",
        )
    verdict = AttestationVerdict()
    _check_signatures(
        envelope,
        trust,
        RECORD_SCOPE,
        at,
        verdict,
        bad_code=RECORD_SIGNATURE_BAD,
        untrusted_code=RECORD_SIGNER_UNTRUSTED,
    )
    if verdict.valid:
        return RecordSignatureState(
            "trusted", signer=verdict.signer, message=f"signed by {verdict.signer_owner}"
        )
    finding = verdict.findings[0]
    if finding.code == RECORD_SIGNATURE_BAD:
        return RecordSignatureState("bad", code=finding.code, message=finding.message)
    return RecordSignatureState("untrusted", code=RECORD_SIGNER_UNTRUSTED, message=finding.message)
