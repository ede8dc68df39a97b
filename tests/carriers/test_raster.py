"""Raster carrier (PNG/JPEG/TIFF): sniffing, pixels, writes with sidecar, errors."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from synthmark.binding import digest_pixels
from synthmark.carriers._base import Acknowledgment
from synthmark.carriers.raster import RasterCarrier
from synthmark.carriers.sidecar import read_sidecar, sidecar_path
from synthmark.errors import (
    CorruptFileError,
    EncodeError,
    InputNotFoundError,
    InputUnreadableError,
    PixelDecodeError,
    ResourceLimitError,
    SynthmarkError,
    UnsupportedFormatError,
)

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "spec" / "vectors" / "binding" / "raster"
ACK = Acknowledgment(
    synthetic=True,
    source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    record_id="3f2a9c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b",
    summary="Synthetic chest X-ray",
)
RECORD = b'{"id":"3f2a9c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b","synthetic":true}'
RNG = np.random.default_rng(7)
GREY8 = RNG.integers(0, 256, (12, 10)).astype(np.uint8)
GREY16 = RNG.integers(0, 65536, (12, 10)).astype(np.uint16)
RGB = RNG.integers(0, 256, (12, 10, 3)).astype(np.uint8)
RGBA = RNG.integers(0, 256, (12, 10, 4)).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _raw_png(width: int, height: int, depth: int, colour: int, rows: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def _save(image: Image.Image, path: Path, **options: Any) -> Path:
    image.save(path, **options)
    return path


def _write_and_check_sidecar(path: Path, dest: Path, **kwargs: object) -> None:
    RasterCarrier.open(path).write(dest, record_json=RECORD, ack=ACK, **kwargs)  # type: ignore[arg-type]
    assert read_sidecar(dest) == RECORD


# --- sniffing and pixels --------------------------------------------------------------------


def test_sniff() -> None:
    path = Path("x")
    assert RasterCarrier.sniff(b"\x89PNG\r\n\x1a\n" + bytes(8), path)
    assert RasterCarrier.sniff(b"\xff\xd8\xff\xe0" + bytes(8), path)
    assert RasterCarrier.sniff(b"II*\x00" + bytes(8), path)
    assert RasterCarrier.sniff(b"MM\x00*" + bytes(8), path)
    assert not RasterCarrier.sniff(b"", path)
    assert not RasterCarrier.sniff(bytes(128) + b"DICM", path)
    assert not RasterCarrier.sniff(b"\x1f\x8b\x08\x00", path)


@pytest.mark.parametrize(
    ("name", "image", "dtype", "shape", "photometric", "bits"),
    [
        ("g8.png", Image.fromarray(GREY8), np.uint8, (12, 10, 1), "MONOCHROME2", 8),
        ("g16.png", Image.fromarray(GREY16), np.uint16, (12, 10, 1), "MONOCHROME2", 16),
        ("rgb.png", Image.fromarray(RGB), np.uint8, (12, 10, 3), "RGB", 8),
        ("rgba.png", Image.fromarray(RGBA), np.uint8, (12, 10, 4), "RGBA", 8),
        ("la.png", Image.fromarray(RGBA[:, :, :2]), np.uint8, (12, 10, 2), "LA", 8),
        ("bw.png", Image.fromarray(GREY8 > 100), np.uint8, (12, 10, 1), "MONOCHROME2", 1),
        ("g8.jpg", Image.fromarray(GREY8), np.uint8, (12, 10, 1), "MONOCHROME2", 8),
        ("rgb.jpg", Image.fromarray(RGB), np.uint8, (12, 10, 3), "RGB", 8),
        ("g8.tif", Image.fromarray(GREY8), np.uint8, (12, 10, 1), "MONOCHROME2", 8),
        ("g16.tif", Image.fromarray(GREY16), np.uint16, (12, 10, 1), "MONOCHROME2", 16),
        ("rgb.tif", Image.fromarray(RGB), np.uint8, (12, 10, 3), "RGB", 8),
        (
            "f.tif",
            Image.fromarray(GREY8.astype(np.float32) / 3),
            np.float32,
            (12, 10, 1),
            "MONOCHROME2",
            32,
        ),
        (
            "i.tif",
            Image.fromarray(GREY16.astype(np.int32) - 9),
            np.int32,
            (12, 10, 1),
            "MONOCHROME2",
            32,
        ),
        ("cmyk.tif", Image.fromarray(RGB).convert("CMYK"), np.uint8, (12, 10, 4), "CMYK", 8),
    ],
)
def test_pixels_by_mode(
    name: str,
    image: Image.Image,
    dtype: type[np.generic],
    shape: tuple[int, ...],
    photometric: str,
    bits: int,
    tmp_path: Path,
) -> None:
    path = _save(image, tmp_path / name)
    raster = RasterCarrier.open(path)
    content = raster.pixels()
    assert content.array.dtype == np.dtype(dtype)
    assert content.array.shape == shape
    assert content.layout == "rows,columns,samples"
    assert (content.photometric, content.bits_stored) == (photometric, bits)
    assert (content.slope, content.intercept) == (1.0, 0.0)
    assert raster.read_record() is None
    assert raster.standard_label().synthetic is None
    if not name.endswith(".jpg"):
        expected = np.asarray(image)
        if image.mode == "1":
            expected = expected.astype(np.uint8)
        np.testing.assert_array_equal(content.array.reshape(expected.shape), expected)


def test_sixteen_bit_values_are_exact(tmp_path: Path) -> None:
    rows = b"".join(b"\x00" + GREY16[r].astype(">u2").tobytes() for r in range(12))
    path = tmp_path / "g16.png"
    path.write_bytes(_raw_png(10, 12, 16, 0, rows))
    np.testing.assert_array_equal(RasterCarrier.open(path).pixels().array[:, :, 0], GREY16)
    assert digest_pixels(RasterCarrier.open(path).pixels()) == digest_pixels(
        RasterCarrier.open(_save(Image.fromarray(GREY16), tmp_path / "g16.tif")).pixels()
    )


def test_palette_is_expanded(tmp_path: Path) -> None:
    rgb_path = _save(Image.fromarray(RGB // 64 * 64), tmp_path / "rgb.png")
    pal_path = _save(
        Image.open(rgb_path).convert("P", palette=Image.Palette.ADAPTIVE), tmp_path / "p.png"
    )
    assert Image.open(pal_path).mode == "P"
    pal = RasterCarrier.open(pal_path).pixels()
    assert pal.photometric == "RGB"
    assert digest_pixels(pal) == digest_pixels(RasterCarrier.open(rgb_path).pixels())
    transparent = Image.open(pal_path)
    transparent.info["transparency"] = 0
    trans_path = _save(transparent, tmp_path / "pt.png", transparency=0)
    assert RasterCarrier.open(trans_path).pixels().photometric == "RGBA"


def test_exif_orientation_is_not_applied(tmp_path: Path) -> None:
    image = Image.fromarray(RGB)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = _save(image, tmp_path / "o.png", exif=exif)
    assert RasterCarrier.open(path).pixels().array.shape == (12, 10, 3)


def test_wide_colour_and_multiframe_are_refused(tmp_path: Path) -> None:
    rows = b"".join(b"\x00" + np.repeat(GREY16[r], 3).astype(">u2").tobytes() for r in range(12))
    wide = tmp_path / "rgb48.png"
    wide.write_bytes(_raw_png(10, 12, 16, 2, rows))
    raster = RasterCarrier.open(wide)
    with pytest.raises(PixelDecodeError, match="8 bits"):
        raster.pixels()
    # The record can still be attached: the bytes are copied, not decoded.
    raster.write(tmp_path / "copy.png", record_json=RECORD, ack=ACK)
    assert (tmp_path / "copy.png").read_bytes() == wide.read_bytes()
    multi = tmp_path / "multi.tif"
    Image.fromarray(GREY8).save(multi, save_all=True, append_images=[Image.fromarray(GREY8)])
    with pytest.raises(PixelDecodeError, match="multi-frame"):
        RasterCarrier.open(multi).pixels()


# --- writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["g.png", "g.jpg", "g.tif"])
def test_write_copies_bytes_and_writes_sidecar(name: str, tmp_path: Path) -> None:
    src = _save(Image.fromarray(RGB), tmp_path / name)
    before = src.read_bytes()
    dest = tmp_path / ("out-" + name)
    _write_and_check_sidecar(src, dest)
    assert dest.read_bytes() == before
    assert src.read_bytes() == before
    assert sidecar_path(dest).name == f"out-{name}.synthmark.json"
    assert not sidecar_path(src).exists()
    # In place: the image is untouched, the sidecar appears.
    _write_and_check_sidecar(src, src)
    assert src.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "image", "options"),
    [
        ("g8.png", Image.fromarray(GREY8), {}),
        ("g16.png", Image.fromarray(GREY16), {}),
        ("rgb.png", Image.fromarray(RGB), {}),
        ("rgba.png", Image.fromarray(RGBA), {}),
        ("bw.png", Image.fromarray(GREY8 > 100), {}),
        ("p.png", Image.fromarray(RGB).convert("P"), {}),
        ("g8.tif", Image.fromarray(GREY8), {"compression": "tiff_lzw"}),
        ("g16.tif", Image.fromarray(GREY16), {"compression": "tiff_adobe_deflate"}),
        ("rgb.tif", Image.fromarray(RGB), {}),
        ("f.tif", Image.fromarray(GREY8.astype(np.float32) / 7), {}),
        ("cmyk.tif", Image.fromarray(RGB).convert("CMYK"), {}),
    ],
)
def test_new_pixels_re_encoded_losslessly(
    name: str, image: Image.Image, options: dict[str, object], tmp_path: Path
) -> None:
    src = _save(image, tmp_path / name, **options)
    raster = RasterCarrier.open(src)
    content = raster.pixels()
    changed = np.array(content.array)
    changed[3, 4, 0] = 0 if changed[3, 4, 0] else 1
    dest = tmp_path / ("out-" + name)
    raster.write(dest, record_json=RECORD, ack=ACK, new_pixels=changed)
    out = RasterCarrier.open(dest)
    assert out.image_format == raster.image_format
    again = out.pixels()
    np.testing.assert_array_equal(again.array, changed)
    assert again.photometric == content.photometric
    assert digest_pixels(again) != digest_pixels(content)
    assert read_sidecar(dest) == RECORD
    if name.endswith(".tif"):
        assert Image.open(dest).info.get("compression") == Image.open(src).info.get("compression")


def test_png_metadata_kept_on_re_encode(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "keep me")
    src = _save(Image.fromarray(GREY8), tmp_path / "t.png", pnginfo=info, dpi=(300, 300))
    raster = RasterCarrier.open(src)
    raster.write(src, record_json=RECORD, ack=ACK, new_pixels=raster.pixels().array)
    with Image.open(src) as image:
        assert image.text["Comment"] == "keep me"  # type: ignore[attr-defined]
        assert round(image.info["dpi"][0]) == 300


def test_jpeg_new_pixels_refused(tmp_path: Path) -> None:
    src = _save(Image.fromarray(RGB), tmp_path / "x.jpg")
    before = src.read_bytes()
    raster = RasterCarrier.open(src)
    with pytest.raises(EncodeError, match="JPEG"):
        raster.write(src, record_json=RECORD, ack=ACK, new_pixels=raster.pixels().array)
    assert src.read_bytes() == before
    assert read_sidecar(src) is None


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((12, 10, 1), np.uint16),
        np.zeros((10, 12, 1), np.uint8),
        np.zeros((12, 10), np.uint8),
    ],
)
def test_new_pixels_must_match(bad: npt.NDArray[np.generic], tmp_path: Path) -> None:
    src = _save(Image.fromarray(GREY8), tmp_path / "g.png")
    with pytest.raises(EncodeError):
        RasterCarrier.open(src).write(
            tmp_path / "o.png", record_json=RECORD, ack=ACK, new_pixels=bad
        )
    assert not (tmp_path / "o.png").exists()


def test_bilevel_rejects_other_values(tmp_path: Path) -> None:
    src = _save(Image.fromarray(GREY8 > 100), tmp_path / "b.png")
    bad = np.full((12, 10, 1), 2, np.uint8)
    with pytest.raises(EncodeError):
        RasterCarrier.open(src).write(src, record_json=RECORD, ack=ACK, new_pixels=bad)


# --- errors ---------------------------------------------------------------------------------


def test_corrupt_and_unsupported(tmp_path: Path) -> None:
    good = _save(Image.fromarray(RGB), tmp_path / "good.png").read_bytes()
    cases: dict[str, tuple[bytes, type[SynthmarkError]]] = {
        "empty.png": (b"", UnsupportedFormatError),
        "text.png": (b"hello world", UnsupportedFormatError),
        "magic-only.png": (good[:8], CorruptFileError),
        "short-header.png": (good[:20], CorruptFileError),
        "garbage.png": (good[:8] + bytes(100), CorruptFileError),
        "garbage.jpg": (b"\xff\xd8\xff" + bytes(100), CorruptFileError),
        "garbage.tif": (b"II*\x00" + b"\xff" * 100, CorruptFileError),
        "bomb.png": (_raw_png(60_000, 60_000, 8, 0, b""), ResourceLimitError),
    }
    for name, (data, error) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(error):
            RasterCarrier.open(path)
        assert path.read_bytes() == data, name


@pytest.mark.parametrize("name", ["t.png", "t.jpg", "t.tif"])
def test_truncated_pixel_data(name: str, tmp_path: Path) -> None:
    noisy = RNG.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    src = _save(Image.fromarray(noisy), tmp_path / name)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    raster = RasterCarrier.open(src)
    with pytest.raises(PixelDecodeError):
        raster.pixels()
    assert src.read_bytes() == data[: len(data) // 2]


def test_missing_directory_and_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputNotFoundError):
        RasterCarrier.open(tmp_path / "nope.png")
    with pytest.raises(InputUnreadableError):
        RasterCarrier.open(tmp_path)
    path = _save(Image.fromarray(GREY8), tmp_path / "g.png")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("synthmark.carriers.raster.open", refuse, raising=False)
    with pytest.raises(InputUnreadableError):
        RasterCarrier.open(path)


_SEEDS: dict[str, bytes] = {}


def _seed(fmt: str) -> bytes:
    if fmt not in _SEEDS:
        buffer = io.BytesIO()
        Image.fromarray(RGB).save(buffer, format=fmt)
        _SEEDS[fmt] = buffer.getvalue()
    return _SEEDS[fmt]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from(["PNG", "JPEG", "TIFF"]),
    edits=st.lists(st.tuples(st.integers(0, 5_000), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 5_000)),
)
def test_fuzz_only_synthmark_errors_escape(
    fmt: str,
    edits: list[tuple[int, int]],
    cut: int | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A mutated size field must not make the test allocate gigabytes.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    raw = bytearray(_seed(fmt))
    for pos, value in edits:
        raw[pos % len(raw)] = value
    if cut is not None:
        del raw[cut % (len(raw) + 1) :]
    path = tmp_path / "fuzz.img"
    path.write_bytes(bytes(raw))
    try:
        raster = RasterCarrier.open(path)
        raster.read_record()
        digest_pixels(raster.pixels())
    except SynthmarkError:
        pass


# --- spec vectors ---------------------------------------------------------------------------


def test_binding_vectors() -> None:
    expected = json.loads((VECTORS / "expected.json").read_text())
    assert expected, "no vectors"
    for name, want in expected.items():
        got = digest_pixels(RasterCarrier.open(VECTORS / name).pixels())
        assert got.descriptor == want["descriptor"], name
        assert got.xxh3_128 == want["xxh3_128"], name
        assert got.sha256 == want["sha256"], name
        assert (VECTORS / name).stat().st_size < 100_000
