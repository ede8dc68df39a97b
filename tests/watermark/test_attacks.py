"""Detection at FPR 1e-6 after each attack of the issue, on real 512 x 512 CT exports."""

from __future__ import annotations

import numpy as np
import pytest

from synthmark.watermark import Payload, WatermarkKey, detect, embed

from .conftest import ATTACKS, jpeg, load_dicom, to_uint8, window

FIXED = WatermarkKey.from_secret(bytes(range(1, 33)))
PAYLOAD = Payload(b"synthmk!")
IMAGES = ("693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "examples_overlay.dcm")


@pytest.fixture(scope="module", params=IMAGES)
def marked(request: pytest.FixtureRequest) -> np.ndarray:
    return embed(to_uint8(load_dicom(request.param).pixel_array), FIXED, PAYLOAD)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_detected(marked: np.ndarray, attack: str) -> None:
    attacked = ATTACKS[attack](marked)
    result = detect(attacked, [FIXED], fpr=1e-6)
    assert result.detected, (attack, result.z)
    assert result.p_value <= 1e-6
    assert result.payload is not None, (attack, result.z)
    assert result.payload.record_id_prefix == PAYLOAD.record_id_prefix
    assert result.payload.authenticated


@pytest.mark.parametrize("attack", ["jpeg75", "rot1_flip0", "crop50"])
def test_attacked_unmarked_not_detected(attack: str) -> None:
    cover = to_uint8(load_dicom(IMAGES[0]).pixel_array)
    assert not detect(ATTACKS[attack](cover), [FIXED]).detected


def test_resized_and_kept_small_found_by_scale_search() -> None:
    from PIL import Image

    marked = embed(to_uint8(load_dicom(IMAGES[0]).pixel_array), FIXED, PAYLOAD, strength=1.5)
    half = np.array(Image.fromarray(marked).resize((256, 256), Image.BICUBIC))
    result = detect(half, [FIXED])
    assert result.detected and result.transform is not None and "scale:0.5" in result.transform


def test_ct_window_then_jpeg() -> None:
    ds = load_dicom(IMAGES[0])
    marked = embed(ds.pixel_array, FIXED, PAYLOAD, bits_stored=int(ds.BitsStored))
    hu = marked * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert detect(jpeg(window(hu), 90), [FIXED]).detected


@pytest.mark.parametrize(
    "attack", ["none", "jpeg75", "resize0.5", "noise2", "blur1", "rot1_flip0", "rot0_flip1"]
)
def test_small_128_slice_survives_uncropping_attacks(attack: str) -> None:
    small = to_uint8(load_dicom("CT_small.dcm").pixel_array)
    marked = embed(small, FIXED, PAYLOAD)
    assert detect(ATTACKS[attack](marked), [FIXED]).detected


@pytest.mark.parametrize(
    ("factor", "scales", "expected"),
    [
        (2.0, None, "scale:2"),  # default search, tile-domain period 256
        (0.75, (1.0, 0.75), "scale:0.75"),  # whole period 96
        (0.7, (1.0, 0.7), "scale:0.7"),  # fractional period 89.6: resampled instead
    ],
)
def test_resized_and_cropped_found_by_scale_search(
    factor: float, scales: tuple[float, ...] | None, expected: str
) -> None:
    from PIL import Image

    marked = embed(to_uint8(load_dicom(IMAGES[0]).pixel_array), FIXED, PAYLOAD)
    size = round(512 * factor)
    resized = np.array(Image.fromarray(marked).resize((size, size), Image.BICUBIC))
    cropped = np.ascontiguousarray(resized[5:, 9:])  # off the resized tile grid
    result = detect(cropped, [FIXED], **({"scales": scales} if scales else {}))
    assert result.detected and result.transform is not None and expected in result.transform
    assert result.payload is not None and result.payload.record_id_prefix == b"synthmk!"


def test_tile_domain_scales_match_resampling() -> None:
    """Folding the native residual at period T*s sees what resampling by 1/s would."""
    from PIL import Image

    from synthmark.watermark import _core

    marked = embed(to_uint8(load_dicom(IMAGES[0]).pixel_array), FIXED, PAYLOAD)
    half = np.array(Image.fromarray(marked).resize((256, 256), Image.BICUBIC))
    luma = _core._layout(_core._to_tensor(half)[0], None, _core._device()).luma
    tiled = _core._scale_spectra(luma, (0.5,), luma.device)[(0.5, 128)][0]
    resampled = _core._resampled_spectra(luma, 0.5, luma.device)[128][0]
    z_tiled = _core._zmap_spectrum(tiled, FIXED, 128)[0, 0, 0]
    z_resampled = _core._zmap_spectrum(resampled, FIXED, 128)[0, 0, 0]
    # Both peak at the aligned hypothesis (g = identity, shift 0) with similar strength.
    assert float(z_tiled) > 20 and float(z_resampled) > 20
    assert abs(float(z_tiled) - float(z_resampled)) < 0.25 * float(z_resampled)
