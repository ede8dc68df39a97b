"""Watermark benchmark: quality, robustness (z at FPR 1e-6) and speed on pydicom's real scans.

    .venv/bin/python bench/watermark_bench.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import io
import math
import time
from collections.abc import Callable

import numpy as np
import pydicom
from PIL import Image, ImageFilter
from pydicom.data import get_testdata_file

from synthmark.watermark import Payload, WatermarkKey, detect, embed
from synthmark.watermark._core import hypothesis_counts

FILES = ("693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "examples_overlay.dcm", "CT_small.dcm")


def _to8(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return np.rint((a - a.min()) / (a.max() - a.min()) * 255).astype(np.uint8)


def _jpeg(a: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=q)
    return np.array(Image.open(buf))


def _resize(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    im = Image.fromarray(a).resize((w // 2, h // 2), Image.BICUBIC)
    return np.array(im.resize((w, h), Image.BICUBIC))


def _crop(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    ch, cw = int(h * 0.7071), int(w * 0.7071)
    return a[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]


def _noise(a: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(np.rint(a + rng.normal(0, 2, a.shape)), 0, 255).astype(np.uint8)


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda a: a,
    "jpeg75": lambda a: _jpeg(a, 75),
    "jpeg50": lambda a: _jpeg(a, 50),
    "resize0.5": _resize,
    "crop50": _crop,
    "corner": lambda a: a[: a.shape[0] * 5 // 8, : a.shape[1] * 5 // 8],
    "noise2": _noise,
    "blur1": lambda a: np.array(Image.fromarray(a).filter(ImageFilter.GaussianBlur(1))),
    "rot90": lambda a: np.rot90(a).copy(),
    "hflip": lambda a: a[:, ::-1].copy(),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    key = WatermarkKey.from_secret(bytes(range(32)))
    payload = Payload(b"benchmrk")
    n_aligned, n_full = hypothesis_counts(1, 3)
    z_aligned = math.sqrt(2 * math.log(n_aligned / 1e-6))
    z_full = math.sqrt(2 * math.log(n_full / 1e-6))
    print(f"thresholds at FPR 1e-6: aligned z >= {z_aligned:.2f}, searched z >= {z_full:.2f}")
    print("z per attack; P = payload decoded, ! = not detected")
    for name in FILES:
        ds = pydicom.dcmread(get_testdata_file(name, download=False))
        grey = _to8(ds.pixel_array)
        marked = embed(grey, key, payload)
        psnr = 10 * math.log10(255**2 / np.mean((marked.astype(float) - grey) ** 2))
        cells = []
        for attack, fn in ATTACKS.items():
            r = detect(fn(marked), [key])
            cells.append(f"{attack}:{r.z:.1f}{'P' if r.payload else ''}{'' if r.detected else '!'}")
        print(f"{name} {grey.shape} PSNR {psnr:.2f} dB  " + " ".join(cells))
        native = ds.pixel_array
        if native.dtype.itemsize > 1:
            m = embed(native, key, payload, bits_stored=int(ds.BitsStored))
            d = (m.astype(float) - native) * float(ds.get("RescaleSlope", 1))
            rms = np.sqrt(np.mean(d**2))
            print(f"   native: RMS {rms:.2f} units, max |d| {np.abs(d).max():.0f}")
    ds = pydicom.dcmread(get_testdata_file("693_J2KI.dcm", download=False))
    for label, img in (("int16", ds.pixel_array), ("uint8", _to8(ds.pixel_array))):
        m = embed(img, key, payload)
        detect(m, [key])
        t = time.perf_counter()
        for _ in range(args.repeat):
            m = embed(img, key, payload)
        te = (time.perf_counter() - t) / args.repeat
        t = time.perf_counter()
        for _ in range(args.repeat):
            detect(m, [key])
        td = (time.perf_counter() - t) / args.repeat
        t = time.perf_counter()
        for _ in range(5):
            detect(img, [key])
        tn = (time.perf_counter() - t) / 5
        mp = img.size / 1e6
        print(
            f"speed 512^2 {label}: embed {te * 1e3:.1f} ms ({mp / te:.0f} MP/s), "
            f"detect {td * 1e3:.1f} ms ({mp / td:.0f} MP/s), unmarked full search {tn * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
