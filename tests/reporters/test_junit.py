"""JUnit reporter: well-formed XML, one test case per rule, failures agree with the verdict."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from synthmark.validation.report import Finding, Report, Severity
from synthmark.validation.reporters import RenderOptions, render

from .conftest import HOSTILE


def junit(report: Report, **options: int) -> ET.Element:
    data = render(report, "junit", RenderOptions(**options))  # type: ignore[arg-type]
    assert data.startswith(b"<?xml")
    return ET.fromstring(data)


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.attrib["classname"].removeprefix("synthmark."): c for c in root.iter("testcase")}


def test_structure(sample_report: Report) -> None:
    root = junit(sample_report)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.attrib["name"] == "synthmark"
    by_code = cases(root)
    # Every rule that ran, plus the skipped one.
    assert set(by_code) == {"SM101", "SM401", "SM501", "SM508", "SM901", "SM903", "SM201"}
    assert suite.attrib["tests"] == "7"
    assert suite.attrib["failures"] == "1"
    assert suite.attrib["errors"] == "0"
    assert suite.attrib["skipped"] == "1"
    assert root.attrib["failures"] == "1"

    failure = by_code["SM501"].find("failure")
    assert failure is not None
    assert failure.attrib["type"] == "SM501"
    assert failure.attrib["message"].startswith("3 finding(s): A watermarked")
    assert failure.text is not None
    assert "ct/a.dcm: error: watermark z=9.1" in failure.text
    # Warnings do not fail the run, so they are output, not failures.
    assert by_code["SM401"].find("failure") is None
    out = by_code["SM401"].find("system-out")
    assert out is not None
    assert out.text is not None
    assert "mr/x.nii.gz" in out.text
    sm508_out = by_code["SM508"].find("system-out")
    assert sm508_out is not None
    assert sm508_out.text is not None
    assert "(dataset): warning: no manifest at root" in sm508_out.text
    # Passing rules are plain test cases.
    assert list(by_code["SM101"]) == []
    skipped = by_code["SM201"].find("skipped")
    assert skipped is not None
    assert skipped.attrib["message"] == "header-only mode"
    props = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert props["files"] == "120"
    assert props["failed"] == "true"


def test_strict_fails_warnings(sample_report: Report, make_report: Callable[..., Report]) -> None:
    strict = make_report(sample_report.findings, strict=True)
    by_code = cases(junit(strict))
    assert by_code["SM401"].find("failure") is not None
    assert by_code["SM903"].find("failure") is None


def test_listing_capped(sample_report: Report) -> None:
    failure = cases(junit(sample_report, max_locations_per_rule=1))["SM501"].find("failure")
    assert failure is not None
    assert failure.text is not None
    assert "ct/b.dcm" not in failure.text
    assert "... and 2 more" in failure.text


def test_internal_errors(make_report: Callable[..., Report]) -> None:
    root = junit(make_report(internal_errors=3))
    assert root.attrib["errors"] == "1"
    error = cases(root)["internal"].find("error")
    assert error is not None
    assert "3 file(s)" in error.attrib["message"]


def test_clean(clean_report: Report) -> None:
    root = junit(clean_report)
    assert root.attrib["failures"] == "0"
    assert root.find(".//failure") is None


def test_escaping(hostile_report: Report) -> None:
    data = render(hostile_report, "junit")
    root = ET.fromstring(data)  # well-formed despite markup and control characters
    assert b"<script>" not in data
    assert b"]]></failure>" not in data
    texts = "".join(root.itertext()) + "".join(v for e in root.iter() for v in e.attrib.values())
    assert "evil<script>alert(1)</script>" in texts  # escaped in the file, intact when read
    assert "]]></failure>&amp;" in texts
    assert "\\u0000nul" in texts
    assert HOSTILE not in texts  # the characters XML cannot carry were replaced


def test_many_findings_stay_small(make_report: Callable[..., Report]) -> None:
    findings = tuple(
        Finding("SM501", "unacknowledged-synthetic-image", Severity.ERROR, f"f{i:06d}.png", "m")
        for i in range(50_000)
    )
    data = render(make_report(findings), "junit")
    assert len(data) < 200_000
    assert b"... and 49,000 more" in data
