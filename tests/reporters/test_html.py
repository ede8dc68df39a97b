"""HTML reporter: self-contained, escaped, counts readable from the markup."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from synthmark.validation.report import Finding, Report, Severity, Thumbnail
from synthmark.validation.reporters import RenderOptions, render
from synthmark.validation.reporters.html import CONTENT_SECURITY_POLICY

from .conftest import png


class Dom(HTMLParser):
    """Collects element texts by id and data attributes, and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.by_id: dict[str, str] = {}
        self.by_code: dict[str, str] = {}
        self.urls: list[str] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.buffers: list[list[str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        self.urls += [v for k, v in attributes.items() if k in {"src", "href", "action"}]
        if tag in {"meta", "img", "br", "link"}:
            return
        self.stack.append((tag, attributes))
        self.buffers.append([])

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            return
        _, attributes = self.stack.pop()
        text = "".join(self.buffers.pop())
        if self.buffers:
            self.buffers[-1].append(text)
        if "id" in attributes:
            self.by_id[attributes["id"]] = text
        if "data-count-code" in attributes:
            self.by_code[attributes["data-count-code"]] = text

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.buffers:
            self.buffers[-1].append(data)


def parse(report: Report, **options: Any) -> tuple[str, Dom]:
    page = render(report, "html", RenderOptions(**options)).decode("utf-8")
    dom = Dom()
    dom.feed(page)
    dom.close()
    return page, dom


def test_counts_readable(sample_report: Report) -> None:
    _, dom = parse(sample_report)
    assert dom.by_id["count-files"] == "120"
    assert dom.by_id["count-synthetic-acknowledged"] == "7"
    assert dom.by_id["count-watermarked"] == "10"
    assert dom.by_id["count-unreadable"] == "1"
    assert dom.by_id["count-errors"] == "3"
    assert dom.by_id["count-warnings"] == "2"
    assert dom.by_id["count-info"] == "1"
    assert dom.by_id["verdict"] == "FAILED"
    assert dom.by_code == {"SM501": "3", "SM401": "1", "SM508": "1", "SM903": "1"}
    assert "SM201" in dom.by_id["rules-not-run"]
    assert "header-only mode" in dom.by_id["rules-not-run"]
    rows = [a for t, a in dom.tags if t == "tr" and "data-code" in a]
    assert sum(1 for a in rows if "data-severity" not in a) == 6  # one per finding


def test_self_contained(
    sample_report: Report, thumbs: tuple[Thumbnail, ...], make_report: Callable[..., Report]
) -> None:
    page, dom = parse(make_report(sample_report.findings, thumbnails=thumbs))
    assert all(url.startswith("data:image/png;base64,") for url in dom.urls)
    assert len(dom.urls) == 2
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page
    assert "<link" not in page
    assert "@import" not in page
    assert "url(" not in page
    csp = [
        a["content"]
        for t, a in dom.tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp == [CONTENT_SECURITY_POLICY]
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY


def test_gallery(thumbs: tuple[Thumbnail, ...], make_report: Callable[..., Report]) -> None:
    _, dom = parse(make_report(thumbnails=thumbs))
    figures = [a for t, a in dom.tags if t == "figure"]
    assert [f["data-path"] for f in figures] == ["ct/a.dcm", "synth/s1.png"]
    assert figures[0]["data-z"] == "9.12"
    assert figures[0]["data-p-value"] == "1.2e-19"
    assert figures[1]["data-synthetic"] == "true"
    images = [a["src"] for t, a in dom.tags if t == "img"]
    assert base64.b64decode(images[0].split(",", 1)[1]) == thumbs[0].png
    assert "z = 9.12, p = 1.2e-19" in dom.by_id["gallery"]


def test_no_thumbnails_unless_in_report(sample_report: Report) -> None:
    page, dom = parse(sample_report)
    assert "<img" not in page
    assert "gallery" not in dom.by_id


def test_non_png_thumbnail_dropped(make_report: Callable[..., Report]) -> None:
    thumbs = (
        Thumbnail("a.dcm", b"GIF89a...", 1.0, 0.5, False),
        Thumbnail("b.dcm", png(0), None, None, True),
    )
    _, dom = parse(make_report(thumbnails=thumbs))
    assert [a["data-path"] for t, a in dom.tags if t == "figure"] == ["b.dcm"]
    assert "z = n/a, p = n/a" in dom.by_id["gallery"]


def test_rows_capped_most_severe_first(make_report: Callable[..., Report]) -> None:
    notes = [
        Finding("SM903", "not-an-image", Severity.INFO, f"a{i:03d}.txt", "note") for i in range(30)
    ]
    error = Finding("SM501", "unacknowledged-synthetic-image", Severity.ERROR, "z.png", "bad")
    findings = (*notes, error)
    _, dom = parse(make_report(findings), max_rows=10)
    rows = [
        a["data-code"]
        for t, a in dom.tags
        if t == "tr" and "data-severity" not in a and "data-code" in a
    ]
    assert len(rows) == 10
    assert rows[0] == "SM501"
    assert "first 10 of 31" in dom.by_id["findings-truncated"]
    assert dom.by_code["SM903"] == "30"  # counts are never capped


def test_escaping(hostile_report: Report) -> None:
    page, dom = parse(hostile_report)
    assert "<script>" not in page
    assert "<img src=https://" not in page
    assert "\x1b" not in page
    assert "\x00" not in page
    assert all(url.startswith("data:") for url in dom.urls)
    assert "evil<script>alert(1)</script>" in "".join(dom.text)
    assert 'data-path="evil&lt;script&gt;' in page


def test_clean(clean_report: Report) -> None:
    _, dom = parse(clean_report)
    assert dom.by_id["verdict"] == "PASSED"
    assert dom.by_id["count-errors"] == "0"
    assert "no-findings" in dom.by_id


def test_deterministic_and_autoescaped_by_the_template(hostile_report: Report) -> None:
    # The same report renders to the same bytes (no clock, no ordering by hash), and the
    # template engine escapes every value: no code path builds HTML from strings any more.
    first = render(hostile_report, "html", RenderOptions())
    assert first == render(hostile_report, "html", RenderOptions())
    from synthmark.validation.reporters.html import html_environment

    assert html_environment().autoescape is True
