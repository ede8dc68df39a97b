"""``synthmark manifest build|check|export``."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def manifest() -> None:
    """Build, check or export a dataset manifest (the dataset-level acknowledgment)."""


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
    from synthmark.carriers.atomic import atomic_write_bytes
    from synthmark.errors import OutputExistsError
    from synthmark.publish.manifest import build_manifest, manifest_path
    from synthmark.record.parsing import pretty_json
    from synthmark.validation.config import ValidateConfig

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
    from synthmark.errors import ConfigError
    from synthmark.validation.config import MANIFEST_FILE, ValidateConfig
    from synthmark.validation.engine import validate
    from synthmark.validation.reporters import RenderOptions, render

    if not (root / MANIFEST_FILE).is_file():
        raise ConfigError(f"no {MANIFEST_FILE} in {root}", hint="run `synthmark manifest build`")
    config = ValidateConfig(select=("SM50", "SM901", "SM902"), keyring=keyring, jobs=jobs)
    report = validate([root], config)
    click.echo(render(report, fmt, RenderOptions()).decode("utf-8"), nl=False)
    if report.failed:
        exit_with(EXIT_FINDINGS)


@manifest.command("export")
@click.argument("root", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--croissant",
    "croissant_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write Croissant 1.0 JSON-LD with the RAI fields to this file.",
)
@click.option(
    "--bids",
    "bids_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write a BIDS dataset (NIfTI images, sidecars, dataset_description.json) here.",
)
@click.option("--license", "license_id", help="Dataset licence (SPDX id or URL).")
@click.option(
    "--base-url",
    help="Croissant: URL where ROOT is published; contentUrl becomes BASE_URL/path "
    "(default: paths relative to the JSON-LD file).",
)
@click.option(
    "--bids-map",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="BIDS: JSON object or TSV (source<TAB>bids) mapping dataset paths to BIDS paths "
    "for images whose path is not already BIDS-shaped.",
)
@click.option(
    "--link",
    type=click.Choice(["copy", "hardlink", "symlink"]),
    default="copy",
    show_default=True,
    help="BIDS: how images are placed in DIR.",
)
@click.option(
    "--keep-sidecars",
    is_flag=True,
    help="BIDS: merge existing BIDS JSON sidecars of the images (they may hold header values).",
)
@click.option(
    "--sidecar-defaults",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="BIDS: JSON object of fields for every image sidecar that synthmark cannot know "
    'but BIDS requires, e.g. {"SkullStripped": false} for derivative anat images.',
)
@click.option(
    "--redact-paths",
    is_flag=True,
    help="BIDS: leave source paths out of synthmark/bids-map.json.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def export(
    root: Path,
    croissant_out: Path | None,
    bids_dir: Path | None,
    license_id: str | None,
    base_url: str | None,
    bids_map: Path | None,
    link: str,
    keep_sidecars: bool,
    sidecar_defaults: Path | None,
    redact_paths: bool,
    overwrite: bool,
) -> None:
    """Export ROOT's manifest, records and attestations as Croissant and/or BIDS metadata.

    ROOT must have a manifest (`synthmark manifest build`). The export restates what the
    manifest, the records and the attestations say; it refuses when they disagree. See
    docs/exports.md.
    """
    from synthmark.errors import OutputExistsError, UsageError
    from synthmark.publish.exports import load_export_source

    if croissant_out is None and bids_dir is None:
        raise UsageError("nothing to export", hint="give --croissant OUT.json and/or --bids DIR")
    if croissant_out is not None and croissant_out.exists() and not overwrite:
        raise OutputExistsError("output exists", path=croissant_out)
    if bids_dir is not None and bids_dir.is_dir() and any(bids_dir.iterdir()) and not overwrite:
        raise OutputExistsError("BIDS output folder is not empty", path=bids_dir)
    source = load_export_source(root)
    # BIDS first: it is the export that refuses for lack of names, and a refusal should
    # leave nothing half-written behind.
    if bids_dir is not None:
        from synthmark.publish.exports.bids import (
            LinkMode,
            export_bids,
            load_bids_map,
            load_sidecar_defaults,
        )

        mode: LinkMode = (
            "copy" if link == "copy" else "hardlink" if link == "hardlink" else "symlink"
        )
        result = export_bids(
            source,
            bids_dir,
            mapping=load_bids_map(bids_map) if bids_map is not None else None,
            link=mode,
            license_id=license_id,
            keep_sidecars=keep_sidecars,
            sidecar_defaults=(
                load_sidecar_defaults(sidecar_defaults) if sidecar_defaults is not None else None
            ),
            redact_paths=redact_paths,
            overwrite=overwrite,
        )
        skipped = (
            f"; {len(result.not_exported)} non-NIfTI file(s) not exported"
            if (result.not_exported)
            else ""
        )
        click.echo(
            f"wrote {bids_dir}: BIDS {result.dataset_type} dataset, "
            f"{len(result.exported)} image(s){skipped}"
        )
    if croissant_out is not None:
        from synthmark.publish.exports.croissant import write_croissant

        write_croissant(source, croissant_out, base_url=base_url, license_id=license_id)
        click.echo(
            f"wrote {croissant_out}: Croissant 1.0 + RAI, {len(source.files)} image(s), "
            f"{source.manifest.synthetic_count} synthetic"
        )
