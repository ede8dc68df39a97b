"""NIfTI carrier: sniffing, record extension, acknowledgment text, pixels, writes, errors."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nibabel.testing import data_path

from synthmark.binding import digest_pixels
from synthmark.carriers._base import Acknowledgment
from synthmark.carriers.nifti import (
    NiftiCarrier,
    NiftiFile,
    acknowledgment_text,
    decode_extension_content,
    encode_extension_content,
)
from synthmark.errors import (
    CorruptFileError,
    EncodeError,
    InputNotFoundError,
    InputUnreadableError,
    PixelDecodeError,
    SynthmarkError,
    UnsupportedFormatError,
)

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "spec" / "vectors" / "binding" / "nifti"
DATA = Path(str(data_path))
REAL_FILES = [
    "example4d.nii.gz",
    "example_nifti2.nii.gz",
    "anatomical.nii",
    "functional.nii",
    "reoriented_anat_moved.nii",
]
ACK = Acknowledgment(
    synthetic=True,
    source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    record_id="3f2a9c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b",
    summary="Synthetic MRI from a diffusion model",
)
RECORD = json.dumps({"id": ACK.record_id, "synthetic": True}, sort_keys=True).encode()


def _nib_load(path: Path) -> Any:
    # nibabel's load() is typed as returning the base class; tests use NIfTI attributes.
    return nib.load(path)


def _copy(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copyfile(DATA / name, dest)
    return dest


def _make(
    tmp_path: Path,
    name: str = "img.nii",
    *,
    data: npt.NDArray[np.generic] | None = None,
    version: int = 1,
    endian: str = "<",
    slope: float | None = None,
    inter: float | None = None,
) -> Path:
    """Write a small NIfTI with nibabel, raw values stored as given."""
    if data is None:
        data = np.arange(4 * 5 * 3, dtype=np.int16).reshape(4, 5, 3)
    klass: Any = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    header = klass.header_class(endianness=endian)
    header.set_data_dtype(data.dtype)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = [-10, 5, 7]
    image = klass(data, affine, header)
    if slope is not None:
        image.header.set_slope_inter(slope, inter)
    path = tmp_path / name
    nib.save(image, path)
    return path


def _stamp(src: Path, dest: Path, record: bytes = RECORD) -> NiftiFile:
    NiftiCarrier.open(src).write(dest, record_json=record, ack=ACK)
    return NiftiCarrier.open(dest)


# --- sniffing -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*REAL_FILES, "row_major.dconn.nii"])
def test_sniff_real_files(name: str) -> None:
    path = DATA / name
    assert NiftiCarrier.sniff(path.read_bytes()[:512], path)


def test_sniff_big_endian_and_nifti2(tmp_path: Path) -> None:
    for path in (_make(tmp_path, "be.nii", endian=">"), _make(tmp_path, "n2.nii", version=2)):
        assert NiftiCarrier.sniff(path.read_bytes()[:512], path)


@pytest.mark.parametrize(
    "head", [b"", b"\x89PNG\r\n\x1a\n" + bytes(600), bytes(600), gzip.compress(b"hello" * 200)]
)
def test_sniff_rejects_other_content(head: bytes, tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(head)
    assert not NiftiCarrier.sniff(head[:512], path)


def test_sniff_gzip_head_needing_the_file(tmp_path: Path) -> None:
    # A header whose gzip form does not fit in 512 bytes (random descrip bytes) is still found.
    path = _make(tmp_path, "noisy.nii.gz")
    image = _nib_load(path)
    rng = np.random.default_rng(1)
    image.header["descrip"] = bytes(rng.integers(33, 126, 79, dtype=np.uint8))
    image.header["aux_file"] = bytes(rng.integers(33, 126, 23, dtype=np.uint8))
    image.header.extensions.append(
        nib.nifti1.Nifti1Extension(6, bytes(rng.integers(33, 126, 600, dtype=np.uint8)))
    )
    nib.save(image, path)
    head = path.read_bytes()[:512]
    assert NiftiCarrier.sniff(head, path)


# --- record round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL_FILES)
def test_stamp_real_file_round_trip(name: str, tmp_path: Path) -> None:
    src = _copy(name, tmp_path)
    before = src.read_bytes()
    original = NiftiCarrier.open(src)
    assert original.read_record() is None
    digest = digest_pixels(original.pixels())
    dest = tmp_path / ("stamped-" + name)
    stamped = _stamp(src, dest)
    assert src.read_bytes() == before
    assert stamped.read_record() == RECORD
    assert stamped.gzipped == original.gzipped
    assert stamped.nifti_version == original.nifti_version
    assert digest_pixels(stamped.pixels()) == digest
    # Other extensions are kept, in order, before ours.
    assert [(e.code, e.content) for e in stamped.extensions[:-1]] == [
        (e.code, e.content) for e in original.extensions
    ]
    # nibabel reads the stamped file: same affine, codes, dtype, raw data, other fields.
    a, b = _nib_load(src), _nib_load(dest)
    assert type(a) is type(b)
    np.testing.assert_array_equal(a.affine, b.affine)
    np.testing.assert_array_equal(a.header.get_sform(), b.header.get_sform())
    np.testing.assert_array_equal(a.header.get_qform(), b.header.get_qform())
    assert int(a.header["sform_code"]) == int(b.header["sform_code"])
    assert int(a.header["qform_code"]) == int(b.header["qform_code"])
    assert a.header.get_data_dtype() == b.header.get_data_dtype()
    np.testing.assert_array_equal(a.dataobj.get_unscaled(), b.dataobj.get_unscaled())
    for field in a.header.keys():
        if field in ("descrip", "aux_file", "vox_offset"):
            continue
        np.testing.assert_array_equal(a.header[field], b.header[field], err_msg=field)
    assert b.header["descrip"].item().startswith(b"SYNTHETIC trainedAlgorithmicMedia synthmark")
    assert b.header["aux_file"].item() == b"synthmark:3f2a9c1e"


def test_stamp_in_place_and_restamp_replaces(tmp_path: Path) -> None:
    path = _copy("example4d.nii.gz", tmp_path)
    _stamp(path, path)
    second = b'{"id":"second"}'
    again = _stamp(path, path, second)
    assert again.read_record() == second
    assert sum(ext.is_synthmark() for ext in again.extensions) == 1
    assert [ext.code for ext in again.extensions] == [6, 6, 6]


def test_survives_nibabel_load_save_and_gzip(tmp_path: Path) -> None:
    stamped = _stamp(_copy("example4d.nii.gz", tmp_path), tmp_path / "s.nii.gz")
    digest = digest_pixels(stamped.pixels())
    # nibabel load -> save, both compressed and plain.
    for name in ("resaved.nii.gz", "resaved.nii"):
        nib.save(_nib_load(stamped.path), tmp_path / name)
        again = NiftiCarrier.open(tmp_path / name)
        assert again.read_record() == RECORD
        assert digest_pixels(again.pixels()) == digest
        assert again.standard_label().synthetic is True
    # gunzip / gzip with the command-line semantics.
    plain = tmp_path / "gunzipped.nii"
    plain.write_bytes(gzip.decompress(stamped.path.read_bytes()))
    regz = tmp_path / "regz.nii.gz"
    regz.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=9))
    for path in (plain, regz):
        again = NiftiCarrier.open(path)
        assert again.read_record() == RECORD
        assert digest_pixels(again.pixels()) == digest


@pytest.mark.parametrize(
    "record",
    [
        b'{"note":"ends with NULs"}\x00\x00\x00',
        b'{"a":1}   \n\n',
        b'{"a":"\\u0000"}',
        b'{"pad":"' + b"x" * 150_000 + b'"}',
        '{"name":"Zürich ✓"}'.encode(),
    ],
)
def test_awkward_records_round_trip_exactly(record: bytes, tmp_path: Path) -> None:
    src = _make(tmp_path)
    stamped = _stamp(src, tmp_path / "s.nii", record)
    assert stamped.read_record() == record
    # nibabel strips trailing NULs of extension content; the length prefix keeps it exact.
    nib.save(_nib_load(stamped.path), tmp_path / "resaved.nii")
    assert NiftiCarrier.open(tmp_path / "resaved.nii").read_record() == record


def test_extension_layout_on_disk(tmp_path: Path) -> None:
    stamped = _stamp(_make(tmp_path), tmp_path / "s.nii")
    raw = stamped.path.read_bytes()
    assert raw[348:352] == b"\x01\x00\x00\x00"
    esize, ecode = struct.unpack("<ii", raw[352:360])
    assert ecode == 6
    assert esize % 16 == 0
    assert raw[360:].startswith(b"synthmark-record/1 %d\n" % len(RECORD) + RECORD + b"\n")
    assert struct.unpack("<f", raw[108:112])[0] == 352 + esize


def test_extension_content_codec() -> None:
    content = encode_extension_content(b"{}")
    assert content == b"synthmark-record/1 2\n{}\n"
    assert decode_extension_content(content + b"\x00" * 9) == b"{}"
    assert decode_extension_content(content + b"   ") == b"{}"
    for bad in (
        b"synthmark-record/1 x\n{}",
        b"synthmark-record/1 99\n{}\n",
        b"synthmark-record/1 2\n{}\nextra",
        b"synthmark-record/2 2\n{}\n",
        b"synthmark-record/",
    ):
        with pytest.raises(CorruptFileError):
            decode_extension_content(bad)


def test_duplicate_synthmark_extensions_are_corrupt(tmp_path: Path) -> None:
    path = _make(tmp_path)
    image = _nib_load(path)
    for record in (b"{}", b'{"a":1}'):
        ext = nib.nifti1.Nifti1Extension(6, encode_extension_content(record))
        image.header.extensions.append(ext)
    nib.save(image, path)
    with pytest.raises(CorruptFileError):
        NiftiCarrier.open(path).read_record()


def test_comment_extensions_of_others_are_ignored(tmp_path: Path) -> None:
    path = _make(tmp_path)
    image = _nib_load(path)
    image.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"synthmark is mentioned"))
    nib.save(image, path)
    assert NiftiCarrier.open(path).read_record() is None


# --- acknowledgment text ---------------------------------------------------------------------


def test_acknowledgment_text_fits_fields() -> None:
    descrip, aux = acknowledgment_text(ACK)
    assert descrip == b"SYNTHETIC trainedAlgorithmicMedia synthmark 3f2a9c1e"
    assert aux == b"synthmark:3f2a9c1e"
    long_ack = Acknowledgment(
        synthetic=False, source_type="urn:" + "ä" * 200, record_id="x" * 50, summary=""
    )
    descrip, aux = acknowledgment_text(long_ack)
    assert len(descrip) <= 79 and descrip.isascii()
    assert descrip.startswith(b"NOT-SYNTHETIC ") and descrip.endswith(b" synthmark xxxxxxxx")
    assert len(aux) <= 23


def test_standard_label(tmp_path: Path) -> None:
    src = _make(tmp_path)
    assert NiftiCarrier.open(src).standard_label().synthetic is None
    stamped = _stamp(src, tmp_path / "s.nii")
    label = stamped.standard_label()
    assert label.synthetic is True
    assert label.evidence == ("descrip", "aux_file")
    # FSL overwrites descrip; aux_file remains as evidence of a synthmark stamp.
    image = _nib_load(stamped.path)
    image.header["descrip"] = b"FSL4.1"
    nib.save(image, tmp_path / "fsl.nii")
    label = NiftiCarrier.open(tmp_path / "fsl.nii").standard_label()
    assert label.synthetic is None
    assert label.evidence == ("aux_file",)


# --- pixels and the content binding ---------------------------------------------------------


def test_pixels_descriptors_and_scaling(tmp_path: Path) -> None:
    path = _make(tmp_path, slope=2.0, inter=-5.0)
    content = NiftiCarrier.open(path).pixels()
    assert content.layout == "i,j,k,t,u,v,w"
    assert content.photometric == "MONOCHROME2"
    assert content.bits_stored == 16
    assert (content.slope, content.intercept) == (2.0, -5.0)
    np.testing.assert_array_equal(content.array, np.arange(60, dtype=np.int16).reshape(4, 5, 3))
    float_path = _make(tmp_path, "f.nii", data=np.zeros((2, 3, 4, 5), np.float32))
    content = NiftiCarrier.open(float_path).pixels()
    assert (content.bits_stored, content.slope, content.intercept) == (32, 1.0, 0.0)
    assert content.array.shape == (2, 3, 4, 5)


@pytest.mark.parametrize(("slope", "inter"), [(0.0, 3.0), (float("nan"), 3.0), (1.0, np.nan)])
def test_unset_scaling_is_normalised(slope: float, inter: float, tmp_path: Path) -> None:
    path = _make(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[112:120] = struct.pack("<ff", slope, inter)
    path.write_bytes(bytes(raw))
    content = NiftiCarrier.open(path).pixels()
    assert content.intercept == 0.0
    assert content.slope == 1.0


def test_digest_independent_of_container(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(-300, 3000, (6, 5, 4, 2)).astype(np.int16)
    paths = [
        _make(tmp_path, "a.nii", data=data),
        _make(tmp_path, "b.nii.gz", data=data),
        _make(tmp_path, "c.nii", data=data, version=2),
        _make(tmp_path, "d.nii.gz", data=data, version=2, endian=">"),
        _make(tmp_path, "e.nii", data=data, endian=">"),
    ]
    digests = {digest_pixels(NiftiCarrier.open(p).pixels()) for p in paths}
    assert len(digests) == 1


def test_one_voxel_changes_digest_and_new_pixels_are_stored_raw(tmp_path: Path) -> None:
    src = _make(tmp_path, "src.nii.gz", slope=0.5, inter=100.0)
    original = NiftiCarrier.open(src)
    content = original.pixels()
    changed = np.array(content.array)
    changed[1, 2, 0] += 1
    dest = tmp_path / "out.nii.gz"
    original.write(dest, record_json=RECORD, ack=ACK, new_pixels=changed)
    out = NiftiCarrier.open(dest)
    assert out.read_record() == RECORD
    assert out.gzipped
    np.testing.assert_array_equal(_nib_load(dest).dataobj.get_unscaled(), changed)
    image = _nib_load(dest)
    assert image.dataobj.slope == 0.5 and image.dataobj.inter == 100.0
    assert digest_pixels(out.pixels()) != digest_pixels(content)
    assert digest_pixels(out.pixels()).descriptor == digest_pixels(content).descriptor


def test_new_pixels_big_endian_file(tmp_path: Path) -> None:
    src = _copy("anatomical.nii", tmp_path)
    original = NiftiCarrier.open(src)
    changed = np.array(original.pixels().array).astype("<i2")
    changed[0, 0, 0] = 1234
    original.write(tmp_path / "o.nii", record_json=RECORD, ack=ACK, new_pixels=changed)
    back = NiftiCarrier.open(tmp_path / "o.nii")
    assert back.header.endianness == ">"
    np.testing.assert_array_equal(back.pixels().array, changed)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 5, 3), np.uint16), np.zeros((4, 5), np.int16), np.zeros((4, 5, 3), np.float32)],
)
def test_new_pixels_must_match(bad: npt.NDArray[np.generic], tmp_path: Path) -> None:
    src = _make(tmp_path)
    dest = tmp_path / "dest.nii"
    dest.write_bytes(b"keep")
    with pytest.raises(EncodeError):
        NiftiCarrier.open(src).write(dest, record_json=RECORD, ack=ACK, new_pixels=bad)
    assert dest.read_bytes() == b"keep"


def test_rgb24(tmp_path: Path) -> None:
    rgb = np.zeros((3, 4, 2), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"] = 10
    rgb["G"][1] = 200
    rgb["B"][..., 1] = 7
    path = tmp_path / "rgb.nii"
    image: Any = nib.Nifti1Image
    nib.save(image(rgb, np.eye(4)), path)
    nifti = NiftiCarrier.open(path)
    content = nifti.pixels()
    assert content.photometric == "RGB"
    assert content.array.shape == (3, 4, 2, 3)
    assert content.array.dtype == np.uint8 and content.bits_stored == 8
    assert content.array[1, 0, 0, 1] == 200 and content.array[0, 0, 1, 2] == 7
    changed = np.array(content.array)
    changed[2, 3, 1] = (1, 2, 3)
    nifti.write(tmp_path / "o.nii", record_json=RECORD, ack=ACK, new_pixels=changed)
    back = _nib_load(tmp_path / "o.nii").dataobj.get_unscaled()
    assert tuple(back[2, 3, 1]) == (1, 2, 3)
    np.testing.assert_array_equal(NiftiCarrier.open(tmp_path / "o.nii").pixels().array, changed)


# --- errors ---------------------------------------------------------------------------------


def _corruptions(tmp_path: Path) -> dict[str, Path]:
    good = _make(tmp_path, "good.nii")
    raw = good.read_bytes()
    cases = {
        "empty.nii": b"",
        "short.nii": raw[:100],
        "header-only.nii": raw[:348],
        "truncated-data.nii": raw[:-10],
        "bad-gzip.nii.gz": b"\x1f\x8b" + b"\x00" * 40,
        "bad-vox-offset.nii": raw[:108] + struct.pack("<f", 1e12) + raw[112:],
        "bad-datatype.nii": raw[:70] + struct.pack("<h", 999) + raw[72:],
        "bad-dims.nii": raw[:40] + struct.pack("<h", 9) + raw[42:],
        "bad-extension.nii": raw[:108]
        + struct.pack("<f", 368)
        + raw[112:348]
        + b"\x01\x00\x00\x00"
        + struct.pack("<ii", 4, 6)
        + bytes(8)
        + raw[352:],
    }
    paths = {}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths[name] = path
    return paths


@pytest.mark.parametrize(
    "name",
    [
        "empty.nii",
        "short.nii",
        "header-only.nii",
        "truncated-data.nii",
        "bad-gzip.nii.gz",
        "bad-vox-offset.nii",
        "bad-datatype.nii",
        "bad-dims.nii",
        "bad-extension.nii",
    ],
)
def test_corrupt_files_raise_and_stay_untouched(name: str, tmp_path: Path) -> None:
    path = _corruptions(tmp_path)[name]
    before = path.read_bytes()
    with pytest.raises(CorruptFileError):
        NiftiCarrier.open(path)
    assert path.read_bytes() == before


def test_truncated_gzip_data(tmp_path: Path) -> None:
    src = _copy("example4d.nii.gz", tmp_path)
    raw = src.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    nifti = NiftiCarrier.open(cut)  # the header is intact
    with pytest.raises(PixelDecodeError):
        nifti.pixels()
    dest = tmp_path / "dest.nii.gz"
    dest.write_bytes(b"before")
    with pytest.raises(CorruptFileError):
        nifti.write(dest, record_json=RECORD, ack=ACK)
    assert dest.read_bytes() == b"before"
    with pytest.raises(CorruptFileError):
        nifti.write(cut, record_json=RECORD, ack=ACK)
    assert cut.read_bytes() == raw[: len(raw) // 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.nii.gz", "dest.nii.gz", src.name]


def test_pair_files_rejected(tmp_path: Path) -> None:
    shutil.copyfile(DATA / "nifti1.hdr", tmp_path / "pair.hdr")
    head = (tmp_path / "pair.hdr").read_bytes()[:512]
    assert NiftiCarrier.sniff(head, tmp_path / "pair.hdr")
    with pytest.raises(UnsupportedFormatError, match="pairs"):
        NiftiCarrier.open(tmp_path / "pair.hdr")


def test_missing_directory_and_permission(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        NiftiCarrier.open(tmp_path / "nope.nii")
    with pytest.raises(InputUnreadableError):
        NiftiCarrier.open(tmp_path)


def test_permission_error_is_input_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root ignores chmod, so simulate the OS refusing the read.
    path = _make(tmp_path)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("synthmark.carriers.nifti.open", refuse, raising=False)
    with pytest.raises(InputUnreadableError):
        NiftiCarrier.open(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied(tmp_path: Path) -> None:
    path = _make(tmp_path)
    before = path.read_bytes()
    path.chmod(0)
    try:
        with pytest.raises(InputUnreadableError):
            NiftiCarrier.open(path)
    finally:
        path.chmod(0o644)
    assert path.read_bytes() == before


_FUZZ_SOURCE: dict[str, bytes] = {}


def _fuzz_seed(gzipped: bool) -> bytes:
    key = "gz" if gzipped else "plain"
    if key not in _FUZZ_SOURCE:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            src = _make(
                Path(folder), "seed.nii", data=np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
            )
            stamped = _stamp(src, Path(folder) / "stamped.nii")
            plain = stamped.path.read_bytes()
        _FUZZ_SOURCE["plain"] = plain
        _FUZZ_SOURCE["gz"] = gzip.compress(plain, mtime=0)
    return _FUZZ_SOURCE[key]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    gzipped=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_fuzz_only_synthmark_errors_escape(
    gzipped: bool, edits: list[tuple[int, int]], cut: int | None, tmp_path: Path
) -> None:
    raw = bytearray(_fuzz_seed(gzipped))
    for pos, value in edits:
        raw[pos % len(raw)] = value
    if cut is not None:
        del raw[cut % (len(raw) + 1) :]
    path = tmp_path / ("fuzz.nii.gz" if gzipped else "fuzz.nii")
    path.write_bytes(bytes(raw))
    try:
        nifti = NiftiCarrier.open(path)
        nifti.read_record()
        nifti.standard_label()
        if not gzipped:  # open() bounded the data size by the file size
            digest_pixels(nifti.pixels())
    except SynthmarkError:
        pass


# --- spec vectors ---------------------------------------------------------------------------


def test_binding_vectors() -> None:
    expected = json.loads((VECTORS / "expected.json").read_text())
    assert expected, "no vectors"
    for name, want in expected.items():
        content = NiftiCarrier.open(VECTORS / name).pixels()
        got = digest_pixels(content)
        assert got.descriptor == want["descriptor"], name
        assert got.xxh3_128 == want["xxh3_128"], name
        assert got.sha256 == want["sha256"], name
        assert (VECTORS / name).stat().st_size < 100_000
