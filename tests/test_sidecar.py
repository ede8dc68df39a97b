"""The JSON sidecar: naming, exact content, atomic replacement, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmark.carriers.sidecar import read_sidecar, sidecar_path, write_sidecar
from synthmark.errors import InputUnreadableError, WriteFailedError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("scan.nii.gz", "scan.nii.gz.synthmark.json"),
        ("scan.nii", "scan.nii.synthmark.json"),
        ("xray.png", "xray.png.synthmark.json"),
        ("noext", "noext.synthmark.json"),
        (".hidden.tif", ".hidden.tif.synthmark.json"),
    ],
)
def test_sidecar_path_keeps_full_name(name: str, expected: str, tmp_path: Path) -> None:
    assert sidecar_path(tmp_path / "sub" / name) == tmp_path / "sub" / expected


def test_png_and_tif_of_same_stem_do_not_collide(tmp_path: Path) -> None:
    assert sidecar_path(tmp_path / "a.png") != sidecar_path(tmp_path / "a.tif")


def test_write_then_read_exact_bytes(tmp_path: Path) -> None:
    image = tmp_path / "scan.nii.gz"
    assert read_sidecar(image) is None
    record = '{"b":1,"a":"Zürich"}\n'.encode()
    write_sidecar(image, record)
    assert sidecar_path(image).read_bytes() == record
    assert read_sidecar(image) == record
    write_sidecar(image, b"{}")
    assert read_sidecar(image) == b"{}"
    # Only the sidecar was written; no temp files are left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.nii.gz.synthmark.json"]


def test_unreadable_sidecar(tmp_path: Path) -> None:
    sidecar_path(tmp_path / "x.png").mkdir()
    with pytest.raises(InputUnreadableError):
        read_sidecar(tmp_path / "x.png")


def test_write_failure_leaves_old_sidecar(tmp_path: Path) -> None:
    with pytest.raises(WriteFailedError):
        write_sidecar(tmp_path / "missing-folder" / "x.png", b"{}")
    image = tmp_path / "x.png"
    write_sidecar(image, b"old")
    sidecar_path(image).chmod(0o444)
    write_sidecar(image, b"new")  # replaced by rename, like any atomic write
    assert read_sidecar(image) == b"new"


def test_name_too_long_for_a_sidecar_means_no_sidecar(tmp_path: Path) -> None:
    from synthmark.carriers.sidecar import read_sidecar as read

    image = tmp_path / ("x" * 250 + ".png")
    image.write_bytes(b"")
    assert read(image) is None
