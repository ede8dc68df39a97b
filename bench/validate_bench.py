"""Benchmark of ``synthmark validate`` against bare pydicom / decode+detect loops.

    .venv/bin/python bench/validate_bench.py [--quick] [--repeat 3] [--only 1234]
        [--out docs/validate-bench.md] [--synthmark-path DIR_WITH_A_PATCHED_synthmark]

Every ratio compares synthmark with a baseline measured in the same run on the same files,
interleaved repeat by repeat (medians reported), so that a noisy machine affects both sides.
Targets (from the scale-out issue):

1. header-only validation >= 0.8x the rate of a bare ``dcmread(stop_before_pixels=True)``
   loop (jobs=1 vs one process; jobs=2 vs a 2-process pool of the bare loop);
2. full validation (decode + digest + watermark detection) within 1.3x of bare
   ``open_image(p).pixels()`` + ``detect_content(content, None)``;
3. peak RSS of a fresh ``synthmark validate`` at 100,000 files <= 1.1x that at 1,000 files
   (parent alone and the whole process tree: forkserver and workers included);
4. incremental cache: a re-run with 10 files touched vs the first run.

All data is generated under a temporary folder and deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

REPO = Path(__file__).resolve().parent.parent


def _use_synthmark_copy() -> str | None:
    """``--synthmark-path DIR``: benchmark the synthmark package under DIR (a patched copy).

    Handled before anything imports synthmark; workers and CLI runs get it by PYTHONPATH.
    """
    if "--synthmark-path" not in sys.argv:
        return None
    folder = str(Path(sys.argv[sys.argv.index("--synthmark-path") + 1]).resolve())
    sys.path.insert(0, folder)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [folder, *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return folder


SYNTHMARK_COPY = _use_synthmark_copy()
SYNTHMARK = Path(sys.executable).parent / "synthmark"

# ------------------------------------------------------------------------ data making


def _record(modality: str) -> Any:
    from synthmark.demo import _synthetic_record

    return _synthetic_record(modality, "HEAD", "0" * 64)


def _stamp(src: Path, dest: Path, modality: str, *, pixels: Any = None, mark: bool = False) -> None:
    from synthmark.api import stamp

    kwargs: dict[str, Any] = {}
    if mark:
        from synthmark.watermark import PUBLIC_DETECTION_KEY

        kwargs = {"new_pixels": pixels, "watermark": PUBLIC_DETECTION_KEY}
    stamp(src, _record(modality), dest=dest, **kwargs)


def _copies(
    templates: list[Path],
    folder: Path,
    n: int,
    per_dir: int = 1000,
    *,
    distinct_records: bool = False,
) -> list[Path]:
    """``n`` byte-level copies of ``templates`` (round robin), each with a new SOP Instance UID
    and, with ``distinct_records``, for stamped templates its own record id (as in a real
    dataset, where every record is distinct, so no record cache can help).

    Both are patched in place with same-length values, so copying costs one write per file.
    """
    import uuid

    from synthmark.api import read_record
    from synthmark.errors import SynthmarkError

    blobs = []
    for t in templates:
        raw = t.read_bytes()
        ds = pydicom.dcmread(t, stop_before_pixels=True)
        uid = str(ds.SOPInstanceUID).encode()
        assert raw.count(uid) >= 1, t
        record_id: bytes | None = None
        if distinct_records:
            try:
                record_id = str(read_record(t).record.record_id).encode()
            except SynthmarkError:
                record_id = None
        blobs.append((raw, uid, record_id))
    out = []
    for i in range(n):
        raw, uid, record_id = blobs[i % len(blobs)]
        tag = str(i).encode()
        new = uid[: len(uid) - len(tag) - 1] + b"9" + tag if len(uid) > len(tag) + 2 else uid
        sub = folder / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"f{i:06d}.dcm"
        data = raw.replace(uid, new)
        if record_id is not None:
            data = data.replace(record_id, str(uuid.uuid4()).encode())
        path.write_bytes(data)
        out.append(path)
    return out


def make_header_set(work: Path, n: int) -> list[Path]:
    tpl = work / "tpl-header"
    tpl.mkdir(parents=True)
    templates = []
    for name, modality in (("CT_small.dcm", "CT"), ("MR_small.dcm", "MR")):
        plain = tpl / name
        shutil.copy(get_testdata_file(name), plain)
        stamped = tpl / ("stamped-" + name)
        _stamp(plain, stamped, modality)
        templates += [plain, stamped]
    return _copies(templates, work / "header", n, distinct_records=True)


def make_full_set(work: Path, n: int) -> list[Path]:
    """512x512 CT slices (J2K_pixelrep_mismatch.dcm, decompressed): half plain, half marked."""
    from synthmark.carriers import open_image

    tpl = work / "tpl-full"
    tpl.mkdir(parents=True)
    ds = pydicom.dcmread(get_testdata_file("J2K_pixelrep_mismatch.dcm"))
    ds.decompress()
    plain = tpl / "ct512.dcm"
    ds.save_as(plain, enforce_file_format=True)
    marked = tpl / "ct512-marked.dcm"
    content = open_image(plain).pixels()
    _stamp(plain, marked, "CT", pixels=content.array, mark=True)
    assert open_image(marked).dataset.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    return _copies([plain, marked], work / "full", n, per_dir=100000)


def make_tiny_set(work: Path, n: int, folder: str) -> Path:
    """``n`` 8x8 DICOM files (half carrying a record)."""
    tpl = work / "tpl-tiny"
    if not tpl.exists():
        tpl.mkdir(parents=True)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "OT"
        ds.PatientID = "BENCH"
        ds.Rows = ds.Columns = 8
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = np.arange(64, dtype=np.uint16).tobytes()
        ds.save_as(tpl / "tiny.dcm", enforce_file_format=True)
        _stamp(tpl / "tiny.dcm", tpl / "tiny-stamped.dcm", "OT")
    root = work / folder
    _copies([tpl / "tiny.dcm", tpl / "tiny-stamped.dcm"], root, n)
    return root


# ------------------------------------------------------------------------ baselines


def _bare_headers(paths: list[str]) -> int:
    for p in paths:
        pydicom.dcmread(p, stop_before_pixels=True)
    return len(paths)


def _bare_full(paths: list[str]) -> int:
    from synthmark.carriers import open_image
    from synthmark.watermark.content import detect_content

    _single_thread()
    for p in paths:
        detect_content(open_image(Path(p)).pixels(), None)
    return len(paths)


def _single_thread() -> None:
    # The same setting validate's workers use when jobs > 1.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _pool(fn: Callable[[list[str]], int], paths: list[Path], jobs: int, chunk: int) -> float:
    """Seconds for a fresh forkserver pool of ``jobs`` running ``fn`` over chunks."""
    strs = [str(p) for p in paths]
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        done = sum(pool.map(fn, [strs[i : i + chunk] for i in range(0, len(strs), chunk)]))
    assert done == len(paths)
    return time.perf_counter() - t0


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def _validate(root: Path, **config: Any) -> tuple[float, Any]:
    from synthmark.validation.config import ValidateConfig
    from synthmark.validation.engine import validate

    return _timed(lambda: validate([root], ValidateConfig(**config)))


# ------------------------------------------------------------------------ measurements


def _med(values: list[float]) -> float:
    return statistics.median(values)


def _fmt(values: list[float]) -> str:
    return f"{_med(values):.2f} s ({', '.join(f'{v:.2f}' for v in values)})"


def bench_header(root: Path, paths: list[Path], repeat: int) -> list[str]:
    n = len(paths)
    times: dict[str, list[float]] = {k: [] for k in ("bare1", "val1", "bare2", "val2")}
    strs = [str(p) for p in paths]
    _bare_headers(strs[:200])  # warm imports and page cache
    for _ in range(repeat):
        times["bare1"].append(_timed(lambda: _bare_headers(strs))[0])
        t, report = _validate(root, header_only=True, jobs=1)
        assert report.summary.files == n, report.summary
        times["val1"].append(t)
        times["bare2"].append(_pool(_bare_headers, paths, 2, 256))
        t, report = _validate(root, header_only=True, jobs=2)
        assert report.summary.files == n, report.summary
        times["val2"].append(t)
    rate = {k: n / _med(v) for k, v in times.items()}
    r1, r2 = rate["val1"] / rate["bare1"], rate["val2"] / rate["bare2"]
    return [
        f"### 1. Header-only validation, {n:,} DICOM files (CT_small/MR_small copies, half "
        "stamped, every record distinct), no cache",
        "",
        "| runner | time: median (all runs) | files/s |",
        "|---|---|---|",
        f"| bare `dcmread(stop_before_pixels=True)`, 1 process | {_fmt(times['bare1'])} "
        f"| {rate['bare1']:,.0f} |",
        f"| `validate(header_only=True, jobs=1)` | {_fmt(times['val1'])} | {rate['val1']:,.0f} |",
        f"| bare loop, forkserver pool of 2, chunks of 256 (pool start included) "
        f"| {_fmt(times['bare2'])} | {rate['bare2']:,.0f} |",
        f"| `validate(header_only=True, jobs=2)` | {_fmt(times['val2'])} | {rate['val2']:,.0f} |",
        "",
        f"- jobs=1 vs bare 1 process: **{r1:.2f}x** (target >= 0.8x: "
        f"{'met' if r1 >= 0.8 else 'NOT met'})",
        f"- jobs=2 vs bare pool of 2: **{r2:.2f}x** (target >= 0.8x: "
        f"{'met' if r2 >= 0.8 else 'NOT met'})",
        f"- scaling jobs=1 -> 2: validate {rate['val2'] / rate['val1']:.2f}x, bare "
        f"{rate['bare2'] / rate['bare1']:.2f}x",
        "",
    ]


def bench_full(root: Path, paths: list[Path], repeat: int) -> list[str]:
    from synthmark.carriers import open_image
    from synthmark.watermark.content import detect_content

    n = len(paths)
    mp = 512 * 512 * n / 1e6
    keys = ("bare", "decode", "detect", "val1", "bare2", "val2")
    times: dict[str, list[float]] = {k: [] for k in keys}
    _bare_full_inproc = _make_bare_full_split(open_image, detect_content)
    # In-process runs (bare and jobs=1) share this process's torch settings. With torch's
    # default 2 threads on a loaded 2-core machine, the same work took from 1.2 s to 53 s;
    # one thread each keeps the comparison stable (and is what jobs>1 workers use).
    _single_thread()
    _bare_full_inproc(paths[:4])  # warm: torch import, FFT plans
    for _ in range(repeat):
        t, (dec, det) = _timed(lambda: _bare_full_inproc(paths))
        times["bare"].append(t)
        times["decode"].append(dec)
        times["detect"].append(det)
        t, report = _validate(root, jobs=1)
        assert report.summary.files == n and report.summary.watermarked == n // 2, report.summary
        times["val1"].append(t)
        times["bare2"].append(_pool(_bare_full, paths, 2, 8))
        t, report = _validate(root, jobs=2)
        assert report.summary.files == n and report.summary.watermarked == n // 2, report.summary
        times["val2"].append(t)
    med = {k: _med(v) for k, v in times.items()}
    r1 = med["val1"] / med["bare"]
    r2 = med["val2"] / med["bare2"]

    def row(label: str, key: str) -> str:
        return f"| {label} | {_fmt(times[key])} | {n / med[key]:.1f} | {mp / med[key]:.2f} |"

    return [
        f"### 2. Full validation (decode + digest + watermark detection), {n} files of "
        "512x512 16-bit CT (uncompressed), half watermarked and stamped, no cache",
        "",
        "| runner | time: median (all runs) | files/s | MP/s |",
        "|---|---|---|---|",
        row(
            "bare decode + detect, in process, torch 1 thread (`open_image(p).pixels()` + "
            "`detect_content(c, None)`)",
            "bare",
        ),
        row("... of which decode alone (`open_image(p).pixels()`)", "decode"),
        row("... of which detect alone (`detect_content`)", "detect"),
        row("`validate(jobs=1)` (same process, torch 1 thread)", "val1"),
        row(
            "bare decode + detect, forkserver pool of 2, chunks of 8, 1 torch thread each "
            "(pool start included)",
            "bare2",
        ),
        row("`validate(jobs=2)`", "val2"),
        "",
        f"- jobs=1 time / bare decode+detect time: **{r1:.2f}x** (target <= 1.3x: "
        f"{'met' if r1 <= 1.3 else 'NOT met'})",
        f"- jobs=2 time / bare pool-of-2 time: **{r2:.2f}x** (target <= 1.3x: "
        f"{'met' if r2 <= 1.3 else 'NOT met'})",
        "",
    ]


def _make_bare_full_split(open_image: Any, detect_content: Any) -> Callable[[list[Path]], Any]:
    def run(paths: list[Path]) -> tuple[float, float]:
        dec = det = 0.0
        for p in paths:
            t0 = time.perf_counter()
            content = open_image(p).pixels()
            t1 = time.perf_counter()
            detect_content(content, None)
            t2 = time.perf_counter()
            dec += t1 - t0
            det += t2 - t1
        return dec, det

    return run


def _tree_rss_kib(root_pid: int) -> tuple[int, int]:
    """(RSS of root_pid's process tree summed, number of processes), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
    total, count, stack = 0, 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        count += 1
        stack += children.get(pid, [])
    return total, count


def _cli_rss(root: Path, jobs: int, header_only: bool) -> dict[str, float]:
    """Run a fresh ``synthmark validate`` under /usr/bin/time -v; sample the tree's RSS."""
    out = root.parent / f"report-{root.name}.json"
    cmd = [
        str(SYNTHMARK),
        "validate",
        str(root),
        "--no-cache",
        "-q",
        "-j",
        str(jobs),
        "--format",
        "json",
        "-o",
        str(out),
    ]
    if header_only:
        cmd.insert(3, "--header-only")
    use_time = Path("/usr/bin/time").exists()
    full = (["/usr/bin/time", "-v"] if use_time else []) + cmd
    t0 = time.perf_counter()
    proc = subprocess.Popen(full, stderr=subprocess.PIPE, text=True)
    peak_tree = peak_procs = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree, peak_procs
        while not stop.is_set():
            total, count = _tree_rss_kib(proc.pid)
            peak_tree = max(peak_tree, total)
            peak_procs = max(peak_procs, count)
            stop.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, err = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"synthmark validate exited {proc.returncode}: {err[-2000:]}")
    max_rss = 0
    for line in err.splitlines():
        if "Maximum resident set size" in line:
            max_rss = int(line.rsplit(":", 1)[1])
    files = json.loads(out.read_text())["summary"]["files"]
    out.unlink()
    return {"wall": wall, "maxrss": max_rss, "tree": peak_tree, "procs": peak_procs, "files": files}


