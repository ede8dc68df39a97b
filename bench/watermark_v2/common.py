"""Shared helpers of the watermark v2 feasibility study (docs/watermark-v2-feasibility.md)."""

from __future__ import annotations

import hashlib
import io
import warnings

warnings.filterwarnings("ignore")
import numpy as np
import torch

torch.set_num_threads(1)
import pydicom
import pydicom.data
from PIL import Image

from synthmark.watermark import (  # re-exported for the study scripts
    PUBLIC_DETECTION_KEY,  # noqa: F401
    Payload,
    WatermarkKey,
    _core,
    detect,  # noqa: F401
    embed,  # noqa: F401
)

KEYS = [
    WatermarkKey.from_secret(hashlib.sha256(b"wmv2 study key %d" % i).digest()) for i in range(3)
]
PAYLOAD = Payload(record_id_prefix=bytes.fromhex("0123456789abcdef"))


def _dcm(name):
    ds = pydicom.dcmread(pydicom.data.get_testdata_file(name, download=False))
    a = ds.pixel_array.astype(np.float64)
    a = a * float(getattr(ds, "RescaleSlope", 1) or 1) + float(
        getattr(ds, "RescaleIntercept", 0) or 0
    )
    return a, str(ds.get("Modality"))


def covers():
    """name -> (int16 native array (HU for CT), modality)."""
    out = {}
    for n in [
        "693_J2KI.dcm",
        "J2K_pixelrep_mismatch.dcm",
        "CT_small.dcm",
        "examples_overlay.dcm",
        "MR_small.dcm",
        "JPEG2000.dcm",
    ]:
        a, m = _dcm(n)
        out[n] = (np.clip(np.rint(a), -32768, 32767).astype(np.int16), m)
    return out


WINDOWS = {"soft": (400, 40), "lung": (1500, -600), "bone": (1800, 400), "brain": (80, 40)}


def to8(x, how):
    x = np.asarray(x, np.float64)
    if how == "minmax":
        lo, hi = x.min(), x.max()
    elif how == "p1-99":
        lo, hi = np.percentile(x, [1, 99])
    else:
        w, l = WINDOWS[how]
        lo, hi = l - w / 2, l + w / 2
    return np.clip(np.rint((x - lo) / max(hi - lo, 1e-9) * 255), 0, 255).astype(np.uint8)


def codec(x8, fmt, q=None):
    buf = io.BytesIO()
    im = Image.fromarray(x8)
    if fmt == "png":
        im.save(buf, "PNG")
    else:
        im.save(buf, "JPEG", quality=q)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("L"))


def resize(x, size_hw, resample=Image.BILINEAR):
    """Pillow resize (antialiased when shrinking), float in, float out."""
    im = Image.fromarray(np.asarray(x, np.float32), mode="F")
    return np.asarray(im.resize((size_hw[1], size_hw[0]), resample), np.float32)


def zmap(x, key):
    return _core.pilot_z_map(np.asarray(x, np.float32), key).numpy()


def p_searched(z, n_scales=1, n_keys=1):
    _, full = _core.hypothesis_counts(n_keys, n_scales)
    return _core._p(z, full)


def thresholds(n_scales=1, n_keys=1):
    import math

    a, f = _core.hypothesis_counts(n_keys, n_scales)
    return math.sqrt(2 * math.log(a / 1e-6)), math.sqrt(2 * math.log(f / 1e-6))
