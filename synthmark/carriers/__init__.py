"""Carrier registry: recognise a file by its content and open it with its format's adapter.

Adding a format is one new module with a :class:`~synthmark.carriers._base.Carrier`
subclass and one line in :data:`CARRIERS`. Modules are imported on first use, so opening a
PNG never imports pydicom.
"""

from __future__ import annotations

import errno
import importlib
import os
from pathlib import Path

from synthmark.carriers._base import (
    Acknowledgment,
    Carrier,
    CarrierFile,
    PixelContent,
    StandardLabel,
    acknowledgment_for,
)
from synthmark.errors import (
    CorruptFileError,
    InputNotFoundError,
    InputUnreadableError,
    UnsupportedFormatError,
)

__all__ = [
    "CARRIERS",
    "Acknowledgment",
    "Carrier",
    "CarrierFile",
    "PixelContent",
    "StandardLabel",
    "acknowledgment_for",
    "carrier_classes",
    "open_image",
    "open_image_sized",
    "sniff",
]

#: (name, module, class), in sniffing order. DICOM goes first: its 128-byte preamble may
#: legally hold a TIFF header, so a raster sniff must not see a DICOM file first.
CARRIERS: tuple[tuple[str, str, str], ...] = (
    ("dicom", "synthmark.carriers.dicom", "DicomCarrier"),
    ("nifti", "synthmark.carriers.nifti", "NiftiCarrier"),
    ("raster", "synthmark.carriers.raster", "RasterCarrier"),
)

SNIFF_BYTES = 512


#: (the CARRIERS they were imported for, the classes): sniffing runs once per file of a
#: dataset, and importing by name each time cost more than the sniffing itself.
_IMPORTED: tuple[tuple[tuple[str, str, str], ...], list[type[Carrier]]] | None = None


def carrier_classes() -> list[type[Carrier]]:
    """Return every registered carrier class, importing their modules."""
    global _IMPORTED
    if _IMPORTED is None or _IMPORTED[0] is not CARRIERS:
        classes: list[type[Carrier]] = []
        for _name, module, attribute in CARRIERS:
            cls = getattr(importlib.import_module(module), attribute)
            assert isinstance(cls, type) and issubclass(cls, Carrier)
            classes.append(cls)
        _IMPORTED = (CARRIERS, classes)
    return list(_IMPORTED[1])


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise _open_error(exc, path) from exc


def _open_error(exc: OSError, path: Path) -> Exception:
    """The synthmark error for an OSError raised while opening or reading ``path``."""
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return InputNotFoundError("no such file", path=path)
    if isinstance(exc, IsADirectoryError):
        return InputUnreadableError("is a directory", path=path)
    if isinstance(exc, PermissionError):
        return InputUnreadableError("permission denied", path=path)
    return InputUnreadableError(f"cannot read: {exc.strerror}", path=path)


def _recognise(head: bytes, path: Path) -> type[Carrier]:
    if not head:
        raise CorruptFileError("file is empty", path=path)
    for cls in carrier_classes():
        if cls.sniff(head, path):
            return cls
    raise UnsupportedFormatError("not a recognised image format", path=path)


def sniff(path: Path) -> type[Carrier]:
    """Return the carrier class that recognises ``path``'s content.

    Raises:
        InputNotFoundError, InputUnreadableError: when the file cannot be read.
        CorruptFileError: when the file is empty.
        UnsupportedFormatError: when no carrier recognises it.
    """
    return _recognise(_read_head(path), path)


def open_image(path: Path) -> CarrierFile:
    """Open ``path`` with the carrier that recognises its content (header only)."""
    return sniff(path).open(path)


def open_image_sized(path: Path) -> tuple[CarrierFile, int]:
    """:func:`open_image`, plus the file's size, opening the file once.

    Validation opens every file of a dataset: one open, sniffing the bytes it reads first
    and handing the same handle to the carrier, costs less than a sniff, a stat and an
    open of their own (see :meth:`Carrier.open_handle`). Raises as :func:`open_image`.
    """
    try:
        handle = open(path, "rb")  # closed by the with below, once the carrier has parsed it
    except OSError as exc:
        raise _open_error(exc, path) from exc
    with handle:
        try:
            head = handle.read(SNIFF_BYTES)
            size = os.fstat(handle.fileno()).st_size
        except OSError as exc:
            raise _open_error(exc, path) from exc
        return _recognise(head, path).open_handle(path, handle, head, size), size
