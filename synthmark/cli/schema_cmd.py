"""``synthmark schema export|check``."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def schema() -> None:
    """Export or check the JSON Schemas generated from the models."""


@schema.command("export")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False), default="schema")
def export(folder: Path) -> None:
    """Write the JSON Schemas into FOLDER (default: ./schema)."""
    from synthmark.specgen.schema import export_schemas

    for path in export_schemas(folder):
        click.echo(f"wrote {path}")


@schema.command("check")
@click.argument(
    "folder", type=click.Path(path_type=Path, file_okay=False, exists=True), default="schema"
)
def check(folder: Path) -> None:
    """Exit 1 when FOLDER's schemas differ from what the models generate."""
    from synthmark.cli import EXIT_FINDINGS, exit_with
    from synthmark.specgen.schema import render_schemas

    rendered = render_schemas()
    drift = []
    for name, data in rendered.items():
        path = folder / name
        if not path.is_file() or path.read_bytes() != data:
            drift.append(name)
    # A committed schema that nothing generates any more is drift too.
    drift += sorted(p.name for p in folder.glob("*.schema.json") if p.name not in rendered)
    if drift:
        click.echo("schemas out of date: " + ", ".join(drift) + " (run `synthmark schema export`)")
        exit_with(EXIT_FINDINGS)
    click.echo("schemas up to date")
