"""The published pre-commit hooks (.pre-commit-hooks.yaml), run by the real pre-commit.

The end-to-end test commits into a throw-away git repository through ``pre-commit
install`` + ``git commit``, with a ``repo: local`` configuration that mirrors the published
hooks except ``language: system`` and an absolute ``entry`` (so nothing is installed or
downloaded). It checks that per-file hooks are split into several batches by pre-commit,
that the dataset hook runs exactly once, that an unacknowledged synthetic image is refused
with SM501, and that real and properly stamped synthetic images pass.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from synthmark.cli import main as synthmark_main

# PyYAML comes with pre-commit (the `dev` extra); without it there is nothing to run.
yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / ".pre-commit-hooks.yaml"
SYNTHMARK = Path(sys.executable).parent / "synthmark"

#: More than pre-commit's posix command-line cap (2**17 bytes) of file names, so the
#: per-file hooks are split into batches by length even on a single CPU.
N_BATCH_FILES = 160
#: Kept few: every image costs a watermark search in each hook.
REAL_SCANS = ("CT_small.dcm", "MR_small.dcm")
_CHECKED = re.compile(r"^synthmark: (\d+) files? checked", re.MULTILINE)


def _hooks() -> list[dict[str, Any]]:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    return hooks


# ------------------------------------------------------------------ the manifest itself


def test_manifest_is_valid_for_pre_commit() -> None:
    clientlib = pytest.importorskip("pre_commit.clientlib")
    loaded = clientlib.load_manifest(str(MANIFEST))
    ids = {hook["id"] for hook in loaded}
    assert {"synthmark-verify", "synthmark-unacknowledged", "synthmark-validate-dataset"} <= ids


def test_manifest_hooks_use_real_synthmark_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for hook in _hooks():
        argv = shlex.split(hook["entry"])
        assert argv[0] == "synthmark", hook["id"]
        # Every option in entry and args must be accepted by the real command: click
        # rejects unknown options (exit 2) before it acts on --help (exit 0).
        assert synthmark_main([*argv[1:], *hook.get("args", []), "--help"]) == 0, hook["id"]
        capsys.readouterr()
        if hook.get("pass_filenames", True):
            # Per-file hooks may be split into batches: no dataset rule may run there.
            assert not hook.get("require_serial", False), hook["id"]
            assert "symlink" in hook.get("types_or", []), hook["id"]
            assert re.search(hook["files"], "a/b/scan.DCM"), hook["id"]
            assert re.search(hook["files"], "sub-01_T1w.nii.gz"), hook["id"]
        else:
            assert hook["require_serial"] is True, hook["id"]
            assert hook.get("always_run") is True, hook["id"]
    ack = next(h for h in _hooks() if h["id"] == "synthmark-unacknowledged")
    assert shlex.split(ack["entry"])[1] == "validate"  # never `detect` (see the manifest)
    assert "SM501" in ack["entry"]


# ------------------------------------------------------------------ end to end


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(tmp / "xdg-cache"),
        PRE_COMMIT_HOME=str(tmp / "pre-commit-home"),
        SYNTHMARK_CACHE_DIR=str(tmp / "synthmark-cache"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.org",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.org",
        NO_COLOR="1",
        PIP_NO_INDEX="1",
    )
    return env


def _local_config() -> str:
    """The published hooks as a `repo: local` block run from this virtualenv."""
    hooks = []
    for published in _hooks():
        hook = dict(published)
        hook["language"] = "system"
        hook["entry"] = hook["entry"].replace("synthmark", shlex.quote(str(SYNTHMARK)), 1)
        hook["verbose"] = True  # show the output of passing hooks too (counted below)
        hook.pop("minimum_pre_commit_version", None)
        if hook["id"] == "synthmark-verify":
            hook["files"] = r"^data/synthetic/.*\.dcm$"  # stamped images only
        if hook["id"] == "synthmark-validate-dataset":
            hook["args"] = ["--policy", "research", "data"]
        hooks.append(hook)
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": hooks}]}, sort_keys=False)


def _sections(output: str) -> dict[str, str]:
    """pre-commit's output per hook id (the text after ``- hook id: ID``)."""
    parts = re.split(r"^- hook id: (\S+)$", output, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _tiny_pngs(folder: Path, count: int) -> list[Path]:
    import numpy as np
    from PIL import Image

    # Long names: the file list must exceed pre-commit's command-line cap.
    # Components stay well under NAME_MAX (255): `<name>.synthmark.json` must fit too.
    deep = folder / ("long-site-name-" * 16) / ("long-study-description-" * 10)
    deep = deep / ("long-series-description-" * 10)
    deep.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = deep / f"scan-{i:04d}-{'anonymised-slice-' * 9}.png"
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real DICOM slices, a watermarked synthetic stripped of every label, a stamped one."""
    from pydicom.data import get_testdata_file

    import synthmark
    from synthmark.api import mark_file
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    def shipped(name: str) -> Path:
        found = get_testdata_file(name, download=False)
        assert found is not None, name
        return Path(str(found))

    folder = tmp_path_factory.mktemp("scans")
    made = {name: shipped(name) for name in REAL_SCANS}
    template = shipped("J2K_pixelrep_mismatch.dcm")  # 512 x 512 CT
    # Watermarked, no record, no Synthetic Data attribute: passes for a real CT.
    made["unacknowledged"] = folder / "CT-from-another-site.dcm"
    mark_file(template, dest=made["unacknowledged"])
    # Watermarked and honestly stamped (record bound to the marked pixels).
    made["stamped"] = folder / "CT-synthetic-1.dcm"
    record = synthmark.load_record(REPO / "spec" / "examples" / "valid-diffusion-ct-chest.json")
    synthmark.stamp(template, record, dest=made["stamped"], watermark=PUBLIC_DETECTION_KEY)
    return made


@pytest.mark.slow  # 25-45 s on a loaded 2-core machine: ~10 synthmark processes
def test_hooks_in_a_real_commit(tmp_path: Path, scans: dict[str, Path]) -> None:
    pytest.importorskip("pre_commit")
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    env = _env(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()

    def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        if check and done.returncode != 0:
            pytest.fail(f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def commit(message: str) -> subprocess.CompletedProcess[str]:
        done = run(git, "commit", "-q", "-m", message, check=False)
        done.stdout += done.stderr  # pre-commit's report goes to either, depending on git
        return done

    run(git, "init", "-q", "-b", "main")
    (repo / ".pre-commit-config.yaml").write_text(_local_config(), encoding="utf-8")
    run(sys.executable, "-m", "pre_commit", "install")
    run(git, "add", ".pre-commit-config.yaml")
    run(git, "commit", "-q", "--no-verify", "-m", "config")

    # 1. Only real images: 160 tiny PNGs with long names + two real DICOM slices.
    real = repo / "data" / "real"
    _tiny_pngs(real, N_BATCH_FILES)
    for name in REAL_SCANS:
        shutil.copy2(scans[name], real / name)
    n_real = N_BATCH_FILES + len(REAL_SCANS)
    run(git, "add", "data")
    done = commit("real scans")
    assert done.returncode == 0, done.stdout
    out = _sections(done.stdout)
    per_file = [int(n) for n in _CHECKED.findall(out["synthmark-unacknowledged"])]
    assert len(per_file) >= 2, f"not batched: {per_file}"  # several pre-commit batches
    assert sum(per_file) == n_real  # ...which together saw every staged image once
    dataset = [int(n) for n in _CHECKED.findall(out["synthmark-validate-dataset"])]
    assert dataset == [n_real]  # require_serial + pass_filenames: false: one run, all files
    # No stamped image staged: the narrowed verify hook has nothing to check.
    assert re.search(r"^synthmark verify .*\(no files to check\)Skipped$", done.stdout, re.M)

    # 2. A watermarked synthetic CT stripped of its labels: refused with SM501.
    stripped = scans["unacknowledged"]
    shutil.copy2(stripped, real / stripped.name)
    run(git, "add", "data")
    done = commit("one more real CT")
    assert done.returncode != 0, done.stdout
    out = _sections(done.stdout)
    assert "SM501" in out["synthmark-unacknowledged"]
    assert "CT-from-another-site.dcm" in out["synthmark-unacknowledged"]
    assert "SM501" in out["synthmark-validate-dataset"]
    assert run(git, "rev-list", "--count", "HEAD").stdout.strip() == "2"  # not committed
    run(git, "rm", "-q", "--cached", f"data/real/{stripped.name}")
    (real / stripped.name).unlink()

    # 3. A properly stamped synthetic image: accepted, and verified.
    synthetic = repo / "data" / "synthetic"
    synthetic.mkdir()
    shutil.copy2(scans["stamped"], synthetic / scans["stamped"].name)
    run(git, "add", "data")
    done = commit("synthetic scans")
    assert done.returncode == 0, done.stdout
    out = _sections(done.stdout)
    assert "FAIL" not in out["synthmark-verify"]
    assert out["synthmark-verify"].count("OK ") == 1
    assert "1 synthetic acknowledged, 1 watermarked" in out["synthmark-unacknowledged"]
    assert "SM501" not in done.stdout
    assert run(git, "status", "--porcelain").stdout == ""
