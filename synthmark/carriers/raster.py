"""PNG, JPEG and TIFF carrier via Pillow; spec/parts/raster-sidecar.md.

The record lives in the JSON sidecar (:mod:`synthmark.carriers.sidecar`) for now; embedding via C2PA
comes later. Pixels are the stored samples as Pillow decodes them, without EXIF orientation,
colour management or palette tricks beyond expanding a palette to its colours.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt
from PIL import (
    Image,
    JpegImagePlugin,  # noqa: F401 - importing registers the decoder
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
)

from synthmark.carriers import limits
from synthmark.carriers._base import (
    Acknowledgment,
    Carrier,
    CarrierFile,
    PixelContent,
    StandardLabel,
)
from synthmark.carriers.atomic import atomic_write_bytes, atomic_writer
from synthmark.carriers.sidecar import write_sidecar
from synthmark.errors import (
    CorruptFileError,
    EncodeError,
    InputNotFoundError,
    InputUnreadableError,
    PixelDecodeError,
    SynthmarkError,
    UnsupportedFormatError,
)

if TYPE_CHECKING:
    from synthmark.carriers.c2pa import CredentialsState

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
# Pillow names JPEGs with an MPO (multi-picture) block "MPO"; the first picture is the JPEG.
_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "TIFF": "TIFF"}
# Decoders Pillow may try (the JPEG one also returns MPO images).
_OPENERS = ["PNG", "JPEG", "TIFF"]
# TIFF compressions Pillow writes losslessly; anything else is re-encoded uncompressed.
_LOSSLESS_TIFF = {"raw", "tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits"}
# Descriptive TIFF tags kept on re-encode; layout tags are Pillow's to write.
_KEPT_TIFF_TAGS = (269, 270, 271, 272, 282, 283, 296, 305, 306, 315, 316, 33432)
_COPY_CHUNK = 1 << 20

#: What Pillow raises on truncated, corrupt or hostile input (it has no common base class).
_PILLOW_ERRORS: tuple[type[BaseException], ...] = (
    Image.DecompressionBombError,
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    struct.error,
    EOFError,
    KeyError,
    TypeError,
    IndexError,
)


@dataclass(frozen=True)
class _Mode:
    """How one Pillow mode maps to canonical pixels."""

    dtype: str
    samples: int
    photometric: str
    bits_stored: int


# Pillow mode -> canonical form. "1" becomes 0/1 in uint8; palettes are expanded (see
# RasterFile.pixels); 16-bit grey keeps 16 bits.
_MODES: dict[str, _Mode] = {
    "1": _Mode("u1", 1, "MONOCHROME2", 1),
    "L": _Mode("u1", 1, "MONOCHROME2", 8),
    "LA": _Mode("u1", 2, "LA", 8),
    "RGB": _Mode("u1", 3, "RGB", 8),
    "RGBA": _Mode("u1", 4, "RGBA", 8),
    "CMYK": _Mode("u1", 4, "CMYK", 8),
    "I;16": _Mode("u2", 1, "MONOCHROME2", 16),
    "I;16L": _Mode("u2", 1, "MONOCHROME2", 16),
    "I;16B": _Mode("u2", 1, "MONOCHROME2", 16),
    "I;16N": _Mode("u2", 1, "MONOCHROME2", 16),
    "I": _Mode("i4", 1, "MONOCHROME2", 32),
    "F": _Mode("f4", 1, "MONOCHROME2", 32),
}


@contextlib.contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Silence Pillow's warnings and set its bomb guard to synthmark's pixel limit.

    Pillow warns above ``MAX_IMAGE_PIXELS`` and refuses above twice that; half our limit
    makes it refuse exactly what our check of the declared size (which also counts
    samples) refuses, a raised ``--max-pixels`` raises it too, and its warnings are not
    errors here. Corrupt-tag warnings would otherwise leak to the CLI's stderr. Pillow's
    limit is a global of the process: it is restored after.
    """
    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = (limits.current().max_pixels + 1) // 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


_BOMB_SIZE = re.compile(r"\((\d+) pixels\)")


