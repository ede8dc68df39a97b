"""`synthmark keygen`, `attest sign|verify|trust` through the CLI: exit codes and outputs."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from synthmark.cli import main
from tests.conftest import EXAMPLES

PREDICATE = EXAMPLES / "attestations" / "valid-model-evaluation.predicate.json"


def test_sign_verify_trust_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["keygen", "--type", "ed25519", "-o", "eval.pem"]) == 0
    out = capsys.readouterr().out
    assert "PRIVATE" not in out and "BEGIN" not in out
    assert stat.S_IMODE(os.stat("eval.pem").st_mode) == 0o600
    assert main(["keygen", "--type", "ed25519", "-o", "eval.pem"]) == 2  # never overwritten
    Path("report.pdf").write_bytes(b"%PDF evaluation report")
    assert (
        main(
            [
                "attest",
                "sign",
                "model_evaluation",
                "--predicate",
                str(PREDICATE),
                "--subject",
                "report.pdf",
                "--key",
                "eval.pem",
                "-o",
                "eval.dsse.json",
            ]
        )
        == 0
    )
    # Without the key in the trust file: untrusted.
    assert main(["attest", "trust", "trust.json", "--require", "model_evaluation"]) == 0
    capsys.readouterr()
    assert main(["attest", "verify", "eval.dsse.json", "--trust", "trust.json"]) == 1
    assert "SMA004" in capsys.readouterr().out
    assert (
        main(
            [
                "attest",
                "trust",
                "trust.json",
                "--add-key",
                "eval.pub.pem",
                "--owner",
                "Example Lab",
                "--scope",
                "model_evaluation",
            ]
        )
        == 0
    )
    assert main(["attest", "verify", "eval.dsse.json", "--trust", "trust.json"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "attest",
                "verify",
                "eval.dsse.json",
                "--trust",
                "trust.json",
                "--subject-root",
                ".",
                "--format",
                "json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)["envelopes"][0]
    assert result["valid"] and result["stage"] == "model_evaluation"
    assert result["subjects"] == ["report.pdf"]
    Path("report.pdf").write_bytes(b"%PDF edited")
    assert (
        main(["attest", "verify", "eval.dsse.json", "--trust", "trust.json", "--subject-root", "."])
        == 1
    )
    assert "SMA010" in capsys.readouterr().out
    # Revoking for compromise voids the envelope whatever its date.
    key_id = json.loads(Path("trust.json").read_bytes())["keys"][0]["key_id"]
    assert (
        main(["attest", "trust", "trust.json", "--revoke", key_id, "--reason", "key_compromise"])
        == 0
    )
    capsys.readouterr()
    assert main(["attest", "verify", "eval.dsse.json", "--trust", "trust.json"]) == 1
    assert "SMA006" in capsys.readouterr().out


def test_usage_and_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["keygen", "--type", "p256", "-o", "k.pem"]) == 0
    Path("bad.json").write_text("{not json")
    Path("s.bin").write_bytes(b"x")
    args = ["attest", "sign", "deployment", "--subject", "s.bin", "--key", "k.pem"]
    assert main([*args, "--predicate", "bad.json", "-o", "e.json"]) == 2
    assert "SMX072" in capsys.readouterr().err
    Path("wrong.json").write_text(json.dumps({"attester": "nobody"}))
    assert main([*args, "--predicate", "wrong.json", "-o", "e.json"]) == 2
    assert not Path("e.json").exists()
    Path("trust.json").write_text('{"type": "synthmark-trust", "version": 2}')
    assert main(["attest", "verify", "missing.json", "--trust", "trust.json"]) == 2
    assert "SMX002" in capsys.readouterr().err
    Path("trust.json").write_text('{"type": "synthmark-trust", "version": 1}')
    assert main(["attest", "verify", "missing.json", "--trust", "trust.json"]) == 2
    assert "SMX010" in capsys.readouterr().err
    assert main(["attest", "trust", "trust.json", "--add-key", "k.pub.pem"]) == 2


def test_x509_keygen_makes_a_dev_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--type", "x509", "-o", str(tmp_path / "ca")]) == 0
    assert "development" in capsys.readouterr().out
    assert stat.S_IMODE(os.stat(tmp_path / "ca" / "leaf.key").st_mode) == 0o600
    assert main(["keygen", "--type", "x509", "-o", str(tmp_path / "ca")]) == 2


def test_trust_refuses_private_keys_and_non_certificates_as_c2pa_anchors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = str(tmp_path / "trust.json")
    assert main(["keygen", "--type", "x509", "-o", str(tmp_path / "ca")]) == 0
    assert main(["attest", "trust", trust, "--c2pa-anchor", str(tmp_path / "ca" / "leaf.key")]) == 2
    (tmp_path / "junk.pem").write_bytes(bytes(range(256)))
    assert main(["attest", "trust", trust, "--c2pa-anchor", str(tmp_path / "junk.pem")]) == 2
    assert not Path(trust).exists()
    assert main(["attest", "trust", trust, "--c2pa-anchor", str(tmp_path / "ca" / "root.pem")]) == 0
    obj = json.loads(Path(trust).read_bytes())
    obj["c2pa_trust_anchors_pem"].append("garbage")
    Path(trust).write_text(json.dumps(obj))
    capsys.readouterr()
    assert main(["attest", "verify", trust, "--trust", trust]) == 2
    assert "SMX002" in capsys.readouterr().err


def test_subject_names_with_control_characters_and_far_future_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    monkeypatch.chdir(tmp_path)
    assert main(["keygen", "--type", "ed25519", "-o", "k.pem"]) == 0
    Path("w.bin").write_bytes(b"w")
    sign = ["attest", "sign", "model_evaluation", "--predicate", str(PREDICATE)]
    assert main([*sign, "--subject", "w.bin", "--key", "k.pem", "-o", "e.json"]) == 0
    assert (
        main(
            [
                "attest",
                "trust",
                "t.json",
                "--add-key",
                "k.pub.pem",
                "--owner",
                "O",
                "--scope",
                "model_evaluation",
            ]
        )
        == 0
    )
    envelope = json.loads(Path("e.json").read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"][0]["name"] = "\x00bad"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    Path("nul.json").write_text(json.dumps(envelope))
    capsys.readouterr()
    assert main(["attest", "verify", "nul.json", "--trust", "t.json", "--subject-root", "."]) == 1
    assert "SMA002" in capsys.readouterr().out
    args = ["attest", "verify", "e.json", "--trust", "t.json", "--at", "9999-12-31T23:59:59Z"]
    assert main(args) == 2
