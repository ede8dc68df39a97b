"""DICOM carrier: Part-10 files (and bare datasets) read and written with pydicom.

Where things live (normative text: spec/parts/dicom.md):

* the standard acknowledgment: Synthetic Data (0008,001C), Image Type, a Contributing
  Equipment Sequence item with purpose (109100, DCM, "Synthesizing Equipment"), Derivation
  Description, Source Image Sequence and Image Comments;
* the record: a private block in group 0x0099 reserved by the creator ``"SYNTHMARK 1"``
  (found by creator string, at any block position), holding the record's UTF-8 JSON bytes
  in one OB element, its length (UL) and a format version (LO);
* the pixels: decoded by pydicom's pixel backends into stored values, always
  ``(frames, rows, columns, samples)``.

Opening reads the header with large values deferred, so pixel bytes are only read and
decoded by :meth:`DicomFile.pixels` and :meth:`DicomFile.write`.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.datadict import add_private_dict_entries
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import as_pixel_options, compress, pack_bits
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from synthmark.carriers import limits
from synthmark.carriers._base import (
    Acknowledgment,
    Carrier,
    CarrierFile,
    PixelContent,
    StandardLabel,
)
from synthmark.carriers.atomic import atomic_write_with
from synthmark.errors import (
    CorruptFileError,
    EncodeError,
    InputNotFoundError,
    InputUnreadableError,
    PixelDecodeError,
    SynthmarkError,
    WriteFailedError,
)

__all__ = [
    "PRIVATE_CREATOR",
    "PRIVATE_GROUP",
    "RECORD_FORMAT_VERSION",
    "DicomCarrier",
    "DicomFile",
]

#: Odd group of the synthmark private block (PS3.5 §7.8.1; not 0001/0003/0005/0007/FFFF).
PRIVATE_GROUP = 0x0099
#: Private Creator value that reserves the block; the major version is part of the name,
#: so an incompatible layout gets a new creator string rather than a new version element.
PRIVATE_CREATOR = "SYNTHMARK 1"
#: Value of the format-version element (minor revisions of the "SYNTHMARK 1" layout).
RECORD_FORMAT_VERSION = "1.0"

# Element offsets inside the block (the low byte of the element number).
_ELEM_VERSION = 0x01  # LO: format version
_ELEM_LENGTH = 0x02  # UL: record length in bytes, before the even-length pad
_ELEM_RECORD = 0x10  # OB: record, UTF-8 JSON

# Largest value an explicit-VR 32-bit length can hold (0xFFFFFFFF means undefined length)
# minus one for the pad byte; records are kilobytes, so no chunking is ever needed.
_MAX_RECORD_BYTES = 0xFFFFFFFE - 1

# Registering the private dictionary makes implicit-VR files read back with these VRs
# instead of UN; the values are the same bytes either way (OB and UN are both raw bytes).
add_private_dict_entries(
    PRIVATE_CREATOR,
    {
        (PRIVATE_GROUP << 16) | _ELEM_VERSION: ("LO", "1", "Synthmark Record Format Version", ""),
        (PRIVATE_GROUP << 16) | _ELEM_LENGTH: ("UL", "1", "Synthmark Record Length", ""),
        (PRIVATE_GROUP << 16) | _ELEM_RECORD: ("OB", "1", "Synthmark Record", ""),
    },
)

# Exceptions that must never be turned into SynthmarkErrors. Everything else from pydicom
# and its codecs is caught as BaseException: the Rust-based codecs (pylibjpeg-rle,
# pyjpegls) raise pyo3 PanicException, which derives from BaseException, on corrupt data.
_CONTROL_FLOW = (KeyboardInterrupt, SystemExit, GeneratorExit)

# Values larger than this stay on disk until used (pixel data, large private values).
_DEFER_BYTES = 2048
# Files up to this size are parsed from one read into memory (see DicomFile._from_handle).
_SLURP_BYTES = 128 << 10
_PIXEL_DATA = BaseTag(0x7FE00010)

_SYNTHESIZING = ("109100", "DCM", "Synthesizing Equipment")
_SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")
_UNKNOWN_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture, when none is known

# Transfer syntaxes written without encapsulation; byte order and VR explicitness follow
# the syntax, and pydicom deflates on write for the deflated one.
_NATIVE = {
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
}
# Encapsulated syntaxes that pydicom can encode losslessly with the installed plugins.
_LOSSLESS_ENCODABLE = {RLELossless, JPEGLSLossless, JPEG2000Lossless}

# Valid two-letter VRs (PS3.5 Table 6.2-1), for sniffing bare explicit-VR datasets.
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI "
    b"UL UN UR US UT UV".split()
)


@contextlib.contextmanager
def _quiet() -> Iterator[list[warnings.WarningMessage]]:
    # pydicom reports many recoverable oddities as UserWarnings; callers decide what is
    # fatal (e.g. "End of file reached" means truncation), users should not see them raw.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def _plausible_bare_dataset(head: bytes) -> bool:
    """Whether ``head`` starts like a dataset without preamble: a group 0002/0008 element."""
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack(order + "HH", head[:4])
        if group not in (0x0002, 0x0008) or element > 0x0FFF:
            continue
        if head[4:6] in _VRS:  # explicit VR
            return True
        if order == "<":  # implicit VR is always little endian: a sane 32-bit length
            (length,) = struct.unpack("<I", head[4:8])
            if length < 0x10000 and length % 2 == 0:
                return True
    return False


def _text(value: object) -> str:
    """Element value as stripped text (private creators may arrive as UN bytes)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip(" \x00")


