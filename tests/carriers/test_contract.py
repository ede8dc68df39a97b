"""One contract, run against every carrier on real and generated files.

For each sample: stamp then verify passes and the record reads back equal; the original is
untouched; transplanting the record onto other pixels, or changing one pixel value by one,
fails with the binding-mismatch code; a failed write leaves everything as it was.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from nibabel.testing import data_path as nibabel_data
from PIL import Image
from pydicom.data import get_testdata_file

from synthmark.api import BINDING_MISMATCH, NO_RECORD, read_record, stamp, verify
from synthmark.carriers import open_image
from synthmark.errors import OutputExistsError, SynthmarkError, UsageError
from synthmark.record.models import SynthmarkRecord
from synthmark.record.parsing import canonical_json, load_record
from tests.conftest import EXAMPLES


def _pydicom(name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = get_testdata_file(name, download=False)
        assert path is not None, name
        dest = folder / name
        shutil.copy(path, dest)
        return dest

    return make


def _nibabel(name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        dest = folder / name
        shutil.copy(Path(nibabel_data) / name, dest)
        return dest

    return make


def _raster(name: str, mode: str, dtype: str, shape: tuple[int, ...]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        rng = np.random.default_rng(7)
        high = 65535 if dtype == "uint16" else 255
        array = rng.integers(0, high, size=shape, dtype=dtype)
        dest = folder / name
        Image.fromarray(array, mode=None if mode == "auto" else mode).save(dest)
        return dest

    return make


SAMPLES: dict[str, Callable[[Path], Path]] = {
    "dicom-CT_small": _pydicom("CT_small.dcm"),
    "dicom-MR_small": _pydicom("MR_small.dcm"),
    "dicom-MR-jpegls": _pydicom("MR_small_jpeg_ls_lossless.dcm"),
    "dicom-MR-j2k": _pydicom("MR_small_jp2klossless.dcm"),
    "dicom-MR-rle": _pydicom("MR_small_RLE.dcm"),
    "dicom-MR-bigendian": _pydicom("MR_small_bigendian.dcm"),
    "dicom-MR-implicit": _pydicom("MR_small_implicit.dcm"),
    "dicom-rgb-rle-2frame": _pydicom("SC_rgb_rle_2frame.dcm"),
    "dicom-rtdose-multiframe": _pydicom("rtdose.dcm"),
    "nifti-example4d.nii.gz": _nibabel("example4d.nii.gz"),
    "nifti-anatomical.nii": _nibabel("anatomical.nii"),
    "nifti-example_nifti2.nii.gz": _nibabel("example_nifti2.nii.gz"),
    "png-grey8": _raster("grey8.png", "auto", "uint8", (48, 40)),
    "png-grey16": _raster("grey16.png", "auto", "uint16", (48, 40)),
    "png-rgb": _raster("rgb.png", "auto", "uint8", (32, 24, 3)),
    "tiff-grey8": _raster("grey8.tiff", "auto", "uint8", (30, 20)),
}
# Pixel edits are written back losslessly, which JPEG cannot do; JPEG still gets the
# stamp/verify/transplant contract.
JPEG = {"jpeg-rgb": _raster("rgb.jpg", "auto", "uint8", (32, 24, 3))}


def _record() -> SynthmarkRecord:
    return load_record(EXAMPLES / "valid-diffusion-ct-chest.json")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stamped(tmp_path: Path, make: Callable[[Path], Path]) -> tuple[Path, Path]:
    source = make(tmp_path)
    suffix = "".join(source.suffixes)
    dest = tmp_path / ("stamped" + suffix)
    stamp(source, _record(), dest=dest)
    return source, dest


@pytest.mark.parametrize("sample", sorted({**SAMPLES, **JPEG}))
def test_stamp_then_verify_passes_and_original_untouched(tmp_path: Path, sample: str) -> None:
    make = {**SAMPLES, **JPEG}[sample]
    source = make(tmp_path)
    before = _sha(source)
    dest = tmp_path / ("out" + "".join(source.suffixes))
    result = stamp(source, _record(), dest=dest)
    assert _sha(source) == before
    outcome = verify(dest)
    assert outcome.ok, outcome.problems
    assert outcome.binding.value == "pass"
    found = read_record(dest)
    assert found.record == result.record
    assert found.record.model_dump(exclude={"binding"}) == _record().model_dump(exclude={"binding"})


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_one_pixel_changed_by_one_fails_binding(tmp_path: Path, sample: str) -> None:
    _, dest = _stamped(tmp_path, SAMPLES[sample])
    image = open_image(dest)
    found = read_record(dest)
    array = np.array(image.pixels().array, copy=True)
    # unravel_index: reshape(-1) would silently copy a Fortran-ordered NIfTI array.
    where = np.unravel_index(array.size // 2, array.shape)
    array[where] = array[where] - 1 if array[where] > 0 else array[where] + 1
    tampered = tmp_path / ("tampered" + "".join(dest.suffixes))
    image.write(
        tampered, record_json=canonical_json(found.record), ack=_ack(found.record), new_pixels=array
    )
    outcome = verify(tampered)
    assert not outcome.ok
    assert BINDING_MISMATCH in [p.code for p in outcome.problems]


@pytest.mark.parametrize("sample", sorted({**SAMPLES, **JPEG}))
def test_transplanted_record_fails_binding(tmp_path: Path, sample: str) -> None:
    _, donor = _stamped(tmp_path, {**SAMPLES, **JPEG}[sample])
    donor_record = read_record(donor).record
    other = _raster("other.png", "auto", "uint8", (16, 16))(tmp_path)
    recipient = tmp_path / "recipient.png"
    open_image(other).write(
        recipient, record_json=canonical_json(donor_record), ack=_ack(donor_record)
    )
    outcome = verify(recipient)
    assert BINDING_MISMATCH in [p.code for p in outcome.problems]


def test_unstamped_file_has_no_record(tmp_path: Path) -> None:
    source = SAMPLES["dicom-CT_small"](tmp_path)
    outcome = verify(source)
    assert [p.code for p in outcome.problems] == [NO_RECORD]


def test_refuses_to_overwrite_and_in_place_keeps_binding(tmp_path: Path) -> None:
    source, dest = _stamped(tmp_path, SAMPLES["nifti-anatomical.nii"])
    with pytest.raises(OutputExistsError):
        stamp(source, _record(), dest=dest)
    with pytest.raises(UsageError):
        stamp(source, _record(), dest=source, overwrite=True)
    stamp(source, _record(), in_place=True)
    assert verify(source).ok


@pytest.mark.parametrize("sample", ["dicom-CT_small", "nifti-example4d.nii.gz", "png-grey16"])
def test_failed_write_leaves_files_as_they_were(
    tmp_path: Path, sample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulates the disk failing at the final rename (works as root, unlike chmod tricks).
    import os

    source, dest = _stamped(tmp_path, SAMPLES[sample])
    before = {p.name: _sha(p) for p in tmp_path.iterdir()}

    def failing_replace(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(SynthmarkError):
        stamp(source, _record(), in_place=True)
    with pytest.raises(SynthmarkError):
        stamp(source, _record(), dest=dest, overwrite=True)
    monkeypatch.undo()
    after = {p.name: _sha(p) for p in tmp_path.iterdir()}
    assert after == before, "a failed stamp changed or left files behind"


def _ack(record: SynthmarkRecord):  # type: ignore[no-untyped-def]
    from synthmark.carriers import acknowledgment_for

    return acknowledgment_for(record)


def test_derived_image_keeps_chain_and_stays_synthetic(tmp_path: Path) -> None:
    _, parent = _stamped(tmp_path, SAMPLES["nifti-anatomical.nii"])
    child_source = _raster("child.png", "auto", "uint8", (20, 20))(tmp_path)
    child = tmp_path / "child-stamped.png"
    from synthmark.record.vocab import DerivationOperation

    result = stamp(
        child_source,
        None,
        dest=child,
        derived_from=parent,
        operations=(DerivationOperation.RESAMPLE, DerivationOperation.FORMAT_CONVERSION),
    )
    parent_record = read_record(parent).record
    assert result.record.synthetic
    assert result.record.derived_from is not None
    assert result.record.derived_from.parent_record_id == parent_record.record_id
    assert result.record.record_id != parent_record.record_id
    assert verify(child).ok
    real = load_record(EXAMPLES / "valid-real-ct-acquisition.json")
    with pytest.raises(UsageError, match="synthetic"):
        stamp(
            child_source,
            real,
            dest=tmp_path / "x.png",
            derived_from=parent,
            operations=(DerivationOperation.CROP,),
        )


@pytest.mark.parametrize(
    "syntax",
    [
        "RLELossless",
        "JPEGLSLossless",
        "JPEG2000Lossless",
        "ImplicitVRLittleEndian",
        "ExplicitVRLittleEndian",
    ],
)
def test_lossless_transcode_of_a_stamped_dicom_keeps_verify_passing(
    tmp_path: Path, syntax: str
) -> None:
    import pydicom
    from pydicom import uid

    _, stamped = _stamped(tmp_path, SAMPLES["dicom-MR_small"])
    dataset = pydicom.dcmread(stamped)
    target = getattr(uid, syntax)
    transcoded = tmp_path / f"transcoded-{syntax}.dcm"
    if target.is_compressed:
        dataset.compress(target, generate_instance_uid=False)
        dataset.save_as(transcoded, enforce_file_format=True)
    else:
        dataset.file_meta.TransferSyntaxUID = target
        dataset.save_as(
            transcoded,
            enforce_file_format=True,
            implicit_vr=target.is_implicit_VR,
            little_endian=target.is_little_endian,
        )
    assert pydicom.dcmread(transcoded).file_meta.TransferSyntaxUID == target
    outcome = verify(transcoded)
    assert outcome.ok, outcome.problems
    assert outcome.binding.value == "pass"
