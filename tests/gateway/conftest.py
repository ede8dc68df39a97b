"""Fixtures of the gateway tests: sample instances, a running gateway, a sender."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("pynetdicom")

from tests.conftest import EXAMPLES

STRENGTH = 3.0  # CT_small is 128x128 and noisy: strength 1 would not be detectable


@dataclass(frozen=True)
class Samples:
    """Three kinds of instance, each with its own SOP Instance UID."""

    real: Path
    acknowledged: Path
    unacknowledged: Path
    sr: Path

    def uid(self, path: Path) -> str:
        import pydicom

        return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def renumber(source: Path, dest: Path) -> Path:
    """Copy ``source`` to ``dest`` with a fresh SOP Instance UID (one per instance)."""
    import pydicom
    from pydicom.uid import generate_uid

    dataset = pydicom.dcmread(source)
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.save_as(dest, enforce_file_format=True)
    return dest


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    from pydicom.data import get_testdata_file

    from synthmark.api import stamp
    from synthmark.demo import strip_dicom_labels
    from synthmark.record.parsing import parse_record
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    folder = tmp_path_factory.mktemp("samples")
    source = Path(str(get_testdata_file("CT_small.dcm", download=False)))
    real = folder / "real.dcm"
    shutil.copy(source, real)
    record = parse_record((EXAMPLES / "valid-diffusion-ct-chest.json").read_bytes())
    stamped = folder / "stamped.dcm"
    result = stamp(real, record, dest=stamped, watermark=PUBLIC_DETECTION_KEY, strength=STRENGTH)
    assert result.record.watermark is not None, result.watermark_note
    stripped = folder / "stripped.dcm"
    strip_dicom_labels(stamped, stripped)
    sr = folder / "sr.dcm"
    shutil.copy(Path(str(get_testdata_file("test-SR.dcm", download=False))), sr)
    return Samples(
        real=real,
        acknowledged=renumber(stamped, folder / "acknowledged.dcm"),
        unacknowledged=renumber(stripped, folder / "unacknowledged.dcm"),
        sr=sr,
    )


def send(port: int, paths: list[Path], *, ae_title: str = "SYNTHMARK") -> list[int]:
    """C-STORE ``paths`` on one association; the statuses seen by the sender (-1: none)."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
    from pynetdicom import AE

    ae = AE(ae_title="TESTSCU")
    wanted: set[tuple[str, str]] = set()
    for path in paths:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        wanted.add((str(dataset.SOPClassUID), str(dataset.file_meta.TransferSyntaxUID)))
    uncompressed = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
    for sop_class, syntax in sorted(wanted):
        # The file's own syntax in a context of its own, as dcmtk's storescu and modalities
        # propose it: an acceptor picks from a context's list in its own order of preference.
        if syntax not in uncompressed:
            ae.add_requested_context(sop_class, [syntax])
    for sop_class in sorted({sop_class for sop_class, _ in wanted}):
        ae.add_requested_context(sop_class, uncompressed)
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    assert assoc.is_established
    statuses = []
    try:
        for path in paths:
            response = assoc.send_c_store(path)
            statuses.append(int(response.Status) if "Status" in response else -1)
    finally:
        assoc.release()
    return statuses


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[object]:
    from synthmark.serve.dicom import Gateway, GatewayConfig

    started: list[Gateway] = []

    def make(**changes: object) -> Gateway:
        options: dict[str, object] = {
            "port": 0,
            "store": tmp_path / "store",
            "quarantine": tmp_path / "quarantine",
            "grace_s": 2.0,
        }
        options.update(changes)
        gateway = Gateway(GatewayConfig(**options))  # type: ignore[arg-type]
        gateway.start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def storage_scp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A plain pynetdicom storage SCP (the next hop): writes what it gets, says Success."""
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
    from pynetdicom.events import Event

    folder = tmp_path / "downstream"
    folder.mkdir()

    def on_store(event: Event) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        (folder / f"{uid}.dcm").write_bytes(event.encoded_dataset())
        return 0x0000

    ae = AE(ae_title="NEXT")
    for context in AllStoragePresentationContexts:
        assert context.abstract_syntax is not None
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    assert server is not None
    yield int(server.server_address[1]), folder
    server.shutdown()
