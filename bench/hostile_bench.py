"""Hostile-input bench: peak memory, wall time and exit code of each command on each file.

    .venv/bin/python bench/hostile_bench.py              # writes docs/hostile-bench.md
    .venv/bin/python bench/hostile_bench.py --out ''     # print only

Builds the corpus of tests/limits/corpus.py at its most hostile (level-9 bombs: smallest
on disk, slowest to inflate) in a temporary folder: huge declared sizes with tiny
payloads, inflate bombs in every compressed container, long and deeply nested DICOM
sequences, truncated files. Runs ``verify``, ``detect``, ``inspect`` and ``validate`` on
each file in a fresh process under the default limits (SYNTHMARK_* variables removed), and
``validate`` over a folder that mixes every file with good ones (``-j 1``: one process,
whose peak is the peak). Peak RSS is the child's ``ru_maxrss`` from ``wait4``; every file
is hashed before and after. Target (issue 14): every run under 1 GB and 10 s, no file changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.limits import corpus  # noqa: E402 - the repository root is put on the path first

SYNTHMARK = [sys.executable, "-c", "from synthmark.cli import entry_point; entry_point()"]
COMMANDS = ("verify", "detect", "inspect", "validate")
LIMIT_S = 60.0
TARGET_RSS_MB = 1024
TARGET_S = 10.0

#: name -> (what it is, builder)
CORPUS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "png-declared-100000.png": (
        "PNG IHDR declares 100000x100000, one row of data",
        lambda: corpus.png(100_000, 100_000),
    ),
    "png-13000.png": (
        "13000x13000 grey PNG, every row present (zeros)",
        lambda: corpus.png(13_000, 13_000, full=True, level=9),
    ),
    "png-idat-bomb.png": (
        "1024x1024 PNG whose IDAT inflates to 1 GiB",
        lambda: _png_idat_bomb(1024, 1 << 30),
    ),
    "tiff-deflate-13000.tif": (
        "13000x13000 TIFF, one deflate strip of zeros",
        lambda: corpus.tiff_deflate(13_000, 13_000, level=9),
    ),
    "tiff-strip-bomb.tif": (
        "1024x1024 TIFF whose deflate strip inflates to 1 GiB",
        lambda: _tiff_strip_bomb(1024, 1 << 30),
    ),
    "dicom-deflated-1g.dcm": (
        "Deflated Explicit VR LE dataset inflating to 1.1 GB",
        lambda: corpus.dicom_deflated(1_100_000_000, level=9),
    ),
    "dicom-deflated-4g.dcm": (
        "Deflated Explicit VR LE dataset inflating to 4 GB (4 private elements)",
        lambda: _dicom_deflated_elements(4, 1_000_000_000),
    ),
    "dicom-declared-60000.dcm": (
        "Rows = Columns = 60000, 64 bytes of pixel data",
        lambda: corpus.dicom_image(60_000, 60_000),
    ),
    "dicom-frames-100000.dcm": (
        "Number of Frames = 100000 of 1x1 pixel, 64 bytes of pixel data",
        lambda: corpus.dicom_image(1, 1, 100_000),
    ),
    "dicom-frames-1e9.dcm": (
        "Number of Frames = 999999999 of 512x512",
        lambda: corpus.dicom_image(512, 512, 999_999_999),
    ),
    "dicom-sequence-100k.dcm": (
        "a sequence of 100000 items",
        lambda: corpus.dicom_long_sequence(100_000),
    ),
    "dicom-nested-10000.dcm": (
        "sequences nested 10000 deep",
        lambda: corpus.dicom_nested_sequence(10_000),
    ),
    "nifti-zeros-1g.nii.gz": (
        ".nii.gz: 1024^3 uint8 of zeros (1 GiB inflated)",
        lambda: corpus.nifti_gz((1024, 1024, 1024), level=9),
    ),
    "nifti-float64-1g.nii.gz": (
        ".nii.gz: 4096x4096x4 float64 declared (at the pixel limit, 512 MiB), 1 KiB there",
        lambda: corpus.nifti_gz((4096, 4096, 4), "float64", zeros=1024, level=9),
    ),
    "nifti-trailing-1g.nii.gz": (
        ".nii.gz: 64^3 uint8 declared, then 1 GiB of trailing zeros",
        lambda: corpus.nifti_gz((64, 64, 64), zeros=1 << 30, level=9),
    ),
    "truncated.png": (
        "a 256x256 PNG cut in half",
        lambda: _good_png(256)[: len(_good_png(256)) // 2],
    ),
    "truncated.dcm": (
        "an 8x8 DICOM cut inside its header",
        lambda: corpus.dicom_image()[:300],
    ),
    "truncated.nii.gz": (
        "a .nii.gz cut in its voxel data",
        lambda: _cut(_good_nifti_gz(), 0.5),
    ),
}


def _png_idat_bomb(side: int, inflated: int) -> bytes:
    data = corpus.png(side, side)
    ihdr_end = 8 + 25
    idat = corpus.zlib_stream(b"", inflated, level=9)
    return data[:ihdr_end] + corpus._chunk(b"IDAT", idat) + corpus._chunk(b"IEND", b"")


def _tiff_strip_bomb(side: int, inflated: int) -> bytes:
    data = bytearray(corpus.tiff_deflate(side, side, level=9))
    strip = corpus.zlib_stream(b"", inflated, level=9)
    offset = 8 + 2 + 12 * 9 + 4
    # StripByteCounts is the last of the nine IFD entries: patch its value.
    data[offset - 8 : offset - 4] = len(strip).to_bytes(4, "little")
    return bytes(data[:offset]) + strip


def _dicom_deflated_elements(count: int, each: int) -> bytes:
    import struct

    header = corpus._image_header(8, 8)
    elements = corpus._element(0x0009, 0x0010, b"LO", b"HOSTILE")
    stream = corpus._flushed(header + elements)
    for index in range(count):
        head = struct.pack("<HH2sHI", 0x0009, 0x1000 + index, b"OB", 0, each)
        stream += corpus.raw_deflate(head, each, level=9)[:-2]
    stream += corpus._flushed(corpus._element(0x7FE0, 0x0010, b"OB", bytes(64))) + b"\x03\x00"
    meta = corpus._meta(corpus.DeflatedExplicitVRLittleEndian)
    return corpus._part10(meta) + stream


def _good_png(side: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(side)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _good_nifti_gz() -> bytes:
    import gzip

    import numpy as np

    rng = np.random.default_rng(3)
    voxels = rng.integers(0, 1000, (64, 64, 16), dtype=np.int16).tobytes(order="F")
    return gzip.compress(corpus.nifti_header((64, 64, 16), "int16") + voxels)


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


@dataclass
class Run:
    file: str
    command: str
    exit_code: int | str
    codes: str
    wall_s: float
    rss_mb: float
    changed: bool


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _codes(text: str) -> str:
    import re

    found = sorted(set(re.findall(r"\b(SMX\d{3}|SM9\d\d)\b", text)))
    return " ".join(found)


def run_one(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int | str, str, float, float]:
    """(exit code or "timeout", stdout+stderr, wall seconds, peak RSS of the child in MB)."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
        deadline = start + LIMIT_S
        status: int | None = None
        usage = None
        while status is None:
            pid, raw, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = raw
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                _, raw, usage = os.wait4(proc.pid, 0)
                status = -1
                break
            time.sleep(0.01)
        wall = time.perf_counter() - start
        proc.returncode = 0  # reaped by wait4 above
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    assert usage is not None
    code: int | str = "timeout" if status == -1 else os.waitstatus_to_exitcode(status)
    return code, text, wall, usage.ru_maxrss / 1024


