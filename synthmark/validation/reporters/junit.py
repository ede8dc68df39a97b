"""JUnit XML report: one test case per rule, for CI systems that display test results.

A rule fails its test case when its findings fail the run (any error, or any warning
under ``strict``), so the JUnit view agrees with the exit code. Findings that do not fail
the run (warnings without ``strict``, notes) are listed in the test case's
``<system-out>``. Rules selected but not run are skipped test cases, and files on which
synthmark itself failed are one test case in error. Built with :mod:`xml.etree`, which
escapes markup; characters XML 1.0 cannot carry at all are replaced beforehand.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from synthmark.rules.catalogue import RULES_BY_CODE
from synthmark.validation.report import Finding, Report, Severity

if TYPE_CHECKING:
    from synthmark.validation.reporters import RenderOptions

__all__ = ["render_junit"]

# Not allowed in XML 1.0 even as character references: C0 controls other than tab, LF and
# CR, lone surrogates (undecodable file names) and U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(value: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", value)


def _line(finding: Finding) -> str:
    where = finding.path if finding.path is not None else "(dataset)"
    return _x(f"{where}: {finding.severity.value}: {finding.message}")


def _listing(members: list[Finding], cap: int) -> str:
    lines = [_line(f) for f in members[:cap]]
    if len(members) > cap:
        lines.append(f"... and {len(members) - cap:,} more")
    return "\n".join(lines) + "\n"


def render_junit(report: Report, options: RenderOptions) -> bytes:
    """Render a JUnit XML report with one test case per rule.

    Args:
        report: The validation result.
        options: ``max_locations_per_rule`` caps the findings listed per test case.

    Returns:
        A UTF-8 XML document with an XML declaration.
    """
    worst_failing = Severity.WARNING if report.strict else Severity.ERROR
    groups: dict[str, list[Finding]] = {}
    for finding in report.findings:
        groups.setdefault(finding.code, []).append(finding)
    not_run = dict(report.rules_not_run)
    # Rules that ran, plus any code with findings (defensive: the engine should only emit
    # findings of rules that ran), plus the skipped ones.
    codes = sorted(set(report.rules_run) | set(groups) | set(not_run))

    cases: list[ET.Element] = []
    failures = skipped = errors = 0
    for code in codes:
        rule = RULES_BY_CODE.get(code)
        members = groups.get(code, [])
        name = rule.name if rule is not None else (members[0].name if members else code)
        case = ET.Element(
            "testcase",
            {"classname": f"synthmark.{code}", "name": _x(f"{code} {name}"), "time": "0"},
        )
        failing = [f for f in members if f.severity.rank >= worst_failing.rank]
        if code in not_run and not members:
            skipped += 1
            ET.SubElement(case, "skipped", {"message": _x(not_run[code])})
        elif failing:
            failures += 1
            summary = rule.summary if rule is not None else name
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "message": _x(f"{len(failing):,} finding(s): {summary}"),
                    "type": code,
                },
            )
            failure.text = _listing(failing, options.max_locations_per_rule)
        others = [f for f in members if f.severity.rank < worst_failing.rank]
        if others:
            out = ET.SubElement(case, "system-out")
            out.text = _listing(others, options.max_locations_per_rule)
        cases.append(case)

    if report.internal_errors:
        errors = 1
        case = ET.Element(
            "testcase", {"classname": "synthmark.internal", "name": "synthmark", "time": "0"}
        )
        ET.SubElement(
            case,
            "error",
            {
                "message": f"synthmark itself failed on {report.internal_errors:,} file(s): "
                "a bug, not a verdict",
                "type": "internal-error",
            },
        )
        cases.append(case)

    time = f"{report.duration_s:.3f}"
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": time,
    }
    root = ET.Element("testsuites", {"name": "synthmark", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "synthmark", **counts})
    props = ET.SubElement(suite, "properties")
    s = report.summary
    for key, value in (
        ("files", s.files),
        ("unreadable", s.unreadable),
        ("synthetic_acknowledged", s.synthetic_acknowledged),
        ("watermarked", s.watermarked),
        ("real_or_unlabelled", s.real_or_unlabelled),
        ("strict", str(report.strict).lower()),
        ("failed", str(report.failed).lower()),
        ("policy", report.policy or ""),
    ):
        ET.SubElement(props, "property", {"name": key, "value": _x(str(value))})
    suite.extend(cases)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
