"""NIfTI-1 and NIfTI-2 single-file carrier (``.nii`` and ``.nii.gz``); spec/parts/nifti.md.

The record travels in a header extension with the registered code 6 ("comment"), whose
content is the text ``synthmark-record/1 <length>\\n`` followed by the record's JSON bytes
and one ``\\n``. The length prefix makes the payload exact whatever padding a writer adds
(nibabel strips trailing NULs on read; other writers pad with NULs or spaces).

Headers and extensions are parsed and written here at byte level, with nibabel's header
classes only decoding the fixed fields: a stamp must keep every other byte of the file (other
extensions, unknown header bytes, the voxel data) exactly, and nibabel's image writer would
re-scale and re-serialise the data. Voxel data is read with nibabel's ``array_from_file``
(memory-mapped for plain files), unscaled and in the on-disk dtype.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar, Literal, cast

import numpy as np
import numpy.typing as npt
from nibabel.nifti1 import Nifti1Header
from nibabel.nifti2 import Nifti2Header
from nibabel.volumeutils import array_from_file

from synthmark.carriers import limits
from synthmark.carriers._base import (
    Acknowledgment,
    Carrier,
    CarrierFile,
    PixelContent,
    StandardLabel,
)
from synthmark.carriers.atomic import atomic_writer
from synthmark.errors import (
    CorruptFileError,
    EncodeError,
    InputNotFoundError,
    InputUnreadableError,
    PixelDecodeError,
    ResourceLimitError,
    UnsupportedFormatError,
)

#: Extension code of the synthmark record: NIFTI_ECODE_COMMENT (no registered code is JSON).
SYNTHMARK_ECODE = 6
#: First bytes of a synthmark extension's content; the version follows the slash.
EXTENSION_MAGIC = b"synthmark-record/"
EXTENSION_VERSION = b"1"
#: ``descrip`` starts with one of these when synthmark wrote it (spec/parts/nifti.md).
DESCRIP_SYNTHETIC = "SYNTHETIC"
DESCRIP_NOT_SYNTHETIC = "NOT-SYNTHETIC"
#: ``aux_file`` prefix written by synthmark.
AUX_PREFIX = "synthmark:"

_GZIP_MAGIC = b"\x1f\x8b"
_DESCRIP_MAX = 79  # char[80] and a terminating NUL for C readers
_AUX_MAX = 23  # char[24] and a terminating NUL
# Extensions larger than this are not plausible; it bounds what a corrupt vox_offset can
# make open() read from a gzip stream.
_MAX_HEADER_BYTES = 64 << 20
_COPY_CHUNK = 1 << 20
_LENGTH_LINE = re.compile(rb"(?P<version>[0-9A-Za-z.]+) (?P<length>[0-9]{1,12})\n")

HeaderClass = type[Nifti1Header] | type[Nifti2Header]


@dataclass(frozen=True)
class _Extension:
    """One header extension as stored: code and the ``esize - 8`` bytes after its head."""

    code: int
    content: bytes

    def is_synthmark(self) -> bool:
        return self.code == SYNTHMARK_ECODE and self.content.startswith(EXTENSION_MAGIC)


def encode_extension_content(record_json: bytes) -> bytes:
    """Return the extension content for ``record_json`` (before padding to 16 bytes).

    Args:
        record_json: The record's canonical JSON bytes, stored unchanged.

    Returns:
        ``b"synthmark-record/1 <len>\\n" + record_json + b"\\n"``.
    """
    length = str(len(record_json)).encode("ascii")
    return EXTENSION_MAGIC + EXTENSION_VERSION + b" " + length + b"\n" + record_json + b"\n"


def decode_extension_content(content: bytes) -> bytes:
    """Return the record JSON bytes held by a synthmark extension's ``content``.

    Trailing NULs, spaces and newlines after the payload are padding and are ignored.

    Raises:
        CorruptFileError: when the framing is malformed, truncated or of another version.
    """
    match = _LENGTH_LINE.match(content, len(EXTENSION_MAGIC))
    if match is None:
        raise CorruptFileError("the synthmark NIfTI extension has a malformed first line")
    if match.group("version") != EXTENSION_VERSION:
        version = match.group("version").decode("ascii")
        raise CorruptFileError(
            f"the synthmark NIfTI extension has unsupported version {version}",
            hint="upgrade synthmark",
        )
    start = match.end()
    end = start + int(match.group("length"))
    if end > len(content):
        raise CorruptFileError("the synthmark NIfTI extension is truncated")
    if content[end:].strip(b"\x00 \n\r\t"):
        raise CorruptFileError("the synthmark NIfTI extension has bytes after its record")
    return content[start:end]


def _is_gzip(head: bytes) -> bool:
    return head[:2] == _GZIP_MAGIC


def _header_kind(head: bytes) -> tuple[HeaderClass, str, bool] | None:
    """Return (header class, byte order, single-file?) when ``head`` starts a NIfTI header."""
    if len(head) < 8:
        return None
    for order in ("<", ">"):
        (sizeof_hdr,) = struct.unpack(order + "i", head[:4])
        if sizeof_hdr == 348 and len(head) >= 348:
            magic = head[344:348]
            if magic in (b"n+1\x00", b"ni1\x00"):
                return Nifti1Header, order, magic == b"n+1\x00"
        elif sizeof_hdr == 540:
            magic = head[4:8]
            if magic in (b"n+2\x00", b"ni2\x00"):
                return Nifti2Header, order, magic == b"n+2\x00"
    return None


def _gunzip_head(head: bytes, path: Path) -> bytes:
    # The header is mostly zeros and usually compresses into the sniffed bytes; otherwise
    # read the start of the stream from the file.
    try:
        out = zlib.decompressobj(wbits=31).decompress(head, 544)
    except zlib.error:
        return b""
    if len(out) >= 348:
        return out
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read(544)
    except (OSError, EOFError, zlib.error):
        return out


def _open_stream(path: Path, gzipped: bool) -> io.BufferedIOBase:
    if gzipped:
        return gzip.GzipFile(path, "rb")
    return open(path, "rb")  # callers close it


def _read_exact(stream: io.BufferedIOBase, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CorruptFileError("the NIfTI header or its extensions are truncated")
    return data


def _parse_extensions(block: bytes, start: int, order: str) -> list[_Extension]:
    """Parse the extensions in ``block[start:]`` (``block`` ends at ``vox_offset``)."""
    if len(block) < start + 4 or block[start] == 0:
        return []
    extensions: list[_Extension] = []
    pos = start + 4
    while pos + 8 <= len(block):
        esize, ecode = struct.unpack(order + "ii", block[pos : pos + 8])
        if esize == 0 and ecode == 0:
            break  # zero fill between the last extension and the data
        if esize < 8 or pos + esize > len(block):
            raise CorruptFileError(f"NIfTI extension at byte {pos} has an invalid size {esize}")
        extensions.append(_Extension(code=ecode, content=block[pos + 8 : pos + esize]))
        pos += esize
    return extensions


def _ascii_field(value: object) -> str:
    raw = value.tobytes() if isinstance(value, np.ndarray) else value
    data = bytes(raw) if isinstance(raw, bytes | bytearray) else b""
    return data.split(b"\x00", 1)[0].decode("ascii", errors="replace")


def _plain_ascii(text: str) -> str:
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def acknowledgment_text(ack: Acknowledgment) -> tuple[bytes, bytes]:
    """Return the ``descrip`` and ``aux_file`` bytes synthmark writes for ``ack``.

    ``descrip`` is ``SYNTHETIC <source type> synthmark <record id prefix>`` (or
    ``NOT-SYNTHETIC ...``), at most 79 ASCII bytes; ``aux_file`` is ``synthmark:<id8>``.
    The source type is the last path segment of the IPTC URI, e.g.
    ``trainedAlgorithmicMedia``.
    """
    flag = DESCRIP_SYNTHETIC if ack.synthetic else DESCRIP_NOT_SYNTHETIC
    source = _plain_ascii(ack.source_type.rstrip("/").rsplit("/", 1)[-1]).replace(" ", "_")
    record_id = _plain_ascii(ack.record_id).replace(" ", "_")
    tail = f" synthmark {record_id[:8]}"
    room = _DESCRIP_MAX - len(flag) - 1 - len(tail)
    descrip = f"{flag} {source[: max(room, 0)]}{tail}"[:_DESCRIP_MAX]
    aux = f"{AUX_PREFIX}{record_id[:8]}"[:_AUX_MAX]
    return descrip.encode("ascii"), aux.encode("ascii")


def _normalise_scaling(slope: float, inter: float) -> tuple[float, float]:
    # NIfTI-1: scaling applies only when scl_slope is nonzero; NaN/inf mean "unset".
    if not math.isfinite(slope) or slope == 0.0:
        return 1.0, 0.0
    return slope, inter if math.isfinite(inter) else 0.0


def _same_type(a: np.dtype[np.generic], b: np.dtype[np.generic]) -> bool:
    return a.kind == b.kind and a.itemsize == b.itemsize and a.names == b.names


class NiftiFile(CarrierFile):
    """An opened NIfTI-1/NIfTI-2 single file; the header and extensions are read at open."""

    format_name: ClassVar[str] = "nifti"

    def __init__(
        self,
        path: Path,
        *,
        gzipped: bool,
        header: Nifti1Header,
        header_size: int,
        extensions: list[_Extension],
        vox_offset: int,
    ) -> None:
        super().__init__(path)
        self.gzipped = gzipped
        self.header = header
        self.header_size = header_size
        self.extensions = extensions
        self.vox_offset = vox_offset
        self.nifti_version: Literal[1, 2] = 2 if isinstance(header, Nifti2Header) else 1
        # nibabel's header methods are unannotated.
        shape = header.get_data_shape()  # type: ignore[no-untyped-call]
        self.shape: tuple[int, ...] = tuple(int(n) for n in shape)
        self.dtype: np.dtype[np.generic] = np.dtype(header.get_data_dtype())  # type: ignore[no-untyped-call]

    @property
    def data_nbytes(self) -> int:
        """Size in bytes of the voxel data the header describes."""
        return math.prod(self.shape) * self.dtype.itemsize

    def read_record(self) -> bytes | None:
        """Return the record JSON from the synthmark comment extension, or ``None``.

        Raises:
            CorruptFileError: when the extension is malformed or there is more than one.
        """
        ours = [ext for ext in self.extensions if ext.is_synthmark()]
        if not ours:
            return None
        if len(ours) > 1:
            raise CorruptFileError(
                f"{len(ours)} synthmark extensions; a file must carry at most one",
                hint="re-stamp the file",
                path=self.path,
            )
        try:
            return decode_extension_content(ours[0].content)
        except CorruptFileError as exc:
            exc.path = self.path
            raise

    def standard_label(self, *, evidence: bool = True) -> StandardLabel:
        """NIfTI has no standard synthetic flag; read synthmark's own ``descrip``/``aux_file``.

        ``descrip`` starting ``SYNTHETIC `` / ``NOT-SYNTHETIC `` and containing
        `` synthmark `` gives ``True``/``False`` (evidence ``descrip``); an ``aux_file`` of
        ``synthmark:...`` alone is reported as evidence with ``synthetic=None``. Reading both
        is cheap, so ``evidence`` changes nothing here.
        """
        del evidence
        descrip = _ascii_field(self.header["descrip"])
        aux = _ascii_field(self.header["aux_file"])
        found: list[str] = []
        synthetic: bool | None = None
        words = descrip.split()
        if len(words) >= 3 and "synthmark" in words[2:]:
            if words[0] == DESCRIP_SYNTHETIC:
                synthetic = True
                found.append("descrip")
            elif words[0] == DESCRIP_NOT_SYNTHETIC:
                synthetic = False
                found.append("descrip")
        if aux.startswith(AUX_PREFIX):
            found.append("aux_file")
        return StandardLabel(synthetic=synthetic, evidence=tuple(found))

    def pixels(self) -> PixelContent:
        """Return the stored (unscaled) voxel values in the header's ``dim`` order.

        RGB24 / RGBA32 data become ``uint8`` arrays with a last axis of 3 / 4 samples and
        photometric ``RGB`` / ``RGBA``; scalar data are ``MONOCHROME2`` with
        ``bits_stored = itemsize * 8``.

        Raises:
            PixelDecodeError: when the data are truncated or unreadable.
        """
        try:
            with _open_stream(self.path, self.gzipped) as stream:
                if self.gzipped:
                    raw = self._inflate_voxels(stream)
                else:
                    # mmap for plain files: the map outlives the stream and stays lazy.
                    raw = array_from_file(
                        self.shape, self.dtype, stream, self.vox_offset, order="F", mmap="r"
                    )
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise PixelDecodeError(
                f"cannot read the NIfTI voxel data: {exc}",
                hint="the file is truncated or corrupt; restore it from its source",
                path=self.path,
            ) from exc
        array: npt.NDArray[np.generic] = np.asanyarray(raw)
        names = self.dtype.names
        if names is not None:
            # RGB24 / RGBA32: a structured dtype of u1 fields; make samples the last axis.
            fields = cast("npt.NDArray[np.void]", raw)
            array = np.stack([fields[name] for name in names], axis=-1)
            photometric = "RGBA" if len(names) == 4 else "RGB"
            return PixelContent(array, "i,j,k,t,u,v,w", photometric, 8)
        slope, inter = _normalise_scaling(
            float(self.header["scl_slope"]), float(self.header["scl_inter"])
        )
        return PixelContent(
            array, "i,j,k,t,u,v,w", "MONOCHROME2", self.dtype.itemsize * 8, slope, inter
        )

    def _inflate_voxels(self, stream: io.BufferedIOBase) -> npt.NDArray[np.generic]:
        """Read the declared voxels from the gzip stream into an array filled as the stream
        inflates: memory grows with the data actually there, not with what the header
        declares (a tiny file may declare a gigabyte; nibabel zero-fills it all first)."""
        stream.seek(self.vox_offset)
        buffer = np.empty(self.data_nbytes, dtype=np.uint8)  # pages untouched until read
        view = memoryview(buffer.data)
        filled = 0
        while filled < self.data_nbytes:
            read = stream.readinto(view[filled : filled + _COPY_CHUNK * 16])
            if not read:
                raise EOFError(
                    f"the voxel data are truncated ({filled} of {self.data_nbytes} bytes)"
                )
            filled += read
        return buffer.view(self.dtype).reshape(self.shape, order="F")

    def _encode_pixels(self, new_pixels: npt.NDArray[np.generic]) -> bytes:
        names = self.dtype.names
        expected_shape = self.shape + ((len(names),) if names is not None else ())
        if names is not None:
            expected: np.dtype[np.generic] = np.dtype(np.uint8)
        else:
            expected = self.dtype
        if new_pixels.shape != expected_shape or not _same_type(new_pixels.dtype, expected):
            raise EncodeError(
                f"new pixels are {new_pixels.dtype.str} {new_pixels.shape}, the file stores "
                f"{expected.str} {expected_shape}",
                hint="keep the shape and dtype that pixels() returns",
                path=self.path,
            )
        if names is not None:
            disk = np.empty(self.shape, dtype=self.dtype)
            for index, name in enumerate(names):
                disk[name] = new_pixels[..., index]
            return disk.tobytes(order="F")
        return np.asarray(new_pixels, dtype=self.dtype).tobytes(order="F")

    def write(
        self,
        dest: Path,
        *,
        record_json: bytes | None,
        ack: Acknowledgment | None,
        new_pixels: npt.NDArray[np.generic] | None = None,
    ) -> None:
        """Write a copy carrying the record extension and the acknowledgment text.

        Every other header byte and extension is kept; an existing synthmark extension is
        replaced in place. The output is gzip-compressed exactly when the input is,
        whatever ``dest`` is called. Voxel bytes are copied unchanged unless ``new_pixels``
        is given, which must have the shape and dtype :meth:`pixels` returns; they are
        stored raw, so ``scl_slope``/``scl_inter`` keep their meaning.

        Raises:
            EncodeError: when ``new_pixels`` has another shape or dtype.
            CorruptFileError: when the input's voxel data are truncated.
            WriteFailedError: on I/O failure; ``dest`` is then as it was.
        """
        data = None if new_pixels is None else self._encode_pixels(new_pixels)
        extensions: list[_Extension] = []
        if record_json is None:
            extensions = list(self.extensions)
        else:
            ours = _Extension(SYNTHMARK_ECODE, encode_extension_content(record_json))
            placed = False
            for ext in self.extensions:
                if ext.is_synthmark():
                    if not placed:
                        extensions.append(ours)
                        placed = True
                else:
                    extensions.append(ext)
            if not placed:
                extensions.append(ours)
        header_bytes = self._header_bytes(extensions, ack)
        with atomic_writer(dest) as handle:
            out: BinaryIO | gzip.GzipFile
            if self.gzipped:
                out = gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0)
            else:
                out = handle
            try:
                out.write(header_bytes)
                if data is not None:
                    out.write(data)
                else:
                    self._copy_voxels(out)
            finally:
                if out is not handle:
                    out.close()

    def _header_bytes(self, extensions: list[_Extension], ack: Acknowledgment | None) -> bytes:
        order = self.header.endianness
        blobs: list[bytes] = []
        for ext in extensions:
            esize = -(-(len(ext.content) + 8) // 16) * 16
            padding = b"\x00" * (esize - 8 - len(ext.content))
            blobs.append(struct.pack(order + "ii", esize, ext.code) + ext.content + padding)
        body = b"".join(blobs)
        vox_offset = self.header_size + 4 + len(body)
        if self.nifti_version == 1 and float(np.float32(vox_offset)) != vox_offset:
            raise EncodeError("the extensions are too large for a NIfTI-1 vox_offset")
        header = self.header.copy()  # type: ignore[no-untyped-call]
        if ack is not None:
            descrip, aux = acknowledgment_text(ack)
            header["descrip"] = descrip
            header["aux_file"] = aux
        header["vox_offset"] = vox_offset
        extender = b"\x01\x00\x00\x00" if extensions else b"\x00\x00\x00\x00"
        block: bytes = header.binaryblock
        return block + extender + body

    def _copy_voxels(self, out: BinaryIO | gzip.GzipFile) -> None:
        # Copy from vox_offset to the end unchanged (trailing bytes included).
        copied = 0
        try:
            with _open_stream(self.path, self.gzipped) as src:
                src.seek(self.vox_offset)
                for chunk in iter(lambda: src.read(_COPY_CHUNK), b""):
                    out.write(chunk)
                    copied += len(chunk)
                    if self.gzipped:
                        # Trailing bytes past the declared data are copied too: count them.
                        limits.check_decompressed(
                            self.vox_offset + copied,
                            what="the gzip stream inflates to more than",
                            path=self.path,
                        )
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise CorruptFileError(
                f"the compressed NIfTI stream is corrupt: {exc}", path=self.path
            ) from exc
        if copied < self.data_nbytes:
            raise CorruptFileError(
                f"the voxel data are truncated ({copied} of {self.data_nbytes} bytes)",
                path=self.path,
            )


class NiftiCarrier(Carrier):
    """NIfTI-1 / NIfTI-2 single files, plain or gzip-compressed.

    ``.hdr``/``.img`` pairs (magic ``ni1``/``ni2``) are recognised and rejected with
    :class:`UnsupportedFormatError`: a stamp would have to keep two files consistent.
    """

    name: ClassVar[str] = "nifti"
    embeds_record: ClassVar[bool] = True

    @classmethod
    def sniff(cls, head: bytes, path: Path) -> bool:
        """Return whether ``head`` is a NIfTI-1/2 header, directly or inside gzip."""
        if _is_gzip(head):
            head = _gunzip_head(head, path)
        return _header_kind(head) is not None

    @classmethod
    def open(cls, path: Path) -> NiftiFile:
        """Open ``path`` and parse its header and extensions (not the voxel data).

        Raises:
            InputNotFoundError: when ``path`` does not exist.
            InputUnreadableError: on permission or I/O errors.
            UnsupportedFormatError: for ``.hdr``/``.img`` pairs.
            CorruptFileError: when the header is truncated or malformed.
            ResourceLimitError: when the declared voxels are over a limit.
        """
        try:
            return cls._open(path)
        except (CorruptFileError, UnsupportedFormatError, InputUnreadableError, ResourceLimitError):
            raise
        except FileNotFoundError as exc:
            raise InputNotFoundError("no such file", path=path) from exc
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise CorruptFileError(f"the gzip stream is corrupt: {exc}", path=path) from exc
        except OSError as exc:
            raise InputUnreadableError(
                f"cannot read the file: {exc.strerror or exc}", path=path
            ) from exc
        except Exception as exc:
            # nibabel's header decoding raises assorted errors on malformed fields.
            raise CorruptFileError(f"malformed NIfTI header: {exc}", path=path) from exc

    @classmethod
    def _open(cls, path: Path) -> NiftiFile:
        with open(path, "rb") as probe:
            gzipped = _is_gzip(probe.read(2))
        with _open_stream(path, gzipped) as stream:
            head = stream.read(544)
            kind = _header_kind(head)
            if kind is None:
                raise CorruptFileError("not a NIfTI-1/NIfTI-2 header (truncated?)", path=path)
            klass, order, single = kind
            if not single:
                raise UnsupportedFormatError(
                    "NIfTI .hdr/.img pairs are not supported",
                    hint="convert to a single .nii/.nii.gz file, e.g. nibabel "
                    "`nib.save(nib.load('x.hdr'), 'x.nii')`",
                    path=path,
                )
            size = klass.sizeof_hdr
            if len(head) < size:
                raise CorruptFileError("the NIfTI header is truncated", path=path)
            header = klass(head[:size], endianness=order, check=False)
            vox_offset_f = float(header["vox_offset"])
            if not math.isfinite(vox_offset_f) or vox_offset_f != int(vox_offset_f):
                raise CorruptFileError(f"invalid vox_offset {vox_offset_f}", path=path)
            vox_offset = int(vox_offset_f)
            if vox_offset < size + 4 or vox_offset > _MAX_HEADER_BYTES:
                raise CorruptFileError(f"invalid vox_offset {vox_offset}", path=path)
            if gzipped:
                limits.check_decompressed(
                    vox_offset, what="the gzip stream's header declares", path=path
                )
            block = head[: min(vox_offset, len(head))]
            if vox_offset > len(head):
                block += _read_exact(stream, vox_offset - len(head))
        extensions = _parse_extensions(block, size, order)
        result = NiftiFile(
            path,
            gzipped=gzipped,
            header=header,
            header_size=size,
            extensions=extensions,
            vox_offset=vox_offset,
        )
        ndim = int(header["dim"][0])
        if not 1 <= ndim <= 7 or any(n < 1 for n in result.shape):
            raise CorruptFileError(f"invalid image dimensions {result.shape}", path=path)
        _check_declared(result)
        if not gzipped and os.stat(path).st_size < vox_offset + result.data_nbytes:
            raise CorruptFileError("the voxel data are truncated", path=path)
        return result


def _check_declared(image: NiftiFile) -> None:
    """Refuse, from the header, voxel data over the pixel limit or (gzip) a stream that
    would inflate past the decompression limit: nibabel reads the declared bytes whole."""
    samples = len(image.dtype.names) if image.dtype.names is not None else 1
    dims = " x ".join(str(n) for n in (*image.shape, samples))
    limits.check_pixels(
        (*image.shape, samples), what=f"dim x samples declare {dims} =", path=image.path
    )
    if image.gzipped:
        limits.check_decompressed(
            image.vox_offset + image.data_nbytes,
            what="the gzip stream must inflate to",
            path=image.path,
        )
