"""Human-readable text report: a summary, findings grouped by rule, and a verdict.

Grouping by rule code (with a count and a few example paths) is deliberate: one line per
file for the same problem is the BIDS validator's issue flood that users complain about.
``RenderOptions(per_file=True)`` gives the ruff-like one-line-per-finding form instead.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING

from synthmark.rules.catalogue import RULES_BY_CODE
from synthmark.validation.report import Finding, Report, Severity

if TYPE_CHECKING:
    from synthmark.validation.reporters import RenderOptions

__all__ = ["render_text"]

# Control characters (C0, DEL, C1) in file names or messages could move the cursor or
# recolour the terminal of whoever reads the report; they are shown escaped instead.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_STYLE = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[1;33m",
    Severity.INFO: "\x1b[1;36m",
}
_GREEN = "\x1b[1;32m"
_RED = "\x1b[1;31m"


def _clean(value: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


class _Painter:
    """Wraps text in ANSI styles when colour is on, and leaves it alone otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if self.enabled else text

    def severity(self, severity: Severity) -> str:
        return self(severity.value, _STYLE[severity])


def _where(finding: Finding) -> str:
    return _clean(finding.path) if finding.path is not None else "(dataset)"


def _header(report: Report) -> str:
    s = report.summary
    return (
        f"synthmark: {_plural(s.files, 'file')} checked, "
        f"{s.synthetic_acknowledged:,} synthetic acknowledged, "
        f"{s.watermarked:,} watermarked, {s.unreadable:,} unreadable "
        f"in {report.duration_s:.1f} s"
    )


def _verdict(report: Report, paint: _Painter) -> str:
    counts = report.counts_by_severity()
    text = f"{_plural(counts['error'], 'error')}, {_plural(counts['warning'], 'warning')}"
    if counts["info"]:
        text += f", {counts['info']:,} info"
    if report.strict:
        text += " (strict: warnings fail the run)"
    if report.failed:
        return paint("FAILED", _RED) + ": " + text
    return paint("PASSED", _GREEN) + ": " + text


def _grouped(report: Report, options: RenderOptions, paint: _Painter) -> list[str]:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        groups[finding.code].append(finding)

    def order(code: str) -> tuple[int, str]:
        # Most severe rules first, so that errors are read before notes.
        return (-max(f.severity.rank for f in groups[code]), code)

    lines: list[str] = []
    for code in sorted(groups, key=order):
        members = groups[code]
        worst = max((f.severity for f in members), key=lambda s: s.rank)
        rule = RULES_BY_CODE.get(code)
        summary = rule.summary if rule is not None else members[0].message
        name = members[0].name
        lines.append(
            f"{paint(code, _BOLD)} {_clean(name)} ({paint.severity(worst)}) "
            f"x{len(members):,}: {_clean(summary)}"
        )
        shown = members[: options.max_examples]
        lines.extend(f"  {_where(f)}: {_clean(f.message)}" for f in shown)
        if len(members) > len(shown):
            lines.append(paint(f"  ... and {len(members) - len(shown):,} more", _DIM))
    return lines


def _per_file(report: Report, paint: _Painter) -> list[str]:
    return [
        f"{_where(f)}: {paint(f.code, _BOLD)} {paint.severity(f.severity)}: {_clean(f.message)}"
        for f in report.findings
    ]


def render_text(report: Report, options: RenderOptions) -> bytes:
    """Render a report for people reading a terminal or a CI log.

    Args:
        report: The validation result.
        options: ``per_file`` switches from grouped findings to one line per finding,
            ``max_examples`` caps example paths per rule, ``color`` adds ANSI colours.

    Returns:
        UTF-8 text ending with the verdict line and a newline.
    """
    paint = _Painter(options.color)
    lines = [_header(report)]
    if report.findings:
        lines.append("")
        lines += _per_file(report, paint) if options.per_file else _grouped(report, options, paint)
    if report.rules_not_run:
        lines += ["", "Rules not run:"]
        for code, reason in report.rules_not_run:
            rule = RULES_BY_CODE.get(code)
            name = f" {rule.name}" if rule is not None else ""
            lines.append(f"  {code}{name}: {_clean(reason)}")
    if report.internal_errors:
        lines += [
            "",
            paint(
                f"synthmark itself failed on {_plural(report.internal_errors, 'file')} "
                "(a bug, not a verdict)",
                _RED,
            ),
        ]
    lines += ["", _verdict(report, paint)]
    # backslashreplace: a file name decoded with surrogateescape must not crash the report.
    return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
