"""Validation rules: the catalogue (:mod:`.catalogue`) and the checks (:mod:`.checks`)."""

from __future__ import annotations

from synthmark.rules.catalogue import (
    RETIRED_CODES,
    RULES,
    RULES_BY_CODE,
    RULES_BY_NAME,
    Rule,
    Severity,
)

__all__ = ["RETIRED_CODES", "RULES", "RULES_BY_CODE", "RULES_BY_NAME", "Rule", "Severity"]
