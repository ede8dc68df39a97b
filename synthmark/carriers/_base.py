"""The one small protocol every format adapter implements.

A carrier knows one file format: how to recognise it from its first bytes, where a
synthmark record lives in it, which standard fields acknowledge synthetic content, and how
to decode its pixels into the canonical array the content binding hashes
(spec/synthmark.md section 6). It knows nothing about the record model: records travel as
their canonical JSON bytes, plus an :class:`Acknowledgment` summary for the standard fields.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from synthmark.record.models import SynthmarkRecord

Layout = Literal["frames,rows,columns,samples", "i,j,k,t,u,v,w", "rows,columns,samples"]


@dataclass(frozen=True)
class PixelContent:
    """Decoded pixels in canonical form, with the descriptors that the binding covers.

    Attributes:
        array: Stored values (before any rescale), native dtype; DICOM is always 4-D
            ``(frames, rows, columns, samples)``, NIfTI keeps its ``dim`` order with index
            ``[i, j, k, t, ...]``, rasters are ``(rows, columns, samples)``.
        layout: Names the axes of ``array``.
        photometric: Colour model of ``array`` as decoded (``MONOCHROME2``, ``RGB``, ...).
        bits_stored: Significant bits per sample (values above are masked by the decoder).
        slope: Rescale slope to physical units (1.0 when the format has none).
        intercept: Rescale intercept (0.0 when the format has none).
        padding_value: Stored value marking padding (DICOM Pixel Padding Value); never
            changed by the watermark and not part of the binding descriptor.
    """

    array: npt.NDArray[np.generic]
    layout: Layout
    photometric: str
    bits_stored: int
    slope: float = 1.0
    intercept: float = 0.0
    padding_value: float | None = None


@dataclass(frozen=True)
class Acknowledgment:
    """What a carrier writes into the format's *standard* fields, read by tools that do not
    know synthmark. Built by the stamping layer from the record.

    Attributes:
        synthetic: Whether the image is (partly) synthetic.
        source_type: IPTC digital source type URI.
        record_id: The record's UUID, as text.
        summary: One short human-readable sentence (goes to Image Comments / descrip).
        generator_manufacturer: Organisation that made the generator (DICOM Manufacturer).
        generator_name: Generator model name (DICOM Model Name).
        generator_version: Generator version (DICOM Software Versions).
        created: When the synthetic content was made (DICOM Contribution DateTime).
        source_instance_uids: SOP Instance UIDs of real DICOM images a composite was made
            from (DICOM Source Image Sequence).
    """

    synthetic: bool
    source_type: str
    record_id: str
    summary: str
    generator_manufacturer: str | None = None
    generator_name: str | None = None
    generator_version: str | None = None
    created: datetime | None = None
    source_instance_uids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class StandardLabel:
    """What the format's standard fields say about synthetic origin, without synthmark.

    Attributes:
        synthetic: ``True``/``False`` when a standard field says so (DICOM Synthetic Data
            YES/NO), ``None`` when the format has no such field or it is absent.
        evidence: Which fields were read, e.g. ``("SyntheticData=YES",)``; never values
            that could identify a patient.
    """

    synthetic: bool | None
    evidence: tuple[str, ...] = ()


class CarrierFile(abc.ABC):
    """An opened file of one format. Opening reads the header only; pixels on demand."""

    format_name: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = path

    @abc.abstractmethod
    def read_record(self) -> bytes | None:
        """Return the embedded record's JSON bytes, or ``None`` when the file has none.

        Raises:
            CorruptFileError: when a record container exists but cannot be read.
        """

    @abc.abstractmethod
    def standard_label(self, *, evidence: bool = True) -> StandardLabel:
        """Return what the standard (non-synthmark) fields say about synthetic origin.

        With ``evidence=False`` a carrier may skip reading fields that only add evidence
        and never change ``synthetic`` (validation needs the verdict only).
        """

    @abc.abstractmethod
    def pixels(self) -> PixelContent:
        """Decode the pixels into canonical form.

        Raises:
            PixelDecodeError: when no decoder is available or the data is corrupt.
        """

    @abc.abstractmethod
    def write(
        self,
        dest: Path,
        *,
        record_json: bytes | None,
        ack: Acknowledgment | None,
        new_pixels: npt.NDArray[np.generic] | None = None,
    ) -> None:
        """Write a copy of this file carrying the record to ``dest`` (may equal ``self.path``).

        ``record_json`` None keeps whatever record the file has (or none), and ``ack`` None
        leaves the standard fields alone: a pixels-only write, used to watermark a file
        that carries no record.

        ``new_pixels`` (canonical shape and dtype, as :meth:`pixels` returns) replaces the
        pixel data, re-encoded losslessly; when ``None`` the pixel bytes are kept exactly.
        The write is atomic: on failure ``dest`` is as it was.

        Raises:
            EncodeError: when the new pixels cannot be stored losslessly.
            WriteFailedError: on I/O failure.
        """


class Carrier(abc.ABC):
    """A format: recognises files by content and opens them."""

    name: ClassVar[str]
    #: Whether the format can hold the record inside the file (else: sidecar only).
    embeds_record: ClassVar[bool] = True

    @classmethod
    @abc.abstractmethod
    def sniff(cls, head: bytes, path: Path) -> bool:
        """Return whether ``head`` (the file's first 512 bytes) looks like this format."""

    @classmethod
    @abc.abstractmethod
    def open(cls, path: Path) -> CarrierFile:
        """Open ``path`` (header only).

        Raises:
            CorruptFileError: when the header is truncated or malformed.
            InputUnreadableError: on permission or I/O errors.
        """

    @classmethod
    def open_handle(cls, path: Path, handle: BinaryIO, head: bytes, size: int) -> CarrierFile:
        """Open ``path`` given as a handle the caller already read ``head`` from.

        ``size`` is the file's size. A carrier that parses the file itself overrides this to
        parse from ``handle`` (positioned anywhere; seek first), sparing a second open per
        file when a dataset is validated; this default opens ``path`` again.

        Raises:
            The same as :meth:`open`.
        """
        del handle, head, size
        return cls.open(path)


def acknowledgment_for(record: SynthmarkRecord) -> Acknowledgment:
    """What a carrier's standard fields say for a record (DICOM Synthetic Data and the like)."""
    generator = record.generator
    if record.synthetic:
        made_by = f" by {generator.name} {generator.version}" if generator else ""
        summary = (
            f"SYNTHETIC image ({record.digital_source_type.term}){made_by}; "
            f"not a real patient acquisition; synthmark record {record.record_id}"
        )
    else:
        summary = f"Real acquisition; synthmark record {record.record_id}"
    sources: tuple[str, ...] = ()
    if generator is not None:
        sources = tuple(
            s.dicom_sop_instance_uid
            for s in generator.conditioning.sources
            if s.dicom_sop_instance_uid is not None
        )
    return Acknowledgment(
        synthetic=record.synthetic,
        source_type=record.digital_source_type.value,
        record_id=str(record.record_id),
        summary=summary,
        generator_manufacturer=generator.manufacturer if generator else None,
        generator_name=generator.name if generator else None,
        generator_version=generator.version if generator else None,
        created=record.created,
        source_instance_uids=sources,
    )
