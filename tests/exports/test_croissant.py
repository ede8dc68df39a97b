"""``synthmark manifest export --croissant``: valid Croissant, RAI fields, flags, digests."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synthmark.cli import main

RAI = "rai:"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def exported(export_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the dataset with ``croissant.json`` written at its root."""
    root = tmp_path_factory.mktemp("croissant") / "dataset"
    shutil.copytree(export_dataset, root)
    out = root / "croissant.json"
    assert (
        main(["manifest", "export", str(root), "--croissant", str(out), "--license", "CC-BY-4.0"])
        == 0
    )
    return out


def test_mlcroissant_validate_reports_no_error(exported: Path) -> None:
    pytest.importorskip("mlcroissant")
    script = "import sys; from mlcroissant.scripts.cli import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", script, "validate", "--jsonld", str(exported)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "error" not in output.lower(), output
    # The context is Croissant's own: no "non-standard @context" warning.
    assert "not standard" not in output, output


def test_loads_with_rai_fields_synthetic_flags_and_digests(exported: Path) -> None:
    mlc = pytest.importorskip("mlcroissant")
    root = exported.parent
    manifest = json.loads((root / "synthmark-manifest.json").read_text())
    dataset = mlc.Dataset(jsonld=exported)
    metadata = dataset.metadata

    def text(value: object) -> str:
        return " ".join(value) if isinstance(value, list) else str(value or "")

    collection = text(metadata.data_collection)
    assert "2 synthetic images (50.0%)" in collection
    assert "ChestCT-LDM 2.1.0" in collection
    assert "consent basis waiver by ethics board" in collection
    assert "Data collection (attested by" in collection
    sensitive = text(metadata.personal_sensitive_information)
    assert "de-identified with dicom ps3 15 basic profile" in sensitive
    assert "memorisation audit" in sensitive
    assert "storage encrypted at rest" in sensitive
    assert "Processing steps" in text(metadata.data_preprocessing_protocol)
    assert "Bias detection" in text(metadata.data_biases)
    assert "no real patient grounding" in text(metadata.data_limitations)
    assert "Prohibited uses: clinical diagnosis" in text(metadata.data_use_cases)
    assert "manifest check" in text(metadata.data_release_maintenance_plan)
    # Properties outside RAI 1.0 are not modelled by mlcroissant: read them as written.
    doc = json.loads(exported.read_text())
    assert doc["rai:hasSyntheticData"] is True
    assert "2 of 4 images (50.0%) are synthetic" in doc["rai:syntheticDataExplanation"]
    assert doc["license"] == "CC-BY-4.0"

    records = {_decode(r["images/path"]): r for r in dataset.records("images")}
    assert len(records) == manifest["total_count"] == 4
    for entry in manifest["files"]:
        row = records[entry["path"]]
        assert bool(row["images/synthetic"]) is (entry["role"] == "synthetic")
        assert _decode(row["images/role"]) == entry["role"]
        assert _decode(row["images/record_id"]) == entry.get("record_id", "")
        assert _decode(row["images/sha256"]) == _sha256(root / entry["path"])

    digests = {d.content_url: d.sha256 for d in metadata.distribution}
    listed = (
        [e["path"] for e in manifest["files"]]
        + [a["path"] for a in manifest["attestations"]]
        + ["synthmark-manifest.json"]
    )
    assert sorted(digests) == sorted(listed)
    for path, digest in digests.items():
        assert digest == _sha256(root / path), path


def _decode(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def test_export_holds_no_header_values(exported: Path) -> None:
    import pydicom

    text = exported.read_text()
    scan = pydicom.dcmread(exported.parent / "real" / "CT_small.dcm")
    for keyword in ("PatientName", "PatientID", "InstitutionName", "StudyInstanceUID"):
        value = str(scan.get(keyword, "") or "")
        if value:
            assert value not in text, keyword


def test_base_url_makes_absolute_content_urls(export_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "meta.json"
    out.parent.mkdir()
    code = main(
        [
            "manifest",
            "export",
            str(export_dataset),
            "--croissant",
            str(out),
            "--base-url",
            "https://data.example.org/ds/",
        ]
    )
    assert code == 0
    urls = [d["contentUrl"] for d in json.loads(out.read_text())["distribution"]]
    assert "https://data.example.org/ds/scans/synthetic-1.nii" in urls
    assert all(u.startswith("https://data.example.org/ds/") for u in urls)
    # Refuses to replace an existing output without --overwrite.
    assert main(["manifest", "export", str(export_dataset), "--croissant", str(out)]) == 2


def test_refuses_changed_attestation_and_missing_manifest(
    export_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "dataset"
    shutil.copytree(export_dataset, root)
    envelope = root / "attestations" / "data-collection.dsse.json"
    envelope.write_bytes(envelope.read_bytes().replace(b'"payload"', b'"payload" '))
    assert main(["manifest", "export", str(root), "--croissant", str(tmp_path / "c.json")]) == 2
    assert "SMX" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()
    (root / "synthmark-manifest.json").unlink()
    assert main(["manifest", "export", str(root), "--croissant", str(tmp_path / "c.json")]) == 2
    assert "SMX002" in capsys.readouterr().err
    assert main(["manifest", "export", str(export_dataset)]) == 2