class DicomCarrier(Carrier):
    """The DICOM format: Part-10 files, and bare datasets starting with group 0002/0008."""

    name: ClassVar[str] = "dicom"
    embeds_record: ClassVar[bool] = True

    @classmethod
    def sniff(cls, head: bytes, path: Path) -> bool:
        """Return whether ``head`` (the first 512 bytes) is DICOM, by content only.

        Args:
            head: The file's first bytes (up to 512).
            path: Unused: the extension is never trusted.

        Returns:
            ``True`` for ``DICM`` at offset 128, or for a plausible group 0002/0008 element
            at offset 0 (explicit or implicit VR, no preamble).
        """
        del path
        if head[128:132] == b"DICM":
            return True
        return _plausible_bare_dataset(head)

    @classmethod
    def open(cls, path: Path) -> DicomFile:
        """Open ``path``, reading the header only (large values stay on disk).

        Raises:
            InputNotFoundError: when ``path`` does not exist.
            InputUnreadableError: on permission or I/O errors.
            CorruptFileError: when the file is not DICOM, truncated or malformed.
        """
        return DicomFile._open(Path(path))

    @classmethod
    def open_handle(cls, path: Path, handle: BinaryIO, head: bytes, size: int) -> DicomFile:
        """Open ``path`` from a handle the registry already sniffed (see the base class)."""
        try:
            return DicomFile._from_handle(path, handle, head, size)
        except OSError as exc:
            raise InputUnreadableError(f"cannot read: {exc.strerror}", path=path) from exc


