"""Building a dataset manifest from what is found (spec section 10)."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path

from synthmark.errors import AttestationFormatError, SynthmarkError, UnsupportedFormatError
from synthmark.record.models import (
    SPEC_VERSION,
    AttestationReference,
    Creator,
    DatasetManifest,
    ManifestEntry,
    created_now,
)
from synthmark.record.vocab import CreatorRole, FileRole
from synthmark.validation.config import MANIFEST_FILE, ValidateConfig
from synthmark.validation.engine import RunSettings, facts_stream, walk


class ManifestBuildError(SynthmarkError):
    """The dataset cannot be acknowledged as it is (unreadable or unacknowledged files)."""

    code = "SMX060"
    exit_code = 1


def build_manifest(
    root: Path,
    *,
    name: str,
    version: str,
    publisher: str,
    role: CreatorRole = CreatorRole.DATASET_PUBLISHER,
    config: ValidateConfig | None = None,
    attestations: Sequence[Path] = (),
) -> DatasetManifest:
    """Scan ``root`` and return its manifest: every image's role, digest and record id.

    A file counts as synthetic when it says so (record or standard field). The build
    refuses, rather than declaring something real, when a file is unreadable, carries a
    watermark without a synthetic acknowledgment, or is synthetic without a record id.

    ``attestations`` are DSSE envelope files inside ``root`` (e.g. of the generator's
    lifecycle); each is referenced by stage, path and SHA-256 so the chain from dataset to
    generator can be verified (spec/attestations.md section 9).

    Raises:
        ManifestBuildError: listing every file that blocks the build.
        AttestationFormatError: when an attestation is not a synthmark lifecycle envelope.
    """
    config = config or ValidateConfig()
    references = [attestation_reference(root, path) for path in attestations]
    settings = RunSettings(
        header_only=False,
        keyring=config.keyring,
        fpr=config.fpr,
        thumbnails=False,
        real_thumbnails=False,
        single_thread=(config.jobs or 2) > 1,
    )
    entries: list[ManifestEntry] = []
    blockers: list[str] = []
    items = walk([root], dataclasses.replace(config, exclude=config.exclude))
    for item, facts in facts_stream(items, settings, config, None):
        if facts.error_code == UnsupportedFormatError.code:
            continue
        if facts.error_code is not None or facts.pixel_xxh3_128 is None:
            blockers.append(f"{item.relative}: unreadable ({facts.error_code})")
            continue
        detected = facts.watermark is not None and facts.watermark.detected
        synthetic = facts.acknowledged_synthetic
        if detected and not synthetic:
            blockers.append(f"{item.relative}: watermarked but not acknowledged as synthetic")
            continue
        if synthetic and facts.record_id is None:
            blockers.append(f"{item.relative}: synthetic but has no synthmark record")
            continue
        entries.append(
            ManifestEntry(
                path=item.relative,
                role=FileRole.SYNTHETIC if synthetic else FileRole.REAL,
                pixel_xxh3_128=facts.pixel_xxh3_128,
                pixel_sha256=facts.pixel_sha256,
                record_id=uuid.UUID(facts.record_id) if synthetic and facts.record_id else None,
            )
        )
    if blockers:
        more = f" (+{len(blockers) - 5} more)" if len(blockers) > 5 else ""
        shown = "; ".join(blockers[:5]) + more
        raise ManifestBuildError(
            f"cannot build a truthful manifest: {shown}",
            hint="stamp synthetic files with their records, or remove them",
            path=root,
        )
    synthetic_count = sum(1 for e in entries if e.role is FileRole.SYNTHETIC)
    return DatasetManifest(
        spec_version=SPEC_VERSION,
        name=name,
        version=version,
        created=created_now(),
        publisher=Creator(organisation=publisher, role=role),
        contains_synthetic=synthetic_count > 0,
        total_count=len(entries),
        synthetic_count=synthetic_count,
        synthetic_proportion=synthetic_count / len(entries) if entries else 0.0,
        attestations=references,
        files=entries,
    )


def attestation_reference(root: Path, envelope_path: Path) -> AttestationReference:
    """Reference an envelope file inside ``root`` by stage, relative path and SHA-256.

    Raises:
        AttestationFormatError: when the file is outside ``root``, unreadable, or not a
            synthmark lifecycle envelope.
    """
    from synthmark.provenance import parse_envelope, parse_statement

    try:
        relative = envelope_path.resolve().relative_to(root.resolve())
    except ValueError as exc:
        raise AttestationFormatError(
            "an attestation referenced by a manifest must lie inside the dataset root",
            path=envelope_path,
        ) from exc
    try:
        data = envelope_path.read_bytes()
    except OSError as exc:
        raise AttestationFormatError(
            f"attestation cannot be read: {exc.strerror}", path=envelope_path
        ) from exc
    _, stage, _ = parse_statement(parse_envelope(data).payload)
    return AttestationReference(
        stage=stage,
        envelope_sha256=hashlib.sha256(data).hexdigest(),
        path=relative.as_posix(),
    )


def manifest_path(root: Path) -> Path:
    """Where a dataset's manifest lives."""
    return root / MANIFEST_FILE
