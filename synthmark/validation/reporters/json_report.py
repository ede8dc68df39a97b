"""JSON report: :meth:`Report.to_json` as is (schema ``schema/report.v1.schema.json``).

Named ``json_report`` so that the module never shadows the standard library's ``json``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synthmark.validation.report import Report
    from synthmark.validation.reporters import RenderOptions

__all__ = ["render_json"]


def render_json(report: Report, options: RenderOptions) -> bytes:
    """Render the stable JSON form of a report.

    Args:
        report: The validation result.
        options: Unused: the JSON form is the same whatever the options, so that scripts
            reading it never depend on display settings.

    Returns:
        Indented JSON (ASCII, keys in the documented order) and a newline.
    """
    del options
    return (json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n").encode("utf-8")