class DicomFile(CarrierFile):
    """An opened DICOM file (header read, pixel data deferred).

    Attributes:
        path: The file.
        dataset: The pydicom dataset; large values are read on first access.
    """

    format_name: ClassVar[str] = "dicom"

    def __init__(self, path: Path, dataset: Dataset, *, has_preamble: bool) -> None:
        super().__init__(path)
        self.dataset = dataset
        self._has_preamble = has_preamble

    # ------------------------------------------------------------------ opening

    @classmethod
    def _open(cls, path: Path) -> DicomFile:
        try:
            with path.open("rb") as handle:
                head = handle.read(512)
                size = os.fstat(handle.fileno()).st_size
                return cls._from_handle(path, handle, head, size)
        except FileNotFoundError as exc:
            raise InputNotFoundError("no such file", path=path) from exc
        except IsADirectoryError as exc:
            raise InputUnreadableError("is a directory", path=path, hint="pass a file") from exc
        except OSError as exc:
            raise InputUnreadableError(f"cannot read: {exc.strerror}", path=path) from exc

    @classmethod
    def _from_handle(cls, path: Path, handle: BinaryIO, head: bytes, size: int) -> DicomFile:
        has_preamble = head[128:132] == b"DICM"
        if not has_preamble and not _plausible_bare_dataset(head):
            raise CorruptFileError("not a DICOM file (no DICM prefix, no dataset)", path=path)
        handle.seek(0)
        source: BinaryIO = handle
        if size <= _SLURP_BYTES:
            # pydicom makes hundreds of small read() and tell() calls per header; on an
            # in-memory copy they cost ~15% less in all than on a file (validating a
            # dataset is mostly that). Deferred values are then read from the copy.
            data = handle.read()
            source, size = io.BytesIO(data), len(data)
        dataset = _read_dataset(path, size=size, force=not has_preamble, defer=True, handle=source)
        _check_declared(dataset, path)
        return cls(path, dataset, has_preamble=has_preamble)

    def _full_dataset(self) -> Dataset:
        """A fresh, fully read copy: write() edits it without touching ``self.dataset``."""
        size = _file_size(self.path)
        return _read_dataset(self.path, size=size, force=not self._has_preamble, defer=False)

    @property
    def transfer_syntax(self) -> UID:
        """The transfer syntax UID (from the file meta, else the detected encoding)."""
        return _transfer_syntax(self.dataset)

    # ------------------------------------------------------------------ record

    def read_record(self) -> bytes | None:
        """Return the record bytes from the ``SYNTHMARK 1`` private block, or ``None``.

        Raises:
            CorruptFileError: when the block exists but its record is missing or cut short.
        """
        try:
            block = _private_block_start(self.dataset)
            if block is None:
                return None
            with _quiet():
                return _read_record(self.dataset, self.path, block)
        except SynthmarkError:
            raise
        except _CONTROL_FLOW:
            raise
        except BaseException as exc:  # pydicom raises many types on malformed values
            raise CorruptFileError(
                f"cannot read the synthmark block: {exc}", path=self.path
            ) from exc

    def standard_label(self, *, evidence: bool = True) -> StandardLabel:
        """Return what Synthetic Data, Contributing Equipment and Image Type say.

        Evidence names attributes and coded values only, never free text or identifiers.
        """
        try:
            return _standard_label(self.dataset, evidence=evidence)
        except _CONTROL_FLOW:
            raise
        except BaseException:
            # A malformed header has no trustworthy label; that is not an error here.
            return StandardLabel(synthetic=None, evidence=("unreadable",))

    # ------------------------------------------------------------------ pixels

    def pixels(self) -> PixelContent:
        """Decode the pixel data into stored values, shaped (frames, rows, columns, samples).

        Values are as stored (``raw`` decoding: no YBR→RGB conversion by pydicom; codecs
        that transform colour internally, like JPEG 2000 with MCT, report the decoded model).

        Raises:
            PixelDecodeError: when there is no pixel data, no decoder, or corrupt data.
        """
        with _quiet():
            return _decode(self.dataset, self.path)

    # ------------------------------------------------------------------ writing

    def write(
        self,
        dest: Path,
        *,
        record_json: bytes | None,
        ack: Acknowledgment | None,
        new_pixels: npt.NDArray[np.generic] | None = None,
    ) -> None:
        """Write a copy carrying the record and the standard acknowledgment to ``dest``.

        Without ``new_pixels`` the Pixel Data bytes, the transfer syntax and the SOP Instance
        UID are kept. With ``new_pixels`` the pixels are re-encoded losslessly in the same
        transfer syntax when pydicom can encode it (native, RLE, JPEG-LS lossless, JPEG 2000
        lossless), else as Explicit VR Little Endian, and a new SOP Instance UID is assigned
        (the old one is referenced in the Source Image Sequence).

        Raises:
            EncodeError: when ``new_pixels`` do not fit the image or cannot be encoded.
            CorruptFileError: when the input cannot be read fully.
            WriteFailedError: on I/O failure; ``dest`` is then unchanged.
        """
        dest = Path(dest)
        if record_json is not None and len(record_json) > _MAX_RECORD_BYTES:
            raise EncodeError("record too large for one OB element", path=dest)
        try:
            with _quiet():
                self._write(dest, record_json=record_json, ack=ack, new_pixels=new_pixels)
        except SynthmarkError:
            raise
        except _CONTROL_FLOW:
            raise
        except BaseException as exc:  # malformed values that only fail when edited or encoded
            raise CorruptFileError(
                f"cannot rewrite this DICOM file: {type(exc).__name__}: {exc}", path=self.path
            ) from exc

    def _write(
        self,
        dest: Path,
        *,
        record_json: bytes | None,
        ack: Acknowledgment | None,
        new_pixels: npt.NDArray[np.generic] | None,
    ) -> None:
        ds = self._full_dataset()
        _ensure_file_meta(ds)
        original_uid = str(ds.get("SOPInstanceUID", "") or "")
        sop_class = str(ds.get("SOPClassUID", "") or "") or _UNKNOWN_SOP_CLASS
        tsyntax = _transfer_syntax(ds)
        if new_pixels is not None:
            current = _decode(ds, self.path)
            tsyntax = _replace_pixels(ds, current, new_pixels, tsyntax, self.path)
            new_uid = generate_uid()
            ds.SOPInstanceUID = new_uid
            ds.file_meta.MediaStorageSOPInstanceUID = new_uid
        if ack is not None:
            _apply_acknowledgment(ds, ack, sop_class=sop_class)
        if new_pixels is not None and original_uid:
            _add_source_images(ds, [original_uid], sop_class)
        if record_json is not None:
            _set_private_block(ds, record_json)
        ds.file_meta.TransferSyntaxUID = tsyntax

        def writer(tmp: Path) -> None:
            try:
                with _quiet():
                    pydicom.dcmwrite(
                        tmp,
                        ds,
                        implicit_vr=tsyntax == ImplicitVRLittleEndian,
                        little_endian=tsyntax != ExplicitVRBigEndian,
                        enforce_file_format=True,
                    )
            except OSError:
                raise
            except Exception as exc:  # pydicom: invalid values that cannot be encoded
                raise WriteFailedError(f"cannot encode the dataset: {exc}", path=dest) from exc

        atomic_write_with(dest, writer)


# ---------------------------------------------------------------------- reading helpers


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError as exc:
        raise InputNotFoundError("no such file", path=path) from exc
    except OSError as exc:
        raise InputUnreadableError(f"cannot read: {exc.strerror}", path=path) from exc


