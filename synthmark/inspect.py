"""One inspection of a file: the verification steps of spec section 9, run once.

:func:`inspect_file` runs the numbered steps and returns what each found as values
(:class:`Inspection`); it never decides a verdict. ``synthmark verify``
(:func:`synthmark.api.verify`) turns the facts into problems with SMV codes, and
validation (:mod:`synthmark.validation.engine`), the gateway, the Orthanc filter and the
card turn them into rule findings. A change to a verification step is made here, once.

Steps (spec/synthmark.md section 9):

1. identify the format by content;
2. locate the record: embedded first, then the sidecar (disagreement is reported);
3. parse and validate the record, 4. check its spec version (both in parsing);
5. recompute the content binding from the decoded pixels (spec section 6);
6. read the format's standard acknowledgment (e.g. DICOM Synthetic Data);
7. check the record's signature and, on PNG/JPEG, the C2PA Content Credentials;
8. detect the watermark (spec/parts/watermark.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from synthmark.binding import PixelDigest, digest_pixels
from synthmark.carriers import CarrierFile, StandardLabel, open_image_sized
from synthmark.carriers.c2pa import assertion_json
from synthmark.carriers.sidecar import read_sidecar
from synthmark.errors import RecordInvalidError, RecordParseError, SynthmarkError
from synthmark.record.models import SynthmarkRecord
from synthmark.record.parsing import canonical_json, parse_record

if TYPE_CHECKING:
    from synthmark.carriers.slices import SliceView
    from synthmark.provenance import RecordSignatureState, TrustPolicy
    from synthmark.watermark import Detection, WatermarkKey

RecordSource = Literal["embedded", "sidecar"]


class CheckState(StrEnum):
    """Outcome of one verification step."""

    PASS = "pass"  # noqa: S105 - a verification state, not a password
    FAIL = "fail"
    ABSENT = "absent"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class Problem:
    """A reason a file does not verify (or a warning), with a stable code."""

    code: str
    message: str
    severity: Literal["error", "warning"] = "error"


# Verification problem codes (stable; documented in spec section 9).
NO_RECORD = "SMV001"
RECORD_INVALID = "SMV002"
RECORD_UNPARSEABLE = "SMV003"
BINDING_MISMATCH = "SMV004"
BINDING_ABSENT = "SMV005"
LABEL_CONTRADICTS_RECORD = "SMV006"
SIDECAR_DISAGREES = "SMV007"
UNKNOWN_SPEC_VERSION = "SMV008"
WATERMARK_MISSING = "SMV009"
WATERMARK_UNACKNOWLEDGED = "SMV010"
WATERMARK_PAYLOAD_MISMATCH = "SMV011"
RECORD_SIGNATURE_INVALID = "SMV012"
RECORD_SIGNER_UNTRUSTED = "SMV013"
CREDENTIALS_INVALID = "SMV014"
CREDENTIALS_CONTRADICT_RECORD = "SMV015"
CREDENTIALS_SIGNER_UNTRUSTED = "SMV016"


@dataclass(frozen=True)
class InspectOptions:
    """What to inspect and against what.

    Attributes:
        watermark_keys: Keys tried after the public detection key (always tried first).
        fpr: False-positive rate of the watermark decision.
        trust: Trusted record signers and C2PA roots; None checks integrity only.
        decode_pixels: False for a header-only inspection (steps 1-4, 6, 7).
        detect_watermark: Run step 8 (needs ``decode_pixels``).
        label_evidence: Collect the standard label's evidence (what ``inspect`` shows);
            validation only needs the verdict, which is cheaper to read.
        sidecar_absent: The caller knows there is no sidecar (from a folder listing), so
            step 2 does not probe the disk for one.
        keep_view: Keep the decoded slices on the result (for thumbnails).
    """

    watermark_keys: Sequence[WatermarkKey] = ()
    fpr: float = 1e-6
    trust: TrustPolicy | None = None
    decode_pixels: bool = True
    detect_watermark: bool = True
    label_evidence: bool = True
    sidecar_absent: bool = False
    keep_view: bool = False


@dataclass(frozen=True)
class Inspection:
    """The facts of one file, step by step; a step that did not run leaves its default.

    Attributes:
        path: The file.
        format: Carrier name (step 1), None when the file could not be identified.
        size: File size in bytes.
        error: Why the inspection stopped before step 2 ended (unreadable, corrupt,
            unsupported), with the error's SMX code.
        standard_label: What the format's standard fields say (step 6).
        record_present: Whether a record was found (step 2).
        record_source: ``embedded`` or ``sidecar``.
        sidecar_disagrees: Both exist and their records differ.
        record: The parsed, valid record (steps 3-4).
        record_problems: ``(location, message)`` pairs of an invalid record.
        record_unparseable: Why the record bytes are not a record at all.
        signature: State of the record's signature (step 7), None when unsigned.
        credentials: C2PA state (step 7); NOT_CHECKED for formats without C2PA.
        credentials_problems: Why, when they fail (and a warning when untrusted).
        pixels_error: Why the pixels could not be decoded (steps 5 and 8 then did not run).
        digest: Content binding digests of the decoded pixels (step 5).
        megapixels: Decoded samples / 1e6.
        binding: Record binding against ``digest``: pass, fail, absent (record without a
            binding) or not_checked (no record, or pixels not decoded).
        detection: Watermark detection result (step 8), None when it did not run.
        too_small_to_mark: Slices too small for a mark, so detection was not attempted.
        view: The decoded slices, when ``keep_view`` was asked for.
    """

    path: Path
    format: str | None = None
    size: int = 0
    error: Problem | None = None
    standard_label: StandardLabel | None = None
    record_present: bool = False
    record_source: RecordSource | None = None
    sidecar_disagrees: bool = False
    record: SynthmarkRecord | None = None
    record_problems: tuple[tuple[str, str], ...] = ()
    record_unparseable: str | None = None
    signature: RecordSignatureState | None = None
    credentials: CheckState = CheckState.NOT_CHECKED
    credentials_problems: tuple[Problem, ...] = ()
    pixels_error: Problem | None = None
    digest: PixelDigest | None = None
    megapixels: float = 0.0
    binding: CheckState = CheckState.NOT_CHECKED
    detection: Detection | None = None
    too_small_to_mark: bool = False
    view: SliceView | None = None


def locate_record(
    image: CarrierFile, path: Path, *, sidecar_absent: bool = False
) -> tuple[bytes | None, RecordSource | None, bool]:
    """Step 2: the record's bytes, where they were found, and whether a sidecar disagrees.

    The embedded record wins; a sidecar that holds a different record is reported.
    """
    embedded = image.read_record()
    side = None if sidecar_absent else read_sidecar(path)
    if embedded is not None:
        disagrees = side is not None and side != embedded
        if disagrees and side is not None:
            try:
                disagrees = parse_record(side) != parse_record(embedded)
            except SynthmarkError:
                disagrees = True
        return embedded, "embedded", disagrees
    if side is not None:
        return side, "sidecar", False
    return None, None, False


#: Parsed records by their exact bytes. Files of one dataset often carry the same record
#: (a stamped series), and validating one costs more than parsing a small header; parsing
#: is a pure function of the bytes, so a hit gives what parsing would.
_RECORDS: dict[bytes, tuple[SynthmarkRecord | None, tuple[tuple[str, str], ...], str | None]] = {}
_RECORDS_MAX = 128
_RECORD_CACHE_BYTES = 64 << 10


def parse_record_bytes(
    data: bytes,
) -> tuple[SynthmarkRecord | None, tuple[tuple[str, str], ...], str | None]:
    """Steps 3-4: (record, schema problems, unparseable reason) for a record's bytes."""
    hit = _RECORDS.get(data)
    if hit is not None:
        return hit
    result: tuple[SynthmarkRecord | None, tuple[tuple[str, str], ...], str | None]
    try:
        result = (parse_record(data), (), None)
    except RecordInvalidError as exc:
        result = (None, tuple(exc.problems), None)
    except RecordParseError as exc:
        result = (None, (), exc.message)
    if len(data) <= _RECORD_CACHE_BYTES:
        if len(_RECORDS) >= _RECORDS_MAX:
            _RECORDS.clear()
        _RECORDS[data] = result
    return result


