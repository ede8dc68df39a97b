"""Closed vocabularies of the synthmark record (spec/synthmark.md section 5).

Every enumeration here is normative: its values appear verbatim in records, schemas and
carriers. Values are only ever added (in a minor spec version), never renamed or removed.
"""

from __future__ import annotations

from enum import StrEnum

IPTC_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"


class DigitalSourceType(StrEnum):
    """IPTC Digital Source Type (2024-10 release), in its ``http://`` form.

    The retired terms ``minorHumanEdits`` and ``digitalArt`` are not accepted; the generic
    ``composite`` is not accepted either because it does not say whether a synthetic
    element is present: use ``compositeCapture`` or ``compositeSynthetic``.
    """

    DIGITAL_CAPTURE = IPTC_BASE + "digitalCapture"
    COMPUTATIONAL_CAPTURE = IPTC_BASE + "computationalCapture"
    NEGATIVE_FILM = IPTC_BASE + "negativeFilm"
    POSITIVE_FILM = IPTC_BASE + "positiveFilm"
    PRINT = IPTC_BASE + "print"
    HUMAN_EDITS = IPTC_BASE + "humanEdits"
    SCREEN_CAPTURE = IPTC_BASE + "screenCapture"
    COMPOSITE_CAPTURE = IPTC_BASE + "compositeCapture"
    ALGORITHMICALLY_ENHANCED = IPTC_BASE + "algorithmicallyEnhanced"
    SOFTWARE_IMAGE = IPTC_BASE + "softwareImage"
    DIGITAL_CREATION = IPTC_BASE + "digitalCreation"
    DATA_DRIVEN_MEDIA = IPTC_BASE + "dataDrivenMedia"
    TRAINED_ALGORITHMIC_MEDIA = IPTC_BASE + "trainedAlgorithmicMedia"
    ALGORITHMIC_MEDIA = IPTC_BASE + "algorithmicMedia"
    VIRTUAL_RECORDING = IPTC_BASE + "virtualRecording"
    COMPOSITE_SYNTHETIC = IPTC_BASE + "compositeSynthetic"
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC_BASE + "compositeWithTrainedAlgorithmicMedia"

    @property
    def term(self) -> str:
        """The IPTC term without the scheme URI, e.g. ``trainedAlgorithmicMedia``."""
        return self.value.removeprefix(IPTC_BASE)


#: Source types that mean some or all of the content was made artificially (DICOM's
#: definition of Synthetic Data = YES). ``algorithmicallyEnhanced`` is here on purpose:
#: AI denoising and super-resolution can add or remove findings in medical images.
SYNTHETIC_SOURCE_TYPES: frozenset[DigitalSourceType] = frozenset(
    {
        DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA,
        DigitalSourceType.ALGORITHMIC_MEDIA,
        DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        DigitalSourceType.COMPOSITE_SYNTHETIC,
        DigitalSourceType.ALGORITHMICALLY_ENHANCED,
        DigitalSourceType.DATA_DRIVEN_MEDIA,
        DigitalSourceType.DIGITAL_CREATION,
        DigitalSourceType.SOFTWARE_IMAGE,
        DigitalSourceType.VIRTUAL_RECORDING,
    }
)

#: Source types made from a trained model: these need training-data provenance.
TRAINED_SOURCE_TYPES: frozenset[DigitalSourceType] = frozenset(
    {
        DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA,
        DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    }
)

#: Source types that combine real and synthetic content: these must name their source.
COMPOSITE_SOURCE_TYPES: frozenset[DigitalSourceType] = frozenset(
    {
        DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        DigitalSourceType.COMPOSITE_SYNTHETIC,
    }
)

REAL_SOURCE_TYPES: frozenset[DigitalSourceType] = frozenset(
    set(DigitalSourceType) - SYNTHETIC_SOURCE_TYPES
)


class Modality(StrEnum):
    """DICOM Modality (0008,0060) defined terms used for images (PS3.3 C.7.3.1.1.1)."""

    CT = "CT"
    MR = "MR"
    PT = "PT"
    NM = "NM"
    US = "US"
    CR = "CR"
    DX = "DX"
    MG = "MG"
    XA = "XA"
    RF = "RF"
    IO = "IO"
    PX = "PX"
    OCT = "OPT"
    OP = "OP"
    SM = "SM"
    XC = "XC"
    ES = "ES"
    GM = "GM"
    RG = "RG"
    SEG = "SEG"
    OT = "OT"


class ArchitectureFamily(StrEnum):
    """How the generator produces images."""

    DIFFUSION = "diffusion"
    GAN = "gan"
    VAE = "vae"
    AUTOREGRESSIVE = "autoregressive"
    FLOW = "flow"
    PHYSICS_SIMULATION = "physics_simulation"
    PROCEDURAL_PHANTOM = "procedural_phantom"
    OTHER = "other"


