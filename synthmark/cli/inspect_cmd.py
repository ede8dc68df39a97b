"""``synthmark inspect``."""

from __future__ import annotations

from pathlib import Path

import click

from synthmark.cli._options import limited


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@limited
def inspect(path: Path) -> None:
    """Print the record FILE carries, as JSON (exit 1 when it has none)."""
    from synthmark.api import read_record
    from synthmark.record.parsing import pretty_json

    found = read_record(path)
    click.echo(f"# record found: {found.source}", err=True)
    if found.sidecar_disagrees:
        click.echo("# warning: the sidecar holds a different record", err=True)
    click.echo(pretty_json(found.record), nl=False)