def clear_record_cache() -> None:
    """Forget the parsed records (tests and benchmarks that time parsing use this)."""
    _RECORDS.clear()


def signature_state(record: SynthmarkRecord, trust: TrustPolicy | None) -> RecordSignatureState:
    """Step 7: the record's embedded signature (attestations spec section 8)."""
    from synthmark.provenance import record_signature_state

    return record_signature_state(
        record.model_dump(mode="json", exclude_none=True), trust, at=record.created
    )


def credentials_state(
    image: CarrierFile, record: SynthmarkRecord | None, trust: TrustPolicy | None
) -> tuple[CheckState, tuple[Problem, ...]]:
    """Step 7: C2PA state of a PNG/JPEG, validated with c2pa-python (spec/parts/c2pa.md)."""
    from synthmark.carriers.raster import RasterFile

    if not isinstance(image, RasterFile):
        return CheckState.NOT_CHECKED, ()
    anchors = b"".join(p.encode("ascii") for p in trust.c2pa_trust_anchors_pem) if trust else b""
    try:
        # The carrier has read the store already (only when a cheap scan found one); trust
        # anchors change the verdict, so then it is validated once more against them.
        state = image.credentials()
        if state is not None and anchors:
            from synthmark.carriers.c2pa import credentials_mime, read_credentials

            data = image.path.read_bytes()
            mime = credentials_mime(data) or "image/png"
            state = read_credentials(data, mime, trust_anchors_pem=anchors)
    except (SynthmarkError, OSError) as exc:
        return CheckState.FAIL, (
            Problem(CREDENTIALS_INVALID, f"C2PA credentials unreadable: {exc}"),
        )
    if state is None or not state.present:
        return CheckState.ABSENT, ()
    if state.state == "invalid":
        codes = ", ".join(state.failure_codes) or "invalid"
        return CheckState.FAIL, (
            Problem(CREDENTIALS_INVALID, f"C2PA credentials do not validate: {codes}"),
        )
    problems: list[Problem] = []
    verdict = CheckState.PASS
    if record is not None:
        contradiction = _credentials_contradiction(state, record)
        if contradiction is not None:
            problems.append(Problem(CREDENTIALS_CONTRADICT_RECORD, contradiction))
            verdict = CheckState.FAIL
    if anchors and state.state != "trusted":
        problems.append(
            Problem(
                CREDENTIALS_SIGNER_UNTRUSTED,
                f"C2PA signer {state.signer or '(unknown)'} does not chain to a trusted root",
                "warning",
            )
        )
    return verdict, tuple(problems)


