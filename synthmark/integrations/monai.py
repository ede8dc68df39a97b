"""MONAI transforms: mark generated images in a pipeline, stamp what ``SaveImage`` wrote.

A generation pipeline typically ends ``... -> SaveImage``. Two transforms go around it::

    Compose([
        MarkSynthetic(template),                       # watermark + per-image record in meta
        SaveImage(output_dir=out, savepath_in_metadict=True, output_dtype=np.int16),
        StampSaved(),                                  # record + binding into the written file
    ])

``SaveImage`` may cast (float to int16), rescale or resample, so the binding can only be
computed from the file as written: :class:`StampSaved` reads the path ``SaveImage`` put in
the image's meta (``saved_to``), checks that the watermark survived the write (re-marking
the written pixels when it did not: spec section 7 rule 3, a record never claims a mark
that cannot be found), and stamps the file in place with the record
(:func:`synthmark.api.stamp`). Dictionary versions (:class:`MarkSyntheticd`,
:class:`StampSavedd`) do the same for ``keys`` of a data dictionary.

MONAI is an optional dependency (``pip install 'synthmark[monai]'``); it is imported when
a transform is created, and a missing MONAI is an :class:`OptionalDependencyError`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmark.errors import OptionalDependencyError, UsageError
from synthmark.record.models import SynthmarkRecord

if TYPE_CHECKING:
    from synthmark.api import StampResult
    from synthmark.provenance import SigningKey
    from synthmark.watermark import WatermarkKey

__all__ = [
    "RECORD_META_KEY",
    "STAMPED_META_KEY",
    "MarkSynthetic",
    "MarkSyntheticd",
    "StampSaved",
    "StampSavedd",
    "stamp_written",
]

#: Image meta key holding the per-image record (canonical JSON) between the transforms.
RECORD_META_KEY = "synthmark_record"
#: Image meta key where :class:`StampSaved` leaves a summary of what it wrote.
STAMPED_META_KEY = "synthmark_stamped"
#: Where ``SaveImage(savepath_in_metadict=True)`` puts the written path (MONAI's
#: ``MetaKeys.SAVED_TO``), spelt out so that this module imports without MONAI.
SAVED_TO = "saved_to"


def _require_monai() -> Any:
    try:
        import monai  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise OptionalDependencyError(
            "the MONAI integration needs MONAI, which is not installed",
            hint="pip install 'synthmark[monai]'",
        ) from exc
    return monai


def _meta(img: Any) -> dict[str, Any]:
    meta = getattr(img, "meta", None)
    if not isinstance(meta, dict):
        raise UsageError(
            "expected a MONAI MetaTensor (an image with .meta)",
            hint="load or create images as monai.data.MetaTensor; mark them with MarkSynthetic",
        )
    return meta


class MarkSynthetic:
    """Watermark a channel-first image and attach its own record to ``img.meta``.

    The record (fresh id, watermark descriptor; see
    :func:`synthmark.integrations.torch.mark_batch`) is kept as canonical JSON under
    :data:`RECORD_META_KEY` for :class:`StampSaved`. An image in which the mark would not
    be detectable is left unchanged, its record without a watermark descriptor, and the
    reason under ``synthmark_watermark_note``.

    Args:
        template: Synthetic record describing the generator.
        key: Watermark key (default: the public detection key).
        strength: Watermark strength.
        slice_dims: Axes of a 2-D slice; ``(1, 2)`` are the (i, j) planes of MONAI's
            ``(C, X, Y[, Z])`` layout, the planes a validator reads from a NIfTI file.
        bits_stored: Significant bits of integer images.
        padding_value: Pixels equal to this value are never changed.
        verify: Also check the mark in memory. Off by default: what counts is the file as
            written, which :class:`StampSaved` checks (and re-marks) anyway, and detection
            costs about as much as embedding.
    """

    def __init__(
        self,
        template: SynthmarkRecord,
        *,
        key: WatermarkKey | None = None,
        strength: float = 1.0,
        slice_dims: tuple[int, int] = (1, 2),
        bits_stored: int | None = None,
        padding_value: float | None = None,
        verify: bool = False,
    ) -> None:
        _require_monai()
        from synthmark.integrations.torch import record_for
        from synthmark.watermark import PUBLIC_DETECTION_KEY

        record_for(template)  # refuse a real template now, not on the first image
        self.template = template
        self.key = key or PUBLIC_DETECTION_KEY
        self.strength = strength
        self.slice_dims = slice_dims
        self.bits_stored = bits_stored
        self.padding_value = padding_value
        self.verify = verify

    def __call__(self, img: Any) -> Any:
        """Return the marked image (a MetaTensor) with its record in ``meta``."""
        import torch

        # Optional dependency: mypy may run where it is absent, hence the ignores.
        from monai.data.meta_tensor import (  # type: ignore[import-not-found,unused-ignore]
            MetaTensor,
        )
        from monai.utils.type_conversion import (  # type: ignore[import-not-found,unused-ignore]
            convert_to_dst_type,
        )

        from synthmark.integrations.torch import mark_tensor, record_for
        from synthmark.record.parsing import canonical_json

        if not isinstance(img, MetaTensor):
            img = MetaTensor(torch.as_tensor(img))
        marked, record, note = mark_tensor(
            img,
            record_for(self.template),
            self.key,
            strength=self.strength,
            slice_dims=self.slice_dims,
            bits_stored=self.bits_stored,
            padding_value=self.padding_value,
            verify=self.verify,
        )
        out: MetaTensor = convert_to_dst_type(marked, img)[0]  # keeps meta and affine
        out.meta[RECORD_META_KEY] = canonical_json(record).decode("utf-8")
        if note is not None:
            out.meta["synthmark_watermark_note"] = note
        return out


def stamp_written(
    path: Path | str,
    record: SynthmarkRecord,
    *,
    key: WatermarkKey | None = None,
    strength: float = 1.0,
    remark: bool = True,
    sign_keys: Sequence[SigningKey] = (),
) -> tuple[StampResult, bool]:
    """Stamp a file written from a marked image, in place, binding the pixels as written.

    When the record claims a watermark, detection runs on the written file first: if the
    mark survived the write (and its payload, when it decodes, is this record's id prefix;
    small volumes may prove presence without decoding it), the record is stamped as it is;
    if not (a cast, rescale or resample destroyed it), the descriptor is dropped and, with
    ``remark``, the written pixels are marked again by :func:`synthmark.api.stamp`, which
    itself refuses to claim a mark it cannot detect.

    Returns:
        (the stamp result, whether the file was re-marked).

    Raises:
        SynthmarkError: when the file cannot be read or written.
    """
    from synthmark.api import stamp
    from synthmark.carriers import open_image
    from synthmark.watermark import PUBLIC_DETECTION_KEY
    from synthmark.watermark.content import detect_content

    path = Path(path)
    key = key or PUBLIC_DETECTION_KEY
    descriptor = record.watermark
    if descriptor is not None and descriptor.key_id == key.key_id:
        found = detect_content(open_image(path).pixels(), [key])
        prefix = record.record_id.bytes[:8]
        if found.detected and (found.payload is None or found.payload.record_id_prefix == prefix):
            return stamp(path, record, in_place=True, sign_keys=sign_keys), False
    unmarked = record.model_copy(update={"watermark": None})
    result = stamp(
        path,
        unmarked,
        in_place=True,
        watermark=key if remark else None,
        strength=strength,
        sign_keys=sign_keys,
    )
    return result, remark and result.record.watermark is not None


class StampSaved:
    """After ``SaveImage(savepath_in_metadict=True)``: stamp the written file in place.

    Reads the path from ``img.meta["saved_to"]`` and the record from
    :data:`RECORD_META_KEY` (set by :class:`MarkSynthetic`), then calls
    :func:`stamp_written`. Leaves ``{"path", "record_id", "watermarked", "remarked",
    "note"}`` under :data:`STAMPED_META_KEY`. The image passes through unchanged.

    Args:
        key: The key the image was marked with (default: the public detection key).
        strength: Strength for re-marking, when the write destroyed the mark.
        remark: Re-mark the written pixels when the mark did not survive the write.
        sign_keys: Sign each record (embedded signature) with these keys.
    """

    def __init__(
        self,
        *,
        key: WatermarkKey | None = None,
        strength: float = 1.0,
        remark: bool = True,
        sign_keys: Sequence[SigningKey] = (),
    ) -> None:
        _require_monai()
        self.key = key
        self.strength = strength
        self.remark = remark
        self.sign_keys = tuple(sign_keys)

    def __call__(self, img: Any) -> Any:
        """Stamp the file ``img`` was saved to; return ``img``."""
        from synthmark.record.parsing import parse_record

        meta = _meta(img)
        saved = meta.get(SAVED_TO)
        if not saved:
            raise UsageError(
                "the image carries no saved_to path: StampSaved must follow SaveImage",
                hint="create SaveImage(..., savepath_in_metadict=True) and put StampSaved after it",
            )
        data = meta.get(RECORD_META_KEY)
        if not isinstance(data, str):
            raise UsageError(
                "the image carries no synthmark record",
                hint="put MarkSynthetic(template) before SaveImage in the pipeline",
            )
        result, remarked = stamp_written(
            Path(str(saved)),
            parse_record(data),
            key=self.key,
            strength=self.strength,
            remark=self.remark,
            sign_keys=self.sign_keys,
        )
        meta[STAMPED_META_KEY] = {
            "path": str(result.dest),
            "record_id": str(result.record.record_id),
            "watermarked": result.record.watermark is not None,
            "remarked": remarked,
            "note": result.watermark_note,
        }
        return img


class _Dict:
    """Apply an array transform to ``keys`` of a data dictionary (MONAI's ``*d`` style)."""

    def __init__(self, keys: Hashable | Iterable[Hashable], transform: Any) -> None:
        if isinstance(keys, str) or not isinstance(keys, Iterable):
            keys = [keys]
        self.keys = list(keys)
        self.transform = transform

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        out = dict(data)
        for key in self.keys:
            out[key] = self.transform(out[key])
        return out


class MarkSyntheticd(_Dict):
    """Dictionary version of :class:`MarkSynthetic` for ``keys``."""

    def __init__(
        self, keys: Hashable | Iterable[Hashable], template: SynthmarkRecord, **options: Any
    ) -> None:
        super().__init__(keys, MarkSynthetic(template, **options))


class StampSavedd(_Dict):
    """Dictionary version of :class:`StampSaved` (after ``SaveImaged``) for ``keys``."""

    def __init__(self, keys: Hashable | Iterable[Hashable], **options: Any) -> None:
        super().__init__(keys, StampSaved(**options))
