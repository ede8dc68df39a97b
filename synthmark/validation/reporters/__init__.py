"""Render a validation :class:`~synthmark.validation.report.Report` as bytes.

Formats: text, JSON, SARIF, JUnit, HTML.

Renderers are pure functions of the report and the options: they never print, never read
files and never import click (the CLI writes the bytes where the user asked). They show
only what the report holds; in particular thumbnails appear only when the engine put them
in ``Report.thumbnails``.

Example:
    >>> from synthmark.validation.reporters import RenderOptions, render
    >>> data = render(report, "sarif", RenderOptions(max_locations_per_rule=500))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synthmark.validation.report import Report


@dataclass(frozen=True)
class RenderOptions:
    """How to render a report.

    Attributes:
        per_file: Text: one ``path: CODE severity: message`` line per finding instead of
            findings grouped by rule.
        color: Text: ANSI colours (the CLI turns this on only for a terminal).
        max_locations_per_rule: SARIF: locations listed per rule's single result (GitHub
            code scanning accepts at most 1,000); JUnit: paths listed per failing rule.
        max_examples: Text: example paths shown per rule in grouped mode.
        max_rows: HTML: rows of the findings table (most severe first); the rest are
            counted, not listed, so that a flood of findings keeps the page usable.
    """

    per_file: bool = False
    color: bool = False
    max_locations_per_rule: int = 1000
    max_examples: int = 5
    max_rows: int = 5000

    def __post_init__(self) -> None:
        # Negative caps would silently slice from the end; reject them where they are made.
        for name in ("max_locations_per_rule", "max_examples", "max_rows"):
            if getattr(self, name) < 0:
                raise ValueError(f"RenderOptions.{name} must be >= 0")


# Imported after RenderOptions on purpose: the format modules only import it for typing,
# so there is no import cycle at run time.
from synthmark.validation.reporters import html, json_report, junit, sarif, text  # noqa: E402

Renderer = Callable[["Report", RenderOptions], bytes]

#: Renderers by ``--format`` name.
REPORTERS: dict[str, Renderer] = {
    "text": text.render_text,
    "json": json_report.render_json,
    "sarif": sarif.render_sarif,
    "junit": junit.render_junit,
    "html": html.render_html,
}

__all__ = ["REPORTERS", "RenderOptions", "Renderer", "render"]


def render(report: Report, fmt: str, options: RenderOptions | None = None) -> bytes:
    """Render ``report`` in format ``fmt``.

    Args:
        report: The validation result.
        fmt: One of the keys of :data:`REPORTERS` (``text``, ``json``, ``sarif``,
            ``junit``, ``html``).
        options: Rendering options; the defaults when ``None``.

    Returns:
        The rendered report, UTF-8 encoded (ending with a newline).

    Raises:
        UsageError: ``fmt`` is not a known format.
    """
    renderer = REPORTERS.get(fmt)
    if renderer is None:
        from synthmark.errors import UsageError

        raise UsageError(
            f"unknown report format {fmt!r}",
            hint="choose one of: " + ", ".join(REPORTERS),
        )
    return renderer(report, options if options is not None else RenderOptions())
