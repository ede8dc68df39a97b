"""The synthmark record and dataset manifest (spec/synthmark.md sections 4-5 and 10).

Pure models: no I/O, no pydicom, no torch. Every model is frozen and forbids unknown
fields, so a typo in a hand-written record is an error rather than silently ignored.
Cross-field rules (synthetic vs. source type, composites naming their source, counts in a
manifest) are validators here *and*, where JSON Schema can express them, conditionals in
the generated schema, so pydantic and an independent JSON Schema validator agree.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AnyUrl,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

from synthmark.record.vocab import (
    COMPOSITE_SOURCE_TYPES,
    INTRINSIC_LIMITATIONS,
    SYNTHETIC_SOURCE_TYPES,
    TRAINED_SOURCE_TYPES,
    AccessLevel,
    ArchitectureFamily,
    Audience,
    AuditOutcome,
    ConditioningKind,
    ConsentBasis,
    CreatorRole,
    DeidentificationOption,
    DeidentificationProfile,
    DerivationOperation,
    DigitalSourceType,
    DownstreamTask,
    FileRole,
    KnownLimitation,
    LifecycleStage,
    MemorisationAuditMethod,
    MetricName,
    MetricUnit,
    Modality,
    PixelRepresentation,
    ProhibitedUse,
    SubgroupAttribute,
    UseCase,
)

#: The spec version this library writes and fully understands.
SPEC_VERSION = "1.0"
#: Spec versions this library accepts when reading.
SUPPORTED_SPEC_VERSIONS = ("1.0",)
SCHEMA_BASE_URI = "https://synthmark.org/schema"

Sha256Hex = Annotated[
    str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, 64 lowercase hex digits.")
]
Xxh3Hex = Annotated[
    str, Field(pattern=r"^[0-9a-f]{32}$", description="XXH3-128, 32 lowercase hex digits.")
]
ShortText = Annotated[str, Field(min_length=1, max_length=256)]
LongText = Annotated[str, Field(min_length=1, max_length=4000)]
KeyId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$", description="16 lowercase hex digits.")]
DicomUid = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=64)]
SpdxLicence = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9.+\-]+( (AND|OR|WITH) [A-Za-z0-9.+\-]+)*$",
        max_length=128,
        description="SPDX licence expression, e.g. `CC-BY-4.0`, or `LicenseRef-...`.",
    ),
]
DatasetIdentifier = Annotated[
    str,
    Field(
        pattern=r"^(doi:10\.[0-9]{4,9}/\S+|https?://\S+|urn:\S+)$",
        max_length=512,
        description="A DOI (`doi:10.xxxx/...`), an http(s) URL or a URN.",
    ),
]
BodyPart = Annotated[
    str,
    Field(
        pattern=r"^[A-Z0-9_ ]{1,16}$",
        description="DICOM Body Part Examined (0018,0015) defined term, e.g. `CHEST`.",
    ),
]


_RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339_text(value: object) -> object:
    # pydantic would also take Unix numbers or a space separator; records are exchanged
    # between implementations, so only the RFC 3339 text form with an offset is accepted.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if not isinstance(value, str) or re.fullmatch(_RFC3339, value) is None:
        raise ValueError(
            "must be an RFC 3339 timestamp with a UTC offset, e.g. 2026-11-20T09:30:00Z"
        )
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    Field(json_schema_extra={"pattern": _RFC3339}),
]


def _is_safe_relative_path(value: str) -> str:
    if "\\" in value or "\x00" in value:
        raise ValueError("manifest paths use '/' separators and no NUL")
    path = PurePosixPath(value)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"manifest path {value!r} must be relative to the dataset root")
    if any(part in ("..", "") for part in value.split("/")) or value in (".", ""):
        raise ValueError(f"manifest path {value!r} must not escape the dataset root")
    return value


DatasetPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=4096,
        pattern=r"^(?![A-Za-z]:)(?!/)(?!.*(^|/)\.\.(/|$))(?!.*//)[^\\\x00]+$",
        description="POSIX path relative to the dataset root; never absolute, never `..`.",
    ),
    AfterValidator(_is_safe_relative_path),
]


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        use_enum_values=False,
        str_strip_whitespace=False,
        validate_default=True,
    )


class Creator(_Model):
    """The organisation that issued the record, by role. Never a person or a patient."""

    organisation: ShortText = Field(description="Name of the issuing organisation.")
    role: CreatorRole = Field(description="The organisation's role for this record.")
    contact_url: AnyUrl | None = Field(
        default=None, description="Where to ask about the record (an institutional page)."
    )


class ImageGeometry(_Model):
    """Summary of the image's array geometry (no patient position or orientation)."""

    shape: list[PositiveInt] = Field(
        min_length=2, max_length=7, description="Size of each axis, in the carrier's order."
    )
    spacing_mm: list[Annotated[float, Field(gt=0)]] | None = Field(
        default=None, description="Physical spacing per spatial axis in millimetres."
    )
    samples_per_pixel: Literal[1, 3, 4] = Field(default=1, description="Channels per pixel.")
    bits_stored: Annotated[int, Field(ge=1, le=64)] = Field(
        description="Significant bits per sample."
    )
    pixel_representation: PixelRepresentation = Field(description="Sample encoding.")


