"""``synthmark manifest build|check``."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def manifest() -> None:
    """Build or check a dataset manifest (the dataset-level acknowledgment)."""


@manifest.command("build")
@click.argument("root", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--name", required=True, help="Dataset name.")
@click.option("--version", "version", default="1.0.0", show_default=True, help="Dataset version.")
@click.option("--publisher", required=True, help="Publishing organisation.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write (default: ROOT/synthmark-manifest.json).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing manifest.")
@click.option(
    "--keyring",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Watermark keyring for detection.",
)
@click.option(
    "--attestation",
    "attestations",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    multiple=True,
    help="A lifecycle attestation envelope inside ROOT to reference (repeat).",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes.")
def build(
    root: Path,
    name: str,
    version: str,
    publisher: str,
    output: Path | None,
    overwrite: bool,
    keyring: Path | None,
    attestations: tuple[Path, ...],
    jobs: int | None,
) -> None:
    """Scan ROOT and write its manifest; refuses when a file cannot be truthfully listed."""
    from synthmark._atomic import atomic_write_bytes
    from synthmark.config import ValidateConfig
    from synthmark.errors import OutputExistsError
    from synthmark.manifest import build_manifest, manifest_path
    from synthmark.records import pretty_json

    dest = output or manifest_path(root)
    if dest.exists() and not overwrite:
        raise OutputExistsError("manifest exists", path=dest)
    built = build_manifest(
        root,
        name=name,
        version=version,
        publisher=publisher,
        config=ValidateConfig(keyring=keyring, jobs=jobs),
        attestations=attestations,
    )
    atomic_write_bytes(dest, pretty_json(built).encode("utf-8"))
    attested = ", ".join(a.stage.value for a in built.attestations)
    click.echo(
        f"wrote {dest}: {built.total_count} image(s), {built.synthetic_count} synthetic "
        f"({built.synthetic_proportion:.1%})" + (f"; attestations: {attested}" if attested else "")
    )


@manifest.command("check")
@click.argument("root", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--keyring", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-j", "--jobs", type=click.IntRange(min=1))
def check(root: Path, fmt: str, keyring: Path | None, jobs: int | None) -> None:
    """Compare ROOT with its manifest (rules SM50x); exit 1 on any difference."""
    from synthmark.cli import EXIT_FINDINGS, exit_with
    from synthmark.config import MANIFEST_FILE, ValidateConfig
    from synthmark.errors import ConfigError
    from synthmark.reporters import RenderOptions, render
    from synthmark.validation import validate

    if not (root / MANIFEST_FILE).is_file():
        raise ConfigError(f"no {MANIFEST_FILE} in {root}", hint="run `synthmark manifest build`")
    config = ValidateConfig(select=("SM50", "SM901", "SM902"), keyring=keyring, jobs=jobs)
    report = validate([root], config)
    click.echo(render(report, fmt, RenderOptions()).decode("utf-8"), nl=False)
    if report.failed:
        exit_with(EXIT_FINDINGS)
