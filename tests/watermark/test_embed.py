"""Embedding on real scans: quality budgets, dtypes, layouts, padding and stored range."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest
import torch

from synthmark.watermark import (
    PUBLIC_DETECTION_KEY,
    Payload,
    WatermarkKey,
    detect,
    embed,
    generate_key,
)

from .conftest import load_dicom, to_uint8, window

FIXED = WatermarkKey.from_secret(bytes(range(32)))
PAYLOAD = Payload(b"\x12\x34\x56\x78\x9a\xbc\xde\xf0")


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse)


def test_ct_native_budget_and_round_trip(ct512) -> None:
    pixels, ds = ct512
    marked = embed(pixels, FIXED, PAYLOAD, bits_stored=int(ds.BitsStored))
    assert marked.dtype == pixels.dtype and marked.shape == pixels.shape
    delta_hu = (marked.astype(np.float64) - pixels) * float(ds.RescaleSlope)
    rms = float(np.sqrt(np.mean(delta_hu**2)))
    assert 1.8 <= rms <= 2.0
    assert np.abs(delta_hu).max() <= 15
    result = detect(marked, [FIXED])
    assert result.detected and result.p_value <= 1e-6
    assert result.key_id == FIXED.key_id
    assert result.payload == Payload(PAYLOAD.record_id_prefix, FIXED.key_id, authenticated=True)
    assert result.transform is not None and result.transform.startswith("rot90:0,flip:0")


@pytest.mark.parametrize("convert", ["minmax", "W400/L40", "W80/L40"])
def test_ct_survives_16_to_8_bit(ct512, convert: str) -> None:
    pixels, ds = ct512
    marked = embed(pixels, FIXED, PAYLOAD, bits_stored=int(ds.BitsStored))
    hu = marked * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    if convert == "minmax":
        grey = to_uint8(marked)
    else:
        centre, width = (40, 400) if convert == "W400/L40" else (40, 80)
        grey = window(hu, centre, width)
    assert detect(grey, [FIXED]).detected


def test_grey8_psnr_and_payload(grey8) -> None:
    marked = embed(grey8, FIXED, PAYLOAD)
    assert psnr8(grey8, marked) >= 45.0
    result = detect(marked, [FIXED])
    assert result.detected and result.payload is not None
    assert result.payload.record_id_prefix == PAYLOAD.record_id_prefix


def test_mr_uint16_12bit() -> None:
    ds = load_dicom("examples_overlay.dcm")
    pixels = ds.pixel_array
    assert pixels.dtype == np.uint16
    marked = embed(pixels, FIXED, PAYLOAD, bits_stored=12)
    assert marked.dtype == np.uint16 and int(marked.max()) <= 4095
    assert detect(marked, [FIXED]).detected
    # The payload needs more energy than presence on this noisy MR.
    strong = embed(pixels, FIXED, PAYLOAD, bits_stored=12, strength=2.0)
    assert detect(strong, [FIXED]).payload is not None


def test_rgb_and_channel_axis() -> None:
    rgb = load_dicom("examples_rgb_color.dcm").pixel_array
    assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
    marked = embed(rgb, FIXED, PAYLOAD)
    assert marked.shape == rgb.shape and psnr8(rgb, marked) >= 45.0
    assert detect(marked, [FIXED]).detected
    grey = np.rint(marked.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    assert detect(grey, [FIXED]).detected
    first = np.moveaxis(rgb, -1, 0).copy()
    marked_first = embed(first, FIXED, PAYLOAD, channel_axis=0)
    np.testing.assert_array_equal(np.moveaxis(marked_first, 0, -1), marked)
    assert detect(marked_first, [FIXED], channel_axis=0).detected


def test_alpha_untouched() -> None:
    rgb = load_dicom("examples_rgb_color.dcm").pixel_array
    alpha = np.full((*rgb.shape[:2], 1), 200, dtype=np.uint8)
    rgba = np.concatenate([rgb, alpha], axis=-1)
    marked = embed(rgba, FIXED)
    np.testing.assert_array_equal(marked[..., 3], rgba[..., 3])
    assert detect(marked, [FIXED]).detected


def test_tensor_in_tensor_out(grey8) -> None:
    t = torch.from_numpy(grey8.astype(np.int16))
    marked = embed(t, FIXED, PAYLOAD)
    assert isinstance(marked, torch.Tensor)
    assert marked.dtype == torch.int16 and marked.device == t.device
    np.testing.assert_array_equal(marked.numpy(), embed(grey8.astype(np.int16), FIXED, PAYLOAD))
    assert detect(marked, [FIXED]).detected
    f = torch.from_numpy(grey8.astype(np.float32) / 255.0)
    marked_f = embed(f, FIXED)
    assert marked_f.dtype == torch.float32
    rms = float((marked_f - f).pow(2).mean().sqrt()) * 255
    assert 1.0 < rms < 1.6


def test_volume_is_combined_and_per_slice() -> None:
    data = Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    vol = np.ascontiguousarray(np.moveaxis(np.asanyarray(nibabel.load(data).dataobj)[..., 0], 2, 0))
    assert vol.shape == (24, 128, 96) and vol.dtype == np.int16  # a real MR volume
    marked = embed(vol, FIXED, PAYLOAD, strength=0.5)
    result = detect(marked, [FIXED])
    assert result.detected and len(result.slices) == 24
    assert [s.index for s in result.slices] == list(range(24))
    assert result.z > 1.3 * max(s.z for s in result.slices)
    assert sum(s.p_value <= 1e-6 for s in result.slices) < 24
    assert result.transform is not None and "rot90:0,flip:0" in result.transform
    # Every slice carries the same tile, so a reoriented volume is found as well.
    turned = np.ascontiguousarray(np.rot90(marked, 1, axes=(1, 2)))
    assert detect(turned, [FIXED]).detected
    assert not detect(vol, [FIXED]).detected


def test_per_slice_z_matches_single_slice_detection(grey8) -> None:
    """The per-slice statistic (one shift, evaluated directly) equals the full z map's."""
    marked = embed(grey8, FIXED, PAYLOAD)
    single = detect(marked, [FIXED])
    pair = detect(np.stack([marked, np.rot90(grey8, 2).copy()]), [FIXED])
    assert pair.transform == single.transform
    assert pair.slices[0].z == pytest.approx(single.z, abs=1e-3)
    assert abs(pair.slices[1].z) < 5