def command_argv(command: str, path: Path) -> list[str]:
    if command == "validate":
        return [*SYNTHMARK, "validate", "--no-cache", "-j", "1", str(path)]
    return [*SYNTHMARK, command, str(path)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "hostile-bench.md"))
    parser.add_argument("--only", help="run only files whose name contains this")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHMARK_")}
    env["SYNTHMARK_CACHE_DIR"] = tempfile.mkdtemp(prefix="hostile-cache-")
    runs: list[Run] = []
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        for name, (_, build) in CORPUS.items():
            if args.only and args.only not in name:
                continue
            (folder / name).write_bytes(build())
            sizes[name] = (folder / name).stat().st_size
        before = _digest(folder)
        for name in sizes:
            for command in COMMANDS:
                code, text, wall, rss = run_one(command_argv(command, folder / name), env, REPO)
                changed = _digest(folder) != before
                runs.append(Run(name, command, code, _codes(text), wall, rss, changed))
                print(
                    f"{name:28} {command:9} exit {code!s:7} {wall:6.2f} s {rss:7.0f} MB "
                    f"{_codes(text)}",
                    flush=True,
                )
        mixed = Path(tmp) / "mixed"
        shutil.copytree(folder, mixed)
        for index in range(3):
            (mixed / f"good-{index}.png").write_bytes(_good_png(128 + 64 * index))
        (mixed / "good.nii.gz").write_bytes(_good_nifti_gz())
        mixed_before = _digest(mixed)
        argv = [*SYNTHMARK, "validate", "--no-cache", "-j", "1", "--format", "json", str(mixed)]
        code, text, wall, rss = run_one(argv, env, REPO)
        report = json.loads(text[text.index("{") :])
        good = [f for f in report["findings"] if f["path"].startswith("good")]
        by_file: dict[str, list[str]] = {}
        for finding in report["findings"]:
            by_file.setdefault(finding["path"], []).append(finding["code"])
        mixed_run = Run(
            f"folder: {len(sizes)} hostile + 4 good files",
            "validate -j 1",
            code,
            " ".join(sorted({c for cs in by_file.values() for c in cs if c.startswith("SM9")})),
            wall,
            rss,
            _digest(mixed) != mixed_before,
        )
        runs.append(mixed_run)
        print(
            f"mixed folder: exit {code}, {wall:.2f} s, {rss:.0f} MB; files checked "
            f"{report['summary']['files']}, good-file errors {len(good)}"
        )
        unreported = [n for n in sizes if not any(c.startswith("SM9") for c in by_file.get(n, []))]
    markdown = render(runs, sizes, report["summary"]["files"], good, unreported)
    print(markdown)
    if args.out:
        Path(args.out).write_text(markdown, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def render(
    runs: list[Run],
    sizes: dict[str, int],
    checked: int,
    good: list[dict[str, str]],
    unreported: list[str],
) -> str:
    # The time target is per file; the folder run is many files in one process.
    single = [r for r in runs if r.file in sizes]
    worst_rss = max(r.rss_mb for r in runs)
    worst_s = max(r.wall_s for r in single)
    ok = worst_rss < TARGET_RSS_MB and worst_s < TARGET_S and not any(r.changed for r in runs)
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Hostile-input bench",
        "",
        "Made by `.venv/bin/python bench/hostile_bench.py` (bench/hostile_bench.py; corpus: "
        "tests/limits/corpus.py, level-9 bombs) on "
        f"{platform.system()} {cpu}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, default limits (spec/parts/limits.md), each command "
        "in a fresh process (validate with `-j 1`, so the whole run is that one process). "
        "Peak RSS: `ru_maxrss` of the child from `wait4`.",
        "",
        f"**Worst peak RSS of any run: {worst_rss:.0f} MB; slowest single-file run: "
        f"{worst_s:.2f} s. Target (every run under 1 GB, every file under 10 s, no file "
        f"changed): {'met' if ok else 'NOT met'}.**",
        "",
        "| file | size on disk | what it is | command | exit | codes | wall s | peak RSS MB "
        "| changed |",
        "|---|---:|---|---|---:|---|---:|---:|---|",
    ]
    for run in runs:
        size = f"{sizes[run.file]:,}" if run.file in sizes else ""
        what = CORPUS[run.file][0] if run.file in CORPUS else "bombs mixed with good files"
        lines.append(
            f"| {run.file} | {size} | {what} | {run.command} | {run.exit_code} | {run.codes} | "
            f"{run.wall_s:.2f} | {run.rss_mb:.0f} | {'YES' if run.changed else 'no'} |"
        )
    lines += [
        "",
        f"The mixed-folder run checked {checked} files; error findings on the good files: "
        f"{len(good)}; hostile files without an SM9xx finding: "
        f"{', '.join(unreported) if unreported else 'none'} (a file that reads under the "
        "limits is checked like any other).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
