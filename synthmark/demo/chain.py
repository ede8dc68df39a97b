"""The demo's lifecycle attestations: honest predicates for its simple mixing generator.

The demo has no trained model: its "generator" blends real test scans. The statements say
so rather than inventing consent or metrics; they exist to show the chain a publisher
builds (sign each stage, trust the key, reference the envelopes from the manifest) and
what ``validate --policy publish`` checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthmark.provenance import SigningKey, sign_attestation, write_key_pair
from synthmark.provenance.trust import trusted_key_entry
from synthmark.record.models import created_now
from synthmark.record.vocab import LifecycleStage

PUBLISH_STAGES = (
    LifecycleStage.DATA_COLLECTION,
    LifecycleStage.DATA_PROCESSING,
    LifecycleStage.MODEL_TRAINING,
    LifecycleStage.MODEL_EVALUATION,
)
_ATTESTER = {"organisation": "synthmark demo", "role": "research_group"}
_DEID = {"profile": "other", "tool": "public software test files; no patient identifiers"}
_SOURCES = {
    "name": "pydicom and nibabel test files",
    "identifier": "https://github.com/pydicom/pydicom",
    "consent_basis": "other",
}


def _access(stage: LifecycleStage) -> list[dict[str, str]]:
    from synthmark.provenance import default_access

    return [a.model_dump(mode="json") for a in default_access(stage)]


def _metric(name: str, value: float, unit: str, attribute: str, group: str) -> dict[str, Any]:
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "reference_dataset": "the demo's real test scans",
        "subgroup": {"attribute": attribute, "value": group},
    }


def demo_predicate(stage: LifecycleStage, evaluation: dict[str, float]) -> dict[str, Any]:
    """The demo's predicate for ``stage`` (evaluation numbers are measured by the demo)."""
    common: dict[str, Any] = {
        "attester": _ATTESTER,
        "attested_at": created_now().isoformat().replace("+00:00", "Z"),
        "access": _access(stage),
    }
    if stage == LifecycleStage.DATA_COLLECTION:
        return {
            **common,
            "sources": [_SOURCES],
            "demographic_representation": {"subjects": 6},
            "underrepresented_groups": [
                "unknown: test files carry no demographics (one subject per scan assumed)"
            ],
            "confidentiality": {"deidentification": _DEID, "storage": ["access_controlled"]},
            "ethics_approval": {
                "board": "not applicable: public software test files",
                "reference": "none",
            },
        }
    if stage == LifecycleStage.DATA_PROCESSING:
        return {
            **common,
            "steps": [
                {"operation": "format_conversion", "tool": "synthmark demo (copy, no change)"},
                {"operation": "augmentation", "tool": "synthmark demo mixer 1"},
            ],
            "deidentification": _DEID,
            "bias": {
                "detection": ["scanner_site_audit"],
                "findings": "Five test files from a handful of scanners: not representative.",
            },
        }
    if stage == LifecycleStage.MODEL_TRAINING:
        return {
            **common,
            "model": {"name": "synthmark-demo-mixer", "version": "1"},
            "training_data": [
                {
                    "name": _SOURCES["name"],
                    "identifier": _SOURCES["identifier"],
                    "consent_basis": "other",
                    "consent_documented": False,
                }
            ],
            "decision_tracking": {"system": "git", "run_id": "demo-seed-20261123"},
            "privacy": {"federated": False},
        }
    return {
        **common,
        "fidelity": [_metric("psnr", evaluation["psnr"], "dB", "all", "all")],
        "diversity": [_metric("mae", evaluation["mae_siblings"], "fraction", "all", "all")],
        "fairness": [
            _metric("psnr", evaluation["psnr_ct"], "dB", "site", "CT test files"),
            _metric("psnr", evaluation["psnr_mr"], "dB", "site", "MR test files"),
        ],
        "synthetic_proportion": evaluation["proportion"],
        "clinical_relevance": {
            "clinical_endpoints": ["none: software testing and teaching only"],
            "reader_study": False,
            "lay_summary": (
                "These images are blends of real test scans made to exercise software. "
                "They show no real patient and must never be used for diagnosis."
            ),
        },
    }


def sign_demo_chain(
    dataset: Path,
    keys_dir: Path,
    subjects: dict[LifecycleStage, list[Path]],
    evaluation: dict[str, float],
) -> tuple[list[Path], Path]:
    """Sign the publish-required stages; return the envelope files and the trust file."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    write_key_pair(key, keys_dir / "demo-provider.pem", overwrite=True)
    folder = dataset / "attestations"
    folder.mkdir(exist_ok=True)
    envelopes = []
    for stage in PUBLISH_STAGES:
        envelope = sign_attestation(
            (stage, demo_predicate(stage, evaluation)), subjects[stage], [key], root=dataset
        )
        path = folder / f"{stage.value.replace('_', '-')}.dsse.json"
        path.write_bytes(envelope.to_json_bytes())
        envelopes.append(path)
    entry = trusted_key_entry(
        key.verifying_key, "synthmark demo", [s.value for s in PUBLISH_STAGES]
    )
    trust = keys_dir / "trust.json"
    trust.write_text(
        json.dumps(
            {
                "type": "synthmark-trust",
                "version": 1,
                "keys": [entry.model_dump(mode="json", exclude_none=True)],
                "required_stages": [s.value for s in PUBLISH_STAGES],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return envelopes, trust