def _read_dataset(
    path: Path, *, size: int, force: bool, defer: bool, handle: BinaryIO | None = None
) -> Dataset:
    """Read ``path`` with pydicom and reject what pydicom silently accepts when truncated.

    ``handle``, when given, is ``path`` already open at offset 0: validation opens each
    file once for sniffing and parsing.
    """
    try:
        if handle is None:
            with path.open("rb") as opened:
                return _read_dataset(path, size=size, force=force, defer=defer, handle=opened)
        if _check_deflated(handle, path):
            # pydicom parses an inflated copy, so offsets are not file offsets and deferred
            # values could not be re-read from the file: read it whole (zlib detects damage).
            defer = False
        handle.seek(0)
        with _quiet() as caught:
            ds = pydicom.dcmread(handle, defer_size=_DEFER_BYTES if defer else None, force=force)
            end = handle.tell()
            tsyntax = _transfer_syntax_of(ds)
    except SynthmarkError:
        raise
    except PermissionError as exc:
        raise InputUnreadableError(f"cannot read: {exc.strerror}", path=path) from exc
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise InputUnreadableError(f"cannot read: {exc.strerror}", path=path) from exc
    except MemoryError as exc:
        raise CorruptFileError("malformed DICOM: absurd element length", path=path) from exc
    except _CONTROL_FLOW:
        raise
    except BaseException as exc:  # pydicom raises many types (InvalidDicomError, EOFError, ...)
        raise CorruptFileError(f"malformed DICOM: {type(exc).__name__}: {exc}", path=path) from exc
    if tsyntax == DeflatedExplicitVRLittleEndian:
        if defer:  # deflated, but not said so where _check_deflated looks
            return _read_dataset(path, size=size, force=force, defer=False)
        size = end = 1 << 62
    # dcmread seeks over deferred values, so a parse end past EOF means a cut-off value.
    if end > size:
        raise CorruptFileError("truncated DICOM file (a value runs past the end)", path=path)
    for message in caught:
        if "End of file" in str(message.message) or "truncat" in str(message.message).lower():
            raise CorruptFileError("truncated DICOM file", path=path)
    if len(ds) == 0:
        raise CorruptFileError("no DICOM data elements (truncated or not DICOM)", path=path)
    for elem in ds._dict.values():  # raw top-level elements only, values not converted
        if isinstance(elem, RawDataElement) and elem.length != 0xFFFFFFFF:
            value = elem.value
            if value is None:
                if elem.value_tell + elem.length > size:
                    raise CorruptFileError("truncated DICOM file", path=path)
            elif len(value) < elem.length:
                raise CorruptFileError("truncated DICOM file (short element)", path=path)
    if force and 0x00080016 not in ds._dict and _PIXEL_DATA not in ds._dict:
        # force=True makes pydicom "read" almost any bytes; demand something DICOM-like.
        raise CorruptFileError("no SOP Class UID and no Pixel Data: not DICOM", path=path)
    return ds


# Explicit VRs with a 4-byte length (PS3.5 Table 7.1-1); all others have 2 bytes.
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_DEFLATED = DeflatedExplicitVRLittleEndian.encode("ascii")


def _check_deflated(handle: BinaryIO, path: Path) -> bool:
    """Whether the file meta says Deflated Explicit VR Little Endian; if so, refuse it
    when its dataset inflates past the limit, counted while streaming, before pydicom
    inflates it whole into memory (a bomb of a few megabytes inflates to gigabytes).

    The meta group (always explicit VR little endian) is walked here at byte level; what
    cannot be walked is left to pydicom, which then reports it.
    """
    handle.seek(0)
    head = handle.read(132)
    pos = 132 if head[128:132] == b"DICM" else 0
    handle.seek(pos)
    deflated = False
    for _ in range(256):  # a meta group has a dozen elements
        start = handle.read(8)
        if len(start) < 8:
            return False
        group, element = struct.unpack("<HH", start[:4])
        if group != 0x0002:
            break
        vr = start[4:6]
        if vr in _LONG_VRS:
            extra = handle.read(4)
            if len(extra) < 4:
                return False
            (length,) = struct.unpack("<I", extra)
        elif vr.isalpha() and vr.isupper():
            (length,) = struct.unpack("<H", start[6:8])
        else:
            return False  # not explicit VR: not a meta group pydicom would deflate after
        if length == 0xFFFFFFFF or length > (1 << 20):
            return False
        value = handle.read(length)
        if element == 0x0010:
            deflated = value.rstrip(b"\x00 ") == _DEFLATED
        pos += 8 + (4 if vr in _LONG_VRS else 0) + length
    else:
        return False
    if deflated:
        handle.seek(pos)
        limits.inflated_size(
            handle.read, wbits=-zlib.MAX_WBITS, what="the deflated dataset inflates to", path=path
        )
    return deflated


def _declared_int(ds: Dataset, keyword: str, default: int) -> int:
    try:
        value = ds.get(keyword)
        return default if value is None or value == "" else int(value)
    except _CONTROL_FLOW:
        raise
    except BaseException:  # a malformed value is the decoder's to report
        return default


def _check_declared(ds: Dataset, path: Path) -> None:
    """Refuse, from the header, pixel data that would decode to more values (rows x
    columns x frames x samples) or frames than allowed; pydicom's decoders allocate the
    whole declared array before decoding a byte."""
    if _PIXEL_DATA not in ds._dict:
        return
    with _quiet():
        rows = _declared_int(ds, "Rows", 0)
        columns = _declared_int(ds, "Columns", 0)
        frames = _declared_int(ds, "NumberOfFrames", 1)
        samples = _declared_int(ds, "SamplesPerPixel", 1)
    limits.check_frames(frames, what="Number of Frames declares", path=path)
    limits.check_pixels(
        (rows, columns, frames, samples),
        what=f"Rows x Columns x Number of Frames x Samples per Pixel declare "
        f"{rows} x {columns} x {frames} x {samples} =",
        path=path,
    )


def _transfer_syntax(ds: Dataset) -> UID:
    with _quiet():  # an invalid UID value warns; the decoder reports it properly later
        return _transfer_syntax_of(ds)


