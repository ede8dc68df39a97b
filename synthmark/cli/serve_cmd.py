"""``synthmark serve``: network services that validate on ingest.

pynetdicom (and torch) are imported only when a service actually starts, so
``synthmark serve --help`` stays light.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from synthmark.cli._options import keyring_option, trust_option


@click.group()
def serve() -> None:
    """Run a validating ingestion service (see docs/gateway.md)."""


@serve.command("dicom")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="TCP port (0: any).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 exposes the gateway on every interface).",
)
@click.option(
    "--forward",
    metavar="HOST:PORT[:AET]",
    help="Send accepted instances to this storage SCP (Success only if it stored them).",
)
@click.option(
    "--store",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write accepted instances to DIR as <SOP Instance UID>.dcm (fsynced, atomic).",
)
@click.option(
    "--quarantine",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep rejected instances in DIR with a <uid>.json reason file.",
)
@click.option(
    "--policy",
    default="archive-ingest",
    show_default=True,
    help="research | publish | archive-ingest, or a policy .toml file.",
)
@keyring_option
@trust_option
@click.option("--ae-title", default="SYNTHMARK", show_default=True, help="Our AE title.")
@click.option(
    "--reject-non-image",
    is_flag=True,
    help="Reject instances without pixel data (SR, RT Plan, ...) instead of passing them.",
)
@click.option(
    "--max-associations",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Concurrent associations.",
)
@click.option(
    "--allow-ae",
    "allow_ae",
    multiple=True,
    metavar="AET",
    help="A calling AE title that may send (repeatable); others get A-ASSOCIATE-RJ.",
)
@click.option(
    "--allow-host",
    "allow_host",
    multiple=True,
    metavar="ADDR[/BITS]",
    help="A peer address or network that may connect (repeatable); others are closed.",
)
@click.option(
    "--allow-any-sender",
    is_flag=True,
    help="Listen on a non-loopback --host without --allow-ae or --allow-host.",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="DICOM TLS: the gateway's PEM certificate (with --tls-key).",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="DICOM TLS: the PEM private key of --tls-cert.",
)
@click.option(
    "--tls-ca",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="DICOM TLS: senders must present a certificate from this PEM CA (mutual TLS).",
)
@click.option(
    "--duplicates",
    type=click.Choice(["refuse", "keep"]),
    default="refuse",
    show_default=True,
    help="A second instance with a stored SOP Instance UID and other content: refuse it "
    "(status 0x0111) or keep it beside the first.",
)
@click.option("-v", "--verbose", is_flag=True, help="Also log pynetdicom's own messages.")
def dicom(
    port: int,
    host: str,
    forward: str | None,
    store: Path | None,
    quarantine: Path | None,
    policy: str,
    keyring: Path | None,
    trust: Path | None,
    ae_title: str,
    reject_non_image: bool,
    max_associations: int,
    allow_ae: tuple[str, ...],
    allow_host: tuple[str, ...],
    allow_any_sender: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_ca: Path | None,
    duplicates: str,
    verbose: bool,
) -> None:
    """Validating DICOM storage gateway (C-STORE SCP).

    Every instance is validated with the policy; accepted ones are stored or forwarded
    before Success is answered, rejected ones get status 0xCnnn (rule SMnnn, e.g. 0xC501
    for an unacknowledged synthetic image) and go to the quarantine. 0xA700 means the
    gateway could not decide or store: the sender should retry. One log line per
    instance on stderr. Stops cleanly on SIGINT or SIGTERM. Senders can be restricted by
    calling AE title, by address and by TLS client certificate; a stored instance is never
    replaced by another with the same SOP Instance UID.
    """
    from synthmark.errors import UsageError
    from synthmark.serve.dicom import ForwardTarget, Gateway, GatewayConfig, TlsConfig

    if (store is None) == (forward is None):
        raise UsageError("give exactly one of --store DIR and --forward HOST:PORT[:AET]")
    if not 0 < len(ae_title.strip()) <= 16:
        raise UsageError("--ae-title must have 1 to 16 characters")
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("give --tls-cert and --tls-key together")
    if tls_ca is not None and tls_cert is None:
        raise UsageError("--tls-ca needs --tls-cert and --tls-key")
    for title in allow_ae:
        if not 0 < len(title.strip()) <= 16:
            raise UsageError(f"--allow-ae {title!r}: an AE title has 1 to 16 characters")
    _configure_logging(verbose)
    tls = TlsConfig(tls_cert, tls_key, tls_ca) if tls_cert and tls_key else None
    config = GatewayConfig(
        port=port,
        host=host,
        ae_title=ae_title.strip(),
        store=store,
        forward=ForwardTarget.parse(forward) if forward is not None else None,
        quarantine=quarantine,
        policy=policy,
        keyring=keyring,
        trust=trust,
        accept_non_image=not reject_non_image,
        max_associations=max_associations,
        allowed_calling_aes=tuple(t.strip() for t in allow_ae),
        allowed_hosts=allow_host,
        allow_any_sender=allow_any_sender,
        tls=tls,
        duplicates="keep" if duplicates == "keep" else "refuse",
    )
    gateway = Gateway(config)
    stop_requested = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Only set a flag: stopping joins threads, which a signal handler must not do.
        logging.getLogger("synthmark.gateway").info(
            "%s received: shutting down", signal.Signals(signum).name
        )
        stop_requested.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        gateway.start()
        while not stop_requested.wait(0.5):
            pass
    finally:
        gateway.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # pynetdicom logs every PDU at INFO; its warnings and errors are what operators need.
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if verbose else logging.WARNING)