class CodeReference(_Model):
    """Where the generator's code lives, pinned to a revision."""

    url: AnyUrl = Field(description="Repository or archive URL.")
    revision: ShortText = Field(description="Commit, tag or archive digest.")


class SamplingParameters(_Model):
    """How this image was sampled from the generator (enough to reproduce it)."""

    seed: NonNegativeInt | None = Field(default=None, description="Random seed.")
    steps: PositiveInt | None = Field(default=None, description="Sampling/denoising steps.")
    guidance_scale: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="Classifier-free guidance scale."
    )
    sampler: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.+\-]{1,64}$")] | None = Field(
        default=None, description="Sampler identifier, e.g. `ddim`, `dpmpp_2m`."
    )
    temperature: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="Sampling temperature (autoregressive models)."
    )


class SourceReference(_Model):
    """An image this one was made from (a composite's real source, a conditioning image)."""

    record_id: UUID | None = Field(default=None, description="The source's synthmark record id.")
    pixel_sha256: Sha256Hex | None = Field(
        default=None, description="The source's content binding SHA-256 (section 6)."
    )
    dicom_sop_instance_uid: DicomUid | None = Field(
        default=None, description="The source's SOP Instance UID, for DICOM sources."
    )

    @model_validator(mode="after")
    def _names_something(self) -> Self:
        if (
            self.record_id is None
            and self.pixel_sha256 is None
            and (self.dicom_sop_instance_uid is None)
        ):
            raise ValueError(
                "a source reference needs record_id, pixel_sha256 or dicom_sop_instance_uid"
            )
        return self


class Conditioning(_Model):
    """What the generator was conditioned on."""

    kind: ConditioningKind = Field(description="Kind of conditioning.")
    class_labels: list[ShortText] = Field(
        default_factory=list, description="Class labels, for class conditioning."
    )
    text_prompt: LongText | None = Field(
        default=None, description="Text prompt, for text conditioning (must hold no PHI)."
    )
    sources: list[SourceReference] = Field(
        default_factory=list,
        description="Source images (required for source-image conditioning and composites).",
    )

    @model_validator(mode="after")
    def _kind_has_its_data(self) -> Self:
        if self.kind is ConditioningKind.CLASS_LABEL and not self.class_labels:
            raise ValueError("class_label conditioning needs class_labels")
        if self.kind is ConditioningKind.TEXT and self.text_prompt is None:
            raise ValueError("text conditioning needs text_prompt")
        if self.kind is ConditioningKind.SOURCE_IMAGE and not self.sources:
            raise ValueError("source_image conditioning needs sources")
        return self


#: Architectures that learn weights from data: their weights digest is required.
TRAINED_ARCHITECTURES: frozenset[ArchitectureFamily] = frozenset(
    {
        ArchitectureFamily.DIFFUSION,
        ArchitectureFamily.GAN,
        ArchitectureFamily.VAE,
        ArchitectureFamily.AUTOREGRESSIVE,
        ArchitectureFamily.FLOW,
    }
)


