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
:func:`render_markdown` / :func:`render_html` return the document.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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
    "AttestationSummary",
    "CardImage",
    "DatasetCard",
    "GeneratorSummary",
    "MetricRow",
    "build_card",
    "markdown_images",
    "render_html",
    "render_markdown",
    "shows_patient_content",
]

#: Example thumbnails per role shown by default.
DEFAULT_MAX_THUMBNAILS = 6
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_WITHHELD = (
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


# --------------------------------------------------------------------------- markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _md(value: object) -> str:
    """Escape text for a Markdown table cell or paragraph (one line, no markup, no HTML)."""
    text = _CONTROL.sub(" ", str(value)).replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_table(head: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def _number(value: float) -> str:
    return f"{value:.4g}"


def _training_rows(card: DatasetCard) -> list[list[str]]:
    rows = []
    for gen in card.generators:
        for t in gen.training_data:
            ethics = (
                f"{t.ethics_approval.board} {t.ethics_approval.reference}"
                if t.ethics_approval is not None
                else "none stated"
            )
            subjects = str(t.demographics.subjects) if t.demographics is not None else "n/a"
            rows.append(
                [
                    _md(gen.label),
                    _md(f"{t.name} {t.version}"),
                    _md(t.identifier),
                    _md(t.licence),
                    _md(t.consent_basis.value),
                    _md(t.deidentification.profile.value),
                    _md(ethics),
                    subjects,
                ]
            )
    return rows


def _image_name(index: int, image: CardImage) -> str:
    return f"{index:02d}-{image.role}.png"


def render_markdown(card: DatasetCard, *, image_dir: str | None = None) -> str:
    """Render ``card`` as Markdown.

    Args:
        card: The card.
        image_dir: Folder (relative to the Markdown file) where the caller writes the
            thumbnails returned by :func:`markdown_images`; None leaves images out, since
            Markdown viewers commonly refuse ``data:`` images.

    Returns:
        The Markdown text.
    """
    lines = [
        f"# Dataset card: {_md(card.name)} {_md(card.version)}",
        "",
        f"Published by {_md(card.publisher)}; manifest created {_md(card.created)}.",
        "",
        "## What is synthetic",
        "",
    ]
    lines += _md_table(
        ["files", "synthetic", "real", "synthetic proportion", "records read"],
        [
            [
                f"{card.total:,}",
                f"{card.synthetic:,}",
                f"{card.real:,}",
                f"{card.proportion:.1%}",
                f"{card.records_read:,}",
            ]
        ],
    )
    if card.synthetic:
        lines += [
            "**Synthetic images depict no real patient.** They must never be passed off as "
            "real acquisitions; each carries a synthmark record and, where possible, an "
            "invisible watermark.",
            "",
        ]
    lines += ["## Generators", ""]
    if card.generators:
        lines += _md_table(
            ["generator", "manufacturer", "architecture", "images", "source type", "weights"],
            (
                [
                    _md(g.label),
                    _md(g.manufacturer),
                    _md(g.architecture),
                    f"{g.images:,}",
                    _md(", ".join(sorted(g.source_types))),
                    f"`{g.weights_sha256[:16]}…`" if g.weights_sha256 else "n/a",
                ]
                for g in card.generators
            ),
        )
    else:
        lines += ["No synthetic record could be read.", ""]
    lines += ["## Training data and consent", ""]
    training = _training_rows(card)
    if training:
        lines += _md_table(
            [
                "generator",
                "dataset",
                "identifier",
                "licence",
                "consent basis",
                "de-identification",
                "ethics approval",
                "subjects",
            ],
            training,
        )
    else:
        lines += ["No training data declared in the records.", ""]
    privacy = [(g.label, p) for g in card.generators for p in g.privacy]
    if privacy:
        lines += [f"- {_md(label)}: {_md(text)}" for label, text in privacy] + [""]
    lines += ["## Intended and prohibited uses", ""]
    for g in card.generators:
        lines += [
            f"- **{_md(g.label)}** intended: {_md(', '.join(sorted(g.intended)) or 'none')}",
            f"- **{_md(g.label)}** prohibited: {_md(', '.join(sorted(g.prohibited)) or 'none')}",
        ]
    lines += ["", "## Known limitations", ""]
    for g in card.generators:
        lines += [f"- **{_md(g.label)}**: {_md(', '.join(sorted(g.limitations)))}"]
    lines += ["", "## Evaluation and fairness", ""]
    for title, rows in _metric_groups(card):
        lines += [f"### {title}", ""]
        lines += _md_table(
            ["generator", "metric", "value", "unit", "subgroup", "reference", "source"],
            (
                [
                    _md(r.generator),
                    _md(f"{r.kind}: {r.metric.name.value}"),
                    _number(r.metric.value),
                    _md(r.metric.unit.value),
                    _md(r.subgroup),
                    _md(r.metric.reference_dataset),
                    r.source,
                ]
                for r in rows
            ),
        )
    if not card.metrics:
        lines += ["No evaluation is declared.", ""]
    lines += ["## Lifecycle attestations", ""]
    if not card.trust_given:
        lines += [
            "No trust file was given: signatures were **not verified**; attesters are "
            "as the statements claim.",
            "",
        ]
    if card.attestations:
        lines += _md_table(
            ["stage", "status", "attester (claimed)", "attested", "signed by", "findings"],
            (
                [
                    _md(a.stage),
                    f"**{a.status}**",
                    _md(a.attester or "n/a"),
                    _md(a.attested_at or "n/a"),
                    _md(a.signer_owner or ", ".join(a.key_ids) or "n/a"),
                    _md("; ".join(a.findings) or "none"),
                ]
                for a in card.attestations
            ),
        )
        for a in card.attestations:
            if a.highlights:
                lines += [f"- **{_md(a.stage)}**: "]
                lines[-1] += "; ".join(f"{_md(k)}: {_md(v)}" for k, v in a.highlights)
        lines += [""]
    if card.stages_missing:
        lines += [f"Stages without an attestation: {_md(', '.join(card.stages_missing))}.", ""]
    if card.required_missing:
        lines += [
            "Stages the trust file requires without a verified attestation: "
            f"{_md(', '.join(card.required_missing))}.",
            "",
        ]
    lines += ["## Access", ""]
    access = [(g.label, a) for g in card.generators for a in g.access]
    if access:
        lines += _md_table(
            ["generator", "audience", "level", "conditions"],
            (
                [_md(label), _md(a.audience.value), _md(a.level.value), _md(a.conditions or "")]
                for label, a in access
            ),
        )
    else:
        lines += ["Not stated.", ""]
    if card.images or card.withheld:
        lines += ["## Examples", ""]
        if card.images and image_dir is None:
            lines += [f"{len(card.images)} thumbnail(s) omitted (write the card to a file).", ""]
        elif image_dir is not None:
            folder = quote(image_dir)
            lines += [
                f"![{_md(image.role)}: {_md(image.path)}]({folder}/{_image_name(i, image)})"
                for i, image in enumerate(card.images)
            ] + [""]
        if card.real_thumbnails:
            lines += ["Real images are shown because it was explicitly requested.", ""]
        if card.withheld:
            lines += [_md(_WITHHELD.format(card.withheld)), ""]
    if card.problems:
        lines += ["## Problems found", ""] + [f"- {_md(p)}" for p in card.problems] + [""]
    lines += ["---", "Generated by synthmark from the manifest, the records and attestations."]
    return "\n".join(lines) + "\n"


def markdown_images(card: DatasetCard) -> dict[str, bytes]:
    """File name -> PNG bytes of the thumbnails :func:`render_markdown` links to."""
    return {_image_name(i, image): image.png for i, image in enumerate(card.images)}


def _metric_groups(card: DatasetCard) -> list[tuple[str, list[MetricRow]]]:
    fairness = [r for r in card.metrics if r.kind == "fairness"]
    other = [r for r in card.metrics if r.kind != "fairness"]
    groups = []
    if fairness:
        groups.append(("Fairness (metrics per subgroup)", fairness))
    if other:
        groups.append(("Fidelity, diversity and utility", other))
    return groups


# ------------------------------------------------------------------------------- html

_CARD_CSS = """
.status { font-weight: 700; padding: .05rem .5rem; border-radius: 1rem; color: #fff; }
.status.verified { background: var(--ok); } .status.failed, .status.missing {
  background: var(--error); } .status.unverified { background: var(--warning); }
.warn { border-left: 4px solid var(--warning); padding: .3rem .8rem; background: var(--card); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
"""


def _table(table_id: str, head: list[str], rows: Iterable[tuple[dict[str, str], list[str]]]) -> str:
    from synthmark.validation.reporters.html import escape

    out = [f'<table id="{table_id}"><thead><tr>']
    out += [f"<th>{escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for attrs, cells in rows:
        attr = "".join(f' {k}="{escape(v)}"' for k, v in attrs.items())
        out.append(f"<tr{attr}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_html(card: DatasetCard) -> bytes:
    """Render ``card`` as one self-contained HTML page (same CSP and styles as the report).

    Numbers carry ids and data attributes (``id="count-synthetic"``,
    ``data-stage="model_training" data-status="verified"``, ``data-metric``/``data-value``
    on metric rows) so people's tools and tests can read them back.
    """
    from synthmark import __version__
    from synthmark.validation.reporters.html import (
        CONTENT_SECURITY_POLICY,
        REPORT_CSS,
        escape,
        stat_card,
    )

    def td(value: object, css: str = "") -> str:
        cls = f' class="{css}"' if css else ""
        return f"<td{cls}>{escape(value)}</td>"

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CONTENT_SECURITY_POLICY)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Dataset card: {escape(card.name)} {escape(card.version)}</title>",
        f"<style>{REPORT_CSS}{_CARD_CSS}</style></head><body>",
        f'<header><h1 id="card-title">Dataset card: {escape(card.name)} '
        f"{escape(card.version)}</h1>",
        f'<p class="meta">Published by {escape(card.publisher)} · manifest created '
        f"{escape(card.created)}</p></header>",
        "<h2>What is synthetic</h2>",
        '<section class="cards" id="summary">',
        stat_card("files", "files", card.total),
        stat_card("synthetic", "synthetic", card.synthetic, "warning"),
        stat_card("real", "real", card.real),
        stat_card("generators", "generators", len(card.generators)),
        stat_card("attestations", "attestations", len(card.attestations)),
        (
            '<div class="card"><span class="value" id="synthetic-proportion" '
            f'data-value="{card.proportion!r}">{card.proportion:.1%}</span>'
            '<span class="label">synthetic proportion</span></div>'
        ),
        "</section>",
    ]
    if card.synthetic:
        parts.append(
            '<p class="warn"><strong>Synthetic images depict no real patient.</strong> They '
            "must never be passed off as real acquisitions; each carries a synthmark record "
            "and, where possible, an invisible watermark.</p>"
        )
    parts.append("<h2>Generators</h2>")
    if card.generators:
        parts.append(
            _table(
                "generators",
                ["generator", "manufacturer", "architecture", "images", "source type", "weights"],
                (
                    (
                        {"data-generator": g.label, "data-images": str(g.images)},
                        [
                            td(g.label),
                            td(g.manufacturer),
                            td(g.architecture),
                            td(f"{g.images:,}", "num"),
                            td(", ".join(sorted(g.source_types))),
                            f"<td><code>{escape((g.weights_sha256 or 'n/a')[:16])}</code></td>",
                        ],
                    )
                    for g in card.generators
                ),
            )
        )
    else:
        parts.append('<p class="note">No synthetic record could be read.</p>')
    parts.append("<h2>Training data and consent</h2>")
    training = [(g, t) for g in card.generators for t in g.training_data]
    if training:
        parts.append(
            _table(
                "training-data",
                [
                    "generator",
                    "dataset",
                    "identifier",
                    "licence",
                    "consent basis",
                    "de-identification",
                    "ethics approval",
                    "subjects",
                ],
                (
                    (
                        {"data-consent": t.consent_basis.value},
                        [
                            td(g.label),
                            td(f"{t.name} {t.version}"),
                            f"<td><code>{escape(t.identifier)}</code></td>",
                            td(t.licence),
                            td(t.consent_basis.value),
                            td(t.deidentification.profile.value),
                            td(
                                f"{t.ethics_approval.board} {t.ethics_approval.reference}"
                                if t.ethics_approval is not None
                                else "none stated"
                            ),
                            td(t.demographics.subjects if t.demographics else "n/a", "num"),
                        ],
                    )
                    for g, t in training
                ),
            )
        )
    else:
        parts.append('<p class="note">No training data declared in the records.</p>')
    privacy = [(g.label, p) for g in card.generators for p in g.privacy]
    if privacy:
        parts.append(
            "<ul>"
            + "".join(f"<li>{escape(label)}: {escape(text)}</li>" for label, text in privacy)
            + "</ul>"
        )
    parts.append('<h2>Intended and prohibited uses</h2><dl class="facts" id="uses">')
    parts += [
        f"<dt>{escape(g.label)}: intended</dt><dd>{escape(', '.join(sorted(g.intended)) or 'none')}"
        f"</dd><dt>{escape(g.label)}: prohibited</dt>"
        f"<dd>{escape(', '.join(sorted(g.prohibited)) or 'none')}</dd>"
        for g in card.generators
    ]
    parts.append('</dl><h2>Known limitations</h2><ul id="limitations">')
    parts += [
        f"<li><strong>{escape(g.label)}</strong>: {escape(', '.join(sorted(g.limitations)))}</li>"
        for g in card.generators
    ]
    parts.append("</ul><h2>Evaluation and fairness</h2>")
    for title, rows in _metric_groups(card):
        table_id = "fairness" if title.startswith("Fairness") else "evaluation"
        parts.append(f"<h3>{escape(title)}</h3>")
        parts.append(
            _table(
                table_id,
                ["generator", "metric", "value", "unit", "subgroup", "reference", "source"],
                (
                    (
                        {
                            "data-metric": r.metric.name.value,
                            "data-subgroup": r.subgroup,
                            "data-value": repr(r.metric.value),
                            "data-source": r.source,
                        },
                        [
                            td(r.generator),
                            td(f"{r.kind}: {r.metric.name.value}"),
                            td(_number(r.metric.value), "num"),
                            td(r.metric.unit.value),
                            td(r.subgroup),
                            td(r.metric.reference_dataset),
                            td(r.source),
                        ],
                    )
                    for r in rows
                ),
            )
        )
    if not card.metrics:
        parts.append('<p class="note">No evaluation is declared.</p>')
    parts.append("<h2>Lifecycle attestations</h2>")
    if not card.trust_given:
        parts.append(
            '<p class="warn" id="no-trust">No trust file was given: signatures were '
            "<strong>not verified</strong>; attesters are as the statements claim.</p>"
        )
    if card.attestations:
        parts.append(
            _table(
                "attestations",
                ["stage", "status", "attester (claimed)", "attested", "signed by", "details"],
                (
                    (
                        {"data-stage": a.stage, "data-status": a.status},
                        [
                            td(a.stage),
                            f'<td><span class="status {a.status}">{escape(a.status)}</span></td>',
                            td(a.attester or "n/a"),
                            td(a.attested_at or "n/a"),
                            td(a.signer_owner or ", ".join(a.key_ids) or "n/a"),
                            "<td>"
                            + "".join(
                                f"<div>{escape(k)}: {escape(v)}</div>" for k, v in a.highlights
                            )
                            + "".join(
                                f'<div class="sev error">{escape(f)}</div>' for f in a.findings
                            )
                            + "</td>",
                        ],
                    )
                    for a in card.attestations
                ),
            )
        )
    else:
        parts.append('<p class="note">No attestation is referenced.</p>')
    if card.stages_missing:
        parts.append(
            f'<p class="note" id="stages-missing">Stages without an attestation: '
            f"{escape(', '.join(card.stages_missing))}.</p>"
        )
    if card.required_missing:
        parts.append(
            '<p class="warn" id="required-missing">Stages the trust file requires without a '
            f"verified attestation: {escape(', '.join(card.required_missing))}.</p>"
        )
    parts.append("<h2>Access</h2>")
    access = [(g.label, a) for g in card.generators for a in g.access]
    if access:
        parts.append(
            _table(
                "access",
                ["generator", "audience", "level", "conditions"],
                (
                    (
                        {"data-audience": a.audience.value},
                        [
                            td(label),
                            td(a.audience.value),
                            td(a.level.value),
                            td(a.conditions or ""),
                        ],
                    )
                    for label, a in access
                ),
            )
        )
    else:
        parts.append('<p class="note">Not stated.</p>')
    images = [i for i in card.images if i.png.startswith(_PNG_SIGNATURE)]
    if card.withheld and not images:
        parts.append("<h2>Examples</h2>")
    if images:
        parts.append(
            f'<h2>Examples</h2><div class="gallery" id="gallery" data-count="{len(images)}">'
        )
        for image in images:
            data = base64.b64encode(image.png).decode("ascii")
            parts.append(
                f'<figure class="thumb" data-path="{escape(image.path)}" data-role="{image.role}">'
                f'<img src="data:image/png;base64,{data}" alt="{escape(image.role)} example">'
                f"<figcaption><code>{escape(image.path)}</code><br>{escape(image.role)}</figcaption>"
                "</figure>"
            )
        parts.append("</div>")
        if card.real_thumbnails:
            parts.append(
                '<p class="note">Real images are shown because it was explicitly requested.</p>'
            )
    if card.withheld:
        parts.append(
            f'<p class="note" id="withheld" data-count="{card.withheld}">'
            f"{escape(_WITHHELD.format(card.withheld))}</p>"
        )
    if card.problems:
        parts.append('<h2>Problems found</h2><ul id="problems">')
        parts += [f"<li>{escape(p)}</li>" for p in card.problems]
        parts.append("</ul>")
    parts.append(
        f"<footer>Generated by synthmark {escape(__version__)} from the manifest, the records and "
        "attestations. This page loads nothing from the network and runs no script.</footer>"
    )
    parts.append("</body></html>")
    return ("\n".join(parts) + "\n").encode("utf-8", "backslashreplace")
