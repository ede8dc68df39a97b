"""Dataset cards: what a person should read before using a dataset with synthetic images.

A card is built from the dataset's manifest (``synthmark-manifest.json``: counts, roles,
attestation references) and the records of its synthetic files (generator, training data
and consent, intended and prohibited uses, limitations, evaluation and fairness by
subgroup, access). Lifecycle attestations referenced by the manifest (or by the records,
when they lie inside the dataset) are parsed to say who claims to have signed them; with a
trust file each is verified (spec/attestations.md section 7) and shown as verified or not.

Privacy: only what records and attestations already publish is shown (organisations,
never persons; counts, never patient-level values). Thumbnails are made of images
acknowledged synthetic by both the manifest and their record; real images (patient data)
appear only with ``real_thumbnails``. Nothing here prints: functions return values, and
:mod:`synthmark.publish.card_render` turns a card into Markdown or HTML.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmark.errors import InputNotFoundError, SynthmarkError
from synthmark.record.models import (
    AttestationReference,
    AudienceAccess,
    DatasetManifest,
    Metric,
    SynthmarkRecord,
    TrainingDataset,
)
from synthmark.record.vocab import (
    COMPOSITE_SOURCE_TYPES,
    ConditioningKind,
    DigitalSourceType,
    FileRole,
    LifecycleStage,
)
from synthmark.validation.config import MANIFEST_FILE

if TYPE_CHECKING:
    from synthmark.provenance import TrustPolicy

__all__ = [
    "WITHHELD_NOTE",
    "AttestationSummary",
    "CardImage",
    "DatasetCard",
    "GeneratorSummary",
    "MetricRow",
    "build_card",
    "shows_patient_content",
]

#: Example thumbnails per role shown by default.
DEFAULT_MAX_THUMBNAILS = 6
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WITHHELD_NOTE = (
    "{} synthetic image(s) made from real scans (composites, enhanced scans, image-to-image "
    "outputs) are not shown: they carry a real patient's pixels (--real-thumbnails shows them)."
)


@dataclass(frozen=True)
class MetricRow:
    """One evaluation number with where it comes from.

    Attributes:
        kind: ``fidelity``, ``diversity``, ``fairness`` or ``utility (real-only|mixed)``.
        generator: Generator label (``name version``), or the attestation's stage.
        source: ``record`` or ``attestation``.
    """

    kind: str
    generator: str
    source: str
    metric: Metric

    @property
    def subgroup(self) -> str:
        """``attribute=value``, or ``all`` for the whole reference set."""
        sub = self.metric.subgroup
        return "all" if sub.attribute.value == "all" else f"{sub.attribute.value}={sub.value}"


@dataclass
class GeneratorSummary:
    """A generator and what its records in the dataset say (merged across records).

    Attributes:
        label: ``name version`` for display.
        images: Number of synthetic files whose record names this generator.
        source_types: IPTC terms used by those records.
        training_data: Training datasets (deduplicated by identifier and version).
    """

    label: str
    name: str
    version: str
    manufacturer: str
    architecture: str
    weights_sha256: str | None
    code: str | None
    images: int = 0
    source_types: set[str] = field(default_factory=set)
    modalities: set[str] = field(default_factory=set)
    body_parts: set[str] = field(default_factory=set)
    creators: set[str] = field(default_factory=set)
    training_data: list[TrainingDataset] = field(default_factory=list)
    privacy: list[str] = field(default_factory=list)
    intended: set[str] = field(default_factory=set)
    prohibited: set[str] = field(default_factory=set)
    limitations: set[str] = field(default_factory=set)
    access: list[AudienceAccess] = field(default_factory=list)


@dataclass(frozen=True)
class AttestationSummary:
    """One referenced lifecycle attestation and what could be established about it.

    Attributes:
        stage: The stage the reference names.
        path: Path of the envelope inside the dataset, if given.
        referenced_by: ``manifest`` or ``record``.
        present: Whether the envelope file was found and read.
        digest_ok: Whether its SHA-256 equals the reference (None when absent).
        attester: Organisation (and role) the statement names, unauthenticated unless
            ``verified``.
        attested_at: When the statement says it was made.
        key_ids: Key ids the signatures name (hints only).
        verified: True/False with a trust file, None without one.
        signer_owner: Owner of the trusted key that verified, per the trust file.
        findings: ``CODE: message`` problems (digest, parsing, verification).
        highlights: Short facts from the predicate for people.
    """

    stage: str
    path: str | None
    referenced_by: str
    envelope_sha256: str
    present: bool
    digest_ok: bool | None
    attester: str | None = None
    attested_at: str | None = None
    valid_until: str | None = None
    key_ids: tuple[str, ...] = ()
    verified: bool | None = None
    signer_owner: str | None = None
    findings: tuple[str, ...] = ()
    highlights: tuple[tuple[str, str], ...] = ()

    @property
    def status(self) -> str:
        """``verified``, ``failed``, ``unverified`` (no trust file) or ``missing``."""
        if not self.present:
            return "missing"
        if self.verified is None:
            return "failed" if self.digest_ok is False else "unverified"
        return "verified" if self.verified else "failed"


@dataclass(frozen=True)
class CardImage:
    """An example image: its path in the dataset, a small PNG, and its role.

    ``role`` is ``synthetic``, ``patient-derived`` (synthetic but carrying a real patient's
    pixels, see :func:`shows_patient_content`) or ``real``.
    """

    path: str
    role: str
    png: bytes


@dataclass(frozen=True)
class DatasetCard:
    """Everything a card shows, as values (rendered by :func:`render_markdown`/``html``)."""

    name: str
    version: str
    publisher: str
    created: str
    total: int
    synthetic: int
    real: int
    proportion: float
    records_read: int
    generators: list[GeneratorSummary]
    metrics: list[MetricRow]
    attestations: list[AttestationSummary]
    stages_missing: list[str]
    required_missing: list[str]
    trust_given: bool
    images: list[CardImage]
    real_thumbnails: bool
    withheld: int
    problems: list[str]

    @property
    def verified_stages(self) -> list[str]:
        """Stages with at least one verified attestation."""
        return sorted({a.stage for a in self.attestations if a.status == "verified"})


# ------------------------------------------------------------------------------ build


def _manifest(root: Path) -> DatasetManifest:
    from synthmark.record.parsing import parse_manifest, read_json_file

    path = root / MANIFEST_FILE
    if not path.is_file():
        raise InputNotFoundError(
            f"no {MANIFEST_FILE} in the dataset",
            hint="build one with `synthmark manifest build DATASET --name ... --publisher ...`",
            path=root,
        )
    return parse_manifest(read_json_file(path), path=path)


def _privacy_lines(record: SynthmarkRecord) -> list[str]:
    privacy = record.privacy
    if privacy is None:
        return []
    lines = []
    if privacy.differential_privacy is not None:
        dp = privacy.differential_privacy
        lines.append(f"differential privacy: epsilon {dp.epsilon:g}, delta {dp.delta:g}")
    if privacy.federated:
        lines.append("federated training")
    audit = privacy.memorisation_audit
    if audit is not None:
        metric = f" ({audit.metric.value})" if audit.metric is not None else ""
        lines.append(
            f"memorisation audit {audit.outcome.value}: {audit.method.value}{metric}, "
            f"worst {audit.statistic:g} vs threshold {audit.threshold:g} "
            f"against {audit.reference_dataset}"
        )
    return lines


def _merge(summary: GeneratorSummary, record: SynthmarkRecord) -> None:
    summary.images += 1
    summary.source_types.add(record.digital_source_type.term)
    summary.modalities.add(record.modality.value)
    if record.body_part:
        summary.body_parts.add(record.body_part)
    summary.creators.add(f"{record.creator.organisation} ({record.creator.role.value})")
    known = {(t.identifier, t.version) for t in summary.training_data}
    summary.training_data += [
        t for t in record.training_data if (t.identifier, t.version) not in known
    ]
    summary.privacy += [p for p in _privacy_lines(record) if p not in summary.privacy]
    if record.intended_use is not None:
        summary.intended.update(u.value for u in record.intended_use.intended)
        summary.prohibited.update(u.value for u in record.intended_use.prohibited)
    summary.limitations.update(v.value for v in record.limitations)
    audiences = {a.audience for a in summary.access}
    summary.access += [a for a in record.access if a.audience not in audiences]


def _record_metrics(label: str, record: SynthmarkRecord) -> list[MetricRow]:
    evaluation = record.evaluation
    if evaluation is None:
        return []
    rows = [MetricRow("fidelity", label, "record", m) for m in evaluation.fidelity]
    rows += [MetricRow("diversity", label, "record", m) for m in evaluation.diversity]
    rows += [MetricRow("fairness", label, "record", m) for m in evaluation.fairness]
    for result in evaluation.utility:
        alpha = f"{result.task.value}, alpha {result.synthetic_proportion:g}"
        rows.append(MetricRow(f"utility real-only ({alpha})", label, "record", result.real_only))
        rows.append(MetricRow(f"utility mixed ({alpha})", label, "record", result.mixed))
    return rows


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _highlights(stage: LifecycleStage, predicate: Any) -> list[tuple[str, str]]:
    """A few facts a reader needs from each stage's predicate (never patient-level data)."""
    out: list[tuple[str, str]] = []
    if stage is LifecycleStage.DATA_COLLECTION:
        out.append(
            (
                "sources (consent basis)",
                "; ".join(f"{s.name} ({s.consent_basis.value})" for s in predicate.sources),
            )
        )
        out.append(("subjects", str(predicate.demographic_representation.subjects)))
        if predicate.underrepresented_groups:
            out.append(("under-represented", ", ".join(predicate.underrepresented_groups)))
    elif stage is LifecycleStage.DATA_PROCESSING:
        out.append(("steps", ", ".join(s.operation.value for s in predicate.steps)))
        out.append(("bias detection", ", ".join(m.value for m in predicate.bias.detection)))
    elif stage is LifecycleStage.MODEL_TRAINING:
        out.append(("model", f"{predicate.model.name} {predicate.model.version}"))
        out.append(
            (
                "training data (consent)",
                "; ".join(
                    f"{t.name} ({t.consent_basis.value}, "
                    f"{'documented' if t.consent_documented else 'not documented'})"
                    for t in predicate.training_data
                ),
            )
        )
    elif stage is LifecycleStage.MODEL_EVALUATION:
        out.append(("lay summary", predicate.clinical_relevance.lay_summary))
        out.append(("synthetic proportion evaluated", f"{predicate.synthetic_proportion:g}"))
    elif stage is LifecycleStage.DEPLOYMENT:
        out.append(("residual risk", predicate.risk.residual_risk.value))
        out.append(("monitoring review (days)", str(predicate.monitoring.review_interval_days)))
    return out


