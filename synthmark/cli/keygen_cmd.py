"""``synthmark keygen``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["ed25519", "p256", "x509", "watermark"]),
    required=True,
    help="ed25519/p256: signing key pair for attestations and records; x509: a local "
    "development CA and leaf for C2PA (not for production); watermark: watermark key.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Key file to write (mode 0600); for x509, a folder.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing key file.")
@click.option(
    "--x509-algorithm",
    type=click.Choice(["es256", "ed25519"]),
    default="es256",
    show_default=True,
    help="Key algorithm of the x509 development chain.",
)
@click.option(
    "--common-name",
    default="synthmark development",
    show_default=True,
    help="Common name of the x509 development certificates.",
)
def keygen(
    key_type: str, output: Path, overwrite: bool, x509_algorithm: str, common_name: str
) -> None:
    """Create a key file. Secrets are never printed; only key ids and paths are."""
    from synthmark.errors import OutputExistsError

    if key_type == "x509":
        from synthmark.carriers.c2pa import make_dev_ca

        ca = make_dev_ca(output, common_name=common_name, algorithm=x509_algorithm)
        click.echo(
            f"wrote development CA to {output}: trust anchor {ca.root_cert}, chain "
            f"{ca.chain}, leaf key {ca.leaf_key} (mode 0600). For development and tests "
            "only: publishers sign with a certificate from a C2PA-conformant CA."
        )
        return
    if output.exists() and not overwrite:
        raise OutputExistsError("key file exists", path=output)
    if key_type == "watermark":
        from synthmark.watermark import generate_key, save_key

        key = generate_key()
        save_key(key, output)
        click.echo(f"wrote watermark key {key.key_id} to {output} (mode 0600)")
        return
    from synthmark.provenance import SigningKey, write_key_pair

    signing = SigningKey.generate("ed25519" if key_type == "ed25519" else "p256")
    public_path = write_key_pair(signing, output, overwrite=overwrite)
    click.echo(
        f"wrote {key_type} signing key {signing.key_id} to {output} (mode 0600) and its "
        f"public key to {public_path}"
    )
