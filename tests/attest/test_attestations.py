"""Attestations: DSSE known answers, signing, trust decisions, and every tamper code."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmark.errors import AttestationFormatError, ConfigError
from synthmark.provenance import (
    SigningKey,
    VerifyingKey,
    load_signing_key,
    pae,
    parse_envelope,
    sign_attestation,
    verify_attestation,
    write_key_pair,
)
from synthmark.provenance.dsse import Envelope, Signature
from synthmark.provenance.predicates import PREDICATE_MODELS, default_access
from synthmark.provenance.trust import TrustPolicy, parse_trust, trusted_key_entry
from synthmark.provenance.verification import CODES
from synthmark.record.vocab import AccessLevel, LifecycleStage
from synthmark.specgen.schema import render_schemas
from tests.conftest import EXAMPLES, SPEC

VECTORS = SPEC / "vectors" / "attestations"
PREDICATES = EXAMPLES / "attestations"
STAGES = list(LifecycleStage)
ATTESTED = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _predicate(stage: LifecycleStage) -> dict[str, Any]:
    name = f"valid-{stage.value.replace('_', '-')}.predicate.json"
    loaded: dict[str, Any] = json.loads((PREDICATES / name).read_bytes())
    return loaded


def _trust(*entries: dict[str, Any], **extra: Any) -> TrustPolicy:
    return TrustPolicy.model_validate(
        {"type": "synthmark-trust", "version": 1, "keys": list(entries), **extra}
    )


def _entry(key: SigningKey, scopes: list[str], **times: Any) -> dict[str, Any]:
    return trusted_key_entry(key.verifying_key, "Example Lab", scopes, **times).model_dump(
        mode="json", exclude_none=True
    )


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("ed25519")


@pytest.fixture
def signed(tmp_path: Path, key: SigningKey) -> tuple[bytes, Path]:
    (tmp_path / "weights.bin").write_bytes(b"weights v1")
    envelope = sign_attestation(
        (LifecycleStage.MODEL_TRAINING, _predicate(LifecycleStage.MODEL_TRAINING)),
        [tmp_path / "weights.bin"],
        [key],
        root=tmp_path,
    )
    return envelope.to_json_bytes(), tmp_path


def _codes(data: bytes, trust: TrustPolicy, **kwargs: Any) -> list[str]:
    verdict = verify_attestation(data, trust, now=kwargs.pop("now", NOW), **kwargs)
    return [f.code for f in verdict.findings]


# ---------------------------------------------------------------- known answers


def test_pae_matches_the_dsse_specification_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    # Lengths are byte lengths of UTF-8, not character counts.
    assert pae("t/\u00e9", "\u00e9".encode()) == b"DSSEv1 4 t/\xc3\xa9 2 \xc3\xa9"


def test_vector_envelope_is_reproduced_byte_for_byte() -> None:
    vectors = json.loads((VECTORS / "vectors.json").read_bytes())
    key = load_signing_key(VECTORS / "test-key.pem")
    assert key.key_id == vectors["key"]["key_id"]
    public = VerifyingKey.from_pem((VECTORS / "test-key.pub.pem").read_bytes())
    der = public.public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert key.key_id == public.key_id == hashlib.sha256(der).hexdigest()
    case = vectors["statement"]
    envelope = sign_attestation(
        (LifecycleStage.MODEL_TRAINING, _predicate(LifecycleStage.MODEL_TRAINING)),
        [VECTORS / case["subject_file"]],
        [key],
        root=VECTORS,
    )
    data = envelope.to_json_bytes()
    assert hashlib.sha256(envelope.payload).hexdigest() == case["payload_sha256"]
    assert (
        hashlib.sha256(pae("application/vnd.in-toto+json", envelope.payload)).hexdigest()
        == case["pae_sha256"]
    )
    assert base64.b64encode(envelope.signatures[0].sig).decode() == case["signature_b64"]
    assert data == (VECTORS / case["envelope_file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == case["envelope_sha256"]
    trust = _trust(_entry(key, ["model_training"]))
    assert _codes(data, trust, subject_root=VECTORS) == []


def test_vector_statement_is_in_toto_v1() -> None:
    statement = json.loads((VECTORS / "statement.json").read_bytes())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://synthmark.org/attestation/model-training/v1"
    assert statement["subject"] == [
        {
            "name": "subject.bin",
            "digest": {
                "sha256": hashlib.sha256((VECTORS / "subject.bin").read_bytes()).hexdigest()
            },
        }
    ]


# ---------------------------------------------------------------- predicates and schemas


@pytest.mark.parametrize("stage", STAGES, ids=[s.value for s in STAGES])
def test_example_predicates_pass_pydantic_and_json_schema(stage: LifecycleStage) -> None:
    obj = _predicate(stage)
    PREDICATE_MODELS[stage].model_validate(obj)
    name = f"predicate-{stage.value.replace('_', '-')}.v1.schema.json"
    schema = json.loads(render_schemas()[name])
    jsonschema.Draft202012Validator(schema).validate(obj)


def test_predicates_refuse_prose_for_required_answers() -> None:
    obj = _predicate(LifecycleStage.DATA_COLLECTION)
    del obj["ethics_approval"]
    with pytest.raises(ValueError, match="ethics_approval"):
        PREDICATE_MODELS[LifecycleStage.DATA_COLLECTION].model_validate(obj)
    evaluation = _predicate(LifecycleStage.MODEL_EVALUATION)
    for metric in evaluation["fairness"]:
        metric["subgroup"] = {"attribute": "all", "value": "all"}
    with pytest.raises(ValueError, match="subgroup"):
        PREDICATE_MODELS[LifecycleStage.MODEL_EVALUATION].model_validate(evaluation)


def test_default_access_follows_seed_003_table_1() -> None:
    levels = {s: [a.level for a in default_access(s)] for s in STAGES}
    assert levels[LifecycleStage.DATA_COLLECTION] == [
        AccessLevel.NONE,
        AccessLevel.NONE,
        AccessLevel.LIMITED,
    ]
    assert levels[LifecycleStage.MODEL_EVALUATION] == [AccessLevel.FULL] * 3


# ---------------------------------------------------------------- verification codes


def test_valid_envelope_verifies_with_subjects(signed: tuple[bytes, Path], key: SigningKey) -> None:
    data, root = signed
    verdict = verify_attestation(
        data, _trust(_entry(key, ["model_training"])), now=NOW, subject_root=root
    )
    assert verdict.valid, verdict.findings
    assert verdict.stage == LifecycleStage.MODEL_TRAINING
    assert verdict.signer == key.key_id


def test_every_payload_byte_is_covered(signed: tuple[bytes, Path], key: SigningKey) -> None:
    data, _ = signed
    trust = _trust(_entry(key, ["model_training"]))
    envelope = parse_envelope(data)
    for index in range(0, len(envelope.payload), max(1, len(envelope.payload) // 40)):
        payload = bytearray(envelope.payload)
        payload[index] ^= 0x01
        tampered = Envelope(envelope.payload_type, bytes(payload), envelope.signatures)
        codes = _codes(tampered.to_json_bytes(), trust)
        # A flipped byte either breaks the JSON/schema (caught first) or the signature.
        assert codes and codes[0] in {"SMA002", "SMA003"}, (index, codes)
        if codes[0] == "SMA002":
            continue
        assert codes == ["SMA003"]


def test_tampered_signature_and_payload_type(signed: tuple[bytes, Path], key: SigningKey) -> None:
    data, _ = signed
    trust = _trust(_entry(key, ["model_training"]))
    envelope = parse_envelope(data)
    sig = bytearray(envelope.signatures[0].sig)
    sig[5] ^= 0x80
    bad = Envelope(envelope.payload_type, envelope.payload, (Signature(key.key_id, bytes(sig)),))
    assert _codes(bad.to_json_bytes(), trust) == ["SMA003"]
    retyped = Envelope("application/json", envelope.payload, envelope.signatures)
    assert _codes(retyped.to_json_bytes(), trust) == ["SMA001"]


def test_wrong_untrusted_and_out_of_scope_keys(signed: tuple[bytes, Path], key: SigningKey) -> None:
    data, _ = signed
    other = SigningKey.generate("p256")
    assert _codes(data, _trust(_entry(other, ["model_training"]))) == ["SMA004"]
    assert _codes(data, _trust(_entry(key, ["data_collection", "record"]))) == ["SMA005"]
    # Another key's signature labelled with the trusted key's id: a bad signature.
    envelope = parse_envelope(data)
    forged = Envelope(
        envelope.payload_type,
        envelope.payload,
        (Signature(key.key_id, other.sign(pae(envelope.payload_type, envelope.payload))),),
    )
    assert _codes(forged.to_json_bytes(), _trust(_entry(key, ["model_training"]))) == ["SMA003"]


def test_revocation_and_key_validity(signed: tuple[bytes, Path], key: SigningKey) -> None:
    data, _ = signed
    entry = _entry(key, ["model_training"])

    def revoked(at: datetime, reason: str) -> TrustPolicy:
        rev = {"key_id": key.key_id, "revoked_at": at.isoformat(), "reason": reason}
        return _trust(entry, revoked=[rev])

    # Superseded after the statement was made: what it signed before stays valid.
    assert _codes(data, revoked(ATTESTED + timedelta(days=1), "superseded")) == []
    assert _codes(data, revoked(ATTESTED - timedelta(days=1), "superseded")) == ["SMA006"]
    # A compromised key could have back-dated anything: everything it signed is void.
    assert _codes(data, revoked(ATTESTED + timedelta(days=1), "key_compromise")) == ["SMA006"]
    expired = _entry(key, ["model_training"], not_after=ATTESTED - timedelta(days=1))
    assert _codes(data, _trust(expired)) == ["SMA007"]
    rotated_in_later = _entry(key, ["model_training"], not_before=ATTESTED + timedelta(days=1))
    assert _codes(data, _trust(rotated_in_later)) == ["SMA007"]
    # Rotation: a key that expired after signing still vouches for what it signed.
    rotated_out = _entry(key, ["model_training"], not_after=ATTESTED + timedelta(days=1))
    assert _codes(data, _trust(rotated_out)) == []


def test_statement_times(tmp_path: Path, key: SigningKey) -> None:
    (tmp_path / "w.bin").write_bytes(b"w")
    trust = _trust(_entry(key, ["model_training"]))
    predicate = _predicate(LifecycleStage.MODEL_TRAINING)
    envelope = sign_attestation(
        (LifecycleStage.MODEL_TRAINING, predicate), [tmp_path / "w.bin"], [key], root=tmp_path
    )
    data = envelope.to_json_bytes()
    assert _codes(data, trust, now=datetime(2028, 9, 2, tzinfo=UTC)) == ["SMA008"]
    assert _codes(data, trust, now=datetime(2026, 8, 1, tzinfo=UTC)) == ["SMA009"]
    # Within the clock-skew allowance is not future-dated.
    assert _codes(data, trust, now=ATTESTED - timedelta(minutes=4)) == []


def test_subject_changed_or_missing(signed: tuple[bytes, Path], key: SigningKey) -> None:
    data, root = signed
    trust = _trust(_entry(key, ["model_training"]))
    (root / "weights.bin").write_bytes(b"weights v2")
    assert _codes(data, trust, subject_root=root) == ["SMA010"]
    (root / "weights.bin").unlink()
    assert _codes(data, trust, subject_root=root) == ["SMA011"]


def test_expected_stage(signed: tuple[bytes, Path], key: SigningKey) -> None:
    data, _ = signed
    trust = _trust(_entry(key, ["model_training"]))
    assert _codes(data, trust, expected_stage=LifecycleStage.DEPLOYMENT) == ["SMA013"]


def test_malformed_inputs_are_findings_not_crashes(key: SigningKey) -> None:
    trust = _trust(_entry(key, ["model_training"]))
    for data in (b"", b"\xff\xfe", b"[]", b'{"payload": 1}', b'{"payloadType": "x"}'):
        assert _codes(data, trust) == ["SMA001"], data
    statement = b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}'
    envelope = Envelope("application/vnd.in-toto+json", statement, (Signature(key.key_id, b"x"),))
    assert _codes(envelope.to_json_bytes(), trust) == ["SMA002"]


def test_p256_signs_and_codes_are_documented(tmp_path: Path) -> None:
    key = SigningKey.generate("p256")
    (tmp_path / "m.json").write_bytes(b"{}")
    envelope = sign_attestation(
        (LifecycleStage.DEPLOYMENT, _predicate(LifecycleStage.DEPLOYMENT)),
        [tmp_path / "m.json"],
        [key],
        root=tmp_path,
    )
    assert _codes(envelope.to_json_bytes(), _trust(_entry(key, ["deployment"]))) == []
    spec = (SPEC / "attestations.md").read_text(encoding="utf-8")
    for code in CODES:
        assert code in spec, f"{code} is not documented in spec/attestations.md"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_envelope_parser_fuzz(data: bytes) -> None:
    try:
        parse_envelope(data)
    except AttestationFormatError:
        pass


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
        max_leaves=20,
    )
)
def test_trust_parser_fuzz(obj: Any) -> None:
    try:
        parse_trust(json.dumps(obj).encode())
    except ConfigError:
        pass


# ---------------------------------------------------------------- key files


def test_key_files_are_private_and_never_printed(tmp_path: Path) -> None:
    key = SigningKey.generate()
    public = write_key_pair(key, tmp_path / "k.pem")
    assert stat.S_IMODE(os.stat(tmp_path / "k.pem").st_mode) == 0o600
    assert public.name == "k.pub.pem"
    assert b"PRIVATE" not in public.read_bytes()
    assert "PRIVATE" not in repr(key) and key.key_id in repr(key)
    assert load_signing_key(tmp_path / "k.pem").key_id == key.key_id
    with pytest.raises(Exception, match="exists"):
        write_key_pair(key, tmp_path / "k.pem")


def test_trust_file_rejects_mismatched_key_id(key: SigningKey) -> None:
    entry = _entry(key, ["record"])
    entry["key_id"] = "0" * 64
    with pytest.raises(ConfigError, match="key_id"):
        parse_trust(json.dumps({"type": "synthmark-trust", "version": 1, "keys": [entry]}).encode())
