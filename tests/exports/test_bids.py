"""``synthmark manifest export --bids``: a BIDS dataset that the BIDS validator accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synthmark.cli import main
from synthmark.publish.exports import load_export_source
from synthmark.publish.exports.bids import BIDSIGNORE, bids_name_problem, export_bids, load_bids_map


def _bids_validator(folder: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("bids_validator_deno")
    pytest.importorskip("deno")
    # The validator ships as a JavaScript bundle run by the deno binary of the `deno`
    # wheel; it reads the bundled schema and needs no network.
    script = "import sys; from bids_validator_deno import cli; cli()"
    return subprocess.run(
        [sys.executable, "-c", script, str(folder), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def bids(export_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset exported to BIDS with a mapping for its one non-BIDS NIfTI path."""
    work = tmp_path_factory.mktemp("bids")
    mapping = work / "map.tsv"
    mapping.write_text("source\tbids\nscans/synthetic-1.nii\tsub-02/anat/sub-02_T1w.nii\n")
    defaults = work / "defaults.json"
    defaults.write_text('{"SkullStripped": false}')
    out = work / "bids"
    args = ["manifest", "export", str(export_dataset), "--bids", str(out)]
    args += ["--bids-map", str(mapping), "--sidecar-defaults", str(defaults)]
    assert main([*args, "--license", "CC-BY-4.0"]) == 0
    return out


def test_bids_validator_accepts_the_export(bids: Path) -> None:
    done = _bids_validator(bids)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    issues = json.loads(done.stdout)["issues"]["issues"]
    assert not [i for i in issues if i["severity"] == "error"]


