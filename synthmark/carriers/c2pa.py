"""C2PA Content Credentials for PNG and JPEG (spec/parts/c2pa.md).

synthmark writes one C2PA manifest per stamped raster image: a ``c2pa.created`` action with
the IPTC digital source type, the synthmark record as the custom assertion
:data:`ASSERTION_LABEL`, and, when the image carries a synthmark watermark, a
``c2pa.watermarked.bound`` action plus a ``c2pa.soft-binding`` assertion. Thumbnails are never
written: they would copy pixels of what may be derived from real patients' images.

``c2pa`` (a native library behind ctypes) is imported inside the functions so that importing
this module stays cheap; every error of that library is translated into a
:class:`~synthmark.errors.SynthmarkError`.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmark.errors import (
    CorruptFileError,
    CredentialsError,
    KeyError_,
    OptionalDependencyError,
    OutputExistsError,
    RecordParseError,
    UnsupportedFormatError,
)

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

#: Label of the custom assertion that carries the synthmark record.
ASSERTION_LABEL = "org.synthmark.record"
#: ``alg`` of the ``c2pa.soft-binding`` assertion naming the synthmark watermark.
SOFT_BINDING_ALG = "org.synthmark.wm.1"

SUPPORTED_MIME_TYPES: tuple[str, ...] = ("image/png", "image/jpeg")

#: Failure code reported when a manifest store is present but cannot be parsed at all;
#: c2pa then raises instead of returning validation results, so there is no C2PA code.
MANIFEST_UNREADABLE_CODE = "org.synthmark.manifest.unreadable"

#: Extended key usages synthmark accepts on a signing leaf, for signing and for reading.
#: c2pa 0.38.1's default list lacks documentSigning and the C2PA claim-signing EKU that
#: certificates from C2PA-conformant CAs carry, so it is passed explicitly.
SIGNING_EKUS: tuple[tuple[str, str], ...] = (
    ("id-kp-emailProtection", "1.3.6.1.5.5.7.3.4"),
    ("id-kp-documentSigning", "1.3.6.1.5.5.7.3.36"),
    ("c2pa-kp-claimSigning", "1.3.6.1.4.1.62558.2.1"),
    ("MS C2PA signing", "1.3.6.1.4.1.311.76.59.1.9"),
)

_KEY_ID_RE = re.compile(r"[0-9a-f]{16}")
_HEX_RE = re.compile(r"(?:[0-9a-f]{2})+")
# c2pa raises this (as C2paError.Other) when the bytes are not a PNG/JPEG it can walk.
_ASSET_UNPARSABLE = "asset could not be parsed"


@dataclass(frozen=True)
class SigningIdentity:
    """A C2PA signing credential, checked by :func:`load_signing_identity`.

    Attributes:
        chain_pem: Certificates, leaf first, then intermediates (the root may be omitted).
        key_pem: The leaf's private key as unencrypted PKCS#8 PEM.
        algorithm: ``"es256"``, ``"es384"``, ``"es512"`` or ``"ed25519"``, from the key type.
        tsa_url: RFC 3161 timestamp authority to countersign with, or None (the default:
            signing then never touches the network).
    """

    chain_pem: bytes
    key_pem: bytes
    algorithm: str
    tsa_url: str | None = None

    def __repr__(self) -> str:
        # Keeps the private key out of logs and tracebacks.
        chain = f"<{len(self.chain_pem)} bytes>"
        return f"SigningIdentity(algorithm={self.algorithm!r}, chain_pem={chain}, key_pem=<hidden>)"


@dataclass(frozen=True)
class CredentialsState:
    """What :func:`read_credentials` found.

    The content fields are filled from the manifest even when ``state`` is ``"invalid"``,
    for reporting; only a ``"valid"`` or ``"trusted"`` state vouches for them.

    Attributes:
        present: Whether the file carries a C2PA manifest store at all.
        state: ``"absent"``, ``"invalid"``, ``"valid"`` (signature and bindings verify,
            signer not trusted or no trust anchors given) or ``"trusted"`` (valid and the
            chain ends at a given trust anchor).
        digital_source_type: ``digitalSourceType`` of the active manifest's ``c2pa.created``.
        record_json: The :data:`ASSERTION_LABEL` assertion, if present, in the form of
            :func:`assertion_json` (canonical JSON, integral numbers as integers).
        failure_codes: C2PA validation status codes that failed, in report order, e.g.
            ``"assertion.dataHash.mismatch"``, ``"claimSignature.mismatch"``, or
            ``"signingCredential.untrusted"`` when anchors were given but did not match.
        signer: Common name of the signing certificate (else its issuer), if reported.
        watermark: ``(key_id, payload_hex)`` from a ``c2pa.soft-binding`` assertion with
            alg :data:`SOFT_BINDING_ALG`, if present.
    """

    present: bool
    state: str
    digital_source_type: str | None
    record_json: bytes | None
    failure_codes: tuple[str, ...]
    signer: str | None
    watermark: tuple[str, str] | None = None


@dataclass(frozen=True)
class DevCa:
    """Files written by :func:`make_dev_ca`.

    Attributes:
        root_cert: ``root.pem``, the self-signed root certificate: the trust anchor for readers.
        chain: ``chain.pem``, the leaf certificate alone (the root is the anchor, not chain).
        leaf_key: ``leaf.key``, the leaf's PKCS#8 private key, mode 0600.
    """

    root_cert: Path
    chain: Path
    leaf_key: Path


def _c2pa() -> Any:
    # Typed Any: c2pa-python ships no type information.
    try:
        import c2pa
    except (ImportError, OSError) as exc:
        # OSError: the wheel imported but its native library failed to load.
        raise OptionalDependencyError(
            f"C2PA support is unavailable: {exc}",
            hint="install c2pa-python (wheels exist for Linux glibc x86_64/aarch64 and macOS)",
        ) from exc
    return c2pa


def _trust_config() -> str:
    # c2pa's format: one OID per line, "//" lines are comments.
    return "".join(f"//{name}\n{oid}\n" for name, oid in SIGNING_EKUS)


def _canonical(obj: Any) -> bytes:
    # Same canonical form as synthmark.record.parsing.canonical_json, for plain JSON values.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


#: Integral floats below this magnitude are written as integers (exact in a double).
_EXACT_INTEGERS = 2**53


def _integral_as_int(value: Any) -> Any:
    """``1.0`` becomes ``1``, recursively: the number form every JSON writer agrees on.

    The assertion is a JSON box, and its hashed URI covers the stored bytes. c2pa-rs writes
    a float 1.0 as ``1.0``; a reader that parses the box and serialises it again before
    hashing (as @trustnxt/c2pa-ts 0.9 does; the spec hashes the stored bytes) writes
    ``1``, so the hash no longer matches. Writing integral values as integers makes the
    bytes the same either way; other floats print identically in both (shortest
    round-trip form).
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_INTEGERS:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_as_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_as_int(v) for v in value]
    return value