def test_padding_values_unchanged(ct512) -> None:
    pixels = ct512[0].copy()
    pad = -2000
    pixels[:40] = pad
    pixels[:, :25] = pad
    marked = embed(pixels, FIXED, padding_value=pad)
    is_pad = pixels == pad
    np.testing.assert_array_equal(marked[is_pad], pixels[is_pad])
    assert (marked[~is_pad] != pixels[~is_pad]).mean() > 0.5
    assert detect(marked, [FIXED]).detected


@pytest.mark.parametrize(("signed", "lo", "hi"), [(False, 0, 4095), (True, -2048, 2047)])
def test_stored_range_respected(signed: bool, lo: int, hi: int) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(lo, hi + 1, size=(256, 256)).astype(np.int16 if signed else np.uint16)
    img[:64] = hi
    img[64:128] = lo
    marked = embed(img, FIXED, bits_stored=12, signed=signed, strength=4.0)
    assert int(marked.min()) >= lo and int(marked.max()) <= hi
    assert (marked != img).any()


def test_uint8_range_and_determinism(grey8) -> None:
    a = embed(grey8, FIXED, PAYLOAD)
    b = embed(grey8, FIXED, PAYLOAD)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8


def test_strength_zero_is_identity(grey8) -> None:
    np.testing.assert_array_equal(embed(grey8, FIXED, strength=0.0), grey8)


def test_wrong_key_and_keyring(grey8) -> None:
    marked = embed(grey8, FIXED, PAYLOAD)
    others = [generate_key() for _ in range(3)]
    miss = detect(marked, others)
    assert not miss.detected and miss.payload is None and miss.key_id is None
    hit = detect(marked, [*others, FIXED])
    assert hit.detected and hit.key_id == FIXED.key_id
    single = detect(marked, [FIXED])
    assert hit.p_value >= single.p_value  # the keyring size is part of the bound


def test_public_key_default(grey8) -> None:
    marked = embed(grey8, PUBLIC_DETECTION_KEY, PAYLOAD)
    result = detect(marked)
    assert result.detected and result.key_id == PUBLIC_DETECTION_KEY.key_id
    assert result.payload is not None and not result.payload.authenticated
    assert not detect(marked, [FIXED]).detected
    assert not detect(embed(grey8, FIXED)).detected


def test_no_payload_decodes_to_none(grey8) -> None:
    result = detect(embed(grey8, FIXED), [FIXED])
    assert result.detected and result.payload is None


def test_small_slice_detected_when_uncropped() -> None:
    small = to_uint8(load_dicom("CT_small.dcm").pixel_array)
    assert small.shape == (128, 128)
    marked = embed(small, FIXED)
    for k in range(4):
        assert detect(np.rot90(marked, k).copy(), [FIXED]).detected


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="strength"):
        embed(np.zeros((8, 8), np.uint8), FIXED, strength=-1)
    with pytest.raises(ValueError, match="two axes"):
        embed(np.zeros(8, np.uint8), FIXED)
    with pytest.raises(ValueError, match="keys"):
        detect(np.zeros((8, 8), np.uint8), [])


def test_signed_claim_on_unsigned_container_stays_in_range() -> None:
    img = np.zeros((128, 128), np.uint16)
    img[::2] = 3
    marked = embed(img, FIXED, bits_stored=12, signed=True, strength=3.0)
    assert int(marked.max()) <= 2047 and marked.dtype == np.uint16
    assert int(marked.astype(np.int64).min()) >= 0
