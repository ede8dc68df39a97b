"""Lifecycle predicates: one in-toto predicate type per stage (spec/attestations.md §5).

Each model answers, as structured fields with evidence references rather than prose, the
ethical quality-check questions that seed 003's table 2 asks of its stage, and states the
access level per audience (table 1). Pure models: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, PositiveInt, model_validator

from synthmark.record.models import (
    AudienceAccess,
    Creator,
    DatasetIdentifier,
    Deidentification,
    DemographicSummary,
    EthicsApproval,
    LongText,
    Metric,
    Privacy,
    Sha256Hex,
    ShortText,
    SpdxLicence,
    Timestamp,
    UtilityResult,
)
from synthmark.record.vocab import (
    AccessLevel,
    Audience,
    ConsentBasis,
    LifecycleStage,
    SubgroupAttribute,
)

PREDICATE_BASE_URI = "https://synthmark.org/attestation"


def predicate_type_uri(stage: LifecycleStage) -> str:
    """The predicateType URI of ``stage``, e.g. ``.../attestation/model-training/v1``."""
    return f"{PREDICATE_BASE_URI}/{stage.value.replace('_', '-')}/v1"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(_Model):
    """A document that backs a claim: a report, an approval letter, a log, by digest."""

    description: ShortText = Field(description="What the document shows.")
    uri: AnyUrl | None = Field(default=None, description="Where it can be obtained.")
    sha256: Sha256Hex | None = Field(default=None, description="SHA-256 of the document.")


class StorageProtection(StrEnum):
    """How collected images are protected at rest and in transit."""

    ENCRYPTED_AT_REST = "encrypted_at_rest"
    ENCRYPTED_IN_TRANSIT = "encrypted_in_transit"
    ACCESS_CONTROLLED = "access_controlled"
    AUDIT_LOGGED = "audit_logged"
    ON_PREMISES_ONLY = "on_premises_only"
    TRUSTED_RESEARCH_ENVIRONMENT = "trusted_research_environment"


class ProcessingOperation(StrEnum):
    """Kinds of data-processing steps."""

    DEIDENTIFICATION = "deidentification"
    DEFACING = "defacing"
    QUALITY_FILTERING = "quality_filtering"
    RESAMPLING = "resampling"
    INTENSITY_NORMALISATION = "intensity_normalisation"
    CROPPING = "cropping"
    REGISTRATION = "registration"
    FORMAT_CONVERSION = "format_conversion"
    LABELLING = "labelling"
    AUGMENTATION = "augmentation"
    DEDUPLICATION = "deduplication"
    SPLITTING = "splitting"
    OTHER = "other"


class BiasMethod(StrEnum):
    """Methods to detect or mitigate bias during processing."""

    SUBGROUP_DISTRIBUTION_AUDIT = "subgroup_distribution_audit"
    LABEL_QUALITY_AUDIT = "label_quality_audit"
    SCANNER_SITE_AUDIT = "scanner_site_audit"
    STRATIFIED_SPLITTING = "stratified_splitting"
    REWEIGHTING = "reweighting"
    RESAMPLING = "resampling"
    HARMONISATION = "harmonisation"


class TrackingSystem(StrEnum):
    """Where training decisions (runs, configurations, checkpoints) are recorded."""

    MLFLOW = "mlflow"
    WEIGHTS_AND_BIASES = "wandb"
    TENSORBOARD = "tensorboard"
    DVC = "dvc"
    GIT = "git"
    OTHER = "other"


class Stakeholder(StrEnum):
    """Who a risk assessment or evaluation was communicated to."""

    CLINICIANS = "clinicians"
    PATIENTS = "patients"
    PATIENT_REPRESENTATIVES = "patient_representatives"
    ETHICS_BOARD = "ethics_board"
    REGULATOR = "regulator"
    DATA_PROVIDERS = "data_providers"
    DATASET_USERS = "dataset_users"
    PUBLIC = "public"


class RegulatoryFramework(StrEnum):
    """Regulations and standards a deployment claims to follow."""

    EU_AI_ACT = "eu_ai_act"
    EU_MDR = "eu_mdr"
    GDPR = "gdpr"
    HIPAA = "hipaa"
    FDA_510K = "fda_510k"
    FDA_DE_NOVO = "fda_de_novo"
    ISO_13485 = "iso_13485"
    ISO_14971 = "iso_14971"
    IEC_62304 = "iec_62304"
    NOT_A_MEDICAL_DEVICE = "not_a_medical_device"
    OTHER = "other"


class RiskLevel(StrEnum):
    """Residual risk after mitigation."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RiskMethod(StrEnum):
    """How risks were assessed."""

    ISO_14971 = "iso_14971"
    FMEA = "fmea"
    DPIA = "dpia"
    OTHER = "other"


