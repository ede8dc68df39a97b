"""``synthmark validate``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from synthmark.cli._options import keyring_option, limit_options, trust_option

if TYPE_CHECKING:
    from synthmark.validation.dask import DaskExecutor


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "junit", "html"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to FILE instead of standard output.",
)
@click.option("--per-file", is_flag=True, help="Text: one line per finding instead of grouped.")
@click.option("--policy", help="research | publish | archive-ingest, or a policy .toml file.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Configuration file (default: synthmark.toml or [tool.synthmark] found "
    "from the first path upwards).",
)
@click.option("--select", multiple=True, help="Rule codes or prefixes to run (repeatable).")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes not to run (repeatable).")
@click.option("--strict", is_flag=True, default=None, help="Warnings are errors.")
@click.option(
    "--header-only",
    is_flag=True,
    default=None,
    help="Do not decode pixels or detect watermarks (faster; the report lists the rules not run).",
)
@keyring_option
@trust_option
@click.option("--fpr", type=float, help="Watermark false-positive rate (default 1e-6).")
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: all cores)."
)
@click.option(
    "--cache/--no-cache",
    default=True,
    show_default=True,
    help="Reuse facts of unchanged files from the incremental cache.",
)
@click.option(
    "--changed-since",
    metavar="GIT_REF",
    help="Only check files changed since GIT_REF (pre-commit, CI).",
)
@click.option(
    "--redact-paths",
    is_flag=True,
    help="Replace file names by stable hashes in every output (names can carry "
    "patient identifiers).",
)
@click.option(
    "--real-thumbnails",
    is_flag=True,
    help="HTML: also show thumbnails of real images (patient data; off by default).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where files are inspected: the local process pool, or a Dask cluster "
    "(needs synthmark[dask] here and on the workers; see docs/scale-out.md).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask: scheduler address (tcp://host:8786), or local-cluster:N to start N "
    "local workers on loopback. Required with --executor dask.",
)
@click.option(
    "--shard-size",
    type=click.IntRange(min=1),
    help="Dask: files per shard, the unit of work and of resumption (default 1000).",
)
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Dask: folder for the shards' partial results, shared by the client and every "
    "worker (default: runs/ under the cache folder). A re-run reuses complete partials; "
    "with --no-cache every shard is recomputed.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@limit_options
def validate(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    per_file: bool,
    policy: str | None,
    config_file: Path | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    strict: bool | None,
    header_only: bool | None,
    keyring: Path | None,
    trust: Path | None,
    fpr: float | None,
    jobs: int | None,
    cache: bool,
    changed_since: str | None,
    redact_paths: bool,
    real_thumbnails: bool,
    executor: str,
    scheduler: str | None,
    shard_size: int | None,
    run_dir: Path | None,
    quiet: bool,
    max_pixels: int | None,
    max_decompressed: int | None,
    max_frames: int | None,
) -> None:
    """Validate files and folders: reject unacknowledged synthetic images.

    Exit 0 when no error is found (warnings allowed), 1 when errors are found (an
    unreadable file, or one over a resource limit, is a finding), 2 on a usage or
    configuration error, 70 when synthmark itself failed on a file (a bug, never a verdict).
    """
    from dataclasses import replace

    from synthmark.carriers.atomic import atomic_write_bytes
    from synthmark.carriers.limits import resolve as resolve_limits
    from synthmark.cli import EXIT_FINDINGS, EXIT_INTERNAL, exit_with
    from synthmark.errors import ConfigError
    from synthmark.validation.config import apply_table, load_config
    from synthmark.validation.engine import validate as run_validate
    from synthmark.validation.reporters import RenderOptions, render

    dask = _dask_executor(executor, scheduler, shard_size, run_dir, resume=cache)
    config = load_config(list(paths), policy=policy, config_file=config_file)
    table: dict[str, object] = {}
    if select:
        table["select"] = list(select)
    if ignore:
        table["ignore"] = list(ignore)
    if table:
        config = apply_table(config, table, "command line", Path.cwd())
    config = replace(
        config,
        redact_paths=redact_paths,
        jobs=jobs,
        real_thumbnails=real_thumbnails,
        thumbnails=fmt == "html",
    )
    if strict is not None:
        config = replace(config, strict=strict)
    if header_only is not None:
        config = replace(config, header_only=header_only)
    if keyring is not None:
        config = replace(config, keyring=keyring)
    if trust is not None:
        config = replace(config, trust=trust.resolve())
    if fpr is not None:
        if not 0 < fpr < 1:
            raise ConfigError("--fpr must be between 0 and 1")
        config = replace(config, fpr=fpr)
    if cache:
        config = replace(config, cache_dir=_cache_dir())
    if changed_since is not None:
        config = replace(config, changed_only=_changed_files(paths, changed_since))
    # Options, then the environment, then the configuration file (spec/parts/limits.md).
    given = {
        "max_pixels": max_pixels,
        "max_decompressed": max_decompressed,
        "max_frames": max_frames,
    }
    config = replace(config, limits=resolve_limits(config=config.limit_values(), cli=given))

    show_progress = not quiet and sys.stderr.isatty() and not os.environ.get("CI")
    with _progress(show_progress) as tick:
        if dask is None:
            report = run_validate(paths, config, progress=tick)
        else:
            from synthmark.validation.dask import one_line_dask_logs, validate_distributed

            with one_line_dask_logs():
                report = validate_distributed(paths, dask, config, progress=tick)
    if dask is not None and not quiet:
        stats = dask.stats
        click.echo(
            f"dask: {stats.shards} shard(s), {stats.reused} reused, {stats.computed} "
            f"computed; partials in {stats.run_folder}",
            err=True,
        )
    data = render(report, fmt, RenderOptions(per_file=per_file, color=_color(output)))
    if output is not None:
        atomic_write_bytes(output, data)
        if fmt != "text" and not quiet:
            click.echo(f"report written to {output}", err=True)
    else:
        click.echo(data.decode("utf-8"), nl=False)
    if report.internal_errors:
        click.echo(
            f"synthmark: internal error on {report.internal_errors} file(s): this is a bug, "
            "not a verdict (see SM901 findings mentioning SMX070)",
            err=True,
        )
        exit_with(EXIT_INTERNAL)
    if report.failed:
        exit_with(EXIT_FINDINGS)


def _dask_executor(
    executor: str,
    scheduler: str | None,
    shard_size: int | None,
    run_dir: Path | None,
    *,
    resume: bool,
) -> DaskExecutor | None:
    """The Dask executor the options ask for, or ``None`` for the local pool."""
    from synthmark.errors import UsageError

    if executor != "dask":
        given = [
            name
            for name, value in (
                ("--scheduler", scheduler),
                ("--shard-size", shard_size),
                ("--run-dir", run_dir),
            )
            if value is not None
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: only with --executor dask")
        return None
    if scheduler is None:
        raise UsageError(
            "--executor dask needs --scheduler ADDRESS (tcp://host:8786 or local-cluster:N)"
        )
    # Importing synthmark.validation.dask does not import dask: that waits for the run, so a
    # missing extra is reported as an OptionalDependencyError, not an ImportError here.
    from synthmark.validation.dask import DEFAULT_SHARD_SIZE, DaskExecutor

    return DaskExecutor(
        scheduler=scheduler,
        run_dir=run_dir if run_dir is not None else _cache_dir() / "runs",
        shard_size=shard_size or DEFAULT_SHARD_SIZE,
        resume=resume,
    )


def _cache_dir() -> Path:
    base = os.environ.get("SYNTHMARK_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    return Path(base) / "synthmark" if base else Path.home() / ".cache" / "synthmark"


def _color(output: Path | None) -> bool:
    return output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _changed_files(paths: tuple[Path, ...], ref: str) -> frozenset[str]:
    from synthmark.errors import ConfigError

    changed: set[str] = set()
    for root in paths:
        folder = root if root.is_dir() else root.parent
        commands = (
            ["git", "diff", "--name-only", "--relative", ref, "--", "."],
            ["git", "ls-files", "--others", "--exclude-standard", "--", "."],
        )
        for command in commands:
            try:
                result = subprocess.run(  # noqa: S603 - fixed git argv, no shell
                    command, cwd=folder, capture_output=True, text=True, check=True
                )
            except (OSError, subprocess.CalledProcessError) as exc:
                raise ConfigError(f"--changed-since {ref}: git failed: {exc}") from exc
            changed.update(line for line in result.stdout.splitlines() if line)
    return frozenset(changed)


class _progress:
    """A minimal stderr progress counter, shown only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.count = 0

    def __enter__(self) -> _progress:
        return self

    def __call__(self, done: int) -> None:
        self.count = done
        if self.enabled and (done < 100 or done % 50 == 0):
            click.echo(f"\rchecked {done} file(s)", err=True, nl=False)

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.count:
            click.echo("\r" + " " * 40 + "\r", err=True, nl=False)
