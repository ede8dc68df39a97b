"""Hostile files, built small on disk: declared sizes that lie, inflate bombs, deep and long
DICOM sequences, truncations. Shared by tests/limits and bench/hostile_bench.py.

Zero-filled streams are assembled from one compressed megabyte (deflate blocks that end
in a full flush reference nothing before them, so identical pieces concatenate), so a
bomb of a gigabyte costs milliseconds and no memory to build. ``level`` 1 (the default)
inflates fast, for tests; level 9 gives the smallest bombs and the slowest inflation
(distance-1 matches), what an attacker would send and what the bench measures.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

import numpy as np
from nibabel.nifti1 import Nifti1Header
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

_MEGABYTE = 1 << 20
_FINAL_EMPTY_BLOCK = b"\x03\x00"  # a fixed-Huffman block with BFINAL set and no symbols


def _flushed(data: bytes, level: int = 9) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(zlib.Z_FULL_FLUSH)


@cache
def _zero_megabyte(level: int) -> bytes:
    return _flushed(bytes(_MEGABYTE), level)


def raw_deflate(prefix: bytes, zeros: int, level: int = 1) -> bytes:
    """A raw deflate stream of ``prefix`` followed by ``zeros`` zero bytes."""
    whole, rest = divmod(zeros, _MEGABYTE)
    parts = [_flushed(prefix) if prefix else b"", _zero_megabyte(level) * whole]
    if rest:
        parts.append(_flushed(bytes(rest), level))
    parts.append(_FINAL_EMPTY_BLOCK)
    return b"".join(parts)


def _crc_of(prefix: bytes, zeros: int) -> int:
    crc = zlib.crc32(prefix)
    block = bytes(_MEGABYTE)
    whole, rest = divmod(zeros, _MEGABYTE)
    for _ in range(whole):
        crc = zlib.crc32(block, crc)
    return zlib.crc32(bytes(rest), crc)


def zlib_stream(prefix: bytes, zeros: int, level: int = 1) -> bytes:
    """A zlib stream (PNG IDAT, TIFF deflate) of ``prefix`` and ``zeros`` zero bytes."""
    adler = zlib.adler32(prefix)
    low, high = adler & 0xFFFF, adler >> 16
    # Adler-32 over zeros: the low sum stays, the high sum grows by it per byte.
    high = (high + low * zeros) % 65521
    return b"\x78\xda" + raw_deflate(prefix, zeros, level) + struct.pack(">I", (high << 16) | low)


def gzip_stream(prefix: bytes, zeros: int, level: int = 1) -> bytes:
    """A gzip member of ``prefix`` and ``zeros`` zero bytes."""
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    size = (len(prefix) + zeros) & 0xFFFFFFFF
    return (
        header
        + raw_deflate(prefix, zeros, level)
        + struct.pack("<II", _crc_of(prefix, zeros), size)
    )


# ------------------------------------------------------------------------------ raster


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(width: int, height: int, *, full: bool = False, level: int = 1) -> bytes:
    """An 8-bit grey PNG declaring ``width`` x ``height``; its pixel data are all there
    (zeros, a few hundred kilobytes per 100 megapixels) when ``full``, else one row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = height if full else 1
    idat = zlib_stream(b"", rows * (width + 1), level)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def tiff_deflate(width: int, height: int, level: int = 1) -> bytes:
    """A grey 8-bit TIFF, one deflate-compressed strip of zeros covering the whole image."""
    strip = zlib_stream(b"", width * height, level)
    entries = [
        (256, 4, width),  # ImageWidth, LONG
        (257, 4, height),  # ImageLength
        (258, 3, 8),  # BitsPerSample, SHORT
        (259, 3, 8),  # Compression: Adobe deflate
        (262, 3, 1),  # PhotometricInterpretation: BlackIsZero
        (273, 4, 0),  # StripOffsets (patched below)
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, height),  # RowsPerStrip
        (279, 4, len(strip)),  # StripByteCounts
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        if tag == 273:
            value = data_offset
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + strip


# ------------------------------------------------------------------------------- DICOM


