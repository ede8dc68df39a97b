"""Text reporter: grouped by rule, per-file mode, verdict and terminal safety."""

from __future__ import annotations

from collections.abc import Callable

from synthmark.validation.report import Finding, Report, Severity
from synthmark.validation.reporters import RenderOptions, render

from .conftest import HOSTILE


def text(report: Report, **options: object) -> str:
    return render(report, "text", RenderOptions(**options)).decode("utf-8")  # type: ignore[arg-type]


def test_grouped(sample_report: Report) -> None:
    out = text(sample_report)
    lines = out.splitlines()
    assert lines[0] == (
        "synthmark: 120 files checked, 7 synthetic acknowledged, 10 watermarked, "
        "1 unreadable in 2.3 s"
    )
    assert (
        "SM501 unacknowledged-synthetic-image (error) x3: A watermarked (synthetic) image "
        "carries no synthetic acknowledgment." in lines
    )
    assert "  ct/a.dcm: watermark z=9.1" in lines
    assert "  (dataset): no manifest at root" in lines
    # Errors first, then warnings, then notes.
    order = [line.split()[0] for line in lines if line.startswith("SM")]
    assert order == ["SM501", "SM401", "SM508", "SM903"]
    assert "Rules not run:" in lines
    assert "  SM201 binding-mismatch: header-only mode" in lines
    assert lines[-1] == "FAILED: 3 errors, 2 warnings, 1 info"
    assert "\x1b" not in out


def test_examples_capped(sample_report: Report) -> None:
    lines = text(sample_report, max_examples=1).splitlines()
    assert "  ct/a.dcm: watermark z=9.1" in lines
    assert "  ct/b.dcm: watermark z=8.0" not in lines
    assert "  ... and 2 more" in lines


def test_per_file(sample_report: Report) -> None:
    lines = text(sample_report, per_file=True).splitlines()
    assert "ct/a.dcm: SM501 error: watermark z=9.1" in lines
    assert "(dataset): SM508 warning: no manifest at root" in lines
    assert "README.txt: SM903 info: not a supported image format" in lines
    assert not any(line.startswith("SM501 ") for line in lines)
    assert lines[-1].startswith("FAILED:")


def test_passed_with_warnings(make_report: Callable[..., Report]) -> None:
    findings = tuple(
        Finding("SM401", "synthetic-without-watermark", Severity.WARNING, f"w{i}.png", "m")
        for i in range(2)
    )
    assert text(make_report(findings)).splitlines()[-1] == "PASSED: 0 errors, 2 warnings"
    strict = text(make_report(findings, strict=True)).splitlines()[-1]
    assert strict == "FAILED: 0 errors, 2 warnings (strict: warnings fail the run)"


def test_clean(clean_report: Report) -> None:
    out = text(clean_report)
    assert out.splitlines()[-1] == "PASSED: 0 errors, 0 warnings"
    assert "SM" not in out.split("Rules not run:")[0].split("\n", 1)[1]


def test_one_of_each_is_singular(make_report: Callable[..., Report]) -> None:
    finding = Finding("SM101", "invalid-record", Severity.ERROR, "a.png", "bad")
    assert text(make_report((finding,))).splitlines()[-1] == "FAILED: 1 error, 0 warnings"


def test_color(sample_report: Report) -> None:
    out = text(sample_report, color=True)
    assert "\x1b[1;31merror\x1b[0m" in out
    assert "\x1b[1;31mFAILED\x1b[0m" in out
    assert "\x1b[1;33mwarning\x1b[0m" in out


def test_internal_errors(make_report: Callable[..., Report]) -> None:
    assert "synthmark itself failed on 2 files" in text(make_report(internal_errors=2))


def test_control_characters_escaped(hostile_report: Report) -> None:
    out = text(hostile_report)
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\x00" not in out
    assert "\\x1b[31mred\\x07\\x00nul" in out
    assert "\\udcff" in out  # an undecodable name is shown, not a crash
    assert HOSTILE[:10] in out