class Generator(_Model):
    """The system that made the synthetic content."""

    name: ShortText = Field(description="Generator (model) name.")
    version: ShortText = Field(description="Generator version.")
    manufacturer: ShortText = Field(description="Organisation that built the generator.")
    architecture: ArchitectureFamily = Field(description="Architecture family.")
    weights_sha256: Sha256Hex | None = Field(
        default=None,
        description="SHA-256 of the weights file(s); required for trained architectures "
        "(diffusion, GAN, VAE, autoregressive, flow).",
    )
    code: CodeReference | None = Field(default=None, description="Source code reference.")
    sampling: SamplingParameters | None = Field(default=None, description="Sampling settings.")
    conditioning: Conditioning = Field(description="What generation was conditioned on.")

    @model_validator(mode="after")
    def _weights_for_trained(self) -> Self:
        if self.weights_sha256 is None and self.architecture in TRAINED_ARCHITECTURES:
            raise ValueError(
                "weights_sha256 is required for a trained generator "
                f"(architecture {self.architecture.value!r})"
            )
        return self


class EthicsApproval(_Model):
    """Ethics board approval of a dataset's collection or use."""

    board: ShortText = Field(description="Name of the ethics board / IRB.")
    reference: ShortText = Field(description="Approval reference number.")
    date: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] | None = Field(
        default=None, description="Approval date, ISO 8601 (YYYY-MM-DD)."
    )


class Deidentification(_Model):
    """How a training dataset was de-identified."""

    profile: DeidentificationProfile = Field(description="De-identification method.")
    options: list[DeidentificationOption] = Field(
        default_factory=list, description="PS3.15 profile options applied (CID 7050)."
    )
    tool: ShortText | None = Field(default=None, description="Tool and version used.")


class CategoryCount(_Model):
    """How many subjects of a dataset fall in one category."""

    category: ShortText = Field(description="Category label, e.g. `female`, `40-49`.")
    count: NonNegativeInt = Field(description="Number of subjects.")


class DemographicSummary(_Model):
    """Aggregate demographics of a training dataset (never per-subject data)."""

    subjects: PositiveInt = Field(description="Number of subjects.")
    sex: list[CategoryCount] = Field(default_factory=list, description="Counts by sex.")
    age_band: list[CategoryCount] = Field(default_factory=list, description="Counts by age band.")
    ethnicity: list[CategoryCount] = Field(
        default_factory=list, description="Counts by self-reported ethnicity."
    )
    scanner_manufacturer: list[CategoryCount] = Field(
        default_factory=list, description="Counts by scanner manufacturer."
    )


class TrainingDataset(_Model):
    """One dataset the generator was trained on."""

    name: ShortText = Field(description="Dataset name.")
    version: ShortText = Field(description="Dataset version.")
    identifier: DatasetIdentifier = Field(description="DOI, URL or URN of the dataset.")
    licence: SpdxLicence = Field(description="SPDX licence expression.")
    consent_basis: ConsentBasis = Field(description="Basis on which the images were used.")
    deidentification: Deidentification = Field(description="De-identification applied.")
    ethics_approval: EthicsApproval | None = Field(
        default=None, description="Ethics approval; required unless public domain."
    )
    demographics: DemographicSummary | None = Field(
        default=None, description="Aggregate demographics, when known."
    )

    @model_validator(mode="after")
    def _approval_unless_public(self) -> Self:
        if (
            self.ethics_approval is None
            and self.consent_basis is ConsentBasis.WAIVER_BY_ETHICS_BOARD
        ):
            raise ValueError("consent_basis waiver_by_ethics_board needs ethics_approval")
        return self


class DifferentialPrivacy(_Model):
    """Differential-privacy guarantee of the training."""

    epsilon: Annotated[float, Field(gt=0)] = Field(description="Privacy budget epsilon.")
    delta: Annotated[float, Field(ge=0, lt=1)] = Field(description="Privacy parameter delta.")


class MemorisationAudit(_Model):
    """A check that generated images do not reproduce training images."""

    method: MemorisationAuditMethod = Field(description="Audit method.")
    metric: MetricName | None = Field(default=None, description="Similarity metric, if standard.")
    threshold: float = Field(description="Decision threshold on the audit statistic.")
    statistic: float = Field(description="Worst-case value observed.")
    outcome: AuditOutcome = Field(description="Whether the audit passed.")
    reference_dataset: ShortText = Field(description="Training set compared against.")


