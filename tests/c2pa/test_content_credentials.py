"""C2PA Content Credentials for PNG/JPEG (spec/parts/c2pa.md), offline with a dev CA."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from synthmark.carriers.c2pa import (
    ASSERTION_LABEL,
    MANIFEST_UNREADABLE_CODE,
    CredentialsState,
    DevCa,
    SigningIdentity,
    assertion_json,
    build_manifest,
    embed_credentials,
    load_signing_identity,
    make_dev_ca,
    read_credentials,
)
from synthmark.errors import (
    CorruptFileError,
    CredentialsError,
    KeyError_,
    OutputExistsError,
    RecordParseError,
    UnsupportedFormatError,
)
from synthmark.record.vocab import DigitalSourceType

TRAINED = DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA.value
# Arrays of small integers and of floats are what c2pa's Reader.json() mangles.
RECORD = {
    "record_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "synthetic": True,
    "shape": [64, 64],
    "spacing": [0.5, 0.5, 1.0],
    "big": [300, -1, 2**40],
    "note": "naïve — ünïcödé 😀",
    "nested": {"a": [[1, 2], [3]], "empty": [], "f": 0.1},
}
RECORD_JSON = json.dumps(RECORD).encode()
# As the assertion stores it: canonical JSON with integral numbers as integers (1.0 -> 1).
CANONICAL = json.dumps(
    {**RECORD, "spacing": [0.5, 0.5, 1]}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode()


def _png(rgb: bool = False, *, size: int = 64) -> bytes:
    shape = (size, size, 3) if rgb else (size, size)
    pixels = (np.arange(int(np.prod(shape))) % 251).astype(np.uint8).reshape(shape)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    pixels = (np.arange(64 * 64 * 3) % 251).astype(np.uint8).reshape(64, 64, 3)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img).copy()


@pytest.fixture(scope="module", params=["es256", "ed25519"])
def ca(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return make_dev_ca(tmp_path_factory.mktemp(f"ca-{request.param}"), algorithm=request.param)


@pytest.fixture(scope="module")
def identity(ca: DevCa) -> SigningIdentity:
    return load_signing_identity(ca.chain, ca.leaf_key)


@pytest.fixture(scope="module")
def signed_png(identity: SigningIdentity) -> bytes:
    return embed_credentials(_png(), "image/png", RECORD_JSON, TRAINED, identity)


# --- embed + read -----------------------------------------------------------------------------


@pytest.mark.parametrize("rgb", [False, True], ids=["grey", "rgb"])
def test_png_round_trip(ca: DevCa, identity: SigningIdentity, rgb: bool) -> None:
    original = _png(rgb)
    signed = embed_credentials(original, "image/png", RECORD_JSON, TRAINED, identity)
    assert signed != original
    assert np.array_equal(_pixels(signed), _pixels(original))

    state = read_credentials(signed, "image/png")
    assert state == CredentialsState(
        present=True,
        state="valid",
        digital_source_type=TRAINED,
        record_json=CANONICAL,
        failure_codes=(),
        signer="synthmark development",
        watermark=None,
    )
    trusted = read_credentials(signed, "image/png", trust_anchors_pem=ca.root_cert.read_bytes())
    assert trusted.state == "trusted"
    assert trusted.failure_codes == ()


def test_jpeg_round_trip(ca: DevCa, identity: SigningIdentity) -> None:
    original = _jpeg()
    source = DigitalSourceType.ALGORITHMIC_MEDIA.value
    signed = embed_credentials(original, "image/jpeg", RECORD_JSON, source, identity)
    # Same decoder, same entropy-coded data: only APP11 segments were added.
    assert np.array_equal(_pixels(signed), _pixels(original))
    state = read_credentials(signed, "image/jpeg", trust_anchors_pem=ca.root_cert.read_bytes())
    assert (state.state, state.digital_source_type, state.record_json) == (
        "trusted",
        source,
        CANONICAL,
    )


def test_other_anchor_is_valid_not_trusted(signed_png: bytes, tmp_path: Path) -> None:
    other = make_dev_ca(tmp_path / "other")
    state = read_credentials(
        signed_png, "image/png", trust_anchors_pem=other.root_cert.read_bytes()
    )
    assert state.state == "valid"
    assert state.failure_codes == ("signingCredential.untrusted",)


def test_watermark_soft_binding(ca: DevCa, identity: SigningIdentity) -> None:
    wm = ("3279dcac8aaa62da", "0f1e2d3c4b5a6978deadbeef")
    signed = embed_credentials(_png(), "image/png", RECORD_JSON, TRAINED, identity, watermark=wm)
    state = read_credentials(signed, "image/png", trust_anchors_pem=ca.root_cert.read_bytes())
    assert state.state == "trusted"
    assert state.watermark == wm
    assert state.digital_source_type == TRAINED


def test_manifest_definition_shape() -> None:
    manifest = build_manifest(RECORD, TRAINED, watermark=("3279dcac8aaa62da", "00ff"))
    assert manifest["claim_generator_info"][0]["name"] == "synthmark"
    labels = [a["label"] for a in manifest["assertions"]]
    assert labels == ["c2pa.actions", ASSERTION_LABEL, "c2pa.soft-binding"]
    actions = manifest["assertions"][0]["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.watermarked.bound"]
    assert actions[0]["digitalSourceType"] == TRAINED
    assert manifest["assertions"][2]["data"]["alg"] == "org.synthmark.wm.1"


def test_no_thumbnail(signed_png: bytes) -> None:
    # A thumbnail would be a second, unprotected copy of the pixels (~45 KB for this image).
    assert len(signed_png) - len(_png()) < 8_000
    assert b"c2pa.thumbnail" not in signed_png


# --- tampering and absence --------------------------------------------------------------------


def test_flipped_pixel_byte_is_invalid(signed_png: bytes) -> None:
    at = signed_png.index(b"IDAT") + 10
    tampered = bytearray(signed_png)
    tampered[at] ^= 0x01
    state = read_credentials(bytes(tampered), "image/png")
    assert state.present
    assert state.state == "invalid"
    assert "assertion.dataHash.mismatch" in state.failure_codes


def test_flipped_jpeg_scan_byte_is_invalid(identity: SigningIdentity) -> None:
    signed = embed_credentials(_jpeg(), "image/jpeg", RECORD_JSON, TRAINED, identity)
    tampered = bytearray(signed)
    tampered[-20] ^= 0x01
    state = read_credentials(bytes(tampered), "image/jpeg")
    assert (state.state, state.failure_codes) == ("invalid", ("assertion.dataHash.mismatch",))


def test_flipped_signature_byte_is_invalid(signed_png: bytes) -> None:
    # The signature sits at the end of the manifest store, just before the IDAT chunk.
    at = signed_png.index(b"IDAT") - 40
    tampered = bytearray(signed_png)
    tampered[at] ^= 0xFF
    state = read_credentials(bytes(tampered), "image/png")
    assert state.state == "invalid"
    assert state.failure_codes


def test_unparsable_manifest_is_invalid_not_an_exception(signed_png: bytes) -> None:
    at = signed_png.index(b"caBX") + 200
    tampered = bytearray(signed_png)
    tampered[at] ^= 0xFF
    state = read_credentials(bytes(tampered), "image/png")
    assert state == CredentialsState(True, "invalid", None, None, (MANIFEST_UNREADABLE_CODE,), None)


@pytest.mark.parametrize(("data", "mime"), [(_png(), "image/png"), (_jpeg(), "image/jpeg")])
def test_no_manifest_is_absent(data: bytes, mime: str) -> None:
    assert read_credentials(data, mime) == CredentialsState(False, "absent", None, None, (), None)


def test_unreadable_image_raises_corrupt() -> None:
    with pytest.raises(CorruptFileError):
        read_credentials(b"not an image at all", "image/png")
    with pytest.raises(CorruptFileError):
        read_credentials(_png()[:40], "image/png")


def test_unsupported_mime(identity: SigningIdentity) -> None:
    with pytest.raises(UnsupportedFormatError):
        read_credentials(_png(), "application/dicom")
    with pytest.raises(UnsupportedFormatError):
        embed_credentials(_png(), "image/tiff", RECORD_JSON, TRAINED, identity)


# --- re-embedding ------------------------------------------------------------------------------


def test_reembedding_replaces_the_manifest(
    ca: DevCa, identity: SigningIdentity, signed_png: bytes
) -> None:
    record2 = json.dumps({"record_id": "second", "n": [1, 2, 3]}).encode()
    source = DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA.value
    again = embed_credentials(signed_png, "image/png", record2, source, identity)
    state = read_credentials(again, "image/png", trust_anchors_pem=ca.root_cert.read_bytes())
    assert state.state == "trusted"
    assert state.digital_source_type == source
    assert state.record_json == b'{"n":[1,2,3],"record_id":"second"}'
    assert np.array_equal(_pixels(again), _pixels(signed_png))
    # Replaced, not appended: the file grows by about one manifest, not two.
    assert abs(len(again) - len(signed_png)) < 500


def test_reembedding_over_a_broken_manifest(identity: SigningIdentity, signed_png: bytes) -> None:
    at = signed_png.index(b"IDAT") - 40
    broken = bytearray(signed_png)
    broken[at] ^= 0xFF
    again = embed_credentials(bytes(broken), "image/png", RECORD_JSON, TRAINED, identity)
    assert read_credentials(again, "image/png").state == "valid"


# --- inputs that must fail cleanly ---------------------------------------------------------------


def test_bad_record_and_source_type(identity: SigningIdentity) -> None:
    with pytest.raises(RecordParseError):
        embed_credentials(_png(), "image/png", b"[1, 2]", TRAINED, identity)
    with pytest.raises(RecordParseError):
        embed_credentials(_png(), "image/png", b"\xff{", TRAINED, identity)
    with pytest.raises(CredentialsError, match="digital source type"):
        embed_credentials(_png(), "image/png", RECORD_JSON, "trainedAlgorithmicMedia", identity)
    with pytest.raises(CredentialsError, match="watermark"):
        embed_credentials(
            _png(), "image/png", RECORD_JSON, TRAINED, identity, watermark=("xyz", "00")
        )


def test_corrupt_image_on_embed(identity: SigningIdentity) -> None:
    with pytest.raises(CorruptFileError):
        embed_credentials(_png(), "image/jpeg", RECORD_JSON, TRAINED, identity)


def test_key_not_matching_leaf(tmp_path: Path, ca: DevCa) -> None:
    other = make_dev_ca(tmp_path / "other")
    with pytest.raises(KeyError_, match="does not match"):
        load_signing_identity(ca.chain, other.leaf_key)


def test_malformed_and_missing_files(tmp_path: Path, ca: DevCa) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN NOTHING-----\n")
    for chain, key in [(junk, ca.leaf_key), (ca.chain, junk), (tmp_path / "missing", ca.leaf_key)]:
        with pytest.raises(KeyError_):
            load_signing_identity(chain, key)


def test_unsupported_key_type(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cert = _cert(key, key, "rsa", ca=False)
    chain, key_file = _write(tmp_path, cert, key)
    with pytest.raises(KeyError_, match="unsupported key type"):
        load_signing_identity(chain, key_file)


def test_self_signed_leaf_is_refused(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(key, key, "self-signed", ca=False)
    chain, key_file = _write(tmp_path, cert, key)
    identity = load_signing_identity(chain, key_file)
    with pytest.raises(CredentialsError, match="self-signed") as info:
        embed_credentials(_png(), "image/png", RECORD_JSON, TRAINED, identity)
    assert info.value.code == "SMX080"


@pytest.mark.parametrize(
    ("eku", "aki", "problem"),
    [
        (None, True, "ExtendedKeyUsage"),
        (ExtendedKeyUsageOID.CODE_SIGNING, True, "ExtendedKeyUsage has none of"),
        (ExtendedKeyUsageOID.EMAIL_PROTECTION, False, "AuthorityKeyIdentifier"),
    ],
    ids=["no-eku", "codesigning", "no-aki"],
)
def test_leaf_profile_is_refused(
    tmp_path: Path, eku: x509.ObjectIdentifier | None, aki: bool, problem: str
) -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(leaf_key, root_key, "leaf", ca=False, eku=eku, aki=aki)
    identity = load_signing_identity(*_write(tmp_path, cert, leaf_key))
    with pytest.raises(CredentialsError, match=problem):
        embed_credentials(_png(), "image/png", RECORD_JSON, TRAINED, identity)


@pytest.mark.parametrize(
    "eku",
    [x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1"), x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")],
    ids=["c2pa-claimSigning", "documentSigning"],
)
def test_c2pa_conformant_ekus_are_accepted(tmp_path: Path, eku: x509.ObjectIdentifier) -> None:
    # Certificates from C2PA-conformant CAs carry these; c2pa's default list lacks them.
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert(root_key, root_key, "test root", ca=True, eku=None)
    cert = _cert(leaf_key, root_key, "leaf", ca=False, eku=eku)
    identity = load_signing_identity(*_write(tmp_path, cert, leaf_key))
    signed = embed_credentials(_png(), "image/png", RECORD_JSON, TRAINED, identity)
    anchors = root.public_bytes(serialization.Encoding.PEM)
    assert read_credentials(signed, "image/png").state == "valid"
    assert read_credentials(signed, "image/png", trust_anchors_pem=anchors).state == "trusted"


def test_identity_repr_hides_key(identity: SigningIdentity) -> None:
    assert b"PRIVATE" in identity.key_pem
    assert "PRIVATE" not in repr(identity)


# --- dev CA ------------------------------------------------------------------------------------


def test_dev_ca_files(ca: DevCa) -> None:
    assert stat.S_IMODE(os.stat(ca.leaf_key).st_mode) == 0o600
    leaf = x509.load_pem_x509_certificates(ca.chain.read_bytes())
    root = x509.load_pem_x509_certificate(ca.root_cert.read_bytes())
    assert len(leaf) == 1
    assert leaf[0].issuer == root.subject
    ext = leaf[0].extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ext.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.EMAIL_PROTECTION
    ]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    lifetime = leaf[0].not_valid_after_utc - leaf[0].not_valid_before_utc
    assert dt.timedelta(days=364) < lifetime <= dt.timedelta(days=366)


def test_dev_ca_refuses_to_overwrite(tmp_path: Path) -> None:
    make_dev_ca(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(OutputExistsError):
        make_dev_ca(tmp_path)
    (tmp_path / "chain.pem").unlink()
    with pytest.raises(OutputExistsError):
        make_dev_ca(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {
        k: v for k, v in before.items() if k != "chain.pem"
    }


def test_dev_ca_unknown_algorithm(tmp_path: Path) -> None:
    with pytest.raises(KeyError_):
        make_dev_ca(tmp_path, algorithm="rsa")
    assert not list(tmp_path.iterdir())


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, synthmark.carriers.c2pa; "
        "print(any(m == 'c2pa' or m.startswith('cryptography') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


_Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


# --- helpers -----------------------------------------------------------------------------------


def _cert(
    subject_key: _Key,
    issuer_key: _Key,
    cn: str,
    *,
    ca: bool,
    eku: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.EMAIL_PROTECTION,
    aki: bool = True,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer = (
        subject
        if subject_key is issuer_key
        else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test root")])
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    if aki and subject_key is not issuer_key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, cert: x509.Certificate, key: _Key) -> tuple[Path, Path]:
    chain = folder / "chain.pem"
    key_file = folder / "leaf.key"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return chain, key_file


def test_reencoding_drops_the_credentials(signed_png: bytes) -> None:
    # The hard binding covers file bytes; synthmark's pixel binding is what survives this.
    buf = io.BytesIO()
    Image.open(io.BytesIO(signed_png)).save(buf, "PNG")
    assert read_credentials(buf.getvalue(), "image/png").state == "absent"
    assert np.array_equal(_pixels(buf.getvalue()), _pixels(signed_png))


@pytest.mark.parametrize("anchors", [b"", b"junk", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_malformed_trust_anchors(signed_png: bytes, anchors: bytes) -> None:
    with pytest.raises(KeyError_):
        read_credentials(signed_png, "image/png", trust_anchors_pem=anchors)


def test_anchor_bundle(ca: DevCa, signed_png: bytes, tmp_path: Path) -> None:
    other = make_dev_ca(tmp_path / "other")
    bundle = other.root_cert.read_bytes() + ca.root_cert.read_bytes()
    assert read_credentials(signed_png, "image/png", trust_anchors_pem=bundle).state == "trusted"


def test_assertion_form_writes_integral_numbers_as_integers() -> None:
    assert assertion_json(RECORD_JSON) == CANONICAL
    assert assertion_json(b'{"a":1.0,"b":[2.5,-0.0,1e300],"c":{"d":3.0}}') == (
        b'{"a":1,"b":[2.5,0,1e+300],"c":{"d":3}}'
    )