def _attestation(
    root: Path,
    ref: AttestationReference,
    referenced_by: str,
    trust: TrustPolicy | None,
    now: datetime | None,
    metrics: list[MetricRow],
) -> AttestationSummary:
    from synthmark.provenance import parse_envelope, parse_statement, verify_attestation
    from synthmark.provenance.predicates import ModelEvaluationPredicate

    base: dict[str, Any] = {
        "stage": ref.stage.value,
        "path": ref.path,
        "referenced_by": referenced_by,
        "envelope_sha256": ref.envelope_sha256,
    }
    if ref.path is None:
        return AttestationSummary(
            **base,
            present=False,
            digest_ok=None,
            findings=("not in the dataset: referenced by digest only",),
        )
    from synthmark.provenance.chain import read_envelope_file

    try:
        data = read_envelope_file(root, ref.path)
    except OSError as exc:
        return AttestationSummary(
            **base,
            present=False,
            digest_ok=None,
            findings=(f"SM306: envelope cannot be read ({exc.strerror or exc})",),
        )
    findings: list[str] = []
    digest_ok = hashlib.sha256(data).hexdigest() == ref.envelope_sha256
    if not digest_ok:
        findings.append("SM306: the envelope's SHA-256 differs from the reference")
    facts: dict[str, Any] = {}
    try:
        envelope = parse_envelope(data)
        facts["key_ids"] = tuple(s.keyid[:16] for s in envelope.signatures)
        _, stage, predicate = parse_statement(envelope.payload)
    except SynthmarkError as exc:
        findings.append(f"{exc.code}: {exc.message}")
    else:
        attested_at, valid_until = predicate.window
        facts.update(
            attester=f"{predicate.attester.organisation} ({predicate.attester.role.value})",
            attested_at=_iso(attested_at),
            valid_until=_iso(valid_until),
            highlights=tuple(_highlights(stage, predicate)),
        )
        if stage is not ref.stage:
            findings.append(f"SMA013: attests {stage.value}, referenced as {ref.stage.value}")
        if isinstance(predicate, ModelEvaluationPredicate):
            label = f"{stage.value} attestation"
            metrics += [MetricRow("fidelity", label, "attestation", m) for m in predicate.fidelity]
            metrics += [
                MetricRow("diversity", label, "attestation", m) for m in predicate.diversity
            ]
            metrics += [MetricRow("fairness", label, "attestation", m) for m in predicate.fairness]
    verified: bool | None = None
    if trust is not None:
        verdict = verify_attestation(
            data, trust, now=now, subject_root=root, expected_stage=ref.stage
        )
        findings += [f"{f.code}: {f.message}" for f in verdict.findings]
        verified = verdict.valid and digest_ok
        facts["signer_owner"] = verdict.signer_owner
    return AttestationSummary(
        **base,
        present=True,
        digest_ok=digest_ok,
        verified=verified,
        findings=tuple(dict.fromkeys(findings)),
        **facts,
    )


