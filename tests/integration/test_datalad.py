"""The DataLad recipe (validators/datalad/) in a real DataLad dataset and a plain git repo.

``datalad create -c synthmark`` runs the ``cfg_synthmark`` procedure, which installs the
synthmark pre-commit hook next to git-annex's own; ``datalad save`` commits through
``git commit``, so the hook runs: real and stamped synthetic scans are saved, a synthetic
scan with its labels stripped is refused (SM501) and nothing is committed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.integration.hook_support import SEARCH_PATH, isolated_env, make_hook_scans, run_tool

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "validators" / "datalad"
HOOK = RECIPE / "synthmark_pre_commit.py"
SYNTHMARK = Path(sys.executable).parent / "synthmark"


def _datalad() -> str | None:
    return shutil.which("datalad", path=SEARCH_PATH)


def _env(tmp: Path) -> dict[str, str]:
    return isolated_env(tmp, "DATALAD_")


_run = run_tool


def _head(repo: Path, env: dict[str, str]) -> str:
    return _run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip()


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real CT, a stamped (watermarked) synthetic CT, and that one with labels stripped."""
    return make_hook_scans(tmp_path_factory.mktemp("datalad-scans"))


@pytest.mark.slow  # real tools, several processes: 5-30 s on a loaded 2-core host
def test_datalad_save_refuses_unacknowledged_synthetic(
    tmp_path: Path, scans: dict[str, Path]
) -> None:
    datalad = _datalad()
    if datalad is None:
        pytest.skip("datalad is not installed (pip install datalad)")
    if shutil.which("git-annex") is None:
        pytest.skip("git-annex is not installed (apt-get install git-annex)")
    env = _env(tmp_path)
    procedures = f"datalad.locations.extra-procedures={RECIPE}"
    _run([datalad, "-c", procedures, "create", "-c", "synthmark", "ds"], tmp_path, env)
    ds = tmp_path / "ds"
    hooks = ds / ".git" / "hooks"
    # git-annex's own hook is kept and still runs, before synthmark's.
    assert "git annex pre-commit" in (hooks / "pre-commit.before-synthmark").read_text()
    assert _run(["git", "config", "synthmark.command"], ds, env).stdout.strip() == str(SYNTHMARK)
    # Record every synthmark call the hook makes (so a pass is known to be a check).
    calls = tmp_path / "calls.txt"
    spy = tmp_path / "synthmark-spy"
    spy.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexec "{SYNTHMARK}" "$@"\n')
    spy.chmod(0o755)
    _run(["git", "config", "synthmark.command", str(spy)], ds, env)
    # A small commit: one worker process; a pool costs more than it saves here.
    _run(["git", "config", "synthmark.args", "--jobs 1"], ds, env)

    shutil.copy(scans["real"], ds / "real.dcm")
    shutil.copy(scans["stamped"], ds / "synthetic.dcm")
    _run([datalad, "save", "-m", "real and acknowledged synthetic scans"], ds, env)
    checked = calls.read_text()
    assert "real.dcm" in checked and "synthetic.dcm" in checked, checked
    assert (ds / "synthetic.dcm").is_symlink()  # annexed: the hook followed the link
    saved = _head(ds, env)

    shutil.copy(scans["unlabelled"], ds / "from-another-site.dcm")
    refused = _run([datalad, "save", "-m", "passed off as real"], ds, env, check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "SM501" in output and "from-another-site.dcm" in output, output
    assert "commit refused" in output
    assert _head(ds, env) == saved  # nothing committed
    tree = _run(["git", "ls-tree", "--name-only", "HEAD"], ds, env).stdout.split()
    assert "from-another-site.dcm" not in tree


@pytest.mark.slow  # real tools, several processes: 5-30 s on a loaded 2-core host
def test_hook_checks_the_staged_version(tmp_path: Path, scans: dict[str, Path]) -> None:
    """Plain git: a staged synthetic image hidden behind an unstaged real working copy
    is still refused (the hook checks what is committed, not the working copy)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = _env(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    _run(["git", "init", "-q"], repo, env)
    _run([sys.executable, str(RECIPE / "cfg_synthmark.py"), str(repo), str(SYNTHMARK)], repo, env)
    _run(["git", "config", "synthmark.args", "--jobs 1"], repo, env)
    shutil.copy(scans["unlabelled"], repo / "scan.dcm")
    _run(["git", "add", "scan.dcm"], repo, env)
    shutil.copy(scans["real"], repo / "scan.dcm")  # working copy differs from the index
    refused = _run(["git", "commit", "-qm", "sneaky"], repo, env, check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "SM501" in output and "scan.dcm" in output, output
    assert _run(["git", "rev-parse", "-q", "--verify", "HEAD"], repo, env, check=False).stdout == ""
