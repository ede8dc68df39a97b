"""Payload coding: 96 information bits, a keyed tag, and a K=7 rate-1/2 convolutional code.

Layout of the information word (96 bits, most significant bit of each byte first):
``record_id_prefix`` (8 bytes) then ``tag`` (4 bytes), where
``tag = HMAC-SHA256(secret, b"synthmark-wm-tag-v1" + record_id_prefix)[:4]``.
Six zero tail bits terminate the trellis, so the codeword has 2 * (96 + 6) = 204 bits.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PREFIX_BYTES = 8
TAG_BYTES = 4
INFO_BITS = 8 * (PREFIX_BYTES + TAG_BYTES)
CONSTRAINT = 7
GENERATORS = (0o133, 0o171)
CODE_BITS = 2 * (INFO_BITS + CONSTRAINT - 1)
_STATES = 1 << (CONSTRAINT - 1)


@dataclass(frozen=True)
class Payload:
    """The information a watermark carries.

    Attributes:
        record_id_prefix: Exactly 8 bytes, e.g. the first 8 bytes of the record UUID.
        key_id: Id of the key whose tag verified (set by detection; ignored by embedding).
        authenticated: True when the tag verified under a private key, so only a holder of
            that key can have embedded it. Always False for the public detection key.
    """

    record_id_prefix: bytes
    key_id: str = ""
    authenticated: bool = False

    def __post_init__(self) -> None:
        if len(self.record_id_prefix) != PREFIX_BYTES:
            raise ValueError("record_id_prefix must be exactly 8 bytes")


def compute_tag(secret: bytes, prefix: bytes) -> bytes:
    """Return the 4-byte keyed tag of a record id prefix."""
    return hmac.new(secret, b"synthmark-wm-tag-v1" + prefix, hashlib.sha256).digest()[:TAG_BYTES]


def info_bits(secret: bytes, payload: Payload | None) -> npt.NDArray[np.uint8]:
    """Return the 96 information bits; all zero (a word whose tag never verifies) for None."""
    if payload is None:
        return np.zeros(INFO_BITS, dtype=np.uint8)
    word = payload.record_id_prefix + compute_tag(secret, payload.record_id_prefix)
    return np.unpackbits(np.frombuffer(word, dtype=np.uint8))


def _parity(x: int) -> int:
    return bin(x).count("1") & 1


# Output bits for (state, input) transitions. State = previous 6 inputs, newest in the MSB.
_NEXT = np.zeros((_STATES, 2), dtype=np.int64)
_OUT = np.zeros((_STATES, 2, 2), dtype=np.int8)
for _s in range(_STATES):
    for _b in range(2):
        _reg = (_b << (CONSTRAINT - 1)) | _s
        _NEXT[_s, _b] = _reg >> 1
        for _g, _gen in enumerate(GENERATORS):
            _OUT[_s, _b, _g] = _parity(_reg & _gen)


def conv_encode(bits: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Encode with the K=7 (133, 171) code, appending the six zero tail bits."""
    state = 0
    out = np.empty(2 * (bits.size + CONSTRAINT - 1), dtype=np.uint8)
    for i, b in enumerate(np.concatenate([bits, np.zeros(CONSTRAINT - 1, dtype=np.uint8)])):
        out[2 * i] = _OUT[state, int(b), 0]
        out[2 * i + 1] = _OUT[state, int(b), 1]
        state = int(_NEXT[state, int(b)])
    return out


# Predecessor table: for each next state, the two (previous state, input) pairs.
_PREV = np.zeros((_STATES, 2), dtype=np.int64)
_PREV_IN = np.zeros(_STATES, dtype=np.int64)
for _ns in range(_STATES):
    _PREV_IN[_ns] = _ns >> (CONSTRAINT - 2)
    _low = (_ns << 1) & (_STATES - 1)
    _PREV[_ns] = (_low, _low | 1)


# (S, 2 predecessors, 2 code bits): +1 where the branch emits bit 0.
_BRANCH_SIGN = 1.0 - 2.0 * _OUT[_PREV, _PREV_IN[:, None]].astype(np.float64)


def viterbi_decode(soft: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """Soft-decision Viterbi decoding.

    Args:
        soft: One value per code bit; positive means bit 0 is more likely.

    Returns:
        The information bits (tail removed).
    """
    steps = soft.size // 2
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choice = np.zeros((steps, _STATES), dtype=np.int8)
    for t in range(steps):
        pair = soft[2 * t : 2 * t + 2]
        cand = metric[_PREV] + _BRANCH_SIGN @ pair
        best = np.argmax(cand, axis=1)
        choice[t] = best
        metric = cand[np.arange(_STATES), best]
    state = 0  # the tail drives the encoder back to state 0
    bits = np.zeros(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = _PREV_IN[state]
        state = int(_PREV[state, choice[t, state]])
    return bits[: steps - (CONSTRAINT - 1)]


def decode_payload(
    soft: npt.NDArray[np.float64], secret: bytes, *, key_id: str, public: bool
) -> Payload | None:
    """Decode soft code bits and verify the tag; None when the tag does not verify."""
    bits = viterbi_decode(soft)
    word = np.packbits(bits).tobytes()
    prefix, tag = word[:PREFIX_BYTES], word[PREFIX_BYTES:]
    if not hmac.compare_digest(tag, compute_tag(secret, prefix)):
        return None
    return Payload(record_id_prefix=prefix, key_id=key_id, authenticated=not public)