def _transfer_syntax_of(ds: Dataset) -> UID:
    """:func:`_transfer_syntax`, for callers that already capture warnings."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        value = meta.get("TransferSyntaxUID")
        if value:
            # Already a UID once pydicom has read the file: building another re-validates it.
            return value if type(value) is UID else UID(str(value))
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian


def _raw_text(ds: Dataset, tag: int, vrs: tuple[str | None, ...]) -> str | None:
    """The stripped text of a still-raw string element, read from its bytes, or ``None``
    when only pydicom's conversion can say (converted, deferred, other VR, non-ASCII).

    Header-only validation reads a few such elements per file, and pydicom's conversion
    (value validation, character sets, MultiValue) costs more than parsing the header.
    ASCII without ESC decodes to the same text in every DICOM character set, and the
    callers only compare the text, so the fast and slow paths agree.
    """
    elem = ds._dict.get(tag)  # type: ignore[call-overload]
    if not isinstance(elem, RawDataElement) or elem.VR not in vrs:
        return None
    value = elem.value
    if value is None or elem.length == 0xFFFFFFFF or not value.isascii() or b"\x1b" in value:
        return None
    return value.decode("ascii").strip(" \x00")


_CREATOR_VRS: tuple[str | None, ...] = (None, "LO", "UN")
_CS_VRS: tuple[str | None, ...] = (None, "CS")
_CREATOR_TAGS = frozenset(range((PRIVATE_GROUP << 16) | 0x10, (PRIVATE_GROUP << 16) | 0x100))
_SYNTHETIC_DATA = 0x0008001C
_IMAGE_TYPE = 0x00080008
_CONTRIBUTING_EQUIPMENT = 0x0018A001


def _private_block_start(ds: Dataset) -> int | None:
    """The block byte (0x10..0xFF) reserved by ``SYNTHMARK 1`` in group 0x0099, or None."""
    # One set intersection instead of 240 lookups: this runs for every validated file.
    for tag in sorted(_CREATOR_TAGS.intersection(ds._dict)):
        text = _raw_text(ds, tag, _CREATOR_VRS)
        if text is None:
            with _quiet():
                text = _text(ds[tag].value)
        if text == PRIVATE_CREATOR:
            return tag & 0xFF
    return None


def _read_record(ds: Dataset, path: Path, block: int) -> bytes:
    base = (PRIVATE_GROUP << 16) | (block << 8)
    record_tag = BaseTag(base | _ELEM_RECORD)
    if record_tag not in ds._dict:
        raise CorruptFileError("synthmark block without a record element", path=path)
    raw = ds._dict[record_tag]
    if isinstance(raw, RawDataElement) and raw.VR in (None, "OB") and raw.value is not None:
        # pydicom's OB conversion returns these very bytes; skipping it saves its overhead.
        data = raw.value
    else:
        value = ds[record_tag].value
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value or b"")
    length_tag = BaseTag(base | _ELEM_LENGTH)
    expected = _raw_ul(ds, length_tag)
    if expected is None and length_tag in ds._dict:
        expected = _record_length(ds[length_tag].value)
    if expected is not None:
        # The length says how much of the value is the record: the value is the record plus
        # at most one pad byte. Anything else means the element was cut or overwritten.
        fits = [n for n in expected if len(data) - n in (0, 1)]
        if not fits:
            raise CorruptFileError(
                f"synthmark record is {len(data)} bytes, its length element says {expected[0]}",
                path=path,
            )
        data = data[: fits[0]]
    elif data.endswith(b"\x00"):
        data = data[:-1]  # the OB pad; JSON text can never end in NUL
    return data


def _raw_ul(ds: Dataset, tag: BaseTag) -> tuple[int, int] | None:
    """:func:`_record_length` of a still-raw single UL value, as pydicom would convert it;
    ``None`` when only pydicom can say (absent, converted, other VR or length)."""
    raw = ds._dict.get(tag)
    # Explicit VR only: implicit VR takes its VR from the private dictionary, which may not
    # apply (then pydicom gives UN bytes, read in both byte orders).
    if not isinstance(raw, RawDataElement) or raw.VR != "UL":
        return None
    if raw.value is None or len(raw.value) != 4:
        return None
    length = int.from_bytes(raw.value, "little" if raw.is_little_endian else "big")
    return length, length


def _record_length(value: object) -> tuple[int, int] | None:
    """UL value as (as-read, byte-swapped); UN bytes when the dictionary was not applied."""
    if isinstance(value, bytes | bytearray):
        if len(value) != 4:
            return None
        little, big = struct.unpack("<I", value)[0], struct.unpack(">I", value)[0]
        return int(little), int(big)
    if isinstance(value, int):
        return value, value
    return None


#: Outcomes of :func:`_synthesizing_equipment` by everything the parse depends on.
_EQUIPMENT_SEEN: dict[tuple[object, ...], bool] = {}
_EQUIPMENT_SEEN_MAX = 256


def _synthesizing_equipment(ds: Dataset) -> bool:
    """Whether a Contributing Equipment item has purpose (109100, DCM); raises on malformed.

    pydicom builds a Dataset per item and per code to answer this, ~130 us a file, which is
    a third of parsing the whole header. The answer (or the exception) is a pure function
    of the raw bytes, their encoding and the character set, and the files of a dataset
    often carry byte-identical sequences (one generator, one stamp), so answers are
    remembered by those; an exception is never remembered, so it is raised every time.
    """
    elem = ds._dict[_CONTRIBUTING_EQUIPMENT]  # type: ignore[index]
    key: tuple[object, ...] | None = None
    if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes):
        key = (elem.value, elem.VR, elem.is_implicit_VR, elem.is_little_endian, _charset_key(ds))
        seen = _EQUIPMENT_SEEN.get(key)
        if seen is not None:
            return seen
    found = False
    with _quiet():
        # Every item and code is read, as before: a malformed later item must still raise.
        for item in ds.get("ContributingEquipmentSequence", None) or []:
            for code in item.get("PurposeOfReferenceCodeSequence", None) or []:
                if (
                    _text(code.get("CodeValue", "")) == _SYNTHESIZING[0]
                    and _text(code.get("CodingSchemeDesignator", "")) == _SYNTHESIZING[1]
                ):
                    found = True
    if key is not None:
        if len(_EQUIPMENT_SEEN) >= _EQUIPMENT_SEEN_MAX:
            _EQUIPMENT_SEEN.clear()
        _EQUIPMENT_SEEN[key] = found
    return found


def _charset_key(ds: Dataset) -> object:
    """What determines the character set pydicom decodes ``ds``'s values with: the raw
    Specific Character Set bytes when still raw (converting them costs more than the
    lookup it keys), else the charset pydicom would pick."""
    elem = ds._dict.get(0x00080005)  # type: ignore[call-overload]
    if elem is None:
        return None
    if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes):
        return (elem.value, elem.VR)
    with _quiet():
        charset = ds.original_character_set or ds._character_set
    return ("converted", charset if isinstance(charset, str) else tuple(charset))


def _standard_label(ds: Dataset, *, evidence: bool = True) -> StandardLabel:
    # Raises on malformed values; the caller turns that into an "unreadable" label.
    found: list[str] = []
    synthetic: bool | None = None
    if _SYNTHETIC_DATA in ds._dict:
        flag = _raw_text(ds, _SYNTHETIC_DATA, _CS_VRS)
        if flag is None:
            with _quiet():
                flag = _text(ds.SyntheticData)
        flag = flag.upper()
        if flag in ("YES", "NO"):
            synthetic = flag == "YES"
            found.append(f"SyntheticData={flag}")
        else:
            found.append("SyntheticData=invalid")  # never echo a free-form value
    if not evidence:
        # Only Synthetic Data decides; the rest is evidence, and parsing the Contributing
        # Equipment sequence (distinct in every stamped file) costs about 130 us a file.
        return StandardLabel(synthetic=synthetic)
    if _CONTRIBUTING_EQUIPMENT in ds._dict and _synthesizing_equipment(ds):
        found.append("ContributingEquipment=109100")
    if _IMAGE_TYPE in ds._dict:
        raw = _raw_text(ds, _IMAGE_TYPE, _CS_VRS)
        if raw is not None:
            # pydicom would split on the backslash; only the first value matters.
            first = raw.split("\\", 1)[0].strip(" \x00")
        else:
            with _quiet():
                image_type = ds.get("ImageType", None)
                first = ""
                if image_type:
                    first = _text(image_type if isinstance(image_type, str) else image_type[0])
        if first.upper() == "DERIVED":
            found.append("ImageType=DERIVED")
    return StandardLabel(synthetic=synthetic, evidence=tuple(found))


# ---------------------------------------------------------------------- pixel helpers


def _decode(ds: Dataset, path: Path) -> PixelContent:
    tsyntax = _transfer_syntax(ds)
    if _PIXEL_DATA not in ds._dict:
        hint = (
            "float/double pixel data are not supported"
            if (0x7FE00008 in ds._dict or 0x7FE00009 in ds._dict)
            else "this DICOM object has no image"
        )
        raise PixelDecodeError("no Pixel Data (7FE0,0010)", path=path, hint=hint)
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        raise PixelDecodeError(
            f"no pixel decoder for transfer syntax {tsyntax.name} ({tsyntax})",
            path=path,
            hint=f"transcode losslessly from {tsyntax.name}, e.g. with dcmtk's dcmdjpeg",
        ) from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise PixelDecodeError(
            f"the decoder for {tsyntax.name} is not installed",
            path=path,
            hint=f"install a plugin for {tsyntax.name} ({tsyntax}): {missing}",
        )
    try:
        with _quiet():
            opts: dict[str, Any] = as_pixel_options(ds)
            array, meta = decoder.as_array(ds, raw=True, validate=True, **opts)
            frames = int(meta.get("number_of_frames", 1) or 1)
            rows = int(meta["rows"])
            columns = int(meta["columns"])
            samples = int(meta.get("samples_per_pixel", 1) or 1)
            photometric = str(meta.get("photometric_interpretation", ds.PhotometricInterpretation))
            bits_stored = int(ds.BitsStored)
            array = array.reshape(frames, rows, columns, samples)
    except SynthmarkError:
        raise
    except _CONTROL_FLOW:
        raise
    except BaseException as exc:  # decoders raise RuntimeError, ValueError, KeyError, ...
        raise PixelDecodeError(
            f"cannot decode {tsyntax.name} pixel data: {exc}",
            path=path,
            hint=f"the {tsyntax.name} ({tsyntax}) data is corrupt or needs another decoder",
        ) from exc
    if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and not np.little_endian):
        array = array.astype(array.dtype.newbyteorder("<"))  # big-endian syntaxes decode as-is
    slope, intercept = _rescale(ds)
    padding: float | None = None
    with contextlib.suppress(TypeError, ValueError):
        raw_padding = ds.get("PixelPaddingValue")
        padding = None if raw_padding is None else float(raw_padding)
    return PixelContent(
        array=array,
        layout="frames,rows,columns,samples",
        photometric=photometric,
        bits_stored=bits_stored,
        slope=slope,
        intercept=intercept,
        padding_value=padding,
    )


def _rescale(ds: Dataset) -> tuple[float, float]:
    """Top-level Rescale Slope/Intercept, else the shared functional group's, else 1/0."""
    source: Dataset = ds
    if "RescaleSlope" not in ds and "SharedFunctionalGroupsSequence" in ds:
        with contextlib.suppress(Exception):
            source = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    try:
        slope = float(source.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(source.get("RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        return 1.0, 0.0
    return slope, intercept


def _replace_pixels(
    ds: Dataset,
    current: PixelContent,
    new_pixels: npt.NDArray[np.generic],
    tsyntax: UID,
    path: Path,
) -> UID:
    """Put ``new_pixels`` into ``ds``; return the transfer syntax to write with."""
    if new_pixels.shape != current.array.shape:
        raise EncodeError(
            f"new pixels have shape {new_pixels.shape}, the image {current.array.shape}",
            path=path,
            hint="pass an array shaped like DicomFile.pixels().array",
        )
    if new_pixels.dtype.newbyteorder("<") != current.array.dtype.newbyteorder("<"):
        raise EncodeError(
            f"new pixels have dtype {new_pixels.dtype}, the image {current.array.dtype}",
            path=path,
            hint="keep the dtype of DicomFile.pixels().array",
        )
    bits = current.bits_stored
    signed = current.array.dtype.kind == "i"
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if new_pixels.size and (int(new_pixels.min()) < low or int(new_pixels.max()) > high):
        raise EncodeError(
            f"new pixel values do not fit in {bits} stored bits",
            path=path,
            hint="clip the watermarked values to the stored range",
        )
    frames, rows, columns, samples = current.array.shape
    arr = np.ascontiguousarray(new_pixels)
    # pydicom's encoders take (rows, columns[, samples]) or (frames, rows, columns[, samples]).
    shaped = arr.reshape(
        ((frames,) if frames > 1 else ()) + (rows, columns) + ((samples,) if samples > 1 else ())
    )
    ds.PhotometricInterpretation = current.photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    if tsyntax in _LOSSLESS_ENCODABLE:
        try:
            with _quiet():
                compress(ds, tsyntax, shaped, generate_instance_uid=False)
            check = _decode(ds, path)
        except SynthmarkError as exc:
            raise EncodeError(f"re-encoding as {tsyntax.name} failed: {exc}", path=path) from exc
        except _CONTROL_FLOW:
            raise
        except BaseException as exc:
            raise EncodeError(
                f"cannot encode {tsyntax.name}: {exc}",
                path=path,
                hint="the codec refused the data; try an uncompressed input",
            ) from exc
        if not np.array_equal(check.array, arr.astype(check.array.dtype)):
            # Paranoia over codec bugs: "lossless" must round-trip bit for bit.
            raise EncodeError(f"{tsyntax.name} round trip is not lossless", path=path)
        return tsyntax
    target = tsyntax if tsyntax in _NATIVE else ExplicitVRLittleEndian
    if target != tsyntax:
        # Encapsulated without an encoder: store native; the Pixel Data becomes defined length.
        for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
            if keyword in ds:
                delattr(ds, keyword)
        if current.photometric in ("YBR_RCT", "YBR_ICT"):
            ds.PhotometricInterpretation = "RGB"
    bits_allocated = int(ds.BitsAllocated)
    if bits_allocated == 1:
        payload = pack_bits(shaped.astype(np.uint8), pad=True)
        ds.PixelData = payload
        ds["PixelData"].VR = "OB"
    else:
        order = ">" if target == ExplicitVRBigEndian else "<"
        dtype = np.dtype(f"{order}{'i' if signed else 'u'}{bits_allocated // 8}")
        payload = np.ascontiguousarray(shaped).astype(dtype).tobytes()
        if len(payload) % 2:
            payload += b"\x00"
        ds.PixelData = payload
        ds["PixelData"].VR = "OB" if bits_allocated <= 8 else "OW"
    ds["PixelData"].is_undefined_length = False
    return target


# ---------------------------------------------------------------------- writing helpers


def _ensure_file_meta(ds: Dataset) -> None:
    """Give a bare dataset the File Meta Information a Part-10 file requires."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = FileMetaDataset()
        ds.file_meta = meta
    if not meta.get("TransferSyntaxUID"):
        meta.TransferSyntaxUID = _transfer_syntax(ds)
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = _UNKNOWN_SOP_CLASS
    if "SOPInstanceUID" not in ds:
        ds.SOPInstanceUID = generate_uid()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # PS3.10: the implementation class identifies whoever wrote the file last.
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]


def _charset_is_utf8(ds: Dataset) -> bool:
    charset = ds.get("SpecificCharacterSet", None)
    if not charset:
        return False
    values = [charset] if isinstance(charset, str) else list(charset)
    return any(_text(v) == "ISO_IR 192" for v in values)


def _prepare_text(ds: Dataset, texts: list[str]) -> bool:
    """Make the dataset able to hold ``texts``; return whether non-ASCII may be written.

    ASCII is a subset of UTF-8, so a dataset in the default repertoire can switch to
    ISO_IR 192 without changing its existing values; any other character set is left alone
    and our values are written as ASCII instead (no silent mojibake).
    """
    if all(t.isascii() for t in texts):
        return True
    if _charset_is_utf8(ds):
        return True
    charset = ds.get("SpecificCharacterSet", None)
    if not charset or _text(charset if isinstance(charset, str) else charset[0]) in (
        "",
        "ISO_IR 6",
    ):
        ds.SpecificCharacterSet = "ISO_IR 192"
        return True
    return False


def _clip(text: str, limit: int, *, ascii_only: bool) -> str:
    if ascii_only:
        text = text.encode("ascii", "replace").decode("ascii")
    # Backslash separates values in DICOM strings; a single value must not contain one.
    return text.replace("\\", "/")[:limit]


def _dicom_datetime(value: datetime) -> str:
    text = value.strftime("%Y%m%d%H%M%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    if value.tzinfo is not None and value.utcoffset() is not None:
        text += value.strftime("%z")
    return text


def _code_item(code: tuple[str, str, str]) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code
    return item


def _apply_acknowledgment(ds: Dataset, ack: Acknowledgment, *, sop_class: str) -> None:
    texts = [
        ack.summary,
        ack.generator_manufacturer or "",
        ack.generator_name or "",
        ack.generator_version or "",
    ]
    ascii_only = not _prepare_text(ds, texts)
    was_yes = _text(ds.get("SyntheticData", "") or "").upper() == "YES"
    # PS3.3: content derived from YES data is expected to be YES; never downgrade.
    synthetic = ack.synthetic or was_yes
    ds.SyntheticData = "YES" if synthetic else "NO"
    if synthetic:
        values = [_text(v) for v in (ds.get("ImageType", None) or [])]
        values = [*values, "", ""][: max(2, len(values))]
        values[0], values[1] = "DERIVED", "SECONDARY"
        ds.ImageType = values
    if ack.synthetic:
        _add_synthesizing_equipment(ds, ack, ascii_only=ascii_only)
        ours = _clip(
            f"{ack.summary} [synthmark record {ack.record_id}]", 1024, ascii_only=ascii_only
        )
        old = str(ds.get("DerivationDescription", "") or "")
        if ours not in old:
            ds.DerivationDescription = (f"{old}; {ours}" if old else ours)[:1024]
    if ack.summary:
        summary = _clip(ack.summary, 10240, ascii_only=ascii_only)
        old_comments = str(ds.get("ImageComments", "") or "")
        if summary not in old_comments:
            ds.ImageComments = (f"{old_comments}; {summary}" if old_comments else summary)[:10240]
    if ack.source_instance_uids:
        _add_source_images(ds, list(ack.source_instance_uids), sop_class)


def _add_synthesizing_equipment(ds: Dataset, ack: Acknowledgment, *, ascii_only: bool) -> None:
    item = Dataset()
    # Manufacturer is Type 1 in the Contributing Equipment Sequence.
    item.Manufacturer = _clip(ack.generator_manufacturer or "unknown", 64, ascii_only=ascii_only)
    if ack.generator_name:
        item.ManufacturerModelName = _clip(ack.generator_name, 64, ascii_only=ascii_only)
    if ack.generator_version:
        item.SoftwareVersions = _clip(ack.generator_version, 64, ascii_only=ascii_only)
    if ack.created is not None:
        item.ContributionDateTime = _dicom_datetime(ack.created)
    item.ContributionDescription = _clip(
        f"{ack.summary} [synthmark record {ack.record_id}]", 1024, ascii_only=ascii_only
    )
    item.PurposeOfReferenceCodeSequence = Sequence([_code_item(_SYNTHESIZING)])
    existing = ds.get("ContributingEquipmentSequence", None)
    items = list(existing) if existing else []
    if any(_same_item(old, item) for old in items):
        return  # re-stamping with the same acknowledgment must not pile up items
    items.append(item)
    ds.ContributingEquipmentSequence = Sequence(items)


def _same_item(a: Dataset, b: Dataset) -> bool:
    keys = (
        "Manufacturer",
        "ManufacturerModelName",
        "SoftwareVersions",
        "ContributionDateTime",
        "ContributionDescription",
    )
    return all(str(a.get(k, "")) == str(b.get(k, "")) for k in keys)


def _add_source_images(ds: Dataset, uids: list[str], sop_class: str) -> None:
    existing = ds.get("SourceImageSequence", None)
    items = list(existing) if existing else []
    known = {str(i.get("ReferencedSOPInstanceUID", "")) for i in items}
    for uid in uids:
        if uid in known:
            continue
        item = Dataset()
        # The source's class is not in the acknowledgment; the input's class is the best
        # available value (composites are usually made from the same kind of image).
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = uid
        item.PurposeOfReferenceCodeSequence = Sequence([_code_item(_SOURCE_PURPOSE)])
        items.append(item)
        known.add(uid)
    ds.SourceImageSequence = Sequence(items)


def _set_private_block(ds: Dataset, record_json: bytes) -> None:
    # Drop every earlier SYNTHMARK 1 block (there should be at most one) before writing.
    while (block := _private_block_start(ds)) is not None:
        base = (PRIVATE_GROUP << 16) | (block << 8)
        for tag in [t for t in ds._dict if base <= t <= base | 0xFF]:
            del ds[tag]
        del ds[BaseTag((PRIVATE_GROUP << 16) | block)]
    private = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    private.add_new(_ELEM_VERSION, "LO", RECORD_FORMAT_VERSION)
    private.add_new(_ELEM_LENGTH, "UL", len(record_json))
    payload = record_json + (b"\x00" if len(record_json) % 2 else b"")
    private.add_new(_ELEM_RECORD, "OB", payload)
