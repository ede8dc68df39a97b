"""Self-contained HTML report: one page, inline CSS, no script, nothing loaded.

The page carries a strict Content-Security-Policy (``default-src 'none'``; images only
from ``data:`` URIs; inline styles only), so even a hostile file name could not make it
fetch or run anything; every text is escaped as well. Thumbnails appear only when the
engine put them in ``Report.thumbnails`` (by default only images flagged synthetic).

Counts carry stable ids and data attributes (``id="count-errors"``,
``data-count-code="SM501"``) so that tests and scripts can read them back from the DOM.
"""

from __future__ import annotations

import base64
import html
import re
from typing import TYPE_CHECKING

from synthmark.rules.catalogue import RULES_BY_CODE
from synthmark.validation.report import Finding, Report, Severity, Thumbnail

if TYPE_CHECKING:
    from synthmark.validation.reporters import RenderOptions

__all__ = ["CONTENT_SECURITY_POLICY", "render_html"]

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Control characters are invalid in HTML text; show them escaped like the text report.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

REPORT_CSS = """
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #57606a;
  --line: #d0d7de; --card: #f6f8fa; --error: #cf222e; --warning: #9a6700;
  --info: #0969da; --ok: #1a7f37; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8d96a0; --line: #30363d;
    --card: #161b22; --error: #ff7b72; --warning: #d29922; --info: #58a6ff;
    --ok: #3fb950; } }
* { box-sizing: border-box; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; padding: 1.5rem; max-width: 80rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line);
  padding-bottom: .25rem; }
.meta { color: var(--muted); margin: 0 0 1rem; }
.verdict { display: inline-block; font-weight: 700; padding: .2rem .7rem;
  border-radius: 1rem; color: #fff; }
.verdict.failed { background: var(--error); } .verdict.passed { background: var(--ok); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(7.5rem, 1fr));
  gap: .75rem; margin: 1rem 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem;
  padding: .6rem .8rem; }
.card .value { display: block; font-size: 1.6rem; font-weight: 700;
  font-variant-numeric: tabular-nums; }
.card .label { color: var(--muted); }
.card.error .value { color: var(--error); } .card.warning .value { color: var(--warning); }
.card.info .value { color: var(--info); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: var(--card); position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.path, code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace;
  word-break: break-all; }
.sev { font-weight: 600; } .sev.error { color: var(--error); }
.sev.warning { color: var(--warning); } .sev.info { color: var(--info); }
details summary { cursor: pointer; }
details p { margin: .3rem 0; color: var(--muted); }
.note { color: var(--muted); font-style: italic; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr));
  gap: 1rem; }
figure { margin: 0; background: var(--card); border: 1px solid var(--line);
  border-radius: .5rem; padding: .5rem; }
figure img { width: 100%; height: auto; image-rendering: pixelated; background: #000; }
figcaption { font-size: .85rem; }
figcaption .unack { color: var(--error); font-weight: 600; }
footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
@media print { th { position: static; } }
"""


