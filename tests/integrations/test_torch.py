"""mark_batch: marks each generated tensor, one record per image, payload = record id."""

from __future__ import annotations

import subprocess
import sys
import uuid

import numpy as np
import pytest
import torch

from synthmark.errors import UsageError
from synthmark.integrations.torch import mark_batch, record_for
from synthmark.record.models import SynthmarkRecord
from synthmark.record.parsing import load_record
from synthmark.watermark import PUBLIC_DETECTION_KEY, detect, generate_key
from tests.conftest import EXAMPLES

from .conftest import volumes


def test_batch_marked_with_linked_records(template: SynthmarkRecord) -> None:
    # Large enough for the 96-bit payload to decode, not only the presence mark.
    batch = volumes(2, (1, 128, 128, 16))
    assert isinstance(batch, torch.Tensor)
    result = mark_batch(batch, template, slice_dims=(1, 2))
    assert isinstance(result.images, torch.Tensor)
    assert result.images.shape == batch.shape and result.images.dtype == batch.dtype
    assert result.marked == 2 and result.notes == [None, None]
    ids = {r.record_id for r in result.records}
    assert len(ids) == 2 and template.record_id not in ids
    for image, record in zip(result.images, result.records, strict=True):
        assert record.binding is None and record.signature is None
        assert record.watermark is not None
        assert record.watermark.key_id == PUBLIC_DETECTION_KEY.key_id
        assert record.watermark.payload_hex == record.record_id.bytes[:8].hex()
        # Detection on the NIfTI-style slice stack (planes of axes 1, 2) finds the payload.
        stack = image[0].permute(2, 0, 1)
        found = detect(stack, None)
        assert found.detected and found.payload is not None
        assert found.payload.record_id_prefix == record.record_id.bytes[:8]
    change = (result.images - batch).abs()
    assert 0 < float(change.mean()) < 5  # a few HU


def test_integer_list_private_key(template: SynthmarkRecord) -> None:
    key = generate_key()
    images = [
        torch.as_tensor(np.asarray(volumes(1, shape, seed=1)[0]).round().astype(np.int16))
        for shape in ((16, 64, 64), (12, 96, 64))
    ]
    result = mark_batch(images, template, key=key, bits_stored=12)
    assert isinstance(result.images, list)
    for before, after, record in zip(images, result.images, result.records, strict=True):
        assert after.dtype == torch.int16 and after.shape == before.shape
        assert record.watermark is not None and record.watermark.key_id == key.key_id
        found = detect(after, [key])
        assert found.detected and found.key_id == key.key_id
        # A small slice proves presence; its payload, when it decodes, is the record's.
        assert found.payload is None or found.payload.record_id_prefix == record.record_id.bytes[:8]


def test_undetectable_mark_is_not_claimed(template: SynthmarkRecord) -> None:
    # Tiny, noisy 8-bit slices at a low strength: the mark could not be found.
    noisy = torch.randint(0, 256, (2, 1, 24, 24), generator=torch.Generator().manual_seed(3))
    noisy = noisy.to(torch.uint8)
    result = mark_batch(noisy, template, strength=0.1)
    assert result.marked == 0
    assert all(note and "not watermarked" in note for note in result.notes)
    assert torch.equal(result.images, noisy)
    assert all(r.watermark is None for r in result.records)


def test_refusals(template: SynthmarkRecord) -> None:
    real = load_record(EXAMPLES / "valid-real-ct-acquisition.json")
    with pytest.raises(UsageError):
        record_for(real)
    with pytest.raises(UsageError):
        mark_batch(torch.zeros(0, 64, 64), template)
    with pytest.raises(UsageError):
        mark_batch(torch.zeros(1, 64, 64), template, slice_dims=(0, 3))
    with pytest.raises(UsageError):
        mark_batch(torch.zeros(1, 64, 64), template, strength=0)
    fixed = uuid.UUID("12345678-1234-4234-8234-123456789abc")
    assert record_for(template, record_id=fixed).record_id == fixed


def test_gradients_and_device_untouched(template: SynthmarkRecord) -> None:
    batch = volumes(1, (16, 64, 64)).requires_grad_(True)  # type: ignore[attr-defined]
    result = mark_batch(batch, template)
    assert isinstance(result.images, torch.Tensor)
    assert result.marked == 1
    assert not result.images.requires_grad
    assert result.images.device == batch.device


def test_imports_are_lazy() -> None:
    """Importing the integrations (or `synthmark card --help`) loads neither torch nor MONAI."""
    code = (
        "import sys\n"
        "import synthmark.integrations.torch, synthmark.integrations.monai\n"
        "from synthmark.cli import main\n"
        "try:\n"
        "    main(['card', '--help'])\n"
        "finally:\n"
        "    print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'monai'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "dataset card" in done.stdout
