"""Options shared by several commands, defined once so their help and limits agree."""

from __future__ import annotations

from pathlib import Path

import click

watermark_key_option = click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Watermark key (default: the public detection key, detectable by anyone).",
)
strength_option = click.option(
    "--strength",
    type=click.FloatRange(min=0.05, max=16),
    default=1.0,
    show_default=True,
    help="Watermark strength; 1.0 is about 2 native units RMS (2 HU on CT).",
)

keyring_option = click.option(
    "--keyring",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Watermark keyring (the public detection key is always tried).",
)
trust_option = click.option(
    "--trust",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Trust file: keys for attestations and signed records, C2PA anchors, required "
    "lifecycle stages (spec/attestations.md section 6).",
)
