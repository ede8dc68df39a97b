"""The public Python API: stamp, verify and read records (the CLI only calls these).

Verification follows the numbered steps of spec/synthmark.md section 9; comments cite them.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from synthmark.binding import PixelDigest, digest_pixels
from synthmark.carriers import Acknowledgment, CarrierFile, StandardLabel, open_image
from synthmark.errors import (
    OutputExistsError,
    RecordInvalidError,
    RecordMissingError,
    RecordParseError,
    SynthmarkError,
    UsageError,
    WriteFailedError,
)
from synthmark.record import (
    SPEC_VERSION,
    ContentBinding,
    Derivation,
    SynthmarkRecord,
    WatermarkDescriptor,
)
from synthmark.records import canonical_json, parse_record
from synthmark.sidecar import read_sidecar, sidecar_path, write_sidecar
from synthmark.vocab import DerivationOperation

if TYPE_CHECKING:
    from synthmark.attest import SigningKey, TrustPolicy
    from synthmark.content_credentials import SigningIdentity
    from synthmark.watermark import WatermarkKey

RecordSource = Literal["embedded", "sidecar"]


@dataclass(frozen=True)
class FoundRecord:
    """A record read from a file, and where it was found.

    Attributes:
        record: The validated record.
        source: ``"embedded"`` (inside the file) or ``"sidecar"``.
        sidecar_disagrees: True when both exist and their records differ.
    """

    record: SynthmarkRecord
    source: RecordSource
    sidecar_disagrees: bool = False


def _locate(image: CarrierFile, path: Path) -> tuple[bytes | None, RecordSource | None, bool]:
    # (2) embedded first, then the sidecar; report disagreement, use the embedded one.
    embedded = image.read_record()
    side = read_sidecar(path)
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


def read_record(path: Path | str) -> FoundRecord:
    """Read and validate the record a file carries (embedded, else its sidecar).

    Raises:
        RecordMissingError: when the file carries no record.
        RecordInvalidError, RecordParseError: when the record is malformed.
        SynthmarkError: when the file cannot be read.
    """
    path = Path(path)
    image = open_image(path)
    data, source, disagrees = _locate(image, path)
    if data is None or source is None:
        raise RecordMissingError("no synthmark record (embedded or sidecar)", path=path)
    return FoundRecord(parse_record(data, path=path), source, disagrees)


def digest_file(path: Path | str) -> PixelDigest:
    """Compute the content binding digests of a file's decoded pixels (spec section 6)."""
    path = Path(path)
    return digest_pixels(open_image(path).pixels())


def _acknowledgment(record: SynthmarkRecord) -> Acknowledgment:
    generator = record.generator
    if record.synthetic:
        made_by = f" by {generator.name} {generator.version}" if generator else ""
        summary = (
            f"SYNTHETIC image ({record.digital_source_type.term}){made_by}; "
            f"not a real patient acquisition; synthmark record {record.record_id}"
        )
    else:
        summary = f"Real acquisition; synthmark record {record.record_id}"
    sources: tuple[str, ...] = ()
    if generator is not None:
        sources = tuple(
            s.dicom_sop_instance_uid
            for s in generator.conditioning.sources
            if s.dicom_sop_instance_uid is not None
        )
    return Acknowledgment(
        synthetic=record.synthetic,
        source_type=record.digital_source_type.value,
        record_id=str(record.record_id),
        summary=summary,
        generator_manufacturer=generator.manufacturer if generator else None,
        generator_name=generator.name if generator else None,
        generator_version=generator.version if generator else None,
        created=record.created,
        source_instance_uids=sources,
    )


@dataclass(frozen=True)
class StampResult:
    """What :func:`stamp` wrote.

    Attributes:
        source: The input file.
        dest: The stamped file.
        record: The record as embedded, binding filled in.
        digest: The content binding of the stamped pixels.
        pixels_changed: Whether pixel values were changed (watermarking).
        sidecar: The sidecar written, when the format cannot embed the record.
        watermark_note: Why a requested watermark was not embedded, if it was not.
        credentials: Whether C2PA Content Credentials were embedded.
        credentials_note: Why requested credentials were not embedded, if they were not.
    """

    source: Path
    dest: Path
    record: SynthmarkRecord
    digest: PixelDigest
    pixels_changed: bool
    sidecar: Path | None = None
    watermark_note: str | None = None
    credentials: bool = False
    credentials_note: str | None = None


