"""Resource limits (spec/parts/limits.md): hostile files are refused before anything large
is allocated, with SMX015 and the setting named; exit 2 in single-file commands, an SM904
finding in validate; files are never changed; real shipped test data pass the defaults."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.carriers import limits, open_image
from synthmark.carriers.limits import Limits, parse_amount, resolve
from synthmark.cli import main
from synthmark.errors import (
    ConfigError,
    CorruptFileError,
    ResourceLimitError,
    SynthmarkError,
    all_error_classes,
)
from tests.limits import corpus

_ENV = ("SYNTHMARK_MAX_PIXELS", "SYNTHMARK_MAX_DECOMPRESSED", "SYNTHMARK_MAX_FRAMES")


@pytest.fixture(autouse=True)
def _default_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    limits.configure(None)
    yield
    limits.configure(None)


#: name -> (builder, setting the refusal names). Each is small on disk and declares or
#: inflates to more than the default limits allow.
HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "declared-100000.png": (lambda: corpus.png(100_000, 100_000), "--max-pixels"),
    "side-13000.png": (lambda: corpus.png(13_000, 13_000, full=True), "--max-pixels"),
    "deflate-13000.tif": (lambda: corpus.tiff_deflate(13_000, 13_000), "--max-pixels"),
    "deflated-bomb.dcm": (lambda: corpus.dicom_deflated(1_100_000_000), "--max-decompressed"),
    "declared-60000.dcm": (lambda: corpus.dicom_image(60_000, 60_000), "--max-pixels"),
    "frames-100000.dcm": (lambda: corpus.dicom_image(1, 1, 100_000), "--max-frames"),
    "zeros-1g.nii.gz": (lambda: corpus.nifti_gz((1024, 1024, 1024)), "--max-pixels"),
}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, (build, _) in HOSTILE.items():
        (folder / name).write_bytes(build())
    return folder


def _good_png(path: Path) -> Path:
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(path)
    return path


# ----------------------------------------------------------------------- the settings


def test_amounts_parse_with_suffixes() -> None:
    assert parse_amount("67108864", "x") == 1 << 26
    assert parse_amount("64Mi", "x") == 1 << 26
    assert parse_amount("1G", "x") == 10**9
    assert parse_amount("1_000k", "x") == 10**6
    assert parse_amount(5, "x") == 5
    for bad in ("", "0", "-3", "1.5G", "lots", True):
        with pytest.raises(ConfigError):
            parse_amount(bad, "x")


def test_precedence_is_cli_then_environment_then_config() -> None:
    config = {"max_pixels": 10, "max_frames": 7}
    env = {"SYNTHMARK_MAX_PIXELS": "20", "SYNTHMARK_MAX_DECOMPRESSED": "1Ki"}
    assert resolve(config=config, environ={}) == Limits(max_pixels=10, max_frames=7)
    both = resolve(config=config, environ=env)
    assert both == Limits(max_pixels=20, max_decompressed=1024, max_frames=7)
    assert resolve(config=config, cli={"max_pixels": 30}, environ=env).max_pixels == 30
    with pytest.raises(ConfigError, match="SYNTHMARK_MAX_PIXELS"):
        resolve(environ={"SYNTHMARK_MAX_PIXELS": "many"})


def test_the_code_is_new_and_not_the_internal_error() -> None:
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))
    assert ResourceLimitError.code == "SMX015" != "SMX070"
    assert ResourceLimitError.exit_code == 2


def test_applied_restores_and_pillow_guard_is_restored(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    small = _good_png(tmp_path / "small.png")
    with limits.applied(Limits(max_pixels=100)), pytest.raises(ResourceLimitError):
        open_image(small)
    assert limits.current() == Limits()
    assert Image.MAX_IMAGE_PIXELS == before
    open_image(small).pixels()


# ----------------------------------------------------------------------- the carriers


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_are_refused_before_allocating(name: str, hostile_dir: Path) -> None:
    path = hostile_dir / name
    tracemalloc.start()
    try:
        with pytest.raises(ResourceLimitError) as caught:
            open_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"{name}: {peak / 1e6:.0f} MB traced while refusing"
    setting = HOSTILE[name][1]
    assert caught.value.setting == setting
    assert setting in caught.value.message and setting in caught.value.hint


def test_nii_gz_inflating_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "zeros.nii.gz"
    path.write_bytes(corpus.nifti_gz((64, 64, 64), "float64"))  # 2 MiB of voxels
    with limits.applied(Limits(max_decompressed=1 << 20)), pytest.raises(ResourceLimitError):
        open_image(path)
    open_image(path).pixels()  # under the defaults it reads


def test_nii_gz_trailing_zeros_are_counted_when_copied(tmp_path: Path) -> None:
    from synthmark.carriers.nifti import NiftiFile

    path = tmp_path / "trailing.nii.gz"
    path.write_bytes(corpus.nifti_gz((8, 8, 8), zeros=3 << 20))  # 512 bytes declared
    image = open_image(path)
    assert isinstance(image, NiftiFile)
    with limits.applied(Limits(max_decompressed=1 << 20)), pytest.raises(ResourceLimitError):
        image.write(tmp_path / "copy.nii.gz", record_json=None, ack=None)
    assert not (tmp_path / "copy.nii.gz").exists()


def test_deflated_dicom_under_the_limit_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "deflated.dcm"
    path.write_bytes(corpus.dicom_deflated(200_000))
    assert open_image(path).pixels().array.shape == (1, 8, 8, 1)
    with limits.applied(Limits(max_decompressed=100_000)), pytest.raises(ResourceLimitError):
        open_image(path)


def test_truncated_bomb_is_corrupt_not_a_limit(tmp_path: Path) -> None:
    path = tmp_path / "cut.dcm"
    path.write_bytes(corpus.dicom_deflated(200_000)[:-40])
    with pytest.raises(CorruptFileError):
        open_image(path)


# ---------------------------------------------------------------------- the commands


@pytest.mark.parametrize("command", ["verify", "detect", "inspect"])
def test_single_file_commands_exit_2_naming_the_setting(
    command: str, hostile_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (_, setting) in HOSTILE.items():
        path = hostile_dir / name
        before = _digest(path)
        assert main([command, str(path)]) == 2, name
        captured = capsys.readouterr()
        output = captured.out + captured.err
        assert "SMX015" in output and setting in output, (name, output)
        assert "Traceback" not in output
        assert _digest(path) == before


def test_options_and_environment_set_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _good_png(tmp_path / "good.png")  # 4096 pixel values
    assert main(["inspect", "--max-pixels", "1k", str(good)]) == 2
    assert "--max-pixels" in capsys.readouterr().err
    monkeypatch.setenv("SYNTHMARK_MAX_PIXELS", "1000")
    assert main(["inspect", str(good)]) == 2
    capsys.readouterr()
    # The option wins over the environment; without a record inspect exits 1, a verdict.
    assert main(["inspect", "--max-pixels", "4096", str(good)]) == 1
    assert "SMX015" not in capsys.readouterr().err
    assert main(["verify", "--max-pixels", "nonsense", str(good)]) == 2


def test_verify_exits_2_when_the_limit_refuses_after_the_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Deflated DICOM under the limit opens; lower the limit and the open refuses it.
    path = tmp_path / "deflated.dcm"
    path.write_bytes(corpus.dicom_deflated(300_000))
    assert main(["verify", "--no-watermark", "--max-decompressed", "100k", str(path)]) == 2
    assert "--max-decompressed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name, data",
    [
        ("cut.png", corpus.png(64, 64, full=True)[:30]),
        ("cut.dcm", corpus.dicom_image()[:200]),
        ("cut.nii.gz", corpus.nifti_gz((8, 8, 8))[:20]),
    ],
)
def test_truncated_headers_exit_2_without_a_limit_code(
    name: str, data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    for command in ("verify", "detect", "inspect"):
        assert main([command, str(path)]) == 2, command
        output = "".join(capsys.readouterr())
        assert "SMX01" in output and "SMX015" not in output and "SMX070" not in output
    assert path.read_bytes() == data


def _validate(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["validate", "-j", "1", "--no-cache", "--format", "json", *extra, str(folder)])
    return code, json.loads(capsys.readouterr().out)


def test_validate_reports_each_bomb_and_checks_the_good_file(
    hostile_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in HOSTILE:
        (folder / name).symlink_to(hostile_dir / name)
    _good_png(folder / "good.png")
    before = {p.name: _digest(p) for p in folder.iterdir()}
    code, report = _validate(folder, capsys, "--header-only")
    assert code == 1
    findings = report["findings"]
    refused = {f["path"] for f in findings if f["code"] == "SM904"}
    assert refused == set(HOSTILE)
    assert all("SMX015" in f["message"] for f in findings if f["code"] == "SM904")
    assert not [f for f in findings if f["path"] == "good.png" and f["severity"] == "error"]
    assert report["summary"]["files"] == len(HOSTILE) + 1
    assert {p.name: _digest(p) for p in folder.iterdir()} == before


def test_validate_limits_from_config_env_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    _good_png(folder / "good.png")
    (folder / "synthmark.toml").write_text('max-pixels = "1Ki"\n', encoding="utf-8")
    code, report = _validate(folder, capsys, "--header-only")
    assert [f["code"] for f in report["findings"] if f["path"] == "good.png"] == ["SM904"]
    assert "max-pixels" in next(f["message"] for f in report["findings"] if f["code"] == "SM904")
    assert code == 1
    monkeypatch.setenv("SYNTHMARK_MAX_PIXELS", "1Mi")  # the environment beats the file
    _, report = _validate(folder, capsys, "--header-only")
    assert "SM904" not in {f["code"] for f in report["findings"]}
    _, report = _validate(folder, capsys, "--header-only", "--max-pixels", "100")
    assert "SM904" in {f["code"] for f in report["findings"]}
    (folder / "synthmark.toml").write_text("max-frames = 0\n", encoding="utf-8")
    assert main(["validate", "-j", "1", "--no-cache", str(folder)]) == 2
    assert "max-frames" in capsys.readouterr().err


def test_validate_full_run_decodes_the_good_file(
    hostile_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "bomb.dcm").symlink_to(hostile_dir / "deflated-bomb.dcm")
    _good_png(folder / "good.png")
    code, report = _validate(folder, capsys)
    assert code == 1
    assert [f["code"] for f in report["findings"] if f["path"] == "bomb.dcm"] == ["SM904"]
    assert report["summary"]["megapixels"] > 0  # the good file was decoded


# ------------------------------------------------------------ real data pass the defaults


def _shipped_files() -> list[Path]:
    import nibabel
    from pydicom.data import get_testdata_files

    nibabel_data = Path(nibabel.__file__).parent / "tests" / "data"
    files = [Path(p) for p in get_testdata_files()]
    files += sorted(p for p in nibabel_data.rglob("*") if p.is_file())
    return files


def test_every_shipped_real_file_passes_the_default_limits() -> None:
    accepted = 0
    for path in _shipped_files():
        try:
            image = open_image(path)
        except ResourceLimitError:
            raise
        except SynthmarkError:
            continue  # not a format the carriers accept (or broken on purpose)
        accepted += 1
        try:
            image.pixels()
        except ResourceLimitError:
            raise
        except SynthmarkError:
            pass  # no pixel data, or no decoder installed: not a limit
    assert accepted > 150