def _meta(transfer_syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.2"
    return meta


def _part10(meta: FileMetaDataset) -> bytes:
    out = io.BytesIO()
    out.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)  # type: ignore[arg-type]
    return out.getvalue()


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in (b"UI", b"OB") else b" "
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _image_header(rows: int, columns: int, frames: int | None = None) -> bytes:
    parts = [
        _element(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.7"),
        _element(0x0008, 0x0018, b"UI", b"1.2.826.0.1.3680043.8.498.1"),
        _element(0x0028, 0x0002, b"US", struct.pack("<H", 1)),
        _element(0x0028, 0x0004, b"CS", b"MONOCHROME2"),
    ]
    if frames is not None:
        parts.append(_element(0x0028, 0x0008, b"IS", str(frames).encode()))
    parts += [
        _element(0x0028, 0x0010, b"US", struct.pack("<H", rows)),
        _element(0x0028, 0x0011, b"US", struct.pack("<H", columns)),
        _element(0x0028, 0x0100, b"US", struct.pack("<H", 8)),
        _element(0x0028, 0x0101, b"US", struct.pack("<H", 8)),
        _element(0x0028, 0x0102, b"US", struct.pack("<H", 7)),
        _element(0x0028, 0x0103, b"US", struct.pack("<H", 0)),
    ]
    return b"".join(parts)


def dicom_image(
    rows: int = 8, columns: int = 8, frames: int | None = None, *, pixels: int = 64
) -> bytes:
    """An Explicit VR Little Endian image declaring ``rows`` x ``columns`` (x ``frames``),
    with ``pixels`` bytes of pixel data whatever it declares."""
    body = _image_header(rows, columns, frames) + _element(0x7FE0, 0x0010, b"OB", bytes(pixels))
    return _part10(_meta(ExplicitVRLittleEndian)) + body


def dicom_deflated(inflated: int, level: int = 1) -> bytes:
    """Deflated Explicit VR Little Endian: an 8x8 image whose dataset inflates to about
    ``inflated`` bytes (the excess in a private OB element of zeros)."""
    header = _image_header(8, 8)
    filler = max(inflated - len(header) - 64 - 24, 0) & ~1
    private = _element(0x0009, 0x0010, b"LO", b"HOSTILE") + struct.pack(
        "<HH2sHI", 0x0009, 0x1000, b"OB", 0, filler
    )
    # Pixel data goes last, after the filler: the zeros inflate before pydicom meets it.
    tail = _element(0x7FE0, 0x0010, b"OB", bytes(64))
    stream = raw_deflate(header + private, filler, level)[: -len(_FINAL_EMPTY_BLOCK)]
    stream += _flushed(tail) + _FINAL_EMPTY_BLOCK
    return _part10(_meta(DeflatedExplicitVRLittleEndian)) + stream


_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def _sequence(content: bytes) -> bytes:
    # (0040,A730) Content Sequence, undefined length.
    return struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + content + _SEQUENCE_END


def _with_sequence(sequence: bytes) -> bytes:
    header = _image_header(8, 8)
    split = header.index(struct.pack("<HH", 0x0028, 0x0002))
    pixels = _element(0x7FE0, 0x0010, b"OB", bytes(64))
    return (
        _part10(_meta(ExplicitVRLittleEndian)) + header[:split] + sequence + header[split:] + pixels
    )


def dicom_long_sequence(items: int) -> bytes:
    """An 8x8 image with a sequence of ``items`` small items."""
    item = _ITEM + _element(0x0040, 0xA040, b"CS", b"TEXT") + _ITEM_END
    return _with_sequence(_sequence(item * items))


def dicom_nested_sequence(depth: int) -> bytes:
    """An 8x8 image with sequences nested ``depth`` deep."""
    content = _element(0x0040, 0xA040, b"CS", b"TEXT")
    for _ in range(depth):
        content = _sequence(_ITEM + content + _ITEM_END)
    return _with_sequence(content)


# ------------------------------------------------------------------------------- NIfTI


def nifti_header(shape: tuple[int, ...], dtype: str = "uint8") -> bytes:
    """A single-file NIfTI-1 header (vox_offset 352, no extension) for ``shape``."""
    header = Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.dtype(dtype))
    header["vox_offset"] = 352
    header["magic"] = b"n+1"
    return bytes(header.binaryblock) + b"\x00" * 4


def nifti_gz(
    shape: tuple[int, ...], dtype: str = "uint8", *, zeros: int | None = None, level: int = 1
) -> bytes:
    """A ``.nii.gz`` of ``shape`` whose voxels are ``zeros`` zero bytes (default: exactly
    what the header declares)."""
    header = nifti_header(shape, dtype)
    if zeros is None:
        zeros = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return gzip_stream(header, zeros, level)
