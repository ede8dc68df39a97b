"""in-toto Statement v1 over lifecycle predicates (spec/attestations.md §2).

A statement names its subjects by digest (images, a dataset manifest, model weights) and
carries one predicate whose type says the lifecycle stage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthmark.errors import AttestationFormatError, SigningError
from synthmark.provenance.predicates import (
    PREDICATE_MODELS,
    STAGE_BY_PREDICATE_TYPE,
    Predicate,
    predicate_type_uri,
)
from synthmark.record.vocab import LifecycleStage

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"

DigestHex = Annotated[str, Field(pattern=r"^[0-9a-f]{16,128}$")]


class Subject(BaseModel):
    """A resource the statement is about, by name and digest (sha256 required)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=4096)] = Field(
        description="POSIX path relative to the subject root, or another stable name."
    )
    digest: dict[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")], DigestHex] = Field(
        description="Digests by algorithm; `sha256` of the resource's bytes is required."
    )

    @model_validator(mode="after")
    def _sha256(self) -> Self:
        if len(self.digest.get("sha256", "")) != 64:
            raise ValueError("every subject needs a 64-hex-digit sha256 digest")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in self.name):
            raise ValueError("a subject name must not contain control characters")
        return self


class Statement(BaseModel):
    """An in-toto Statement v1 whose predicate is a synthmark lifecycle predicate."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type_: Literal["https://in-toto.io/Statement/v1"] = Field(alias="_type")
    subject: list[Subject] = Field(min_length=1)
    predicateType: str
    predicate: dict[str, Any]

    def to_payload(self) -> bytes:
        """Canonical payload bytes: sorted keys, no whitespace, UTF-8."""
        obj = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def subject_name(path: Path, root: Path) -> str:
    """Name of ``path`` as a subject: POSIX path relative to ``root`` (which must contain it)."""
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError as exc:
        raise SigningError(
            f"subject {path} is outside the subject root {root}",
            hint="pass --subject-root with a folder that contains every subject",
        ) from exc
    return PurePosixPath(*rel.parts).as_posix()


def subjects_from_files(paths: Iterable[Path], root: Path) -> list[Subject]:
    """One subject per file, named relative to ``root``, with its SHA-256."""
    subjects = []
    for path in paths:
        if not path.is_file():
            raise SigningError(f"subject {path} is not a readable file", path=path)
        try:
            digest = file_sha256(path)
        except OSError as exc:
            raise SigningError(f"subject cannot be read: {exc.strerror}", path=path) from exc
        subjects.append(Subject(name=subject_name(path, root), digest={"sha256": digest}))
    names = [s.name for s in subjects]
    if len(set(names)) != len(names):
        raise SigningError("the same subject is named twice")
    return subjects


def make_statement(predicate: Predicate, subjects: list[Subject]) -> Statement:
    """Wrap ``predicate`` in a statement about ``subjects``."""
    return Statement.model_validate(
        {
            "_type": STATEMENT_TYPE,
            "subject": subjects,
            "predicateType": predicate_type_uri(predicate.stage),
            "predicate": predicate.model_dump(mode="json", exclude_none=True),
        }
    )


def parse_predicate(stage: LifecycleStage, obj: Any) -> Predicate:
    """Validate a predicate of ``stage``.

    Raises:
        AttestationFormatError: listing the first problems when it fails its model.
    """
    model = PREDICATE_MODELS[stage]
    try:
        predicate: Predicate = model.model_validate(obj)  # type: ignore[assignment]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(predicate)'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise AttestationFormatError(f"{stage.value} predicate is invalid: {problems}") from exc
    return predicate


def parse_statement(payload: bytes) -> tuple[Statement, LifecycleStage, Predicate]:
    """Parse a statement payload and its predicate.

    Raises:
        AttestationFormatError: when it is not an in-toto v1 statement with a known
            synthmark predicate type and a valid predicate.
    """
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise AttestationFormatError("statement payload is not UTF-8 JSON") from exc
    try:
        statement = Statement.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(statement)"
        raise AttestationFormatError(
            f"not an in-toto Statement v1: {where}: {first['msg']}"
        ) from exc
    stage = STAGE_BY_PREDICATE_TYPE.get(statement.predicateType)
    if stage is None:
        raise AttestationFormatError(
            f"unknown predicateType {statement.predicateType!r}",
            hint="synthmark predicate types are " + ", ".join(sorted(STAGE_BY_PREDICATE_TYPE)),
        )
    return statement, stage, parse_predicate(stage, statement.predicate)
