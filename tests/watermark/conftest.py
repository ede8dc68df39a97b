"""Shared fixtures: real scans shipped with pydicom, and the attacks of the issue."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageFilter
from pydicom.data import get_testdata_file

from synthmark.watermark import WatermarkKey, generate_key


def load_dicom(name: str) -> pydicom.Dataset:
    path = get_testdata_file(name, download=False)
    assert path is not None, name
    return pydicom.dcmread(path)


def to_uint8(a: np.ndarray) -> np.ndarray:
    """Min-max map to 8-bit grey, as a 16 -> 8 bit export does."""
    a = a.astype(np.float64)
    return np.rint((a - a.min()) / (a.max() - a.min()) * 255).astype(np.uint8)


def window(hu: np.ndarray, centre: float = 40, width: float = 400) -> np.ndarray:
    """Clinical window to 8-bit grey."""
    return np.rint(np.clip((hu - (centre - width / 2)) / width, 0, 1) * 255).astype(np.uint8)


def jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=quality)
    return np.array(Image.open(buf))


def resize_half_and_back(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    im = Image.fromarray(a).resize((w // 2, h // 2), Image.BICUBIC)
    return np.array(im.resize((w, h), Image.BICUBIC))


def centre_crop_half_area(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    ch, cw = int(h * 0.7071), int(w * 0.7071)
    y, x = (h - ch) // 2 + 3, (w - cw) // 2 + 5  # off the tile grid on purpose
    return a[y : y + ch, x : x + cw]


def corner_crop(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    return a[h // 3 :, w // 4 :]


def gaussian_noise(a: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.clip(np.rint(a + rng.normal(0, 2.0, a.shape)), 0, 255).astype(np.uint8)


def blur(a: np.ndarray) -> np.ndarray:
    return np.array(Image.fromarray(a).filter(ImageFilter.GaussianBlur(1)))


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda a: a,
    "jpeg75": lambda a: jpeg(a, 75),
    "jpeg50": lambda a: jpeg(a, 50),
    "resize0.5": resize_half_and_back,
    "crop50": centre_crop_half_area,
    "corner_crop": corner_crop,
    "noise2": gaussian_noise,
    "blur1": blur,
    **{
        f"rot{k}_flip{f}": (
            lambda a, k=k, f=f: np.ascontiguousarray(np.rot90(a[:, ::-1] if f else a, k))
        )
        for f in (0, 1)
        for k in range(4)
        if (k, f) != (0, 0)
    },
}


@pytest.fixture(scope="session")
def ct512() -> tuple[np.ndarray, pydicom.Dataset]:
    """512 x 512 CT head, int16 stored values (JPEG 2000 decoded)."""
    ds = load_dicom("693_J2KI.dcm")
    return ds.pixel_array, ds


@pytest.fixture(scope="session")
def grey8(ct512: tuple[np.ndarray, pydicom.Dataset]) -> np.ndarray:
    """The CT exported to 8-bit grey (min-max), the peers' benchmark setting."""
    return to_uint8(ct512[0])


@pytest.fixture(scope="session")
def key() -> WatermarkKey:
    return generate_key()
