"""Signed records and C2PA Content Credentials through stamp and verify (API and CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from synthmark.api import stamp, verify
from synthmark.carriers import open_image
from synthmark.carriers.c2pa import load_signing_identity, make_dev_ca, read_credentials
from synthmark.carriers.sidecar import sidecar_path
from synthmark.cli import main
from synthmark.provenance import SigningKey, load_trust, write_key_pair
from synthmark.record.parsing import load_record
from synthmark.watermark.content import detect_content
from tests.conftest import EXAMPLES

RECORD = EXAMPLES / "valid-diffusion-ct-chest.json"


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    key = SigningKey.generate()
    write_key_pair(key, folder / "sign.pem")
    other = SigningKey.generate("p256")
    write_key_pair(other, folder / "other.pem")
    ca = make_dev_ca(folder / "ca")
    trust = folder / "trust.json"
    assert (
        main(
            [
                "attest",
                "trust",
                str(trust),
                "--add-key",
                str(folder / "sign.pub.pem"),
                "--owner",
                "Example Generator Provider",
                "--scope",
                "record",
                "--c2pa-anchor",
                str(ca.root_cert),
            ]
        )
        == 0
    )
    return {
        "key": folder / "sign.pem",
        "other": folder / "other.pem",
        "chain": ca.chain,
        "leaf": ca.leaf_key,
        "root": ca.root_cert,
        "trust": trust,
    }


def _png(folder: Path, name: str = "in.png") -> Path:
    rng = np.random.default_rng(7)
    pixels = rng.normal(120, 30, (192, 192)).clip(0, 255).astype(np.uint8)
    path = folder / name
    Image.fromarray(pixels).save(path)
    return path


def _stamp_png(folder: Path, material: dict[str, Path]) -> Path:
    from synthmark.provenance import load_signing_key
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    out = folder / "out.png"
    stamp(
        _png(folder),
        load_record(RECORD),
        dest=out,
        watermark=PUBLIC_DETECTION_KEY,
        sign_keys=[load_signing_key(material["key"])],
        credentials=load_signing_identity(material["chain"], material["leaf"]),
    )
    return out


def test_c2pa_png_verifies_shows_source_type_keeps_watermark_and_binding(
    tmp_path: Path, material: dict[str, Path]
) -> None:
    out = _stamp_png(tmp_path, material)
    state = read_credentials(
        out.read_bytes(), "image/png", trust_anchors_pem=material["root"].read_bytes()
    )
    assert state.state == "trusted"
    assert state.digital_source_type == (
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    )
    image = open_image(out)
    assert image.standard_label().synthetic is True
    assert detect_content(image.pixels(), None).detected
    result = verify(out, trust=load_trust(material["trust"]))
    assert result.ok, result.problems
    assert (result.binding, result.signature, result.credentials, result.watermark) == (
        "pass",
        "pass",
        "pass",
        "pass",
    )
    assert result.record_source == "embedded"  # read from the C2PA manifest


def test_changed_signed_record_is_detected(tmp_path: Path, material: dict[str, Path]) -> None:
    out = _stamp_png(tmp_path, material)
    side = sidecar_path(out)
    obj = json.loads(side.read_bytes())
    obj["intended_use"]["intended"] = ["model_training", "education"]
    side.write_text(json.dumps(obj))
    # Remove the C2PA copy so that the edited sidecar is the record in use.
    plain = tmp_path / "plain.png"
    Image.open(out).save(plain)
    shutil.copy(side, sidecar_path(plain))
    result = verify(plain, trust=load_trust(material["trust"]))
    assert result.signature == "fail"
    assert [p.code for p in result.problems] == ["SMV012"]
    # The record with the C2PA copy disagrees with the edited sidecar: reported too.
    assert "SMV007" in [p.code for p in verify(out).problems]


def test_untrusted_signer_and_unverified_signature(
    tmp_path: Path, material: dict[str, Path]
) -> None:
    from synthmark.provenance import load_signing_key

    source = get_testdata_file("CT_small.dcm", download=False)
    assert source is not None
    out = tmp_path / "ct.dcm"
    stamp(
        Path(source),
        load_record(RECORD),
        dest=out,
        sign_keys=[load_signing_key(material["other"])],
    )
    assert verify(out, check_watermark=False).signature == "not_checked"
    result = verify(out, check_watermark=False, trust=load_trust(material["trust"]))
    assert result.signature == "fail"
    assert [p.code for p in result.problems] == ["SMV013"]


def test_flipped_pixel_byte_breaks_c2pa_and_binding(
    tmp_path: Path, material: dict[str, Path]
) -> None:
    out = _stamp_png(tmp_path, material)
    data = bytearray(out.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 40] ^= 0x01
    out.write_bytes(bytes(data))
    result = verify(out, trust=load_trust(material["trust"]))
    codes = {p.code for p in result.problems}
    assert result.credentials == "fail" and "SMV014" in codes


def test_cli_stamp_signs_and_c2pa(tmp_path: Path, material: dict[str, Path]) -> None:
    source = _png(tmp_path)
    out = tmp_path / "cli.png"
    assert (
        main(
            [
                "stamp",
                str(source),
                "--record",
                str(RECORD),
                "-o",
                str(out),
                "--sign-key",
                str(material["key"]),
                "--c2pa-chain",
                str(material["chain"]),
                "--c2pa-key",
                str(material["leaf"]),
            ]
        )
        == 0
    )
    assert main(["verify", str(out), "--trust", str(material["trust"])]) == 0
    assert (
        main(
            [
                "stamp",
                str(source),
                "--record",
                str(RECORD),
                "-o",
                str(tmp_path / "x.png"),
                "--c2pa-chain",
                str(material["chain"]),
            ]
        )
        == 2
    )
    # A DICOM output cannot carry C2PA: stamped anyway, with a note.
    ct = get_testdata_file("CT_small.dcm", download=False)
    assert ct is not None
    assert (
        main(
            [
                "stamp",
                ct,
                "--record",
                str(RECORD),
                "-o",
                str(tmp_path / "ct.dcm"),
                "--c2pa-chain",
                str(material["chain"]),
                "--c2pa-key",
                str(material["leaf"]),
            ]
        )
        == 0
    )


def test_soft_binding_naming_another_watermark_fails(
    tmp_path: Path, material: dict[str, Path]
) -> None:
    from synthmark.carriers.c2pa import embed_credentials
    from synthmark.record.parsing import canonical_json

    out = _stamp_png(tmp_path, material)
    record = load_record(RECORD)
    stamped = verify(out).record_id
    assert stamped is not None
    from synthmark.api import read_record

    found = read_record(out).record
    forged = embed_credentials(
        out.read_bytes(),
        "image/png",
        canonical_json(found),
        record.digital_source_type.value,
        load_signing_identity(material["chain"], material["leaf"]),
        watermark=("0123456789abcdef", "deadbeefdeadbeef"),
    )
    out.write_bytes(forged)
    result = verify(out)
    assert result.credentials == "fail"
    assert "SMV015" in [p.code for p in result.problems]
