"""Validation results as values: findings, per-file facts and the report.

Nothing here prints; reporters (``synthmark.validation.reporters``) render a
:class:`Report` as text, JSON, SARIF, JUnit or HTML. The JSON form
(:meth:`Report.to_json`) is stable and has a schema (``schema/report.v1.schema.json``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from synthmark.rules.catalogue import Severity as Severity  # re-exported: the report names it

REPORT_FORMAT_VERSION = "1.0"


@dataclass(frozen=True)
class Finding:
    """One rule violation at one place.

    Attributes:
        code: The rule's stable code, e.g. ``SM501``.
        name: The rule's readable name, e.g. ``unacknowledged-synthetic-image``.
        severity: Effective severity (after configuration).
        path: Dataset-relative path of the file (or a stable hash with ``--redact-paths``);
            ``None`` for dataset-level findings.
        message: What is wrong here, without patient-identifying header values.
    """

    code: str
    name: str
    severity: Severity
    path: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with stable keys."""
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "path": self.path,
            "message": self.message,
        }


@dataclass(frozen=True)
class WatermarkFacts:
    """What detection found in one file.

    Attributes:
        detected: Whether the decision at the configured FPR is positive.
        p_value: Bound on the probability of this statistic on an unmarked image.
        z: The detection statistic.
        key_id: Id of the key that matched (``None`` when not detected).
        payload_record_prefix: Record-id prefix decoded from the payload, hex, if decoded.
    """

    detected: bool
    p_value: float
    z: float
    key_id: str | None = None
    payload_record_prefix: str | None = None


@dataclass(frozen=True)
class FileFacts:
    """Everything the rules need to know about one file, gathered in one pass.

    Small and picklable on purpose: pixel arrays never leave the worker that decoded them.

    Attributes:
        path: Dataset-relative POSIX path (before redaction).
        format: Carrier name, or ``None`` when the file could not be identified.
        size: File size in bytes.
        error_code: The SMX code when the file could not be read or decoded.
        error_message: Its one-line message.
        record_present: Whether a record was found.
        record_source: ``embedded`` or ``sidecar``.
        record_id: Record id, when the record parsed.
        synthetic: What the record says, when it parsed.
        source_type: The record's IPTC term, when it parsed.
        record_problems: ``(location, message)`` pairs of an invalid record.
        record_unparseable: True when the record bytes are not JSON.
        sidecar_disagrees: True when embedded and sidecar records differ.
        standard_label: What standard fields say (DICOM Synthetic Data), if anything.
        binding: ``pass``, ``fail``, ``absent`` (no binding in the record) or
            ``not_checked`` (header-only mode, or no record).
        pixel_xxh3_128: Content binding digest of the pixels, when decoded.
        pixel_sha256: Content binding SHA-256, when decoded.
        megapixels: Decoded samples / 1e6, when decoded.
        record_watermark_key_id: Key id in the record's watermark descriptor.
        watermark: Detection result, when detection ran.
        signature: State of a signed record: ``trusted``, ``unverified`` (no trust file),
            ``bad``, ``malformed`` or ``untrusted``; None when the record is unsigned.
        signature_message: Why, for the bad states.
        credentials: ``pass`` or ``fail`` for a PNG/JPEG with C2PA Content Credentials;
            None without them.
        credentials_message: Why, for ``fail``.
        thumbnail_png: A small PNG of the image (only when requested, and only for images
            flagged synthetic unless real thumbnails were explicitly allowed).
    """

    path: str
    format: str | None = None
    size: int = 0
    error_code: str | None = None
    error_message: str | None = None
    record_present: bool = False
    record_source: str | None = None
    record_id: str | None = None
    synthetic: bool | None = None
    source_type: str | None = None
    record_problems: tuple[tuple[str, str], ...] = ()
    record_unparseable: bool = False
    sidecar_disagrees: bool = False
    standard_label: bool | None = None
    binding: str = "not_checked"
    pixel_xxh3_128: str | None = None
    pixel_sha256: str | None = None
    megapixels: float = 0.0
    record_watermark_key_id: str | None = None
    watermark: WatermarkFacts | None = None
    signature: str | None = None
    signature_message: str | None = None
    credentials: str | None = None
    credentials_message: str | None = None
    thumbnail_png: bytes | None = field(default=None, repr=False)

    @property
    def acknowledged_synthetic(self) -> bool:
        """True when the file itself says it is synthetic (record or standard field)."""
        return self.synthetic is True or self.standard_label is True


