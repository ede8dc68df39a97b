"""Croissant 1.0 JSON-LD with the Responsible-AI (RAI 1.0) fields, from a synthmark dataset.

What maps to what is tabulated in docs/exports.md. In short: the manifest gives the
dataset's name, version, publisher and the list of images; each file becomes a
``cr:FileObject`` with the SHA-256 of its bytes; the ``images`` RecordSet holds one record
per image with a boolean ``synthetic`` field; the RAI properties are written as prose
assembled from the records (generator, training data with consent basis and
de-identification, intended use, limitations, evaluation) and from the lifecycle
attestations the manifest references. RAI 1.0 has no property for synthetic data, so
``rai:hasSyntheticData`` and ``rai:syntheticDataExplanation`` follow the NeurIPS usage
(mlcroissant accepts them).
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

from synthmark import __version__
from synthmark.provenance.predicates import (
    DataCollectionPredicate,
    DataProcessingPredicate,
    DeploymentPredicate,
    ModelEvaluationPredicate,
    ModelTrainingPredicate,
)
from synthmark.publish.exports import ExportFile, ExportSource, join_unique
from synthmark.record.models import DemographicSummary, Metric, SynthmarkRecord, TrainingDataset
from synthmark.record.vocab import KnownLimitation, LifecycleStage
from synthmark.validation.config import MANIFEST_FILE

__all__ = ["CROISSANT_CONTEXT", "croissant_metadata", "write_croissant"]

CROISSANT_CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
RAI_NAMESPACE = "http://mlcommons.org/croissant/RAI/"
PROV_NAMESPACE = "http://www.w3.org/ns/prov#"

#: The Croissant 1.0 context, verbatim, so validators see no non-standard context.
CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": RAI_NAMESPACE,
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

#: Media types by file name ending; NIfTI has no registered type, ``.nii.gz`` is gzip.
_ENCODINGS: tuple[tuple[str, str], ...] = (
    (".nii.gz", "application/gzip"),
    (".nii", "application/octet-stream"),
    (".png", "image/png"),
    (".jpg", "image/jpeg"),
    (".jpeg", "image/jpeg"),
    (".tif", "image/tiff"),
    (".tiff", "image/tiff"),
    (".json", "application/json"),
)

#: Fields of the ``images`` RecordSet: (name, schema.org data type, description).
IMAGE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("path", "sc:Text", "Path of the image relative to the dataset root."),
    ("role", "sc:Text", "`real` or `synthetic`, as the synthmark manifest declares it."),
    ("synthetic", "sc:Boolean", "True when some or all of the image is artificial."),
    ("record_id", "sc:Text", "Id of the image's synthmark record (empty when none)."),
    (
        "digital_source_type",
        "sc:Text",
        "IPTC digital source type URI from the record (empty when none).",
    ),
    ("generator", "sc:Text", "Generator name and version (empty for real images)."),
    ("sha256", "sc:Text", "SHA-256 of the file's bytes."),
)


def _words(value: str) -> str:
    return value.replace("_", " ")


def _encoding(path: str) -> str:
    lower = path.lower()
    for ending, media_type in _ENCODINGS:
        if lower.endswith(ending):
            return media_type
    # Everything else synthmark reads by content is DICOM (often without an extension).
    return "application/dicom"


def _content_url(path: Path, relative: str, out_dir: Path, base_url: str | None) -> str:
    if base_url is not None:
        return base_url.rstrip("/") + "/" + urllib.parse.quote(relative)
    # mlcroissant resolves a relative contentUrl against the folder of the JSON-LD file.
    return Path(os.path.relpath(path.resolve(), out_dir.resolve())).as_posix()


def _demographics(summary: DemographicSummary) -> str:
    parts = [f"{summary.subjects} subjects"]
    for label, counts in (
        ("sex", summary.sex),
        ("age band", summary.age_band),
        ("ethnicity", summary.ethnicity),
        ("scanner manufacturer", summary.scanner_manufacturer),
    ):
        if counts:
            parts.append(f"{label}: " + ", ".join(f"{c.category} {c.count}" for c in counts))
    return "; ".join(parts)


def _training_dataset(dataset: TrainingDataset) -> str:
    text = (
        f"{dataset.name} {dataset.version} ({dataset.identifier}, licence {dataset.licence}); "
        f"consent basis: {_words(dataset.consent_basis.value)}"
    )
    if dataset.ethics_approval is not None:
        text += (
            f"; ethics approval {dataset.ethics_approval.board} {dataset.ethics_approval.reference}"
        )
    return text


def _deidentification(dataset: TrainingDataset) -> str:
    deid = dataset.deidentification
    text = f"{dataset.name}: de-identified with {_words(deid.profile.value)}"
    if deid.options:
        text += " (options: " + ", ".join(_words(o.value) for o in deid.options) + ")"
    if deid.tool:
        text += f" using {deid.tool}"
    return text


def _metric(metric: Metric) -> str:
    subgroup = (
        ""
        if metric.subgroup.attribute.value == "all"
        else f" [{_words(metric.subgroup.attribute.value)}={metric.subgroup.value}]"
    )
    unit = "" if metric.unit.value == "unitless" else f" {metric.unit.value}"
    return f"{metric.name.value} {metric.value:g}{unit}{subgroup} vs {metric.reference_dataset}"


def _attester(predicate: Any) -> str:
    return (
        f"attested by {predicate.attester.organisation} on "
        f"{predicate.attested_at.date().isoformat()}"
    )


def _sentences(parts: list[str]) -> str:
    return " ".join(p if p.endswith(".") else p + "." for p in parts if p)


class _Rai:
    """Builds the RAI prose from records and attestations (one method per property)."""

    def __init__(self, source: ExportSource) -> None:
        self.source = source
        self.manifest = source.manifest
        self.synthetic = source.synthetic_records()

    def _predicates(self, stage: LifecycleStage) -> list[Any]:
        return [a.predicate for a in self.source.attested(stage)]

    def data_collection(self) -> str:
        m = self.manifest
        real = m.total_count - m.synthetic_count
        parts = [
            f"{m.total_count} image files: {real} real acquisitions and {m.synthetic_count} "
            f"synthetic images ({m.synthetic_proportion:.1%}), as declared in the synthmark "
            f"manifest built on {m.created.date().isoformat()} by {m.publisher.organisation}"
        ]
        parts.extend(
            f"Synthetic images were generated by {gen.name} {gen.version} "
            f"({_words(gen.architecture.value)}, {gen.manufacturer})"
            for gen in self.source.generators()
        )
        datasets = self.source.training_data()
        if datasets:
            parts.append(
                "Generators were trained on: " + "; ".join(_training_dataset(d) for d in datasets)
            )
        for predicate in self._predicates(LifecycleStage.DATA_COLLECTION):
            assert isinstance(predicate, DataCollectionPredicate)
            sources = "; ".join(
                f"{s.name}"
                + (f" ({s.identifier})" if s.identifier else "")
                + f", consent basis {_words(s.consent_basis.value)}"
                for s in predicate.sources
            )
            text = f"Data collection ({_attester(predicate)}): sources {sources}"
            if predicate.ethics_approval is not None:
                text += (
                    f"; ethics approval {predicate.ethics_approval.board} "
                    f"{predicate.ethics_approval.reference}"
                )
            parts.append(text)
        return _sentences(parts)

    def preprocessing(self) -> str | None:
        parts: list[str] = []
        for predicate in self._predicates(LifecycleStage.DATA_PROCESSING):
            assert isinstance(predicate, DataProcessingPredicate)
            steps = "; ".join(
                f"{i}. {_words(s.operation.value)} ({s.tool})"
                for i, s in enumerate(predicate.steps, 1)
            )
            parts.append(f"Processing steps ({_attester(predicate)}): {steps}")
            deid = predicate.deidentification
            parts.append(
                f"De-identification: {_words(deid.profile.value)}"
                + (f" using {deid.tool}" if deid.tool else "")
            )
        ops = Counter(
            op.value
            for record in self.source.records()
            if record.derived_from is not None
            for op in record.derived_from.operations
        )
        if ops:
            parts.append(
                "Images derived from stamped parents (chain of custody in their records): "
                + ", ".join(f"{_words(op)} x{n}" for op, n in sorted(ops.items()))
            )
        datasets = self.source.training_data()
        if datasets:
            parts.append("Training data: " + "; ".join(_deidentification(d) for d in datasets))
        return _sentences(parts) or None

    def biases(self) -> str:
        parts: list[str] = []
        if self.synthetic:
            parts.append(
                "Synthetic images reproduce the distribution, and the biases, of the "
                "generators' training data (intrinsic limitation distribution_shift_and_bias)"
            )
        parts.extend(
            f"Training data {dataset.name} demographics: " + _demographics(dataset.demographics)
            for dataset in self.source.training_data()
            if dataset.demographics is not None
        )
        fairness = join_unique(
            _metric(m)
            for record in self.synthetic
            if record.evaluation is not None
            for m in record.evaluation.fairness
        )
        if fairness:
            parts.append("Fairness by subgroup: " + "; ".join(fairness))
        for predicate in self._predicates(LifecycleStage.DATA_COLLECTION):
            assert isinstance(predicate, DataCollectionPredicate)
            parts.append(
                f"Collected data ({_attester(predicate)}): "
                + _demographics(predicate.demographic_representation)
            )
            if predicate.underrepresented_groups:
                parts.append(
                    "Under-represented groups: " + ", ".join(predicate.underrepresented_groups)
                )
        for predicate in self._predicates(LifecycleStage.DATA_PROCESSING):
            assert isinstance(predicate, DataProcessingPredicate)
            bias = predicate.bias
            text = "Bias detection: " + ", ".join(_words(b.value) for b in bias.detection)
            text += "; mitigation: " + (
                ", ".join(_words(b.value) for b in bias.mitigation) or "none"
            )
            if bias.findings:
                text += f"; findings: {bias.findings}"
            parts.append(text)
        for predicate in self._predicates(LifecycleStage.MODEL_EVALUATION):
            assert isinstance(predicate, ModelEvaluationPredicate)
            parts.append(
                f"Generator evaluation ({_attester(predicate)}), fairness: "
                + "; ".join(_metric(m) for m in predicate.fairness)
            )
        if not parts:
            return "No bias analysis is recorded for this dataset."
        return _sentences(parts)

    def limitations(self) -> str:
        counted = Counter(
            limitation for record in self.synthetic for limitation in record.limitations
        )
        parts: list[str] = []
        if counted:
            parts.append(
                "Known limitations of the synthetic images (images affected): "
                + ", ".join(
                    f"{_words(lim.value)} ({n})"
                    for lim, n in sorted(counted.items(), key=lambda kv: kv[0].value)
                )
            )
            parts.append("Synthetic images depict no real patient and must not be read as findings")
        if KnownLimitation.NOT_CLINICALLY_VALIDATED not in counted and self.synthetic:
            parts.append("No clinical validation is recorded")
        if not parts:
            return "No synthetic images; limitations of the acquisitions are not recorded."
        return _sentences(parts)

    def personal_sensitive_information(self) -> str:
        parts = [
            "This metadata holds no patient identifiers, header values or pixels: only "
            "synthmark records (which hold no PHI), file paths and digests"
        ]
        parts.extend(
            f"Training data {dataset.name}: consent basis "
            f"{_words(dataset.consent_basis.value)}; " + _deidentification(dataset)
            for dataset in self.source.training_data()
        )
        privacy = join_unique(
            _privacy(record) for record in self.synthetic if record.privacy is not None
        )
        parts.extend(p for p in privacy if p)
        for predicate in self._predicates(LifecycleStage.DATA_COLLECTION):
            assert isinstance(predicate, DataCollectionPredicate)
            conf = predicate.confidentiality
            parts.append(
                f"Collection confidentiality ({_attester(predicate)}): de-identification "
                f"{_words(conf.deidentification.profile.value)}; storage "
                + ", ".join(_words(s.value) for s in conf.storage)
            )
        for predicate in self._predicates(LifecycleStage.MODEL_TRAINING):
            assert isinstance(predicate, ModelTrainingPredicate)
            parts.append(
                f"Training data consent ({_attester(predicate)}): "
                + "; ".join(
                    f"{t.name} {_words(t.consent_basis.value)}"
                    + (", documented" if t.consent_documented else ", not documented")
                    for t in predicate.training_data
                )
            )
        return _sentences(parts)

    def use_cases(self) -> str:
        intended = join_unique(
            _words(u.value)
            for r in self.synthetic
            if r.intended_use is not None
            for u in r.intended_use.intended
        )
        prohibited = join_unique(
            _words(u.value)
            for r in self.synthetic
            if r.intended_use is not None
            for u in r.intended_use.prohibited
        )
        parts: list[str] = []
        if intended:
            parts.append("Intended uses of the synthetic images: " + ", ".join(intended))
        if prohibited:
            parts.append("Prohibited uses: " + ", ".join(prohibited))
        if not parts:
            return "No intended uses are recorded."
        return _sentences(parts)

    def maintenance(self) -> str:
        m = self.manifest
        parts = [
            f"Version {m.version}, manifest built {m.created.isoformat()} by "
            f"{m.publisher.organisation}. Any change to the files requires rebuilding the "
            "synthmark manifest and this metadata; `synthmark manifest check` detects drift"
        ]
        for predicate in self._predicates(LifecycleStage.DEPLOYMENT):
            assert isinstance(predicate, DeploymentPredicate)
            mon = predicate.monitoring
            parts.append(
                f"Monitoring ({_attester(predicate)}): "
                + ", ".join(mon.metrics)
                + f"; reviewed every {mon.review_interval_days} days; incidents to "
                f"{mon.incident_contact}"
            )
        return _sentences(parts)

    def social_impact(self) -> str | None:
        parts: list[str] = []
        for predicate in self._predicates(LifecycleStage.DEPLOYMENT):
            assert isinstance(predicate, DeploymentPredicate)
            risk = predicate.risk
            parts.append(
                f"Risk assessment ({_words(risk.method.value)}): residual risk "
                f"{risk.residual_risk.value}, communicated to "
                + ", ".join(_words(s.value) for s in risk.communicated_to)
            )
        return _sentences(parts) or None

    def synthetic_explanation(self) -> str:
        m = self.manifest
        if not m.contains_synthetic:
            return "The dataset contains no synthetic images (synthmark manifest)."
        kinds = Counter(r.digital_source_type.term for r in self.synthetic)
        parts = [
            f"{m.synthetic_count} of {m.total_count} images ({m.synthetic_proportion:.1%}) "
            "are synthetic; the `synthetic` field of the `images` RecordSet says which. "
            "Digital source types: "
            + ", ".join(f"{term} ({n})" for term, n in sorted(kinds.items()))
        ]
        parts.extend(
            f"Generator {gen.name} {gen.version} by {gen.manufacturer}"
            for gen in self.source.generators()
        )
        parts.append(
            "Each synthetic image carries a synthmark record bound to its pixels by hash "
            "(and, when watermarked, an invisible watermark); verify with `synthmark validate`"
        )
        evaluation = join_unique(
            _metric(metric)
            for r in self.synthetic
            if r.evaluation is not None
            for metric in (*r.evaluation.fidelity, *r.evaluation.diversity)
        )
        if evaluation:
            parts.append("Evaluation: " + "; ".join(evaluation))
        for predicate in self._predicates(LifecycleStage.MODEL_EVALUATION):
            assert isinstance(predicate, ModelEvaluationPredicate)
            parts.append(
                f"Evaluation summary ({_attester(predicate)}): "
                + predicate.clinical_relevance.lay_summary
            )
        return _sentences(parts)


def _privacy(record: SynthmarkRecord) -> str:
    privacy = record.privacy
    if privacy is None:
        return ""
    parts = []
    if privacy.differential_privacy is not None:
        dp = privacy.differential_privacy
        parts.append(f"differential privacy epsilon={dp.epsilon:g}, delta={dp.delta:g}")
    if privacy.federated:
        parts.append("federated training")
    audit = privacy.memorisation_audit
    if audit is not None:
        parts.append(
            f"memorisation audit {_words(audit.method.value)} {audit.outcome.value} "
            f"(statistic {audit.statistic:g}, threshold {audit.threshold:g})"
        )
    return ("Generator privacy: " + "; ".join(parts)) if parts else ""


def _image_row(item: ExportFile) -> dict[str, Any]:
    record = item.record
    gen = record.generator if record is not None else None
    return {
        "images/path": item.entry.path,
        "images/role": item.entry.role.value,
        "images/synthetic": item.synthetic,
        "images/record_id": str(record.record_id) if record is not None else "",
        "images/digital_source_type": (
            record.digital_source_type.value if record is not None else ""
        ),
        "images/generator": f"{gen.name} {gen.version}" if gen is not None else "",
        "images/sha256": item.sha256,
    }


def croissant_metadata(
    source: ExportSource,
    *,
    out_dir: Path,
    base_url: str | None = None,
    license_id: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Build the Croissant 1.0 + RAI JSON-LD object of ``source``.

    Args:
        source: The dataset (see :func:`synthmark.publish.exports.load_export_source`).
        out_dir: Folder the JSON-LD will be written to; relative ``contentUrl`` values are
            relative to it (that is how mlcroissant resolves them).
        base_url: Where the dataset root is published; ``contentUrl`` then becomes
            ``base_url/path`` instead of a relative path.
        license_id: Licence of the dataset (SPDX id or URL); Croissant recommends one.
        description: Dataset description; a summary of the mix by default.

    Returns:
        A JSON-serialisable dict.
    """
    m = source.manifest
    rai = _Rai(source)
    distribution: list[dict[str, Any]] = [
        {
            "@type": "cr:FileObject",
            "@id": "synthmark-manifest",
            "name": "synthmark-manifest",
            "description": "The synthmark dataset manifest: every image's role, content "
            "binding digest and record id (spec/synthmark.md section 10).",
            "contentUrl": _content_url(
                source.root / MANIFEST_FILE,
                MANIFEST_FILE,
                out_dir,
                base_url,
            ),
            "contentSize": f"{source.manifest_size} B",
            "encodingFormat": "application/json",
            "sha256": source.manifest_sha256,
        }
    ]
    for index, attestation in enumerate(source.attestations):
        ref = attestation.reference
        assert ref.path is not None
        distribution.append(
            {
                "@type": "cr:FileObject",
                "@id": f"attestation-{index}",
                "name": f"attestation-{index}",
                "description": f"DSSE envelope of the {_words(ref.stage.value)} attestation "
                "(in-toto Statement v1; verify with `synthmark attest verify`).",
                "contentUrl": _content_url(source.root / ref.path, ref.path, out_dir, base_url),
                "contentSize": f"{attestation.size} B",
                "encodingFormat": "application/json",
                "sha256": ref.envelope_sha256,
            }
        )
    for index, item in enumerate(source.files):
        path = item.entry.path
        distribution.append(
            {
                "@type": "cr:FileObject",
                "@id": f"image-{index}",
                "name": f"image-{index}",
                "description": f"{item.entry.role.value} image {path}",
                "contentUrl": _content_url(source.root / path, path, out_dir, base_url),
                "contentSize": f"{item.size} B",
                "encodingFormat": _encoding(path),
                "sha256": item.sha256,
            }
        )
    fields = [
        {
            "@type": "cr:Field",
            "@id": f"images/{name}",
            "name": name,
            "description": text,
            "dataType": data_type,
        }
        for name, data_type, text in IMAGE_FIELDS
    ]
    record_sets: list[dict[str, Any]] = []
    if source.files:
        # Inline records: Croissant's extraction languages cannot turn the manifest's
        # role strings into booleans, and inline data keeps the export a single file.
        record_sets.append(
            {
                "@type": "cr:RecordSet",
                "@id": "images",
                "name": "images",
                "description": "One record per image file; `synthetic` is the "
                "acknowledgment of synthetic content.",
                "key": {"@id": "images/path"},
                "field": fields,
                "data": [_image_row(item) for item in source.files],
            }
        )
    doc: dict[str, Any] = {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "name": m.name,
        "description": description
        or (
            f"{m.name}: {m.total_count} medical images, of which {m.synthetic_count} are "
            f"synthetic ({m.synthetic_proportion:.1%}). Exported from its synthmark manifest."
        ),
        "conformsTo": CROISSANT_CONFORMS_TO,
        "version": m.version,
        "datePublished": m.created.isoformat(),
        "publisher": {"@type": "sc:Organization", "name": m.publisher.organisation},
        "creator": {"@type": "sc:Organization", "name": m.publisher.organisation},
        "isAccessibleForFree": True,
        "citeAs": _cite_as(source),
        "rai:hasSyntheticData": m.contains_synthetic,
        "rai:syntheticDataExplanation": rai.synthetic_explanation(),
        "rai:dataCollection": rai.data_collection(),
        "rai:dataBiases": rai.biases(),
        "rai:dataLimitations": rai.limitations(),
        "rai:personalSensitiveInformation": rai.personal_sensitive_information(),
        "rai:dataUseCases": rai.use_cases(),
        "rai:dataReleaseMaintenancePlan": rai.maintenance(),
        "distribution": distribution,
        "recordSet": record_sets,
    }
    if m.publisher.contact_url is not None:
        doc["publisher"]["url"] = str(m.publisher.contact_url)
    if license_id is not None:
        doc["license"] = license_id
    if base_url is not None:
        doc["url"] = base_url
    preprocessing = rai.preprocessing()
    if preprocessing is not None:
        doc["rai:dataPreprocessingProtocol"] = preprocessing
    social = rai.social_impact()
    if social is not None:
        doc["rai:dataSocialImpact"] = social
    # PROV-O by full IRI (no extra @context prefix, which validators flag as non-standard).
    derived = join_unique(_identifier_url(d.identifier) for d in source.training_data())
    if derived:
        doc[PROV_NAMESPACE + "wasDerivedFrom"] = [{"@id": url} for url in derived]
    generated_by = [f"{gen.name} {gen.version} ({gen.manufacturer})" for gen in source.generators()]
    generated_by.append(f"synthmark {__version__} (export)")
    doc[PROV_NAMESPACE + "wasGeneratedBy"] = generated_by
    return doc


