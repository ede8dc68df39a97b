"""The registry, the options and the no-printing contract of every reporter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from synthmark.errors import UsageError
from synthmark.validation.report import Report
from synthmark.validation.reporters import REPORTERS, RenderOptions, render

REPORTERS_DIR = Path(__file__).resolve().parents[2] / "synthmark" / "validation" / "reporters"


def test_formats() -> None:
    assert set(REPORTERS) == {"text", "json", "sarif", "junit", "html"}


@pytest.mark.parametrize("fmt", sorted(REPORTERS))
def test_render_returns_bytes_and_prints_nothing(
    fmt: str, sample_report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    data = render(sample_report, fmt)
    assert isinstance(data, bytes)
    assert data.endswith(b"\n")
    data.decode("utf-8")
    assert render(sample_report, fmt, RenderOptions()) == data  # deterministic
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


@pytest.mark.parametrize("fmt", sorted(REPORTERS))
def test_clean_report_renders(fmt: str, clean_report: Report) -> None:
    assert render(clean_report, fmt)


@pytest.mark.parametrize("fmt", sorted(REPORTERS))
def test_hostile_names_render_as_valid_utf8(fmt: str, hostile_report: Report) -> None:
    render(hostile_report, fmt).decode("utf-8")


def test_unknown_format(clean_report: Report) -> None:
    with pytest.raises(UsageError, match="unknown report format"):
        render(clean_report, "xml")


def test_negative_caps_rejected() -> None:
    with pytest.raises(ValueError, match="max_examples"):
        RenderOptions(max_examples=-1)


def test_options_are_frozen() -> None:
    with pytest.raises(AttributeError):
        RenderOptions().per_file = True  # type: ignore[misc]


@pytest.mark.parametrize("module", sorted(p.name for p in REPORTERS_DIR.glob("*.py")))
def test_no_print_and_no_click(module: str) -> None:
    tree = ast.parse((REPORTERS_DIR / module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "print", f"{module} prints"
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] != "click" for a in node.names), module
        if isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "click", module