# Seed 003, table 1: who may access what each stage is about (No / Limited / Yes).
_TABLE_1: dict[LifecycleStage, tuple[AccessLevel, AccessLevel, AccessLevel]] = {
    LifecycleStage.DATA_COLLECTION: (AccessLevel.NONE, AccessLevel.NONE, AccessLevel.LIMITED),
    LifecycleStage.DATA_PROCESSING: (AccessLevel.FULL, AccessLevel.NONE, AccessLevel.LIMITED),
    LifecycleStage.MODEL_TRAINING: (AccessLevel.FULL, AccessLevel.LIMITED, AccessLevel.FULL),
    LifecycleStage.MODEL_EVALUATION: (AccessLevel.FULL, AccessLevel.FULL, AccessLevel.FULL),
    LifecycleStage.DEPLOYMENT: (AccessLevel.NONE, AccessLevel.NONE, AccessLevel.LIMITED),
}


def default_access(stage: LifecycleStage) -> list[AudienceAccess]:
    """Seed 003 table 1's access levels for ``stage`` (public, private, third parties)."""
    public, private, third = _TABLE_1[stage]
    return [
        AudienceAccess(audience=Audience.PUBLIC, level=public),
        AudienceAccess(audience=Audience.PRIVATE_INSTITUTION, level=private),
        AudienceAccess(audience=Audience.THIRD_PARTY, level=third),
    ]


class _Predicate(_Model):
    """Fields every lifecycle predicate has."""

    stage: ClassVar[LifecycleStage]

    attester: Creator = Field(description="Organisation making the attestation.")
    attested_at: Timestamp = Field(description="When the attestation was made.")
    valid_until: Timestamp | None = Field(
        default=None, description="After this instant the statement is expired."
    )
    access: list[AudienceAccess] = Field(
        min_length=1,
        description="Access level per audience for this stage's data (seed 003 table 1).",
    )
    evidence: list[Evidence] = Field(
        default_factory=list, description="Documents backing the claims, by digest."
    )

    @model_validator(mode="after")
    def _times(self) -> Self:
        if self.valid_until is not None and self.valid_until <= self.attested_at:
            raise ValueError("valid_until must be later than attested_at")
        audiences = [entry.audience for entry in self.access]
        if len(set(audiences)) != len(audiences):
            raise ValueError("each audience may appear at most once in access")
        return self

    @property
    def window(self) -> tuple[datetime, datetime | None]:
        """(attested_at, valid_until)."""
        return self.attested_at, self.valid_until


class ConfidentialityProtection(_Model):
    """How is patient confidentiality protected during data collection?"""

    deidentification: Deidentification = Field(description="De-identification applied.")
    storage: list[StorageProtection] = Field(
        min_length=1, description="Protections of the collected data at rest and in transit."
    )
    data_protection_impact_assessment: Evidence | None = Field(
        default=None, description="DPIA or equivalent, when one was made."
    )


class DataSource(_Model):
    """One source of collected images."""

    name: ShortText = Field(description="Source name (archive, study, public dataset).")
    identifier: DatasetIdentifier | None = Field(default=None, description="DOI, URL or URN.")
    licence: SpdxLicence | None = Field(default=None, description="SPDX licence expression.")
    consent_basis: ConsentBasis = Field(description="Basis on which the images were used.")


