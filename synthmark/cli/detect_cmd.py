"""``synthmark detect``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from synthmark.cli._options import limited


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A private key to try besides the public detection key.",
)
@click.option(
    "--keyring",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A keyring of keys to try besides the public detection key.",
)
@click.option(
    "--fpr",
    type=click.FloatRange(min=1e-15, max=0.5),
    default=1e-6,
    show_default=True,
    help="False-positive rate of the decision.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@limited
def detect(
    paths: tuple[Path, ...], key: Path | None, keyring: Path | None, fpr: float, fmt: str
) -> None:
    """Detect the synthmark watermark (exit 1 when found in any file, 0 when not).

    The p-value is a conservative bound covering every search made (keys, rotations,
    flips, shifts, scales). Volumes and multi-frame files are decided on all slices
    together; per-slice results are in the JSON output.
    """
    from synthmark.carriers import open_image
    from synthmark.cli import EXIT_FINDINGS, EXIT_USAGE, exit_with
    from synthmark.cli._walk import iter_inputs
    from synthmark.errors import SynthmarkError
    from synthmark.watermark import PUBLIC_DETECTION_KEY, load_key, load_keyring
    from synthmark.watermark.content import detect_content

    keys = [PUBLIC_DETECTION_KEY]
    if key is not None:
        keys.append(load_key(key))
    if keyring is not None:
        keys += load_keyring(keyring)
    keys = list(dict.fromkeys(keys))
    rows: list[dict[str, object]] = []
    found = errors = 0
    files = list(iter_inputs(paths))
    for path in files:
        try:
            result = detect_content(open_image(path).pixels(), keys, fpr=fpr)
        except SynthmarkError as exc:
            errors += 1
            rows.append({"path": str(path), "error": exc.code, "message": exc.message})
            if fmt == "text":
                click.echo(f"ERROR {path}: {exc.one_line()}")
            continue
        found += result.detected
        payload = result.payload
        row: dict[str, object] = {
            "path": str(path),
            "detected": result.detected,
            "p_value": result.p_value,
            "z": round(result.z, 3),
            "fpr": fpr,
            "key_id": result.key_id,
            "transform": result.transform,
            "payload": None
            if payload is None
            else {
                "record_id_prefix": payload.record_id_prefix.hex(),
                "key_id": payload.key_id,
                "authenticated": payload.authenticated,
            },
            "slices": [
                {"index": s.index, "z": round(s.z, 3), "p_value": s.p_value} for s in result.slices
            ],
        }
        rows.append(row)
        if fmt == "text":
            if result.detected:
                extra = ""
                if payload is not None:
                    auth = "authenticated" if payload.authenticated else "unauthenticated"
                    extra = f", payload record {payload.record_id_prefix.hex()} ({auth})"
                click.echo(
                    f"FOUND {path}: key {result.key_id}, z = {result.z:.1f}, "
                    f"p <= {result.p_value:.1e}{extra}"
                )
            else:
                click.echo(f"none  {path}: z = {result.z:.1f}, p <= {min(result.p_value, 1):.2g}")
    if fmt == "json":
        click.echo(json.dumps({"files": rows}, indent=2))
    if len(files) == 1 and errors:
        exit_with(EXIT_USAGE)
    if found:
        exit_with(EXIT_FINDINGS)
    if errors:
        exit_with(EXIT_USAGE)
