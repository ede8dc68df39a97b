"""Reading, validating and serialising records (the I/O around :mod:`synthmark.record.models`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from synthmark.errors import (
    InputNotFoundError,
    InputUnreadableError,
    RecordInvalidError,
    RecordParseError,
)
from synthmark.record.models import DatasetManifest, SynthmarkRecord

ModelT = TypeVar("ModelT", bound=BaseModel)

#: Records larger than this are refused before parsing (a hostile file must not exhaust memory).
MAX_RECORD_BYTES = 4 << 20


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(record)"
        message = error["msg"].removeprefix("Value error, ")
        problems.append((location, message))
    return problems


def parse_model(data: bytes | str, model: type[ModelT], *, path: Path | None = None) -> ModelT:
    """Parse and validate JSON ``data`` as ``model``.

    Raises:
        RecordParseError: when the bytes are not UTF-8 JSON.
        RecordInvalidError: when the JSON violates the model; ``problems`` names each field.
    """
    if isinstance(data, bytes):
        if len(data) > MAX_RECORD_BYTES:
            raise RecordParseError(
                f"record is {len(data)} bytes, over the {MAX_RECORD_BYTES}-byte limit", path=path
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordParseError(f"record is not UTF-8 (byte {exc.start})", path=path) from exc
    else:
        text = data
    try:
        obj: Any = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = (
            f"line {exc.lineno} column {exc.colno}: {exc.msg}"
            if isinstance(exc, json.JSONDecodeError)
            else "nested too deeply"
        )
        raise RecordParseError(f"record is not valid JSON ({where})", path=path) from exc
    if not isinstance(obj, dict):
        raise RecordParseError("record must be a JSON object", path=path)
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        problems = _problems(exc)
        summary = "; ".join(f"{loc}: {msg}" for loc, msg in problems[:3])
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise RecordInvalidError(
            f"{model.__name__} is invalid: {summary}{more}", problems=problems, path=path
        ) from exc


def parse_record(data: bytes | str, *, path: Path | None = None) -> SynthmarkRecord:
    """Parse and validate a synthmark record from JSON (see :func:`parse_model`)."""
    return parse_model(data, SynthmarkRecord, path=path)


def parse_manifest(data: bytes | str, *, path: Path | None = None) -> DatasetManifest:
    """Parse and validate a dataset manifest from JSON (see :func:`parse_model`)."""
    return parse_model(data, DatasetManifest, path=path)


def read_json_file(path: Path) -> bytes:
    """Read a JSON file's bytes with synthmark's errors for missing/unreadable files."""
    try:
        size = path.stat().st_size
        if size > MAX_RECORD_BYTES:
            raise RecordParseError(f"file is {size} bytes, too large for a record", path=path)
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputNotFoundError("no such file", path=path) from exc
    except IsADirectoryError as exc:
        raise InputUnreadableError("is a directory, expected a JSON file", path=path) from exc
    except PermissionError as exc:
        raise InputUnreadableError("permission denied", path=path) from exc


def load_record(path: Path) -> SynthmarkRecord:
    """Load and validate a record from a JSON file."""
    return parse_record(read_json_file(path), path=path)


def canonical_json(model: BaseModel) -> bytes:
    """Serialise ``model`` as canonical JSON: sorted keys, no whitespace, UTF-8, no nulls.

    Absent optional fields are omitted rather than written as ``null`` so a record reads the
    same whichever implementation wrote it (spec section 4.3).
    """
    obj = model.model_dump(mode="json", exclude_none=True)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def pretty_json(model: BaseModel) -> str:
    """Serialise ``model`` for people: sorted keys, two-space indent, no nulls."""
    obj = model.model_dump(mode="json", exclude_none=True)
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
