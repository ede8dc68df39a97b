"""`synthmark validate` with a trust file: signed records (SM307, SM308), C2PA (SM309),
the publish policy's required stages (SM301), and the trust file from synthmark.toml."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.api import stamp
from synthmark.carriers.c2pa import load_signing_identity, make_dev_ca
from synthmark.carriers.sidecar import sidecar_path
from synthmark.cli import main
from synthmark.provenance import SigningKey, load_signing_key, write_key_pair
from synthmark.record.parsing import load_record
from synthmark.validation.config import ValidateConfig
from synthmark.validation.engine import validate
from synthmark.watermark import PUBLIC_DETECTION_KEY
from tests.conftest import EXAMPLES

RECORD = EXAMPLES / "valid-diffusion-ct-chest.json"


@pytest.fixture(scope="module")
def signed_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("signed")
    keys = folder / "keys"
    keys.mkdir()
    write_key_pair(SigningKey.generate(), keys / "provider.pem")
    ca = make_dev_ca(keys / "ca")
    trust = keys / "trust.json"
    args = ["attest", "trust", str(trust), "--add-key", str(keys / "provider.pub.pem")]
    assert main([*args, "--owner", "Provider", "--scope", "record"]) == 0
    assert main(["attest", "trust", str(trust), "--c2pa-anchor", str(ca.root_cert)]) == 0
    data = folder / "data"
    data.mkdir()
    rng = np.random.default_rng(3)
    for index in range(3):
        ramp = np.add.outer(np.arange(256), np.arange(256)) / 4.0 + 40 * index
        pixels = (ramp + rng.normal(0, 6, ramp.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"src{index}.png")
        stamp(
            folder / f"src{index}.png",
            load_record(RECORD),
            dest=data / f"img{index}.png",
            new_record_id=True,
            watermark=PUBLIC_DETECTION_KEY,
            sign_keys=[load_signing_key(keys / "provider.pem")],
            credentials=load_signing_identity(ca.chain, ca.leaf_key),
        )
    return data, trust


def _codes(root: Path, **config: object) -> list[str]:
    report = validate([root], ValidateConfig(jobs=1, **config))  # type: ignore[arg-type]
    return sorted(f.code for f in report.findings if f.severity.value != "info")


def test_signed_credentialed_dataset_is_clean_with_and_without_trust(
    signed_dataset: tuple[Path, Path],
) -> None:
    data, trust = signed_dataset
    assert _codes(data, trust=trust) == ["SM508"]  # synthetic images and no manifest
    report = validate([data], ValidateConfig(jobs=1))
    assert {code for code, _ in report.rules_not_run} >= {"SM302", "SM308"}


def test_tampered_signed_record_untrusted_signer_and_broken_credentials(
    signed_dataset: tuple[Path, Path], tmp_path: Path
) -> None:
    data, trust = signed_dataset
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    # 1: a signed record edited in the sidecar of a file whose C2PA store was dropped.
    plain = copy / "img0.png"
    Image.open(plain).save(plain)
    record = json.loads(sidecar_path(plain).read_bytes())
    record["intended_use"]["intended"].append("education")
    sidecar_path(plain).write_text(json.dumps(record))
    # 2: bytes added after signing (a text chunk; the pixels still decode).
    blob = (copy / "img1.png").read_bytes()
    chunk = b"tEXtComment\x00edited"
    text = struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
    end = blob.rindex(b"IEND") - 4
    (copy / "img1.png").write_bytes(blob[:end] + text + blob[end:])
    codes = _codes(copy, trust=trust)
    assert "SM307" in codes and "SM309" in codes
    # 3: a trust file that does not trust the signer for records.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"type": "synthmark-trust", "version": 1}))
    assert "SM308" in _codes(data, trust=other)


def test_publish_policy_requires_attested_stages_and_reads_trust_from_config(
    signed_dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, trust = signed_dataset
    copy = tmp_path / "ds"
    shutil.copytree(data, copy)
    assert main(["manifest", "build", str(copy), "--name", "d", "--publisher", "p"]) == 0
    capsys.readouterr()
    assert main(["validate", str(copy), "--policy", "publish", "--format", "json", "-q"]) == 1
    report = json.loads(capsys.readouterr().out)
    missing = [f for f in report["findings"] if f["code"] == "SM301"]
    assert len(missing) == 4
    # The dataset cannot choose the trust file that judges it (attestations 6.6) ...
    (copy / "synthmark.toml").write_text(f'trust = "{trust}"\npolicy = "research"\n')
    assert main(["validate", str(copy), "-q"]) == 2
    assert "SMX002" in capsys.readouterr().err
    # ... but the verifier may name a configuration explicitly.
    config = tmp_path / "verifier.toml"
    config.write_text(f'trust = "{trust}"\npolicy = "research"\n')
    (copy / "synthmark.toml").unlink()
    assert main(["validate", str(copy), "-q", "--config", str(config)]) == 0
