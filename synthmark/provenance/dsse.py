"""DSSE v1 envelopes: pre-authentication encoding, signing, parsing (spec/attestations.md §3).

The envelope is the wire format of https://github.com/secure-systems-lab/dsse: a JSON
object with ``payloadType``, base64 ``payload`` and ``signatures`` (``keyid``, base64 ``sig``).
Signatures cover PAE(payloadType, payload), never the JSON, so re-serialising an envelope
cannot break it and a payload cannot be re-typed.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from synthmark.errors import AttestationFormatError
from synthmark.provenance.keys import SigningKey, VerifyingKey

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
RECORD_PAYLOAD_TYPE = "application/vnd.synthmark.record+json"

# An envelope holds one statement of a few kilobytes; the cap keeps hostile files cheap.
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
MAX_SIGNATURES = 16


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths as ASCII decimal of the
    byte lengths (the type is UTF-8 encoded).
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    """One signature of an envelope: the key id it claims and the raw signature bytes."""

    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json_bytes(self) -> bytes:
        """Serialise with sorted keys and a final newline (stable bytes for digests)."""
        obj = {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                for s in self.signatures
            ],
        }
        return json.dumps(obj, sort_keys=True, indent=2).encode("utf-8") + b"\n"

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON-compatible dict (for embedding in a record)."""
        loaded: dict[str, Any] = json.loads(self.to_json_bytes())
        return loaded

    def verified_by(self, key: VerifyingKey) -> bool:
        """True when some signature is ``key``'s over PAE(type, payload)."""
        message = pae(self.payload_type, self.payload)
        return any(key.verify(s.sig, message) for s in self.signatures)


def sign_envelope(payload: bytes, payload_type: str, keys: list[SigningKey]) -> Envelope:
    """Sign ``payload`` with every key in ``keys`` (at least one)."""
    if not keys:
        raise ValueError("at least one signing key is needed")
    message = pae(payload_type, payload)
    return Envelope(
        payload_type=payload_type,
        payload=payload,
        signatures=tuple(Signature(k.key_id, k.sign(message)) for k in keys),
    )


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise AttestationFormatError(f"envelope {what} must be a base64 string")
    try:
        # DSSE allows both alphabets; padding may be omitted by some producers.
        text = value.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttestationFormatError(f"envelope {what} is not valid base64") from exc


def envelope_from_dict(obj: Any) -> Envelope:
    """Validate and parse an envelope given as a decoded JSON value.

    Raises:
        AttestationFormatError: on any structural problem.
    """
    if not isinstance(obj, dict):
        raise AttestationFormatError("a DSSE envelope is a JSON object")
    unknown = set(obj) - {"payload", "payloadType", "signatures"}
    if unknown:
        raise AttestationFormatError(f"unknown envelope fields: {', '.join(sorted(unknown))}")
    payload_type = obj.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise AttestationFormatError("envelope payloadType must be a non-empty string")
    payload = _b64(obj.get("payload"), "payload")
    raw_sigs = obj.get("signatures")
    if not isinstance(raw_sigs, list) or not raw_sigs:
        raise AttestationFormatError("envelope must carry at least one signature")
    if len(raw_sigs) > MAX_SIGNATURES:
        raise AttestationFormatError(f"envelope carries more than {MAX_SIGNATURES} signatures")
    sigs = []
    for item in raw_sigs:
        if not isinstance(item, dict):
            raise AttestationFormatError("each envelope signature is an object")
        keyid = item.get("keyid", "")
        if not isinstance(keyid, str):
            raise AttestationFormatError("signature keyid must be a string")
        sigs.append(Signature(keyid, _b64(item.get("sig"), "signature")))
    return Envelope(payload_type, payload, tuple(sigs))


def parse_envelope(data: bytes) -> Envelope:
    """Parse envelope bytes (UTF-8 JSON).

    Raises:
        AttestationFormatError: when the bytes are not a DSSE envelope.
    """
    if len(data) > MAX_ENVELOPE_BYTES:
        raise AttestationFormatError(f"envelope is larger than {MAX_ENVELOPE_BYTES} bytes")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise AttestationFormatError("envelope is not UTF-8 JSON") from exc
    return envelope_from_dict(obj)
