"""``synthmark card DATASET``: a dataset card for people (Markdown or HTML)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("dataset", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the card here (default: standard output). Markdown thumbnails go to "
    "OUTPUT's stem + '-images/' beside it.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html"]),
    default="markdown",
    show_default=True,
)
@click.option(
    "--trust",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Your trust file: verify the attestations (without it none is shown as verified).",
)
@click.option(
    "--real-thumbnails",
    is_flag=True,
    help="Also show example thumbnails of real images (patient data; off by default).",
)
@click.option(
    "--max-thumbnails",
    type=click.IntRange(min=0, max=64),
    default=6,
    show_default=True,
    help="Example thumbnails per role (0: none).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def card(
    dataset: Path,
    output: Path | None,
    fmt: str,
    trust: Path | None,
    real_thumbnails: bool,
    max_thumbnails: int,
    overwrite: bool,
) -> None:
    """Write a dataset card for DATASET (a folder with synthmark-manifest.json).

    The card says what is synthetic and how much, which generators made it, their training
    data and consent basis, intended and prohibited uses, known limitations, evaluation and
    fairness by subgroup, and the lifecycle attestations with who signed them.
    """
    from synthmark.carriers.atomic import atomic_write_bytes
    from synthmark.errors import OutputExistsError
    from synthmark.provenance import load_trust
    from synthmark.publish.card import build_card
    from synthmark.publish.card_render import markdown_images, render_html, render_markdown

    if output is not None and output.exists() and not overwrite:
        raise OutputExistsError("output exists", path=output)
    policy = load_trust(trust) if trust is not None else None
    built = build_card(
        dataset,
        trust=policy,
        real_thumbnails=real_thumbnails,
        max_thumbnails=max_thumbnails,
    )
    if fmt == "html":
        data = render_html(built)
    else:
        image_dir = f"{output.stem}-images" if output is not None else None
        data = render_markdown(built, image_dir=image_dir).encode("utf-8")
        if output is not None and image_dir is not None and built.images:
            (output.parent / image_dir).mkdir(exist_ok=True)
            for name, png in markdown_images(built).items():
                atomic_write_bytes(output.parent / image_dir / name, png)
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    atomic_write_bytes(output, data)
    verified = ", ".join(built.verified_stages) or "none"
    click.echo(
        f"wrote {output}: {built.synthetic:,} of {built.total:,} files synthetic "
        f"({built.proportion:.1%}); attestations verified: "
        + (verified if policy is not None else "not checked (no --trust)")
    )
