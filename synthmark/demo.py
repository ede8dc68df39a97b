"""The end-to-end demo on real scans that ship with pydicom and nibabel.

It builds a small dataset in a folder: real CT/MR slices and a real MR volume, plus
synthetic images made from them by a simple, honestly labelled algorithmic step
(flipped, shifted, blended and noised slices; a smoothed, noised volume). It stamps the
synthetic ones, verifies everything, and then shows tampering being caught. The function
yields lines of text; the CLI prints them.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthmark.api import stamp, verify
from synthmark.carriers import open_image
from synthmark.record import SynthmarkRecord, created_now
from synthmark.records import parse_record


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo checked, for tests: each expectation and whether it held."""

    folder: Path
    checks: tuple[tuple[str, bool], ...]

    @property
    def ok(self) -> bool:
        """True when every expectation held."""
        return all(held for _, held in self.checks)


def _real_sources() -> dict[str, Path]:
    from nibabel.testing import data_path
    from pydicom.data import get_testdata_file

    sources: dict[str, Path] = {}
    for name in ("CT_small.dcm", "MR_small.dcm"):
        found = get_testdata_file(name, download=False)
        if found is None:  # pragma: no cover - pydicom always ships these two
            raise FileNotFoundError(name)
        sources[name] = Path(str(found))
    sources["anatomical.nii"] = Path(str(data_path)) / "anatomical.nii"
    return sources


def _synthetic_record(modality: str, body_part: str, sources_sha: str) -> SynthmarkRecord:
    data = {
        "spec_version": "1.0",
        "record_id": str(uuid.uuid4()),
        "created": created_now().isoformat().replace("+00:00", "Z"),
        "creator": {"organisation": "synthmark demo", "role": "research_group"},
        "synthetic": True,
        "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic",
        "modality": modality,
        "body_part": body_part,
        "generator": {
            "name": "synthmark-demo-mixer",
            "version": "1",
            "manufacturer": "synthmark demo",
            "architecture": "other",
            "sampling": {"seed": 20261123},
            "conditioning": {"kind": "source_image", "sources": [{"pixel_sha256": sources_sha}]},
        },
        "intended_use": {
            "intended": ["software_testing", "education"],
            "prohibited": ["clinical_diagnosis", "passing_off_as_real"],
        },
        "limitations": [
            "no_real_patient_grounding",
            "incomplete_representation_of_training_data",
            "distribution_shift_and_bias",
            "anatomically_implausible_content_possible",
        ],
        "access": [{"audience": "public", "level": "full"}],
    }
    return parse_record(canonical_json_dict(data))


def canonical_json_dict(data: dict[str, object]) -> bytes:
    """JSON bytes of a plain dict (the demo builds records as dicts, like a user would)."""
    import json

    return json.dumps(data).encode("utf-8")


def _mix(
    array: npt.NDArray[np.generic], rng: np.random.Generator, low: int, high: int
) -> npt.NDArray[np.generic]:
    # A deliberately simple generative step: blend the image with a flipped, shifted copy
    # of itself and add noise. Not a model of anatomy, and labelled as such.
    values = array.astype(np.float64)
    spatial = tuple(range(values.ndim - 3, values.ndim - 1)) if values.ndim >= 3 else (0, 1)
    other = np.flip(values, axis=spatial[1])
    other = np.roll(other, shift=int(rng.integers(-8, 9)), axis=spatial[0])
    weight = float(rng.uniform(0.3, 0.7))
    mixed = weight * values + (1 - weight) * other
    mixed += rng.normal(0.0, 0.02 * float(values.std() or 1.0), size=mixed.shape)
    return np.clip(np.rint(mixed), low, high).astype(array.dtype)


