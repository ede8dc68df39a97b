"""stamp / verify / inspect / demo through the CLI: exit codes, outputs, no data loss."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from synthmark.cli import main
from tests.conftest import EXAMPLES

RECORD = str(EXAMPLES / "valid-diffusion-ct-chest.json")


def _ct(folder: Path, name: str = "ct.dcm") -> Path:
    source = get_testdata_file("CT_small.dcm", download=False)
    assert source is not None
    dest = folder / name
    shutil.copy(source, dest)
    return dest


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_stamp_verify_inspect_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _ct(tmp_path)
    out = tmp_path / "out.dcm"
    assert main(["stamp", str(source), "--record", RECORD, "-o", str(out)]) == 0
    assert main(["verify", str(out)]) == 0
    assert main(["verify", str(source)]) == 1
    capsys.readouterr()
    assert main(["verify", "--format", "json", str(out), str(source)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["ok"] for f in report["files"]] == [True, False]
    assert report["files"][0]["binding"] == "pass"
    assert report["files"][1]["problems"][0]["code"] == "SMV001"
    assert main(["inspect", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["digital_source_type"].endswith("trainedAlgorithmicMedia")
    assert len(printed["binding"]["sha256"]) == 64
    assert main(["inspect", str(source)]) == 1


def test_stamp_needs_exactly_one_destination(tmp_path: Path) -> None:
    source = _ct(tmp_path)
    assert main(["stamp", str(source), "--record", RECORD]) == 2
    assert main(["stamp", str(source), "--record", RECORD, "-o", "x.dcm", "--in-place"]) == 2


def test_stamp_with_invalid_record_is_config_error(tmp_path: Path) -> None:
    source = _ct(tmp_path)
    before = _digest(tmp_path)
    bad = str(EXAMPLES / "invalid-synthetic-with-digitalCapture.json")
    assert main(["stamp", str(source), "--record", bad, "-o", str(tmp_path / "o.dcm")]) == 2
    assert _digest(tmp_path) == before


def test_stamp_folder_in_parallel_gives_each_file_its_own_record(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    _ct(data, "a.dcm")
    _ct(data / "sub", "b.dcm")
    out = tmp_path / "out"
    assert main(["stamp", str(data), "--record", RECORD, "-o", str(out), "--jobs", "2"]) == 0
    from synthmark.api import read_record

    ids = {
        read_record(out / "a.dcm").record.record_id,
        read_record(out / "sub" / "b.dcm").record.record_id,
    }
    assert len(ids) == 2
    assert main(["verify", str(out)]) == 0


@pytest.mark.parametrize(
    ("content", "expected_code"),
    [
        (b"", "SMX013"),
        (b"just some text, not an image\n", "SMX012"),
        (b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI", "SMX013"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "SMX013"),
    ],
)
def test_bad_inputs_give_one_line_and_leave_files_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected_code: str
) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    before = _digest(tmp_path)
    assert main(["stamp", str(bad), "--record", RECORD, "-o", str(tmp_path / "o.dcm")]) == 2
    err = capsys.readouterr().err
    assert expected_code in err
    assert "Traceback" not in err
    assert main(["verify", str(bad)]) == 2
    assert main(["inspect", str(bad)]) == 2
    assert _digest(tmp_path) == before


def test_truncated_stamped_file_fails_verify(tmp_path: Path) -> None:
    source = _ct(tmp_path)
    out = tmp_path / "out.dcm"
    assert main(["stamp", str(source), "--record", RECORD, "-o", str(out)]) == 0
    data = out.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["verify", str(cut)]) in (1, 2)


def test_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "absent.dcm")]) == 2
    assert "SMX010" in capsys.readouterr().out


def test_demo_runs_and_every_expectation_holds(tmp_path: Path) -> None:
    from synthmark.demo import DemoOutcome, run_demo

    items = list(run_demo(tmp_path))
    outcome = items[-1]
    assert isinstance(outcome, DemoOutcome)
    assert outcome.ok, outcome.checks
    assert main(["demo", "--workdir", str(tmp_path / "again")]) == 0