def bench_rss(work: Path, small: int, large: int, repeat: int) -> list[str]:
    t0 = time.perf_counter()
    roots = {
        small: make_tiny_set(work, small, f"tiny{small}"),
        large: make_tiny_set(work, large, f"tiny{large}"),
    }
    made = time.perf_counter() - t0
    rows, ratios = [], {}
    for jobs in (2, 1):
        res: dict[int, list[dict[str, float]]] = {small: [], large: []}
        reps = {small: repeat, large: 1}
        for r in range(max(reps.values())):
            for n in (small, large):
                if r < reps[n]:
                    res[n].append(_cli_rss(roots[n], jobs, True))
        for n in (small, large):
            got = res[n]
            assert all(g["files"] == n for g in got), got
            rows.append(
                f"| {n:,} | {jobs} | {_med([g['wall'] for g in got]):.1f} "
                f"| {_med([g['maxrss'] for g in got]) / 1024:.1f} "
                f"| {_med([g['tree'] for g in got]) / 1024:.1f} "
                f"| {max(g['procs'] for g in got):.0f} | {len(got)} |"
            )
        ratios[jobs] = (
            _med([g["maxrss"] for g in res[large]]) / _med([g["maxrss"] for g in res[small]]),
            _med([g["tree"] for g in res[large]]) / _med([g["tree"] for g in res[small]]),
        )
    lines = [
        f"### 3. Peak memory of a fresh `synthmark validate --header-only --no-cache` "
        f"process, {small:,} vs {large:,} files of 8x8 pixels (half stamped)",
        "",
        f"(generating the {large + small:,} files took {made:.0f} s; header-only, because "
        "full validation of 8x8 images skips detection anyway and header-only is the mode "
        "a 100k+ tree is first checked with)",
        "",
        "| files | jobs | wall s | peak RSS, largest process (`/usr/bin/time -v`), MiB "
        "| peak RSS, whole tree summed (sampled /proc every 50 ms), MiB | processes | runs |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    for jobs, (a, b) in ratios.items():
        lines.append(
            f"- jobs={jobs}: {large:,}/{small:,} peak RSS ratio **{a:.2f}x** largest process, "
            f"**{b:.2f}x** whole tree (target <= 1.1x: "
            f"{'met' if max(a, b) <= 1.1 else 'NOT met'})"
        )
    lines.append("")
    return lines


def bench_cache(work: Path, root: Path, paths: list[Path], repeat: int) -> list[str]:
    n = len(paths)
    times: dict[str, list[float]] = {k: [] for k in ("nocache", "first", "rerun")}
    touched_ok = True
    for r in range(repeat):
        cache = work / f"cache{r}"
        times["nocache"].append(_validate(root, header_only=True, jobs=2)[0])
        t, first = _validate(root, header_only=True, jobs=2, cache_dir=cache)
        times["first"].append(t)
        stamp_ns = time.time_ns() + 10**9 * (r + 1)
        for p in paths[r * 10 : r * 10 + 10]:
            os.utime(p, ns=(stamp_ns, stamp_ns))
        t, second = _validate(root, header_only=True, jobs=2, cache_dir=cache)
        times["rerun"].append(t)
        touched_ok &= second.summary.files == n and second.findings == first.findings
    med = {k: _med(v) for k, v in times.items()}
    return [
        f"### 4. Incremental cache, {n:,} files (the set of table 1), header-only, jobs=2",
        "",
        "| run | time: median (all runs) |",
        "|---|---|",
        f"| no cache | {_fmt(times['nocache'])} |",
        f"| first run, empty cache (cache written) | {_fmt(times['first'])} |",
        f"| re-run, 10 files touched (mtime changed) | {_fmt(times['rerun'])} |",
        "",
        f"- re-run / first run: **{med['rerun'] / med['first']:.3f}x** "
        f"({med['first'] / med['rerun']:.1f}x faster); first run with cache / no cache: "
        f"{med['first'] / med['nocache']:.2f}x; reports identical: {touched_ok}",
        "",
    ]


# ------------------------------------------------------------------------ main


def _machine() -> str:
    import torch

    import synthmark

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python "
        f"{platform.python_version()}, synthmark {synthmark.__version__}, pydicom "
        f"{pydicom.__version__}, numpy {np.__version__}, torch {torch.__version__}; "
        f"synthmark imported from {Path(synthmark.__file__).parent}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="1234", help="which tables, e.g. 13")
    parser.add_argument("--out", type=Path, help="append the tables to this Markdown file")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--synthmark-path", help="folder holding a synthmark package to test")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    n_header, n_full = (1000, 12) if args.quick else (10_000, 200)
    small, large = (1000, 10_000) if args.quick else (1000, 100_000)

    started = time.perf_counter()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join([".venv/bin/python", "bench/validate_bench.py", *sys.argv[1:]])
    lines = [f"## Run of {when}", "", f"Command: `{command}`", "", f"Machine: {_machine()}", ""]
    work = Path(tempfile.mkdtemp(prefix="synthmark-vbench-", dir="/tmp"))
    try:
        header_paths: list[Path] = []
        if "1" in args.only or "4" in args.only:
            t0 = time.perf_counter()
            header_paths = make_header_set(work, n_header)
            print(f"made {n_header} header files in {time.perf_counter() - t0:.1f} s", flush=True)
        if "1" in args.only:
            lines += bench_header(work / "header", header_paths, repeat)
            print("\n".join(lines), flush=True)
        if "2" in args.only:
            full_paths = make_full_set(work, n_full)
            lines += bench_full(work / "full", full_paths, repeat)
            print("\n".join(lines[-14:]), flush=True)
        if "3" in args.only:
            lines += bench_rss(work, small, large, repeat)
            print("\n".join(lines[-14:]), flush=True)
        if "4" in args.only:
            lines += bench_cache(work, work / "header", header_paths, repeat)
            print("\n".join(lines[-10:]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    lines += [f"(benchmark wall time {time.perf_counter() - started:.0f} s)", ""]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        with args.out.open("a", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