class ConditioningKind(StrEnum):
    """What the generator was conditioned on for this image."""

    UNCONDITIONAL = "unconditional"
    CLASS_LABEL = "class_label"
    TEXT = "text"
    SEGMENTATION_MASK = "segmentation_mask"
    SOURCE_IMAGE = "source_image"
    OTHER = "other"


class ConsentBasis(StrEnum):
    """Legal/ethical basis on which a training dataset's images were used."""

    INFORMED = "informed"
    BROAD = "broad"
    WAIVER_BY_ETHICS_BOARD = "waiver_by_ethics_board"
    PUBLIC_DOMAIN = "public_domain"
    OTHER = "other"
    UNKNOWN = "unknown"


class DeidentificationProfile(StrEnum):
    """De-identification method of a training dataset."""

    DICOM_PS3_15_BASIC = "dicom_ps3_15_basic_profile"
    HIPAA_SAFE_HARBOR = "hipaa_safe_harbor"
    HIPAA_EXPERT_DETERMINATION = "hipaa_expert_determination"
    GDPR_ANONYMISATION = "gdpr_anonymisation"
    DEFACING = "defacing"
    NONE = "none"
    OTHER = "other"
    UNKNOWN = "unknown"


class DeidentificationOption(StrEnum):
    """Options of the DICOM PS3.15 Basic Application Level Confidentiality Profile (CID 7050)."""

    CLEAN_PIXEL_DATA = "clean_pixel_data"
    CLEAN_RECOGNIZABLE_VISUAL_FEATURES = "clean_recognizable_visual_features"
    CLEAN_GRAPHICS = "clean_graphics"
    CLEAN_STRUCTURED_CONTENT = "clean_structured_content"
    CLEAN_DESCRIPTORS = "clean_descriptors"
    RETAIN_LONGITUDINAL_FULL_DATES = "retain_longitudinal_full_dates"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "retain_longitudinal_modified_dates"
    RETAIN_PATIENT_CHARACTERISTICS = "retain_patient_characteristics"
    RETAIN_DEVICE_IDENTITY = "retain_device_identity"
    RETAIN_UIDS = "retain_uids"
    RETAIN_SAFE_PRIVATE = "retain_safe_private"
    RETAIN_INSTITUTION_IDENTITY = "retain_institution_identity"


class MemorisationAuditMethod(StrEnum):
    """How the generator was checked for reproducing training images."""

    NEAREST_NEIGHBOUR_PIXEL = "nearest_neighbour_pixel"
    NEAREST_NEIGHBOUR_EMBEDDING = "nearest_neighbour_embedding"
    MEMBERSHIP_INFERENCE = "membership_inference"
    REIDENTIFICATION_MODEL = "reidentification_model"
    OTHER = "other"


class AuditOutcome(StrEnum):
    """Result of an audit against its threshold."""

    PASSED = "passed"
    FAILED = "failed"


class UseCase(StrEnum):
    """What a synthetic image may be used for."""

    MODEL_TRAINING = "model_training"
    DATA_AUGMENTATION = "data_augmentation"
    MODEL_TESTING = "model_testing"
    SOFTWARE_TESTING = "software_testing"
    EDUCATION = "education"
    RESEARCH = "research"
    PRIVACY_PRESERVING_SHARING = "privacy_preserving_sharing"
    BENCHMARKING = "benchmarking"


class ProhibitedUse(StrEnum):
    """What a synthetic image must not be used for."""

    CLINICAL_DIAGNOSIS = "clinical_diagnosis"
    TREATMENT_PLANNING = "treatment_planning"
    SOLE_EVIDENCE_FOR_REGULATORY_SUBMISSION = "sole_evidence_for_regulatory_submission"
    PATIENT_RECORD = "patient_record"
    PASSING_OFF_AS_REAL = "passing_off_as_real"
    REIDENTIFICATION = "reidentification"
    LEGAL_EVIDENCE = "legal_evidence"


class KnownLimitation(StrEnum):
    """Known limitations of synthetic images (seeds 000, 002, 004)."""

    NO_REAL_PATIENT_GROUNDING = "no_real_patient_grounding"
    INCOMPLETE_REPRESENTATION_OF_TRAINING_DATA = "incomplete_representation_of_training_data"
    DISTRIBUTION_SHIFT_AND_BIAS = "distribution_shift_and_bias"
    POSSIBLE_MEMORISATION = "possible_memorisation"
    ANATOMICALLY_IMPLAUSIBLE_CONTENT_POSSIBLE = "anatomically_implausible_content_possible"
    LIMITED_RARE_PATHOLOGY = "limited_rare_pathology"
    SIMPLIFIED_PHYSICS = "simplified_physics"
    NOT_CLINICALLY_VALIDATED = "not_clinically_validated"


