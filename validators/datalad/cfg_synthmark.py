"""DataLad procedure: install the synthmark pre-commit hook in a dataset.

    datalad -c datalad.locations.extra-procedures=/path/to/validators/datalad \\
        create -c synthmark my-dataset
    datalad -c datalad.locations.extra-procedures=... run-procedure cfg_synthmark

DataLad calls it as ``python cfg_synthmark.py DATASET [SYNTHMARK]``. It copies
``synthmark_pre_commit.py`` into the dataset's git hooks folder as ``pre-commit.synthmark``
(with this Python in its ``#!`` line: the hook needs only the standard library) and makes
``pre-commit`` a small wrapper that runs the hook that was there before, then synthmark's.
git-annex (so every DataLad dataset) installs its own ``pre-commit`` (``git annex
pre-commit .``, which keeps annexed links right); it is kept, renamed
``pre-commit.before-synthmark``, and runs first. The synthmark executable is recorded in
the dataset's ``.git/config`` (``synthmark.command``): the one given, else the one on
``PATH`` now, so commits do not depend on the committer's ``PATH``.

Running it again only refreshes the hook. Git hooks are not versioned: every clone of the
dataset needs the procedure run again (``datalad run-procedure cfg_synthmark``).
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

HOOK_SOURCE = Path(__file__).resolve().with_name("synthmark_pre_commit.py")
MARKER = "# synthmark wrapper (cfg_synthmark)"
WRAPPER = f"""#!/bin/sh
{MARKER}: the previous pre-commit hook, then synthmark's.
hooks=$(dirname "$0")
if [ -x "$hooks/pre-commit.before-synthmark" ]; then
  "$hooks/pre-commit.before-synthmark" "$@" || exit $?
fi
exec "$hooks/pre-commit.synthmark" "$@"
"""


def _git(dataset: Path, *args: str) -> str:
    argv = ["git", "-C", str(dataset), *args]  # git from PATH, as DataLad runs it
    done = subprocess.run(argv, capture_output=True, text=True, check=True)  # noqa: S603
    return done.stdout.strip()


def install(dataset: Path, synthmark: str | None) -> Path:
    """Install the hook in ``dataset``; return its path."""
    hooks = Path(_git(dataset, "rev-parse", "--git-path", "hooks"))
    if not hooks.is_absolute():
        hooks = dataset / hooks
    hooks.mkdir(parents=True, exist_ok=True)
    entry, ours, before = (
        hooks / name
        for name in ("pre-commit", "pre-commit.synthmark", "pre-commit.before-synthmark")
    )
    body = HOOK_SOURCE.read_text(encoding="utf-8").split("\n", 1)[1]
    _write_executable(ours, f"#!{sys.executable}\n{body}")
    if entry.exists() and MARKER not in entry.read_text(encoding="utf-8", errors="replace"):
        if before.exists():
            raise SystemExit(f"cfg_synthmark: both {entry} and {before} exist; merge them first")
        entry.rename(before)
    _write_executable(entry, WRAPPER)
    command = synthmark or shutil.which("synthmark")
    if command is not None:
        _git(dataset, "config", "--local", "synthmark.command", str(Path(command).absolute()))
    return entry


def _write_executable(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: cfg_synthmark.py DATASET [SYNTHMARK]", file=sys.stderr)
        return 2
    hook = install(Path(argv[0]).resolve(), argv[1] if len(argv) > 1 else None)
    print(f"cfg_synthmark: installed {hook}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