@dataclass(frozen=True)
class DatasetSummary:
    """Counts over the dataset as found (not as declared).

    Attributes:
        files: Image files examined.
        unreadable: Files that could not be read or decoded.
        synthetic_acknowledged: Files that say they are synthetic.
        watermarked: Files in which the watermark was detected.
        real_or_unlabelled: The rest.
        megapixels: Total decoded megapixels.
    """

    files: int = 0
    unreadable: int = 0
    synthetic_acknowledged: int = 0
    watermarked: int = 0
    real_or_unlabelled: int = 0
    megapixels: float = 0.0


@dataclass(frozen=True)
class Thumbnail:
    """An image shown in the HTML report beside its detection score.

    Attributes:
        path: Dataset-relative (or redacted) path.
        png: PNG bytes (small, 8-bit).
        z: Detection statistic, if detection ran.
        p_value: Detection p-value bound, if detection ran.
        synthetic: Whether the file is acknowledged synthetic.
    """

    path: str
    png: bytes
    z: float | None
    p_value: float | None
    synthetic: bool


@dataclass(frozen=True)
class Report:
    """The result of a validation run.

    Attributes:
        findings: Every finding, sorted by (path, code).
        summary: Counts over the dataset.
        rules_run: Codes of the rules that ran.
        rules_not_run: Codes selected but not run, with the reason (e.g. header-only mode).
        roots: The dataset roots given (redacted like paths when requested).
        policy: Name of the policy used, if any.
        strict: Whether warnings count as errors.
        duration_s: Wall-clock seconds.
        thumbnails: Images for the HTML report.
        internal_errors: Files on which synthmark itself failed (a bug, not a verdict).
    """

    findings: tuple[Finding, ...]
    summary: DatasetSummary
    rules_run: tuple[str, ...]
    rules_not_run: tuple[tuple[str, str], ...] = ()
    roots: tuple[str, ...] = ()
    policy: str | None = None
    strict: bool = False
    duration_s: float = 0.0
    thumbnails: tuple[Thumbnail, ...] = ()
    internal_errors: int = 0

    def counts_by_code(self) -> dict[str, int]:
        """Number of findings per rule code, sorted by code."""
        return dict(sorted(Counter(f.code for f in self.findings).items()))

    def counts_by_severity(self) -> dict[str, int]:
        """Number of findings per severity (all three keys present)."""
        counts = Counter(f.severity.value for f in self.findings)
        return {s.value: counts.get(s.value, 0) for s in Severity}

    @property
    def failed(self) -> bool:
        """True when the run should exit 1: any error, or any warning under ``strict``."""
        worst = Severity.WARNING if self.strict else Severity.ERROR
        return any(f.severity.rank >= worst.rank for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (``schema/report.v1.schema.json``); no thumbnails."""
        return {
            "report_format": REPORT_FORMAT_VERSION,
            "tool": {"name": "synthmark", "version": _version()},
            "roots": list(self.roots),
            "policy": self.policy,
            "strict": self.strict,
            "failed": self.failed,
            "duration_s": round(self.duration_s, 3),
            "summary": {
                "files": self.summary.files,
                "unreadable": self.summary.unreadable,
                "synthetic_acknowledged": self.summary.synthetic_acknowledged,
                "watermarked": self.summary.watermarked,
                "real_or_unlabelled": self.summary.real_or_unlabelled,
                "megapixels": round(self.summary.megapixels, 3),
            },
            "counts": {
                "by_severity": self.counts_by_severity(),
                "by_code": self.counts_by_code(),
            },
            "rules_run": list(self.rules_run),
            "rules_not_run": [{"code": c, "reason": r} for c, r in self.rules_not_run],
            "findings": [f.to_json() for f in self.findings],
        }


def _version() -> str:
    from synthmark import __version__

    return __version__
