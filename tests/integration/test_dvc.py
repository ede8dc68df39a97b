"""The DVC recipe (validators/dvc/synthmark_dvc_hook.py) in a real DVC project.

Git only sees ``.dvc`` pointers; the hook resolves them to the content in the DVC cache
and validates that. A pre-commit hook already installed (``dvc install``'s) is kept and
runs first. A
directory output with a real and a stamped synthetic scan commits; a directory output
that also holds a synthetic scan with its labels stripped is refused (SM501).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.integration.hook_support import SEARCH_PATH, isolated_env, make_hook_scans, run_tool

REPO = Path(__file__).resolve().parents[2]
HOOK = REPO / "validators" / "dvc" / "synthmark_dvc_hook.py"
BIN = Path(sys.executable).parent
SYNTHMARK = BIN / "synthmark"


def _env(tmp: Path) -> dict[str, str]:
    return isolated_env(
        tmp,
        "DVC_",
        DVC_NO_ANALYTICS="1",  # no usage report over the network
        DVC_SITE_CACHE_DIR=str(tmp / "dvc-site-cache"),
    )


_run = run_tool


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real CT, a stamped (watermarked) synthetic CT, and that one with labels stripped."""
    return make_hook_scans(tmp_path_factory.mktemp("dvc-scans"))


@pytest.mark.slow  # real tools, several processes: 5-30 s on a loaded 2-core host
def test_dvc_commit_refuses_unacknowledged_synthetic(
    tmp_path: Path, scans: dict[str, Path]
) -> None:
    dvc = shutil.which("dvc", path=SEARCH_PATH)
    if dvc is None:
        pytest.skip("dvc is not installed (pip install dvc)")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = _env(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    _run(["git", "init", "-q"], project, env)
    _run([dvc, "init", "-q"], project, env)
    # An existing pre-commit hook is kept and runs first. (`dvc install` writes one that
    # runs `dvc git-hook pre-commit`; a stand-in saves two `dvc status` runs of seconds.)
    hooks = project / ".git" / "hooks"
    ran = tmp_path / "previous-hook-ran"
    (hooks / "pre-commit").write_text(f'#!/bin/sh\necho ran >> "{ran}"\n')
    (hooks / "pre-commit").chmod(0o755)
    _run([sys.executable, str(HOOK), "--install"], project, env)
    assert (hooks / "pre-commit.before-synthmark-dvc").is_file()
    _run(["git", "config", "synthmark.command", str(SYNTHMARK)], project, env)
    # A small commit: one worker process; a pool costs more than it saves here.
    _run(["git", "config", "synthmark.args", "--jobs 1"], project, env)

    scans_dir = project / "data" / "scans"
    scans_dir.mkdir(parents=True)
    shutil.copy(scans["real"], scans_dir / "IM0001")  # extension-less: found by content
    shutil.copy(scans["stamped"], scans_dir / "IM0002")
    _run([dvc, "add", "-q", "data/scans"], project, env)
    _run(["git", "add", "-A"], project, env)
    done = _run(["git", "commit", "-m", "scans"], project, env)
    assert "2 files checked" in done.stdout + done.stderr, done.stdout + done.stderr
    assert ran.read_text() == "ran\n"
    saved = _run(["git", "rev-parse", "HEAD"], project, env).stdout

    more = project / "data" / "more"
    more.mkdir()
    shutil.copy(scans["real"], more / "IM0001")
    shutil.copy(scans["unlabelled"], more / "IM0002")
    _run([dvc, "add", "-q", "data/more"], project, env)
    # The workspace copy no longer matters: the hook checks the cached content by hash.
    shutil.copy(scans["real"], more / "IM0002")
    _run(["git", "add", "-A"], project, env)
    refused = _run(["git", "commit", "-m", "passed off as real"], project, env, check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "SM501" in output and "data/more/IM0002" in output, output
    assert "commit refused" in output
    assert _run(["git", "rev-parse", "HEAD"], project, env).stdout == saved
