"""The dataset chain: manifest -> attestation envelopes -> subjects, against a trust file.

Spec: spec/attestations.md section 9. Returns findings as values keyed by validation rule
code (SM30x) so the validator only reports them.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from synthmark.provenance.trust import TrustPolicy
from synthmark.provenance.verification import verify_attestation
from synthmark.record.models import DatasetManifest
from synthmark.record.vocab import LifecycleStage

# Attestation verification codes -> the validation rule that reports them.
_RULE_OF_CODE = {
    "SMA001": "SM302",
    "SMA002": "SM302",
    "SMA003": "SM302",
    "SMA013": "SM302",
    "SMA004": "SM303",
    "SMA005": "SM303",
    "SMA006": "SM303",
    "SMA007": "SM303",
    "SMA010": "SM304",
    "SMA011": "SM304",
    "SMA008": "SM305",
    "SMA009": "SM305",
}

_MAX_ENVELOPE_BYTES = 16 * 1024 * 1024


def read_envelope_file(root: Path, relative: str) -> bytes:
    """Read a referenced envelope: a regular file inside ``root``, at most 16 MiB.

    Raises:
        OSError: absent, unreadable, not a regular file inside the root, or too large.
    """
    path = root.joinpath(*relative.split("/")).resolve()
    if not path.is_relative_to(root.resolve()):
        raise OSError(f"{relative} leads out of the dataset root")
    if not stat.S_ISREG(path.stat().st_mode):
        raise OSError(f"{relative} is not a regular file")
    with path.open("rb") as handle:
        data = handle.read(_MAX_ENVELOPE_BYTES + 1)
    if len(data) > _MAX_ENVELOPE_BYTES:
        raise OSError(f"{relative} is larger than {_MAX_ENVELOPE_BYTES} bytes")
    return data


@dataclass(frozen=True)
class ChainFinding:
    """A problem in the chain: rule code, the file concerned (relative path), message."""

    rule: str
    path: str | None
    message: str


def check_chain(
    root: Path,
    manifest: DatasetManifest,
    trust: TrustPolicy | None,
    required: tuple[str, ...],
    *,
    now: datetime,
) -> tuple[list[ChainFinding], set[LifecycleStage]]:
    """Verify every attestation a manifest references and the required stages.

    Args:
        root: Dataset root (the manifest's folder); paths and subjects resolve under it.
        manifest: The parsed manifest.
        trust: The verifier's trust file; None verifies nothing (required stages missing).
        required: Stages required by the policy; the trust file's are added.
        now: Verification time.

    Returns:
        (findings, the stages with at least one verified attestation).
    """
    findings: list[ChainFinding] = []
    verified: set[LifecycleStage] = set()
    for ref in manifest.attestations:
        if ref.path is None:
            findings.append(
                ChainFinding(
                    "SM306",
                    None,
                    f"{ref.stage.value} attestation {ref.envelope_sha256[:16]} has no path in "
                    "the dataset; it cannot be checked",
                )
            )
            continue
        try:
            data = read_envelope_file(root, ref.path)
        except OSError as exc:
            reason = "not found" if isinstance(exc, FileNotFoundError) else str(exc)
            findings.append(ChainFinding("SM306", ref.path, f"attestation {reason}"))
            continue
        if hashlib.sha256(data).hexdigest() != ref.envelope_sha256:
            findings.append(
                ChainFinding(
                    "SM306",
                    ref.path,
                    "attestation bytes differ from the manifest's envelope_sha256",
                )
            )
            continue
        if trust is None:
            continue
        verdict = verify_attestation(
            data, trust, now=now, subject_root=root, expected_stage=ref.stage
        )
        findings.extend(
            ChainFinding(
                _RULE_OF_CODE.get(finding.code, "SM302"),
                ref.path,
                f"{finding.code}: {finding.message}",
            )
            for finding in verdict.findings
        )
        if verdict.valid and verdict.stage is not None:
            verified.add(verdict.stage)
    stages = list(
        dict.fromkeys([*required, *(s.value for s in (trust.required_stages if trust else []))])
    )
    for stage_name in stages:
        stage = LifecycleStage(stage_name)
        if stage in verified:
            continue
        if trust is None:
            why = "no trust file was given, so no attestation can be verified"
        elif any(ref.stage == stage for ref in manifest.attestations):
            why = "its attestation did not verify (see the findings above)"
        else:
            why = "the manifest references no attestation of it"
        findings.append(
            ChainFinding("SM301", None, f"required stage {stage.value} is not attested: {why}")
        )
    return findings, verified
