"""The public Python API: stamp, verify and read records (the CLI only calls these).

Verification follows the numbered steps of spec/synthmark.md section 9; comments cite them.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from synthmark.binding import PixelDigest, digest_pixels
from synthmark.carriers import CarrierFile, StandardLabel, acknowledgment_for, open_image
from synthmark.carriers.sidecar import sidecar_path, write_sidecar
from synthmark.errors import (
    OutputExistsError,
    RecordMissingError,
    UsageError,
    WriteFailedError,
)
from synthmark.inspect import (
    BINDING_ABSENT,
    BINDING_MISMATCH,
    LABEL_CONTRADICTS_RECORD,
    NO_RECORD,
    RECORD_INVALID,
    RECORD_SIGNATURE_INVALID,
    RECORD_SIGNER_UNTRUSTED,
    RECORD_UNPARSEABLE,
    SIDECAR_DISAGREES,
    UNKNOWN_SPEC_VERSION,
    WATERMARK_MISSING,
    WATERMARK_PAYLOAD_MISMATCH,
    WATERMARK_UNACKNOWLEDGED,
    CheckState,
    Inspection,
    InspectOptions,
    Problem,
    RecordSource,
    inspect_file,
    locate_record,
)
from synthmark.record.models import (
    SPEC_VERSION,
    ContentBinding,
    Derivation,
    SynthmarkRecord,
    WatermarkDescriptor,
)
from synthmark.record.parsing import canonical_json, parse_record
from synthmark.record.vocab import DerivationOperation

if TYPE_CHECKING:
    from synthmark.carriers.c2pa import SigningIdentity
    from synthmark.provenance import SigningKey, TrustPolicy
    from synthmark.watermark import WatermarkKey


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


def read_record(path: Path | str) -> FoundRecord:
    """Read and validate the record a file carries (embedded, else its sidecar).

    Raises:
        RecordMissingError: when the file carries no record.
        RecordInvalidError, RecordParseError: when the record is malformed.
        SynthmarkError: when the file cannot be read.
    """
    path = Path(path)
    image = open_image(path)
    data, source, disagrees = locate_record(image, path)
    if data is None or source is None:
        raise RecordMissingError("no synthmark record (embedded or sidecar)", path=path)
    return FoundRecord(parse_record(data, path=path), source, disagrees)


def digest_file(path: Path | str) -> PixelDigest:
    """Compute the content binding digests of a file's decoded pixels (spec section 6)."""
    path = Path(path)
    return digest_pixels(open_image(path).pixels())


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
        from synthmark.watermark.content import (
            WATERMARK_SCHEME,
            detect_content,
            embed_content,
            payload_for,
        )

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
    from synthmark.watermark.content import is_jpeg, write_jpeg

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
        from synthmark.provenance import sign_record_object

        unsigned = bound.model_dump(mode="json", exclude_none=True, exclude={"signature"})
        bound = SynthmarkRecord.model_validate(sign_record_object(unsigned, list(sign_keys)))
    record_json = canonical_json(bound)
    image.write(
        target, record_json=record_json, ack=acknowledgment_for(bound), new_pixels=new_pixels
    )
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


