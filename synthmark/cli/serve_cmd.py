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
    verbose: bool,
) -> None:
    """Validating DICOM storage gateway (C-STORE SCP).

    Every instance is validated with the policy; accepted ones are stored or forwarded
    before Success is answered, rejected ones get status 0xCnnn (rule SMnnn, e.g. 0xC501
    for an unacknowledged synthetic image) and go to the quarantine. 0xA700 means the
    gateway could not decide or store: the sender should retry. One log line per
    instance on stderr. Stops cleanly on SIGINT or SIGTERM.
    """
    from synthmark.errors import UsageError
    from synthmark.serve.dicom import ForwardTarget, Gateway, GatewayConfig

    if (store is None) == (forward is None):
        raise UsageError("give exactly one of --store DIR and --forward HOST:PORT[:AET]")
    if not 0 < len(ae_title.strip()) <= 16:
        raise UsageError("--ae-title must have 1 to 16 characters")
    _configure_logging(verbose)
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