class DataCollectionPredicate(_Predicate):
    """Data collection: representation, consent, confidentiality, ethics approval."""

    stage: ClassVar[LifecycleStage] = LifecycleStage.DATA_COLLECTION

    sources: list[DataSource] = Field(min_length=1, description="Where the images came from.")
    demographic_representation: DemographicSummary = Field(
        description="Have diverse demographic groups been represented? Counts per group."
    )
    underrepresented_groups: list[ShortText] = Field(
        default_factory=list, description="Groups known to be missing or under-represented."
    )
    confidentiality: ConfidentialityProtection = Field(
        description="How patient confidentiality is protected during collection."
    )
    ethics_approval: EthicsApproval | None = Field(
        default=None,
        description="Ethics board approval; required unless every source is public domain.",
    )

    @model_validator(mode="after")
    def _approval(self) -> Self:
        public_only = all(s.consent_basis == ConsentBasis.PUBLIC_DOMAIN for s in self.sources)
        if self.ethics_approval is None and not public_only:
            raise ValueError("ethics_approval is required unless every source is public domain")
        return self


class ProcessingStep(_Model):
    """One documented processing step, in order."""

    operation: ProcessingOperation = Field(description="What the step does.")
    tool: ShortText = Field(description="Tool and version.")
    parameters: Evidence | None = Field(
        default=None, description="Configuration or script that reproduces the step."
    )


class BiasAssessment(_Model):
    """What methods detect and mitigate bias during processing?"""

    detection: list[BiasMethod] = Field(min_length=1, description="How bias was looked for.")
    mitigation: list[BiasMethod] = Field(
        default_factory=list, description="What was done about it (empty: nothing needed)."
    )
    findings: LongText | None = Field(default=None, description="What the audit found.")
    report: Evidence | None = Field(default=None, description="The audit report.")


class DataProcessingPredicate(_Predicate):
    """Data processing: documented steps, de-identification, bias detection and mitigation."""

    stage: ClassVar[LifecycleStage] = LifecycleStage.DATA_PROCESSING

    steps: list[ProcessingStep] = Field(min_length=1, description="Processing steps, in order.")
    deidentification: Deidentification = Field(description="De-identification applied.")
    bias: BiasAssessment = Field(description="Bias detection and mitigation.")


class TrainingDataDisclosure(_Model):
    """A training-data source and whether its consent is disclosed."""

    name: ShortText = Field(description="Dataset name.")
    identifier: DatasetIdentifier = Field(description="DOI, URL or URN.")
    consent_basis: ConsentBasis = Field(description="Basis on which the images were used.")
    consent_documented: bool = Field(description="Whether the consent basis is documented.")
    images: PositiveInt | None = Field(default=None, description="Images used for training.")


class DecisionTracking(_Model):
    """How are the decisions made during training tracked and reviewed?"""

    system: TrackingSystem = Field(description="Where runs and decisions are recorded.")
    run_id: ShortText = Field(description="Run or experiment id of the released model.")
    configuration_sha256: Sha256Hex | None = Field(
        default=None, description="SHA-256 of the training configuration."
    )
    reviewed_by: list[Stakeholder] = Field(
        default_factory=list, description="Who reviewed the training decisions."
    )


class TrainedModel(_Model):
    """The model the statement is about (its weights are normally a subject too)."""

    name: ShortText = Field(description="Model name.")
    version: ShortText = Field(description="Model version.")
    weights_sha256: Sha256Hex | None = Field(default=None, description="SHA-256 of weights.")


class ModelTrainingPredicate(_Predicate):
    """Model training: data sources and consent, decision tracking, privacy, memorisation."""

    stage: ClassVar[LifecycleStage] = LifecycleStage.MODEL_TRAINING

    model: TrainedModel = Field(description="The trained model.")
    training_data: list[TrainingDataDisclosure] = Field(
        min_length=1, description="Are the sources disclosed and consent obtained?"
    )
    decision_tracking: DecisionTracking = Field(description="How training is tracked.")
    privacy: Privacy = Field(description="DP, federated training and the memorisation audit.")


