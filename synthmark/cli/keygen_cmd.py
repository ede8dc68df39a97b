"""``synthmark keygen``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["watermark"]),
    required=True,
    help="Kind of key (signing keys arrive with attestations).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Key file to write (mode 0600).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing key file.")
def keygen(key_type: str, output: Path, overwrite: bool) -> None:
    """Create a key file. The secret is never printed; only the key id is."""
    from synthmark.errors import OutputExistsError
    from synthmark.watermark import generate_key, save_key

    if output.exists() and not overwrite:
        raise OutputExistsError("key file exists", path=output)
    key = generate_key()
    save_key(key, output)
    click.echo(f"wrote {key_type} key {key.key_id} to {output} (mode 0600)")
