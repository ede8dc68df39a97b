"""Watermark speed at 512x512 on a real CT slice: embed, detect on a marked image (the
search stops once found), and detect on an unmarked image (every default search runs).

    .venv/bin/python bench/watermark_speed.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pydicom
import torch
from pydicom.data import get_testdata_file

from synthmark.watermark import PUBLIC_DETECTION_KEY, detect, embed


def _rate(fn: Callable[[], object], repeat: int, megapixels: float) -> float:
    fn()  # warm-up: first call builds the key's carrier bank
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return megapixels * repeat / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    path = get_testdata_file("J2K_pixelrep_mismatch.dcm", download=False)
    ct = pydicom.dcmread(path).pixel_array.astype(np.int16)
    u8 = np.rint((ct - ct.min()) / (ct.max() - ct.min()) * 255).astype(np.uint8)
    mp = ct.size / 1e6
    print("| torch threads | data | embed MP/s | detect marked MP/s | detect unmarked MP/s |")
    print("|---|---|---|---|---|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, image in (("uint8", u8), ("int16 (CT, HU)", ct)):
            marked = embed(image, PUBLIC_DETECTION_KEY)
            e = _rate(lambda image=image: embed(image, PUBLIC_DETECTION_KEY), args.repeat, mp)
            dm = _rate(lambda marked=marked: detect(marked), args.repeat, mp)
            du = _rate(lambda image=image: detect(image), args.repeat, mp)
            print(f"| {threads} | {name} | {e:.1f} | {dm:.1f} | {du:.1f} |")


if __name__ == "__main__":
    main()
