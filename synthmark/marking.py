"""Watermarking files: embed before binding, so the record binds the marked pixels.

Torch is imported only through :mod:`synthmark.watermark`, and only when a function here
is called.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from synthmark.carriers import CarrierFile, PixelContent, open_image
from synthmark.errors import OutputExistsError, UsageError

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
    from synthmark.slices import slice_view
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
    from synthmark.slices import slice_view
    from synthmark.watermark import detect

    view = slice_view(content)
    return detect(view.stack, keys, fpr=fpr, channel_axis=view.channel_axis)


def write_jpeg(dest: Path, array: npt.NDArray[np.generic]) -> None:
    """Write ``(rows, columns, samples)`` uint8 pixels as a JPEG atomically (lossy)."""
    from PIL import Image

    from synthmark._atomic import atomic_write_bytes

    plane: Any = array[:, :, 0] if array.shape[-1] == 1 else array
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(plane)).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    atomic_write_bytes(dest, buffer.getvalue())


@dataclass(frozen=True)
class MarkResult:
    """What :func:`mark_file` wrote.

    Attributes:
        source: Input file.
        dest: Marked file.
        key_id: Id of the embedding key.
        rebound: True when the file's record was updated (binding and watermark descriptor).
    """

    source: Path
    dest: Path
    key_id: str
    rebound: bool


def mark_file(
    path: Path | str,
    *,
    dest: Path | str | None = None,
    in_place: bool = False,
    overwrite: bool = False,
    key: WatermarkKey | None = None,
    strength: float = 1.0,
) -> MarkResult:
    """Embed the watermark in a file's pixels (default key: the public detection key).

    A file that already carries a record is re-stamped: the record gets the watermark
    descriptor and a new binding over the marked pixels. A file without a record gets the
    mark only (presence, no payload).

    Raises:
        UsageError, OutputExistsError: on bad destinations.
        SynthmarkError: when the file cannot be read or written.
    """
    from synthmark.api import read_record, stamp
    from synthmark.errors import RecordMissingError
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    source = Path(path)
    if in_place == (dest is not None):
        raise UsageError("give exactly one of an output path and in-place")
    target = source if in_place else Path(dest)  # type: ignore[arg-type]
    if not in_place and target.exists() and not overwrite:
        raise OutputExistsError("output exists", path=target)
    key = key or PUBLIC_DETECTION_KEY
    try:
        found = read_record(source)
    except RecordMissingError:
        found = None
    if found is not None:
        stamp(
            source,
            found.record,
            dest=None if in_place else target,
            in_place=in_place,
            overwrite=True,
            watermark=key,
            strength=strength,
        )
        return MarkResult(source, target, key.key_id, True)
    image = open_image(source)
    marked = embed_content(image.pixels(), key, None, strength=strength)
    if is_jpeg(image):
        write_jpeg(target, marked)
    else:
        image.write(target, record_json=None, ack=None, new_pixels=marked)
    return MarkResult(source, target, key.key_id, False)
