"""JSON reporter: exactly Report.to_json, valid against schema/report.v1.schema.json."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from synthmark.validation.report import DatasetSummary, Report
from synthmark.validation.reporters import render

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema" / "report.v1.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_header() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert next(iter(schema)) == "$comment"
    assert schema["$comment"] == (
        "Schema of `synthmark validate --format json` output (report_format 1.0)"
    )
    assert schema["$id"] == "https://synthmark.org/schema/1.0/report.v1.schema.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_output_is_to_json(sample_report: Report) -> None:
    data = render(sample_report, "json")
    assert data == (json.dumps(sample_report.to_json(), indent=2) + "\n").encode()
    parsed = json.loads(data)
    assert parsed["counts"]["by_code"] == {"SM401": 1, "SM501": 3, "SM508": 1, "SM903": 1}
    assert next(iter(parsed)) == "report_format"


@pytest.mark.parametrize("name", ["sample_report", "clean_report", "hostile_report"])
def test_validates(
    name: str, request: pytest.FixtureRequest, validator: jsonschema.Draft202012Validator
) -> None:
    report: Report = request.getfixturevalue(name)
    validator.validate(json.loads(render(report, "json")))


def test_minimal_report_validates(validator: jsonschema.Draft202012Validator) -> None:
    report = Report(findings=(), summary=DatasetSummary(), rules_run=())
    validator.validate(json.loads(render(report, "json")))


def test_no_thumbnails(make_report: Callable[..., Report], thumbs: Any) -> None:
    data = render(make_report(thumbnails=thumbs), "json")
    for thumb in thumbs:
        assert base64.b64encode(thumb.png)[8:48] not in data
    assert b"thumbnail" not in data


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        (("extra",), 1),
        (("summary", "extra"), 1),
        (("findings", 0, "extra"), 1),
        (("findings", 0, "severity"), "fatal"),
        (("findings", 0, "code"), "XX1"),
        (("report_format",), "2.0"),
        (("counts", "by_severity", "extra"), 0),
        (("summary", "files"), -1),
    ],
)
def test_schema_is_strict(
    pointer: tuple[Any, ...],
    value: object,
    sample_report: Report,
    validator: jsonschema.Draft202012Validator,
) -> None:
    doc = json.loads(render(sample_report, "json"))
    target = doc
    for key in pointer[:-1]:
        target = target[key]
    target[pointer[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)
