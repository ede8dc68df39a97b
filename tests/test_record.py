"""The record and manifest models against the spec's examples and field rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from synthmark.errors import RecordInvalidError, RecordParseError
from synthmark.record.models import SynthmarkRecord
from synthmark.record.parsing import canonical_json, parse_manifest, parse_record
from synthmark.specgen.schema import render_schemas
from tests.conftest import EXAMPLES

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(render_schemas()[name])
    return jsonschema.Draft202012Validator(schema)


RECORD_SCHEMA = _validator("record.v1.schema.json")
MANIFEST_SCHEMA = _validator("manifest.v1.schema.json")


def _valid_record() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "valid-diffusion-ct-chest.json").read_text())
    return data


def test_examples_exist_in_both_kinds() -> None:
    names = [p.name for p in EXAMPLE_FILES]
    assert any(n.startswith("valid-") for n in names)
    assert "invalid-synthetic-with-digitalCapture.json" in names
    assert all(n.startswith(("valid-", "invalid-")) for n in names)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_pydantic_and_jsonschema_agree_on_every_example(path: Path) -> None:
    is_manifest = "manifest" in path.name
    expected_valid = path.name.startswith("valid-")
    data = json.loads(path.read_text())
    schema_errors = list((MANIFEST_SCHEMA if is_manifest else RECORD_SCHEMA).iter_errors(data))
    try:
        (parse_manifest if is_manifest else parse_record)(path.read_bytes(), path=path)
        pydantic_valid = True
    except RecordInvalidError:
        pydantic_valid = False
    assert pydantic_valid is expected_valid
    assert (not schema_errors) is expected_valid, [e.message for e in schema_errors]


@pytest.mark.parametrize(
    "field",
    [
        "spec_version",
        "record_id",
        "created",
        "creator",
        "synthetic",
        "digital_source_type",
        "modality",
    ],
)
def test_missing_required_field_is_named(field: str) -> None:
    data = _valid_record()
    del data[field]
    with pytest.raises(RecordInvalidError) as info:
        parse_record(json.dumps(data))
    assert field in [loc for loc, _ in info.value.problems]
    assert field in str(info.value)
    assert list(RECORD_SCHEMA.iter_errors(data))


@pytest.mark.parametrize(
    ("synthetic", "source"),
    [
        (True, "digitalCapture"),
        (True, "computationalCapture"),
        (False, "trainedAlgorithmicMedia"),
        (False, "algorithmicMedia"),
        (False, "compositeWithTrainedAlgorithmicMedia"),
    ],
)
def test_contradictory_synthetic_and_source_type_rejected(synthetic: bool, source: str) -> None:
    data = _valid_record()
    data["synthetic"] = synthetic
    data["digital_source_type"] = "http://cv.iptc.org/newscodes/digitalsourcetype/" + source
    if not synthetic:
        for key in ("generator", "training_data", "intended_use", "limitations"):
            data.pop(key, None)
    with pytest.raises(RecordInvalidError) as info:
        parse_record(json.dumps(data))
    assert "digital_source_type" in str(info.value)
    assert list(RECORD_SCHEMA.iter_errors(data))


def test_record_written_by_hand_from_the_field_table_validates() -> None:
    # Only the fields the spec's table marks required, plus what synthetic=true requires.
    hand_written = {
        "spec_version": "1.0",
        "record_id": "2b1e4c9a-0d7f-4e3b-8a6c-1f2e3d4c5b6a",
        "created": "2026-11-23T10:00:00Z",
        "creator": {"organisation": "Phantom Lab", "role": "research_group"},
        "synthetic": True,
        "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia",
        "modality": "MR",
        "generator": {
            "name": "BrainWeb-like simulator",
            "version": "1",
            "manufacturer": "Phantom Lab",
            "architecture": "physics_simulation",
            "conditioning": {"kind": "unconditional"},
        },
        "intended_use": {"intended": ["software_testing"]},
        "limitations": [
            "no_real_patient_grounding",
            "incomplete_representation_of_training_data",
            "distribution_shift_and_bias",
        ],
    }
    record = parse_record(json.dumps(hand_written))
    assert record.synthetic
    assert not list(RECORD_SCHEMA.iter_errors(hand_written))


def test_canonical_json_round_trips_and_is_stable() -> None:
    record = parse_record((EXAMPLES / "valid-diffusion-ct-chest.json").read_bytes())
    once = canonical_json(record)
    again = canonical_json(parse_record(once))
    assert once == again
    assert b" " not in once.split(b'"text_prompt"')[0][:20]
    assert b"null" not in once


def test_models_are_frozen() -> None:
    record = parse_record((EXAMPLES / "valid-diffusion-ct-chest.json").read_bytes())
    with pytest.raises(ValueError, match="frozen"):
        record.synthetic = False  # type: ignore[misc]


def test_unknown_spec_version_message_names_the_version() -> None:
    data = _valid_record()
    data["spec_version"] = "1.7"
    with pytest.raises(RecordInvalidError, match="spec_version"):
        parse_record(json.dumps(data))


def test_bad_json_and_non_object_give_parse_errors() -> None:
    with pytest.raises(RecordParseError):
        parse_record(b"{not json")
    with pytest.raises(RecordParseError):
        parse_record(b"[1, 2]")
    with pytest.raises(RecordParseError):
        parse_record(b"\xff\xfe")
    with pytest.raises(RecordParseError):
        parse_record(b"[" * 100000)


def test_duplicate_audience_rejected() -> None:
    data = _valid_record()
    data["access"].append({"audience": "public", "level": "none"})
    with pytest.raises(RecordInvalidError, match="audience"):
        parse_record(json.dumps(data))


def test_utility_compares_like_with_like() -> None:
    data = _valid_record()
    data["evaluation"]["utility"][0]["mixed"]["name"] = "dice"
    with pytest.raises(RecordInvalidError, match="same metric"):
        parse_record(json.dumps(data))


@pytest.mark.parametrize(
    "bad_path", ["../x.dcm", "a/../../x.dcm", "/abs.dcm", "C:/x.dcm", "a//b.dcm", "a\\b.dcm", ".."]
)
def test_manifest_paths_cannot_escape_root(bad_path: str) -> None:
    data = json.loads((EXAMPLES / "valid-manifest-mixed-dataset.json").read_text())
    data["files"][0]["path"] = bad_path
    with pytest.raises(RecordInvalidError):
        parse_manifest(json.dumps(data))
    assert list(MANIFEST_SCHEMA.iter_errors(data))


def test_manifest_counts_must_match_entries() -> None:
    data = json.loads((EXAMPLES / "valid-manifest-mixed-dataset.json").read_text())
    wrong = copy.deepcopy(data)
    wrong["synthetic_count"] = 2
    wrong["synthetic_proportion"] = 2 / 3
    with pytest.raises(RecordInvalidError, match="synthetic_count"):
        parse_manifest(json.dumps(wrong))
    wrong = copy.deepcopy(data)
    wrong["synthetic_proportion"] = 0.5
    with pytest.raises(RecordInvalidError, match="synthetic_proportion"):
        parse_manifest(json.dumps(wrong))


def test_every_field_is_documented() -> None:
    def walk(model: type[Any], seen: set[type[Any]]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} lacks a description"
            for arg in (*getattr(field.annotation, "__args__", ()), field.annotation):
                inner = getattr(arg, "__args__", (arg,))
                for candidate in inner:
                    if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
                        walk(candidate, seen)

    walk(SynthmarkRecord, set())