def test_dataset_description_and_sidecars_acknowledge(bids: Path) -> None:
    description = json.loads((bids / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["BIDSVersion"]
    names = [g["Name"] for g in description["GeneratedBy"]]
    assert names == ["ChestCT-LDM", "synthmark"]
    assert description["GeneratedBy"][0]["Version"] == "2.1.0"
    assert description["SourceDatasets"] == [
        {"DOI": "doi:10.7937/K9/TCIA.2015.LO9QL9SX", "Version": "2011"}
    ]
    expected = {
        "sub-01/anat/sub-01_T1w": (False, None),
        "sub-02/anat/sub-02_T1w": (True, "00000000-0000-4000-8000-000000000001"),
        "sub-03/anat/sub-03_T1w": (True, "00000000-0000-4000-8000-000000000002"),
    }
    for stem, (synthetic, record_id) in expected.items():
        assert (bids / f"{stem}.nii").is_file()
        sidecar = json.loads((bids / f"{stem}.json").read_text())
        assert sidecar["SyntheticData"] is synthetic
        assert sidecar.get("SynthmarkRecordID") == record_id
        assert sidecar["SkullStripped"] is False
        if synthetic:
            assert sidecar["DigitalSourceType"].endswith("/trainedAlgorithmicMedia")
            assert sidecar["SyntheticGenerator"]["Name"] == "ChestCT-LDM"
            assert sidecar["Description"].startswith("SYNTHETIC image")
    assert (bids / ".bidsignore").read_text().split() == list(BIDSIGNORE)
    bids_map = json.loads((bids / "synthmark" / "bids-map.json").read_text())
    assert {f["bids_path"]: f["source_path"] for f in bids_map["files"]}[
        "sub-02/anat/sub-02_T1w.nii"
    ] == "scans/synthetic-1.nii"
    assert [n["source_path"] for n in bids_map["not_exported"]] == ["real/CT_small.dcm"]
    assert "contains synthetic images" in (bids / "README.md").read_text()


def test_synthmark_still_verifies_the_export(bids: Path) -> None:
    # Images are copied byte for byte, so embedded records and bindings still hold and the
    # rewritten manifest matches the BIDS layout.
    assert main(["manifest", "check", str(bids), "--jobs", "1"]) == 0


def test_unmapped_non_bids_path_is_refused(
    export_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bids"
    assert main(["manifest", "export", str(export_dataset), "--bids", str(out)]) == 2
    err = capsys.readouterr().err
    assert "SMX001" in err and "scans/synthetic-1.nii" in err
    assert not out.exists()


def test_api_json_map_redaction_links_and_refusals(export_dataset: Path, tmp_path: Path) -> None:
    mapping_file = tmp_path / "map.json"
    mapping_file.write_text(json.dumps({"scans/synthetic-1.nii": "sub-02/anat/sub-02_T1w.nii"}))
    source = load_export_source(export_dataset)
    out = tmp_path / "bids"
    result = export_bids(
        source, out, mapping=load_bids_map(mapping_file), link="hardlink", redact_paths=True
    )
    assert result.dataset_type == "derivative"
    assert len(result.exported) == 3
    text = (out / "synthmark" / "bids-map.json").read_text()
    assert "scans/synthetic-1.nii" not in text and "CT_small" not in text
    from synthmark.errors import ConfigError, OutputExistsError, UsageError

    with pytest.raises(OutputExistsError):
        export_bids(source, out, mapping=load_bids_map(mapping_file))
    with pytest.raises(UsageError, match="extension"):
        export_bids(
            source,
            tmp_path / "b2",
            mapping={"scans/synthetic-1.nii": "sub-02/anat/sub-02_T1w.nii.gz"},
        )
    with pytest.raises(UsageError, match="same BIDS name"):
        export_bids(
            source,
            tmp_path / "b3",
            mapping={"scans/synthetic-1.nii": "sub-01/anat/sub-01_T1w.nii"},
        )
    with pytest.raises(ConfigError, match="does not list"):
        export_bids(source, tmp_path / "b4", mapping={"absent.nii": "sub-9/anat/sub-9_T1w.nii"})


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("sub-01/anat/sub-01_T1w.nii.gz", True),
        ("sub-01/ses-2/anat/sub-01_ses-2_acq-fast_T1w.nii", True),
        ("sub-01/anat/sub-02_T1w.nii", False),
        ("sub-01/ses-1/anat/sub-01_T1w.nii", False),
        ("scans/x.nii", False),
        ("../sub-01/anat/sub-01_T1w.nii", False),
        ("sub-01/anat/sub-01_T1w.dcm", False),
    ],
)
def test_bids_name_shape(path: str, ok: bool) -> None:
    assert (bids_name_problem(path) is None) is ok


def test_all_real_dataset_is_raw_and_valid(tmp_path: Path) -> None:
    import shutil

    from synthmark.publish.manifest import build_manifest
    from synthmark.record.parsing import pretty_json
    from synthmark.validation.config import MANIFEST_FILE, ValidateConfig
    from tests.exports.conftest import NIBABEL_ANATOMICAL, nibabel_file

    root = tmp_path / "real"
    (root / "sub-07" / "anat").mkdir(parents=True)
    shutil.copy(nibabel_file(NIBABEL_ANATOMICAL), root / "sub-07" / "anat" / "sub-07_T1w.nii")
    manifest = build_manifest(
        root, name="real only", version="1", publisher="Lab", config=ValidateConfig(jobs=1)
    )
    (root / MANIFEST_FILE).write_text(pretty_json(manifest), encoding="utf-8")
    out = tmp_path / "bids"
    result = export_bids(load_export_source(root), out)
    assert result.dataset_type == "raw"
    description = json.loads((out / "dataset_description.json").read_text())
    assert [g["Name"] for g in description["GeneratedBy"]] == ["synthmark"]
    assert "SourceDatasets" not in description
    assert (
        json.loads((out / "sub-07" / "anat" / "sub-07_T1w.json").read_text())["SyntheticData"]
        is False
    )
    done = _bids_validator(out)
    assert done.returncode == 0, done.stdout[-4000:]


def test_output_overlapping_the_dataset_is_refused(export_dataset: Path, tmp_path: Path) -> None:
    # A BIDS folder around (or inside) the dataset could link or copy a file onto itself.
    before = sorted(p.name for p in export_dataset.rglob("*"))
    inside = export_dataset / "bids-out"
    assert main(["manifest", "export", str(export_dataset), "--bids", str(inside)]) == 2
    parent = export_dataset.parent
    args = ["manifest", "export", str(export_dataset), "--bids", str(parent), "--overwrite"]
    assert main([*args, "--link", "hardlink"]) == 2
    assert sorted(p.name for p in export_dataset.rglob("*")) == before
