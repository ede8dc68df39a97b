"""Content binding: canonical digests of decoded pixels (spec/synthmark.md section 6).

The digest covers the decoded stored values and the descriptors that give them meaning,
never the file bytes, so it is the same for every lossless encoding of the same pixels
(explicit/implicit VR, either byte order, RLE, JPEG-LS lossless, JPEG 2000 lossless,
gzipped or not) and changes when one value changes.

Algorithm (step numbers are the spec's, section 6.3):

1. Build the descriptor object: ``{"bits_stored", "dtype", "intercept", "layout",
   "photometric", "shape", "slope"}``; ``dtype`` is the NumPy little-endian type string
   (``"<u2"``, ``"|u1"`` for one byte), ``shape`` a list of ints, ``slope`` and
   ``intercept`` the 16 lowercase hex digits of their IEEE 754 binary64 big-endian bits.
2. Serialise it as JSON with sorted keys, no whitespace, ASCII only.
3. Hash ``b"SYNTHMARK-PIXELS-1\\n" + descriptor + b"\\n" + pixel bytes`` where the pixel
   bytes are the array in C order, little-endian, of the descriptor's dtype.
4. Report ``xxh3-128`` (32 hex digits, big-endian as xxhash's ``hexdigest``) and ``sha256``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

import numpy as np
import xxhash

from synthmark.carriers._base import PixelContent

DOMAIN_TAG = b"SYNTHMARK-PIXELS-1\n"
_CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class PixelDigest:
    """Both digests of one image's canonical pixel content.

    Attributes:
        xxh3_128: 32 lowercase hex digits (integrity, deduplication).
        sha256: 64 lowercase hex digits (for signed records).
        descriptor: The canonical descriptor JSON that was hashed (for debugging and vectors).
    """

    xxh3_128: str
    sha256: str
    descriptor: str


def _float_hex(value: float) -> str:
    return struct.pack(">d", float(value)).hex()


def canonical_descriptor(content: PixelContent) -> str:
    """Return the canonical descriptor JSON of ``content`` (spec section 6.3, steps 1-2)."""
    dtype = (
        content.array.dtype.newbyteorder("<")
        if content.array.dtype.itemsize > 1
        else (content.array.dtype)
    )
    descriptor = {
        "bits_stored": int(content.bits_stored),
        "dtype": dtype.str,
        "intercept": _float_hex(content.intercept),
        "layout": content.layout,
        "photometric": content.photometric,
        "shape": [int(n) for n in content.array.shape],
        "slope": _float_hex(content.slope),
    }
    return json.dumps(descriptor, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def digest_pixels(content: PixelContent) -> PixelDigest:
    """Compute the content binding digests of ``content`` (spec section 6.3).

    Streams the array in chunks so a large volume is never copied whole.
    """
    descriptor = canonical_descriptor(content)
    array = content.array
    if (
        array.dtype.itemsize > 1
        and array.dtype.byteorder not in ("<", "|")
        and not (array.dtype.byteorder == "=" and np.little_endian)
    ):
        array = array.astype(array.dtype.newbyteorder("<"))
    fast = xxhash.xxh3_128()
    strong = hashlib.sha256()
    head = DOMAIN_TAG + descriptor.encode("ascii") + b"\n"
    fast.update(head)
    strong.update(head)
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype.byteorder == "=" and not np.little_endian:  # pragma: no cover - big-endian hosts
        flat = flat.astype(flat.dtype.newbyteorder("<"))
    step = max(1, _CHUNK_BYTES // max(1, flat.dtype.itemsize))
    for start in range(0, flat.size, step):
        chunk = flat[start : start + step].tobytes()
        fast.update(chunk)
        strong.update(chunk)
    return PixelDigest(xxh3_128=fast.hexdigest(), sha256=strong.hexdigest(), descriptor=descriptor)