class Privacy(_Model):
    """Privacy protections of the generator's training."""

    differential_privacy: DifferentialPrivacy | None = Field(
        default=None, description="DP guarantee, if trained with DP."
    )
    federated: bool = Field(default=False, description="Whether training was federated.")
    memorisation_audit: MemorisationAudit | None = Field(
        default=None, description="Memorisation audit result."
    )


class IntendedUse(_Model):
    """What the image is and is not for."""

    intended: list[UseCase] = Field(min_length=1, description="Intended uses.")
    prohibited: list[ProhibitedUse] = Field(default_factory=list, description="Prohibited uses.")

    @model_validator(mode="after")
    def _no_duplicates(self) -> Self:
        if len(set(self.intended)) != len(self.intended) or len(set(self.prohibited)) != len(
            self.prohibited
        ):
            raise ValueError("intended and prohibited uses must not repeat")
        return self


class Subgroup(_Model):
    """The population a metric was computed on."""

    attribute: SubgroupAttribute = Field(description="Stratifying attribute (`all` = overall).")
    value: ShortText = Field(description="Attribute value, e.g. `female`; `all` for overall.")


class Metric(_Model):
    """One measured number, always with its unit, reference dataset and subgroup."""

    name: MetricName = Field(description="Metric.")
    value: float = Field(description="Measured value.")
    unit: MetricUnit = Field(description="Unit of value.")
    reference_dataset: ShortText = Field(description="Real dataset the metric is against.")
    subgroup: Subgroup = Field(description="Population the metric was computed on.")

    @model_validator(mode="after")
    def _finite(self) -> Self:
        if not math.isfinite(self.value):
            raise ValueError("metric value must be finite")
        return self


class UtilityResult(_Model):
    """Downstream utility: the same task trained on real-only and on mixed data."""

    task: DownstreamTask = Field(description="Downstream task.")
    real_only: Metric = Field(description="Result when trained on real images only.")
    mixed: Metric = Field(description="Result when trained on real + synthetic images.")
    synthetic_proportion: Annotated[float, Field(gt=0, le=1)] = Field(
        description="Synthetic share of the mixed training set (alpha), 0 < alpha <= 1."
    )

    @model_validator(mode="after")
    def _comparable(self) -> Self:
        if (self.real_only.name, self.real_only.unit) != (self.mixed.name, self.mixed.unit):
            raise ValueError("real_only and mixed must use the same metric and unit")
        return self


class Evaluation(_Model):
    """How the generator's output was evaluated."""

    fidelity: list[Metric] = Field(default_factory=list, description="Fidelity metrics.")
    diversity: list[Metric] = Field(default_factory=list, description="Diversity metrics.")
    utility: list[UtilityResult] = Field(default_factory=list, description="Downstream utility.")
    fairness: list[Metric] = Field(
        default_factory=list, description="Metrics per subgroup, to show disparities."
    )


class AudienceAccess(_Model):
    """Access an audience has to the image (seed 003, table 1)."""

    audience: Audience = Field(description="Audience.")
    level: AccessLevel = Field(description="Access level granted.")
    conditions: LongText | None = Field(
        default=None, description="Conditions for limited access (agreement, DUA)."
    )


class AttestationReference(_Model):
    """A lifecycle attestation (DSSE envelope) this record or manifest relies on, by digest."""

    # The path pattern needs look-ahead, which pydantic's default Rust regex engine lacks.
    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")

    stage: LifecycleStage = Field(description="Lifecycle stage attested.")
    envelope_sha256: Sha256Hex = Field(description="SHA-256 of the envelope file's bytes.")
    path: DatasetPath | None = Field(
        default=None,
        description="Envelope file, relative to the folder of the manifest (or image).",
    )
    uri: AnyUrl | None = Field(default=None, description="Where the envelope can be fetched.")


class SignatureEntry(_Model):
    """One DSSE signature: the signing key's id and the base64 signature."""

    keyid: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="SHA-256 of the signer's DER SubjectPublicKeyInfo."
    )
    sig: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/=_-]{1,2048}$")] = Field(
        description="Base64 signature over the DSSE PAE of the record payload."
    )


