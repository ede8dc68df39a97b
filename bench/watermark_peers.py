"""Offline peer watermarkers for ``bench/watermark_bench.py``, in grey-scale-correct settings.

Every peer takes an 8-bit grey ``(H, W)`` uint8 image and ``nbits`` 0/1 bits and returns an
8-bit grey image; ``extract`` returns 0/1 bits. Settings follow section 3.1 of the design
notes (``shared/design/watermark.md``):

* ``iw-dwtDct`` / ``iw-dwtDctSvd``: invisible-watermark 0.2.0, ``scales=[36, 0, 0]`` (luma;
  the defaults embed in chroma, which a grey slice does not have), ``block=4``, as shipped.
* ``iw-dwtDct*`` / ``iw-dwtDctSvd*``: the same frame coder, with the two bugs of the shipped
  ``encode()`` avoided: it stores the inverse DWT in a uint8 array (wrap-around) and passes
  ``(V, H, D)`` instead of ``(H, V, D)`` to ``idwt2``. For a grey cover Y equals the grey
  value and U = V = 128, so the luma is marked directly in float and rounded/clipped once.
* ``blind-wm``: blind-watermark 0.4.4, ``d1=36, d2=20``, 4x4 blocks, ``password_img =
  password_wm = 1``; it embeds in Y, U and V, and extraction averages the Y channel only,
  since U/V of an image stored as grey carry nothing.

invisible-watermark refuses images smaller than 256 x 256 pixels (``RuntimeError``); the
bench reports those cells as n/a. Install: ``pip install --no-deps invisible-watermark
blind-watermark`` plus ``opencv-python-headless PyWavelets`` (the wheels' own dependency on
``opencv-python``, ``onnxruntime`` and ``torch`` is only needed for RivaGAN / GUI builds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Peer:
    name: str
    nbits: int
    embed: Callable[[np.ndarray, np.ndarray], np.ndarray]
    extract: Callable[[np.ndarray], np.ndarray]
    note: str


def _bgr(g: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(g[..., None], 3, axis=2))


def _grey(bgr: np.ndarray) -> np.ndarray:
    import cv2

    y = cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2GRAY)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def make_iw(method: str, nbits: int, *, fixed: bool, scale: float = 36.0) -> Peer:
    import pywt
    from imwatermark import WatermarkDecoder, WatermarkEncoder
    from imwatermark.dwtDctSvd import EmbedDwtDctSvd
    from imwatermark.maxDct import EmbedMaxDct

    cls = {"dwtDct": EmbedMaxDct, "dwtDctSvd": EmbedDwtDctSvd}[method]

    def embed(g: np.ndarray, bits: np.ndarray) -> np.ndarray:
        if min(g.shape) * max(g.shape) < 256 * 256:
            raise RuntimeError("image too small, should be larger than 256x256")
        if not fixed:
            enc = WatermarkEncoder()
            enc.set_watermark("bits", [int(b) for b in bits])
            return _grey(enc.encode(_bgr(g), method, scales=[scale, 0, 0], block=4))
        coder = cls(
            watermarks=[int(b) for b in bits], wmLen=len(bits), scales=[scale, 0, 0], block=4
        )
        h4, w4 = g.shape[0] // 4 * 4, g.shape[1] // 4 * 4
        y = g.astype(np.float64)  # grey cover: cv2's Y == the grey value exactly
        ca, (hh, vv, dd) = pywt.dwt2(y[:h4, :w4], "haar")
        coder.encode_frame(ca, scale)
        y[:h4, :w4] = pywt.idwt2((ca, (hh, vv, dd)), "haar")
        return np.clip(np.rint(y), 0, 255).astype(np.uint8)

    def extract(g: np.ndarray) -> np.ndarray:
        dec = WatermarkDecoder("bits", nbits)
        bits = dec.decode(_bgr(g), method, scales=[scale, 0, 0], block=4)
        return np.asarray(bits, dtype=np.int64).reshape(-1)

    name = {"dwtDct": "iw-dwtDct", "dwtDctSvd": "iw-dwtDctSvd"}[method] + ("*" if fixed else "")
    note = f"invisible-watermark {method}, scales=[{scale:g},0,0] (luma), block 4, " + (
        "encode bugs avoided (float luma, H/V order)" if fixed else "as shipped"
    )
    return Peer(name, nbits, embed, extract, note)


def make_blind(nbits: int) -> Peer:
    import blind_watermark
    from blind_watermark import WaterMark

    blind_watermark.bw_notes.close()

    def embed(g: np.ndarray, bits: np.ndarray) -> np.ndarray:
        bwm = WaterMark(password_wm=1, password_img=1)
        bwm.read_img(img=_bgr(g).astype(np.float32))
        bwm.read_wm(np.asarray(bits, dtype=bool), mode="bit")
        return _grey(bwm.embed())

    def extract(g: np.ndarray) -> np.ndarray:
        bwm = WaterMark(password_wm=1, password_img=1)
        core = bwm.bwm_core

        def y_only(block_bits: np.ndarray) -> np.ndarray:
            return np.array([block_bits[0, i :: core.wm_size].mean() for i in range(core.wm_size)])

        core.extract_avg = y_only
        wm = bwm.extract(embed_img=_bgr(g).astype(np.float32), wm_shape=nbits, mode="bit")
        return (np.asarray(wm, dtype=np.float64) >= 0.5).astype(np.int64)

    return Peer(
        "blind-wm",
        nbits,
        embed,
        extract,
        "blind-watermark, d1=36 d2=20, 4x4 blocks, passwords 1/1, Y-only extraction",
    )


PEER_NAMES = ("iw-dwtDct", "iw-dwtDctSvd", "iw-dwtDct*", "iw-dwtDctSvd*", "blind-wm")


def make_peers(nbits: int, names: tuple[str, ...] = PEER_NAMES) -> tuple[list[Peer], list[str]]:
    """Return the peers that import, and a list of 'name: reason' for those skipped."""
    out: list[Peer] = []
    skipped: list[str] = []
    for n in names:
        try:
            if n == "blind-wm":
                out.append(make_blind(nbits))
            else:
                out.append(make_iw(n.strip("*").removeprefix("iw-"), nbits, fixed=n.endswith("*")))
        except ImportError as e:
            skipped.append(f"{n}: {e}")
    return out, skipped