def shows_patient_content(record: SynthmarkRecord) -> bool:
    """Whether a synthetic image still carries a real patient's pixels.

    Composites (a synthetic lesion in a real scan), AI-enhanced scans and image-to-image
    outputs of a real source image are synthetic, but a thumbnail of them would show the
    patient: they are treated like real images for thumbnails.
    """
    if (
        record.digital_source_type in COMPOSITE_SOURCE_TYPES
        or record.digital_source_type is DigitalSourceType.ALGORITHMICALLY_ENHANCED
    ):
        return True
    gen = record.generator
    return gen is not None and (
        gen.conditioning.kind is ConditioningKind.SOURCE_IMAGE or bool(gen.conditioning.sources)
    )


def _spread(items: list[Any], count: int) -> list[Any]:
    """Up to ``count`` items spread evenly over ``items`` (examples, not just the first)."""
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def _thumbnail(path: Path) -> bytes:
    from synthmark.carriers import open_image
    from synthmark.carriers.slices import slice_view
    from synthmark.validation.engine import thumbnail_png

    return thumbnail_png(slice_view(open_image(path).pixels()).stack)


def build_card(
    root: Path,
    *,
    trust: TrustPolicy | None = None,
    real_thumbnails: bool = False,
    max_thumbnails: int = DEFAULT_MAX_THUMBNAILS,
    now: datetime | None = None,
) -> DatasetCard:
    """Gather a dataset card from ``root``'s manifest, records and attestations.

    Args:
        root: Dataset folder holding ``synthmark-manifest.json``.
        trust: The reader's trust file; when given, every referenced attestation is
            verified with ``root`` as subject root. Without it none is called verified.
        real_thumbnails: Also show examples of real images (patient data: opt-in).
        max_thumbnails: Examples per role (0: none).
        now: Verification time (default: now).

    Returns:
        The card; problems found on the way (a synthetic file without a readable record,
        a record id differing from the manifest) are listed in ``problems``, not raised.

    Raises:
        InputNotFoundError: when the dataset has no manifest.
        RecordInvalidError, RecordParseError: when the manifest is invalid.
    """
    from synthmark.api import read_record

    manifest = _manifest(root)
    problems: list[str] = []
    generators: dict[tuple[str, ...], GeneratorSummary] = {}
    metrics: list[MetricRow] = []
    seen_metrics: set[tuple[str, str, str]] = set()
    record_refs: dict[str, AttestationReference] = {}
    synthetic_paths: list[str] = []
    patient_derived: list[str] = []
    records_read = 0
    for entry in manifest.files:
        if entry.role is not FileRole.SYNTHETIC:
            continue
        try:
            record = read_record(root / entry.path).record
        except SynthmarkError as exc:
            problems.append(f"{entry.path}: {exc.code}: {exc.message}")
            continue
        records_read += 1
        if not record.synthetic:
            problems.append(f"{entry.path}: listed as synthetic but its record says real")
            continue
        if entry.record_id is not None and entry.record_id != record.record_id:
            problems.append(f"{entry.path}: record id differs from the manifest's")
        (patient_derived if shows_patient_content(record) else synthetic_paths).append(entry.path)
        gen = record.generator
        assert gen is not None  # a synthetic record always names its generator
        key = (gen.manufacturer, gen.name, gen.version, gen.weights_sha256 or "")
        summary = generators.get(key)
        if summary is None:
            code = f"{gen.code.url} @ {gen.code.revision}" if gen.code is not None else None
            summary = generators[key] = GeneratorSummary(
                label=f"{gen.name} {gen.version}",
                name=gen.name,
                version=gen.version,
                manufacturer=gen.manufacturer,
                architecture=gen.architecture.value,
                weights_sha256=gen.weights_sha256,
                code=code,
            )
        _merge(summary, record)
        for row in _record_metrics(summary.label, record):
            # Records of one template repeat the same numbers: show each once.
            ident = (row.kind, row.generator, row.metric.model_dump_json())
            if ident not in seen_metrics:
                seen_metrics.add(ident)
                metrics.append(row)
        for ref in record.attestations:
            record_refs.setdefault(ref.envelope_sha256, ref)

    attestations = [
        _attestation(root, ref, "manifest", trust, now, metrics) for ref in manifest.attestations
    ]
    listed = {ref.envelope_sha256 for ref in manifest.attestations}
    attestations += [
        _attestation(root, ref, "record", trust, now, metrics)
        for digest, ref in record_refs.items()
        if digest not in listed
    ]
    referenced = {a.stage for a in attestations}
    stages_missing = [s.value for s in LifecycleStage if s.value not in referenced]
    verified = {a.stage for a in attestations if a.status == "verified"}
    required = [s.value for s in trust.required_stages] if trust is not None else []
    required_missing = [s for s in required if s not in verified]

    images: list[CardImage] = []
    if max_thumbnails > 0:
        chosen = [(p, "synthetic") for p in _spread(synthetic_paths, max_thumbnails)]
        if real_thumbnails:
            chosen += [(p, "patient-derived") for p in _spread(patient_derived, max_thumbnails)]
            reals = [e.path for e in manifest.files if e.role is FileRole.REAL]
            chosen += [(p, "real") for p in _spread(reals, max_thumbnails)]
        for path, role in chosen:
            try:
                images.append(CardImage(path, role, _thumbnail(root / path)))
            except SynthmarkError as exc:
                problems.append(f"{path}: no thumbnail: {exc.code}: {exc.message}")

    return DatasetCard(
        name=manifest.name,
        version=manifest.version,
        publisher=f"{manifest.publisher.organisation} ({manifest.publisher.role.value})",
        created=_iso(manifest.created) or "",
        total=manifest.total_count,
        synthetic=manifest.synthetic_count,
        real=manifest.total_count - manifest.synthetic_count,
        proportion=manifest.synthetic_proportion,
        records_read=records_read,
        generators=list(generators.values()),
        metrics=metrics,
        attestations=attestations,
        stages_missing=stages_missing,
        required_missing=required_missing,
        trust_given=trust is not None,
        images=images,
        real_thumbnails=real_thumbnails,
        withheld=0 if real_thumbnails else len(patient_derived),
        problems=problems,
    )