class RecordSignature(_Model):
    """An embedded DSSE signature over the record without this field (attestations §8)."""

    payloadType: Literal["application/vnd.synthmark.record+json"] = Field(
        description="DSSE payload type of the signed record."
    )
    signatures: list[SignatureEntry] = Field(
        min_length=1, max_length=16, description="Signatures, by key id."
    )


class ContentBinding(_Model):
    """Digests of the decoded pixels (section 6), filled by `synthmark stamp`."""

    algorithm: Literal["synthmark-pixels/1"] = Field(description="Binding algorithm.")
    xxh3_128: Xxh3Hex = Field(description="XXH3-128 of the canonical pixel content.")
    sha256: Sha256Hex = Field(description="SHA-256 of the canonical pixel content.")


class WatermarkDescriptor(_Model):
    """The invisible watermark embedded in the pixels (section 7)."""

    scheme: Literal["synthmark-wm/1"] = Field(description="Watermark scheme.")
    key_id: KeyId = Field(description="Id of the embedding key.")
    payload_hex: Annotated[str, Field(pattern=r"^[0-9a-f]{16,64}$")] = Field(
        description="Embedded payload bits, hex."
    )
    strength: Annotated[float, Field(gt=0, le=16)] = Field(description="Embedding strength used.")


class Derivation(_Model):
    """How this image was derived from a stamped parent (chain of custody)."""

    parent_record_id: UUID = Field(description="The parent's record id.")
    parent_pixel_sha256: Sha256Hex | None = Field(
        default=None, description="The parent's content binding SHA-256."
    )
    operations: list[DerivationOperation] = Field(
        min_length=1, description="Operations applied, in order."
    )


def _spec_version(value: str) -> str:
    if value not in SUPPORTED_SPEC_VERSIONS:
        raise ValueError(
            f"unknown spec_version {value!r}; this implementation reads "
            + ", ".join(SUPPORTED_SPEC_VERSIONS)
        )
    return value


SpecVersion = Annotated[
    str,
    Field(pattern=r"^1\.0$", description="Version of this specification the record follows."),
    AfterValidator(_spec_version),
]


def add_record_schema_rules(schema: dict[str, Any]) -> None:
    """Add the cross-field rules JSON Schema can express, so both validators agree.

    Applied by :mod:`synthmark.specgen.schema` after generation (pydantic cannot resolve refs in
    ``json_schema_extra``).
    """
    synthetic = sorted(t.value for t in SYNTHETIC_SOURCE_TYPES)
    real = sorted(t.value for t in DigitalSourceType if t not in SYNTHETIC_SOURCE_TYPES)
    trained = sorted(t.value for t in TRAINED_SOURCE_TYPES)
    composite = sorted(t.value for t in COMPOSITE_SOURCE_TYPES)
    intrinsic = sorted(limitation.value for limitation in INTRINSIC_LIMITATIONS)
    generator = schema.get("$defs", {}).get("Generator")
    if generator is not None:
        generator["allOf"] = [
            {
                "if": {
                    "properties": {
                        "architecture": {"enum": sorted(a.value for a in TRAINED_ARCHITECTURES)}
                    },
                    "required": ["architecture"],
                },
                "then": {
                    "required": ["weights_sha256"],
                    "properties": {"weights_sha256": {"type": "string"}},
                },
            }
        ]
    schema["allOf"] = [
        {
            "if": {"properties": {"synthetic": {"const": True}}, "required": ["synthetic"]},
            "then": {
                "properties": {
                    "digital_source_type": {"enum": synthetic},
                    "limitations": {"allOf": [{"contains": {"const": v}} for v in intrinsic]},
                },
                "required": ["generator", "intended_use"],
            },
            "else": {
                "properties": {
                    "digital_source_type": {"enum": real},
                    "generator": {"type": "null"},
                    "training_data": {"maxItems": 0},
                }
            },
        },
        {
            "if": {
                "properties": {"digital_source_type": {"enum": trained}},
                "required": ["digital_source_type"],
            },
            "then": {"properties": {"training_data": {"minItems": 1}}},
        },
        {
            "if": {
                "properties": {"digital_source_type": {"enum": composite}},
                "required": ["digital_source_type"],
            },
            "then": {
                "properties": {
                    "generator": {
                        "properties": {
                            "conditioning": {
                                "properties": {"sources": {"minItems": 1}},
                                "required": ["sources"],
                            }
                        }
                    }
                }
            },
        },
    ]


