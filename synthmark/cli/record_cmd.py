"""``synthmark record check``."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def record() -> None:
    """Work with synthmark record files (JSON)."""


@record.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--manifest", is_flag=True, help="Check dataset manifests instead of records.")
def check(files: tuple[Path, ...], manifest: bool) -> None:
    """Validate record files; exit 0 when all are valid, 1 when any is invalid.

    A file that cannot be read is a usage error (exit 2) when it is the only file.
    """
    from synthmark.cli import EXIT_FINDINGS, exit_with
    from synthmark.errors import RecordInvalidError, SynthmarkError
    from synthmark.record.parsing import parse_manifest, parse_record, read_json_file

    invalid = 0
    for path in files:
        try:
            data = read_json_file(path)
            if manifest:
                parsed_manifest = parse_manifest(data, path=path)
                summary = (
                    f"{parsed_manifest.synthetic_count}/{parsed_manifest.total_count} synthetic"
                )
            else:
                parsed = parse_record(data, path=path)
                kind = "synthetic" if parsed.synthetic else "real"
                summary = f"{kind}, {parsed.digital_source_type.term}"
        except RecordInvalidError as exc:
            invalid += 1
            click.echo(f"{path}: INVALID ({len(exc.problems)} problem(s))")
            for location, message in exc.problems:
                click.echo(f"  {location}: {message}")
            continue
        except SynthmarkError as exc:
            if len(files) == 1:
                raise
            invalid += 1
            click.echo(f"{path}: ERROR {exc.one_line()}")
            continue
        click.echo(f"{path}: OK ({summary})")
    if invalid:
        exit_with(EXIT_FINDINGS)
