"""Generated files in the repository equal what the code generates."""

from __future__ import annotations

import json

import jsonschema

from synthmark.record.models import SPEC_VERSION
from synthmark.specgen.schema import render_schemas
from tests.conftest import REPO


def test_committed_schemas_match_generated() -> None:
    for name, data in render_schemas().items():
        committed = REPO / "schema" / name
        assert committed.is_file(), f"schema/{name} missing: run `synthmark schema export`"
        assert committed.read_bytes() == data, (
            f"schema/{name} drifted: run `synthmark schema export`"
        )


def test_export_reproduces_every_committed_schema() -> None:
    committed = {p.name for p in (REPO / "schema").glob("*.schema.json")}
    assert committed == set(render_schemas()), "schema/ holds files `schema export` does not make"


def test_schemas_are_valid_2020_12_with_versioned_ids() -> None:
    for name, data in render_schemas().items():
        schema = json.loads(data)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(f"/{SPEC_VERSION}/{name}")
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert "GENERATED" in schema["$comment"]


def test_spec_field_tables_match_models() -> None:
    from synthmark.specgen.tables import GENERATED_TABLES

    for file_name, render in GENERATED_TABLES.items():
        committed = (REPO / "spec" / file_name).read_text(encoding="utf-8")
        assert committed == render(), (
            f"spec/{file_name} drifted: run `python -m synthmark.specgen.tables`"
        )


def test_spec_rules_match_catalogue() -> None:
    from synthmark.rules.catalogue import render_rules_markdown

    committed = (REPO / "spec" / "rules.md").read_text(encoding="utf-8")
    assert committed == render_rules_markdown(), (
        "spec/rules.md drifted: run `python -m synthmark.rules.catalogue`"
    )


def test_rule_codes_are_unique_and_well_formed() -> None:
    import re

    from synthmark.rules import RETIRED_CODES, RULES

    codes = [rule.code for rule in RULES]
    names = [rule.name for rule in RULES]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)
    assert not set(codes) & RETIRED_CODES
    for rule in RULES:
        assert re.fullmatch(r"SM[1-9][0-9]{2}", rule.code)
        assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", rule.name)
        assert rule.what and rule.why and rule.example and rule.fix and rule.spec
