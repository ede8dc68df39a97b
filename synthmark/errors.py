"""Typed errors of synthmark: each carries a stable ``code`` and an actionable ``hint``.

Codes are part of the public contract (scripts match on them); they are never renumbered.
The CLI maps every :class:`SynthmarkError` to a one-line message and an exit code in exactly
one place (:mod:`synthmark.cli`); anything else that escapes is a bug and exits 70.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


class SynthmarkError(Exception):
    """Base of every error synthmark raises on purpose.

    Attributes:
        code: Stable machine-readable code, e.g. ``"SMX001"``.
        exit_code: Exit status the CLI uses for this error (2 = usage/config/input).
        hint: What the user can do about it.
        path: The file concerned, when there is one.
    """

    code: ClassVar[str] = "SMX000"
    exit_code: ClassVar[int] = 2
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None, path: Path | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.path = path

    def one_line(self) -> str:
        """Render as ``CODE: [path: ]message (hint: ...)``, one line, for people."""
        where = f"{self.path}: " if self.path is not None else ""
        text = f"{self.code}: {where}{self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return " ".join(text.split())


class UsageError(SynthmarkError):
    """The command was called wrongly (bad option combination, missing argument)."""

    code = "SMX001"
    default_hint = "run the command with --help"


class ConfigError(SynthmarkError):
    """A configuration or policy file is missing or invalid."""

    code = "SMX002"


class InputNotFoundError(SynthmarkError):
    """An input path does not exist."""

    code = "SMX010"
    default_hint = "check the path"


class InputUnreadableError(SynthmarkError):
    """An input exists but cannot be read (permissions, I/O error)."""

    code = "SMX011"
    default_hint = "check the file's permissions"


class UnsupportedFormatError(SynthmarkError):
    """No carrier recognises the file's content."""

    code = "SMX012"
    default_hint = "supported: DICOM, NIfTI-1/2 (.nii, .nii.gz), PNG, JPEG, TIFF"


class CorruptFileError(SynthmarkError):
    """The file claims a supported format but is truncated or malformed."""

    code = "SMX013"
    default_hint = "the file is truncated or corrupt; restore it from its source"


class PixelDecodeError(SynthmarkError):
    """The header reads but the pixel data cannot be decoded."""

    code = "SMX014"
    default_hint = "install a decoder for this transfer syntax, or transcode losslessly"


class ResourceLimitError(SynthmarkError):
    """Reading the file would exceed a resource limit (pixels, decompressed bytes, frames).

    Not a verdict on the file: it was refused before anything large was allocated
    (spec/parts/limits.md). The message names the limit's settings, since the problem
    codes of ``verify`` and validation findings carry the message without the hint.

    Attributes:
        setting: The command-line option of the limit, e.g. ``"--max-pixels"``.
    """

    code = "SMX015"

    def __init__(
        self,
        message: str,
        *,
        setting: str,
        hint: str | None = None,
        path: Path | None = None,
    ):
        super().__init__(message, hint=hint, path=path)
        self.setting = setting


class RecordInvalidError(SynthmarkError):
    """A synthmark record fails its schema.

    Attributes:
        problems: One ``(field path, message)`` pair per violation.
    """

    code = "SMX020"
    exit_code = 1
    default_hint = "fix the fields listed; see spec/synthmark.md section 4"

    def __init__(
        self,
        message: str,
        *,
        problems: list[tuple[str, str]] | None = None,
        hint: str | None = None,
        path: Path | None = None,
    ):
        super().__init__(message, hint=hint, path=path)
        self.problems = problems or []


class RecordMissingError(SynthmarkError):
    """The file carries no synthmark record."""

    code = "SMX021"
    exit_code = 1
    default_hint = "stamp the file with `synthmark stamp`"


class RecordParseError(SynthmarkError):
    """A record's bytes are not valid JSON (or not UTF-8)."""

    code = "SMX022"
    default_hint = "records are UTF-8 JSON objects; see spec/examples/"


class OutputExistsError(SynthmarkError):
    """Refusing to overwrite an existing output."""

    code = "SMX030"
    default_hint = "choose another output path, or pass --overwrite"


class WriteFailedError(SynthmarkError):
    """Writing an output failed; the original is untouched and no partial file remains."""

    code = "SMX031"


class EncodeError(SynthmarkError):
    """Changed pixels cannot be written back losslessly in the input's encoding."""

    code = "SMX032"


class KeyError_(SynthmarkError):
    """A key file is missing, malformed or of the wrong type."""

    code = "SMX040"
    default_hint = "create one with `synthmark keygen`"


class OptionalDependencyError(SynthmarkError):
    """A feature needs a package that is not installed."""

    code = "SMX050"


class AttestationFormatError(SynthmarkError):
    """An envelope, statement, predicate or trust file is malformed (not a verdict on it)."""

    code = "SMX072"
    default_hint = "see spec/attestations.md for the envelope, statement and trust formats"


class SigningError(SynthmarkError):
    """Signing could not be done (unusable key, subject unreadable)."""

    code = "SMX071"


class CredentialsError(SynthmarkError):
    """C2PA Content Credentials could not be written (certificate, key or format problem)."""

    code = "SMX080"
    default_hint = (
        "C2PA needs a leaf certificate with KeyUsage digitalSignature and an accepted EKU "
        "(e.g. emailProtection), chain PEM leaf first; `synthmark keygen --type x509` makes "
        "a development chain"
    )


def all_error_classes() -> list[type[SynthmarkError]]:
    """Every error class, for documentation and for the uniqueness test of codes."""
    seen: list[type[SynthmarkError]] = []
    stack: list[type[SynthmarkError]] = [SynthmarkError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
