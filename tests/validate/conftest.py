"""Datasets for validation tests, built from real scans shipped with pydicom."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from synthmark.api import stamp
from synthmark.demo import strip_dicom_labels
from synthmark.record.parsing import load_record
from tests.conftest import EXAMPLES


def shipped(name: str) -> Path:
    found = get_testdata_file(name, download=False)
    assert found is not None, name
    return Path(str(found))


@pytest.fixture(scope="session")
def marked_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 512x512 real CT turned into a stamped, watermarked synthetic image."""
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    folder = tmp_path_factory.mktemp("marked")
    dest = folder / "synthetic.dcm"
    record = load_record(EXAMPLES / "valid-diffusion-ct-chest.json")
    result = stamp(
        shipped("J2K_pixelrep_mismatch.dcm"), record, dest=dest, watermark=PUBLIC_DETECTION_KEY
    )
    assert result.record.watermark is not None
    return dest


# The demo's stripping pass: what an anonymiser or a careless pipeline does to the labels.
strip_labels = strip_dicom_labels


def real_copies(folder: Path, count: int) -> list[Path]:
    """``count`` real DICOM files (copies of pydicom's CT and MR test scans)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = [shipped("CT_small.dcm"), shipped("MR_small.dcm")]
    made = []
    for index in range(count):
        dest = folder / f"real-{index:04d}.dcm"
        shutil.copy(sources[index % 2], dest)
        made.append(dest)
    return made