def escape(value: object) -> str:
    """Escape text and attribute values (quotes included)."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
    return html.escape(text, quote=True)


def _sev(severity: Severity) -> str:
    return f'<span class="sev {severity.value}">{severity.value}</span>'


def stat_card(key: str, label: str, value: int, css: str = "") -> str:
    """One headline number; its id (``count-KEY``) is what browser tests read back."""
    return (
        f'<div class="card {css}"><span class="value" id="count-{key}">{value:,}</span>'
        f'<span class="label">{escape(label)}</span></div>'
    )


def _rules_table(report: Report) -> list[str]:
    groups: dict[str, list[Finding]] = {}
    for finding in report.findings:
        groups.setdefault(finding.code, []).append(finding)
    if not groups:
        return ['<p class="note" id="no-findings">No findings.</p>']
    out = [
        '<table id="rules"><thead><tr><th>code</th><th>name</th><th>severity</th>'
        "<th>count</th><th>summary</th></tr></thead><tbody>"
    ]
    for code in sorted(groups, key=lambda c: (-max(f.severity.rank for f in groups[c]), c)):
        members = groups[code]
        worst = max((f.severity for f in members), key=lambda s: s.rank)
        rule = RULES_BY_CODE.get(code)
        if rule is not None:
            # <details> explains the rule without any script.
            summary = (
                f"<details><summary>{escape(rule.summary)}</summary>"
                f"<p><strong>What it does.</strong> {escape(rule.what)}</p>"
                f"<p><strong>Why is this bad?</strong> {escape(rule.why)}</p>"
                f"<p><strong>Fix.</strong> {escape(rule.fix)}</p>"
                f"<p>Spec section {escape(rule.spec)}.</p></details>"
            )
        else:
            summary = escape(members[0].message)
        out.append(
            f'<tr data-code="{escape(code)}" data-severity="{worst.value}">'
            f"<td><code>{escape(code)}</code></td><td>{escape(members[0].name)}</td>"
            f"<td>{_sev(worst)}</td>"
            f'<td class="num" data-count-code="{escape(code)}">{len(members)}</td>'
            f"<td>{summary}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def _findings_table(report: Report, max_rows: int) -> list[str]:
    if not report.findings:
        return []
    # Most severe first (stable, so path order within a severity), so the cap drops notes
    # before errors.
    ordered = sorted(report.findings, key=lambda f: -f.severity.rank)
    shown = ordered[:max_rows]
    out = [
        '<h2 id="findings-heading">Findings</h2>',
        f'<table id="findings" data-rows="{len(shown)}" data-total="{len(ordered)}">'
        "<thead><tr><th>path</th><th>code</th><th>severity</th><th>message</th></tr>"
        "</thead><tbody>",
    ]
    out += [
        f'<tr data-code="{escape(f.code)}"><td class="path">'
        + (escape(f.path) if f.path is not None else '<span class="note">(dataset)</span>')
        + f"</td><td><code>{escape(f.code)}</code></td><td>{_sev(f.severity)}</td>"
        f"<td>{escape(f.message)}</td></tr>"
        for f in shown
    ]
    out.append("</tbody></table>")
    if len(ordered) > len(shown):
        out.append(
            f'<p class="note" id="findings-truncated" data-omitted="{len(ordered) - len(shown)}">'
            f"Showing the first {len(shown):,} of {len(ordered):,} findings (most severe "
            "first). The JSON report lists them all.</p>"
        )
    return out


def _not_run(report: Report) -> list[str]:
    if not report.rules_not_run:
        return []
    out = ['<h2>Rules not run</h2><ul id="rules-not-run">']
    for code, reason in report.rules_not_run:
        rule = RULES_BY_CODE.get(code)
        name = f" {escape(rule.name)}" if rule is not None else ""
        out.append(
            f'<li data-code="{escape(code)}"><code>{escape(code)}</code>{name}: '
            f"{escape(reason)}</li>"
        )
    out.append("</ul>")
    return out


def _figure(thumb: Thumbnail) -> str:
    z = "n/a" if thumb.z is None else f"{thumb.z:.2f}"
    p = "n/a" if thumb.p_value is None else f"{thumb.p_value:.3g}"
    # A thumbnail of an unacknowledged image is the finding synthmark exists for: flag it.
    label = (
        "acknowledged synthetic"
        if thumb.synthetic
        else '<span class="unack">not acknowledged synthetic</span>'
    )
    data = base64.b64encode(thumb.png).decode("ascii")
    return (
        f'<figure class="thumb" data-path="{escape(thumb.path)}" data-z="{escape(z)}" '
        f'data-p-value="{escape(p)}" data-synthetic="{str(thumb.synthetic).lower()}">'
        f'<img src="data:image/png;base64,{data}" alt="{escape(thumb.path)}">'
        f"<figcaption><code>{escape(thumb.path)}</code><br>z = {escape(z)}, p = {escape(p)}<br>"
        f"{label}</figcaption></figure>"
    )


def _gallery(report: Report) -> list[str]:
    # Only real PNGs go in: anything else would be a broken image at best.
    thumbs = [t for t in report.thumbnails if t.png.startswith(_PNG_SIGNATURE)]
    if not thumbs:
        return []
    return [
        f'<h2>Images</h2><div class="gallery" id="gallery" data-count="{len(thumbs)}">',
        *(_figure(t) for t in thumbs),
        "</div>",
    ]


def render_html(report: Report, options: RenderOptions) -> bytes:
    """Render a self-contained HTML page.

    Args:
        report: The validation result.
        options: ``max_rows`` caps the rows of the findings table.

    Returns:
        A UTF-8 HTML document that loads nothing from anywhere.
    """
    from synthmark import __version__

    counts = report.counts_by_severity()
    s = report.summary
    verdict = "FAILED" if report.failed else "PASSED"
    meta = [f"{s.files:,} files", f"{report.duration_s:.1f} s"]
    if report.roots:
        meta.insert(0, "roots: " + ", ".join(report.roots))
    if report.policy:
        meta.append(f"policy: {report.policy}")
    if report.strict:
        meta.append("strict: warnings fail the run")
    cards = [
        stat_card("files", "files", s.files),
        stat_card("synthetic-acknowledged", "synthetic acknowledged", s.synthetic_acknowledged),
        stat_card("watermarked", "watermarked", s.watermarked),
        stat_card("unreadable", "unreadable", s.unreadable),
        stat_card("real-or-unlabelled", "real or unlabelled", s.real_or_unlabelled),
        stat_card("errors", "errors", counts["error"], "error"),
        stat_card("warnings", "warnings", counts["warning"], "warning"),
        stat_card("info", "info", counts["info"], "info"),
    ]
    if report.internal_errors:
        cards.append(
            stat_card("internal-errors", "internal errors (bugs)", report.internal_errors, "error")
        )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CONTENT_SECURITY_POLICY)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>synthmark report: {verdict}</title>",
        f"<style>{REPORT_CSS}</style></head><body>",
        f'<header><h1>synthmark validation report <span id="verdict" '
        f'class="verdict {verdict.lower()}" data-failed="{str(report.failed).lower()}">'
        f"{verdict}</span></h1>",
        f'<p class="meta">{escape(" · ".join(meta))}</p></header>',
        f'<section class="cards" id="summary">{"".join(cards)}</section>',
        "<h2>Rules</h2>",
        *_rules_table(report),
        *_findings_table(report, options.max_rows),
        *_not_run(report),
        *_gallery(report),
        f"<footer>Generated by synthmark {escape(__version__)}. This page loads nothing from "
        "the network and runs no script.</footer>",
        "</body></html>",
    ]
    return ("\n".join(parts) + "\n").encode("utf-8", "backslashreplace")
