"""Self-contained HTML report: one page, inline CSS, no script, nothing loaded.

The page carries a strict Content-Security-Policy (``default-src 'none'``; images only
from ``data:`` URIs; inline styles only), so even a hostile file name could not make it
fetch or run anything; every text is escaped as well. Thumbnails appear only when the
engine put them in ``Report.thumbnails`` (by default only images flagged synthetic).

Counts carry stable ids and data attributes (``id="count-errors"``,
``data-count-code="SM501"``) so that tests and scripts can read them back from the DOM.

Values are built here (:func:`report_page`); the page is ``templates/report.html.j2``,
rendered by Jinja2 with autoescaping on (:func:`html_environment`, shared with the card).
"""

from __future__ import annotations

import base64
import functools
import re
from typing import TYPE_CHECKING, Any

from synthmark.rules.catalogue import RULES_BY_CODE
from synthmark.validation.report import Finding, Report

if TYPE_CHECKING:
    import jinja2

    from synthmark.validation.reporters import RenderOptions

__all__ = ["CONTENT_SECURITY_POLICY", "html_environment", "render_html", "report_page"]

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Control characters are invalid in HTML text; show them escaped like the text report.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _visible(value: Any) -> Any:
    """Jinja ``finalize``: every printed value, before autoescaping.

    Markup (a macro's output) passes as it is; booleans print as ``true``/``false`` for
    data attributes; control characters become visible ``\\xNN`` escapes.
    """
    from markupsafe import Markup

    if isinstance(value, Markup):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


@functools.lru_cache(maxsize=1)
def html_environment() -> jinja2.Environment:
    """The Jinja2 environment of every HTML page synthmark writes (report, card).

    Autoescaping is on for everything; an undefined name is an error, not an empty string,
    so a template typo cannot silently drop a fact from a page.
    """
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("synthmark", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_visible,
        auto_reload=False,
    )


def _rule_rows(report: Report) -> list[dict[str, Any]]:
    groups: dict[str, list[Finding]] = {}
    for finding in report.findings:
        groups.setdefault(finding.code, []).append(finding)
    rows = []
    for code in sorted(groups, key=lambda c: (-max(f.severity.rank for f in groups[c]), c)):
        members = groups[code]
        rows.append(
            {
                "code": code,
                "name": members[0].name,
                "worst": max((f.severity for f in members), key=lambda s: s.rank),
                "count": len(members),
                "rule": RULES_BY_CODE.get(code),
                "message": members[0].message,
            }
        )
    return rows


def _thumbnails(report: Report) -> list[dict[str, Any]]:
    # Only real PNGs go in: anything else would be a broken image at best.
    return [
        {
            "path": t.path,
            "z": "n/a" if t.z is None else f"{t.z:.2f}",
            "p": "n/a" if t.p_value is None else f"{t.p_value:.3g}",
            "synthetic": t.synthetic,
            "acknowledged": t.synthetic,
            "data": base64.b64encode(t.png).decode("ascii"),
        }
        for t in report.thumbnails
        if t.png.startswith(_PNG_SIGNATURE)
    ]


def report_page(report: Report, options: RenderOptions) -> dict[str, Any]:
    """The values the report page shows, apart from how it shows them."""
    from synthmark import __version__

    counts = report.counts_by_severity()
    s = report.summary
    meta = [f"{s.files:,} files", f"{report.duration_s:.1f} s"]
    if report.roots:
        meta.insert(0, "roots: " + ", ".join(report.roots))
    if report.policy:
        meta.append(f"policy: {report.policy}")
    if report.strict:
        meta.append("strict: warnings fail the run")
    cards = [
        ("files", "files", s.files),
        ("synthetic-acknowledged", "synthetic acknowledged", s.synthetic_acknowledged),
        ("watermarked", "watermarked", s.watermarked),
        ("unreadable", "unreadable", s.unreadable),
        ("real-or-unlabelled", "real or unlabelled", s.real_or_unlabelled),
        ("errors", "errors", counts["error"], "error"),
        ("warnings", "warnings", counts["warning"], "warning"),
        ("info", "info", counts["info"], "info"),
    ]
    if report.internal_errors:
        cards.append(("internal-errors", "internal errors (bugs)", report.internal_errors, "error"))
    # Most severe first (stable, so path order within a severity), so the cap drops notes
    # before errors.
    ordered = sorted(report.findings, key=lambda f: -f.severity.rank)
    not_run = []
    for code, reason in report.rules_not_run:
        rule = RULES_BY_CODE.get(code)
        not_run.append({"code": code, "name": rule.name if rule else "", "reason": reason})
    return {
        "verdict": "FAILED" if report.failed else "PASSED",
        "failed": report.failed,
        "meta": " · ".join(meta),
        "cards": cards,
        "rules": _rule_rows(report),
        "findings": ordered[: options.max_rows],
        "findings_total": len(ordered),
        "not_run": not_run,
        "thumbnails": _thumbnails(report),
        "version": __version__,
    }


def render_html(report: Report, options: RenderOptions) -> bytes:
    """Render a self-contained HTML page.

    Args:
        report: The validation result.
        options: ``max_rows`` caps the rows of the findings table.

    Returns:
        A UTF-8 HTML document that loads nothing from anywhere.
    """
    template = html_environment().get_template("report.html.j2")
    text = template.render(page=report_page(report, options), csp=CONTENT_SECURITY_POLICY)
    return text.encode("utf-8", "backslashreplace")
