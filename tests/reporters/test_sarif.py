"""SARIF reporter: structure, aggregation and GitHub code-scanning size limits.

The official SARIF 2.1.0 schema is not available offline (no installed package ships it),
so :func:`check_sarif` checks the required properties and enums of the parts we emit, as
the schema states them.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from synthmark.rules.catalogue import RULES_BY_CODE
from synthmark.validation.report import Finding, Report, Severity
from synthmark.validation.reporters import RenderOptions, render

LEVELS = {"none", "note", "warning", "error"}

# GitHub code scanning (docs: "SARIF results exceed limit").
GITHUB_MAX_RESULTS = 25_000
GITHUB_MAX_LOCATIONS = 1_000
GITHUB_MAX_GZIP = 10 * 1024 * 1024


def check_message(message: Any) -> None:
    assert isinstance(message, dict)
    assert isinstance(message.get("text"), str) or isinstance(message.get("id"), str)


def check_sarif(log: Any) -> None:
    """Required keys and enums of SARIF 2.1.0 for the objects synthmark writes."""
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert isinstance(log["runs"], list)
    for run in log["runs"]:
        driver = run["tool"]["driver"]
        assert isinstance(driver["name"], str)
        ids = [rule["id"] for rule in driver.get("rules", [])]
        assert len(ids) == len(set(ids))
        for rule in driver.get("rules", []):
            assert isinstance(rule["id"], str)
            for key in ("shortDescription", "fullDescription"):
                if key in rule:
                    assert isinstance(rule[key]["text"], str)
            if "help" in rule:
                assert isinstance(rule["help"]["text"], str)
            if "defaultConfiguration" in rule:
                assert rule["defaultConfiguration"]["level"] in LEVELS
        for invocation in run.get("invocations", []):
            assert isinstance(invocation["executionSuccessful"], bool)
            for note in invocation.get("toolExecutionNotifications", []):
                check_message(note["message"])
                assert note.get("level", "warning") in LEVELS
        for result in run.get("results", []):
            check_message(result["message"])
            assert result.get("level", "warning") in LEVELS
            if "ruleIndex" in result:
                assert ids[result["ruleIndex"]] == result["ruleId"]
            for location in result.get("locations", []):
                physical = location["physicalLocation"]
                assert "artifactLocation" in physical or "address" in physical
                uri = physical["artifactLocation"]["uri"]
                assert isinstance(uri, str)
                assert " " not in uri
                if "message" in location:
                    check_message(location["message"])


def sarif(report: Report, **options: Any) -> Any:
    log = json.loads(render(report, "sarif", RenderOptions(**options)))
    check_sarif(log)
    return log


def test_structure(sample_report: Report) -> None:
    log = sarif(sample_report)
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "synthmark"
    assert driver["version"]
    assert driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == ["SM401", "SM501", "SM508", "SM903"]
    sm501 = next(r for r in driver["rules"] if r["id"] == "SM501")
    rule = RULES_BY_CODE["SM501"]
    assert sm501["name"] == rule.name
    assert sm501["shortDescription"]["text"] == rule.summary
    assert sm501["fullDescription"]["text"] == rule.what
    assert rule.why in sm501["help"]["text"]
    assert rule.fix in sm501["help"]["markdown"]
    assert sm501["defaultConfiguration"]["level"] == "error"
    assert "synthmark" in sm501["properties"]["tags"]
    levels = {r["id"]: r["defaultConfiguration"]["level"] for r in driver["rules"]}
    assert levels == {"SM401": "warning", "SM501": "error", "SM508": "warning", "SM903": "note"}

    results = {r["ruleId"]: r for r in run["results"]}
    assert len(run["results"]) == 4
    assert results["SM501"]["level"] == "error"
    assert results["SM903"]["level"] == "note"
    assert results["SM501"]["message"]["text"].startswith(
        "SM501 unacknowledged-synthetic-image: 3 findings."
    )
    uris = [loc["physicalLocation"]["artifactLocation"] for loc in results["SM501"]["locations"]]
    assert uris == [{"uri": f"ct/{c}.dcm", "uriBaseId": "%SRCROOT%"} for c in "abc"]
    assert results["SM501"]["properties"]["count"] == 3
    assert results["SM501"]["properties"]["locationsOmitted"] == 0
    # Dataset-level: no location, message carries the text.
    assert [
        loc["physicalLocation"]["artifactLocation"]["uri"] for loc in results["SM508"]["locations"]
    ] == ["synthmark-manifest.json"]
    assert "no manifest at root" in results["SM508"]["message"]["text"]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["descriptor"]["id"] == "SM201"
    assert run["invocations"][0]["executionSuccessful"] is True


def test_clean_report_has_no_results(clean_report: Report) -> None:
    run = sarif(clean_report)["runs"][0]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []


def test_level_is_worst_effective_severity(make_report: Callable[..., Report]) -> None:
    # Configuration may lower a rule's severity for some paths only.
    findings = (
        Finding("SM501", "unacknowledged-synthetic-image", Severity.WARNING, "a.png", "m"),
        Finding("SM501", "unacknowledged-synthetic-image", Severity.ERROR, "b.png", "m"),
    )
    result = sarif(make_report(findings))["runs"][0]["results"][0]
    assert result["level"] == "error"
    assert result["properties"]["bySeverity"] == {"error": 1, "warning": 1, "info": 0}


def test_uris_are_percent_encoded(hostile_report: Report) -> None:
    results = sarif(hostile_report)["runs"][0]["results"]
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for result in results
        for loc in result["locations"]
    ]
    assert "a%20b%23c%25d%3F.dcm" in uris
    assert all("<" not in uri and "\\" not in uri for uri in uris)
    # The undecodable byte 0xff comes back as itself, percent-encoded.
    assert any("%FF" in uri for uri in uris)


def test_internal_errors_mark_execution_unsuccessful(make_report: Callable[..., Report]) -> None:
    run = sarif(make_report(internal_errors=1))["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False


def test_location_cap(sample_report: Report) -> None:
    results = {
        r["ruleId"]: r for r in sarif(sample_report, max_locations_per_rule=2)["runs"][0]["results"]
    }
    sm501 = results["SM501"]
    assert len(sm501["locations"]) == 2
    assert sm501["properties"]["locationsOmitted"] == 1
    assert "2 file(s) listed, 1 more not listed." in sm501["message"]["text"]


@pytest.fixture(scope="module")
def huge_report() -> Report:
    """200,000 findings over three codes, as a dataset of millions of files could give."""
    from .conftest import build_report

    codes = [
        ("SM501", "unacknowledged-synthetic-image", Severity.ERROR),
        ("SM401", "synthetic-without-watermark", Severity.WARNING),
        ("SM903", "not-an-image", Severity.INFO),
    ]
    findings = tuple(
        Finding(
            code,
            name,
            severity,
            f"site{i % 97:02d}/patient{i:07d}/slice{i % 500:04d}.dcm",
            f"watermark detected (z={5 + i % 7}.{i % 10})",
        )
        for i in range(200_000)
        for code, name, severity in (codes[i % 3],)
    )
    return build_report(findings)


def test_aggregates_200k_findings_within_github_limits(huge_report: Report) -> None:
    start = time.perf_counter()
    data = render(huge_report, "sarif")
    elapsed = time.perf_counter() - start
    log = json.loads(data)
    check_sarif(log)
    results = log["runs"][0]["results"]
    assert len(results) == 3 <= GITHUB_MAX_RESULTS
    assert all(len(r["locations"]) <= GITHUB_MAX_LOCATIONS for r in results)
    assert sum(r["properties"]["count"] for r in results) == 200_000
    for result in results:
        props = result["properties"]
        assert props["locationsListed"] + props["locationsOmitted"] == props["count"]
        assert f"{props['locationsOmitted']:,} more not listed" in result["message"]["text"]
    compressed = len(gzip.compress(data))
    assert compressed < GITHUB_MAX_GZIP
    assert elapsed < 10, f"took {elapsed:.1f} s"


def test_worst_case_size_every_rule_long_paths(make_report: Callable[..., Report]) -> None:
    # Every rule at the location cap, with long random-looking paths: the log's size is
    # bounded by rules x cap whatever the dataset, and this bound fits GitHub's limit.
    import hashlib

    findings = tuple(
        Finding(
            rule.code,
            rule.name,
            rule.severity,
            "/".join(hashlib.sha256(f"{rule.code}{i}{j}".encode()).hexdigest() for j in range(3))
            + ".dcm",
            "x" * 200,
        )
        for rule in RULES_BY_CODE.values()
        for i in range(1_200)
    )
    data = render(make_report(findings), "sarif")
    log = json.loads(data)
    assert len(log["runs"][0]["results"]) == len(RULES_BY_CODE)
    assert all(len(r["locations"]) == 1_000 for r in log["runs"][0]["results"])
    assert len(gzip.compress(data)) < GITHUB_MAX_GZIP
