from __future__ import annotations

import numpy as np
import pytest

from synthmark.watermark import Payload
from synthmark.watermark._codec import (
    CODE_BITS,
    INFO_BITS,
    compute_tag,
    conv_encode,
    decode_payload,
    info_bits,
    viterbi_decode,
)


def test_sizes() -> None:
    assert INFO_BITS == 96
    assert CODE_BITS == 204


def test_viterbi_corrects_noisy_soft_bits() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        bits = rng.integers(0, 2, INFO_BITS).astype(np.uint8)
        code = conv_encode(bits)
        soft = (1.0 - 2.0 * code) + rng.normal(0, 0.6, code.size)
        assert ((soft < 0) != code.astype(bool)).sum() > 0  # there were channel errors
        np.testing.assert_array_equal(viterbi_decode(soft), bits)


def test_viterbi_corrects_erasures() -> None:
    bits = np.random.default_rng(4).integers(0, 2, INFO_BITS).astype(np.uint8)
    soft = 1.0 - 2.0 * conv_encode(bits)
    soft[::5] = 0.0
    np.testing.assert_array_equal(viterbi_decode(soft), bits)


def test_payload_round_trip_and_tag() -> None:
    secret = bytes(range(32))
    payload = Payload(b"\x01\x02\x03\x04\x05\x06\x07\x08")
    soft = 1.0 - 2.0 * conv_encode(info_bits(secret, payload)).astype(np.float64)
    out = decode_payload(soft, secret, key_id="k", public=False)
    assert out == Payload(payload.record_id_prefix, key_id="k", authenticated=True)
    assert decode_payload(soft, bytes(32), key_id="k", public=False) is None
    public = decode_payload(soft, secret, key_id="p", public=True)
    assert public is not None and not public.authenticated
    assert len(compute_tag(secret, payload.record_id_prefix)) == 4


def test_none_payload_never_verifies() -> None:
    secret = bytes(range(32))
    soft = 1.0 - 2.0 * conv_encode(info_bits(secret, None)).astype(np.float64)
    assert decode_payload(soft, secret, key_id="k", public=False) is None


def test_payload_validation() -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        Payload(b"short")