def _bomb_error(exc: Image.DecompressionBombError, path: Path) -> SynthmarkError:
    found = _BOMB_SIZE.search(str(exc))
    if found is not None:
        # Pillow refuses only what our own check refuses: say it in our words.
        try:
            limits.check_pixels(
                (int(found.group(1)),), what="the header declares (width x height)", path=path
            )
        except SynthmarkError as error:
            return error
    return limits.limit_error("max_pixels", f"Pillow's decompression-bomb guard: {exc}", path)


def _check_declared(info: _Info, path: Path) -> None:
    """Refuse, from the header, an image whose first frame (the only one ever decoded)
    holds more values than allowed, or that has too many frames."""
    columns, rows = info.size
    mode = _MODES.get(info.mode)
    samples = mode.samples if mode is not None else 4  # palettes expand to RGB(A)
    limits.check_pixels(
        (rows, columns, samples),
        what=f"{info.format} header declares {columns} x {rows} x {samples} =",
        path=path,
    )
    limits.check_frames(info.frames, what=f"{info.format} has", path=path)


def _has_c2pa(path: Path, image_format: str) -> bool:
    """Whether a PNG has a ``caBX`` chunk or a JPEG an APP11 segment before its scan data."""
    try:
        with path.open("rb") as handle:
            if image_format == "PNG":
                handle.seek(len(_PNG_MAGIC))
                while True:
                    header = handle.read(8)
                    if len(header) < 8:
                        return False
                    length, kind = struct.unpack(">I4s", header)
                    if kind == b"caBX":
                        return True
                    if kind == b"IEND":
                        return False
                    handle.seek(length + 4, os.SEEK_CUR)
            handle.seek(2)
            while True:
                marker = handle.read(4)
                if len(marker) < 4 or marker[0] != 0xFF:
                    return False
                if marker[1] == 0xEB:
                    return True
                if marker[1] in (0xDA, 0xD9):  # start of scan / end of image
                    return False
                handle.seek(struct.unpack(">H", marker[2:])[0] - 2, os.SEEK_CUR)
    except OSError:
        return False


def _sniff_format(head: bytes) -> str | None:
    if head.startswith(_PNG_MAGIC):
        return "PNG"
    if head.startswith(_JPEG_MAGIC):
        return "JPEG"
    if head[:4] in _TIFF_MAGICS:
        return "TIFF"
    return None


def _pillow_error(exc: BaseException, path: Path, action: str) -> CorruptFileError:
    return CorruptFileError(f"cannot {action} the image: {exc}", path=path)


@dataclass(frozen=True)
class _Info:
    format: str
    mode: str
    size: tuple[int, int]
    frames: int
    wide_colour: bool  # more than 8 bits per colour sample, which Pillow truncates


def _wide_colour(image: Image.Image, fmt: str, head: bytes) -> bool:
    grey16 = image.mode.startswith("I") or image.mode == "F"
    if grey16:
        return False
    if fmt == "PNG" and len(head) >= 26:
        # IHDR: bit depth at byte 24, colour type at 25 (0 = grey, the only 16-bit Pillow keeps).
        return head[24] == 16 and head[25] != 0
    if fmt == "TIFF" and isinstance(image, TiffImagePlugin.TiffImageFile):
        bits = image.tag_v2.get(258, (8,))
        values = bits if isinstance(bits, tuple) else (bits,)
        return any(int(b) > 8 for b in values)
    return False


