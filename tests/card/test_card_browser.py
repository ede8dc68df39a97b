"""The HTML dataset card in a real headless Chromium: renders, loads nothing, logs nothing.

Uses the report's browser harness (networking off, Chromium's net log and console lines;
see tests/reporters/test_html_browser.py, whose detectors are themselves tested there).
Skipped only when no Chromium is installed.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from synthmark.publish.card import build_card
from synthmark.publish.card_render import render_html
from tests.reporters.test_html import Dom
from tests.reporters.test_html_browser import BROWSER, chromium

from .conftest import NOW, SYNTHETIC, Dataset

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium installed")


def test_card_in_chromium(dataset: Dataset, tmp_path: Path) -> None:
    page = tmp_path / "card.html"
    source = render_html(build_card(dataset.root, trust=dataset.trust, now=NOW))
    page.write_bytes(source)
    assert not re.search(rb"""(src|href)\s*=\s*["']?\s*(https?:)?//""", source, re.I)

    dom_text, console, requests = chromium(page, tmp_path, "--dump-dom")
    assert console == ""
    assert requests == []
    dom = Dom()
    dom.feed(dom_text)
    dom.close()
    # Key numbers, read back from the DOM Chromium built.
    assert dom.by_id["count-files"] == "6"
    assert dom.by_id["count-synthetic"] == str(SYNTHETIC)
    assert dom.by_id["count-real"] == "2"
    assert dom.by_id["synthetic-proportion"] == "66.7%"
    fairness = {
        (a["data-subgroup"], a["data-value"], a["data-source"])
        for t, a in dom.tags
        if t == "tr" and "data-subgroup" in a and a.get("data-metric") == "auroc"
    }
    assert ("sex=female", "0.866", "record") in fairness
    assert ("sex=male", "0.879", "record") in fairness
    statuses = {(a["data-stage"], a["data-status"]) for t, a in dom.tags if "data-status" in a}
    assert ("model_training", "verified") in statuses
    assert ("model_evaluation", "failed") in statuses
    assert len(dom.urls) == SYNTHETIC
    assert all(url.startswith("data:image/png;base64,") for url in dom.urls)

    shot = tmp_path / "card.png"
    _, console, requests = chromium(
        page, tmp_path, f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars"
    )
    assert console == ""
    assert requests == []
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (1280, 1600)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        # None means more than 65,536 colours; either way the page is not blank.
        assert colours is None or len(colours) > 50
