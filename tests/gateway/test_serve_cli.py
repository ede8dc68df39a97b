"""``synthmark serve dicom``: options, the optional dependency, signals."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from synthmark.cli import main
from tests.gateway.conftest import Samples, send

_RUN_CLI = "import sys; from synthmark.cli import main; sys.exit(main(sys.argv[1:]))"


def test_needs_exactly_one_destination(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "dicom", "--port", "0"]) == 2
    assert "exactly one of --store" in capsys.readouterr().err
    args = ["serve", "dicom", "--port", "0", "--store", str(tmp_path), "--forward", "h:1"]
    assert main(args) == 2


def test_bad_forward_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "dicom", "--port", "0", "--forward", "nohost"]) == 2
    assert "SMX001" in capsys.readouterr().err


def test_missing_pynetdicom_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pynetdicom", None)  # makes `import pynetdicom` fail
    assert main(["serve", "dicom", "--port", "0", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "SMX050" in err and "pip install synthmark[gateway]" in err
    assert "Traceback" not in err


def test_help_imports_neither_pynetdicom_nor_torch() -> None:
    code = (
        "import sys; from synthmark.cli import main; "
        "main(['--help']); main(['serve', '--help']); main(['serve', 'dicom', '--help']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pynetdicom', 'torch')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_serves_until_sigterm(samples: Samples, tmp_path: Path) -> None:
    store = tmp_path / "store"
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN_CLI, "serve", "dicom", "--port", "0", "--store", str(store)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in process.stderr],
        daemon=True,  # type: ignore[union-attr]
    )
    reader.start()
    try:
        port = None
        while port is None:
            line = lines.get(timeout=60)
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            port = int(match.group(1)) if match else None
        assert send(port, [samples.real, samples.unacknowledged]) == [0, 0xC501]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(10)
    log = "".join(lines.queue)
    assert "SIGTERM received" in log
    assert "stopped: 1 accepted, 1 rejected, 0 failed" in log
    assert "Traceback" not in log
    assert len(list(store.glob("*.dcm"))) == 1
