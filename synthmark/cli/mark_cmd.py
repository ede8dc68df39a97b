"""``synthmark mark``."""

from __future__ import annotations

from pathlib import Path

import click

from synthmark.cli._options import strength_option, watermark_key_option


@click.command()
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Marked copy to write."
)
@click.option("--in-place", is_flag=True, help="Mark the file itself (atomically).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@watermark_key_option
@strength_option
def mark(
    source: Path,
    output: Path | None,
    in_place: bool,
    overwrite: bool,
    key: Path | None,
    strength: float,
) -> None:
    """Embed the invisible watermark in an image.

    A file carrying a record is re-stamped so its binding covers the marked pixels and
    its record names the watermark.
    """
    from synthmark.api import mark_file
    from synthmark.watermark import load_key

    result = mark_file(
        source,
        dest=output,
        in_place=in_place,
        overwrite=overwrite,
        key=load_key(key) if key else None,
        strength=strength,
    )
    what = "record re-bound" if result.rebound else "no record"
    click.echo(f"marked {result.dest} with key {result.key_id} ({what})")
