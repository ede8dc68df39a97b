#!/usr/bin/env python3
"""Git pre-commit hook for DVC projects: refuse to commit a ``.dvc`` pointer (or a
``dvc.lock``) whose data holds an unacknowledged synthetic image.

DVC keeps data out of git: ``dvc add data/scans`` moves the files into the DVC cache,
git-ignores them and leaves a small ``data/scans.dvc`` for git. A hook that looks at the
staged files therefore never sees an image, and DVC itself has no hook on ``dvc add``.
This hook resolves each staged ``.dvc`` file and ``dvc.lock`` to the outputs it records,
finds their content **in the DVC cache by the recorded hash** (exactly what the pointer
commits, whatever the workspace holds; directory outputs through their ``.dir`` listing),
and runs

    synthmark validate --quiet --select SM501 --select SM9 --ignore SM903 [synthmark.args]

on links to it, named like the workspace files (so reports show ``data/scans/IM0001``).
Every file of an output is checked (synthmark recognises DICOM by content, so
extension-less DICOM series are covered; non-images are skipped silently, SM903). Content
missing from the cache is taken from the workspace when present; otherwise the commit is
refused (``dvc pull`` it first).

Install (keeps a hook installed by ``dvc install``, which then runs first)::

    python validators/dvc/synthmark_dvc_hook.py --install [REPO]

or, with the pre-commit framework, a ``repo: local`` hook with
``entry: python validators/dvc/synthmark_dvc_hook.py`` and ``files: '(\\.dvc|dvc\\.lock)$'``.

Settings (``git config``, or the environment): ``synthmark.command`` / ``$SYNTHMARK`` (the
synthmark executable, default ``synthmark`` on PATH), ``synthmark.args`` (extra options,
shell-quoted, e.g. ``--policy research``), ``synthmark.dvc`` / ``$DVC`` (the dvc
executable; only asked for the cache folder when neither ``.dvc/config[.local]`` sets
``cache.dir`` nor ``.dvc/cache`` exists, because each ``dvc`` start costs seconds).
Needs PyYAML or ruamel.yaml (DVC's own environment has ruamel.yaml).

Exit status: 0 lets the commit through; anything else refuses it (1: findings, 2: usage,
configuration or missing content, 70: synthmark failed; all fail closed).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RULES = ["--quiet", "--select", "SM501", "--select", "SM9", "--ignore", "SM903"]
POINTERS = re.compile(r"(^|/)(dvc\.lock|[^/]*\.dvc)$")
MARKER = "# synthmark wrapper (synthmark_dvc_hook)"


class HookError(Exception):
    """The hook cannot decide; the commit is refused with this message."""


@dataclass(frozen=True)
class Entry:
    """One data file recorded by a pointer: where it lives in the workspace and its hash."""

    path: str  # repository-relative workspace path
    md5: str
    layout: str  # "3": cache/files/md5/ab/cdef...; "2": cache/ab/cdef...


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


def load_yaml(text: str) -> Any:
    try:
        import yaml

        return yaml.safe_load(text)
    except ImportError:
        pass
    try:
        from ruamel.yaml import YAML
    except ImportError:
        raise HookError("needs PyYAML or ruamel.yaml in the hook's Python") from None
    return YAML(typ="safe").load(text)


def staged_pointers() -> list[str]:
    done = git("diff", "--cached", "--name-only", "--diff-filter=ACMRT", "-z")
    names = [n.decode("utf-8", "surrogateescape") for n in done.stdout.split(b"\0") if n]
    return [name for name in names if POINTERS.search(name)]


def staged_text(path: str) -> str:
    """The staged version of a pointer file (what is committed, not the working copy)."""
    return git("show", f":{path}").stdout.decode("utf-8")


def _outs(pointer: str, data: Any) -> Iterator[Any]:
    if not isinstance(data, dict):
        raise HookError(f"{pointer}: not a DVC file")
    if pointer.endswith("dvc.lock"):
        for stage in (data.get("stages") or {}).values():
            yield from stage.get("outs") or []
    else:
        yield from data.get("outs") or []


def _configured_cache() -> Path | None:
    """``cache.dir`` from the project's own DVC config files (``config.local`` wins);
    relative paths are relative to ``.dvc/``, as DVC reads them."""
    found = None
    for name in ("config", "config.local"):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(Path(".dvc") / name, encoding="utf-8")
        except configparser.Error:
            continue
        value = parser.get("cache", "dir", fallback=None)
        if value:
            found = Path(".dvc") / value.strip().strip("'\"")
    return found


def cache_dir() -> Path:
    configured = _configured_cache()
    if configured is not None:
        return configured
    default = Path(".dvc") / "cache"
    if default.is_dir():
        return default
    # Set elsewhere (user or system DVC config): ask DVC. Each `dvc` start costs seconds,
    # so only here.
    dvc = os.environ.get("DVC") or git_config("synthmark.dvc") or shutil.which("dvc")
    if dvc is not None:
        done = subprocess.run([dvc, "cache", "dir"], capture_output=True, text=True)  # noqa: S603
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    return default


def object_path(cache: Path, md5: str, layout: str) -> Path:
    if layout == "3":
        return cache / "files" / "md5" / md5[:2] / md5[2:]
    return cache / md5[:2] / md5[2:]


def entries(pointer: str, cache: Path) -> Iterator[Entry]:
    """Every data file ``pointer`` records (directory outputs expanded)."""
    base = Path(pointer).parent
    for out in _outs(pointer, load_yaml(staged_text(pointer))):
        if not isinstance(out, dict) or "path" not in out:
            raise HookError(f"{pointer}: an output without a path")
        # DVC 3 writes `hash: md5`; DVC 2 files lack it and use the older cache layout.
        layout = "3" if out.get("hash") == "md5" else "2"
        where = (base / str(out["path"])).as_posix()
        md5 = out.get("md5")
        if not isinstance(md5, str):
            raise HookError(f"{pointer}: {where} has no md5 (only md5 outputs are supported)")
        if not md5.endswith(".dir"):
            yield Entry(where, md5, layout)
            continue
        listing = object_path(cache, md5, layout)
        try:
            files = json.loads(listing.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise HookError(
                f"{where}: the directory listing {md5} is not in the DVC cache ({cache}); "
                "`dvc pull` it first"
            ) from None
        for item in files:
            yield Entry(f"{where}/{item['relpath']}", str(item["md5"]), layout)


def link_tree(found: list[Entry], cache: Path, folder: Path) -> list[str]:
    """Links under ``folder`` named like the workspace files, to the cached content."""
    missing = []
    for entry in found:
        source = object_path(cache, entry.md5, entry.layout)
        if not source.is_file():
            source = Path(entry.path)  # not cached (yet): the workspace copy, if any
            if not source.is_file():
                missing.append(entry.path)
                continue
        dest = folder / entry.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(source.resolve())
    return missing


def run(pointers: list[str]) -> int:
    pointers = pointers or staged_pointers()
    if not pointers:
        return 0
    value = os.environ.get("SYNTHMARK") or git_config("synthmark.command")
    command = value or shutil.which("synthmark")
    if command is None:
        raise HookError("synthmark not found: `git config synthmark.command /path/to/synthmark`")
    extra = shlex.split(git_config("synthmark.args") or "")
    cache = cache_dir()
    found = [entry for pointer in pointers for entry in entries(pointer, cache)]
    if not found:
        return 0
    # Inside the git folder: synthmark looks for the project's synthmark.toml from the
    # checked folder upwards, which then finds the repository's, and nothing outside it.
    git_dir = git("rev-parse", "--absolute-git-dir").stdout.decode().strip()
    with tempfile.TemporaryDirectory(prefix="synthmark-dvc-", dir=git_dir) as tmp:
        missing = link_tree(found, cache, Path(tmp))
        if missing:
            raise HookError(
                f"content of {len(missing)} file(s) is neither in the DVC cache nor in the "
                f"workspace (first: {missing[0]}); `dvc pull` it first"
            )
        # One run over the links' folder as the dataset root: reports show the workspace
        # paths, and no command line grows with the number of files.
        argv = [command, "validate", *RULES, *extra, "--", tmp]
        code = subprocess.run(argv).returncode  # noqa: S603 - argv list, no shell
    if code == 1:
        print(
            "synthmark dvc hook: commit refused: DVC-tracked data holds a synthetic image "
            "that is not acknowledged as such (see above; `synthmark rules SM501`).",
            file=sys.stderr,
        )
    elif code:
        print(
            f"synthmark dvc hook: synthmark exited {code} (not a verdict: a usage or "
            "configuration error, or a bug); commit refused",
            file=sys.stderr,
        )
    return code


def install(repo: Path) -> Path:
    """Install as the repository's pre-commit hook, after any hook already there."""
    found = git("-C", str(repo), "rev-parse", "--git-path", "hooks").stdout.decode().strip()
    hooks = Path(found) if Path(found).is_absolute() else repo / found
    hooks.mkdir(parents=True, exist_ok=True)
    names = ("pre-commit", "pre-commit.synthmark-dvc", "pre-commit.before-synthmark-dvc")
    entry, ours, before = (hooks / name for name in names)
    body = Path(__file__).read_text(encoding="utf-8").split("\n", 1)[1]
    _write_executable(ours, f"#!{sys.executable}\n{body}")
    if entry.exists() and MARKER not in entry.read_text(encoding="utf-8", errors="replace"):
        if before.exists():
            raise HookError(f"both {entry} and {before} exist; merge them first")
        entry.rename(before)  # e.g. `dvc install`'s `exec dvc git-hook pre-commit`
    wrapper = f"""#!/bin/sh
{MARKER}: the previous pre-commit hook, then synthmark's.
hooks=$(dirname "$0")
if [ -x "$hooks/pre-commit.before-synthmark-dvc" ]; then
  "$hooks/pre-commit.before-synthmark-dvc" "$@" || exit $?
fi
exec "$hooks/pre-commit.synthmark-dvc" "$@"
"""
    _write_executable(entry, wrapper)
    return entry


def _write_executable(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["--install"]:
            repo = Path(argv[1] if len(argv) > 1 else ".").resolve()
            print(f"synthmark dvc hook: installed {install(repo)}")
            return 0
        os.chdir(git("rev-parse", "--show-toplevel").stdout.decode().strip())
        return run(argv)
    except (HookError, ValueError, OSError) as exc:  # ValueError: shlex, YAML, JSON
        print(f"synthmark dvc hook: {exc}; commit refused", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, or a pointer file of an unexpected shape
        print(
            f"synthmark dvc hook: internal error ({type(exc).__name__}: {exc}); commit refused",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
