"""What the DataLad and DVC hook tests share: running a tool, and the three scans."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The venv's tools first: the hooks find synthmark (and datalad, dvc) on PATH.
SEARCH_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def isolated_env(tmp: Path, tool_prefix: str, **extra: str) -> dict[str, str]:
    """An environment with its own HOME, caches and git identity, and no inherited
    ``GIT_*`` or ``<tool_prefix>*`` variables, so the user's configuration cannot leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", tool_prefix))}
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(tmp / "xdg-cache"),
        SYNTHMARK_CACHE_DIR=str(tmp / "synthmark-cache"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.org",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.org",
        PATH=SEARCH_PATH,
        NO_COLOR="1",
        **extra,
    )
    return env


def run_tool(
    argv: list[str], cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a real tool; fail the test with its output when it fails and ``check``."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check and done.returncode != 0:
        pytest.fail(f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def make_hook_scans(folder: Path) -> dict[str, Path]:
    """A real CT, a stamped (watermarked) synthetic CT, and that one with labels stripped."""
    from pydicom.data import get_testdata_file

    import synthmark
    from synthmark.demo import strip_dicom_labels
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    def shipped(name: str) -> Path:
        found = get_testdata_file(name, download=False)
        assert found is not None, name
        return Path(str(found))

    made = {"real": shipped("CT_small.dcm")}
    template = shipped("J2K_pixelrep_mismatch.dcm")  # 512 x 512: large enough to mark
    record = synthmark.load_record(REPO / "spec" / "examples" / "valid-diffusion-ct-chest.json")
    made["stamped"] = folder / "synthetic.dcm"
    synthmark.stamp(template, record, dest=made["stamped"], watermark=PUBLIC_DETECTION_KEY)
    made["unlabelled"] = folder / "unlabelled.dcm"
    strip_dicom_labels(made["stamped"], made["unlabelled"])
    return made
