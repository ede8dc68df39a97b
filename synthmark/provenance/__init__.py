"""Lifecycle attestations (in-toto Statement v1 in DSSE envelopes), signed records, trust.

Public API::

    key = SigningKey.generate("ed25519")
    envelope = sign_attestation(predicate, [Path("weights.safetensors")], [key], root=Path("."))
    verdict = verify_attestation(envelope.to_json_bytes(), load_trust(Path("trust.json")))

See spec/attestations.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthmark.provenance.dsse import (
    IN_TOTO_PAYLOAD_TYPE,
    RECORD_PAYLOAD_TYPE,
    Envelope,
    pae,
    parse_envelope,
    sign_envelope,
)
from synthmark.provenance.keys import (
    SigningKey,
    VerifyingKey,
    load_signing_key,
    load_verifying_key,
    write_key_pair,
)
from synthmark.provenance.predicates import (
    PREDICATE_MODELS,
    Predicate,
    default_access,
    predicate_type_uri,
)
from synthmark.provenance.statement import (
    Statement,
    make_statement,
    parse_predicate,
    parse_statement,
    subjects_from_files,
)
from synthmark.provenance.trust import TrustPolicy, load_trust, parse_trust
from synthmark.provenance.verification import (
    CODES,
    AttestationVerdict,
    RecordSignatureState,
    record_signature_state,
    sign_record_object,
    verify_attestation,
)
from synthmark.record.vocab import LifecycleStage

__all__ = [
    "CODES",
    "IN_TOTO_PAYLOAD_TYPE",
    "PREDICATE_MODELS",
    "RECORD_PAYLOAD_TYPE",
    "AttestationVerdict",
    "Envelope",
    "Predicate",
    "RecordSignatureState",
    "SigningKey",
    "Statement",
    "TrustPolicy",
    "VerifyingKey",
    "default_access",
    "load_signing_key",
    "load_trust",
    "load_verifying_key",
    "pae",
    "parse_envelope",
    "parse_predicate",
    "parse_statement",
    "parse_trust",
    "predicate_type_uri",
    "record_signature_state",
    "sign_attestation",
    "sign_envelope",
    "sign_record_object",
    "subjects_from_files",
    "verify_attestation",
    "write_key_pair",
]


def sign_attestation(
    predicate: Predicate | tuple[LifecycleStage, Any],
    subjects: Sequence[Path],
    keys: Sequence[SigningKey],
    *,
    root: Path,
) -> Envelope:
    """Sign a lifecycle statement about ``subjects``.

    Args:
        predicate: A predicate model, or ``(stage, JSON object)`` to be validated.
        subjects: Files the statement is about (images, a manifest, model weights).
        keys: Signing keys (one signature each).
        root: Folder that subject names are relative to.

    Returns:
        The DSSE envelope; ``to_json_bytes()`` gives the file content.

    Raises:
        AttestationFormatError: when the predicate fails its model.
        SigningError: when a subject cannot be read or lies outside ``root``.
    """
    if isinstance(predicate, tuple):
        predicate = parse_predicate(*predicate)
    statement = make_statement(predicate, subjects_from_files(subjects, root))
    return sign_envelope(statement.to_payload(), IN_TOTO_PAYLOAD_TYPE, list(keys))