class ClinicalRelevance(_Model):
    """Are the metrics aligned with clinical outcomes, and understandable to lay readers?"""

    clinical_endpoints: list[ShortText] = Field(
        min_length=1, description="Clinical outcomes or tasks the metrics stand for."
    )
    reader_study: bool = Field(description="Whether clinicians rated the images.")
    lay_summary: LongText = Field(description="Results explained for non-technical stakeholders.")


class ModelEvaluationPredicate(_Predicate):
    """Model evaluation: fidelity, diversity, fairness per subgroup, clinical relevance."""

    stage: ClassVar[LifecycleStage] = LifecycleStage.MODEL_EVALUATION

    fidelity: list[Metric] = Field(min_length=1, description="Fidelity metrics.")
    diversity: list[Metric] = Field(min_length=1, description="Diversity metrics.")
    fairness: list[Metric] = Field(
        min_length=1, description="Metrics per subgroup (sex, age band, site, ...)."
    )
    utility: list[UtilityResult] = Field(default_factory=list, description="Downstream utility.")
    synthetic_proportion: Annotated[float, Field(ge=0, le=1)] = Field(
        description="Real:synthetic proportion used in the evaluation (synthetic share)."
    )
    clinical_relevance: ClinicalRelevance = Field(description="Clinical relevance of metrics.")

    @model_validator(mode="after")
    def _subgroups(self) -> Self:
        if all(m.subgroup.attribute == SubgroupAttribute.ALL for m in self.fairness):
            raise ValueError("fairness needs at least one metric on a subgroup other than all")
        return self


class MonitoringPlan(_Model):
    """Is there a plan for continuous monitoring in a real clinical setting?"""

    metrics: list[ShortText] = Field(min_length=1, description="What is monitored.")
    review_interval_days: PositiveInt = Field(description="How often results are reviewed.")
    drift_detection: bool = Field(description="Whether input/output drift is detected.")
    incident_contact: ShortText = Field(description="Where incidents are reported.")
    plan: Evidence | None = Field(default=None, description="The monitoring plan document.")


class RegulatoryBasis(_Model):
    """Does the deployment adhere to relevant regulations and ethical standards?"""

    frameworks: list[RegulatoryFramework] = Field(min_length=1, description="Frameworks.")
    jurisdictions: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = Field(
        min_length=1, description="ISO 3166-1 alpha-2 codes where it is deployed."
    )
    conformity: Evidence | None = Field(default=None, description="Conformity evidence.")


class RiskAssessment(_Model):
    """How are risks assessed, and to whom were they communicated?"""

    method: RiskMethod = Field(description="Assessment method.")
    residual_risk: RiskLevel = Field(description="Residual risk after mitigation.")
    communicated_to: list[Stakeholder] = Field(
        min_length=1, description="Stakeholders the assessment was communicated to."
    )
    report: Evidence | None = Field(default=None, description="The assessment report.")


class DeploymentPredicate(_Predicate):
    """Deployment: monitoring plan, regulatory basis, risk assessment."""

    stage: ClassVar[LifecycleStage] = LifecycleStage.DEPLOYMENT

    monitoring: MonitoringPlan = Field(description="Continuous monitoring plan.")
    regulatory: RegulatoryBasis = Field(description="Regulatory basis.")
    risk: RiskAssessment = Field(description="Risk assessment.")


Predicate = (
    DataCollectionPredicate
    | DataProcessingPredicate
    | ModelTrainingPredicate
    | ModelEvaluationPredicate
    | DeploymentPredicate
)

PREDICATE_MODELS: dict[LifecycleStage, type[_Predicate]] = {
    model.stage: model
    for model in (
        DataCollectionPredicate,
        DataProcessingPredicate,
        ModelTrainingPredicate,
        ModelEvaluationPredicate,
        DeploymentPredicate,
    )
}

STAGE_BY_PREDICATE_TYPE: dict[str, LifecycleStage] = {
    predicate_type_uri(stage): stage for stage in PREDICATE_MODELS
}

StageName = Literal[
    "data_collection", "data_processing", "model_training", "model_evaluation", "deployment"
]
