"""Crash-safe writes: a temp file in the destination folder, fsync, then atomic rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from synthmark.errors import WriteFailedError


@contextlib.contextmanager
def atomic_writer(dest: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file whose content replaces ``dest`` only if the block succeeds.

    The temp file lives in ``dest``'s folder so the final :func:`os.replace` is atomic on
    POSIX; the folder is fsynced after the rename so the new name survives a power cut.
    On any exception the temp file is removed and ``dest`` is left exactly as it was.

    Raises:
        WriteFailedError: when the folder is not writable or the disk is full.
    """
    folder = dest.parent if str(dest.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise WriteFailedError(
            f"cannot create a file in {folder}: {exc.strerror}", path=dest
        ) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif dest.exists():
            os.chmod(tmp, dest.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise WriteFailedError(f"writing failed: {exc.strerror}", path=dest) from exc
        raise
    fsync_dir(folder)


def atomic_write_bytes(dest: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``dest`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(dest, mode=mode) as handle:
        handle.write(data)


def atomic_write_with(dest: Path, writer: Callable[[Path], None]) -> None:
    """Let ``writer`` produce a file at a temp path, then move it atomically onto ``dest``.

    For libraries (nibabel, pydicom) that want a path rather than a file object; the
    temp name keeps ``dest``'s suffixes so format detection by extension (``.nii.gz``) works.
    """
    folder = dest.parent if str(dest.parent) else Path(".")
    suffix = "".join(dest.suffixes)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.tmp.", suffix=suffix, dir=folder)
    except OSError as exc:
        raise WriteFailedError(
            f"cannot create a file in {folder}: {exc.strerror}", path=dest
        ) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if dest.exists():
            os.chmod(tmp, dest.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise WriteFailedError(f"writing failed: {exc.strerror}", path=dest) from exc
        raise
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    # Some filesystems refuse to open directories for fsync; durability is then best effort.
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
