"""A small mixed NIfTI + DICOM dataset with a manifest and attestations, for the exports."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

from synthmark.record.models import SynthmarkRecord
from tests.conftest import EXAMPLES

NIBABEL_ANATOMICAL = "anatomical.nii"


def nibabel_file(name: str) -> Path:
    from nibabel.testing import data_path

    return Path(str(data_path)) / name


def _pydicom_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)
    assert found is not None, name
    return Path(str(found))


def _synthetic_record(seed: int) -> SynthmarkRecord:
    from synthmark.record.parsing import load_record
    from synthmark.record.vocab import Modality

    record = load_record(EXAMPLES / "valid-diffusion-ct-chest.json")
    # The example describes a CT slice; this synthetic image is an MR head volume.
    return record.model_copy(
        update={
            "record_id": uuid.UUID(int=seed, version=4),
            "modality": Modality.MR,
            "body_part": "HEAD",
            "geometry": None,
        }
    )


def build_dataset(root: Path) -> Path:
    """Build ROOT: one real and two synthetic NIfTI volumes, a real DICOM, attestations.

    Layout (one synthetic image is BIDS-shaped, the other needs a mapping)::

        sub-01/anat/sub-01_T1w.nii        real (nibabel's anatomical.nii)
        sub-03/anat/sub-03_T1w.nii        synthetic, stamped
        scans/synthetic-1.nii             synthetic, stamped
        real/CT_small.dcm                 real DICOM (not BIDS data)
        attestations/*.dsse.json          data collection and processing
    """
    from synthmark.api import stamp
    from synthmark.carriers import open_image
    from synthmark.provenance import SigningKey, parse_predicate, sign_attestation
    from synthmark.publish.manifest import build_manifest
    from synthmark.record.parsing import pretty_json
    from synthmark.record.vocab import LifecycleStage
    from synthmark.validation.config import MANIFEST_FILE, ValidateConfig

    template = nibabel_file(NIBABEL_ANATOMICAL)
    (root / "sub-01" / "anat").mkdir(parents=True)
    shutil.copy(template, root / "sub-01" / "anat" / "sub-01_T1w.nii")
    (root / "real").mkdir()
    shutil.copy(_pydicom_file("CT_small.dcm"), root / "real" / "CT_small.dcm")
    pixels = open_image(template).pixels().array
    synthetic = [root / "scans" / "synthetic-1.nii", root / "sub-03" / "anat" / "sub-03_T1w.nii"]
    for index, dest in enumerate(synthetic, start=1):
        dest.parent.mkdir(parents=True, exist_ok=True)
        made = np.flip(pixels, axis=index % pixels.ndim).copy()
        stamp(template, _synthetic_record(index), dest=dest, new_pixels=made)
    key = SigningKey.generate("ed25519")
    envelopes = []
    (root / "attestations").mkdir()
    for stage, name in (
        (LifecycleStage.DATA_COLLECTION, "data-collection"),
        (LifecycleStage.DATA_PROCESSING, "data-processing"),
    ):
        obj = json.loads((EXAMPLES / "attestations" / f"valid-{name}.predicate.json").read_text())
        envelope = sign_attestation(parse_predicate(stage, obj), [synthetic[0]], [key], root=root)
        path = root / "attestations" / f"{name}.dsse.json"
        path.write_bytes(envelope.to_json_bytes())
        envelopes.append(path)
    manifest = build_manifest(
        root,
        name="synthmark export test dataset",
        version="1.0.0",
        publisher="Example University Medical Imaging Lab",
        config=ValidateConfig(jobs=1),
        attestations=envelopes,
    )
    (root / MANIFEST_FILE).write_text(pretty_json(manifest), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def export_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset of :func:`build_dataset` (shared: tests must not modify it)."""
    return build_dataset(tmp_path_factory.mktemp("export-src") / "dataset")
