"""``synthmark demo``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click


@click.command()
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to build the demo in (default: a new temporary folder, kept afterwards).",
)
def demo(workdir: Path | None) -> None:
    """Run the end-to-end demo on real scans shipped with pydicom and nibabel."""
    from synthmark.cli import EXIT_FINDINGS, exit_with
    from synthmark.demo import DemoOutcome, run_demo

    folder = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="synthmark-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    outcome: DemoOutcome | None = None
    for item in run_demo(folder):
        if isinstance(item, DemoOutcome):
            outcome = item
        else:
            click.echo(item)
    if outcome is None or not outcome.ok:
        exit_with(EXIT_FINDINGS)
