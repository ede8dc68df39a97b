"""The JSON sidecar: a record stored beside the file it describes (spec/parts/raster-sidecar.md).

The sidecar of ``scan.nii.gz`` is ``scan.nii.gz.synthmark.json`` in the same folder: the
full file name is kept (not its stem) so that ``scan.png`` and ``scan.tif`` never share one.
Its content is the record's JSON bytes exactly as the record layer serialised them, so a
sidecar and an embedded record of the same stamp are byte-identical.
"""

from __future__ import annotations

import errno
from pathlib import Path

from synthmark.carriers.atomic import atomic_write_bytes
from synthmark.errors import InputUnreadableError

#: Appended to the full file name of the image.
SIDECAR_SUFFIX = ".synthmark.json"


def sidecar_path(path: Path) -> Path:
    """Return the sidecar path of ``path``: ``<name>.synthmark.json`` in the same folder.

    Args:
        path: The image file.

    Returns:
        ``scan.nii.gz`` → ``scan.nii.gz.synthmark.json``.
    """
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_sidecar(path: Path) -> bytes | None:
    """Return the bytes of ``path``'s sidecar, or ``None`` when there is none.

    Args:
        path: The image file (not the sidecar).

    Raises:
        InputUnreadableError: when the sidecar exists but cannot be read.
    """
    side = sidecar_path(path)
    try:
        return side.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            # The image's own name is near the limit: no sidecar can exist beside it.
            return None
        raise InputUnreadableError(
            f"cannot read the sidecar: {exc.strerror or exc}", path=side
        ) from exc


def write_sidecar(path: Path, record_json: bytes) -> None:
    """Write ``record_json`` as ``path``'s sidecar, atomically, replacing any existing one.

    Args:
        path: The image file (not the sidecar).
        record_json: The record's JSON bytes, written unchanged.

    Raises:
        WriteFailedError: on I/O failure; an existing sidecar is then left as it was.
    """
    atomic_write_bytes(sidecar_path(path), record_json)
