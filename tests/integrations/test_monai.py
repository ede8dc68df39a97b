"""A MONAI generation pipeline end to end: mark, SaveImage as NIfTI, stamp, validate.

Skipped when MONAI is not installed (it is the optional extra ``synthmark[monai]``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from synthmark.api import read_record, verify
from synthmark.errors import OptionalDependencyError, UsageError
from synthmark.record.models import SynthmarkRecord
from synthmark.validation.config import ValidateConfig
from synthmark.validation.engine import validate
from synthmark.validation.report import Severity

from .conftest import volumes

monai = pytest.importorskip("monai")

from monai.data import MetaTensor  # noqa: E402
from monai.transforms import Compose, GaussianSmooth, SaveImage, SaveImaged  # noqa: E402

from synthmark.integrations.monai import (  # noqa: E402
    RECORD_META_KEY,
    STAMPED_META_KEY,
    MarkSynthetic,
    MarkSyntheticd,
    StampSaved,
    StampSavedd,
)


def _saver(folder: Path, dtype: Any) -> SaveImage:
    return SaveImage(
        output_dir=folder,
        output_postfix="",
        output_ext=".nii.gz",
        output_dtype=dtype,
        separate_folder=False,
        print_log=False,
        savepath_in_metadict=True,
    )


def _generated(count: int, seed: int, prefix: str) -> list[MetaTensor]:
    """What a generator hands over: channel-first (1, 64, 64, 32) volumes, no source file."""
    batch = volumes(count, (1, 64, 64, 32), seed=seed)
    assert isinstance(batch, torch.Tensor)
    return [
        MetaTensor(
            image,
            affine=torch.diag(torch.tensor([0.8, 0.8, 2.5, 1.0])),
            meta={"filename_or_obj": f"{prefix}{index:02d}"},
        )
        for index, image in enumerate(batch)
    ]


def test_pipeline_end_to_end(template: SynthmarkRecord, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    stamped: list[dict[str, Any]] = []
    # float32 and int16 outputs: SaveImage casts the marked float volumes on write.
    for dtype, seed in ((np.float32, 1), (np.int16, 2)):
        pipeline = Compose([MarkSynthetic(template), _saver(out, dtype), StampSaved()])
        prefix = f"synth-{np.dtype(dtype).name}-"
        for image in _generated(1, seed, prefix):
            result = pipeline(image)
            assert RECORD_META_KEY in result.meta
            stamped.append(result.meta[STAMPED_META_KEY])
    # A step after marking that smooths the volume away from the mark (like a resampling
    # write): the written file is re-marked before it is stamped.
    damaged = Compose(
        [MarkSynthetic(template), GaussianSmooth(sigma=3.0), _saver(out, np.int16), StampSaved()]
    )
    result = damaged(_generated(1, 3, "smoothed-")[0])
    stamped.append(result.meta[STAMPED_META_KEY])
    assert [s["remarked"] for s in stamped] == [False, False, True]
    assert all(s["watermarked"] and s["note"] is None for s in stamped)

    files = sorted(out.glob("*.nii.gz"))
    assert len(files) == 3
    assert {Path(s["path"]) for s in stamped} == set(files)
    report = validate([out], ValidateConfig(jobs=1))
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    assert errors == [], errors
    assert report.internal_errors == 0
    assert report.summary.files == 3
    assert report.summary.unreadable == 0
    assert report.summary.synthetic_acknowledged == 3
    assert report.summary.watermarked == 3
    for path, summary in zip(sorted(files), sorted(stamped, key=lambda s: s["path"]), strict=True):
        # The watermark was detected by validate above; here the binding, per file.
        checked = verify(path, check_watermark=False)
        assert checked.ok, checked.problems
        assert (checked.synthetic, checked.binding.value) == (True, "pass")
        record = read_record(path).record
        assert str(record.record_id) == summary["record_id"] == checked.record_id
        assert record.watermark is not None
        assert record.watermark.payload_hex == record.record_id.bytes[:8].hex()
    assert len({s["record_id"] for s in stamped}) == 3


def test_dictionary_transforms(template: SynthmarkRecord, tmp_path: Path) -> None:
    pipeline = Compose(
        [
            MarkSyntheticd("image", template),
            SaveImaged(
                "image",
                output_dir=tmp_path,
                output_postfix="",
                separate_folder=False,
                print_log=False,
                output_dtype=np.int16,
                savepath_in_metadict=True,
            ),
            StampSavedd("image"),
        ]
    )
    data = pipeline({"image": _generated(1, 4, "dict-")[0]})
    written = Path(data["image"].meta[STAMPED_META_KEY]["path"])
    assert written.parent == tmp_path and verify(written, check_watermark=False).ok


def test_misuse_is_explained(template: SynthmarkRecord, tmp_path: Path) -> None:
    marked = MarkSynthetic(template)(_generated(1, 5, "x")[0])
    with pytest.raises(UsageError, match="saved_to"):
        StampSaved()(marked)
    with pytest.raises(UsageError, match="MetaTensor"):
        StampSaved()(np.zeros((1, 4, 4)))


def test_missing_monai_is_an_optional_dependency_error(
    template: SynthmarkRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "monai", None)  # makes `import monai` fail
    with pytest.raises(OptionalDependencyError, match="MONAI"):
        MarkSynthetic(template)