class RasterFile(CarrierFile):
    """An opened PNG, JPEG or TIFF file; only its header has been read."""

    format_name: ClassVar[str] = "raster"

    def __init__(self, path: Path, info: _Info) -> None:
        super().__init__(path)
        self.image_format = info.format
        self.mode = info.mode
        self.size = info.size
        self.frames = info.frames
        self._wide_colour = info.wide_colour

    def read_record(self) -> bytes | None:
        """Return the record of the file's C2PA synthmark assertion, if it has one.

        Raster records always live in the sidecar too; a PNG/JPEG stamped with Content
        Credentials also carries the record inside its C2PA manifest (spec/parts/c2pa.md).
        """
        state = self.credentials()
        if state is None or state.state == "invalid":
            return None  # only a validating manifest vouches for its content (c2pa.md §4)
        return state.record_json

    def standard_label(self, *, evidence: bool = True) -> StandardLabel:
        """Read the C2PA ``c2pa.created`` digitalSourceType, the raster formats' standard
        synthetic-origin field; absent (``None``) without valid credentials."""
        del evidence  # the verdict and its evidence come from the same assertion
        state = self.credentials()
        if state is None or state.state == "invalid" or state.digital_source_type is None:
            return StandardLabel(synthetic=None)
        from synthmark.record.vocab import SYNTHETIC_SOURCE_TYPES, DigitalSourceType

        try:
            source = DigitalSourceType(state.digital_source_type)
        except ValueError:
            return StandardLabel(synthetic=None, evidence=("C2PA digitalSourceType=unknown",))
        return StandardLabel(
            synthetic=source in SYNTHETIC_SOURCE_TYPES,
            evidence=(f"C2PA digitalSourceType={source.term}",),
        )

    def credentials(self) -> CredentialsState | None:
        """The file's C2PA state without trust anchors, or None when it has no C2PA store.

        Parsed once and remembered; only when a cheap scan of the chunk/segment headers
        finds a store, since parsing needs the whole file and a native library.
        """
        if not hasattr(self, "_credentials_cache"):
            self._credentials_cache: CredentialsState | None = None
            mime = {"PNG": "image/png", "JPEG": "image/jpeg"}.get(self.image_format)
            if mime is not None and _has_c2pa(self.path, self.image_format):
                from synthmark.carriers.c2pa import read_credentials

                try:
                    data = self.path.read_bytes()
                except OSError as exc:
                    raise InputUnreadableError(
                        f"cannot read: {exc.strerror}", path=self.path
                    ) from exc
                self._credentials_cache = read_credentials(data, mime)
        return self._credentials_cache

    def _load(self) -> Image.Image:
        try:
            with _quiet_pillow(), Image.open(self.path, formats=_OPENERS) as image:
                image.load()
                return image
        except FileNotFoundError as exc:
            raise InputNotFoundError("no such file", path=self.path) from exc
        except PermissionError as exc:
            raise InputUnreadableError("permission denied", path=self.path) from exc
        except Image.DecompressionBombError as exc:
            raise _bomb_error(exc, self.path) from exc
        except _PILLOW_ERRORS as exc:
            raise PixelDecodeError(
                f"cannot decode the pixels: {exc}",
                hint="the file is truncated or corrupt; restore it from its source",
                path=self.path,
            ) from exc

    def pixels(self) -> PixelContent:
        """Decode the stored samples to ``(rows, columns, samples)``.

        Grey ``L`` is ``uint8`` with one sample, 16-bit grey ``uint16``, ``RGB``/``RGBA``
        three/four ``uint8`` samples; bilevel ``1`` is ``uint8`` 0/1 (``bits_stored`` 1);
        a palette (``P``) is expanded to ``RGB`` (``RGBA`` when it has transparency).
        EXIF orientation is not applied: the binding covers the samples as stored.

        Raises:
            PixelDecodeError: for multi-frame files, colour with more than 8 bits per
                sample (Pillow would truncate it), unsupported modes, or corrupt data.
        """
        if self.frames > 1:
            raise PixelDecodeError(
                f"multi-frame {self.image_format} ({self.frames} frames) is not supported",
                hint="split the frames into separate files",
                path=self.path,
            )
        if self._wide_colour:
            raise PixelDecodeError(
                "colour with more than 8 bits per sample cannot be decoded losslessly",
                hint="convert to 8-bit colour or 16-bit grey",
                path=self.path,
            )
        image = self._load()
        if image.mode in ("P", "PA"):
            keep_alpha = image.mode == "PA" or "transparency" in image.info
            image = image.convert("RGBA" if keep_alpha else "RGB")
        mode = _MODES.get(image.mode)
        if mode is None:
            raise PixelDecodeError(
                f"unsupported image mode {image.mode}",
                hint="convert to grey, RGB or RGBA",
                path=self.path,
            )
        array = np.asarray(image)
        if image.mode == "1":
            array = array.astype(np.uint8)
        if array.ndim == 2:
            array = array[:, :, np.newaxis]
        return PixelContent(array, "rows,columns,samples", mode.photometric, mode.bits_stored)

    def write(
        self,
        dest: Path,
        *,
        record_json: bytes | None,
        ack: Acknowledgment | None,
        new_pixels: npt.NDArray[np.generic] | None = None,
    ) -> None:
        """Write the image to ``dest`` and the record to ``dest``'s sidecar.

        Without ``new_pixels`` the image bytes are copied exactly (nothing is written when
        ``dest`` is this file). With ``new_pixels`` PNG and TIFF are re-encoded losslessly
        in the same format and mode (palettes become RGB/RGBA, the values are unchanged),
        keeping text chunks, ICC profile, EXIF and resolution; JPEG is refused because it
        cannot store pixels losslessly. The image is written before the sidecar, each
        atomically.

        Raises:
            EncodeError: for JPEG, or new pixels of another shape or dtype.
            WriteFailedError: on I/O failure.
        """
        if new_pixels is not None:
            atomic_write_bytes(dest, self._encode(new_pixels))
        elif not _same_file(self.path, dest):
            with atomic_writer(dest) as out:
                try:
                    with open(self.path, "rb") as src:
                        shutil.copyfileobj(src, out, _COPY_CHUNK)
                except OSError as exc:
                    raise InputUnreadableError(
                        f"cannot read the file: {exc.strerror or exc}", path=self.path
                    ) from exc
        if record_json is not None:
            write_sidecar(dest, record_json)

    def _encode(self, new_pixels: npt.NDArray[np.generic]) -> bytes:
        if self.image_format == "JPEG":
            raise EncodeError(
                "JPEG cannot store changed pixels losslessly",
                hint="convert the image to PNG first",
                path=self.path,
            )
        current = self.pixels()
        if new_pixels.shape != current.array.shape or not _same_type(
            new_pixels.dtype, current.array.dtype
        ):
            raise EncodeError(
                f"new pixels are {new_pixels.dtype.str} {new_pixels.shape}, the file stores "
                f"{current.array.dtype.str} {current.array.shape}",
                hint="keep the shape and dtype that pixels() returns",
                path=self.path,
            )
        image = _to_image(new_pixels, current)
        with _quiet_pillow(), Image.open(self.path, formats=_OPENERS) as original:
            options = _save_options(original, self.image_format)
        buffer = io.BytesIO()
        try:
            image.save(buffer, format=self.image_format, **options)
        except (OSError, ValueError, KeyError) as exc:
            raise EncodeError(f"Pillow cannot encode the pixels: {exc}", path=self.path) from exc
        data = buffer.getvalue()
        # Verify: what a reader decodes must be exactly what the caller binds.
        with Image.open(io.BytesIO(data)) as check:
            decoded = np.asarray(check if check.mode != "P" else check.convert("RGB"))
        if image.mode == "1":
            decoded = decoded.astype(np.uint8)
        if decoded.ndim == 2:
            decoded = decoded[:, :, np.newaxis]
        same = decoded.shape == new_pixels.shape and np.array_equal(
            decoded, new_pixels, equal_nan=decoded.dtype.kind == "f"
        )
        if not same:
            raise EncodeError("the re-encoded image does not decode to the new pixels")
        return data


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _same_type(a: np.dtype[Any], b: np.dtype[Any]) -> bool:
    return a.kind == b.kind and a.itemsize == b.itemsize


