"""The HTML report in a real headless Chromium: it renders, loads nothing, logs nothing.

Chromium runs with networking off (a dead proxy, no background services). Three checks:

* **Counts** are read back from the DOM Chromium built (``--dump-dom``).
* **No external request**: Chromium's own network log (``--log-net-log``) lists every
  request; those made for the page carry the page's ``file://`` network isolation key,
  unlike the browser's background traffic. None may exist.
* **No console output**: with ``--enable-logging=stderr`` every console message of the page
  (errors, CSP violations, uncaught exceptions) appears as a ``CONSOLE`` line. None may.

A deliberately bad page (an external image and stylesheet, a failing script) is run
through the same checks first, so that a silent detector cannot make the test pass.
Skipped only when no Chromium is installed.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from synthmark.validation.report import Report, Thumbnail
from synthmark.validation.reporters import render

from .conftest import build_report, png, sample_findings
from .test_html import Dom


def find_browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


BROWSER = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium installed")

CONSOLE = re.compile(r":CONSOLE(?:\(\d+\))?:?\d*\]|Uncaught")


def chromium(page: Path, tmp: Path, *mode: str) -> tuple[str, str, list[str]]:
    """Open ``page``; return (stdout, console lines, URLs the page requested)."""
    assert BROWSER is not None
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    netlog = profile.with_suffix(".netlog.json")
    args = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        # Any request that escapes the CSP would hit a closed port instead of the network.
        "--proxy-server=127.0.0.1:9",
        "--enable-logging=stderr",
        "--v=0",
        f"--log-net-log={netlog}",
        *mode,
        page.as_uri(),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    console = "\n".join(line for line in done.stderr.splitlines() if CONSOLE.search(line))
    return done.stdout, console, page_requests(netlog)


def page_requests(netlog: Path) -> list[str]:
    """URLs requested on behalf of a ``file://`` page (not the browser's own traffic)."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params", {})
        if event["type"] == start_job and "file://" in params.get("network_isolation_key", ""):
            url = params.get("url", "")
            if not url.startswith(("file:", "data:")):
                urls.append(url)
    return urls


@pytest.fixture(scope="module")
def report() -> Report:
    thumbs = (
        Thumbnail("ct/a.dcm", png(1, 64), 9.123, 1.2e-19, False),
        Thumbnail("synth/s1.png", png(2, 64), 6.5, 4.0e-11, True),
    )
    return build_report(sample_findings(), thumbnails=thumbs)


def test_detectors_catch_a_bad_page(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>bad</title>'
        '<link rel="stylesheet" href="https://cdn.example.org/a.css"></head><body>'
        '<img src="http://example.com/x.png"><script>console.error("boom");nope();</script>'
        "</body></html>",
        encoding="utf-8",
    )
    _, console, requests = chromium(bad, tmp_path, "--dump-dom")
    assert "boom" in console
    assert "Uncaught" in console
    assert "http://example.com/x.png" in requests
    assert "https://cdn.example.org/a.css" in requests


def test_report_in_chromium(report: Report, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    source = render(report, "html")
    page.write_bytes(source)
    # Static check first: no resource is referenced by URL at all.
    assert not re.search(rb"""(src|href)\s*=\s*["']?\s*(https?:)?//""", source, re.I)

    dom_text, console, requests = chromium(page, tmp_path, "--dump-dom")
    assert console == ""
    assert requests == []

    dom = Dom()
    dom.feed(dom_text)
    dom.close()
    assert dom.by_id["verdict"] == "FAILED"
    assert dom.by_id["count-files"] == "120"
    assert dom.by_id["count-errors"] == "3"
    assert dom.by_id["count-warnings"] == "2"
    assert dom.by_id["count-info"] == "1"
    assert dom.by_code == {"SM501": "3", "SM401": "1", "SM508": "1", "SM903": "1"}
    assert dom.by_id["gallery"].count("z = ") == 2
    assert all(url.startswith("data:image/png;base64,") for url in dom.urls)
    assert len(dom.urls) == 2

    shot = tmp_path / "report.png"
    _, console, requests = chromium(
        page,
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1280,1600",
        "--hide-scrollbars",
    )
    assert console == ""
    assert requests == []
    assert shot.stat().st_size > 10_000
    with Image.open(io.BytesIO(shot.read_bytes())) as image:
        assert image.size == (1280, 1600)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        # None means more than 65,536 colours; either way the page is not blank.
        assert colours is None or len(colours) > 50
