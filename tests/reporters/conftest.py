"""Reports built directly from the dataclasses, for every reporter test."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

from synthmark.validation.report import DatasetSummary, Finding, Report, Severity, Thumbnail

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


def png(seed: int, size: int = 16) -> bytes:
    """A small gradient PNG (distinct per seed)."""
    img = Image.new("L", (size, size))
    img.putdata([(x * 16 + y * 3 + seed * 40) % 256 for y in range(size) for x in range(size)])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def sample_findings() -> tuple[Finding, ...]:
    rows = [
        Finding("SM501", "unacknowledged-synthetic-image", E, "ct/a.dcm", "watermark z=9.1"),
        Finding("SM501", "unacknowledged-synthetic-image", E, "ct/b.dcm", "watermark z=8.0"),
        Finding("SM501", "unacknowledged-synthetic-image", E, "ct/c.dcm", "watermark z=7.4"),
        Finding("SM401", "synthetic-without-watermark", W, "mr/x.nii.gz", "no watermark"),
        Finding("SM903", "not-an-image", INFO, "README.txt", "not a supported image format"),
        Finding("SM508", "synthetic-dataset-without-manifest", W, None, "no manifest at root"),
    ]
    return tuple(sorted(rows, key=lambda f: (f.path or "", f.code)))


def build_report(
    findings: tuple[Finding, ...] = (),
    *,
    thumbnails: tuple[Thumbnail, ...] = (),
    strict: bool = False,
    rules_run: tuple[str, ...] = ("SM101", "SM401", "SM501", "SM508", "SM901", "SM903"),
    rules_not_run: tuple[tuple[str, str], ...] = (("SM201", "header-only mode"),),
    internal_errors: int = 0,
) -> Report:
    """A report with plausible summary counts around ``findings``."""
    return Report(
        findings=findings,
        summary=DatasetSummary(
            files=120,
            unreadable=1,
            synthetic_acknowledged=7,
            watermarked=10,
            real_or_unlabelled=112,
            megapixels=31.4567,
        ),
        rules_run=rules_run,
        rules_not_run=rules_not_run,
        roots=("data/",),
        policy="default",
        strict=strict,
        duration_s=2.34567,
        thumbnails=thumbnails,
        internal_errors=internal_errors,
    )


@pytest.fixture
def sample_report() -> Report:
    """Three SM501 errors, two warnings (one dataset-level) and one info."""
    return build_report(sample_findings())


@pytest.fixture
def clean_report() -> Report:
    return build_report(())


@pytest.fixture
def thumbs() -> tuple[Thumbnail, ...]:
    return (
        Thumbnail("ct/a.dcm", png(1), 9.123, 1.2e-19, False),
        Thumbnail("synth/s1.png", png(2), 6.5, 4.0e-11, True),
    )


@pytest.fixture
def make_report() -> Callable[..., Report]:
    return build_report


HOSTILE = (
    "evil<script>alert(1)</script>&\"quote'/"
    "\x1b[31mred\x07\x00nul\udcff/"
    "<img src=https://example.com/x.png>.dcm"
)


@pytest.fixture
def hostile_report() -> Report:
    """Findings whose path and message try every escaping trick."""
    return build_report(
        (
            Finding("SM501", "unacknowledged-synthetic-image", E, HOSTILE, HOSTILE),
            Finding("SM101", "invalid-record", E, "a b#c%d?.dcm", "]]></failure>&amp;"),
        ),
        thumbnails=(Thumbnail(HOSTILE, png(3), None, None, False),),
        rules_not_run=(("SM201", HOSTILE),),
    )
