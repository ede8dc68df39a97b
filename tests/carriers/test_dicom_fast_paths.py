"""DICOM header fast paths: raw-byte reads, remembered sequence answers, one-open sniffing.

Header-only validation reads a few elements straight from their raw bytes and opens each
file once. Every test here compares that with what pydicom's own conversion gives on the
same file, so the fast paths can never say something the slow ones would not.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from synthmark.carriers import open_image, open_image_sized
from synthmark.carriers._base import Acknowledgment, StandardLabel
from synthmark.carriers.dicom import _EQUIPMENT_SEEN, _SLURP_BYTES, DicomCarrier, DicomFile
from synthmark.errors import (
    CorruptFileError,
    InputNotFoundError,
    InputUnreadableError,
    SynthmarkError,
    UnsupportedFormatError,
)

RECORD = b'{"record_id":"0b9f4a4e-2f55-4a8e-9a57-3f6b2c1d0e77","spec":"synthmark/1"}'
ACK = Acknowledgment(
    synthetic=True,
    source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    record_id="0b9f4a4e-2f55-4a8e-9a57-3f6b2c1d0e77",
    summary="Synthetic MR slice",
    generator_manufacturer="Example Lab",
)
SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]


def _data(name: str) -> Path:
    found = get_testdata_file(name, download=False)
    assert found is not None, name
    return Path(str(found))


def _save(ds: Dataset, path: Path, tsyntax: str = ExplicitVRLittleEndian) -> Path:
    ds.file_meta.TransferSyntaxUID = tsyntax
    implicit, little = tsyntax == ImplicitVRLittleEndian, tsyntax != ExplicitVRBigEndian
    str(ds)  # converts every element, nested ones too: raw values would keep their byte order
    ds.set_original_encoding(implicit, little, ds.original_character_set)
    if not little and "PixelData" in ds:
        del ds.PixelData  # pydicom will not byte-swap 16-bit pixels for us; headers suffice
    pydicom.dcmwrite(path, ds, implicit_vr=implicit, little_endian=little, enforce_file_format=True)
    return path


def _slow(path: Path) -> tuple[StandardLabel, bytes | str | None]:
    """Label and record with every top-level element converted by pydicom first."""
    image = DicomCarrier.open(path)
    assert isinstance(image, DicomFile)
    _EQUIPMENT_SEEN.clear()
    for tag in list(image.dataset._dict):
        try:
            image.dataset[tag]
        except Exception:  # a malformed element stays raw; the label then says so
            continue
    return image.standard_label(), _record(image)


def _fast(path: Path) -> tuple[StandardLabel, bytes | str | None]:
    image, size = open_image_sized(path)
    assert size == path.stat().st_size
    return image.standard_label(), _record(image)


def _record(image: object) -> bytes | str | None:
    try:
        return image.read_record()  # type: ignore[attr-defined, no-any-return]
    except SynthmarkError as exc:
        return f"{type(exc).__name__}: {exc.message}"


@pytest.mark.parametrize("tsyntax", SYNTAXES)
@pytest.mark.parametrize(
    ("synthetic", "image_type"),
    [
        ("YES", ["DERIVED", "SECONDARY"]),
        ("NO", ["ORIGINAL", "PRIMARY"]),
        ("yes ", "DERIVED"),
        ("YES\\NO", ["DERIVED"]),
        ("", ""),
        (" MAYBE", [" derived ", "X"]),
        (None, None),
    ],
)
def test_label_and_record_equal_pydicoms_conversion(
    tmp_path: Path, tsyntax: str, synthetic: str | None, image_type: object
) -> None:
    source = tmp_path / "src.dcm"
    DicomCarrier.open(_data("MR_small.dcm")).write(source, record_json=RECORD, ack=ACK)
    ds = pydicom.dcmread(source)
    for keyword, value in (("SyntheticData", synthetic), ("ImageType", image_type)):
        if value is None:
            delattr(ds, keyword)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # invalid CS values are the point
                setattr(ds, keyword, value)
    path = _save(ds, tmp_path / "case.dcm", tsyntax)
    fast, slow = _fast(path), _slow(path)
    assert fast == slow
    assert fast[1] == RECORD
    assert _fast(path) == fast  # the remembered Contributing Equipment answer agrees


def test_malformed_contributing_equipment_is_unreadable_every_time(tmp_path: Path) -> None:
    source = tmp_path / "src.dcm"
    DicomCarrier.open(_data("MR_small.dcm")).write(source, record_json=RECORD, ack=ACK)
    data = bytearray(source.read_bytes())
    at = data.find(b"\x18\x00\x01\xa0SQ")  # (0018,A001) Contributing Equipment Sequence
    assert at > 0
    item = at + 12  # tag, VR, reserved, 32-bit length: the first item tag follows
    data[item : item + 4] = b"\x00\x00\x00\x00"  # no longer an item: pydicom cannot parse it
    path = tmp_path / "bad.dcm"
    path.write_bytes(bytes(data))
    expected = _slow(path)[0]
    for _ in range(2):  # an exception is never remembered as an answer
        assert _fast(path)[0] == expected


def test_synthesizing_equipment_answers_follow_the_bytes(tmp_path: Path) -> None:
    source = tmp_path / "src.dcm"
    DicomCarrier.open(_data("MR_small.dcm")).write(source, record_json=RECORD, ack=ACK)
    ds = pydicom.dcmread(source)
    code = ds.ContributingEquipmentSequence[0].PurposeOfReferenceCodeSequence[0]
    code.CodeValue = "109101"  # "Acquisition Equipment": not synthesizing
    other = _save(ds, tmp_path / "other.dcm")
    assert "ContributingEquipment=109100" in _fast(source)[0].evidence
    assert "ContributingEquipment=109100" not in _fast(other)[0].evidence
    assert "ContributingEquipment=109100" in _fast(source)[0].evidence


def test_second_synthesizing_item_is_found(tmp_path: Path) -> None:
    ds = pydicom.dcmread(_data("CT_small.dcm"))
    items = []
    for value in ("109101", "109100"):
        purpose = Dataset()
        purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning = (
            value,
            "DCM",
            "x",
        )
        item = Dataset()
        item.Manufacturer = "m"
        item.PurposeOfReferenceCodeSequence = Sequence([purpose])
        items.append(item)
    ds.ContributingEquipmentSequence = Sequence(items)
    path = _save(ds, tmp_path / "two.dcm")
    assert _fast(path) == _slow(path)
    assert "ContributingEquipment=109100" in _fast(path)[0].evidence


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm"])
def test_opening_once_equals_open_image(name: str) -> None:
    path = _data(name)
    image, size = open_image_sized(path)
    reference = open_image(path)
    assert size == path.stat().st_size
    assert image.standard_label() == reference.standard_label()
    assert _record(image) == _record(reference)


def test_small_files_parse_from_memory_and_still_decode(tmp_path: Path) -> None:
    path = _data("CT_small.dcm")
    assert path.stat().st_size <= _SLURP_BYTES
    image, _ = open_image_sized(path)
    assert isinstance(image, DicomFile)
    np.testing.assert_array_equal(image.pixels().array, DicomCarrier.open(path).pixels().array)
    big = tmp_path / "big.dcm"
    ds = pydicom.dcmread(path)
    ds.add_new(0x00091010, "OB", b"\x00" * (_SLURP_BYTES + 2))  # makes the file large
    ds.add_new(0x00090010, "LO", "PADDING")
    _save(ds, big)
    opened, size = open_image_sized(big)
    assert size > _SLURP_BYTES
    assert opened.standard_label() == DicomCarrier.open(big).standard_label()


def test_truncated_small_and_large_files_stay_corrupt(tmp_path: Path) -> None:
    data = _data("CT_small.dcm").read_bytes()
    for cut in (len(data) - 1, len(data) // 2):
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        with pytest.raises(CorruptFileError):
            open_image_sized(path)
        with pytest.raises(CorruptFileError):
            open_image(path)


def test_errors_equal_open_image(tmp_path: Path) -> None:
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / "folder").mkdir()
    cases = {
        "missing.dcm": InputNotFoundError,
        "empty.dcm": CorruptFileError,
        "notes.txt": UnsupportedFormatError,
        "folder": InputUnreadableError,
    }
    for name, error in cases.items():
        with pytest.raises(error) as sized:
            open_image_sized(tmp_path / name)
        with pytest.raises(error) as plain:
            open_image(tmp_path / name)
        assert sized.value.message == plain.value.message


def test_other_formats_open_once_too(tmp_path: Path) -> None:
    png = tmp_path / "x.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(png)
    image, size = open_image_sized(png)
    assert image.format_name == open_image(png).format_name == "raster"
    assert size == png.stat().st_size