def run_demo(folder: Path) -> Iterator[str | DemoOutcome]:
    """Build the demo dataset in ``folder`` and yield what happens, line by line.

    The last item yielded is a :class:`DemoOutcome`.
    """
    checks: list[tuple[str, bool]] = []
    real_dir = folder / "dataset" / "real"
    synthetic_dir = folder / "dataset" / "synthetic"
    tampered_dir = folder / "tampered"
    for sub in (real_dir, synthetic_dir, tampered_dir):
        sub.mkdir(parents=True, exist_ok=True)
    yield f"Working in {folder}"
    sources = _real_sources()
    for name, path in sources.items():
        shutil.copy(path, real_dir / name)
    yield (
        f"1. Copied {len(sources)} real scans shipped with pydicom and nibabel into "
        f"{real_dir.relative_to(folder)}/: {', '.join(sources)}"
    )

    rng = np.random.default_rng(20261123)
    made: list[Path] = []
    plan = [
        ("CT_small.dcm", "CT", "CHEST", 3),
        ("MR_small.dcm", "MR", "HEAD", 2),
        ("anatomical.nii", "MR", "BRAIN", 1),
    ]
    for name, modality, body_part, count in plan:
        template = real_dir / name
        content = open_image(template).pixels()
        # Stay inside the stored bit range so the pixels re-encode losslessly.
        kind, bits = content.array.dtype.kind, content.bits_stored
        if kind == "i":
            low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        elif kind == "u":
            low, high = 0, (1 << bits) - 1
        else:
            low, high = int(content.array.min()), int(content.array.max())
        from synthmark.binding import digest_pixels

        source_sha = digest_pixels(content).sha256
        for index in range(count):
            synthetic = _mix(content.array, rng, low, high)
            suffix = "".join(template.suffixes)
            dest = synthetic_dir / f"{Path(name).stem.split('.')[0]}-synthetic-{index + 1}{suffix}"
            record = _synthetic_record(modality, body_part, source_sha)
            stamp(template, record, dest=dest, new_pixels=synthetic)
            made.append(dest)
    yield (
        f"2. Made {len(made)} synthetic images by blending, shifting and noising the real "
        "slices (labelled compositeSynthetic, 'not for diagnosis') and stamped them: DICOM "
        "Synthetic Data=YES + Contributing Equipment + private record; NIfTI extension + "
        "descrip; every record bound to its pixels (XXH3-128 + SHA-256)."
    )

    results = [verify(path) for path in made]
    all_ok = all(r.ok for r in results)
    checks.append(("every stamped synthetic image verifies", all_ok))
    yield f"3. synthmark verify on the {len(made)} synthetic images: " + (
        "all pass (record valid, binding matches, standard label agrees)"
        if all_ok
        else "FAILED: " + "; ".join(p.message for r in results for p in r.problems)
    )

    # Tamper 1: a synthetic image's label transplanted onto a real scan.
    donor = made[0]
    donor_image = open_image(donor)
    donor_record = donor_image.read_record()
    assert donor_record is not None
    victim = tampered_dir / "real-CT-with-transplanted-label.dcm"
    real_ct = open_image(real_dir / "CT_small.dcm")
    from synthmark.api import _acknowledgment

    parsed = parse_record(donor_record)
    real_ct.write(victim, record_json=donor_record, ack=_acknowledgment(parsed))
    outcome = verify(victim)
    codes = [p.code for p in outcome.problems]
    caught = "SMV004" in codes
    checks.append(("label transplanted onto a real scan is caught (SMV004)", caught))
    yield "4. Transplanted a synthetic label onto a real CT: verify -> " + _verdict(
        outcome.ok, codes
    )

    # Tamper 2: one pixel of a stamped synthetic image edited by one.
    edited = tampered_dir / "synthetic-with-one-pixel-edited.dcm"
    array = np.array(donor_image.pixels().array, copy=True)
    where = np.unravel_index(array.size // 2, array.shape)
    array[where] = array[where] + 1
    donor_image.write(
        edited, record_json=donor_record, ack=_acknowledgment(parsed), new_pixels=array
    )
    outcome = verify(edited)
    codes = [p.code for p in outcome.problems]
    checks.append(("one edited pixel is caught (SMV004)", "SMV004" in codes))
    yield "5. Changed one pixel of a stamped synthetic CT by 1: verify -> " + _verdict(
        outcome.ok, codes
    )

    # Tamper 3: the label stripped by a de-identification-style pass.
    stripped = tampered_dir / "synthetic-with-label-stripped.dcm"
    _strip_dicom_labels(donor, stripped)
    outcome = verify(stripped)
    codes = [p.code for p in outcome.problems]
    checks.append(("a stripped synthetic image no longer verifies (SMV001)", "SMV001" in codes))
    yield (
        f"6. Stripped the DICOM labels (private block, Synthetic Data, Contributing Equipment) "
        f"from a synthetic CT: verify -> {_verdict(outcome.ok, codes)}. Headers alone cannot "
        "prove such a file is synthetic; the watermark (synthmark mark/detect) is what does."
    )
    outcome_value = DemoOutcome(folder, tuple(checks))
    held = sum(1 for _, ok in checks if ok)
    yield f"Summary: {held}/{len(checks)} expectations held. Files are in {folder}"
    yield outcome_value


def _verdict(ok: bool, codes: list[str]) -> str:
    return ("PASS" if ok else "FAIL") + (f" ({', '.join(codes)})" if codes else "")


def _strip_dicom_labels(source: Path, dest: Path) -> None:
    import pydicom

    dataset = pydicom.dcmread(source)
    dataset.remove_private_tags()
    for keyword in (
        "SyntheticData",
        "ContributingEquipmentSequence",
        "ImageComments",
        "DerivationDescription",
    ):
        if keyword in dataset:
            delattr(dataset, keyword)
    dataset.save_as(dest, enforce_file_format=True)
