"""Header-only validation shortcuts give what the plain per-file path gives.

The walk tells workers which files can have a sidecar (so the others are not probed), and
records are parsed once per distinct byte string; neither may change a single fact.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from synthmark.carriers.sidecar import SIDECAR_SUFFIX
from synthmark.inspect import _RECORDS
from synthmark.validation.config import ValidateConfig
from synthmark.validation.engine import RunSettings, file_facts, validate, walk
from tests.conftest import EXAMPLES
from tests.validate.conftest import real_copies, shipped

HEADER = RunSettings(
    header_only=True,
    keyring=None,
    fpr=1e-6,
    thumbnails=False,
    real_thumbnails=False,
    single_thread=False,
)


@pytest.fixture
def mixed(tmp_path: Path, marked_synthetic: Path) -> Path:
    """Stamped and plain files, embedded and sidecar records, good, bad and odd sidecars."""
    root = tmp_path / "mixed"
    real_copies(root / "real", 4)
    stamped = root / "stamped"
    stamped.mkdir()
    for index in range(3):
        shutil.copy(marked_synthetic, stamped / f"s{index}.dcm")
    example = (EXAMPLES / "valid-diffusion-ct-chest.json").read_bytes()
    side = root / "side"
    side.mkdir()
    shutil.copy(shipped("CT_small.dcm"), side / "only-sidecar.dcm")
    (side / ("only-sidecar.dcm" + SIDECAR_SUFFIX)).write_bytes(example)
    shutil.copy(marked_synthetic, side / "differs.dcm")
    (side / ("differs.dcm" + SIDECAR_SUFFIX)).write_bytes(example)
    shutil.copy(shipped("CT_small.dcm"), side / "bad-sidecar.dcm")
    (side / ("bad-sidecar.dcm" + SIDECAR_SUFFIX)).write_bytes(b"{not json")
    shutil.copy(shipped("CT_small.dcm"), side / "folder-sidecar.dcm")
    (side / ("folder-sidecar.dcm" + SIDECAR_SUFFIX)).mkdir()
    shutil.copy(shipped("MR_small.dcm"), side / "Upper.dcm")
    (side / ("Upper.dcm" + SIDECAR_SUFFIX.upper())).write_bytes(example)
    bad = root / "bad"
    bad.mkdir()
    data = marked_synthetic.read_bytes()
    (bad / "truncated.dcm").write_bytes(data[: len(data) // 2])
    (bad / "empty.dcm").write_bytes(b"")
    (bad / "broken.dcm").symlink_to(bad / "nowhere.dcm")
    (bad / "link.dcm").symlink_to(stamped / "s0.dcm")
    return root


def test_walk_hint_gives_the_facts_probing_gives(mixed: Path) -> None:
    items = list(walk([mixed], ValidateConfig()))
    hinted = {item.relative: item.sidecar for item in items}
    assert hinted["side/only-sidecar.dcm"] is True
    assert hinted["side/folder-sidecar.dcm"] is True
    assert hinted["real/real-0000.dcm"] is False
    for item in items:
        _RECORDS.clear()
        probed = file_facts(dataclasses.replace(item, sidecar=None), HEADER)
        assert file_facts(item, HEADER) == probed, item.relative
        assert file_facts(item, HEADER) == probed, item.relative  # from the record cache


def test_record_cache_is_keyed_by_exact_bytes(mixed: Path) -> None:
    _RECORDS.clear()
    items = {i.relative: i for i in walk([mixed], ValidateConfig())}
    first = file_facts(items["stamped/s0.dcm"], HEADER)
    again = file_facts(items["stamped/s1.dcm"], HEADER)
    assert len(_RECORDS) == 1
    assert dataclasses.replace(again, path=first.path) == first
    assert first.record_id is not None and first.synthetic is True
    broken = file_facts(items["side/bad-sidecar.dcm"], HEADER)
    assert broken.record_unparseable
    assert file_facts(items["side/bad-sidecar.dcm"], HEADER) == broken


@pytest.mark.parametrize("jobs", [1, 2])
def test_header_only_report_is_stable(mixed: Path, jobs: int) -> None:
    _RECORDS.clear()
    config = ValidateConfig(header_only=True, jobs=jobs)
    first = validate([mixed], config)
    second = validate([mixed], config)
    assert first.findings == second.findings
    assert first.summary == second.summary
    assert first.internal_errors == 0
    codes = {(f.code, f.path) for f in first.findings}
    assert ("SM106", "side/differs.dcm") in codes
    assert any(path == "bad/truncated.dcm" and code == "SM901" for code, path in codes)
    assert ("SM902", "bad/broken.dcm") in codes


def test_header_only_parallel_equals_serial_over_many_batches(tmp_path: Path) -> None:
    root = tmp_path / "many"
    real_copies(root, 300)
    (root / "real-0007.dcm").write_bytes(b"\x00" * 128 + b"DICM" + os.urandom(64))
    serial = validate([root], ValidateConfig(header_only=True, jobs=1))
    parallel = validate([root], ValidateConfig(header_only=True, jobs=2))
    assert parallel.findings == serial.findings
    assert parallel.summary == serial.summary
    assert serial.summary.files == 300
