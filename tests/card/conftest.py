"""A small stamped dataset with a manifest and two signed lifecycle attestations.

Built without the watermark or a manifest scan (both need torch): the manifest is written
from the stamped files' digests directly, so the card tests stay fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from synthmark.api import digest_file, stamp
from synthmark.provenance import SigningKey, sign_attestation
from synthmark.provenance.trust import TrustPolicy, trusted_key_entry
from synthmark.publish.manifest import attestation_reference
from synthmark.record.models import SPEC_VERSION, Creator, DatasetManifest, ManifestEntry
from synthmark.record.parsing import load_record, pretty_json
from synthmark.record.vocab import CreatorRole, FileRole, LifecycleStage
from synthmark.validation.config import MANIFEST_FILE
from tests.conftest import EXAMPLES

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SYNTHETIC = 4
REAL = 2


@dataclass(frozen=True)
class Dataset:
    root: Path
    trust: TrustPolicy
    trust_file: Path
    real_paths: tuple[str, ...]


def _predicate(stage: LifecycleStage) -> dict[str, Any]:
    name = f"valid-{stage.value.replace('_', '-')}.predicate.json"
    loaded: dict[str, Any] = json.loads((EXAMPLES / "attestations" / name).read_bytes())
    return loaded


def png_file(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(path)


@pytest.fixture(scope="package")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("card-dataset")
    (root / "synthetic").mkdir()
    (root / "real").mkdir()
    (root / "attestations").mkdir()
    template = load_record(EXAMPLES / "valid-diffusion-ct-chest.json")
    entries = []
    for index in range(SYNTHETIC):
        raw = root / f"raw-{index}.png"
        png_file(raw, index)
        dest = root / "synthetic" / f"s{index}.png"
        result = stamp(raw, template, dest=dest, new_record_id=True)
        raw.unlink()
        entries.append(
            ManifestEntry(
                path=f"synthetic/s{index}.png",
                role=FileRole.SYNTHETIC,
                pixel_xxh3_128=result.digest.xxh3_128,
                pixel_sha256=result.digest.sha256,
                record_id=result.record.record_id,
            )
        )
    real_paths = []
    for index in range(REAL):
        path = root / "real" / f"r{index}.png"
        png_file(path, 100 + index)
        digest = digest_file(path)
        relative = f"real/r{index}.png"
        real_paths.append(relative)
        entries.append(
            ManifestEntry(
                path=relative,
                role=FileRole.REAL,
                pixel_xxh3_128=digest.xxh3_128,
                pixel_sha256=digest.sha256,
            )
        )
    key = SigningKey.generate("ed25519")
    references = []
    for stage in (LifecycleStage.MODEL_TRAINING, LifecycleStage.MODEL_EVALUATION):
        envelope = sign_attestation(
            (stage, _predicate(stage)), [root / "synthetic" / "s0.png"], [key], root=root
        )
        path = root / "attestations" / f"{stage.value}.dsse.json"
        path.write_bytes(envelope.to_json_bytes())
        references.append(attestation_reference(root, path))
    manifest = DatasetManifest(
        spec_version=SPEC_VERSION,
        name="Chest CT synthetic cohort",
        version="1.2.0",
        created=NOW,
        publisher=Creator(
            organisation="Example Data Publisher", role=CreatorRole.DATASET_PUBLISHER
        ),
        contains_synthetic=True,
        total_count=SYNTHETIC + REAL,
        synthetic_count=SYNTHETIC,
        synthetic_proportion=SYNTHETIC / (SYNTHETIC + REAL),
        attestations=references,
        files=entries,
    )
    (root / MANIFEST_FILE).write_text(pretty_json(manifest), encoding="utf-8")
    # The reader trusts the key for training only: evaluation must show as not verified.
    entry = trusted_key_entry(key.verifying_key, "Example Generator Provider", ["model_training"])
    trust = TrustPolicy.model_validate(
        {
            "type": "synthmark-trust",
            "version": 1,
            "keys": [entry.model_dump(mode="json", exclude_none=True)],
            "required_stages": ["model_training", "data_collection"],
        }
    )
    trust_file = root.parent / f"{root.name}-trust.json"
    trust_file.write_text(trust.model_dump_json(exclude_none=True), encoding="utf-8")
    return Dataset(root, trust, trust_file, tuple(real_paths))
