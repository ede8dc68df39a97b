"""synthmark validate: the rule the product exists for, bad inputs, config, cache, outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from synthmark.cli import main
from synthmark.errors import ConfigError
from synthmark.publish.manifest import ManifestBuildError, build_manifest
from synthmark.record.parsing import pretty_json
from synthmark.validation.config import MANIFEST_FILE, ValidateConfig, load_config
from synthmark.validation.engine import validate
from tests.validate.conftest import real_copies, shipped, strip_labels

ONE_PROCESS = ValidateConfig(jobs=1)


def _errors(report_findings: object) -> list[tuple[str, str | None]]:
    return [(f.code, f.path) for f in report_findings if f.severity.value == "error"]  # type: ignore[attr-defined]


def test_one_stripped_synthetic_among_hundreds_of_real_files(
    tmp_path: Path, marked_synthetic: Path
) -> None:
    dataset = tmp_path / "dataset"
    real_copies(dataset / "real", 240)
    strip_labels(marked_synthetic, dataset / "real" / "real-9999.dcm")
    report = validate([dataset], ONE_PROCESS)
    assert _errors(report.findings) == [("SM501", "real/real-9999.dcm")]
    assert report.failed
    assert report.summary.files == 241
    assert report.summary.watermarked == 1

    # The same dataset with that file acknowledged (stamped synthetic) passes.
    (dataset / "real" / "real-9999.dcm").unlink()
    shutil.copy(marked_synthetic, dataset / "real" / "real-9999.dcm")
    report = validate([dataset], ONE_PROCESS)
    assert _errors(report.findings) == []
    assert not report.failed


def test_cli_exit_codes_and_the_stripped_file_is_named(
    tmp_path: Path, marked_synthetic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "d"
    real_copies(dataset, 3)
    assert main(["validate", str(dataset), "--jobs", "1", "--no-cache"]) == 0
    strip_labels(marked_synthetic, dataset / "scan.dcm")
    capsys.readouterr()
    assert main(["validate", str(dataset), "--jobs", "1", "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "SM501" in out
    assert "scan.dcm" in out
    assert main(["validate", str(dataset), "--policy", "no-such-policy"]) == 2
    assert main(["validate", str(dataset), "--select", "SM999"]) == 2


def test_bad_files_are_findings_and_the_run_goes_on(tmp_path: Path, marked_synthetic: Path) -> None:
    dataset = tmp_path / "bad"
    dataset.mkdir()
    good = real_copies(dataset, 2)
    (dataset / "empty.dcm").write_bytes(b"")
    data = good[0].read_bytes()
    (dataset / "truncated.dcm").write_bytes(data[: len(data) // 3])
    (dataset / "corrupt.dcm").write_bytes(b"\x00" * 128 + b"DICM" + os.urandom(300))
    (dataset / "notes.txt").write_text("not an image\n")
    (dataset / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    (dataset / "fake.nii").write_bytes(b"\x5c\x01\x00\x00" + os.urandom(400))
    huge = bytearray(data[:132])  # preamble + DICM, then a meta element claiming 4 GiB
    huge += b"\x02\x00\x01\x00OB\x00\x00\xf0\xff\xff\xff"
    (dataset / "huge-header.dcm").write_bytes(bytes(huge))
    (dataset / "broken-link.dcm").symlink_to(dataset / "does-not-exist.dcm")
    strip_labels(marked_synthetic, dataset / "stripped.dcm")
    report = validate([dataset], ONE_PROCESS)
    by_path = {}
    for finding in report.findings:
        by_path.setdefault(finding.path, set()).add(finding.code)
    for name in ("empty.dcm", "truncated.dcm", "corrupt.dcm", "fake.png", "huge-header.dcm"):
        assert "SM901" in by_path.get(name, set()), (name, by_path)
    assert by_path["broken-link.dcm"] == {"SM902"}
    assert by_path["notes.txt"] == {"SM903"}
    assert "SM501" in by_path["stripped.dcm"], "the run must go on past bad files"
    assert report.internal_errors == 0
    assert report.summary.unreadable >= 6


def test_unreadable_file_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = tmp_path / "perm"
    files = real_copies(dataset, 2)
    real_open = open

    def deny(path: object, *args: object, **kwargs: object) -> object:
        if str(path) == str(files[0]):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", deny)
    report = validate([dataset], ONE_PROCESS)
    codes = {(f.code, f.path) for f in report.findings}
    assert ("SM901", "real-0000.dcm") in codes


def test_annex_and_lfs_pointers_are_absent_content(tmp_path: Path) -> None:
    dataset = tmp_path / "annex"
    dataset.mkdir()
    key = "SHA256E-s1--abc.dcm"
    (dataset / "scan.dcm").symlink_to(f"../.git/annex/objects/Xy/Zz/{key}/{key}")
    (dataset / "lfs.dcm").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12345\n"
    )
    report = validate([dataset], ONE_PROCESS)
    assert {(f.code, f.path) for f in report.findings} == {
        ("SM902", "scan.dcm"),
        ("SM902", "lfs.dcm"),
    }


def test_symlinked_content_is_followed(tmp_path: Path, marked_synthetic: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    strip_labels(marked_synthetic, store / "x.dcm")
    dataset = tmp_path / "tree"
    dataset.mkdir()
    (dataset / "linked.dcm").symlink_to(store / "x.dcm")
    (dataset / "loop").symlink_to(dataset)  # a symlink loop must not hang the walk
    report = validate([dataset], ONE_PROCESS)
    assert ("SM501", "linked.dcm") in [(f.code, f.path) for f in report.findings]


def test_synthmarkignore_and_config(tmp_path: Path, marked_synthetic: Path) -> None:
    dataset = tmp_path / "cfg"
    real_copies(dataset / "keep", 1)
    (dataset / "scratch").mkdir()
    strip_labels(marked_synthetic, dataset / "scratch" / "stripped.dcm")
    (dataset / ".synthmarkignore").write_text("scratch/\n")
    assert not validate([dataset], ONE_PROCESS).failed
    (dataset / ".synthmarkignore").unlink()
    (dataset / "synthmark.toml").write_text(
        'ignore = ["SM9"]\n[per-path-severity."scratch/*"]\nSM501 = "warning"\n'
    )
    config = replace(load_config([dataset]), jobs=1)
    report = validate([dataset], config)
    assert not report.failed
    assert [(f.code, f.severity.value) for f in report.findings if f.code == "SM501"] == [
        ("SM501", "warning")
    ]
    assert validate([dataset], replace(config, strict=True)).failed
    (dataset / "synthmark.toml").write_text('select = ["SM5"]\nbogus = 1\n')
    with pytest.raises(ConfigError):
        load_config([dataset])


def test_pyproject_tool_table_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.synthmark]\nignore = ["SM401"]\nfpr = 1e-9\n')
    config = load_config([tmp_path])
    assert config.fpr == 1e-9
    assert "SM401" not in [r.code for r in config.enabled_rules()]


@pytest.mark.parametrize("policy", ["research", "publish", "archive-ingest"])
def test_packaged_policies_load(tmp_path: Path, policy: str) -> None:
    config = load_config([tmp_path], policy=policy)
    assert config.policy == policy
    assert "SM501" in [r.code for r in config.enabled_rules()]


def test_header_only_lists_rules_not_run(tmp_path: Path, marked_synthetic: Path) -> None:
    dataset = tmp_path / "h"
    dataset.mkdir()
    strip_labels(marked_synthetic, dataset / "s.dcm")
    report = validate([dataset], replace(ONE_PROCESS, header_only=True))
    assert not report.failed, "header-only cannot see the watermark: that is why it is opt-in"
    not_run = dict(report.rules_not_run)
    assert {"SM201", "SM401", "SM501"} <= set(not_run)
    assert "header-only" in not_run["SM501"]


def test_redacted_paths_never_appear(
    tmp_path: Path, marked_synthetic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "DOE_JANE_1970"
    real_copies(dataset, 1)
    strip_labels(marked_synthetic, dataset / "DOE_JANE_scan.dcm")
    for fmt in ("text", "json", "sarif", "junit", "html"):
        capsys.readouterr()
        assert (
            main(
                [
                    "validate",
                    str(dataset),
                    "--jobs",
                    "1",
                    "--no-cache",
                    "--redact-paths",
                    "--format",
                    fmt,
                ]
            )
            == 1
        )
        out = capsys.readouterr().out
        assert "DOE_JANE" not in out, fmt
        assert "redacted-" in out, fmt


def test_cache_rereads_only_changed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import synthmark.validation.engine as engine

    dataset = tmp_path / "c"
    files = real_copies(dataset, 6)
    config = replace(ONE_PROCESS, cache_dir=tmp_path / "cache")
    first = validate([dataset], config)
    calls: list[str] = []
    real_inspect = engine.file_facts

    def counting(item: engine.WalkItem, settings: object) -> object:
        calls.append(item.relative)
        return real_inspect(item, settings)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "file_facts", counting)
    second = validate([dataset], config)
    assert calls == []
    assert second.findings == first.findings
    files[2].write_bytes(files[2].read_bytes())  # same content, new mtime
    os.utime(files[2], ns=(1, 1))
    validate([dataset], config)
    assert calls == [files[2].name]


def test_parallel_report_equals_serial(tmp_path: Path, marked_synthetic: Path) -> None:
    dataset = tmp_path / "p"
    real_copies(dataset, 20)
    strip_labels(marked_synthetic, dataset / "z.dcm")
    serial = validate([dataset], ONE_PROCESS)
    parallel = validate([dataset], ValidateConfig(jobs=2))
    assert parallel.findings == serial.findings
    assert parallel.summary == serial.summary


def test_manifest_build_check_and_refusal(tmp_path: Path, marked_synthetic: Path) -> None:
    dataset = tmp_path / "m"
    real_copies(dataset / "real", 3)
    (dataset / "synthetic").mkdir()
    shutil.copy(marked_synthetic, dataset / "synthetic" / "s.dcm")
    manifest = build_manifest(dataset, name="t", version="1", publisher="lab", config=ONE_PROCESS)
    assert (manifest.total_count, manifest.synthetic_count) == (4, 1)
    (dataset / MANIFEST_FILE).write_text(pretty_json(manifest))
    assert main(["manifest", "check", str(dataset), "--jobs", "1"]) == 0
    assert not validate([dataset], ONE_PROCESS).failed
    extra = dataset / "real" / "late.dcm"
    shutil.copy(shipped("CT_small.dcm"), extra)
    report = validate([dataset], ONE_PROCESS)
    assert ("SM504", "real/late.dcm") in _errors(report.findings)
    extra.unlink()
    (dataset / "real" / "real-0000.dcm").unlink()
    assert ("SM505", "real/real-0000.dcm") in _errors(validate([dataset], ONE_PROCESS).findings)
    strip_labels(marked_synthetic, dataset / "real" / "stripped.dcm")
    with pytest.raises(ManifestBuildError, match="watermarked but not acknowledged"):
        build_manifest(dataset, name="t", version="1", publisher="lab", config=ONE_PROCESS)


def test_changed_since_checks_only_changed_files(tmp_path: Path, marked_synthetic: Path) -> None:
    repo = tmp_path / "repo"
    real_copies(repo, 3)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    for command in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "x"]):
        subprocess.run(command, cwd=repo, check=True, env=env)
    strip_labels(marked_synthetic, repo / "new.dcm")
    code = main(
        [
            "validate",
            str(repo),
            "--jobs",
            "1",
            "--no-cache",
            "--changed-since",
            "HEAD",
            "--format",
            "json",
            "-o",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["files"] == 1
    assert [f["path"] for f in report["findings"] if f["code"] == "SM501"] == ["new.dcm"]


def test_json_report_matches_its_schema(tmp_path: Path, marked_synthetic: Path) -> None:
    import jsonschema

    dataset = tmp_path / "j"
    real_copies(dataset, 2)
    strip_labels(marked_synthetic, dataset / "s.dcm")
    out = tmp_path / "report.json"
    assert (
        main(
            [
                "validate",
                str(dataset),
                "--jobs",
                "1",
                "--no-cache",
                "--format",
                "json",
                "-o",
                str(out),
            ]
        )
        == 1
    )
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "schema" / "report.v1.schema.json").read_text()
    )
    jsonschema.validate(json.loads(out.read_text()), schema)


def test_rules_command_lists_and_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    listing = capsys.readouterr().out
    assert "SM501" in listing and "unacknowledged-synthetic-image" in listing
    assert main(["rules", "SM501"]) == 0
    assert "Why is this bad?" in capsys.readouterr().out
    assert main(["rules", "SM000"]) == 2