def stamp(
    path: Path | str,
    record: SynthmarkRecord | None,
    *,
    dest: Path | str | None = None,
    in_place: bool = False,
    overwrite: bool = False,
    new_record_id: bool = False,
    derived_from: Path | str | None = None,
    operations: tuple[DerivationOperation, ...] = (),
    sidecar: bool = False,
    new_pixels: npt.NDArray[np.generic] | None = None,
    watermark: WatermarkKey | None = None,
    strength: float = 1.0,
    sign_keys: Sequence[SigningKey] = (),
    credentials: SigningIdentity | None = None,
) -> StampResult:
    """Write ``record`` into a copy of ``path`` (or into ``path`` with ``in_place``).

    The content binding is computed from the decoded pixels and filled into the record.
    With ``derived_from``, the parent's record is the template when ``record`` is None,
    and the new record carries the parent's id and the operations (chain of custody); a
    child of a synthetic parent can never be stamped as real.

    Args:
        path: Input image.
        record: The record to embed (its ``binding`` is replaced).
        dest: Output path (required unless ``in_place``).
        in_place: Overwrite the input (atomically).
        overwrite: Allow replacing an existing ``dest``.
        new_record_id: Give the record a fresh UUID (used when one template stamps many
            files: a record describes exactly one image).
        derived_from: A stamped parent image this one was made from.
        operations: What was done to the parent (required with ``derived_from``).
        sidecar: Also write ``<dest>.synthmark.json`` for formats that embed the record.
        new_pixels: Replace the pixel values (canonical shape and dtype of the carrier, as
            ``open_image(path).pixels().array``), e.g. a generator writing its output into
            a template file's header. Re-encoded losslessly; bound after re-reading.
        watermark: Embed the watermark with this key before binding (self-checked).
        strength: Watermark strength.
        sign_keys: Sign the bound record with these keys (embedded signature,
            spec/attestations.md section 8).
        credentials: For PNG and JPEG, also embed C2PA Content Credentials signed with
            this certificate identity (spec/parts/c2pa.md); ignored, with a note, for
            formats C2PA does not cover.

    Raises:
        UsageError: on contradictory arguments.
        OutputExistsError: when ``dest`` exists and ``overwrite`` is false.
        SynthmarkError: when the input cannot be read or the output written.
    """
    source = Path(path)
    if in_place and dest is not None:
        raise UsageError("give either an output path or in-place, not both")
    if not in_place and dest is None:
        raise UsageError("an output path is required unless stamping in place")
    target = source if in_place else Path(dest)  # type: ignore[arg-type]
    if not in_place and target.exists() and not overwrite:
        raise OutputExistsError("output exists", path=target)
    if not in_place and target.exists() and target.resolve() == source.resolve():
        raise UsageError("output is the input; use --in-place to modify the original")

    if derived_from is not None:
        record = _derive(Path(derived_from), record, operations)
    if record is None:
        raise UsageError("a record is required (or --derived-from a stamped parent)")
    if new_record_id:
        record = record.model_copy(update={"record_id": uuid.uuid4()})

    image = open_image(source)
    content = image.pixels()
    if new_pixels is not None:
        if new_pixels.shape != content.array.shape or new_pixels.dtype != content.array.dtype:
            raise UsageError(
                f"new pixels must have shape {content.array.shape} and dtype "
                f"{content.array.dtype}, got {new_pixels.shape} {new_pixels.dtype}"
            )
        content = dataclasses.replace(content, array=new_pixels)
    watermark_note: str | None = None
    if watermark is not None:
        from synthmark.marking import WATERMARK_SCHEME, detect_content, embed_content, payload_for

        marked = embed_content(content, watermark, payload_for(record.record_id), strength=strength)
        marked_content = dataclasses.replace(content, array=marked)
        # Self-check: a record must never claim a watermark that detection cannot find
        # (tiny or very noisy images); such a file is left unmarked and the caller told.
        check = detect_content(marked_content, [watermark])
        if check.detected:
            new_pixels, content = marked, marked_content
            record = record.model_copy(
                update={
                    "watermark": WatermarkDescriptor(
                        scheme=WATERMARK_SCHEME,
                        key_id=watermark.key_id,
                        payload_hex=record.record_id.bytes[:8].hex(),
                        strength=strength,
                    )
                }
            )
        else:
            watermark_note = (
                f"not watermarked: the mark would not be detectable in this image at strength "
                f"{strength} (z = {check.z:.1f}; too small or too noisy)"
            )
    from synthmark.marking import is_jpeg, write_jpeg

    pixels_changed = new_pixels is not None
    if new_pixels is not None and is_jpeg(image):
        # JPEG cannot hold exact values: write it, then bind what a reader will decode.
        write_jpeg(target, new_pixels)
        image = open_image(target)
        content = image.pixels()
        new_pixels = None
    digest = digest_pixels(content)
    bound = SynthmarkRecord.model_validate(
        {
            **record.model_dump(mode="python", exclude={"binding"}),
            "binding": ContentBinding(
                algorithm="synthmark-pixels/1", xxh3_128=digest.xxh3_128, sha256=digest.sha256
            ),
        }
    )
    if sign_keys:
        from synthmark.attest import sign_record_object

        unsigned = bound.model_dump(mode="json", exclude_none=True, exclude={"signature"})
        bound = SynthmarkRecord.model_validate(sign_record_object(unsigned, list(sign_keys)))
    record_json = canonical_json(bound)
    image.write(target, record_json=record_json, ack=_acknowledgment(bound), new_pixels=new_pixels)
    if new_pixels is not None:
        # Re-encoded pixels are read back so the binding is proven against what is on disk.
        on_disk = digest_pixels(open_image(target).pixels())
        if on_disk != digest:
            raise WriteFailedError(
                "re-encoded pixels differ from the requested ones (lossy encoder?)", path=target
            )
    # A format that cannot embed the record has its carrier write the sidecar itself.
    embeds = _embeds(image)
    if sidecar and embeds:
        write_sidecar(target, record_json)
    written_sidecar = sidecar_path(target) if sidecar or not embeds else None
    embedded_credentials, credentials_note = False, None
    if credentials is not None:
        embedded_credentials, credentials_note = _embed_credentials(
            target, record_json, bound, credentials
        )
    return StampResult(
        source,
        target,
        bound,
        digest,
        pixels_changed,
        written_sidecar,
        watermark_note,
        embedded_credentials,
        credentials_note,
    )


