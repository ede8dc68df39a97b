"""Throughput of ``synthmark validate`` on the local pool vs a Dask LocalCluster.

    .venv/bin/python bench/dask_bench.py [--header-files 2000] [--full-files 200]
        [--repeat 3] [--out docs/dask-bench.md]

Needs ``pip install synthmark[dask]``. Same generated data for every runner, in the same
run, repeats interleaved round by round (medians reported) so that a noisy, shared machine
affects every runner alike:

* header-only: small DICOM files (pydicom's CT/MR test scans, half stamped);
* full validation (decode, digest, watermark detection): 512x512 CT slices, half marked.

Runners: the local process pool (``jobs=1``, ``jobs=2``; pool start-up included, as in a
real run); ``DaskExecutor`` on a running LocalCluster of 1 and 2 one-thread worker
processes on loopback (started and warmed up before timing; its start is reported apart);
a re-run that finds every partial complete (the resume path: stat, read, merge); and
``--scheduler local-cluster:N`` end to end (cluster start and stop included). Each Dask
run but the resume one recomputes every shard (``resume=False``) and writes its partials.

All data lives in a temporary folder deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from validate_bench import make_full_set, make_header_set  # noqa: E402

from synthmark.validation.config import ValidateConfig  # noqa: E402
from synthmark.validation.dask import DaskExecutor, validate_distributed  # noqa: E402
from synthmark.validation.engine import validate  # noqa: E402

HEADER_SHARD = 200
FULL_SHARD = 25


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _cluster(workers: int) -> tuple[Any, float]:
    from dask.distributed import Client, LocalCluster

    start = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = Client(cluster)
    client.wait_for_workers(workers)
    return (cluster, client), time.perf_counter() - start


def _signature(report: Any) -> tuple[Any, ...]:
    return (report.summary, tuple((f.code, f.path) for f in report.findings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--header-files", type=int, default=2000)
    parser.add_argument("--full-files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "dask-bench.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="synthmark-dask-bench-"))
    load_before = os.getloadavg()
    try:
        make_header_set(work, args.header_files)
        make_full_set(work, args.full_files)
        sets = {
            "header": (work / "header", ValidateConfig(header_only=True), HEADER_SHARD),
            "full": (work / "full", ValidateConfig(), FULL_SHARD),
        }
        counts = {"header": args.header_files, "full": args.full_files}
        times: dict[tuple[str, str], list[float]] = {}
        starts: dict[int, list[float]] = {1: [], 2: []}
        expected: dict[str, tuple[Any, ...]] = {}

        def record(runner: str, kind: str, seconds: float, report: Any) -> None:
            times.setdefault((runner, kind), []).append(seconds)
            sig = _signature(report)
            assert expected.setdefault(kind, sig) == sig, f"{runner} {kind}: report differs"
            print(f"  {runner:<28} {kind:<6} {counts[kind] / seconds:8.1f} files/s", flush=True)

        for round_ in range(args.repeat):
            print(f"round {round_ + 1}/{args.repeat}", flush=True)
            for jobs in (1, 2):
                for kind, (root, config, _) in sets.items():
                    cfg = ValidateConfig(header_only=config.header_only, jobs=jobs)
                    seconds, report = _timed(lambda r=root, c=cfg: validate([r], c))
                    record(f"local pool, jobs={jobs}", kind, seconds, report)
            for workers in (1, 2):
                (cluster, client), started = _cluster(workers)
                try:
                    address = cluster.scheduler_address
                    # Warm-up: workers import synthmark, pydicom and torch once.
                    warm = work / "warm"
                    if not warm.exists():
                        warm.mkdir()
                        for src in sorted((work / "full").rglob("*.dcm"))[:4]:
                            shutil.copy(src, warm / src.name)
                    warm_s, _ = _timed(
                        lambda w=warm, a=address: validate_distributed(
                            [w], DaskExecutor(a, work / "runs-warm", resume=False)
                        )
                    )
                    starts[workers].append(started + warm_s)
                    for kind, (root, config, shard) in sets.items():
                        runs = work / f"runs-{workers}-{kind}"
                        executor = DaskExecutor(address, runs, shard_size=shard, resume=False)
                        seconds, report = _timed(
                            lambda r=root, c=config, e=executor: validate_distributed([r], e, c)
                        )
                        assert executor.stats.computed == executor.stats.shards
                        record(f"dask, {workers} worker(s)", kind, seconds, report)
                        if workers == 2:
                            again = DaskExecutor(address, runs, shard_size=shard)
                            seconds, report = _timed(
                                lambda r=root, c=config, e=again: validate_distributed([r], e, c)
                            )
                            assert again.stats.computed == 0
                            record("dask, resume (all partials)", kind, seconds, report)
                finally:
                    client.close()
                    cluster.close()
            for workers in (1, 2):
                # What `--scheduler local-cluster:N` costs end to end: start, run, stop.
                for kind, (root, config, shard) in sets.items():
                    executor = DaskExecutor(
                        f"local-cluster:{workers}",
                        work / f"runs-cold-{workers}-{kind}",
                        shard_size=shard,
                        resume=False,
                    )
                    seconds, report = _timed(
                        lambda r=root, c=config, e=executor: validate_distributed([r], e, c)
                    )
                    record(f"local-cluster:{workers}, start included", kind, seconds, report)
        _write(args, times, starts, counts, load_before, os.getloadavg())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import dask
    import distributed

    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} logical CPU(s) ({cpu}), "
        f"Python {platform.python_version()}, dask {dask.__version__}, "
        f"distributed {distributed.__version__}"
    )


def _write(
    args: argparse.Namespace,
    times: dict[tuple[str, str], list[float]],
    starts: dict[int, list[float]],
    counts: dict[str, int],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    runners = list(dict.fromkeys(runner for runner, _ in times))

    def cell(runner: str, kind: str) -> str:
        values = times.get((runner, kind))
        if not values:
            return "-"
        rates = sorted(counts[kind] / s for s in values)
        return f"{statistics.median(rates):,.0f} ({rates[0]:,.0f}-{rates[-1]:,.0f})"

    lines = [
        "# Dask executor benchmark",
        "",
        "Generated by `bench/dask_bench.py`; do not edit by hand.",
        "",
        f"- Command: `.venv/bin/python bench/dask_bench.py --header-files {args.header_files} "
        f"--full-files {args.full_files} --repeat {args.repeat}`",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {_machine()}",
        f"- Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.2f}' for x in load_after)}",
        "- **The machine was shared** with other jobs running at the same time, so absolute "
        "rates are noisy; rounds are interleaved so every runner saw the same conditions.",
        "",
        f"Files per second, median of {args.repeat} (min-max in brackets). Header-only: "
        f"{counts['header']:,} small DICOM files (shards of {HEADER_SHARD}); full validation "
        f"(decode, digest, watermark detection): {counts['full']:,} 512x512 CT slices, half "
        f"marked (shards of {FULL_SHARD}).",
        "",
        "| runner | header-only | full validation |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r} | {cell(r, 'header')} | {cell(r, 'full')} |" for r in runners]
    lines += [
        "",
        "Every run produced the same summary and findings (checked by the benchmark).",
        "",
        "Notes:",
        "",
        "- Local pool times include starting the pool (forkserver), as a real run does; Dask "
        "times exclude starting the cluster, which took "
        + ", ".join(
            f"{statistics.median(v):.1f} s for {w} worker(s)" for w, v in starts.items() if v
        )
        + " (median, including a warm-up run in which workers import synthmark and torch).",
        "- Dask runs recompute every shard and write its partial (fsync included); the "
        "resume row re-runs with every partial complete: the client stats each file, reads "
        "the partials and merges, and no task runs.",
        "- `local-cluster:N, start included` is what `synthmark validate --executor dask "
        "--scheduler local-cluster:N` costs: start N worker processes (each imports "
        "synthmark, pydicom and, for full validation, torch), run, stop.",
        "- On this machine every runner shares the same 2 cores, and with the client and "
        "the scheduler: no runner can use more than those 2 cores, and differences smaller "
        "than the min-max spread are noise. The Dask executor is meant for clusters whose "
        "workers bring cores and I/O bandwidth of their own (docs/scale-out.md).",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
