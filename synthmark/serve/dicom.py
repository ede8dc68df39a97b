"""A validating DICOM storage gateway: a C-STORE SCP that runs synthmark on every instance.

Modalities, generators and PACS gateways send instances with C-STORE as usual. Each one is
validated in-process with :func:`synthmark.validation` under a policy (``archive-ingest`` by
default: the per-instance rules, SM501 unacknowledged-synthetic-image included) and then

* **accepted**: stored under ``store/<SOP Instance UID>.dcm`` (temp file in the same
  folder, fsync, atomic rename, folder fsync) or forwarded with C-STORE to the next SCP,
  and only then answered with Success (or the next hop's warning status);
* **rejected**: answered with a failure status in the "Error: Cannot understand" range,
  ``0xC000 | SMnnn`` (SM501 gives ``0xC501``), and quarantined with a JSON reason file
  when a quarantine folder is configured;
* **not decided** (an internal error, a full disk, an unreachable next hop): answered with
  ``0xA700`` "Refused: Out of resources", so the sender keeps the instance and retries.

No instance is lost: Success is only sent once the instance is on disk (fsynced) or the
next hop answered Success; any other outcome is a failure status, and the sender still
has the instance. None is overwritten either: in store mode a second instance with the
SOP Instance UID of a stored one is refused with ``0x0111`` (Duplicate SOP Instance) unless
it is byte-identical (a resend, answered Success), or, with ``duplicates="keep"``, stored
beside the first as ``<uid>.<sha256 prefix>.dcm``.

Who may send: calling AE titles (``allowed_calling_aes``, an A-ASSOCIATE-RJ for others),
peer addresses (``allowed_hosts``, addresses or networks; other connections are closed
before any PDU), and DICOM TLS (``tls``: the server certificate, and with a CA file every
sender must present a certificate that chains to it). A gateway bound to a non-loopback
address refuses to start without one of the allow-lists unless ``allow_any_sender``.

Nothing here prints; each decision is one ``logging`` line on the ``synthmark.gateway``
logger with a short hash of the SOP Instance UID (an identifier), never patient attributes.

pynetdicom is an optional dependency (``pip install synthmark[gateway]``), imported only
when a gateway is built. See ``docs/gateway.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import ipaddress
import json
import logging
import os
import re
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from synthmark.carriers.atomic import atomic_write_bytes, fsync_dir
from synthmark.errors import (
    ConfigError,
    OptionalDependencyError,
    UsageError,
    WriteFailedError,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pynetdicom.ae import ApplicationEntity
    from pynetdicom.association import Association
    from pynetdicom.events import Event
    from pynetdicom.transport import ThreadedAssociationServer

    from synthmark.validation.config import ValidateConfig
    from synthmark.validation.report import Finding, Report

LOGGER = logging.getLogger("synthmark.gateway")

#: C-STORE statuses (DICOM PS3.4 Table B.2-1). Rejections use the "Error: Cannot
#: understand" range C000-CFFF, whose low 12 bits are implementation-specific: we put the
#: rule number there (SM501 -> 0xC501) so an operator can read the reason from the status.
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000
#: PS3.7 C.5: "Failure: Duplicate SOP Instance". Not a retry status: the sender's copy and
#: the stored one differ, and an operator must decide.
STATUS_DUPLICATE = 0x0111
_WARNING_STATUSES = frozenset({0x0001, 0xB000, 0xB006, 0xB007})

_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_RULE = re.compile(r"SM([1-9][0-9]{2})")
_FORWARD = re.compile(r"(\[[^\]]+\]|[^:\[\]]+):([0-9]{1,5})(?::(.+))?")
#: A rejection names the rule a sender most needs to hear about first.
_PRIORITY = ("SM501",)
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_INSTALL_HINT = "pip install synthmark[gateway]"
_SLOW_MS = 5000.0


def rejection_status(code: str) -> int:
    """The C-STORE status for a rejection by rule ``code``: ``0xC000 | nnn`` for ``SMnnn``.

    ``SM501`` gives ``0xC501``; a code that is not ``SM`` and three digits gives ``0xC000``.
    """
    match = _RULE.fullmatch(code)
    return STATUS_CANNOT_UNDERSTAND | int(match.group(1), 16) if match else STATUS_CANNOT_UNDERSTAND


def uid_hash(uid: str) -> str:
    """A short, stable hash of a UID for logs (UIDs identify studies and patients' images)."""
    return hashlib.sha256(uid.encode("ascii", "replace")).hexdigest()[:12]


def instance_file_name(uid: str, data: bytes = b"") -> str:
    """``<uid>.dcm`` for a well-formed UID; otherwise a name from the content's hash, so a
    hostile UID can never climb out of the folder."""
    if 0 < len(uid) <= 64 and _UID.fullmatch(uid):
        return f"{uid}.dcm"
    return f"sha256-{hashlib.sha256(data).hexdigest()}.dcm"


def _require_pynetdicom() -> None:
    try:
        import pynetdicom  # noqa: F401
    except ImportError as exc:
        raise OptionalDependencyError(
            "the DICOM gateway needs pynetdicom, which is not installed", hint=_INSTALL_HINT
        ) from exc


@dataclass(frozen=True)
class ForwardTarget:
    """The next storage SCP of a forwarding gateway.

    Attributes:
        host: Host name or address.
        port: TCP port.
        ae_title: Called AE title of the next hop.
    """

    host: str
    port: int
    ae_title: str = "ANY-SCP"

    @classmethod
    def parse(cls, text: str) -> ForwardTarget:
        """Parse ``HOST:PORT[:AET]`` (``[v6addr]:PORT[:AET]`` for IPv6).

        Raises:
            UsageError: when ``text`` is not of that form.
        """
        match = _FORWARD.fullmatch(text.strip())
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise UsageError(
                f"--forward {text!r}: expected HOST:PORT[:AET]", hint="e.g. pacs.local:104:PACS"
            )
        host = match.group(1).strip("[]")
        title = match.group(3)
        if title is not None and not 0 < len(title.strip()) <= 16:
            raise UsageError(f"--forward {text!r}: an AE title has 1 to 16 characters")
        return cls(host, int(match.group(2)), title.strip() if title else "ANY-SCP")


@dataclass(frozen=True)
class TlsConfig:
    """DICOM TLS (PS3.15 Annex B) of the gateway's listening port.

    Attributes:
        cert: PEM certificate (chain) of the gateway.
        key: PEM private key of that certificate (unencrypted; keep it mode 0600).
        ca: PEM CA certificate(s); when given, every sender must present a certificate
            that chains to one of them (mutual TLS), else the handshake fails.
    """

    cert: Path
    key: Path
    ca: Path | None = None

    def context(self) -> ssl.SSLContext:
        """The server-side SSL context (TLS 1.2 or later).

        Raises:
            ConfigError: when a file is missing or not a usable certificate or key.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(self.cert), str(self.key))
            if self.ca is not None:
                context.load_verify_locations(cafile=str(self.ca))
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot use the TLS certificate or key: {exc}",
                hint="--tls-cert and --tls-key are PEM files; --tls-ca a PEM CA file",
            ) from exc
        return context


def parse_networks(
    values: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Addresses or networks (``10.1.2.3``, ``10.0.0.0/8``, ``::1``) as networks.

    Raises:
        UsageError: for anything else (host names are not resolved: a name is not an
            identity a sender can be held to).
    """
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise UsageError(
                f"--allow-host {value!r}: expected an IP address or network",
                hint="e.g. 10.20.0.5 or 10.20.0.0/16",
            ) from None
    return tuple(out)


def _allowed(
    address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        peer = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return any(peer in network for network in networks)


@dataclass(frozen=True)
class GatewayConfig:
    """How a :class:`Gateway` listens, validates and what it does with instances.

    Exactly one of ``store`` and ``forward`` must be set.

    Attributes:
        port: TCP port to listen on; ``0`` picks a free one (see :attr:`Gateway.address`).
        host: Address to bind (loopback by default: exposing a gateway is a decision).
        ae_title: Our AE title.
        store: Folder where accepted instances are written as ``<SOP Instance UID>.dcm``.
        forward: Next SCP that accepted instances are sent to.
        quarantine: Folder for rejected instances and their ``.json`` reason files.
        policy: A packaged policy name or a policy ``.toml`` file.
        keyring: Watermark keyring (the public detection key is always tried).
        trust: Trust file for signed records and credentials.
        accept_non_image: Accept instances without pixel data (SR, RT Plan, ...) without
            running the image rules; ``False`` rejects them as unreadable (SM901).
        spool: Folder for instances being validated in forward mode (default: a private
            temporary folder, removed on stop). In store mode the store folder is used,
            so that acceptance is a rename.
        max_associations: Concurrent associations accepted.
        timeout_s: ACSE, DIMSE and network timeout towards the next hop.
        idle_timeout_s: An inbound association that sends nothing for this long is
            aborted (``None``: never). pynetdicom counts the time our handler takes too,
            so keep it above the slowest validation of a large instance.
        grace_s: On :meth:`Gateway.stop`, how long running associations may finish before
            they are aborted (an aborted sender never got Success, so nothing is lost).
        torch_threads: Threads torch may use while detecting watermarks.
        allowed_calling_aes: Calling AE titles that may associate; empty: any.
        allowed_hosts: Peer addresses or networks that may connect (see
            :func:`parse_networks`); empty: any.
        allow_any_sender: Allow a non-loopback ``host`` without either allow-list.
        tls: DICOM TLS on the listening port; None: plain TCP.
        duplicates: What a second instance with a stored SOP Instance UID and other
            content gets: ``refuse`` (status 0x0111) or ``keep`` (stored beside).
    """

    port: int = 11112
    host: str = "127.0.0.1"
    ae_title: str = "SYNTHMARK"
    store: Path | None = None
    forward: ForwardTarget | None = None
    quarantine: Path | None = None
    policy: str = "archive-ingest"
    keyring: Path | None = None
    trust: Path | None = None
    accept_non_image: bool = True
    spool: Path | None = None
    max_associations: int = 16
    timeout_s: float = 30.0
    idle_timeout_s: float | None = 60.0
    grace_s: float = 10.0
    torch_threads: int = 1
    allowed_calling_aes: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    allow_any_sender: bool = False
    tls: TlsConfig | None = None
    duplicates: Literal["refuse", "keep"] = "refuse"


@dataclass(frozen=True)
class Decision:
    """What the gateway did with one instance.

    Attributes:
        outcome: ``"accepted"``, ``"rejected"`` (a validation verdict), ``"duplicate"``
            (valid, but another instance with its SOP Instance UID is stored) or
            ``"failed"`` (no verdict could be acted on: internal error, disk, next hop).
        status: The C-STORE status returned to the sender.
        code: The rule code of a rejection (or ``None``).
        comment: Short text sent as Error Comment (0000,0902) with failure statuses.
        findings: The validation findings (all severities).
        stored: Where the instance was written (store mode) or quarantined, if anywhere.
        uid_hash: Short hash of the SOP Instance UID, as logged.
        validate_ms: Time spent validating, waiting for the validation lock included.
    """

    outcome: str
    status: int
    code: str | None = None
    comment: str | None = None
    findings: tuple[Finding, ...] = ()
    stored: Path | None = None
    uid_hash: str = ""
    validate_ms: float = 0.0


@dataclass
class GatewayStats:
    """Counters since start (read with :meth:`Gateway.stats`)."""

    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    failed: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class Gateway:
    """A validating C-STORE SCP (see the module documentation).

    Use :meth:`start` and :meth:`stop` (or ``with Gateway(config) as gateway:``); the
    server runs in background threads, one per association.

    Raises:
        OptionalDependencyError: when pynetdicom is not installed.
        UsageError: when not exactly one of ``store`` and ``forward`` is set.
        ConfigError: when the policy, keyring or a folder is unusable.
    """

    def __init__(self, config: GatewayConfig) -> None:
        _require_pynetdicom()
        if (config.store is None) == (config.forward is None):
            raise UsageError("give exactly one of --store DIR and --forward HOST:PORT[:AET]")
        if config.duplicates not in ("refuse", "keep"):
            raise UsageError("duplicates must be 'refuse' or 'keep'")
        self._networks = parse_networks(config.allowed_hosts)
        exposed = not _is_loopback(config.host)
        if (
            exposed
            and not (config.allowed_calling_aes or config.allowed_hosts)
            and not (config.allow_any_sender)
        ):
            raise UsageError(
                f"listening on {config.host} lets anyone on the network send instances",
                hint="restrict senders with --allow-ae / --allow-host, or say --allow-any-sender",
            )
        self._ssl_context = config.tls.context() if config.tls is not None else None
        self.config = config
        self._validate_config = _validation_config(config)
        for folder in (config.store, config.quarantine, config.spool):
            if folder is not None:
                _ensure_folder(folder)
        # validate() with jobs=1 keeps per-run state in module globals of
        # synthmark.validation.engine and sets torch's process-wide thread count, so two runs at
        # once would race; instances are small and validation takes milliseconds, so one
        # at a time costs little next to network and disk time (docs/gateway-bench.md).
        self._validate_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._stats = GatewayStats()
        self._forwarders: dict[int, _Forwarder] = {}
        self._forwarders_lock = threading.Lock()
        self._ae: ApplicationEntity | None = None
        self._server: ThreadedAssociationServer | None = None
        self._own_spool: Path | None = None
        self._stopped = threading.Event()
        # Stores are serialised so that "is this UID already stored?" and the store itself
        # are one step even where hard links (the atomic no-replace) are unavailable.
        self._store_lock = threading.Lock()

    # ------------------------------------------------------------------ life cycle

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` actually bound (useful with ``port=0``).

        Raises:
            UsageError: before :meth:`start`.
        """
        if self._server is None:
            raise UsageError("the gateway is not running")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def running(self) -> bool:
        """Whether the server accepts associations."""
        return self._server is not None

    def start(self) -> None:
        """Bind and start serving in background threads; returns at once.

        Raises:
            ConfigError: when the address cannot be bound (in use, not permitted).
        """
        if self._server is not None:
            return
        from pynetdicom import AE, evt
        from pynetdicom.presentation import AllStoragePresentationContexts

        self._warm_up()
        if self.config.forward is not None and self.config.spool is None:
            self._own_spool = Path(tempfile.mkdtemp(prefix="synthmark-gateway-"))
        ae = AE(ae_title=self.config.ae_title)
        if self.config.allowed_calling_aes:
            # pynetdicom answers others with A-ASSOCIATE-RJ "calling AE title not recognised".
            ae.require_calling_aet = list(self.config.allowed_calling_aes)
        ae.maximum_associations = self.config.max_associations
        ae.network_timeout = self.config.idle_timeout_s
        syntaxes = decodable_transfer_syntaxes()
        for context in AllStoragePresentationContexts:
            assert context.abstract_syntax is not None
            ae.add_supported_context(context.abstract_syntax, syntaxes)
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_association_end),
            (evt.EVT_ABORTED, self._on_association_end),
            (evt.EVT_CONN_CLOSE, self._on_association_end),
        ]
        try:
            server = ae.make_server(
                (self.config.host, self.config.port),
                evt_handlers=handlers,
                ssl_context=self._ssl_context,
                server_class=_server_class(self._networks),
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror or exc}",
                hint="choose another --port, or stop what listens there",
            ) from exc
        # What ae.start_server(block=False) does, with our server class: pynetdicom's
        # shutdown() expects the server in the AE's list.
        ae._servers.append(server)
        threading.Thread(
            target=server.serve_forever, name="synthmark-gateway-accept", daemon=True
        ).start()
        self._ae, self._server = ae, server
        self._stopped.clear()
        host, port = self.address
        LOGGER.info(
            "listening on %s:%d as %s (policy %s, %s, %s, senders: %s)",
            host,
            port,
            self.config.ae_title,
            self.config.policy,
            f"store {self.config.store}"
            if self.config.store is not None
            else f"forward {self.config.forward}",
            "TLS" if self._ssl_context is not None else "plain TCP",
            _senders(self.config),
        )

    def stop(self) -> None:
        """Stop accepting, let running associations finish for ``grace_s``, abort the rest.

        Safe to call twice; call it from a normal thread, not from inside a signal handler
        (it joins threads).
        """
        server, ae = self._server, self._ae
        if server is None or ae is None:
            return
        self._server = None
        server.shutdown()  # no new associations from here on
        deadline = time.monotonic() + self.config.grace_s
        while ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        for assoc in ae.active_associations:
            LOGGER.warning("aborting an association still running at shutdown")
            assoc.abort()
        with self._forwarders_lock:
            forwarders = list(self._forwarders.values())
            self._forwarders.clear()
        for forwarder in forwarders:
            forwarder.close()
        if self._own_spool is not None:
            shutil.rmtree(self._own_spool, ignore_errors=True)
            self._own_spool = None
        self._ae = None
        self._stopped.set()
        stats = self.stats()
        LOGGER.info(
            "stopped: %d accepted, %d rejected, %d failed",
            stats.accepted,
            stats.rejected,
            stats.failed,
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` has finished (or ``timeout``); True when stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> GatewayStats:
        """A copy of the counters."""
        with self._stats_lock:
            return dataclasses.replace(self._stats, by_status=dict(self._stats.by_status))

    def _warm_up(self) -> None:
        # Import torch and the detector now: the first instance would otherwise pay about
        # a second, and a sender's DIMSE timeout is not the place to discover that.
        if self._validate_config.header_only:
            return
        with contextlib.suppress(ImportError):
            import torch

            torch.set_num_threads(max(1, self.config.torch_threads))
            import synthmark.watermark  # noqa: F401

    # ------------------------------------------------------------------ handling

    def _on_store(self, event: Event) -> Dataset:
        started = time.perf_counter()
        request = event.request
        uid = str(getattr(request, "AffectedSOPInstanceUID", "") or "")
        sop_class = str(getattr(request, "AffectedSOPClassUID", "") or "")
        try:
            data = event.encoded_dataset()
            decision = self.handle(data, uid, sop_class, event.assoc)
        except Exception as exc:  # a bug must answer "not stored", never crash the thread
            LOGGER.error("internal error (a bug): %s: %s", type(exc).__name__, exc)
            decision = Decision(
                "failed", STATUS_OUT_OF_RESOURCES, comment="synthmark internal error"
            )
        self._count(decision)
        elapsed_ms = (time.perf_counter() - started) * 1000
        # A slow answer is worth a warning: past the sender's DIMSE timeout or our
        # network timeout the association is aborted (nothing is lost, but it is retried).
        LOGGER.log(
            logging.WARNING if elapsed_ms > _SLOW_MS else logging.INFO,
            "decision=%s status=0x%04X rule=%s uid=%s calling_ae=%s ms=%.1f validate_ms=%.1f",
            decision.outcome,
            decision.status,
            decision.code or "-",
            decision.uid_hash or uid_hash(uid),
            _calling_ae(event.assoc),
            elapsed_ms,
            decision.validate_ms,
        )
        return _status_dataset(decision)

    def handle(
        self, data: bytes, uid: str, sop_class: str, assoc: Association | None = None
    ) -> Decision:
        """Validate one instance (DICOM file bytes) and store, forward or reject it.

        Called by the C-STORE handler; public so that other front ends (a DICOMweb STOW
        endpoint, a folder watcher) can share the exact same decision.
        """
        hashed = uid_hash(uid)
        name = instance_file_name(uid, data)
        folder = self.config.store if self.config.store is not None else self._spool_folder()
        try:
            spooled = _spool(folder, data)
        except OSError as exc:
            LOGGER.error("cannot spool an instance in %s: %s", folder, exc.strerror)
            return Decision(
                "failed", STATUS_OUT_OF_RESOURCES, comment="gateway cannot write", uid_hash=hashed
            )
        try:
            return self._decide(spooled, data, uid, sop_class, name, hashed, assoc)
        finally:
            with contextlib.suppress(FileNotFoundError):
                spooled.unlink()

    def _decide(
        self,
        spooled: Path,
        data: bytes,
        uid: str,
        sop_class: str,
        name: str,
        hashed: str,
        assoc: Association | None,
    ) -> Decision:
        started = time.perf_counter()
        report = self.check(spooled)
        validate_ms = (time.perf_counter() - started) * 1000
        decision = self._act(report, spooled, data, uid, sop_class, name, hashed, assoc)
        return dataclasses.replace(decision, validate_ms=validate_ms)

    def _act(
        self,
        report: Report,
        spooled: Path,
        data: bytes,
        uid: str,
        sop_class: str,
        name: str,
        hashed: str,
        assoc: Association | None,
    ) -> Decision:
        findings = report.findings
        if report.internal_errors:
            return Decision(
                "failed",
                STATUS_OUT_OF_RESOURCES,
                comment="synthmark internal error (a bug)",
                findings=findings,
                uid_hash=hashed,
            )
        if report.failed and not (
            self.config.accept_non_image and _only_no_pixels(report, spooled)
        ):
            code = _primary_code(report)
            status = rejection_status(code)
            rule_name = next((f.name for f in findings if f.code == code), "")
            decision = Decision(
                "rejected",
                status,
                code=code,
                comment=f"synthmark {code} {rule_name}"[:64],
                findings=findings,
                uid_hash=hashed,
            )
            return self._quarantine(decision, data, uid, sop_class, name, assoc)
        if self.config.store is not None:
            return self._store(spooled, data, name, findings, hashed)
        status, comment = self._forward(spooled, sop_class, assoc)
        if status == STATUS_SUCCESS or status in _WARNING_STATUSES:
            return Decision("accepted", status, findings=findings, uid_hash=hashed)
        return Decision("failed", status, comment=comment, findings=findings, uid_hash=hashed)

    def _store(
        self, spooled: Path, data: bytes, name: str, findings: tuple[Finding, ...], hashed: str
    ) -> Decision:
        """Store an accepted instance without ever replacing a stored one."""
        store = self.config.store
        assert store is not None
        dest = store / name
        try:
            with self._store_lock:
                if _place(spooled, dest):
                    fsync_dir(store)
                    return Decision(
                        "accepted", STATUS_SUCCESS, findings=findings, stored=dest, uid_hash=hashed
                    )
                if _same_content(dest, data):
                    # A resend (the sender never saw our Success): it is stored already.
                    LOGGER.info("uid=%s already stored with the same content", hashed)
                    return Decision(
                        "accepted", STATUS_SUCCESS, findings=findings, stored=dest, uid_hash=hashed
                    )
                if self.config.duplicates == "keep":
                    digest = hashlib.sha256(data).hexdigest()[:16]
                    beside = store / f"{Path(name).stem}.{digest}.dcm"
                    if _place(spooled, beside):
                        fsync_dir(store)
                    LOGGER.warning(
                        "uid=%s: another instance with this SOP Instance UID is stored; "
                        "kept beside it as %s",
                        hashed,
                        beside.name,
                    )
                    return Decision(
                        "accepted",
                        STATUS_SUCCESS,
                        findings=findings,
                        stored=beside,
                        uid_hash=hashed,
                    )
        except OSError as exc:
            LOGGER.error("cannot store an accepted instance: %s", exc.strerror)
            return Decision(
                "failed",
                STATUS_OUT_OF_RESOURCES,
                comment="gateway cannot write",
                findings=findings,
                uid_hash=hashed,
            )
        LOGGER.warning(
            "uid=%s: refused, another instance with this SOP Instance UID is stored", hashed
        )
        return Decision(
            "duplicate",
            STATUS_DUPLICATE,
            comment="SOP Instance UID already stored with other content",
            findings=findings,
            uid_hash=hashed,
        )

    def check(self, path: Path) -> Report:
        """Validate one DICOM file with the gateway's policy (serialised; never raises for
        a bad file: problems are findings)."""
        from synthmark.validation.engine import validate

        with self._validate_lock:
            return validate([path], self._validate_config)

    def _quarantine(
        self,
        decision: Decision,
        data: bytes,
        uid: str,
        sop_class: str,
        name: str,
        assoc: Association | None,
    ) -> Decision:
        folder = self.config.quarantine
        if folder is None:
            return decision
        reason = {
            "decision": decision.outcome,
            "status": f"0x{decision.status:04X}",
            "rule": decision.code,
            "sop_instance_uid": uid,
            "sop_class_uid": sop_class,
            "calling_ae": _calling_ae(assoc),
            "received": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "policy": self.config.policy,
            "findings": [f.to_json() | {"path": None} for f in decision.findings],
        }
        dest = folder / name
        try:
            atomic_write_bytes(dest, data)
            atomic_write_bytes(
                dest.with_suffix(".json"),
                (json.dumps(reason, indent=2, sort_keys=True) + "\n").encode("utf-8"),
            )
        except WriteFailedError as exc:
            # The sender got a failure status and still has the instance: nothing is lost,
            # but an operator must know the quarantine is not being filled.
            LOGGER.error("cannot quarantine a rejected instance: %s", exc.message)
            return decision
        return dataclasses.replace(decision, stored=dest)

    def _forward(self, path: Path, sop_class: str, assoc: Association | None) -> tuple[int, str]:
        target = self.config.forward
        assert target is not None
        key = id(assoc) if assoc is not None else threading.get_ident()
        with self._forwarders_lock:
            forwarder = self._forwarders.get(key)
            if forwarder is None:
                forwarder = _Forwarder(target, self.config.ae_title, self.config.timeout_s)
                self._forwarders[key] = forwarder
        if assoc is None:
            # Not tied to an inbound association: nothing would ever close it.
            try:
                return forwarder.send(path, sop_class)
            finally:
                with self._forwarders_lock:
                    self._forwarders.pop(key, None)
                forwarder.close()
        return forwarder.send(path, sop_class)

    def _on_association_end(self, event: Event) -> None:
        with self._forwarders_lock:
            forwarder = self._forwarders.pop(id(event.assoc), None)
        if forwarder is not None:
            forwarder.close()

    def _spool_folder(self) -> Path:
        folder = self.config.spool or self._own_spool
        if folder is None:  # handle() used without start(): make the private spool now
            self._own_spool = folder = Path(tempfile.mkdtemp(prefix="synthmark-gateway-"))
        return folder

    def _count(self, decision: Decision) -> None:
        with self._stats_lock:
            stats = self._stats
            if decision.outcome == "accepted":
                stats.accepted += 1
            elif decision.outcome == "rejected":
                stats.rejected += 1
            elif decision.outcome == "duplicate":
                stats.duplicates += 1
            else:
                stats.failed += 1
            stats.by_status[decision.status] = stats.by_status.get(decision.status, 0) + 1


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _senders(config: GatewayConfig) -> str:
    parts = []
    if config.allowed_calling_aes:
        parts.append("AE titles " + ", ".join(config.allowed_calling_aes))
    if config.allowed_hosts:
        parts.append("hosts " + ", ".join(config.allowed_hosts))
    if config.tls is not None and config.tls.ca is not None:
        parts.append("client certificates")
    return "; ".join(parts) or "any"


def _server_class(
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> type[ThreadedAssociationServer]:
    """pynetdicom's threaded server, closing connections from peers not in ``networks``."""
    from pynetdicom.transport import ThreadedAssociationServer

    class FilteringServer(ThreadedAssociationServer):
        def verify_request(
            self, request: Any, client_address: Any
        ) -> bool:  # socketserver's hook: False closes the connection unanswered
            if not networks:
                return True
            address = str(client_address[0]) if isinstance(client_address, tuple) else ""
            if _allowed(address, networks):
                return True
            LOGGER.warning("connection from %s refused: not an allowed host", address)
            return False

    return FilteringServer


def _place(source: Path, dest: Path) -> bool:
    """Move ``source`` to ``dest`` unless ``dest`` exists; True when moved.

    A hard link is the atomic "create, never replace"; where the file system has none,
    the caller's store lock makes the existence check and the rename one step.
    """
    try:
        os.link(source, dest)
    except FileExistsError:
        return False
    except OSError:
        if dest.exists():
            return False
        os.replace(source, dest)
        return True
    source.unlink()
    return True


def _same_content(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


class _Forwarder:
    """One outbound association to the next hop per inbound association (same thread).

    Opened on the first accepted instance and reused, so a study sent on one association
    costs one association downstream; contexts are added (re-associating) when an
    instance needs a SOP class or transfer syntax not yet negotiated.
    """

    _MAX_CONTEXTS = 128  # the DICOM upper layer allows 128 presentation contexts

    def __init__(self, target: ForwardTarget, ae_title: str, timeout_s: float) -> None:
        from pynetdicom import AE

        self._target = target
        # An AE per forwarder: requested contexts live on the AE, and forwarders run in
        # different association threads.
        self._ae = AE(ae_title=ae_title)
        self._ae.acse_timeout = timeout_s
        self._ae.dimse_timeout = timeout_s
        self._ae.network_timeout = timeout_s
        self._wanted: list[tuple[str, tuple[str, ...]]] = []
        self._assoc: Association | None = None

    def send(self, path: Path, sop_class: str) -> tuple[int, str]:
        """Send the file at ``path``; return (status, comment for a failure)."""
        from pydicom import dcmread

        try:
            dataset = dcmread(path)
        except Exception as exc:  # validated just before: a failure here is a bug
            return STATUS_OUT_OF_RESOURCES, f"cannot re-read instance: {type(exc).__name__}"
        syntax = str(dataset.file_meta.TransferSyntaxUID)
        sop_class = sop_class or str(dataset.SOPClassUID)
        assoc, problem = self._association(sop_class, syntax)
        if assoc is None:
            return STATUS_OUT_OF_RESOURCES, problem
        try:
            response = assoc.send_c_store(dataset)
        except (OSError, RuntimeError, ValueError) as exc:
            self.close()
            return STATUS_OUT_OF_RESOURCES, f"next hop failed: {type(exc).__name__}"
        status = getattr(response, "Status", None)
        if status is None:
            # No response (timeout, abort): the instance may or may not be downstream, so
            # the sender must retry; C-STORE of the same UID is idempotent.
            self.close()
            return STATUS_OUT_OF_RESOURCES, "next hop did not answer"
        comment = str(getattr(response, "ErrorComment", "") or "next hop failed")
        return int(status), f"next hop: {comment}"[:64]

    def _association(self, sop_class: str, syntax: str) -> tuple[Association | None, str]:
        """An established association with a context that fits; else ``None`` and why."""
        from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
        from pynetdicom.presentation import build_context

        assoc = self._assoc
        if assoc is not None and assoc.is_established and _fits(assoc, sop_class, syntax):
            return assoc, ""
        syntaxes: tuple[str, ...] = (syntax,)
        if not UID(syntax).is_compressed:
            # Uncompressed data can be re-encoded by pynetdicom in whichever of these the
            # next hop accepts; compressed data goes as it is or not at all.
            syntaxes = tuple(
                dict.fromkeys((syntax, ExplicitVRLittleEndian, ImplicitVRLittleEndian))
            )
        wanted = (sop_class, syntaxes)
        if wanted not in self._wanted:
            self._wanted = [*self._wanted, wanted][-self._MAX_CONTEXTS :]
        self.close()
        contexts = [build_context(cls, list(ts)) for cls, ts in self._wanted]
        new = self._ae.associate(
            self._target.host, self._target.port, contexts=contexts, ae_title=self._target.ae_title
        )
        if not new.is_established:
            return None, "next hop refused or unreachable"
        self._assoc = new
        if not _fits(new, sop_class, syntax):
            return None, "next hop accepts neither this SOP class nor its syntax"
        return new, ""

    def close(self) -> None:
        """Release the outbound association, if any."""
        assoc, self._assoc = self._assoc, None
        if assoc is not None and assoc.is_established:
            with contextlib.suppress(Exception):
                assoc.release()


# ---------------------------------------------------------------------------- helpers


def decodable_transfer_syntaxes() -> list[str]:
    """Transfer syntaxes the gateway accepts: those whose pixel data this installation
    can decode (uncompressed ones always; JPEG, JPEG-LS, JPEG 2000, RLE when a decoder
    plugin is installed). Accepting one we cannot decode would only turn into SM901
    rejections; left out, the sender negotiates another (usually uncompressed)."""
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.uid import (
        AllTransferSyntaxes,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    )

    found = [
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
    ]
    for uid in AllTransferSyntaxes:
        if uid in found or not uid.is_compressed:
            continue
        try:
            available = get_decoder(uid).is_available
        except (NotImplementedError, ValueError):
            continue
        if available:
            found.append(uid)
    return [str(uid) for uid in found]


def _fits(assoc: Association, sop_class: str, syntax: str) -> bool:
    """Whether ``assoc`` can carry an instance of ``sop_class`` in ``syntax`` (pynetdicom
    converts between uncompressed syntaxes, never from or to a compressed one)."""
    from pydicom.uid import UID

    for context in assoc.accepted_contexts:
        if context.abstract_syntax != sop_class or not context.transfer_syntax:
            continue
        accepted = UID(context.transfer_syntax[0])
        if accepted == syntax or not (accepted.is_compressed or UID(syntax).is_compressed):
            return True
    return False


def _validation_config(config: GatewayConfig) -> ValidateConfig:
    from synthmark.validation.config import ValidateConfig, apply_policy

    # Not load_config(): a gateway must not pick up a synthmark.toml from whatever folder
    # it was started in; its policy is what the operator named.
    validate_config = apply_policy(ValidateConfig(), config.policy, Path.cwd())
    changes: dict[str, Any] = {"jobs": 1, "cache_dir": None, "thumbnails": False}
    if config.keyring is not None:
        if not config.keyring.is_file():
            raise ConfigError("keyring not found", path=config.keyring)
        changes["keyring"] = config.keyring
    if config.trust is not None:
        if not config.trust.is_file():
            raise ConfigError("trust file not found", path=config.trust)
        changes["trust"] = config.trust.resolve()
    validate_config = dataclasses.replace(validate_config, **changes)
    if validate_config.keyring is not None and not validate_config.header_only:
        from synthmark.watermark import load_keyring

        load_keyring(validate_config.keyring)  # fail at start, not on every instance
    return validate_config


def _ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create folder: {exc.strerror}", path=folder) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError("folder is not writable", path=folder)


def _spool(folder: Path, data: bytes) -> Path:
    # A hidden temp name in the destination folder: acceptance is then an atomic rename,
    # and folder watchers that skip dotfiles never see a half-validated instance.
    fd, name = tempfile.mkstemp(prefix=".incoming-", suffix=".dcm", dir=folder)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return path


def _primary_code(report: Report) -> str:
    from synthmark.validation.report import Severity

    worst = Severity.WARNING if report.strict else Severity.ERROR
    failing = [f.code for f in report.findings if f.severity.rank >= worst.rank]
    for code in _PRIORITY:
        if code in failing:
            return code
    return sorted(failing)[0] if failing else "SM000"


def _only_no_pixels(report: Report, path: Path) -> bool:
    """True when the only failing finding is SM901 because there are no pixels at all
    (SR, RT Plan, presentation states): such an instance is not an image."""
    from synthmark.validation.report import Severity

    worst = Severity.WARNING if report.strict else Severity.ERROR
    failing = {f.code for f in report.findings if f.severity.rank >= worst.rank}
    if failing != {"SM901"}:
        return False
    from pydicom import dcmread

    try:
        dataset = dcmread(path, defer_size=1024)
    except Exception:  # unreadable is unreadable: keep the rejection
        return False
    return not any(keyword in dataset for keyword in _PIXEL_KEYWORDS)


def _status_dataset(decision: Decision) -> Dataset:
    from pydicom.dataset import Dataset

    status = Dataset()
    status.Status = decision.status
    if decision.comment and decision.status not in (STATUS_SUCCESS, *_WARNING_STATUSES):
        # Error Comment is LO: 64 characters, no backslash.
        status.ErrorComment = decision.comment.replace("\\", "/")[:64]
    return status


def _calling_ae(assoc: Association | None) -> str:
    if assoc is None:
        return "-"
    with contextlib.suppress(Exception):
        return str(assoc.requestor.ae_title).strip() or "-"
    return "-"


__all__ = [
    "STATUS_CANNOT_UNDERSTAND",
    "STATUS_OUT_OF_RESOURCES",
    "STATUS_SUCCESS",
    "Decision",
    "ForwardTarget",
    "Gateway",
    "GatewayConfig",
    "GatewayStats",
    "decodable_transfer_syntaxes",
    "instance_file_name",
    "rejection_status",
    "uid_hash",
]