class SynthmarkRecord(_Model):
    """One image's provenance record: what it is, who made it, from what, and for what."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        title="synthmark record",
    )

    spec_version: SpecVersion = Field(description="Specification version (`1.0`).")
    record_id: UUID = Field(description="Unique id of this record (UUID, v4 recommended).")
    created: Timestamp = Field(description="When the record was made, with a UTC offset.")
    creator: Creator = Field(description="Issuing organisation, by role.")
    synthetic: bool = Field(description="Whether some or all of the content is artificial.")
    digital_source_type: DigitalSourceType = Field(
        description="IPTC digital source type URI; must agree with `synthetic`."
    )
    modality: Modality = Field(description="DICOM modality code of what the image depicts.")
    body_part: BodyPart | None = Field(default=None, description="Body part depicted.")
    geometry: ImageGeometry | None = Field(default=None, description="Array geometry summary.")
    generator: Generator | None = Field(
        default=None, description="The generator; required when synthetic, absent when real."
    )
    training_data: list[TrainingDataset] = Field(
        default_factory=list,
        description="Training datasets; at least one for trained source types.",
    )
    privacy: Privacy | None = Field(default=None, description="Training privacy protections.")
    intended_use: IntendedUse | None = Field(
        default=None, description="Intended and prohibited uses; required when synthetic."
    )
    limitations: list[KnownLimitation] = Field(
        default_factory=list,
        description="Known limitations; a synthetic record lists at least the intrinsic three.",
    )
    evaluation: Evaluation | None = Field(default=None, description="Evaluation results.")
    access: list[AudienceAccess] = Field(
        default_factory=list, description="Access level per audience (each at most once)."
    )
    attestations: list[AttestationReference] = Field(
        default_factory=list, description="Lifecycle attestations, by envelope digest."
    )
    derived_from: Derivation | None = Field(
        default=None, description="Parent image, when this one was derived from a stamped one."
    )
    binding: ContentBinding | None = Field(
        default=None, description="Content binding; filled by `synthmark stamp`."
    )
    watermark: WatermarkDescriptor | None = Field(
        default=None, description="Watermark descriptor; filled by `synthmark stamp --watermark`."
    )
    signature: RecordSignature | None = Field(
        default=None,
        description="Embedded signature over the rest of the record; `stamp --sign-key`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        source = self.digital_source_type
        if self.synthetic and source not in SYNTHETIC_SOURCE_TYPES:
            raise ValueError(
                f"digital_source_type {source.term!r} describes a real acquisition but "
                "synthetic is true; use e.g. trainedAlgorithmicMedia or algorithmicMedia"
            )
        if not self.synthetic and source in SYNTHETIC_SOURCE_TYPES:
            raise ValueError(
                f"digital_source_type {source.term!r} describes synthetic content but "
                "synthetic is false"
            )
        if self.synthetic:
            if self.generator is None:
                raise ValueError("generator is required when synthetic is true")
            if self.intended_use is None:
                raise ValueError("intended_use is required when synthetic is true")
            missing = sorted(v.value for v in INTRINSIC_LIMITATIONS - set(self.limitations))
            if missing:
                raise ValueError(
                    "limitations of a synthetic record must include " + ", ".join(missing)
                )
        else:
            if self.generator is not None:
                raise ValueError("generator must be absent when synthetic is false")
            if self.training_data:
                raise ValueError("training_data must be empty when synthetic is false")
        if source in TRAINED_SOURCE_TYPES and not self.training_data:
            raise ValueError(f"training_data is required for {source.term!r} (a trained model)")
        if (
            source in COMPOSITE_SOURCE_TYPES
            and self.generator is not None
            and not self.generator.conditioning.sources
        ):
            raise ValueError(
                f"a {source.term!r} record must name its source in generator.conditioning.sources"
            )
        audiences = [entry.audience for entry in self.access]
        if len(set(audiences)) != len(audiences):
            raise ValueError("each audience may appear at most once in access")
        return self


class ManifestEntry(_Model):
    """One file of a dataset."""

    # The path pattern needs look-ahead, which pydantic's default Rust regex engine lacks.
    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")

    path: DatasetPath = Field(description="Path relative to the dataset root.")
    role: FileRole = Field(description="Whether the file is real or synthetic.")
    pixel_xxh3_128: Xxh3Hex = Field(description="Content binding XXH3-128 of the file's pixels.")
    pixel_sha256: Sha256Hex | None = Field(default=None, description="Content binding SHA-256.")
    record_id: UUID | None = Field(
        default=None, description="The file's record id; required for synthetic files."
    )


def add_manifest_schema_rules(schema: dict[str, Any]) -> None:
    """Add the manifest's cross-field rules that JSON Schema can express."""
    schema["allOf"] = [
        {
            "if": {"properties": {"contains_synthetic": {"const": False}}},
            "then": {
                "properties": {
                    "synthetic_count": {"const": 0},
                    "synthetic_proportion": {"const": 0},
                }
            },
            "else": {
                "properties": {
                    "synthetic_count": {"minimum": 1},
                    "synthetic_proportion": {"exclusiveMinimum": 0},
                }
            },
        }
    ]
    entry = schema.get("$defs", {}).get("ManifestEntry")
    if entry is not None:
        entry["allOf"] = [
            {
                "if": {"properties": {"role": {"const": "synthetic"}}, "required": ["role"]},
                "then": {
                    "required": ["record_id"],
                    "properties": {"record_id": {"type": "string"}},
                },
            }
        ]


