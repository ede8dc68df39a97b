"""The validating DICOM gateway, end to end over loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from synthmark.serve.dicom import (
    STATUS_OUT_OF_RESOURCES,
    STATUS_SUCCESS,
    ForwardTarget,
    instance_file_name,
    rejection_status,
    uid_hash,
)
from tests.gateway.conftest import Samples, renumber, send

SM501 = 0xC501


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_store_accepts_real_and_acknowledged_rejects_unacknowledged(
    samples: Samples, gateway_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="synthmark.gateway")
    gateway = gateway_factory()
    paths = [samples.real, samples.acknowledged, samples.unacknowledged]
    assert send(gateway.address[1], paths) == [STATUS_SUCCESS, STATUS_SUCCESS, SM501]

    real_uid, ack_uid, bad_uid = (samples.uid(p) for p in paths)
    assert _files(tmp_path / "store") == sorted([f"{real_uid}.dcm", f"{ack_uid}.dcm"])
    assert _files(tmp_path / "quarantine") == [f"{bad_uid}.dcm", f"{bad_uid}.json"]
    import pydicom

    stored = pydicom.dcmread(tmp_path / "store" / f"{ack_uid}.dcm")
    original = pydicom.dcmread(samples.acknowledged)
    assert stored.PixelData == original.PixelData
    assert stored.SyntheticData == "YES"
    reason = json.loads((tmp_path / "quarantine" / f"{bad_uid}.json").read_text())
    assert reason["rule"] == "SM501" and reason["status"] == "0xC501"
    assert [f["code"] for f in reason["findings"]] == ["SM501"]
    assert "watermark" in reason["findings"][0]["message"]

    stats = gateway.stats()
    assert (stats.accepted, stats.rejected, stats.failed) == (2, 1, 0)
    decisions = [r.getMessage() for r in caplog.records if "decision=" in r.getMessage()]
    assert len(decisions) == 3
    assert "decision=rejected status=0xC501 rule=SM501" in decisions[2]
    # UIDs are identifiers: only their hash is logged; patient names never are.
    assert uid_hash(bad_uid) in decisions[2]
    text = caplog.text
    assert bad_uid not in text and real_uid not in text
    assert str(original.PatientName) not in text


def test_without_quarantine_rejection_keeps_nothing(
    samples: Samples, gateway_factory: Any, tmp_path: Path
) -> None:
    gateway = gateway_factory(quarantine=None)
    assert send(gateway.address[1], [samples.unacknowledged]) == [SM501]
    assert _files(tmp_path / "store") == []
    assert not (tmp_path / "quarantine").exists()


def test_non_image_instances_pass_unless_refused(
    samples: Samples, gateway_factory: Any, tmp_path: Path
) -> None:
    lenient = gateway_factory()
    assert send(lenient.address[1], [samples.sr]) == [STATUS_SUCCESS]
    strict = gateway_factory(accept_non_image=False, store=tmp_path / "strict")
    assert send(strict.address[1], [samples.sr]) == [0xC901]


def test_forward_to_next_scp(
    samples: Samples, gateway_factory: Any, storage_scp: tuple[int, Path], tmp_path: Path
) -> None:
    port, downstream = storage_scp
    gateway = gateway_factory(store=None, forward=ForwardTarget("127.0.0.1", port, "NEXT"))
    paths = [samples.real, samples.acknowledged, samples.unacknowledged, samples.real]
    assert send(gateway.address[1], paths) == [STATUS_SUCCESS, STATUS_SUCCESS, SM501, 0]
    uids = [samples.uid(p) for p in paths]
    assert _files(downstream) == sorted({f"{uids[0]}.dcm", f"{uids[1]}.dcm"})
    assert _files(tmp_path / "quarantine") == [f"{uids[2]}.dcm", f"{uids[2]}.json"]

    # A compressed instance of a SOP class already negotiated uncompressed downstream:
    # the gateway adds its syntax (re-associating) and forwards it as received.
    import pydicom
    from pydicom.data import get_testdata_file

    j2k = Path(str(get_testdata_file("J2K_pixelrep_mismatch.dcm", download=False)))
    assert send(gateway.address[1], [samples.real, j2k]) == [STATUS_SUCCESS, STATUS_SUCCESS]
    sent = pydicom.dcmread(j2k)
    got = pydicom.dcmread(downstream / f"{sent.SOPInstanceUID}.dcm")
    assert got.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
    assert got.PixelData == sent.PixelData


def test_forward_failure_is_not_success(
    samples: Samples, gateway_factory: Any, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    gateway = gateway_factory(store=None, forward=ForwardTarget("127.0.0.1", dead), timeout_s=2.0)
    assert send(gateway.address[1], [samples.real]) == [STATUS_OUT_OF_RESOURCES]
    assert gateway.stats().failed == 1


def test_concurrent_senders(samples: Samples, gateway_factory: Any, tmp_path: Path) -> None:
    gateway = gateway_factory(max_associations=8)
    port = gateway.address[1]
    kinds = [
        (samples.real, STATUS_SUCCESS),
        (samples.acknowledged, STATUS_SUCCESS),
        (samples.unacknowledged, SM501),
    ]
    batches: list[list[tuple[Path, int]]] = []
    work = tmp_path / "work"
    work.mkdir()
    for sender in range(6):
        batch = []
        for index in range(5):
            source, expected = kinds[(sender + index) % 3]
            batch.append((renumber(source, work / f"{sender}-{index}.dcm"), expected))
        batches.append(batch)
    results: dict[int, list[int]] = {}

    def run(number: int) -> None:
        results[number] = send(port, [path for path, _ in batches[number]])

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for number, batch in enumerate(batches):
        assert results[number] == [expected for _, expected in batch]
    accepted = {samples.uid(p) for batch in batches for p, s in batch if s == STATUS_SUCCESS}
    rejected = {samples.uid(p) for batch in batches for p, s in batch if s != STATUS_SUCCESS}
    assert _files(tmp_path / "store") == sorted(f"{uid}.dcm" for uid in accepted)
    assert {p.stem for p in (tmp_path / "quarantine").glob("*.dcm")} == rejected
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "name", ["J2K_pixelrep_mismatch.dcm", "MR_small_RLE.dcm", "SC_rgb_jpeg_dcmtk.dcm"]
)
def test_compressed_transfer_syntaxes(name: str, gateway_factory: Any, tmp_path: Path) -> None:
    import pydicom
    from pydicom.data import get_testdata_file

    source = Path(str(get_testdata_file(name, download=False)))
    gateway = gateway_factory()
    assert send(gateway.address[1], [source]) == [STATUS_SUCCESS]
    sent = pydicom.dcmread(source)
    stored = pydicom.dcmread(tmp_path / "store" / f"{sent.SOPInstanceUID}.dcm")
    # Stored as received: same transfer syntax, same encoded pixel data.
    assert stored.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
    assert stored.PixelData == sent.PixelData


def test_fails_closed(
    samples: Samples, gateway_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synthmark.serve.dicom as module

    gateway = gateway_factory()

    def broken_check(path: Path) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway, "check", broken_check)
    assert send(gateway.address[1], [samples.real]) == [STATUS_OUT_OF_RESOURCES]

    def full_disk(folder: Path, data: bytes) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "_spool", full_disk)
    assert send(gateway.address[1], [samples.acknowledged]) == [STATUS_OUT_OF_RESOURCES]
    assert _files(tmp_path / "store") == []
    assert gateway.stats().failed == 2


@pytest.mark.skipif(shutil.which("storescu") is None, reason="dcmtk storescu not installed")
def test_dcmtk_storescu(samples: Samples, gateway_factory: Any, tmp_path: Path) -> None:
    gateway = gateway_factory()
    port = str(gateway.address[1])

    def storescu(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
        command = ["storescu", "-v", *options, "-aec", "SYNTHMARK", "127.0.0.1", port, str(path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    good = storescu(samples.acknowledged)
    assert good.returncode == 0, good.stderr
    bad = storescu(samples.unacknowledged)
    assert bad.returncode != 0
    assert "Error: CannotUnderstand" in bad.stderr + bad.stdout
    assert _files(tmp_path / "store") == [f"{samples.uid(samples.acknowledged)}.dcm"]
    assert len(_files(tmp_path / "quarantine")) == 2
    # A compressed instance, proposed in its own syntax (-xv: JPEG 2000 lossless).
    from pydicom.data import get_testdata_file

    j2k = Path(str(get_testdata_file("J2K_pixelrep_mismatch.dcm", download=False)))
    compressed = storescu(j2k, "-xv")
    assert compressed.returncode == 0, compressed.stderr
    assert len(_files(tmp_path / "store")) == 2


def test_rejection_status_codes() -> None:
    assert rejection_status("SM501") == 0xC501
    assert rejection_status("SM201") == 0xC201
    assert rejection_status("SM901") == 0xC901
    assert rejection_status("SMX070") == 0xC000


def test_hostile_uid_cannot_escape_folder() -> None:
    assert instance_file_name("1.2.3") == "1.2.3.dcm"
    name = instance_file_name("../../etc/passwd", b"data")
    assert name.startswith("sha256-") and "/" not in name


def test_forward_target_parsing() -> None:
    from synthmark.errors import UsageError

    assert ForwardTarget.parse("pacs:104:PACS") == ForwardTarget("pacs", 104, "PACS")
    assert ForwardTarget.parse("[::1]:11112") == ForwardTarget("::1", 11112, "ANY-SCP")
    for bad in ("pacs", "pacs:x", "pacs:70000", "pacs:104:" + "A" * 17):
        with pytest.raises(UsageError):
            ForwardTarget.parse(bad)
