"""``synthmark stamp``."""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import click

from synthmark.cli._options import strength_option, watermark_key_option
from synthmark.record.vocab import DerivationOperation


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--record",
    "record_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Record JSON to embed (its binding is filled in).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file (one input) or folder (several inputs or a folder).",
)
@click.option("--in-place", is_flag=True, help="Modify the inputs themselves (atomically).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option(
    "--derived-from",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A stamped parent image this one was made from.",
)
@click.option(
    "--operation",
    "operations",
    multiple=True,
    type=click.Choice([op.value for op in DerivationOperation]),
    help="What was done to the parent (repeatable; with --derived-from).",
)
@click.option("--sidecar", is_flag=True, help="Also write <output>.synthmark.json.")
@click.option(
    "--watermark/--no-watermark",
    default=True,
    show_default=True,
    help="Embed the invisible watermark before binding (synthetic records only).",
)
@watermark_key_option
@strength_option
@click.option(
    "--sign-key",
    "sign_keys",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    help="Sign each record with this Ed25519/P-256 key (repeat to co-sign).",
)
@click.option(
    "--c2pa-chain",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Certificate chain PEM (leaf first) for C2PA Content Credentials on PNG/JPEG.",
)
@click.option(
    "--c2pa-key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Private key of the --c2pa-chain leaf certificate.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Stamp files in parallel processes.",
)
def stamp(
    inputs: tuple[Path, ...],
    record_path: Path | None,
    output: Path | None,
    in_place: bool,
    overwrite: bool,
    derived_from: Path | None,
    operations: tuple[str, ...],
    sidecar: bool,
    watermark: bool,
    key: Path | None,
    strength: float,
    sign_keys: tuple[Path, ...],
    c2pa_chain: Path | None,
    c2pa_key: Path | None,
    jobs: int,
) -> None:
    """Embed a record, bound to the pixels, in images (DICOM, NIfTI, PNG/JPEG/TIFF).

    Originals are never modified unless --in-place. With several inputs (or a folder),
    each file gets its own record id and -o names a folder that mirrors the inputs.
    With --sign-key the record carries an embedded signature; with --c2pa-chain and
    --c2pa-key, PNG and JPEG outputs also get signed C2PA Content Credentials.
    """
    from synthmark.cli import EXIT_USAGE, exit_with
    from synthmark.cli._walk import iter_inputs
    from synthmark.errors import ConfigError, RecordInvalidError, UsageError
    from synthmark.record.parsing import load_record

    if in_place == (output is not None):
        raise UsageError("give exactly one of -o/--output and --in-place")
    record = None
    if record_path is not None:
        try:
            record = load_record(record_path)
        except RecordInvalidError as exc:
            raise ConfigError(exc.message, path=record_path, hint=exc.hint) from exc
    elif derived_from is None:
        raise UsageError("--record is required (or --derived-from a stamped parent)")
    many = len(inputs) > 1 or any(p.is_dir() for p in inputs)
    jobs_list: list[tuple[Path, Path | None]] = []
    for source in iter_inputs(inputs):
        if in_place:
            jobs_list.append((source, None))
        elif not many:
            jobs_list.append((source, output))
        else:
            assert output is not None
            base = next((p for p in inputs if p.is_dir() and source.is_relative_to(p)), None)
            relative = source.relative_to(base) if base is not None else Path(source.name)
            jobs_list.append((source, output / relative))
    if (c2pa_chain is None) != (c2pa_key is None):
        raise UsageError("--c2pa-chain and --c2pa-key go together")
    # Load once here so a bad key fails before any file is written; workers reload by path
    # because private keys cannot be pickled.
    from synthmark.provenance import load_signing_key

    for key_path in sign_keys:
        load_signing_key(key_path)
    c2pa_paths = (c2pa_chain, c2pa_key) if c2pa_chain and c2pa_key else None
    if c2pa_paths is not None:
        from synthmark.carriers.c2pa import load_signing_identity

        load_signing_identity(*c2pa_paths)
    mark_with = None
    if watermark:
        from synthmark.watermark import PUBLIC_DETECTION_KEY, load_key

        mark_with = load_key(key) if key is not None else PUBLIC_DETECTION_KEY
    shared = _Shared(
        record,
        many,
        overwrite,
        derived_from,
        operations,
        sidecar,
        mark_with,
        strength,
        sign_keys,
        c2pa_paths,
    )
    tasks = [(src, dst, shared) for src, dst in jobs_list]
    failures = 0
    if jobs > 1 and len(tasks) > 1:
        # forkserver: forking a process that already runs torch's thread pools can deadlock.
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            results = list(pool.map(_stamp_one, tasks))
    else:
        results = [_stamp_one(task) for task in tasks]
    for ok, line in results:
        click.echo(line, err=not ok)
        failures += not ok
    if failures:
        if len(tasks) == 1:
            exit_with(EXIT_USAGE)
        click.echo(f"{failures} of {len(tasks)} file(s) failed", err=True)
        exit_with(EXIT_USAGE)