def assertion_json(record_json: bytes) -> bytes:
    """The record exactly as the ``org.synthmark.record`` assertion stores it.

    Canonical JSON (sorted keys, no whitespace, UTF-8) with integral numbers written as
    integers (spec/parts/c2pa.md section 2); what :attr:`CredentialsState.record_json`
    holds, so compare a record with it in this form.

    Raises:
        RecordParseError: ``record_json`` is not UTF-8 JSON.
    """
    try:
        value = json.loads(record_json.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordParseError(f"record is not UTF-8 JSON: {exc}") from exc
    return _canonical(_integral_as_int(value))


# ---------------------------------------------------------------------------------------------
# Signing identity
# ---------------------------------------------------------------------------------------------


def _algorithm_for(key: PrivateKeyTypes) -> str | None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(
            key.curve.name
        )
    return None


def load_signing_identity(chain: Path, key: Path, *, tsa_url: str | None = None) -> SigningIdentity:
    """Load and cross-check a certificate chain and its private key.

    The chain is PEM, leaf first; the key is an unencrypted PEM private key (PKCS#8 or
    SEC1; it is re-encoded as PKCS#8). Whether c2pa accepts the certificate's profile (EKU,
    KeyUsage) is only known when signing: :func:`embed_credentials` reports that.

    Raises:
        KeyError_: a file is unreadable or malformed, the key is encrypted, the key does not
            match the leaf certificate, or the key type is not ECDSA P-256/384/521 or Ed25519.
    """
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    chain_bytes = _read_key_file(chain)
    key_bytes = _read_key_file(key)
    try:
        certs = x509.load_pem_x509_certificates(chain_bytes)
    except ValueError as exc:
        raise KeyError_(
            f"not a PEM certificate chain: {exc}",
            hint="the chain file holds PEM certificates, leaf first",
            path=chain,
        ) from exc
    try:
        private = serialization.load_pem_private_key(key_bytes, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyError_(
            f"not an unencrypted PEM private key: {exc}",
            hint="C2PA signing needs an unencrypted PKCS#8 PEM key",
            path=key,
        ) from exc
    algorithm = _algorithm_for(private)
    if algorithm is None:
        raise KeyError_(
            f"unsupported key type {type(private).__name__}",
            hint="use an ECDSA P-256/P-384/P-521 or Ed25519 key",
            path=key,
        )
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if certs[0].public_key().public_bytes(*spki) != private.public_key().public_bytes(*spki):
        raise KeyError_(
            "the private key does not match the first (leaf) certificate of the chain",
            hint="pass the key of the leaf certificate; the chain must list the leaf first",
            path=key,
        )
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    key_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningIdentity(
        chain_pem=chain_pem, key_pem=key_pem, algorithm=algorithm, tsa_url=tsa_url
    )


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyError_(f"cannot read: {exc.strerror or exc}", path=path) from exc


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def build_manifest(
    record: dict[str, Any],
    digital_source_type: str,
    *,
    watermark: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The c2pa manifest definition synthmark signs (spec/parts/c2pa.md section 2)."""
    from synthmark import __version__

    generator = {"name": "synthmark", "version": __version__}
    actions: list[dict[str, Any]] = [
        {"action": "c2pa.created", "digitalSourceType": digital_source_type}
    ]
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions", "data": {"actions": actions}},
        # kind Json stores the record as JSON text, not CBOR, so it stays readable as is.
        {"label": ASSERTION_LABEL, "kind": "Json", "data": record},
    ]
    if watermark is not None:
        key_id, payload_hex = watermark
        actions.append(
            {
                # C2PA 2.1+: "bound" says the watermark's value is this manifest's soft
                # binding (the assertion below), so a resolver can find the manifest by it.
                "action": "c2pa.watermarked.bound",
                "softwareAgent": generator,
                "parameters": {"org.synthmark.key_id": key_id},
            }
        )
        value = base64.b64encode(bytes.fromhex(key_id + payload_hex)).decode("ascii")
        assertions.append(
            {
                "label": "c2pa.soft-binding",
                "data": {
                    "alg": SOFT_BINDING_ALG,
                    "name": "synthmark-wm/1",
                    "blocks": [{"scope": {}, "value": value}],
                },
            }
        )
    return {"claim_generator_info": [generator], "assertions": assertions}


def embed_credentials(
    data: bytes,
    mime: str,
    record_json: bytes,
    digital_source_type: str,
    identity: SigningIdentity,
    *,
    watermark: tuple[str, str] | None = None,
) -> bytes:
    """Return ``data`` with a signed C2PA manifest embedded (pixels unchanged).

    Only metadata is added (a ``caBX`` chunk in PNG, APP11 segments in JPEG), so the decoded
    pixels are identical. A manifest store already in ``data`` is **replaced**: synthmark's
    manifest is a ``c2pa.created`` claim, and C2PA forbids a parent ingredient on a created
    claim (spec/parts/c2pa.md section 1, item 4).

    Args:
        data: The PNG or JPEG file bytes.
        mime: ``"image/png"`` or ``"image/jpeg"``.
        record_json: The synthmark record, a UTF-8 JSON object.
        digital_source_type: IPTC digital source type URI (``http://`` form), a value of
            :class:`synthmark.record.vocab.DigitalSourceType`.
        identity: From :func:`load_signing_identity`.
        watermark: ``(key_id, payload_hex)`` of the synthmark watermark in the pixels: 16
            lower-case hex digits and an even-length lower-case hex string.

    Raises:
        UnsupportedFormatError: ``mime`` is not PNG or JPEG.
        RecordParseError: ``record_json`` is not a UTF-8 JSON object.
        CredentialsError: invalid source type or watermark, or c2pa refused to sign (e.g. a
            certificate without an accepted EKU, a self-signed leaf).
        CorruptFileError: ``data`` is not a readable file of type ``mime``.
        OptionalDependencyError: c2pa-python is not installed.
    """
    from synthmark.record.vocab import DigitalSourceType

    _check_mime(mime)
    try:
        record = json.loads(record_json.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordParseError(f"record is not UTF-8 JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise RecordParseError("record is not a JSON object")
    record = _integral_as_int(record)
    if digital_source_type not in {t.value for t in DigitalSourceType}:
        raise CredentialsError(
            f"unknown digital source type {digital_source_type!r}",
            hint=(
                "use an IPTC URI in its http:// form, see synthmark.record.vocab.DigitalSourceType"
            ),
        )
    if watermark is not None and (
        not _KEY_ID_RE.fullmatch(watermark[0]) or not _HEX_RE.fullmatch(watermark[1])
    ):
        raise CredentialsError(
            f"malformed watermark reference {watermark!r}",
            hint="key id: 16 lower-case hex digits; payload: lower-case hex bytes",
        )
    manifest = build_manifest(record, digital_source_type, watermark=watermark)

    c2pa = _c2pa()
    alg = {
        "es256": c2pa.C2paSigningAlg.ES256,
        "es384": c2pa.C2paSigningAlg.ES384,
        "es512": c2pa.C2paSigningAlg.ES512,
        "ed25519": c2pa.C2paSigningAlg.ED25519,
    }.get(identity.algorithm)
    if alg is None:
        raise CredentialsError(f"unsupported signing algorithm {identity.algorithm!r}")
    settings = {
        "builder": {"thumbnail": {"enabled": False}},
        # c2pa verifies after signing; this decides which leaf EKUs that check accepts.
        "trust": {"trust_config": _trust_config()},
    }
    out = io.BytesIO()
    try:
        context = c2pa.Context(settings=c2pa.Settings.from_dict(settings))
        tsa = identity.tsa_url.encode("utf-8") if identity.tsa_url else None
        info = c2pa.C2paSignerInfo(alg, identity.chain_pem, identity.key_pem, tsa)
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest, context) as builder:
            builder.sign(signer, mime, io.BytesIO(data), out)
    except (c2pa.C2paError, ValueError, TypeError) as exc:
        message = str(exc)
        if _ASSET_UNPARSABLE in message:
            raise CorruptFileError(f"not a readable {mime} file: {message}") from exc
        reason = _diagnose_leaf(identity.chain_pem)
        raise CredentialsError(
            f"C2PA signing failed: {message}" + (f" ({reason})" if reason else "")
        ) from exc
    return out.getvalue()


def _check_mime(mime: str) -> None:
    if mime not in SUPPORTED_MIME_TYPES:
        raise UnsupportedFormatError(
            f"C2PA Content Credentials are written for PNG and JPEG only, not {mime}",
            hint="DICOM and NIfTI carry the record in their own carriers and a sidecar",
        )


def _diagnose_leaf(chain_pem: bytes) -> str | None:
    """Name the first certificate-profile problem that C2PA signers reject, if any.

    c2pa only says "the certificate is invalid"; this turns that into something to act on.
    """
    from cryptography import x509

    try:
        leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    except ValueError:
        return None
    ext = leaf.extensions
    try:
        if ext.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "the leaf certificate is a CA (BasicConstraints CA:true)"
    except x509.ExtensionNotFound:
        pass
    if leaf.issuer == leaf.subject:
        return "the leaf certificate is self-signed; C2PA needs a leaf issued by a CA"
    try:
        ext.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return "the leaf has no AuthorityKeyIdentifier extension"
    try:
        if not ext.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return "the leaf's KeyUsage lacks digitalSignature"
    except x509.ExtensionNotFound:
        return "the leaf has no KeyUsage extension"
    try:
        ekus = set(ext.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return "the leaf has no ExtendedKeyUsage extension"
    if not ekus & {x509.ObjectIdentifier(oid) for _, oid in SIGNING_EKUS}:
        names = ", ".join(name for name, _ in SIGNING_EKUS)
        return f"the leaf's ExtendedKeyUsage has none of {names}"
    now = dt.datetime.now(dt.UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        return "the leaf certificate is outside its validity period"
    return None


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_credentials(
    data: bytes, mime: str, *, trust_anchors_pem: bytes | None = None
) -> CredentialsState:
    """Read and validate the C2PA manifest store of a PNG or JPEG file, offline.

    Without ``trust_anchors_pem`` trust is not evaluated and the best state is ``"valid"``.
    With it (PEM root certificates), the state is ``"trusted"`` only when the signing chain
    ends at one of them; otherwise ``"valid"`` with ``signingCredential.untrusted`` in
    ``failure_codes``. A manifest store that c2pa cannot parse at all gives ``"invalid"``
    with code :data:`MANIFEST_UNREADABLE_CODE`.

    Raises:
        UnsupportedFormatError: ``mime`` is not PNG or JPEG.
        CorruptFileError: ``data`` is not a readable PNG/JPEG file.
        KeyError_: ``trust_anchors_pem`` is empty or not PEM certificates.
        OptionalDependencyError: c2pa-python is not installed.
    """
    _check_mime(mime)
    c2pa = _c2pa()
    verify: dict[str, Any] = {
        "verify_trust": trust_anchors_pem is not None,
        "remote_manifest_fetch": False,
        "ocsp_fetch": False,
    }
    trust: dict[str, Any] = {"trust_config": _trust_config()}
    if trust_anchors_pem is not None:
        trust["user_anchors"] = _normalise_anchors(trust_anchors_pem)
    settings: dict[str, Any] = {"verify": verify, "trust": trust}
    try:
        context = c2pa.Context(settings=c2pa.Settings.from_dict(settings))
    except (c2pa.C2paError, ValueError, TypeError) as exc:
        raise KeyError_(f"c2pa rejected the trust anchors: {exc}") from exc
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
        if reader is None:
            return CredentialsState(False, "absent", None, None, (), None)
        with reader:
            report = json.loads(reader.json())
            content = json.loads(reader.crjson())
    except (c2pa.C2paError, ValueError, TypeError) as exc:
        message = str(exc)
        if _ASSET_UNPARSABLE in message:
            raise CorruptFileError(f"not a readable {mime} file: {message}") from exc
        return CredentialsState(True, "invalid", None, None, (MANIFEST_UNREADABLE_CODE,), None)
    return _interpret(report, content)


def _normalise_anchors(pem: bytes) -> str:
    # c2pa silently ignores junk anchors and fails every read on an empty string; checking
    # here turns both into a clear key error instead of a wrong verdict.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise KeyError_(
            f"trust anchors are not PEM certificates: {exc}",
            hint="pass the root certificate(s) as a PEM bundle, e.g. root.pem of keygen",
        ) from exc
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def _interpret(report: dict[str, Any], content: dict[str, Any]) -> CredentialsState:
    active_label = report.get("active_manifest")
    manifest = report.get("manifests", {}).get(active_label) if active_label else None
    codes = _failure_codes(report)
    raw_state = report.get("validation_state")
    if not isinstance(manifest, dict):
        return CredentialsState(True, "invalid", None, None, codes or ("claim.missing",), None)
    state = {"Trusted": "trusted", "Valid": "valid"}.get(str(raw_state), "invalid")
    if state != "invalid" and any(not c.startswith("signingCredential.untrusted") for c in codes):
        # Defensive: a failure other than an untrusted signer must never read as valid.
        state = "invalid"

    digital_source_type: str | None = None
    watermark: tuple[str, str] | None = None
    for assertion in manifest.get("assertions", []):
        label = str(assertion.get("label", ""))
        data = assertion.get("data")
        if not isinstance(data, dict):
            continue
        if label.startswith("c2pa.actions") and digital_source_type is None:
            for action in data.get("actions", []):
                if isinstance(action, dict) and action.get("action") == "c2pa.created":
                    value = action.get("digitalSourceType")
                    digital_source_type = value if isinstance(value, str) else None
                    break
        elif label.startswith("c2pa.soft-binding") and data.get("alg") == SOFT_BINDING_ALG:
            watermark = _parse_soft_binding(data) or watermark

    info = manifest.get("signature_info") or {}
    signer = info.get("common_name") or info.get("issuer")
    return CredentialsState(
        present=True,
        state=state,
        digital_source_type=digital_source_type,
        record_json=_record_from_crjson(content, str(active_label)),
        failure_codes=codes,
        signer=signer if isinstance(signer, str) else None,
        watermark=watermark,
    )


def _failure_codes(report: dict[str, Any]) -> tuple[str, ...]:
    results = report.get("validation_results")
    if isinstance(results, dict):
        entries = (results.get("activeManifest") or {}).get("failure") or []
    else:
        entries = report.get("validation_status") or []
    codes: list[str] = []
    for entry in entries:
        code = entry.get("code") if isinstance(entry, dict) else None
        if isinstance(code, str) and code not in codes:
            codes.append(code)
    return tuple(codes)


def _record_from_crjson(content: dict[str, Any], active_label: str) -> bytes | None:
    # Reader.json() renders JSON arrays of small integers as base64 byte strings and loses
    # arrays of floats (c2pa 0.38.1); crjson() renders the stored assertion faithfully.
    for manifest in content.get("manifests", []):
        if isinstance(manifest, dict) and manifest.get("label") == active_label:
            record = (manifest.get("assertions") or {}).get(ASSERTION_LABEL)
            return _canonical(record) if isinstance(record, dict) else None
    return None


def _parse_soft_binding(data: dict[str, Any]) -> tuple[str, str] | None:
    for block in data.get("blocks") or []:
        value = block.get("value") if isinstance(block, dict) else None
        if not isinstance(value, str):
            continue
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if len(raw) > 8:
            return raw[:8].hex(), raw[8:].hex()
    return None


# ---------------------------------------------------------------------------------------------
# Development CA
# ---------------------------------------------------------------------------------------------


def make_dev_ca(
    out_dir: Path, *, common_name: str = "synthmark development", algorithm: str = "es256"
) -> DevCa:
    """Create a local development CA and a C2PA signing leaf in ``out_dir``, offline.

    Writes ``root.pem`` (self-signed root, CA:true; give it to readers as trust anchor),
    ``chain.pem`` (the leaf alone: CA:false, KeyUsage digitalSignature, EKU
    emailProtection) and ``leaf.key`` (PKCS#8, mode 0600). Both certificates are valid for
    one year. The root's private key is not kept, so the CA cannot issue anything else.
    Files signed with it are "valid" everywhere and "trusted" only where ``root.pem`` is
    configured: it is for development and closed deployments, not for publishing.

    Args:
        out_dir: Folder to write into; created if missing.
        common_name: Subject CN of the leaf; the root gets ``"<common_name> root CA"``.
        algorithm: ``"es256"`` (ECDSA P-256) or ``"ed25519"``.

    Raises:
        OutputExistsError: any of the three files already exists (nothing is written).
        KeyError_: unknown ``algorithm``.
        WriteFailedError: the folder cannot be written.
    """
    from cryptography.hazmat.primitives import serialization

    from synthmark.carriers.atomic import atomic_write_bytes
    from synthmark.errors import WriteFailedError

    if algorithm not in ("es256", "ed25519"):
        raise KeyError_(f"unsupported algorithm {algorithm!r}", hint="use es256 or ed25519")
    paths = DevCa(
        root_cert=out_dir / "root.pem", chain=out_dir / "chain.pem", leaf_key=out_dir / "leaf.key"
    )
    for path in (paths.root_cert, paths.chain, paths.leaf_key):
        if path.exists():
            raise OutputExistsError(
                "refusing to overwrite", path=path, hint="choose another folder"
            )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteFailedError(f"cannot create folder: {exc.strerror}", path=out_dir) from exc

    root_cert, leaf_cert, leaf_key = _issue_dev_chain(common_name, algorithm)
    pem = serialization.Encoding.PEM
    # Key first: a crash after it leaves a useless key, never a certificate without its key.
    atomic_write_bytes(
        paths.leaf_key,
        leaf_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        mode=0o600,
    )
    atomic_write_bytes(paths.chain, leaf_cert.public_bytes(pem))
    atomic_write_bytes(paths.root_cert, root_cert.public_bytes(pem))
    return paths


def _issue_dev_chain(
    common_name: str, algorithm: str
) -> tuple[x509.Certificate, x509.Certificate, PrivateKeyTypes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    root_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    leaf_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == "ed25519":
        root_key, leaf_key = (
            ed25519.Ed25519PrivateKey.generate(),
            ed25519.Ed25519PrivateKey.generate(),
        )
        digest: hashes.SHA256 | None = None
    else:
        root_key = ec.generate_private_key(ec.SECP256R1())
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        digest = hashes.SHA256()

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "synthmark development CA"),
            ]
        )

    def usage(*, signing: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=signing,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not signing,
            crl_sign=not signing,
            encipher_only=False,
            decipher_only=False,
        )

    # Backdated a little so a reader whose clock is slightly behind still sees it as valid.
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    end = start + dt.timedelta(days=365)
    root_name = name(f"{common_name} root CA")
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, digest)
    )
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, digest)
    )
    return root_cert, leaf_cert, leaf_key


def credentials_mime(head: bytes) -> str | None:
    """The C2PA media type of a PNG or JPEG by its magic bytes; None for other formats."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None
