"""``synthmark attest sign | verify | trust``: lifecycle attestations (spec/attestations.md)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

STAGES = ["data_collection", "data_processing", "model_training", "model_evaluation", "deployment"]


@click.group()
def attest() -> None:
    """Sign and verify lifecycle attestations (in-toto statements in DSSE envelopes)."""


@attest.command()
@click.argument("stage", type=click.Choice(STAGES))
@click.option(
    "--predicate",
    "predicate_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Predicate JSON for the stage (see spec/examples/attestations/).",
)
@click.option(
    "--subject",
    "subjects",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    required=True,
    help="A file the statement is about (repeat): images, a manifest, model weights.",
)
@click.option(
    "--subject-root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Folder subject names are relative to.",
)
@click.option(
    "--key",
    "key_paths",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    required=True,
    help="Private signing key (repeat to co-sign).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Envelope file to write (e.g. training.dsse.json).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing envelope.")
def sign(
    stage: str,
    predicate_path: Path,
    subjects: tuple[Path, ...],
    subject_root: Path,
    key_paths: tuple[Path, ...],
    output: Path,
    overwrite: bool,
) -> None:
    """Sign a STAGE statement about the --subject files; write a DSSE envelope."""
    import hashlib

    from synthmark.carriers.atomic import atomic_write_bytes
    from synthmark.errors import AttestationFormatError, OutputExistsError
    from synthmark.provenance import load_signing_key, sign_attestation
    from synthmark.record.vocab import LifecycleStage

    if output.exists() and not overwrite:
        raise OutputExistsError("envelope exists", path=output)
    try:
        predicate_obj = json.loads(predicate_path.read_bytes())
    except OSError as exc:
        raise AttestationFormatError(
            f"predicate cannot be read: {exc.strerror}", path=predicate_path
        ) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AttestationFormatError("predicate is not UTF-8 JSON", path=predicate_path) from exc
    keys = [load_signing_key(p) for p in key_paths]
    envelope = sign_attestation(
        (LifecycleStage(stage), predicate_obj), subjects, keys, root=subject_root
    )
    data = envelope.to_json_bytes()
    atomic_write_bytes(output, data)
    click.echo(
        f"wrote {stage} attestation {output} over {len(subjects)} subject(s), signed by "
        + ", ".join(k.key_id[:16] for k in keys)
        + f"; sha256 {hashlib.sha256(data).hexdigest()}"
    )


@attest.command()
@click.argument("envelopes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--trust",
    "trust_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Trust file: trusted keys, their stages and validity, revocations.",
)
@click.option(
    "--subject-root",
    type=click.Path(path_type=Path, file_okay=False),
    help="Check subject files' digests against this folder (default: not checked).",
)
@click.option("--stage", type=click.Choice(STAGES), help="Require this stage.")
@click.option(
    "--at",
    "at_time",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%SZ"]),
    help="Verify as of this time (default now), e.g. 2027-01-01T00:00:00Z.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def verify(
    envelopes: tuple[Path, ...],
    trust_path: Path,
    subject_root: Path | None,
    stage: str | None,
    at_time: datetime | None,
    fmt: str,
) -> None:
    """Verify attestation envelopes against a trust file (spec/attestations.md section 7).

    Exit 0 when every envelope verifies, 1 when any fails, 2 when an input is unreadable.
    """
    from datetime import UTC

    from synthmark.cli import EXIT_FINDINGS, exit_with
    from synthmark.errors import InputNotFoundError, InputUnreadableError, UsageError
    from synthmark.provenance import load_trust, verify_attestation
    from synthmark.record.vocab import LifecycleStage

    trust = load_trust(trust_path)
    now = None
    if at_time is not None:
        now = at_time if at_time.tzinfo else at_time.replace(tzinfo=UTC)
        if now.year >= 9999:
            raise UsageError("--at must be before the year 9999")
    results = []
    for path in envelopes:
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise InputNotFoundError("envelope not found", path=path) from exc
        except OSError as exc:
            raise InputUnreadableError(f"cannot read: {exc.strerror}", path=path) from exc
        verdict = verify_attestation(
            data,
            trust,
            now=now,
            subject_root=subject_root,
            expected_stage=LifecycleStage(stage) if stage else None,
        )
        results.append((path, verdict))
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "envelopes": [
                        {
                            "path": str(path),
                            "valid": v.valid,
                            "stage": v.stage.value if v.stage else None,
                            "signer": v.signer,
                            "signer_owner": v.signer_owner,
                            "subjects": [s.name for s in v.statement.subject]
                            if v.statement
                            else [],
                            "subjects_checked": subject_root is not None,
                            "findings": [
                                {"code": f.code, "message": f.message} for f in v.findings
                            ],
                        }
                        for path, v in results
                    ]
                },
                indent=2,
            )
        )
    else:
        for path, v in results:
            stage_name = v.stage.value if v.stage else "unknown stage"
            if v.valid:
                checked = "" if subject_root is not None else " (subjects not checked)"
                click.echo(
                    f"OK   {path}: {stage_name}, signed by {v.signer_owner} "
                    f"({(v.signer or '')[:16]}){checked}"
                )
            else:
                click.echo(f"FAIL {path}: {stage_name}")
                for finding in v.findings:
                    click.echo(f"     {finding.code}: {finding.message}")
    if not all(v.valid for _, v in results):
        exit_with(EXIT_FINDINGS)


@attest.command("trust")
@click.argument("trust_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--add-key",
    "key_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Public key PEM to trust (a private key file is accepted; only its public half "
    "is written).",
)
@click.option("--owner", help="Organisation holding the key (with --add-key).")
@click.option(
    "--scope",
    "scopes",
    type=click.Choice([*STAGES, "record"]),
    multiple=True,
    help="What the key may sign (repeat; with --add-key).",
)
@click.option(
    "--not-before",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%SZ"]),
    help="Statements attested earlier are refused.",
)
@click.option(
    "--not-after",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%SZ"]),
    help="Statements attested later are refused (key rotation).",
)
@click.option("--revoke", "revoke_id", help="Key id to revoke.")
@click.option(
    "--reason",
    type=click.Choice(["key_compromise", "superseded", "cessation_of_operation"]),
    default="superseded",
    show_default=True,
    help="Revocation reason; key_compromise voids everything the key signed.",
)
@click.option(
    "--require",
    "required",
    type=click.Choice(STAGES),
    multiple=True,
    help="Stage a dataset must have attested before publication (repeat).",
)
@click.option(
    "--c2pa-anchor",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Root certificate PEM trusted for C2PA Content Credentials.",
)
def trust_cmd(
    trust_path: Path,
    key_path: Path | None,
    owner: str | None,
    scopes: tuple[str, ...],
    not_before: datetime | None,
    not_after: datetime | None,
    revoke_id: str | None,
    reason: str,
    required: tuple[str, ...],
    c2pa_anchor: Path | None,
) -> None:
    """Create or update a trust file (keys, scopes, revocations, required stages)."""
    from datetime import UTC

    from synthmark.carriers.atomic import atomic_write_bytes
    from synthmark.errors import UsageError
    from synthmark.provenance import load_trust, load_verifying_key
    from synthmark.provenance.trust import parse_trust, trusted_key_entry

    if trust_path.exists():
        obj = load_trust(trust_path).model_dump(mode="json", exclude_none=True)
    else:
        obj = {"type": "synthmark-trust", "version": 1}
    if key_path is not None:
        if not owner or not scopes:
            raise UsageError("--add-key needs --owner and at least one --scope")
        key = load_verifying_key(key_path)
        entry = trusted_key_entry(
            key,
            owner,
            list(scopes),
            not_before=_aware(not_before),
            not_after=_aware(not_after),
        )
        obj["keys"] = [k for k in obj.get("keys", []) if k["key_id"] != key.key_id]
        obj["keys"].append(entry.model_dump(mode="json", exclude_none=True))
    if revoke_id is not None:
        revoked = [r for r in obj.get("revoked", []) if r["key_id"] != revoke_id]
        revoked.append(
            {
                "key_id": revoke_id,
                "revoked_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "reason": reason,
            }
        )
        obj["revoked"] = revoked
    if required:
        obj["required_stages"] = list(dict.fromkeys([*obj.get("required_stages", []), *required]))
    if c2pa_anchor is not None:
        from synthmark.errors import ConfigError
        from synthmark.provenance.trust import check_certificate_pem

        try:
            raw = c2pa_anchor.read_bytes()
            check_certificate_pem(raw, str(c2pa_anchor))
            pem = raw.decode("ascii")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--c2pa-anchor: {exc}", path=c2pa_anchor) from exc
        anchors = obj.get("c2pa_trust_anchors_pem", [])
        if pem not in anchors:
            anchors.append(pem)
        obj["c2pa_trust_anchors_pem"] = anchors
    data = json.dumps(obj, indent=2).encode("utf-8") + b"\n"
    parse_trust(data, source=str(trust_path))  # never write a file verification would refuse
    atomic_write_bytes(trust_path, data)
    policy = parse_trust(data)
    click.echo(
        f"wrote {trust_path}: {len(policy.keys)} key(s), {len(policy.revoked)} revoked, "
        f"required stages: {', '.join(s.value for s in policy.required_stages) or 'none'}"
    )


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