#: Every synthetic record must list these three: they hold for every synthetic image.
INTRINSIC_LIMITATIONS: frozenset[KnownLimitation] = frozenset(
    {
        KnownLimitation.NO_REAL_PATIENT_GROUNDING,
        KnownLimitation.INCOMPLETE_REPRESENTATION_OF_TRAINING_DATA,
        KnownLimitation.DISTRIBUTION_SHIFT_AND_BIAS,
    }
)


class MetricName(StrEnum):
    """Evaluation metrics."""

    FID = "fid"
    KID = "kid"
    CMMD = "cmmd"
    INCEPTION_SCORE = "inception_score"
    PRECISION = "precision"
    RECALL = "recall"
    DENSITY = "density"
    COVERAGE = "coverage"
    MS_SSIM = "ms_ssim"
    LPIPS = "lpips"
    PSNR = "psnr"
    SSIM = "ssim"
    MAE = "mae"
    DICE = "dice"
    AUROC = "auroc"
    ACCURACY = "accuracy"
    BALANCED_ACCURACY = "balanced_accuracy"
    SENSITIVITY = "sensitivity"
    SPECIFICITY = "specificity"
    F1 = "f1"
    READER_STUDY_DETECTION_RATE = "reader_study_detection_rate"
    EQUALISED_ODDS_DIFFERENCE = "equalised_odds_difference"
    DEMOGRAPHIC_PARITY_DIFFERENCE = "demographic_parity_difference"


class MetricUnit(StrEnum):
    """Units of a metric's value."""

    UNITLESS = "unitless"
    FRACTION = "fraction"
    PERCENT = "percent"
    DECIBEL = "dB"
    HOUNSFIELD = "HU"
    MILLIMETRE = "mm"


class SubgroupAttribute(StrEnum):
    """Population attribute a metric is stratified by (``all`` for the whole reference set)."""

    ALL = "all"
    SEX = "sex"
    AGE_BAND = "age_band"
    ETHNICITY = "ethnicity"
    SCANNER_MANUFACTURER = "scanner_manufacturer"
    SITE = "site"
    DISEASE_STATUS = "disease_status"
    BODY_SIZE = "body_size"


class DownstreamTask(StrEnum):
    """Task used to measure downstream utility."""

    CLASSIFICATION = "classification"
    SEGMENTATION = "segmentation"
    DETECTION = "detection"
    REGRESSION = "regression"
    REGISTRATION = "registration"
    RECONSTRUCTION = "reconstruction"


class Audience(StrEnum):
    """Audiences of seed 003's table 1."""

    PUBLIC = "public"
    PRIVATE_INSTITUTION = "private_institution"
    THIRD_PARTY = "third_party"


class AccessLevel(StrEnum):
    """Access granted to an audience (seed 003 table 1: No / Limited / Yes)."""

    NONE = "none"
    LIMITED = "limited"
    FULL = "full"


class LifecycleStage(StrEnum):
    """The five lifecycle stages of seed 003 that attestations cover."""

    DATA_COLLECTION = "data_collection"
    DATA_PROCESSING = "data_processing"
    MODEL_TRAINING = "model_training"
    MODEL_EVALUATION = "model_evaluation"
    DEPLOYMENT = "deployment"


class CreatorRole(StrEnum):
    """Role of the organisation that issued a record (never a person or patient)."""

    GENERATOR_PROVIDER = "generator_provider"
    DATASET_PUBLISHER = "dataset_publisher"
    RESEARCH_GROUP = "research_group"
    HEALTHCARE_PROVIDER = "healthcare_provider"
    DEVICE_MANUFACTURER = "device_manufacturer"
    ARCHIVE_OPERATOR = "archive_operator"


class DerivationOperation(StrEnum):
    """Processing that turned a stamped parent image into a new image."""

    RESAMPLE = "resample"
    CROP = "crop"
    PAD = "pad"
    LOSSY_TRANSCODE = "lossy_transcode"
    LOSSLESS_TRANSCODE = "lossless_transcode"
    FORMAT_CONVERSION = "format_conversion"
    INTENSITY_WINDOW = "intensity_window"
    BIT_DEPTH_CONVERSION = "bit_depth_conversion"
    REORIENT = "reorient"
    DENOISE = "denoise"
    REGISTRATION = "registration"
    DEIDENTIFICATION = "deidentification"


class PixelRepresentation(StrEnum):
    """How stored sample values are encoded."""

    UNSIGNED = "unsigned"
    SIGNED = "signed"
    FLOAT = "float"


class FileRole(StrEnum):
    """Role of a file in a dataset manifest."""

    REAL = "real"
    SYNTHETIC = "synthetic"
