#!/usr/bin/env python3
"""Git pre-commit hook: refuse a commit that adds an unacknowledged synthetic image.

For DataLad datasets (``datalad save`` commits through ``git commit``, which runs this
hook) and plain git repositories. Install it as ``.git/hooks/pre-commit`` of the dataset
(``cfg_synthmark.py`` does that, see README.md). It runs

    synthmark validate --quiet --select SM501 --select SM9 [synthmark.args] -- FILES

on the staged images, like the published ``synthmark-unacknowledged`` pre-commit hook:
SM501 is a watermarked (synthetic) image that does not say it is synthetic; SM9 makes an
unreadable file, or annexed content that is not present, a failure instead of a silent
pass. Real images and stamped synthetic images pass.

What is validated is what is committed: git-annex/DataLad files are symlinks into the
annex (content-addressed, so the link's target is the committed content), and a regular
file whose working copy differs from the staged one is checked as staged (exported from
the index). Only the standard library is needed; synthmark is run as a command.

Settings (``git config`` in the dataset, or the environment):

* ``synthmark.command`` / ``$SYNTHMARK``: the synthmark executable (default: ``synthmark``
  on ``PATH``).
* ``synthmark.files``: a Python regex on the repository-relative path selecting the files
  to check (default: image extensions; extension-less DICOM needs e.g. ``^dicom/``).
* ``synthmark.args``: extra options, shell-quoted (e.g. ``--policy research`` or
  ``--ignore SM902`` when committing annex pointers without content is normal).

Exit status: 0 lets the commit through; anything else refuses it (1: findings; 2: a usage
or configuration error; 70: synthmark failed, a bug; all fail closed).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_FILES = r"(?i)\.(dcm|dicom|nii|nii\.gz|png|jpe?g|tiff?)$"
RULES = ["--quiet", "--select", "SM501", "--select", "SM9"]
#: File names per synthmark run: keeps the command line well under ARG_MAX.
CHUNK = 500
ANNEX_POINTER = b"/annex/objects/"


class HookError(Exception):
    """The hook cannot run (no git, no synthmark); the commit is refused."""


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    try:
        # git from PATH, as git itself runs hooks; argv list, no shell.
        return subprocess.run(["git", *args], capture_output=True, check=check)  # noqa: S603, S607
    except FileNotFoundError:
        raise HookError("git is not on PATH") from None
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode(errors="replace").strip()
        raise HookError(f"git {' '.join(args)} failed: {message}") from None


def git_config(key: str) -> str | None:
    done = git("config", "--get", key, check=False)  # exit 1: not set
    if done.returncode != 0:
        return None
    return done.stdout.decode().strip() or None


def synthmark_command() -> list[str]:
    value = os.environ.get("SYNTHMARK") or git_config("synthmark.command")
    if value is None:
        value = shutil.which("synthmark")
    if value is None:
        raise HookError(
            "synthmark not found: put it on PATH, or run "
            "`git config synthmark.command /path/to/venv/bin/synthmark`"
        )
    return [value]


def staged_files(pattern: str) -> list[str]:
    """Added, copied, modified, renamed or type-changed paths in the index."""
    done = git("diff", "--cached", "--name-only", "--diff-filter=ACMRT", "-z")
    names = [n.decode("utf-8", "surrogateescape") for n in done.stdout.split(b"\0") if n]
    selector = re.compile(pattern)
    return [name for name in names if selector.search(name)]


def unstaged(paths: list[str]) -> set[str]:
    """Paths whose working copy differs from the index (checked as staged instead)."""
    found: set[str] = set()
    for start in range(0, len(paths), CHUNK):
        done = git("diff", "--name-only", "-z", "--", *paths[start : start + CHUNK])
        found.update(n.decode("utf-8", "surrogateescape") for n in done.stdout.split(b"\0") if n)
    return found


def staged_copy(path: str, folder: Path) -> Path:
    """The staged version of ``path``, materialised under ``folder`` (same relative path,
    so the report names the file the committer knows)."""
    entry = git("ls-files", "--stage", "-z", "--", path).stdout.split(b"\0")[0]
    mode, blob = entry.split(b" ")[:2]
    content = git("cat-file", "blob", blob.decode()).stdout
    dest = folder / path
    dest.parent.mkdir(parents=True, exist_ok=True)
    if mode == b"120000":  # a symlink (git-annex): point at the staged link's target
        target = (Path(path).parent / os.fsdecode(content)).resolve()
        dest.symlink_to(target)
    elif content.startswith(ANNEX_POINTER):
        # An unlocked annex file: the index holds a pointer, the content is the working
        # copy (git-annex's smudge filter); check that.
        return Path(path)
    else:
        dest.write_bytes(content)
    return dest


def check(argv: list[str]) -> int:
    top = git("rev-parse", "--show-toplevel").stdout.decode().strip()
    os.chdir(top)
    pattern = git_config("synthmark.files") or DEFAULT_FILES
    try:
        paths = argv or staged_files(pattern)
    except re.error as exc:
        raise HookError(f"synthmark.files is not a valid regex: {exc}") from None
    if not paths:
        return 0
    command = synthmark_command()
    extra = shlex.split(git_config("synthmark.args") or "")
    changed = unstaged(paths)
    worst = 0
    # Inside the git folder: synthmark looks for the project's synthmark.toml from each
    # file's folder upwards, which then finds the repository's and nothing outside it.
    git_dir = git("rev-parse", "--absolute-git-dir").stdout.decode().strip()
    with tempfile.TemporaryDirectory(prefix="synthmark-staged-", dir=git_dir) as tmp:
        targets = [str(staged_copy(p, Path(tmp))) if p in changed else p for p in paths]
        for start in range(0, len(targets), CHUNK):
            argv = [*command, "validate", *RULES, *extra, "--", *targets[start : start + CHUNK]]
            try:
                code = subprocess.run(argv).returncode  # noqa: S603 - argv list, no shell
            except OSError as exc:
                raise HookError(f"cannot run {command[0]}: {exc.strerror}") from None
            worst = worst or code
    if worst == 1:
        print(
            "synthmark pre-commit: commit refused: a synthetic image is not acknowledged as "
            "such (see above; `synthmark rules SM501`). Stamp it with `synthmark stamp`, "
            "or remove it from the commit.",
            file=sys.stderr,
        )
    elif worst:
        print(
            f"synthmark pre-commit: synthmark exited {worst} (not a verdict: a usage or "
            "configuration error, or a bug); commit refused",
            file=sys.stderr,
        )
    return worst


def main(argv: list[str]) -> int:
    try:
        return check(argv)
    except (HookError, ValueError, OSError) as exc:  # ValueError: shlex, odd git output
        print(f"synthmark pre-commit: {exc}; commit refused", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug in this hook: refuse, one line, no traceback
        print(
            f"synthmark pre-commit: internal error ({type(exc).__name__}: {exc}); commit refused",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
