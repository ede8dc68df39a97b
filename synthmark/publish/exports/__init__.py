"""Exports of a synthmark dataset to other standards: Croissant 1.0 + RAI, and BIDS.

Both exports start from what a publisher signed off, the dataset manifest
(``synthmark-manifest.json``, spec/synthmark.md section 10), and from what the files
themselves say (their records) and the lifecycle attestations the manifest references.
:func:`load_export_source` gathers these once and checks that they agree; the exporters
only translate. Nothing in an export comes from DICOM/NIfTI headers or pixels other than
the synthmark records (which hold no PHI) and file digests, so an export never carries
identifying header values.

See docs/exports.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from synthmark.errors import (
    AttestationFormatError,
    ConfigError,
    InputNotFoundError,
    InputUnreadableError,
    RecordMissingError,
)
from synthmark.provenance.predicates import Predicate
from synthmark.record.models import (
    AttestationReference,
    DatasetManifest,
    Generator,
    ManifestEntry,
    SynthmarkRecord,
    TrainingDataset,
)
from synthmark.record.vocab import FileRole, LifecycleStage
from synthmark.validation.config import MANIFEST_FILE

__all__ = [
    "ExportAttestation",
    "ExportFile",
    "ExportSource",
    "file_sha256",
    "join_unique",
    "load_export_source",
]

#: Manifests of large datasets outgrow the 4 MiB record limit; this is only a sanity cap.
_MAX_MANIFEST_BYTES = 512 << 20


@dataclass(frozen=True)
class ExportFile:
    """One image of the dataset, as the manifest lists it and as its record describes it.

    Attributes:
        entry: The manifest entry (path, role, pixel digests, record id).
        record: The record the file carries, or None for a real file without one.
        sha256: SHA-256 of the file's bytes (what Croissant's ``sha256`` means).
        size: Size of the file in bytes.
    """

    entry: ManifestEntry
    record: SynthmarkRecord | None
    sha256: str
    size: int

    @property
    def synthetic(self) -> bool:
        """Whether the manifest declares the file synthetic."""
        return self.entry.role is FileRole.SYNTHETIC


@dataclass(frozen=True)
class ExportAttestation:
    """A lifecycle attestation the manifest references, read from its envelope.

    Its signature is not verified here (that needs the verifier's trust file:
    ``synthmark attest verify``); the envelope's digest is checked against the manifest.

    Attributes:
        reference: The manifest's reference (stage, envelope SHA-256, path).
        stage: The stage of the statement inside the envelope.
        predicate: The validated predicate.
        size: Size of the envelope file in bytes.
    """

    reference: AttestationReference
    stage: LifecycleStage
    predicate: Predicate
    size: int


@dataclass(frozen=True)
class ExportSource:
    """Everything an export needs about a dataset, gathered and cross-checked once.

    Attributes:
        root: The dataset root.
        manifest: The parsed manifest.
        manifest_sha256: SHA-256 of the manifest file's bytes.
        manifest_size: Size of the manifest file in bytes.
        files: One item per manifest entry, in manifest order.
        attestations: The referenced attestations that have a path inside the dataset.
    """

    root: Path
    manifest: DatasetManifest
    manifest_sha256: str
    manifest_size: int
    files: tuple[ExportFile, ...]
    attestations: tuple[ExportAttestation, ...]

    def records(self) -> list[SynthmarkRecord]:
        """The records of the files, in manifest order (files without one are skipped)."""
        return [f.record for f in self.files if f.record is not None]

    def synthetic_records(self) -> list[SynthmarkRecord]:
        """The records of the synthetic files."""
        return [f.record for f in self.files if f.record is not None and f.record.synthetic]

    def generators(self) -> list[Generator]:
        """Distinct generators of the synthetic files (by name, version, manufacturer)."""
        seen: dict[tuple[str, str, str], Generator] = {}
        for record in self.synthetic_records():
            gen = record.generator
            if gen is not None:
                seen.setdefault((gen.name, gen.version, gen.manufacturer), gen)
        return list(seen.values())

    def training_data(self) -> list[TrainingDataset]:
        """Distinct training datasets named by the records (by identifier and version)."""
        seen: dict[tuple[str, str], TrainingDataset] = {}
        for record in self.synthetic_records():
            for dataset in record.training_data:
                seen.setdefault((dataset.identifier, dataset.version), dataset)
        return list(seen.values())

    def attested(self, stage: LifecycleStage) -> list[ExportAttestation]:
        """The attestations of ``stage``."""
        return [a for a in self.attestations if a.stage is stage]


def file_sha256(path: Path) -> tuple[str, int]:
    """Return the hex SHA-256 and size of a file's bytes, read in 1 MiB blocks.

    Raises:
        InputNotFoundError: when the file is absent.
        InputUnreadableError: when it cannot be read.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    except FileNotFoundError as exc:
        raise InputNotFoundError(
            "file listed in the manifest is missing",
            hint="run `synthmark manifest check` and rebuild the manifest",
            path=path,
        ) from exc
    except OSError as exc:
        raise InputUnreadableError(f"cannot read: {exc.strerror}", path=path) from exc
    return digest.hexdigest(), size