@dataclasses.dataclass(frozen=True)
class _Shared:
    """What every file of one stamp run shares (picklable: keys travel as paths)."""

    record: object
    many: bool
    overwrite: bool
    derived_from: Path | None
    operations: tuple[str, ...]
    sidecar: bool
    mark_with: object
    strength: float
    sign_keys: tuple[Path, ...]
    c2pa_paths: tuple[Path, Path] | None


_Task = tuple[Path, Path | None, _Shared]


@functools.lru_cache(maxsize=8)
def _signing_material(
    sign_keys: tuple[Path, ...], c2pa_paths: tuple[Path, Path] | None
) -> tuple[list[Any], Any]:
    from synthmark.provenance import load_signing_key

    identity = None
    if c2pa_paths is not None:
        from synthmark.carriers.c2pa import load_signing_identity

        identity = load_signing_identity(*c2pa_paths)
    return [load_signing_key(p) for p in sign_keys], identity


def _stamp_one(task: _Task) -> tuple[bool, str]:
    from synthmark.api import stamp as stamp_file
    from synthmark.errors import SynthmarkError
    from synthmark.record.models import SynthmarkRecord
    from synthmark.watermark import WatermarkKey

    source, dest, shared = task
    record, mark_with = shared.record, shared.mark_with
    assert record is None or isinstance(record, SynthmarkRecord)
    assert mark_with is None or isinstance(mark_with, WatermarkKey)
    # Real images are never watermarked: the mark means "synthetic".
    synthetic = record.synthetic if record is not None else True
    try:
        signers, identity = _signing_material(shared.sign_keys, shared.c2pa_paths)
        if dest is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
        result = stamp_file(
            source,
            record,
            dest=dest,
            in_place=dest is None,
            overwrite=shared.overwrite,
            new_record_id=shared.many,
            derived_from=shared.derived_from,
            operations=tuple(DerivationOperation(op) for op in shared.operations),
            sidecar=shared.sidecar,
            watermark=mark_with if synthetic else None,
            strength=shared.strength,
            sign_keys=signers,
            credentials=identity,
        )
    except SynthmarkError as exc:
        return False, f"synthmark: error: {exc.one_line()}"
    kind = "synthetic" if result.record.synthetic else "real"
    marked = f", watermark {result.record.watermark.key_id}" if result.record.watermark else ""
    if result.record.signature is not None:
        marked += ", signed"
    if result.credentials:
        marked += ", C2PA credentials"
    if result.watermark_note:
        marked += f"; warning: {result.watermark_note}"
    if result.credentials_note:
        marked += f"; note: {result.credentials_note}"
    return True, (
        f"stamped {result.dest} ({kind}, record {result.record.record_id}{marked}, "
        f"xxh3 {result.digest.xxh3_128[:12]})"
    )
