"""The dataset chain: manifest -> envelopes -> subjects, judged against a trust file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from synthmark.provenance import SigningKey, sign_attestation
from synthmark.provenance.chain import check_chain
from synthmark.provenance.trust import TrustPolicy, trusted_key_entry
from synthmark.publish.manifest import attestation_reference
from synthmark.record.models import DatasetManifest
from synthmark.record.vocab import LifecycleStage
from tests.conftest import EXAMPLES

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STAGES = (LifecycleStage.DATA_COLLECTION, LifecycleStage.MODEL_TRAINING)


def _predicate(stage: LifecycleStage) -> dict[str, Any]:
    name = f"valid-{stage.value.replace('_', '-')}.predicate.json"
    loaded: dict[str, Any] = json.loads((EXAMPLES / "attestations" / name).read_bytes())
    return loaded


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, DatasetManifest, TrustPolicy]:
    key = SigningKey.generate()
    (tmp_path / "attestations").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"weights")
    (tmp_path / "sources.csv").write_text("scan,consent\n1,waiver\n")
    subjects = {
        LifecycleStage.DATA_COLLECTION: tmp_path / "sources.csv",
        LifecycleStage.MODEL_TRAINING: tmp_path / "model" / "weights.bin",
    }
    refs = []
    for stage in STAGES:
        envelope = sign_attestation(
            (stage, _predicate(stage)), [subjects[stage]], [key], root=tmp_path
        )
        path = tmp_path / "attestations" / f"{stage.value}.dsse.json"
        path.write_bytes(envelope.to_json_bytes())
        refs.append(attestation_reference(tmp_path, path))
    base = json.loads((EXAMPLES / "valid-manifest-mixed-dataset.json").read_bytes())
    base["attestations"] = [r.model_dump(mode="json", exclude_none=True) for r in refs]
    manifest = DatasetManifest.model_validate(base)
    entry = trusted_key_entry(key.verifying_key, "Lab", [s.value for s in STAGES])
    trust = TrustPolicy.model_validate(
        {
            "type": "synthmark-trust",
            "version": 1,
            "keys": [entry.model_dump(mode="json", exclude_none=True)],
            "required_stages": ["data_collection"],
        }
    )
    return tmp_path, manifest, trust


def _rules(
    root: Path, manifest: DatasetManifest, trust: TrustPolicy | None, *req: str
) -> list[str]:
    findings, _ = check_chain(root, manifest, trust, tuple(req), now=NOW)
    return sorted(f.rule for f in findings)


def test_intact_chain_passes_and_reports_verified_stages(
    dataset: tuple[Path, DatasetManifest, TrustPolicy],
) -> None:
    root, manifest, trust = dataset
    findings, verified = check_chain(root, manifest, trust, ("model_training",), now=NOW)
    assert findings == []
    assert verified == set(STAGES)


def test_missing_stage_missing_trust_and_broken_links(
    dataset: tuple[Path, DatasetManifest, TrustPolicy],
) -> None:
    root, manifest, trust = dataset
    assert _rules(root, manifest, trust, "model_evaluation") == ["SM301"]
    # No trust file: nothing verifies, so every required stage is missing.
    assert _rules(root, manifest, None, "model_training") == ["SM301"]
    (root / "attestations" / "model_training.dsse.json").write_bytes(b"{}")
    assert _rules(root, manifest, trust) == ["SM306"]
    (root / "attestations" / "model_training.dsse.json").unlink()
    assert _rules(root, manifest, trust, "model_training") == ["SM301", "SM306"]


def test_subject_changed_after_signing(
    dataset: tuple[Path, DatasetManifest, TrustPolicy],
) -> None:
    root, manifest, trust = dataset
    (root / "model" / "weights.bin").write_bytes(b"other weights")
    assert _rules(root, manifest, trust, "model_training") == ["SM301", "SM304"]


def test_untrusted_and_expired(dataset: tuple[Path, DatasetManifest, TrustPolicy]) -> None:
    root, manifest, trust = dataset
    stranger = trusted_key_entry(SigningKey.generate().verifying_key, "Other", ["record"])
    untrusting = trust.model_copy(update={"keys": [stranger]})
    assert _rules(root, manifest, untrusting) == ["SM301", "SM303", "SM303"]
    late = datetime(2030, 1, 1, tzinfo=UTC)
    findings, _ = check_chain(root, manifest, trust, (), now=late)
    assert sorted({f.rule for f in findings}) == ["SM301", "SM305"]