def _cite_as(source: ExportSource) -> str:
    # A minimal BibTeX entry from what the manifest says; publishers can replace it.
    m = source.manifest
    key = re.sub(r"[^A-Za-z0-9]+", "_", m.name).strip("_").lower() or "dataset"

    def escape(text: str) -> str:
        return re.sub(r"([{}\\])", r"\\\1", text)

    return (
        f"@misc{{{key}_{m.created.year}, title={{{escape(m.name)}}}, "
        f"author={{{{{escape(m.publisher.organisation)}}}}}, year={{{m.created.year}}}, "
        f"note={{Version {escape(m.version)}}}}}"
    )


def _identifier_url(identifier: str) -> str:
    # DOIs become resolvable URLs so that the reference is a dereferenceable IRI.
    if identifier.startswith("doi:"):
        return "https://doi.org/" + identifier[len("doi:") :]
    return identifier


def write_croissant(
    source: ExportSource,
    dest: Path,
    *,
    base_url: str | None = None,
    license_id: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Write the Croissant JSON-LD of ``source`` to ``dest`` atomically and return it.

    Raises:
        WriteFailedError: when ``dest`` cannot be written.
    """
    from synthmark.carriers.atomic import atomic_write_bytes

    doc = croissant_metadata(
        source,
        out_dir=dest.parent,
        base_url=base_url,
        license_id=license_id,
        description=description,
    )
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(dest, text.encode("utf-8"))
    return doc