def credentials_mime(head: bytes) -> str | None:
    """The C2PA media type of a PNG or JPEG by its magic bytes; None for other formats."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def _embed_credentials(
    target: Path, record_json: bytes, record: SynthmarkRecord, identity: SigningIdentity
) -> tuple[bool, str | None]:
    """Add C2PA Content Credentials to a stamped PNG/JPEG, last: they hash the file bytes."""
    from synthmark._atomic import atomic_write_bytes
    from synthmark.content_credentials import embed_credentials

    data = target.read_bytes()
    mime = credentials_mime(data)
    if mime is None:
        return False, "no C2PA Content Credentials: C2PA covers PNG and JPEG here, not this format"
    watermark = (
        (record.watermark.key_id, record.watermark.payload_hex) if record.watermark else None
    )
    atomic_write_bytes(
        target,
        embed_credentials(
            data,
            mime,
            record_json,
            record.digital_source_type.value,
            identity,
            watermark=watermark,
        ),
    )
    return True, None


def _embeds(image: CarrierFile) -> bool:
    from synthmark.carriers import carrier_classes

    return next(
        (cls.embeds_record for cls in carrier_classes() if cls.name == image.format_name), True
    )


def _derive(
    parent_path: Path, record: SynthmarkRecord | None, operations: tuple[DerivationOperation, ...]
) -> SynthmarkRecord:
    if not operations:
        raise UsageError("--derived-from needs at least one --operation (e.g. resample)")
    parent = read_record(parent_path).record
    template = record if record is not None else parent
    if parent.synthetic and not template.synthetic:
        raise UsageError(
            "the parent is synthetic, so an image derived from it is synthetic too",
            hint="stamp the derived image with a synthetic record, or omit --record",
        )
    update: dict[str, object] = {
        "derived_from": Derivation(
            parent_record_id=parent.record_id,
            parent_pixel_sha256=parent.binding.sha256 if parent.binding else None,
            operations=list(operations),
        ),
    }
    if record is None or record.record_id == parent.record_id:
        update["record_id"] = uuid.uuid4()
    data = template.model_dump(mode="python", exclude={"binding", "watermark"})
    data.update(update)
    return SynthmarkRecord.model_validate(data)


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


@dataclass(frozen=True)
class Verification:
    """Result of verifying one file (spec section 9). Never a bare bool.

    Attributes:
        path: The file.
        format: Carrier name, or None when the file could not be identified.
        record_present: Whether a record was found.
        record_source: ``embedded`` or ``sidecar``.
        record_id: The record's id, when it parsed.
        synthetic: What the record says, when it parsed.
        schema: Record schema validity.
        binding: Whether the binding matches the decoded pixels exactly.
        standard_label: What the format's standard fields say (e.g. DICOM Synthetic Data).
        label: Whether the standard fields agree with the record.
        signature: Record signature state: pass (trusted signer), fail (changed after
            signing, or signer untrusted), absent (unsigned), not_checked (signed, no trust
            file given).
        credentials: C2PA Content Credentials state (PNG/JPEG): pass (valid, and trusted
            when trust anchors are given), fail (invalid, or contradicting the record),
            absent.
        watermark: Watermark state.
        problems: Errors and warnings, each with a code.
    """

    path: Path
    format: str | None = None
    record_present: bool = False
    record_source: RecordSource | None = None
    record_id: str | None = None
    synthetic: bool | None = None
    schema: CheckState = CheckState.NOT_CHECKED
    binding: CheckState = CheckState.NOT_CHECKED
    standard_label: bool | None = None
    label: CheckState = CheckState.NOT_CHECKED
    signature: CheckState = CheckState.NOT_CHECKED
    credentials: CheckState = CheckState.NOT_CHECKED
    watermark: CheckState = CheckState.NOT_CHECKED
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when no error-severity problem was found."""
        return not any(p.severity == "error" for p in self.problems)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (stable keys) for ``--format json``."""
        return {
            "path": str(self.path),
            "ok": self.ok,
            "format": self.format,
            "record_present": self.record_present,
            "record_source": self.record_source,
            "record_id": self.record_id,
            "synthetic": self.synthetic,
            "schema": self.schema.value,
            "binding": self.binding.value,
            "standard_label_synthetic": self.standard_label,
            "label": self.label.value,
            "signature": self.signature.value,
            "credentials": self.credentials.value,
            "watermark": self.watermark.value,
            "problems": [
                {"code": p.code, "severity": p.severity, "message": p.message}
                for p in self.problems
            ],
        }


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


def verify(
    path: Path | str,
    *,
    watermark_keys: list[WatermarkKey] | None = None,
    check_watermark: bool = True,
    fpr: float = 1e-6,
    trust: TrustPolicy | None = None,
) -> Verification:
    """Verify one file: record, schema, binding, standard label, watermark (spec section 9).

    ``watermark_keys`` are tried in addition to the public detection key. ``trust`` decides
    which record signers and C2PA certificate roots are trusted (spec/attestations.md).

    Unreadable or corrupt files are *not* raised: they come back as a failed
    :class:`Verification` whose problem carries the error's code, so a batch goes on.
    """
    path = Path(path)
    problems: list[Problem] = []
    # (1) identify the format by content.
    try:
        image = open_image(path)
    except SynthmarkError as exc:
        return Verification(path, problems=(Problem(exc.code, exc.message),))
    result: dict[str, object] = {"format": image.format_name}
    try:
        label = image.standard_label()
        result["standard_label"] = label.synthetic
        # (2) locate the record.
        data, source, disagrees = _locate(image, path)
    except SynthmarkError as exc:
        problems.append(Problem(exc.code, exc.message))
        return Verification(path, problems=tuple(problems), **result)  # type: ignore[arg-type]
    if data is None:
        problems.append(Problem(NO_RECORD, "no synthmark record (embedded or sidecar)"))
        if check_watermark:
            result["watermark"] = _watermark_state(image, None, watermark_keys, fpr, problems)
        return Verification(
            path,
            problems=tuple(problems),
            schema=CheckState.ABSENT,
            binding=CheckState.ABSENT,
            **result,  # type: ignore[arg-type]
        )
    result.update(record_present=True, record_source=source)
    if disagrees:
        problems.append(
            Problem(SIDECAR_DISAGREES, "sidecar record differs from embedded one", "warning")
        )
    # (3) parse and validate, (4) spec version.
    try:
        record = parse_record(data, path=path)
    except RecordInvalidError as exc:
        for location, message in exc.problems:
            code = UNKNOWN_SPEC_VERSION if location == "spec_version" else RECORD_INVALID
            problems.append(Problem(code, f"{location}: {message}"))
        return Verification(
            path,
            schema=CheckState.FAIL,
            problems=tuple(problems),
            **result,  # type: ignore[arg-type]
        )
    except RecordParseError as exc:
        problems.append(Problem(RECORD_UNPARSEABLE, exc.message))
        return Verification(
            path,
            schema=CheckState.FAIL,
            problems=tuple(problems),
            **result,  # type: ignore[arg-type]
        )
    result.update(
        record_id=str(record.record_id), synthetic=record.synthetic, schema=CheckState.PASS
    )
    # (5) recompute the content binding and compare both digests.
    binding_state = CheckState.ABSENT
    if record.binding is None:
        problems.append(Problem(BINDING_ABSENT, "record has no content binding (not stamped)"))
    else:
        try:
            digest = digest_pixels(image.pixels())
        except SynthmarkError as exc:
            problems.append(Problem(exc.code, exc.message))
            binding_state = CheckState.NOT_CHECKED
        else:
            if (digest.xxh3_128, digest.sha256) == (record.binding.xxh3_128, record.binding.sha256):
                binding_state = CheckState.PASS
            else:
                binding_state = CheckState.FAIL
                problems.append(
                    Problem(
                        BINDING_MISMATCH,
                        "content binding does not match the pixels "
                        "(record transplanted or pixels edited after stamping)",
                    )
                )
    result["binding"] = binding_state
    # (6) the standard acknowledgment must not contradict the record.
    result["label"] = _label_state(label, record, problems)
    # (7) signatures: the record's embedded signature and, on PNG/JPEG, C2PA credentials.
    result["signature"] = _signature_state(record, trust, problems)
    result["credentials"] = _credentials_state(image, record, trust, problems)
    # (8) detect the watermark and compare it with the record's descriptor.
    if check_watermark:
        result["watermark"] = _watermark_state(image, record, watermark_keys, fpr, problems)
    return Verification(path, problems=tuple(problems), **result)  # type: ignore[arg-type]


def _signature_state(
    record: SynthmarkRecord, trust: TrustPolicy | None, problems: list[Problem]
) -> CheckState:
    if record.signature is None:
        return CheckState.ABSENT
    from synthmark.attest import record_signature_state

    state = record_signature_state(
        record.model_dump(mode="json", exclude_none=True), trust, at=record.created
    )
    if state.state == "trusted":
        return CheckState.PASS
    if state.state == "unverified":
        return CheckState.NOT_CHECKED
    code = RECORD_SIGNER_UNTRUSTED if state.state == "untrusted" else RECORD_SIGNATURE_INVALID
    problems.append(Problem(code, f"record signature: {state.message} ({state.code})"))
    return CheckState.FAIL


def _credentials_state(
    image: CarrierFile,
    record: SynthmarkRecord | None,
    trust: TrustPolicy | None,
    problems: list[Problem],
) -> CheckState:
    """C2PA state of a PNG/JPEG: read and validated with c2pa-python (spec/parts/c2pa.md)."""
    from synthmark.carriers.raster import RasterFile

    if not isinstance(image, RasterFile):
        return CheckState.NOT_CHECKED
    anchors = b"".join(p.encode("ascii") for p in trust.c2pa_trust_anchors_pem) if trust else b""
    try:
        # The carrier has read the store already (only when a cheap scan found one); trust
        # anchors change the verdict, so then it is validated once more against them.
        state = image.credentials()
        if state is not None and anchors:
            from synthmark.content_credentials import read_credentials

            data = image.path.read_bytes()
            mime = credentials_mime(data) or "image/png"
            state = read_credentials(data, mime, trust_anchors_pem=anchors)
    except (SynthmarkError, OSError) as exc:
        problems.append(Problem(CREDENTIALS_INVALID, f"C2PA credentials unreadable: {exc}"))
        return CheckState.FAIL
    if state is None or not state.present:
        return CheckState.ABSENT
    if state.state == "invalid":
        codes = ", ".join(state.failure_codes) or "invalid"
        problems.append(Problem(CREDENTIALS_INVALID, f"C2PA credentials do not validate: {codes}"))
        return CheckState.FAIL
    verdict = CheckState.PASS
    if record is not None:
        if state.digital_source_type != record.digital_source_type.value:
            problems.append(
                Problem(
                    CREDENTIALS_CONTRADICT_RECORD,
                    f"C2PA digitalSourceType {state.digital_source_type} differs from the "
                    f"record's {record.digital_source_type.value}",
                )
            )
            verdict = CheckState.FAIL
        elif state.record_json is not None and state.record_json != canonical_json(record):
            problems.append(
                Problem(
                    CREDENTIALS_CONTRADICT_RECORD,
                    "the record in the C2PA manifest differs from the record in use",
                )
            )
            verdict = CheckState.FAIL
        elif state.watermark is not None and (
            record.watermark is None
            or state.watermark != (record.watermark.key_id, record.watermark.payload_hex)
        ):
            problems.append(
                Problem(
                    CREDENTIALS_CONTRADICT_RECORD,
                    "the C2PA soft binding names another watermark than the record's",
                )
            )
            verdict = CheckState.FAIL
    if anchors and state.state != "trusted":
        problems.append(
            Problem(
                CREDENTIALS_SIGNER_UNTRUSTED,
                f"C2PA signer {state.signer or '(unknown)'} does not chain to a trusted root",
                "warning",
            )
        )
    return verdict


def _watermark_state(
    image: CarrierFile,
    record: SynthmarkRecord | None,
    keys: list[WatermarkKey] | None,
    fpr: float,
    problems: list[Problem],
) -> CheckState:
    from synthmark.marking import detect_content
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    try:
        content = image.pixels()
    except SynthmarkError as exc:
        problems.append(Problem(exc.code, exc.message))
        return CheckState.NOT_CHECKED
    from synthmark.marking import too_small_to_mark
    from synthmark.slices import slice_view

    if too_small_to_mark(slice_view(content).stack):
        return CheckState.NOT_CHECKED
    key_list = [PUBLIC_DETECTION_KEY, *[k for k in keys or [] if k != PUBLIC_DETECTION_KEY]]
    found = detect_content(content, key_list, fpr=fpr)
    expected = record.watermark if record is not None else None
    if not found.detected:
        if expected is not None:
            problems.append(
                Problem(
                    WATERMARK_MISSING,
                    f"record says watermarked (key {expected.key_id}) but none detected "
                    f"(z = {found.z:.1f})",
                )
            )
            return CheckState.FAIL
        return CheckState.ABSENT
    if record is None or not record.synthetic:
        said = "no record" if record is None else "a record saying real"
        problems.append(
            Problem(
                WATERMARK_UNACKNOWLEDGED,
                f"synthmark watermark detected (p <= {found.p_value:.1e}) but the file has {said}",
            )
        )
        return CheckState.FAIL
    if (
        expected is not None
        and found.payload is not None
        and (found.payload.record_id_prefix.hex() != expected.payload_hex[:16])
    ):
        problems.append(
            Problem(
                WATERMARK_PAYLOAD_MISMATCH,
                "the watermark's payload names another record than this one",
            )
        )
        return CheckState.FAIL
    return CheckState.PASS


def _label_state(
    label: StandardLabel, record: SynthmarkRecord, problems: list[Problem]
) -> CheckState:
    if label.synthetic is None:
        return CheckState.ABSENT
    if label.synthetic == record.synthetic:
        return CheckState.PASS
    said = "synthetic" if label.synthetic else "real"
    problems.append(
        Problem(
            LABEL_CONTRADICTS_RECORD,
            f"standard fields say {said} but the record says "
            f"{'synthetic' if record.synthetic else 'real'}",
        )
    )
    return CheckState.FAIL


__all__ = [
    "SPEC_VERSION",
    "CheckState",
    "FoundRecord",
    "Problem",
    "StampResult",
    "Verification",
    "WriteFailedError",
    "digest_file",
    "read_record",
    "stamp",
    "verify",
]
