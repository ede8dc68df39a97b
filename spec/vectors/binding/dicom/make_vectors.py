"""Generate or check the DICOM content-binding vectors in this folder.

Each group holds the *same pixels* in several lossless transfer syntaxes; every file of a
group must give the same digest (spec/synthmark.md section 6, spec/parts/dicom.md), and
``expected.json`` records it. The sources are pydicom's bundled test files (no download);
the encoders are pydicom's (RLE), pyjpegls (JPEG-LS) and pylibjpeg-openjpeg (JPEG 2000).

Usage (from the repository root)::

    .venv/bin/python spec/vectors/binding/dicom/make_vectors.py          # regenerate
    .venv/bin/python spec/vectors/binding/dicom/make_vectors.py --check  # verify only

``--check`` recomputes every digest with :class:`synthmark.carriers.dicom.DicomCarrier`
and compares it with ``expected.json``; it exits 1 on any difference. Regenerated files
can differ byte for byte between encoder versions; their digests must not.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from synthmark.binding import digest_pixels
from synthmark.carriers.dicom import DicomCarrier

HERE = Path(__file__).resolve().parent
# Fixed UIDs (under the UUID-derived 2.25 root) keep regenerated files reproducible.
_UID_ROOT = "2.25.231845094773620837541307434416571931"


def _source(name: str) -> Dataset:
    path = get_testdata_file(name, download=False)
    if path is None:  # pragma: no cover - pydicom always bundles these
        raise SystemExit(f"pydicom test file {name} is missing")
    ds = pydicom.dcmread(path)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)
    return ds


def _native(ds: Dataset, arr: np.ndarray, tsyntax: UID) -> Dataset:
    """Uncompressed copy of ``ds`` holding ``arr`` in ``tsyntax``'s byte order."""
    out = copy.deepcopy(ds)  # Dataset(ds) would share elements, and compress() edits them
    order = ">" if tsyntax == ExplicitVRBigEndian else "<"
    out.PixelData = arr.astype(arr.dtype.newbyteorder(order)).tobytes()
    out["PixelData"].VR = "OB" if arr.dtype.itemsize == 1 else "OW"
    out.file_meta.TransferSyntaxUID = tsyntax
    # Encoding follows the transfer syntax; pydicom refuses to write an encoding that
    # differs from the one the dataset was read with unless told it was read that way.
    out.set_original_encoding(
        tsyntax == ImplicitVRLittleEndian,
        tsyntax != ExplicitVRBigEndian,
        out.original_character_set,
    )
    return out


def variants(ds: Dataset, arr: np.ndarray, *, rct: bool = False) -> dict[str, Dataset]:
    """``ds`` with pixels ``arr`` in each lossless syntax that pydicom can write."""
    out = {
        "ele": _native(ds, arr, ExplicitVRLittleEndian),
        "ile": _native(ds, arr, ImplicitVRLittleEndian),
        "ebe": _native(ds, arr, ExplicitVRBigEndian),
    }
    for key, tsyntax in (("rle", RLELossless), ("jls", JPEGLSLossless), ("j2k", JPEG2000Lossless)):
        enc = _native(ds, arr, ExplicitVRLittleEndian)
        enc.compress(tsyntax, arr, generate_instance_uid=False)
        out[key] = enc
    if rct:
        # JPEG 2000 with the reversible colour transform: stored as YBR_RCT, decodes to RGB.
        enc = _native(ds, arr, ExplicitVRLittleEndian)
        enc.PhotometricInterpretation = "YBR_RCT"
        enc.compress(JPEG2000Lossless, arr, generate_instance_uid=False, use_mct=True)
        out["j2k_rct"] = enc
    return out


def groups() -> dict[str, dict[str, Dataset]]:
    """Every vector group: name -> {variant -> dataset}."""
    result: dict[str, dict[str, Dataset]] = {}
    mr = _source("MR_small.dcm")  # 64x64, 16-bit signed, MONOCHROME2
    result["mr_small"] = variants(mr, mr.pixel_array)

    frames = np.stack([mr.pixel_array, mr.pixel_array[::-1], mr.pixel_array[:, ::-1]])
    multi = copy.deepcopy(mr)
    multi.NumberOfFrames = 3
    result["mr_multiframe"] = variants(multi, frames)

    rgb = _source("SC_rgb_rle.dcm")  # 100x100 RGB, 8-bit
    result["rgb"] = variants(rgb, rgb.pixel_array, rct=True)

    for number, (_group, members) in enumerate(sorted(result.items())):
        for index, (_key, member) in enumerate(sorted(members.items())):
            uid = f"{_UID_ROOT}.{number}.{index}"
            member.SOPInstanceUID = uid
            member.file_meta.MediaStorageSOPInstanceUID = uid
    return result


def _save(ds: Dataset, path: Path) -> None:
    tsyntax = ds.file_meta.TransferSyntaxUID
    pydicom.dcmwrite(
        path,
        ds,
        implicit_vr=tsyntax == ImplicitVRLittleEndian,
        little_endian=tsyntax != ExplicitVRBigEndian,
        enforce_file_format=True,
    )


def compute(folder: Path) -> list[dict[str, str]]:
    """Digest every ``*.dcm`` in ``folder`` with the DICOM carrier."""
    rows = []
    for path in sorted(folder.glob("*.dcm")):
        opened = DicomCarrier.open(path)
        digest = digest_pixels(opened.pixels())
        rows.append(
            {
                "file": path.name,
                "group": path.name.split("__")[0],
                "transfer_syntax": str(opened.transfer_syntax),
                "transfer_syntax_name": opened.transfer_syntax.name,
                "descriptor": digest.descriptor,
                "xxh3_128": digest.xxh3_128,
                "sha256": digest.sha256,
            }
        )
    return rows


def generate(folder: Path) -> None:
    """Write the vector files and ``expected.json`` into ``folder``."""
    for old in folder.glob("*.dcm"):
        old.unlink()
    for group, members in groups().items():
        for key, ds in members.items():
            _save(ds, folder / f"{group}__{key}.dcm")
    rows = compute(folder)
    for group in {row["group"] for row in rows}:
        digests = {row["sha256"] for row in rows if row["group"] == group}
        if len(digests) != 1:
            raise SystemExit(f"group {group}: lossless variants disagree: {digests}")
    document = {
        "about": "Same pixels in several lossless DICOM transfer syntaxes: one digest per "
        "group. Regenerate or check with make_vectors.py.",
        "vectors": rows,
    }
    (folder / "expected.json").write_text(json.dumps(document, indent=2) + "\n")


def check(folder: Path) -> list[str]:
    """Return the differences between ``expected.json`` and the files (empty = all good)."""
    expected = json.loads((folder / "expected.json").read_text())["vectors"]
    actual = {row["file"]: row for row in compute(folder)}
    problems = []
    for row in expected:
        got = actual.pop(row["file"], None)
        if got is None:
            problems.append(f"{row['file']}: missing")
        elif got != row:
            problems.append(f"{row['file']}: expected {row['sha256']}, got {got['sha256']}")
    problems.extend(f"{name}: not in expected.json" for name in actual)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify instead of regenerating")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(HERE)
        for line in problems:
            print(line, file=sys.stderr)
        print("ok" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    generate(HERE)
    print(f"wrote {len(list(HERE.glob('*.dcm')))} files and expected.json to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
