"""False positives: unmarked real tiles x random keys, and the null distribution of z."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthmark.watermark import WatermarkKey, detect, embed, generate_key
from synthmark.watermark._core import hypothesis_counts, pilot_z_map

from .conftest import load_dicom, to_uint8

SOURCES = ("693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "examples_overlay.dcm", "JPEG2000.dcm")


def _tiles() -> list[np.ndarray]:
    tiles: list[np.ndarray] = []
    for name in SOURCES:
        native = load_dicom(name).pixel_array
        for img in (native, to_uint8(native)):
            h, w = img.shape
            tiles.extend(
                img[y : y + 128, x : x + 128]
                for y in range(0, h - 127, 128)
                for x in range(0, w - 127, 128)
            )
    rng = np.random.default_rng(11)
    tiles.extend(rng.normal(100, 10, (8, 128, 128)).round().astype(np.int16))
    tiles.append(np.zeros((128, 128), np.uint8))  # flat: no information at all
    return tiles


@pytest.fixture(scope="module")
def tiles() -> list[np.ndarray]:
    return _tiles()


def test_zero_false_positives_on_unmarked_tiles(tiles: list[np.ndarray]) -> None:
    assert len(tiles) >= 100
    rng = np.random.default_rng(5)
    worst = -math.inf
    trials = 0
    for tile in tiles:
        for _ in range(3):
            key = WatermarkKey.from_secret(rng.bytes(32))
            result = detect(tile, [key], scales=(1.0,))
            assert not result.detected, result
            assert result.payload is None
            worst = max(worst, result.z)
            trials += 1
    assert trials >= 300
    # The search max of ~1.3e5 sub-Gaussian statistics stays well under the threshold.
    threshold = math.sqrt(2 * math.log(hypothesis_counts(1, 1)[1] / 1e-6))
    assert worst < threshold - 1.0


def test_null_z_is_standard(tiles: list[np.ndarray]) -> None:
    rng = np.random.default_rng(6)
    values = []
    for tile in tiles:
        if not tile.any():
            continue
        for _ in range(3):
            zmap = pilot_z_map(tile, WatermarkKey.from_secret(rng.bytes(32)))
            values.append(float(zmap[0, 0, 0]))
            values.append(float(zmap[5, 17, 101]))
    z = np.asarray(values)
    assert z.size >= 500
    assert abs(z.mean()) < 0.15
    assert 0.85 < z.std() < 1.15
    # Chernoff bound P(z > t) <= exp(-t^2/2) holds empirically at moderate t.
    for t in (1.0, 2.0, 2.5):
        assert (z > t).mean() <= math.exp(-t * t / 2)


def test_whole_map_is_standard_for_one_key() -> None:
    cover = to_uint8(load_dicom("693_J2KI.dcm").pixel_array)
    zmap = pilot_z_map(cover, generate_key()).numpy().ravel()
    assert abs(zmap.mean()) < 0.05 and 0.9 < zmap.std() < 1.1


def test_wrong_keys_on_marked_images_are_not_detected() -> None:
    marked = embed(to_uint8(load_dicom("693_J2KI.dcm").pixel_array), generate_key())
    rng = np.random.default_rng(8)
    keys = [WatermarkKey.from_secret(rng.bytes(32)) for _ in range(40)]
    for key in keys:
        assert not detect(marked, [key], scales=(1.0,)).detected
    result = detect(marked, keys)
    assert not result.detected and result.p_value > 1e-3


def test_full_search_on_unmarked_covers() -> None:
    for name in SOURCES:
        cover = to_uint8(load_dicom(name).pixel_array)
        result = detect(cover, [generate_key(), generate_key()])
        assert not result.detected and result.p_value > 1e-3
