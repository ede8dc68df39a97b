"""Watermark generated tensors where they are made, and issue one record per image.

A generator's sampling loop ends with a batch of tensors on its device. :func:`mark_batch`
embeds the synthmark watermark in each image there (no copy to host unless the device is
the CPU anyway) with a payload derived from a fresh record id, and returns the records:
the template's content with that id and the watermark descriptor. The binding is left
empty on purpose: it is computed when the image is written and stamped
(:func:`synthmark.api.stamp` with the record), because writing may change the pixels
(casting, rescaling, resampling).

Spec section 7, rule 3: after embedding, detection runs with the embedding key; an image
in which the mark would not be found (too small, too flat, too noisy) is returned
unmarked and its record carries no watermark descriptor.

torch is imported when a function here is called, never at import time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synthmark.errors import UsageError
from synthmark.record.models import SynthmarkRecord, WatermarkDescriptor

if TYPE_CHECKING:
    import torch

    from synthmark.watermark import WatermarkKey

__all__ = ["MarkedBatch", "mark_batch", "mark_tensor", "record_for"]


def record_for(template: SynthmarkRecord, *, record_id: uuid.UUID | None = None) -> SynthmarkRecord:
    """A per-image record from ``template``: a fresh id, no binding, watermark or signature.

    A record describes exactly one image, so every generated image gets its own id. The
    template's binding, watermark descriptor and signature belonged to another image (or to
    none), and a signature would no longer verify after the id changes, so they are
    dropped; stamping fills in the binding (and signs, when asked).

    Raises:
        UsageError: when the template is not a synthetic record (real images are never
            marked: the mark means "synthetic").
    """
    if not template.synthetic:
        raise UsageError(
            "the record template says the images are real; only synthetic images are marked",
            hint="use a synthetic record template (see spec/examples/)",
        )
    return template.model_copy(
        update={
            "record_id": record_id or uuid.uuid4(),
            "binding": None,
            "watermark": None,
            "signature": None,
        }
    )


@dataclass(frozen=True)
class MarkedBatch:
    """What :func:`mark_batch` produced.

    Attributes:
        images: The marked images, same kind (one tensor or a list), shapes, dtypes and
            devices as given.
        records: One record per image, in order; ``watermark`` is set when the image was
            marked.
        notes: Per image, why it was left unmarked, or None.
    """

    images: torch.Tensor | list[torch.Tensor]
    records: list[SynthmarkRecord]
    notes: list[str | None]

    @property
    def marked(self) -> int:
        """Number of images that carry the mark."""
        return sum(1 for r in self.records if r.watermark is not None)


def _axes(ndim: int, slice_dims: tuple[int, int], channel_axis: int | None) -> list[int]:
    """Permutation putting the other axes first, then the slice plane, then colour."""
    named = [*slice_dims, *(() if channel_axis is None else (channel_axis,))]
    if any(not -ndim <= d < ndim for d in named):
        raise UsageError(
            f"slice_dims {slice_dims} / channel_axis {channel_axis} do not fit a {ndim}-D image"
        )
    normalised = [d % ndim for d in named]
    if len(set(normalised)) != len(normalised):
        raise UsageError("slice_dims and channel_axis must name different axes")
    return [d for d in range(ndim) if d not in normalised] + normalised


def mark_tensor(
    image: torch.Tensor,
    record: SynthmarkRecord,
    key: WatermarkKey,
    *,
    strength: float = 1.0,
    slice_dims: tuple[int, int] = (-2, -1),
    channel_axis: int | None = None,
    bits_stored: int | None = None,
    padding_value: float | None = None,
    verify: bool = True,
) -> tuple[torch.Tensor, SynthmarkRecord, str | None]:
    """Mark one image with the payload of ``record``'s id (see :func:`mark_batch`).

    Returns:
        (image, record with the watermark descriptor, None) when marked, or (the image
        unchanged, ``record`` unchanged, why) when the mark would not be detectable. The
        image comes back detached from autograd either way: the mark is not differentiable.
    """
    import torch

    from synthmark.watermark import detect, embed
    from synthmark.watermark.content import WATERMARK_SCHEME, payload_for

    if image.ndim < 2:
        raise UsageError(f"an image has at least 2 dimensions, got shape {tuple(image.shape)}")
    # A plain tensor: subclasses (MONAI's MetaTensor) would track every reshape below.
    plain = image.detach().as_subclass(torch.Tensor)
    order = _axes(plain.ndim, slice_dims, channel_axis)
    moved = plain.permute(order)
    colour = channel_axis is not None
    plane = tuple(moved.shape[-3:] if colour else moved.shape[-2:])
    stack = moved.reshape(-1, *plane)
    # The payload is the record id prefix, as stamp writes it (spec section 7).
    payload = payload_for(record.record_id)
    with torch.no_grad():
        marked = embed(
            stack,
            key,
            payload,
            strength=strength,
            bits_stored=bits_stored,
            padding_value=padding_value,
            channel_axis=-1 if colour else None,
        )
        if verify:
            check = detect(marked, [key], channel_axis=-1 if colour else None)
            if not check.detected:
                return (
                    image.detach(),
                    record,
                    f"not watermarked: the mark would not be detectable in this image at "
                    f"strength {strength} (z = {check.z:.1f}; too small, flat or noisy)",
                )
    inverse = sorted(range(len(order)), key=order.__getitem__)
    restored = marked.reshape(moved.shape).permute(inverse).contiguous()
    descriptor = WatermarkDescriptor(
        scheme=WATERMARK_SCHEME,
        key_id=key.key_id,
        payload_hex=record.record_id.bytes[:8].hex(),
        strength=strength,
    )
    return restored, record.model_copy(update={"watermark": descriptor}), None


def mark_batch(
    images: torch.Tensor | Sequence[torch.Tensor],
    template: SynthmarkRecord,
    *,
    key: WatermarkKey | None = None,
    strength: float = 1.0,
    slice_dims: tuple[int, int] = (-2, -1),
    channel_axis: int | None = None,
    bits_stored: int | None = None,
    padding_value: float | None = None,
    verify: bool = True,
) -> MarkedBatch:
    """Watermark a batch of generated images on their device; one record per image.

    Each image gets a record made from ``template`` (:func:`record_for`: fresh record id)
    and the watermark with that id's 8-byte prefix as payload, then a record watermark
    descriptor naming the key, payload and strength. Write each image, then stamp the
    written file with its record (``synthmark.api.stamp(path, record, in_place=True)``):
    the binding must cover the pixels as written.

    Args:
        images: A tensor whose first axis is the batch, or a sequence of tensors (shapes
            may differ). Any device and dtype the watermark supports (floating or integer).
        template: A synthetic record describing the generator (its id is not reused).
        key: Watermark key (default: the public detection key, detectable by anyone).
        strength: Watermark strength (1.0: about 2 native units RMS on deep data).
        slice_dims: The two axes of one image that form a 2-D slice; every other axis
            (except ``channel_axis``) indexes slices. ``(-2, -1)`` suits ``(C, H, W)`` and
            ``(D, H, W)``; for MONAI's channel-first ``(C, X, Y, Z)`` volumes written as
            NIfTI use ``(1, 2)``, the planes a validator reads from the file.
        channel_axis: Axis of colour samples (RGB), if any, within one image.
        bits_stored: Significant bits of integer images (e.g. 12), default the dtype's.
        padding_value: Pixels equal to this value are never changed.
        verify: Check each mark by detection; an undetectable one is not embedded.

    Returns:
        The marked images (same kind, shapes, dtypes and devices), records and notes.

    Raises:
        UsageError: on a real template, an empty batch or axes that do not fit.
    """
    import torch

    from synthmark.watermark import PUBLIC_DETECTION_KEY

    key = key or PUBLIC_DETECTION_KEY
    if not 0 < strength <= 16:
        raise UsageError(f"strength must be in (0, 16], got {strength}")
    batch = list(images.unbind(0)) if isinstance(images, torch.Tensor) else list(images)
    if not batch:
        raise UsageError("the batch is empty")
    out: list[torch.Tensor] = []
    records: list[SynthmarkRecord] = []
    notes: list[str | None] = []
    for image in batch:
        marked, record, note = mark_tensor(
            image,
            record_for(template),
            key,
            strength=strength,
            slice_dims=slice_dims,
            channel_axis=channel_axis,
            bits_stored=bits_stored,
            padding_value=padding_value,
            verify=verify,
        )
        out.append(marked)
        records.append(record)
        notes.append(note)
    if isinstance(images, torch.Tensor):
        return MarkedBatch(torch.stack(out), records, notes)
    return MarkedBatch(out, records, notes)
