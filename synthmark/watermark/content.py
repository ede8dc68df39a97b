"""The watermark applied to decoded carrier content (embed before binding, so the record binds
the marked pixels); :func:`synthmark.api.mark_file` marks whole files.

Torch is imported only through :mod:`synthmark.watermark`, and only when a function here
is called.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from synthmark.carriers import CarrierFile, PixelContent

if TYPE_CHECKING:
    from synthmark.watermark import Detection, Payload, WatermarkKey

WATERMARK_SCHEME = "synthmark-wm/1"
#: Quality used when a marked JPEG must be written again (the mark survives JPEG 50).
JPEG_QUALITY = 95
#: Slices narrower than this cannot hold a detectable mark; detection is not attempted.
MIN_SLICE_SIDE = 32


def too_small_to_mark(stack: Any) -> bool:
    """True when the slices of an ``(N, H, W[, C])`` stack are too small for the mark."""
    return bool(min(stack.shape[1], stack.shape[2]) < MIN_SLICE_SIDE)


def is_jpeg(image: CarrierFile) -> bool:
    """True for JPEG files, which cannot store changed pixels losslessly."""
    return getattr(image, "image_format", None) == "JPEG"


def payload_for(record_id: uuid.UUID | None) -> Payload | None:
    """The default payload: the first 8 bytes of the record id (soft binding)."""
    from synthmark.watermark import Payload

    return None if record_id is None else Payload(record_id_prefix=record_id.bytes[:8])


def embed_content(
    content: PixelContent,
    key: WatermarkKey,
    payload: Payload | None,
    *,
    strength: float = 1.0,
) -> npt.NDArray[np.generic]:
    """Return ``content``'s canonical array with the watermark embedded (same shape, dtype)."""
    from synthmark.carriers.slices import slice_view
    from synthmark.watermark import embed

    view = slice_view(content)
    integer = content.array.dtype.kind in "iu"
    marked = embed(
        view.stack,
        key,
        payload,
        strength=strength,
        bits_stored=content.bits_stored if integer else None,
        signed=content.array.dtype.kind == "i" if integer else None,
        padding_value=content.padding_value,
        channel_axis=view.channel_axis,
    )
    restored: npt.NDArray[np.generic] = view.restore(np.asarray(marked))
    return restored


def detect_content(
    content: PixelContent, keys: list[WatermarkKey] | None, *, fpr: float = 1e-6
) -> Detection:
    """Detect the watermark in ``content`` (all slices combined, per-slice results kept)."""
    from synthmark.carriers.slices import slice_view
    from synthmark.watermark import detect

    view = slice_view(content)
    return detect(view.stack, keys, fpr=fpr, channel_axis=view.channel_axis)


def write_jpeg(dest: Path, array: npt.NDArray[np.generic]) -> None:
    """Write ``(rows, columns, samples)`` uint8 pixels as a JPEG atomically (lossy)."""
    from PIL import Image

    from synthmark.carriers.atomic import atomic_write_bytes

    plane: Any = array[:, :, 0] if array.shape[-1] == 1 else array
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(plane)).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    atomic_write_bytes(dest, buffer.getvalue())
