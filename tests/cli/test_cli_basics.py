"""CLI basics: speed of --help, exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthmark import __version__
from synthmark.cli import main
from synthmark.errors import all_error_classes
from tests.conftest import EXAMPLES, REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from synthmark.cli import entry_point; entry_point()", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_help_is_fast_and_does_not_import_torch() -> None:
    code = (
        "import sys, time; t=time.perf_counter();"
        "from synthmark.cli import main; main(['--help']);"
        "print('TORCH' if 'torch' in sys.modules else 'NOTORCH');"
        "print('PYDICOM' if 'pydicom' in sys.modules else 'NOPYDICOM')"
    )
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        best = min(best, time.perf_counter() - start)
    assert "NOTORCH" in result.stdout
    assert "NOPYDICOM" in result.stdout
    assert best < 0.5, f"synthmark --help took {best:.2f} s"


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_record_check_exit_codes(tmp_path: Path) -> None:
    valid = str(EXAMPLES / "valid-diffusion-ct-chest.json")
    invalid = str(EXAMPLES / "invalid-synthetic-with-digitalCapture.json")
    assert main(["record", "check", valid]) == 0
    assert main(["record", "check", valid, invalid]) == 1
    assert main(["record", "check", str(tmp_path / "absent.json")]) == 2
    assert main(["record", "check"]) == 2
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\x01not json")
    assert main(["record", "check", str(garbage)]) == 2


def test_invalid_record_lists_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "check", str(EXAMPLES / "invalid-missing-record_id.json")]) == 1
    out = capsys.readouterr().out
    assert "record_id: Field required" in out


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = _run("record", "check", str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "SMX010" in result.stderr


def test_unknown_option_is_usage_error() -> None:
    assert main(["--definitely-not-an-option"]) == 2


def test_internal_error_exits_70_and_says_bug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import synthmark.record.parsing

    def boom(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(synthmark.record.parsing, "read_json_file", boom)
    monkeypatch.delenv("SYNTHMARK_DEBUG", raising=False)
    assert main(["record", "check", str(EXAMPLES / "valid-real-ct-acquisition.json")]) == 70
    err = capsys.readouterr().err
    assert "bug" in err
    assert "Traceback" not in err


def test_schema_export_reproduces_committed_schemas(tmp_path: Path) -> None:
    assert main(["schema", "export", str(tmp_path)]) == 0
    from synthmark.specgen.schema import render_schemas

    for name in render_schemas():
        assert (tmp_path / name).read_bytes() == (REPO / "schema" / name).read_bytes()
    assert main(["schema", "check", str(tmp_path)]) == 0
    (tmp_path / "record.v1.schema.json").write_text("{}")
    assert main(["schema", "check", str(tmp_path)]) == 1


def test_error_codes_are_unique() -> None:
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))


def test_console_script_installed() -> None:
    script = Path(sys.executable).parent / "synthmark"
    assert script.exists() or os.environ.get("CI") is None


def test_public_validate_is_the_function_even_after_the_engine_is_imported(
    tmp_path: Path,
) -> None:
    import synthmark
    import synthmark.validation.engine

    report = synthmark.validate([tmp_path])
    assert not report.failed
