"""Expanding command-line paths (files and folders) into image files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from synthmark.carriers.sidecar import SIDECAR_SUFFIX


def iter_inputs(paths: tuple[Path, ...]) -> Iterator[Path]:
    """Yield files: given files as they are, folders walked in sorted order (symlinks
    followed, hidden entries and synthmark sidecars skipped)."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=True):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or name.endswith(SIDECAR_SUFFIX):
                        continue
                    yield Path(root) / name
        else:
            yield path