class DatasetManifest(_Model):
    """A dataset's acknowledgment of its synthetic content (section 10)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        title="synthmark dataset manifest",
    )

    spec_version: SpecVersion = Field(description="Specification version (`1.0`).")
    name: ShortText = Field(description="Dataset name.")
    version: ShortText = Field(description="Dataset version.")
    created: Timestamp = Field(description="When the manifest was built.")
    publisher: Creator = Field(description="Organisation publishing the dataset.")
    contains_synthetic: bool = Field(description="Whether the dataset holds synthetic images.")
    total_count: NonNegativeInt = Field(description="Number of image files.")
    synthetic_count: NonNegativeInt = Field(description="Number of synthetic image files.")
    synthetic_proportion: Annotated[float, Field(ge=0, le=1)] = Field(
        description="synthetic_count / total_count (0 for an empty dataset)."
    )
    attestations: list[AttestationReference] = Field(
        default_factory=list, description="Lifecycle attestations of the dataset's generator."
    )
    files: list[ManifestEntry] = Field(description="One entry per image file.")

    @model_validator(mode="after")
    def _counts_agree(self) -> Self:
        synthetic = sum(1 for entry in self.files if entry.role is FileRole.SYNTHETIC)
        if self.total_count != len(self.files):
            raise ValueError(f"total_count is {self.total_count} but files lists {len(self.files)}")
        if self.synthetic_count != synthetic:
            raise ValueError(
                f"synthetic_count is {self.synthetic_count} but {synthetic} files are synthetic"
            )
        if self.contains_synthetic != (synthetic > 0):
            raise ValueError("contains_synthetic must be true exactly when a file is synthetic")
        expected = synthetic / len(self.files) if self.files else 0.0
        if not math.isclose(self.synthetic_proportion, expected, rel_tol=0, abs_tol=1e-9):
            raise ValueError(
                f"synthetic_proportion is {self.synthetic_proportion} but files give {expected}"
            )
        paths = [entry.path for entry in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("each path may appear at most once in files")
        for entry in self.files:
            if entry.role is FileRole.SYNTHETIC and entry.record_id is None:
                raise ValueError(f"synthetic file {entry.path!r} needs a record_id")
        return self


def created_now() -> datetime:
    """Return the current UTC time, truncated to seconds (records carry no sub-second noise)."""
    from datetime import UTC

    return datetime.now(UTC).replace(microsecond=0)
