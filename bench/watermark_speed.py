"""Watermark speed at 512x512 on a real CT slice: embed, detect on a marked image (the
search stops once found), and detect on an unmarked image (every default search runs),
with the fastest offline peer's extraction (invisible-watermark dwtDct) timed in the same
run as the baseline.

    .venv/bin/python bench/watermark_speed.py [--repeat 50] [--threads 1,2]

Times are the median over the repeats (and the fastest repeat, which is what an idle
machine gives); rates are 0.262 MP divided by the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import torch
from pydicom.data import get_testdata_file

from synthmark.watermark import PUBLIC_DETECTION_KEY, detect, embed

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _times(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, fastest) seconds per call; the first call (carrier bank, caches) is not timed."""
    fn()
    ts = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - start)
    return statistics.median(ts), min(ts)


def _cell(t: tuple[float, float], mp: float) -> str:
    return f"{t[0] * 1e3:.2f} ms / {t[1] * 1e3:.2f} ms = {mp / t[0]:.1f} MP/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--threads", default="1,2", help="comma list of torch thread counts")
    args = parser.parse_args()
    path = get_testdata_file("J2K_pixelrep_mismatch.dcm", download=False)
    ct = pydicom.dcmread(path).pixel_array.astype(np.int16)
    u8 = np.rint((ct - ct.min()) / (ct.max() - ct.min()) * 255).astype(np.uint8)
    mp = ct.size / 1e6
    print(
        "| torch threads | data | embed (median / fastest) | detect marked | "
        "detect unmarked, full default search |"
    )
    print("|---|---|---|---|---|")
    unmarked_u8: dict[int, float] = {}
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for name, image in (("uint8", u8), ("int16 (CT, HU)", ct)):
            marked = embed(image, PUBLIC_DETECTION_KEY)
            e = _times(lambda image=image: embed(image, PUBLIC_DETECTION_KEY), args.repeat)
            dm = _times(lambda marked=marked: detect(marked), args.repeat)
            du = _times(lambda image=image: detect(image), args.repeat)
            if name == "uint8":
                unmarked_u8[threads] = mp / du[0]
            print(f"| {threads} | {name} | {_cell(e, mp)} | {_cell(dm, mp)} | {_cell(du, mp)} |")
    try:
        import cv2
        from watermark_peers import make_peers

        cv2.setNumThreads(1)
        peers, _ = make_peers(64, ("iw-dwtDct",))
    except ImportError:
        peers = []
    for peer in peers:
        bits = np.random.default_rng(7).integers(0, 2, 64).astype(np.uint8)
        w = peer.embed(u8, bits)
        print(
            f"\nBaseline, interleaved call by call with synthmark so that both see the same "
            f"load: {peer.name} extract (OpenCV 1 thread) vs synthmark detect on the unmarked "
            "uint8 image (full default search)."
        )
        for threads in unmarked_u8:
            torch.set_num_threads(threads)
            ours, theirs = _paired(
                lambda: detect(u8), lambda w=w, p=peer: p.extract(w), args.repeat
            )
            rate, peer_rate = mp / ours, mp / theirs
            verdict = "met" if rate >= 50 or rate >= 5 * peer_rate else "MISSED"
            print(
                f"- {threads} thread(s): synthmark {ours * 1e3:.2f} ms = {rate:.1f} MP/s, peer "
                f"{theirs * 1e3:.2f} ms = {peer_rate:.1f} MP/s, ratio {rate / peer_rate:.1f} x; "
                f"target >= 50 MP/s or >= 5 x the peer: {verdict}"
            )


def _paired(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median seconds per call of ``a`` and of ``b``, timed alternately."""
    a()
    b()
    ta, tb = [], []
    for _ in range(repeat):
        for fn, ts in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


if __name__ == "__main__":
    main()
