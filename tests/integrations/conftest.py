"""Generated-looking volumes and a record template for the generation-time tests."""

from __future__ import annotations

import pytest

from synthmark.record.models import SynthmarkRecord
from synthmark.record.parsing import load_record
from tests.conftest import EXAMPLES


@pytest.fixture(scope="package")
def template() -> SynthmarkRecord:
    """A generator's record template (geometry dropped: it described other images)."""
    record = load_record(EXAMPLES / "valid-diffusion-ct-chest.json")
    return record.model_copy(update={"geometry": None})


def volumes(count: int, shape: tuple[int, ...] = (1, 64, 64, 32), seed: int = 0) -> object:
    """``count`` CT-like float volumes in HU: a smooth gradient plus texture."""
    import torch

    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(-300.0, 400.0, shape[1]).reshape(1, -1, *([1] * (len(shape) - 2)))
    return torch.randn(count, *shape, generator=g) * 30.0 + ramp