def _embed_credentials(
    target: Path, record_json: bytes, record: SynthmarkRecord, identity: SigningIdentity
) -> tuple[bool, str | None]:
    """Add C2PA Content Credentials to a stamped PNG/JPEG, last: they hash the file bytes."""
    from synthmark.carriers.atomic import atomic_write_bytes
    from synthmark.carriers.c2pa import credentials_mime, embed_credentials

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
    The steps run once, in :func:`synthmark.inspect.inspect_file`; this turns their facts
    into a verdict.

    Unreadable or corrupt files are *not* raised: they come back as a failed
    :class:`Verification` whose problem carries the error's code, so a batch goes on.
    """
    path = Path(path)
    facts = inspect_file(
        path,
        InspectOptions(
            watermark_keys=tuple(watermark_keys or ()),
            fpr=fpr,
            trust=trust,
            detect_watermark=check_watermark,
        ),
    )
    return verdict(facts, check_watermark=check_watermark)


def verdict(facts: Inspection, *, check_watermark: bool = True) -> Verification:
    """The :class:`Verification` that the facts of one inspection amount to."""
    path = facts.path
    if facts.error is not None and facts.format is None:
        return Verification(path, problems=(facts.error,))
    problems: list[Problem] = []
    label = facts.standard_label
    result: dict[str, Any] = {
        "format": facts.format,
        "standard_label": label.synthetic if label is not None else None,
    }
    if facts.error is not None:
        return Verification(path, problems=(facts.error,), **result)
    if not facts.record_present:
        problems.append(Problem(NO_RECORD, "no synthmark record (embedded or sidecar)"))
        if check_watermark:
            result["watermark"] = _watermark_state(facts, None, problems)
        return Verification(
            path,
            problems=tuple(problems),
            schema=CheckState.ABSENT,
            binding=CheckState.ABSENT,
            **result,
        )
    result.update(record_present=True, record_source=facts.record_source)
    if facts.sidecar_disagrees:
        problems.append(
            Problem(SIDECAR_DISAGREES, "sidecar record differs from embedded one", "warning")
        )
    record = facts.record
    if record is None:
        for location, message in facts.record_problems:
            code = UNKNOWN_SPEC_VERSION if location == "spec_version" else RECORD_INVALID
            problems.append(Problem(code, f"{location}: {message}"))
        if facts.record_unparseable is not None:
            problems.append(Problem(RECORD_UNPARSEABLE, facts.record_unparseable))
        return Verification(path, schema=CheckState.FAIL, problems=tuple(problems), **result)
    result.update(
        record_id=str(record.record_id), synthetic=record.synthetic, schema=CheckState.PASS
    )
    # (5) the content binding.
    binding = facts.binding
    if record.binding is None:
        problems.append(Problem(BINDING_ABSENT, "record has no content binding (not stamped)"))
    elif facts.pixels_error is not None:
        problems.append(facts.pixels_error)
    elif binding == CheckState.FAIL:
        problems.append(
            Problem(
                BINDING_MISMATCH,
                "content binding does not match the pixels "
                "(record transplanted or pixels edited after stamping)",
            )
        )
    result["binding"] = binding
    # (6) the standard acknowledgment must not contradict the record.
    assert label is not None
    result["label"] = _label_state(label, record, problems)
    # (7) signatures: the record's embedded signature and, on PNG/JPEG, C2PA credentials.
    result["signature"] = _signature_state(facts, problems)
    problems.extend(facts.credentials_problems)
    result["credentials"] = facts.credentials
    # (8) the watermark against the record's descriptor.
    if check_watermark:
        result["watermark"] = _watermark_state(facts, record, problems)
    return Verification(path, problems=tuple(problems), **result)


def _signature_state(facts: Inspection, problems: list[Problem]) -> CheckState:
    state = facts.signature
    if state is None:
        return CheckState.ABSENT
    if state.state == "trusted":
        return CheckState.PASS
    if state.state == "unverified":
        return CheckState.NOT_CHECKED
    code = RECORD_SIGNER_UNTRUSTED if state.state == "untrusted" else RECORD_SIGNATURE_INVALID
    problems.append(Problem(code, f"record signature: {state.message} ({state.code})"))
    return CheckState.FAIL


def _watermark_state(
    facts: Inspection, record: SynthmarkRecord | None, problems: list[Problem]
) -> CheckState:
    if facts.pixels_error is not None:
        problems.append(facts.pixels_error)
        return CheckState.NOT_CHECKED
    found = facts.detection
    if found is None:  # too small to carry a mark
        return CheckState.NOT_CHECKED
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


@dataclass(frozen=True)
class MarkResult:
    """What :func:`mark_file` wrote.

    Attributes:
        source: Input file.
        dest: Marked file.
        key_id: Id of the embedding key.
        rebound: True when the file's record was updated (binding and watermark descriptor).
    """

    source: Path
    dest: Path
    key_id: str
    rebound: bool


def mark_file(
    path: Path | str,
    *,
    dest: Path | str | None = None,
    in_place: bool = False,
    overwrite: bool = False,
    key: WatermarkKey | None = None,
    strength: float = 1.0,
) -> MarkResult:
    """Embed the watermark in a file's pixels (default key: the public detection key).

    A file that already carries a record is re-stamped: the record gets the watermark
    descriptor and a new binding over the marked pixels. A file without a record gets the
    mark only (presence, no payload).

    Raises:
        UsageError, OutputExistsError: on bad destinations.
        SynthmarkError: when the file cannot be read or written.
    """
    from synthmark.errors import OutputExistsError, UsageError
    from synthmark.watermark import PUBLIC_DETECTION_KEY
    from synthmark.watermark.content import embed_content, is_jpeg, write_jpeg

    source = Path(path)
    if in_place == (dest is not None):
        raise UsageError("give exactly one of an output path and in-place")
    target = source if in_place else Path(dest)  # type: ignore[arg-type]
    if not in_place and target.exists() and not overwrite:
        raise OutputExistsError("output exists", path=target)
    key = key or PUBLIC_DETECTION_KEY
    try:
        found = read_record(source)
    except RecordMissingError:
        found = None
    if found is not None:
        stamp(
            source,
            found.record,
            dest=None if in_place else target,
            in_place=in_place,
            overwrite=True,
            watermark=key,
            strength=strength,
        )
        return MarkResult(source, target, key.key_id, True)
    image = open_image(source)
    marked = embed_content(image.pixels(), key, None, strength=strength)
    if is_jpeg(image):
        write_jpeg(target, marked)
    else:
        image.write(target, record_json=None, ack=None, new_pixels=marked)
    return MarkResult(source, target, key.key_id, False)


__all__ = [
    "SPEC_VERSION",
    "CheckState",
    "FoundRecord",
    "MarkResult",
    "Problem",
    "StampResult",
    "Verification",
    "WriteFailedError",
    "digest_file",
    "mark_file",
    "read_record",
    "stamp",
    "verdict",
    "verify",
]
