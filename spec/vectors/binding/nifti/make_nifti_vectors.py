"""Regenerate the NIfTI content-binding vectors: ``python make_nifti_vectors.py`` in this folder.

Each vector is a small NIfTI file; ``expected.json`` maps its name to the canonical
descriptor and both digests (spec/synthmark.md section 6, spec/parts/nifti.md). The files
pin the cases the spec calls out: the same pixels in .nii, .nii.gz, NIfTI-2 and big-endian
form share one digest; scl_slope/scl_inter enter the descriptor; RGB24 becomes 3 samples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from synthmark.binding import digest_pixels
from synthmark.carriers.nifti import NiftiCarrier

HERE = Path(__file__).resolve().parent


def _save(
    name: str,
    data: np.ndarray,
    *,
    version: int = 1,
    endian: str = "<",
    slope: float | None = None,
    inter: float = 0.0,
) -> None:
    klass: Any = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    header = klass.header_class(endianness=endian)
    header.set_data_dtype(data.dtype)
    affine = np.diag([0.9, 0.9, 2.5, 1.0])
    affine[:3, 3] = [-90.0, -126.0, -72.0]
    image: Any = klass(data, affine, header)
    image.header.set_xyzt_units("mm", "sec")
    if slope is not None:
        image.header.set_slope_inter(slope, inter)
    nib.save(image, HERE / name)


def main() -> None:
    """Write the vector files and expected.json."""
    rng = np.random.default_rng(20261123)
    int16 = rng.integers(-1024, 3072, (9, 8, 7)).astype(np.int16)
    _save("int16_3d.nii", int16)
    _save("int16_3d.nii.gz", int16)
    _save("int16_3d_nifti2.nii", int16, version=2)
    _save("int16_3d_big_endian.nii", int16, endian=">")
    _save(
        "float32_4d_scaled.nii.gz",
        rng.normal(size=(6, 5, 4, 3)).astype(np.float32),
        slope=2.5,
        inter=-100.0,
    )
    _save("uint8_2d.nii", rng.integers(0, 256, (16, 12)).astype(np.uint8))
    rgb = np.zeros((5, 4, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    values = rng.integers(0, 256, (5, 4, 3, 3)).astype(np.uint8)
    for index, name in enumerate("RGB"):
        rgb[name] = values[..., index]
    _save("rgb24_3d.nii", rgb)
    expected = {}
    for path in sorted(HERE.glob("*.nii*")):
        digest = digest_pixels(NiftiCarrier.open(path).pixels())
        expected[path.name] = {
            "descriptor": digest.descriptor,
            "xxh3_128": digest.xxh3_128,
            "sha256": digest.sha256,
        }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
