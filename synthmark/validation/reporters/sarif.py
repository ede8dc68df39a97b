"""SARIF 2.1.0 report, aggregated to stay within GitHub code scanning's limits.

GitHub accepts at most 25,000 results per run, 1,000 locations per result and a 10 MB
gzipped upload. A dataset of millions of images can produce millions of findings, so the
log holds ONE result per rule: its level is the most severe of the rule's findings, its
``locations`` list the first ``max_locations_per_rule`` files (report order), and the
message and ``properties`` say how many more there are. The size of the log is therefore
bounded by (number of rules) x (location cap), whatever the size of the dataset.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from synthmark.rules.catalogue import RULES_BY_CODE, Rule
from synthmark.validation.report import Finding, Report, Severity

if TYPE_CHECKING:
    from synthmark.validation.reporters import RenderOptions

__all__ = ["INFORMATION_URI", "SARIF_SCHEMA", "SARIF_VERSION", "render_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://synthmark.org"

_MAX_DATASET_MESSAGES = 10

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}

_FAMILY = {
    "SM1": "record",
    "SM2": "content-binding",
    "SM3": "attestation",
    "SM4": "watermark",
    "SM5": "dataset",
    "SM9": "reading",
}


def _uri(path: str) -> dict[str, str]:
    """An artifactLocation for a dataset-relative path.

    Paths are percent-encoded (spaces, ``#``, ``%`` and ``?`` are legal in file names but
    not in a URI); surrogateescape gives back the original bytes of undecodable names.
    """
    if path.startswith("/"):
        # Not expected (paths are dataset-relative) but kept valid rather than dropped.
        return {"uri": "file://" + quote(path, safe="/", errors="surrogateescape")}
    return {
        "uri": quote(path, safe="/", errors="surrogateescape"),
        "uriBaseId": "%SRCROOT%",
    }


def _descriptor(code: str, sample: Finding) -> dict[str, Any]:
    rule: Rule | None = RULES_BY_CODE.get(code)
    if rule is None:
        # Only catalogue codes are expected; a stranger still gets a valid descriptor.
        return {
            "id": code,
            "name": sample.name,
            "shortDescription": {"text": sample.name},
            "defaultConfiguration": {"level": _LEVEL[sample.severity]},
        }
    tags = ["synthmark", _FAMILY.get(code[:3], "other")]
    if rule.needs_pixels:
        tags.append("needs-pixels")
    if rule.needs_manifest:
        tags.append("needs-manifest")
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.what},
        "help": {
            "text": f"Why: {rule.why}\nFix: {rule.fix}",
            "markdown": f"**Why is this bad?** {rule.why}\n\n**Fix.** {rule.fix}\n\n"
            f"**Example.** {rule.example}\n\n*Spec section {rule.spec}.*",
        },
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"tags": tags, "spec": rule.spec},
    }


def _result(
    code: str, index: int, members: list[Finding], cap: int, sample: Finding
) -> dict[str, Any]:
    located = [f for f in members if f.path is not None]
    listed = located[:cap]
    omitted = len(located) - len(listed)
    dataset_level = len(members) - len(located)
    worst = max((f.severity for f in members), key=lambda s: s.rank)
    rule = RULES_BY_CODE.get(code)
    summary = rule.summary if rule is not None else sample.name

    text = f"{code} {sample.name}: {len(members):,} finding" + ("" if len(members) == 1 else "s")
    text += f". {summary}"
    if located:
        text += f" {len(listed):,} file(s) listed"
        text += f", {omitted:,} more not listed." if omitted else "."
    if dataset_level:
        # Dataset-level findings have no file to point at: their messages go in the text,
        # a few of them only, since the message is shown whole in the code-scanning UI.
        messages = [f.message for f in members if f.path is None]
        text += " Dataset-level: " + "; ".join(messages[:_MAX_DATASET_MESSAGES])
        if len(messages) > _MAX_DATASET_MESSAGES:
            text += f"; and {len(messages) - _MAX_DATASET_MESSAGES:,} more"

    severities = Counter(f.severity.value for f in members)
    result: dict[str, Any] = {
        "ruleId": code,
        "ruleIndex": index,
        "level": _LEVEL[worst],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": _uri(f.path)},
                "message": {"text": f.message},
            }
            for f in listed
            if f.path is not None
        ]
        # Code scanning hides results without a location: anchor dataset-level-only results
        # on the manifest, the file that declares what the dataset holds.
        or [{"physicalLocation": {"artifactLocation": _uri("synthmark-manifest.json")}}],
        # One result per rule per run: fingerprint by rule so that GitHub updates the same
        # alert from run to run instead of opening a new one whenever the files change.
        "partialFingerprints": {
            "synthmarkRule/v1": hashlib.sha256(f"synthmark:{code}".encode()).hexdigest()
        },
        "properties": {
            "count": len(members),
            "locationsListed": len(listed),
            "locationsOmitted": omitted,
            "datasetLevel": dataset_level,
            "bySeverity": {s.value: severities.get(s.value, 0) for s in Severity},
        },
    }
    return result


def render_sarif(report: Report, options: RenderOptions) -> bytes:
    """Render a SARIF 2.1.0 log with one aggregated result per rule.

    Args:
        report: The validation result.
        options: ``max_locations_per_rule`` caps the locations of each result (keep it at
            1,000 or below for GitHub code scanning).

    Returns:
        Compact SARIF JSON (UTF-8) and a newline.
    """
    groups: dict[str, list[Finding]] = {}
    for finding in report.findings:
        groups.setdefault(finding.code, []).append(finding)
    codes = sorted(groups)
    rules = [_descriptor(code, groups[code][0]) for code in codes]
    results = [
        _result(code, index, groups[code], options.max_locations_per_rule, groups[code][0])
        for index, code in enumerate(codes)
    ]
    from synthmark import __version__

    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "synthmark",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "invocations": [
                    {
                        # False when synthmark itself failed on a file: a bug, not a verdict.
                        "executionSuccessful": report.internal_errors == 0,
                        "toolExecutionNotifications": [
                            {
                                "descriptor": {"id": code},
                                "level": "note",
                                "message": {"text": f"{code} not run: {reason}"},
                            }
                            for code, reason in report.rules_not_run
                        ],
                    }
                ],
                "results": results,
                "properties": {
                    "failed": report.failed,
                    "strict": report.strict,
                    "policy": report.policy,
                    "durationSeconds": round(report.duration_s, 3),
                    "internalErrors": report.internal_errors,
                    "summary": {
                        "files": report.summary.files,
                        "unreadable": report.summary.unreadable,
                        "syntheticAcknowledged": report.summary.synthetic_acknowledged,
                        "watermarked": report.summary.watermarked,
                        "realOrUnlabelled": report.summary.real_or_unlabelled,
                    },
                    "countsByCode": report.counts_by_code(),
                    "rulesRun": list(report.rules_run),
                },
            }
        ],
    }
    # Compact separators: the log may be uploaded and its size is limited.
    return (json.dumps(log, separators=(",", ":")) + "\n").encode("utf-8")
