"""Who may send to the gateway, and that nothing stored is ever replaced.

Real senders: pynetdicom and dcmtk's storescu (plain and over DICOM TLS with a client
certificate), against a gateway started in-process on a free loopback port.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.conftest import Samples, renumber, send

STORESCU = shutil.which("storescu")


def _uid_of(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_unknown_calling_ae_is_rejected(samples: Samples, gateway_factory: Any) -> None:
    from pynetdicom import AE

    gateway = gateway_factory(allowed_calling_aes=("CT01", "MR02"))
    port = gateway.address[1]
    ae = AE(ae_title="INTRUDER")
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2")
    assoc = ae.associate("127.0.0.1", port, ae_title="SYNTHMARK")
    assert assoc.is_rejected
    assert not list((gateway.config.store).glob("*.dcm"))
    allowed = AE(ae_title="CT01")
    allowed.add_requested_context("1.2.840.10008.5.1.4.1.1.2")
    ok = allowed.associate("127.0.0.1", port, ae_title="SYNTHMARK")
    assert ok.is_established
    ok.release()


@pytest.mark.skipif(STORESCU is None, reason="dcmtk storescu not installed")
def test_storescu_from_a_refused_ae_title(samples: Samples, gateway_factory: Any) -> None:
    gateway = gateway_factory(allowed_calling_aes=("CT01",))
    port = str(gateway.address[1])
    command = [str(STORESCU), "-aec", "SYNTHMARK", "127.0.0.1", port, str(samples.real)]
    refused = subprocess.run(
        [*command[:1], "-aet", "INTRUDER", *command[1:]], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert "reject" in (refused.stdout + refused.stderr).lower()
    assert not list(gateway.config.store.glob("*.dcm"))
    allowed = subprocess.run(
        [*command[:1], "-aet", "CT01", *command[1:]], capture_output=True, text=True, timeout=60
    )
    assert allowed.returncode == 0, allowed.stderr
    assert len(list(gateway.config.store.glob("*.dcm"))) == 1


def test_host_allow_list_closes_other_peers(samples: Samples, gateway_factory: Any) -> None:
    from pynetdicom import AE

    closed = gateway_factory(allowed_hosts=("10.0.0.0/8",))
    ae = AE(ae_title="CT01")
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2")
    ae.acse_timeout = ae.network_timeout = 5
    assoc = ae.associate("127.0.0.1", closed.address[1], ae_title="SYNTHMARK")
    assert not assoc.is_established
    opened = gateway_factory(
        allowed_hosts=("127.0.0.0/8",), store=closed.config.store.parent / "s2"
    )
    assert send(opened.address[1], [samples.real]) == [0]


def test_exposed_gateway_needs_an_allow_list(tmp_path: Path) -> None:
    from synthmark.errors import UsageError
    from synthmark.serve.dicom import Gateway, GatewayConfig, parse_networks

    with pytest.raises(UsageError, match="anyone on the network"):
        Gateway(GatewayConfig(host="0.0.0.0", store=tmp_path / "s"))
    Gateway(GatewayConfig(host="0.0.0.0", store=tmp_path / "s", allow_any_sender=True))
    Gateway(GatewayConfig(host="0.0.0.0", store=tmp_path / "s", allowed_hosts=("10.1.2.3",)))
    with pytest.raises(UsageError, match="IP address or network"):
        parse_networks(("pacs.example.org",))


def test_duplicate_uid_never_replaces_the_stored_instance(
    samples: Samples, gateway_factory: Any, tmp_path: Path
) -> None:
    import pydicom

    gateway = gateway_factory()
    port = gateway.address[1]
    first = renumber(samples.real, tmp_path / "first.dcm")
    uid = _uid_of(first)
    other = pydicom.dcmread(first)
    other.SeriesDescription = "a different instance that reuses the UID"
    second = tmp_path / "second.dcm"
    other.save_as(second, enforce_file_format=True)
    assert send(port, [first]) == [0x0000]
    stored = gateway.config.store / f"{uid}.dcm"
    before = stored.read_bytes()
    # A resend of the same instance (its sender never saw Success) is answered Success.
    assert send(port, [first]) == [0x0000]
    assert send(port, [second]) == [0x0111]
    assert stored.read_bytes() == before
    assert sorted(p.name for p in gateway.config.store.glob("*.dcm")) == [f"{uid}.dcm"]
    assert gateway.stats().duplicates == 1


def test_duplicates_kept_beside_when_configured(
    samples: Samples, gateway_factory: Any, tmp_path: Path
) -> None:
    import pydicom

    gateway = gateway_factory(duplicates="keep")
    first = renumber(samples.real, tmp_path / "first.dcm")
    uid = _uid_of(first)
    other = pydicom.dcmread(first)
    other.SeriesDescription = "another"
    second = tmp_path / "second.dcm"
    other.save_as(second, enforce_file_format=True)
    assert send(gateway.address[1], [first]) == [0]
    stored = gateway.config.store / f"{uid}.dcm"
    before = stored.read_bytes()
    assert send(gateway.address[1], [second]) == [0]
    names = sorted(p.name for p in gateway.config.store.glob("*.dcm"))
    assert len(names) == 2 and stored.name in names
    assert stored.read_bytes() == before


# ---------------------------------------------------------------------------- TLS


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("synthmark test CA"))
        .issuer_name(name("synthmark test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    out = {"ca": folder / "ca.pem"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(f"synthmark test {role}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if role == "server":
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        out[f"{role}_cert"] = folder / f"{role}.pem"
        out[f"{role}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[f"{role}_key"] = write_key(key, folder / f"{role}.key")
    return out


@pytest.fixture
def tls_gateway(gateway_factory: Any, tmp_path: Path) -> tuple[Any, dict[str, Path]]:
    from synthmark.serve.dicom import TlsConfig

    certs = _certificates(tmp_path)
    tls = TlsConfig(certs["server_cert"], certs["server_key"], certs["ca"])
    return gateway_factory(tls=tls), certs


def test_tls_with_client_certificate(samples: Samples, tls_gateway: Any) -> None:
    from pynetdicom import AE

    gateway, certs = tls_gateway
    port = gateway.address[1]
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certs["ca"]))
    client.load_cert_chain(str(certs["client_cert"]), str(certs["client_key"]))
    ae = AE(ae_title="CT01")
    ae.add_requested_context(
        "1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
    )
    assoc = ae.associate("127.0.0.1", port, ae_title="SYNTHMARK", tls_args=(client, "127.0.0.1"))
    assert assoc.is_established
    assert assoc.send_c_store(samples.real).Status == 0
    assoc.release()
    # Plain TCP to a TLS port does not associate.
    plain = AE(ae_title="CT01")
    plain.add_requested_context("1.2.840.10008.5.1.4.1.1.2")
    plain.acse_timeout = plain.network_timeout = 5
    assert not plain.associate("127.0.0.1", port, ae_title="SYNTHMARK").is_established
    # TLS without a client certificate fails the handshake (mutual TLS).
    anonymous = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certs["ca"]))
    nocert = AE(ae_title="CT01")
    nocert.add_requested_context("1.2.840.10008.5.1.4.1.1.2")
    nocert.acse_timeout = nocert.network_timeout = 5
    refused = nocert.associate(
        "127.0.0.1", port, ae_title="SYNTHMARK", tls_args=(anonymous, "127.0.0.1")
    )
    assert not refused.is_established


@pytest.mark.skipif(STORESCU is None, reason="dcmtk storescu not installed")
def test_dcmtk_storescu_over_tls(samples: Samples, tls_gateway: Any) -> None:
    gateway, certs = tls_gateway
    port = str(gateway.address[1])
    command = [
        str(STORESCU),
        "+tls",
        str(certs["client_key"]),
        str(certs["client_cert"]),
        "+cf",
        str(certs["ca"]),
        "-aet",
        "CT01",
        "-aec",
        "SYNTHMARK",
        "127.0.0.1",
        port,
    ]
    good = subprocess.run([*command, str(samples.real)], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = subprocess.run(
        [*command, str(samples.unacknowledged)], capture_output=True, text=True, timeout=60
    )
    assert "0xc501" in (bad.stdout + bad.stderr).lower() or bad.returncode != 0
    plain = subprocess.run(
        [str(STORESCU), "-aet", "CT01", "-aec", "SYNTHMARK", "127.0.0.1", port, str(samples.real)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.returncode != 0