def _read_manifest(root: Path) -> tuple[DatasetManifest, str, int]:
    from synthmark.record.parsing import parse_manifest

    path = root / MANIFEST_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {MANIFEST_FILE} in {root}", hint="run `synthmark manifest build` first"
        )
    try:
        if path.stat().st_size > _MAX_MANIFEST_BYTES:
            raise ConfigError("manifest is too large to export", path=path)
        data = path.read_bytes()
    except OSError as exc:
        raise InputUnreadableError(f"cannot read: {exc.strerror}", path=path) from exc
    manifest = parse_manifest(data, path=path)
    return manifest, hashlib.sha256(data).hexdigest(), len(data)


def _record_of(root: Path, entry: ManifestEntry) -> SynthmarkRecord | None:
    from synthmark.api import read_record

    path = root / entry.path
    try:
        record = read_record(path).record
    except RecordMissingError:
        if entry.role is FileRole.SYNTHETIC:
            raise ConfigError(
                "the manifest lists this file as synthetic but it carries no record",
                hint="run `synthmark manifest check`; an export must not describe it",
                path=path,
            ) from None
        return None
    # An export restates the manifest's claims; if manifest and file disagree, one of them
    # is wrong and exporting either version would spread the error.
    if entry.role is FileRole.SYNTHETIC and record.record_id != entry.record_id:
        raise ConfigError(
            f"record id {record.record_id} differs from the manifest's {entry.record_id}",
            hint="run `synthmark manifest check` and rebuild the manifest",
            path=path,
        )
    if record.synthetic != (entry.role is FileRole.SYNTHETIC):
        raise ConfigError(
            f"the record says synthetic={str(record.synthetic).lower()} but the manifest "
            f"lists the file as {entry.role.value}",
            hint="run `synthmark manifest check` and rebuild the manifest",
            path=path,
        )
    binding = record.binding
    if (
        binding is not None
        and entry.pixel_sha256 is not None
        and binding.sha256 != entry.pixel_sha256
    ):
        raise ConfigError(
            "the record's content binding differs from the manifest's pixel digest",
            hint="run `synthmark manifest check` and `synthmark verify` on the file",
            path=path,
        )
    return record


def _attestation(root: Path, reference: AttestationReference) -> ExportAttestation | None:
    from synthmark.provenance import parse_envelope, parse_statement

    if reference.path is None:
        return None
    from synthmark.provenance.chain import read_envelope_file

    path = root / reference.path
    try:
        data = read_envelope_file(root, reference.path)
    except FileNotFoundError as exc:
        raise InputNotFoundError(
            "attestation referenced by the manifest is missing", path=path
        ) from exc
    except OSError as exc:
        raise InputUnreadableError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    if hashlib.sha256(data).hexdigest() != reference.envelope_sha256:
        raise AttestationFormatError(
            "attestation envelope differs from the SHA-256 the manifest references",
            hint="the envelope was changed after the manifest was built",
            path=path,
        )
    _, stage, predicate = parse_statement(parse_envelope(data).payload)
    if stage is not reference.stage:
        raise AttestationFormatError(
            f"envelope holds a {stage.value} statement, the manifest says {reference.stage.value}",
            path=path,
        )
    return ExportAttestation(reference, stage, predicate, len(data))


def load_export_source(root: Path) -> ExportSource:
    """Read ``root``'s manifest, the records of its files and its attestations.

    The manifest, the files' records and the referenced envelopes must agree (record ids,
    synthetic flags, content binding digests, envelope digests); the export refuses rather
    than restating a claim that the data contradicts. Pixels are not decoded: run
    ``synthmark manifest check`` (or ``validate``) for the full verification.

    Raises:
        ConfigError: when there is no manifest, or manifest and files disagree.
        InputNotFoundError, InputUnreadableError: when a listed file cannot be read.
        AttestationFormatError: when a referenced envelope is changed or malformed.
        SynthmarkError: when a record is malformed.
    """
    if not root.is_dir():
        raise InputNotFoundError("dataset root is not a folder", path=root)
    manifest, manifest_sha, manifest_size = _read_manifest(root)
    files: list[ExportFile] = []
    for entry in manifest.files:
        digest, size = file_sha256(root / entry.path)
        record = _record_of(root, entry)
        files.append(ExportFile(entry, record, digest, size))
    attestations = [_attestation(root, ref) for ref in manifest.attestations]
    return ExportSource(
        root=root,
        manifest=manifest,
        manifest_sha256=manifest_sha,
        manifest_size=manifest_size,
        files=tuple(files),
        attestations=tuple(a for a in attestations if a is not None),
    )


def join_unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, in first-seen order."""
    return list(dict.fromkeys(items))