def _to_image(array: npt.NDArray[np.generic], current: PixelContent) -> Image.Image:
    native = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("=")))
    rows, columns = native.shape[:2]
    if current.bits_stored == 1:
        if native.max(initial=0) > 1:
            raise EncodeError("bilevel images hold only 0 and 1")
        return Image.fromarray(native[:, :, 0].astype(bool))
    if current.photometric == "MONOCHROME2":
        mode = {"u1": "L", "u2": "I;16", "i4": "I", "f4": "F"}[native.dtype.str[1:]]
    else:
        mode = current.photometric  # LA, RGB, RGBA, CMYK are Pillow mode names too
    # frombytes with an explicit mode: fromarray would take a 4-sample array for RGBA.
    return Image.frombytes(mode, (columns, rows), native.tobytes())


def _save_options(original: Image.Image, fmt: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in ("icc_profile", "exif", "dpi"):
        if key in original.info:
            options[key] = original.info[key]
    if fmt == "PNG":
        text = getattr(original, "text", {})
        if text:
            info = PngImagePlugin.PngInfo()
            for key, value in text.items():
                info.add_text(key, value)
            options["pnginfo"] = info
        if "transparency" in original.info and original.mode not in ("P", "PA"):
            options["transparency"] = original.info["transparency"]
        options["optimize"] = False
    elif fmt == "TIFF":
        compression = original.info.get("compression", "raw")
        options["compression"] = compression if compression in _LOSSLESS_TIFF else "raw"
        if isinstance(original, TiffImagePlugin.TiffImageFile):
            tags = TiffImagePlugin.ImageFileDirectory_v2()
            for tag in _KEPT_TIFF_TAGS:
                if tag in original.tag_v2:
                    tags[tag] = original.tag_v2[tag]
            options["tiffinfo"] = tags
        options.pop("dpi", None)  # the resolution tags already carry it
    return options


class RasterCarrier(Carrier):
    """PNG, JPEG and TIFF through Pillow; the record goes to the sidecar."""

    name: ClassVar[str] = "raster"
    embeds_record: ClassVar[bool] = False

    @classmethod
    def sniff(cls, head: bytes, path: Path) -> bool:
        """Return whether ``head`` starts with the PNG, JPEG or classic TIFF signature."""
        return _sniff_format(head) is not None

    @classmethod
    def open(cls, path: Path) -> RasterFile:
        """Open ``path`` and read its header (Pillow decodes lazily).

        The declared size is checked against the resource limits before any pixel is
        decoded (:mod:`synthmark.carriers.limits`); Pillow's decompression-bomb guard
        stays on, at the same limit.

        Raises:
            InputNotFoundError: when ``path`` does not exist.
            InputUnreadableError: on permission or I/O errors.
            UnsupportedFormatError: when the content is none of PNG, JPEG, TIFF.
            CorruptFileError: when the header is truncated or malformed.
            ResourceLimitError: when the declared size or frame count is over a limit.
        """
        try:
            with open(path, "rb") as handle:
                head = handle.read(64)
        except FileNotFoundError as exc:
            raise InputNotFoundError("no such file", path=path) from exc
        except OSError as exc:
            raise InputUnreadableError(
                f"cannot read the file: {exc.strerror or exc}", path=path
            ) from exc
        expected = _sniff_format(head)
        if expected is None:
            raise UnsupportedFormatError("not a PNG, JPEG or TIFF file", path=path)
        try:
            with _quiet_pillow(), Image.open(path, formats=_OPENERS) as image:
                fmt = _FORMATS.get(image.format or "", "")
                info = _Info(
                    format=fmt,
                    mode=image.mode,
                    size=image.size,
                    frames=int(getattr(image, "n_frames", 1)),
                    wide_colour=_wide_colour(image, fmt, head),
                )
        except PermissionError as exc:
            raise InputUnreadableError("permission denied", path=path) from exc
        except Image.DecompressionBombError as exc:
            raise _bomb_error(exc, path) from exc
        except _PILLOW_ERRORS as exc:
            raise _pillow_error(exc, path, "open") from exc
        if info.format != expected:
            raise CorruptFileError(
                f"signature says {expected} but Pillow reads {info.format or 'nothing'}",
                path=path,
            )
        _check_declared(info, path)
        return RasterFile(path, info)
