"""``--executor dask``: same report as the local pool, sharded partials, resume, CLI.

The cluster is an in-process LocalCluster on loopback (threads, no worker start-up cost);
bench/dask_bench.py exercises real worker processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from synthmark.cli import main
from synthmark.errors import OptionalDependencyError, UsageError
from synthmark.validation.config import ValidateConfig
from synthmark.validation.dask import DaskExecutor, validate_distributed
from synthmark.validation.engine import validate
from synthmark.validation.report import Report
from tests.validate.conftest import real_copies, strip_labels

LOCAL = ValidateConfig(jobs=1)


def _needs_dask() -> None:
    pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """Address of a two-worker in-process cluster on loopback."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield str(cluster.scheduler_address)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, marked_synthetic: Path) -> Path:
    """Real scans, an acknowledged synthetic one, a stripped one, and unreadable files."""
    root = tmp_path_factory.mktemp("dask") / "dataset"
    real_copies(root / "real", 14)
    (root / "synthetic").mkdir()
    shutil.copy(marked_synthetic, root / "synthetic" / "acknowledged.dcm")
    strip_labels(marked_synthetic, root / "real" / "stripped.dcm")
    (root / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x01" * 40)
    (root / "notes.txt").write_text("not an image\n")
    return root


def _comparable(report: Report) -> dict[str, Any]:
    data = report.to_json()
    del data["duration_s"]  # the one field that differs between runs
    data["internal_errors"] = report.internal_errors
    data["thumbnails"] = [(t.path, t.png, t.z, t.p_value, t.synthetic) for t in report.thumbnails]
    return data


def _files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def test_dask_report_equals_the_local_one(scheduler: str, dataset: Path, tmp_path: Path) -> None:
    local = validate([dataset], LOCAL)
    assert [f.code for f in local.findings if f.path == "real/stripped.dcm"] == ["SM501"]
    assert local.summary.synthetic_acknowledged == 1

    executor = DaskExecutor(scheduler, tmp_path / "runs", shard_size=4)
    distributed = validate_distributed([dataset], executor, LOCAL)
    assert _comparable(distributed) == _comparable(local)
    total = _files(dataset)  # notes.txt is walked (and reported SM903) too
    assert executor.stats.shards == -(-total // 4)
    assert executor.stats.computed == executor.stats.shards
    assert executor.stats.files_inspected == total
    assert executor.stats.run_folder is not None
    partials = sorted(executor.stats.run_folder.glob("shard-*.jsonl"))
    assert len(partials) == executor.stats.shards

    # Thumbnails (bytes) survive the partials too.
    html = ValidateConfig(jobs=1, thumbnails=True)
    assert _comparable(
        validate_distributed([dataset], DaskExecutor(scheduler, tmp_path / "t", 5), html)
    ) == _comparable(validate([dataset], html))


def test_an_interrupted_run_resumes_with_the_remaining_shards(
    scheduler: str, dataset: Path, tmp_path: Path
) -> None:
    config = ValidateConfig(jobs=1, header_only=True)
    local = validate([dataset], config)
    runs = tmp_path / "runs"

    def abort(index: int, reused: bool) -> None:
        raise RuntimeError("killed after the first shard")

    # window=1: one shard in flight, so exactly shard 0 is complete when the run dies.
    first = DaskExecutor(scheduler, runs, shard_size=4, window=1, on_shard=abort)
    with pytest.raises(RuntimeError, match="killed"):
        validate_distributed([dataset], first, config)
    assert first.stats.run_folder is not None
    done = {p: p.stat().st_mtime_ns for p in first.stats.run_folder.glob("shard-*.jsonl")}
    assert [p.name[:13] for p in done] == ["shard-0000000"]

    second = DaskExecutor(scheduler, runs, shard_size=4)
    report = validate_distributed([dataset], second, config)
    assert _comparable(report) == _comparable(local)
    total = _files(dataset)
    assert (second.stats.reused, second.stats.computed) == (1, second.stats.shards - 1)
    assert second.stats.files_inspected == total - 4
    assert {p: p.stat().st_mtime_ns for p in done} == done  # read, not rewritten

    # A finished run re-runs from its partials alone; a changed file redoes its shard only.
    third = DaskExecutor(scheduler, runs, shard_size=4)
    assert _comparable(validate_distributed([dataset], third, config)) == _comparable(local)
    assert third.stats.computed == 0
    touched = dataset / "real" / "real-0003.dcm"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    fourth = DaskExecutor(scheduler, runs, shard_size=4)
    validate_distributed([dataset], fourth, config)
    assert fourth.stats.computed == 1
    assert len(list(runs.glob("*/shard-*.jsonl"))) == fourth.stats.shards  # stale one gone

    # Without resume every shard is recomputed.
    fresh = DaskExecutor(scheduler, runs, shard_size=4, resume=False)
    validate_distributed([dataset], fresh, config)
    assert fresh.stats.computed == fresh.stats.shards


def test_a_corrupt_partial_is_recomputed(scheduler: str, dataset: Path, tmp_path: Path) -> None:
    config = ValidateConfig(jobs=1, header_only=True)
    executor = DaskExecutor(scheduler, tmp_path, shard_size=6)
    expected = _comparable(validate_distributed([dataset], executor, config))
    assert executor.stats.run_folder is not None
    partial = sorted(executor.stats.run_folder.glob("shard-*.jsonl"))[1]
    partial.write_bytes(partial.read_bytes()[:-40])
    again = DaskExecutor(scheduler, tmp_path, shard_size=6)
    assert _comparable(validate_distributed([dataset], again, config)) == expected
    assert again.stats.computed == 1


def test_cli_dask_matches_local(
    scheduler: str, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["validate", str(dataset), "--header-only", "--format", "json", "--jobs", "1"]
    assert main([*common, "--no-cache"]) == 1  # the corrupt file is an error finding
    local = json.loads(capsys.readouterr().out)
    argv = [*common, "--executor", "dask", "--scheduler", scheduler, "--shard-size", "5"]
    assert main([*argv, "--run-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    remote = json.loads(captured.out)
    assert "computed" in captured.err
    for data in (local, remote):
        del data["duration_s"]
    assert remote == local


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path), "--executor", "dask"]) == 2
    assert "--scheduler" in capsys.readouterr().err
    assert main(["validate", str(tmp_path), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "only with --executor dask" in capsys.readouterr().err
    argv = ["validate", str(tmp_path), "--executor", "dask", "--scheduler", "local-cluster:0"]
    assert main(argv) == 2
    with pytest.raises(UsageError):
        DaskExecutor("tcp://127.0.0.1:8786", tmp_path, shard_size=0)


def test_missing_dask_is_an_optional_dependency_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_copies(tmp_path / "d", 1)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails as if absent
    executor = DaskExecutor("local-cluster:1", tmp_path / "runs")
    with pytest.raises(OptionalDependencyError) as caught:
        validate_distributed([tmp_path / "d"], executor, LOCAL)
    assert "pip install synthmark[dask]" in caught.value.hint
    argv = ["validate", str(tmp_path / "d"), "--executor", "dask", "--scheduler", "x:1"]
    assert main(argv) == 2
    assert "SMX050" in capsys.readouterr().err


def test_help_does_not_import_dask() -> None:
    code = (
        "import sys; from synthmark.cli import main; "
        "main(['--help']); main(['validate', '--help']); "
        "sys.exit(1 if 'dask' in sys.modules or 'torch' in sys.modules else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert result.returncode == 0, result.stderr


class _Future:
    """Stands for a distributed.Future that has finished (raising ``exc``, if given)."""

    def __init__(self, exc: BaseException | None = None) -> None:
        self.exc = exc

    def result(self) -> None:
        if self.exc is not None:
            raise self.exc


def test_shard_failures_map_to_errors_and_bug_findings(tmp_path: Path) -> None:
    import concurrent.futures

    from synthmark.errors import ConfigError, WriteFailedError
    from synthmark.validation.dask import _Pending, _shard_result
    from synthmark.validation.engine import INTERNAL_ERROR, WalkItem

    shard = [WalkItem(tmp_path / "a.dcm", tmp_path, "a.dcm")]
    target = tmp_path / "shard-0000000-x.jsonl"

    def outcome(exc: BaseException) -> list[Any]:
        return _shard_result(_Pending(0, shard, target, _Future(exc), None))

    # A worker that died on the shard (dask's KilledWorker): bug findings, as locally.
    facts = outcome(RuntimeError("KilledWorker"))
    assert [(f.path, f.error_code) for f in facts] == [("a.dcm", INTERNAL_ERROR)]
    with pytest.raises(WriteFailedError) as caught:
        outcome(WriteFailedError("cannot create a file in /x"))
    assert "--run-dir" in caught.value.hint
    with pytest.raises(ConfigError, match="lost the Dask scheduler"):
        outcome(concurrent.futures.CancelledError())
    # The task succeeded but its partial is not where the client looks: not shared.
    with pytest.raises(WriteFailedError, match="missing or unreadable"):
        _shard_result(_Pending(0, shard, target, _Future(), None))


def test_dask_logs_lose_their_tracebacks_on_the_command_line() -> None:
    import io
    import logging

    _needs_dask()
    from synthmark.validation.dask import one_line_dask_logs

    # Outside pytest dask installs its own stderr handlers (pytest's log capture stops it):
    # stand in for one.
    logger = logging.getLogger("distributed.client")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        with one_line_dask_logs():
            try:
                raise OSError("connection refused")
            except OSError:
                logger.exception("Failed to reconnect")
                logger.exception("")
        logger.error("after", exc_info=ValueError("v"))
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    text = stream.getvalue()
    assert "Failed to reconnect" in text
    assert "connection refused" not in text.split("after")[0]  # no traceback inside
    assert "ValueError" in text  # the filter is gone after the block
    assert text.count("\n") == 3  # the record that was only a traceback is dropped


def test_files_named_by_settings_count_by_content_and_travel_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthmark.validation.dask import _absolute, settings_key
    from synthmark.validation.engine import RunSettings
    from synthmark.watermark import generate_key, save_keyring

    monkeypatch.chdir(tmp_path)
    save_keyring([generate_key()], Path("ring.json"))
    settings = RunSettings(
        header_only=False,
        keyring=Path("ring.json"),
        fpr=1e-6,
        thumbnails=False,
        real_thumbnails=False,
        single_thread=False,
    )
    portable = _absolute(settings)
    assert portable.keyring == tmp_path / "ring.json"
    before = settings_key(portable)
    assert settings_key(replace(portable, single_thread=True)) == before  # speed only
    save_keyring([generate_key()], Path("ring.json"))  # same path, other keys
    assert settings_key(portable) != before