def _credentials_contradiction(state: Any, record: SynthmarkRecord) -> str | None:
    if state.digital_source_type != record.digital_source_type.value:
        return (
            f"C2PA digitalSourceType {state.digital_source_type} differs from the "
            f"record's {record.digital_source_type.value}"
        )
    if state.record_json is not None and state.record_json != assertion_json(
        canonical_json(record)
    ):
        return "the record in the C2PA manifest differs from the record in use"
    if state.watermark is not None and (
        record.watermark is None
        or state.watermark != (record.watermark.key_id, record.watermark.payload_hex)
    ):
        return "the C2PA soft binding names another watermark than the record's"
    return None


def binding_state(record: SynthmarkRecord | None, digest: PixelDigest | None) -> CheckState:
    """Step 5: the record's binding against the recomputed digests (spec section 6)."""
    if record is None:
        return CheckState.NOT_CHECKED
    if record.binding is None:
        return CheckState.ABSENT
    if digest is None:
        return CheckState.NOT_CHECKED
    same = (digest.xxh3_128, digest.sha256) == (record.binding.xxh3_128, record.binding.sha256)
    return CheckState.PASS if same else CheckState.FAIL


def inspect_file(path: Path | str, options: InspectOptions | None = None) -> Inspection:
    """Run the verification steps on one file and return their facts.

    Errors of the file itself (unreadable, corrupt, unsupported) are facts, not raised:
    they stop the inspection at the step they occur in. A bug still raises.
    """
    path = Path(path)
    opts = options or InspectOptions()
    # (1) identify the format by content.
    try:
        image, size = open_image_sized(path)
    except SynthmarkError as exc:
        return Inspection(path, error=Problem(exc.code, exc.message))
    facts: dict[str, Any] = {"format": image.format_name, "size": size}
    try:
        # (6) is read with the header, so it comes first here; (2) locate the record.
        label = image.standard_label(evidence=opts.label_evidence)
        facts["standard_label"] = label
        data, source, disagrees = locate_record(image, path, sidecar_absent=opts.sidecar_absent)
    except SynthmarkError as exc:
        return Inspection(path, error=Problem(exc.code, exc.message), **facts)
    record = None
    if data is not None:
        facts.update(record_present=True, record_source=source, sidecar_disagrees=disagrees)
        # (3) parse and validate, (4) spec version.
        record, problems, unparseable = parse_record_bytes(data)
        facts.update(record=record, record_problems=problems, record_unparseable=unparseable)
        # (7) the record's signature.
        if record is not None and record.signature is not None:
            facts["signature"] = signature_state(record, opts.trust)
    # (7) C2PA Content Credentials.
    facts["credentials"], facts["credentials_problems"] = credentials_state(
        image, record, opts.trust
    )
    needs_pixels = opts.detect_watermark or (record is not None and record.binding is not None)
    if not opts.decode_pixels or not needs_pixels:
        facts["binding"] = binding_state(record, None)
        return Inspection(path, **facts)
    # (5) recompute the content binding.
    try:
        content = image.pixels()
        digest = digest_pixels(content)
    except SynthmarkError as exc:
        facts.update(
            pixels_error=Problem(exc.code, exc.message), binding=binding_state(record, None)
        )
        return Inspection(path, **facts)
    facts.update(digest=digest, megapixels=content.array.size / 1e6)
    facts["binding"] = binding_state(record, digest)
    if not opts.detect_watermark:
        return Inspection(path, **facts)
    # (8) detect the watermark.
    from synthmark.carriers.slices import slice_view
    from synthmark.watermark import PUBLIC_DETECTION_KEY, detect
    from synthmark.watermark.content import too_small_to_mark

    view = slice_view(content)
    if opts.keep_view:
        facts["view"] = view
    if too_small_to_mark(view.stack):
        facts["too_small_to_mark"] = True
        return Inspection(path, **facts)
    keys = [PUBLIC_DETECTION_KEY, *[k for k in opts.watermark_keys if k != PUBLIC_DETECTION_KEY]]
    facts["detection"] = detect(view.stack, keys, fpr=opts.fpr, channel_axis=view.channel_axis)
    return Inspection(path, **facts)


__all__ = [
    "CheckState",
    "InspectOptions",
    "Inspection",
    "Problem",
    "binding_state",
    "clear_record_cache",
    "credentials_state",
    "inspect_file",
    "locate_record",
    "parse_record_bytes",
    "signature_state",
]
