"""Carrier registry: recognise a file by its content and open it with its format's adapter.

Adding a format is one new module with a :class:`~synthmark.carriers._base.Carrier`
subclass and one line in :data:`CARRIERS`. Modules are imported on first use, so opening a
PNG never imports pydicom.
"""

from __future__ import annotations

import errno
import importlib
from pathlib import Path

from synthmark.carriers._base import (
    Acknowledgment,
    Carrier,
    CarrierFile,
    PixelContent,
    StandardLabel,
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
    "carrier_classes",
    "open_image",
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


def carrier_classes() -> list[type[Carrier]]:
    """Return every registered carrier class, importing their modules."""
    classes: list[type[Carrier]] = []
    for _name, module, attribute in CARRIERS:
        cls = getattr(importlib.import_module(module), attribute)
        assert isinstance(cls, type) and issubclass(cls, Carrier)
        classes.append(cls)
    return classes


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(SNIFF_BYTES)
    except FileNotFoundError as exc:
        raise InputNotFoundError("no such file", path=path) from exc
    except IsADirectoryError as exc:
        raise InputUnreadableError("is a directory", path=path) from exc
    except PermissionError as exc:
        raise InputUnreadableError("permission denied", path=path) from exc
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise InputNotFoundError("no such file", path=path) from exc
        raise InputUnreadableError(f"cannot read: {exc.strerror}", path=path) from exc


def sniff(path: Path) -> type[Carrier]:
    """Return the carrier class that recognises ``path``'s content.

    Raises:
        InputNotFoundError, InputUnreadableError: when the file cannot be read.
        CorruptFileError: when the file is empty.
        UnsupportedFormatError: when no carrier recognises it.
    """
    head = _read_head(path)
    if not head:
        raise CorruptFileError("file is empty", path=path)
    for cls in carrier_classes():
        if cls.sniff(head, path):
            return cls
    raise UnsupportedFormatError("not a recognised image format", path=path)


def open_image(path: Path) -> CarrierFile:
    """Open ``path`` with the carrier that recognises its content (header only)."""
    return sniff(path).open(path)
