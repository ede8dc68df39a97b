"""The end-to-end demo on real scans that ship with pydicom and nibabel.

It builds a small dataset: real CT, MR and a real 4-D MR volume, plus synthetic images
made from them by a simple, honestly labelled algorithmic step (blended, shifted and
noised slices). The synthetic images are stamped and watermarked, a manifest is built,
``validate`` accepts the dataset, and then rejects three tampered copies: a synthetic file
with its label stripped and passed off as real, a synthetic label transplanted onto a real
image, and a manifest that under-declares. The function yields lines of text; the CLI
prints them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthmark.api import stamp, verify
from synthmark.carriers import acknowledgment_for, open_image
from synthmark.publish.manifest import build_manifest
from synthmark.record.models import SynthmarkRecord, created_now
from synthmark.record.parsing import parse_record, pretty_json
from synthmark.validation.config import MANIFEST_FILE, ValidateConfig, apply_policy
from synthmark.validation.engine import validate
from synthmark.validation.report import Report

#: (file shipped with pydicom or nibabel, modality, body part, synthetic images to make)
REAL_SCANS: tuple[tuple[str, str, str, int], ...] = (
    ("J2K_pixelrep_mismatch.dcm", "CT", "HEAD", 2),
    ("693_J2KI.dcm", "CT", "HEAD", 1),
    ("examples_overlay.dcm", "MR", "ABDOMEN", 1),
    ("CT_small.dcm", "CT", "CHEST", 0),
    ("MR_small.dcm", "MR", "HEAD", 0),
    ("example4d.nii.gz", "MR", "BRAIN", 1),
)


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo checked: each expectation and whether it held."""

    folder: Path
    checks: tuple[tuple[str, bool], ...]

    @property
    def ok(self) -> bool:
        """True when every expectation held."""
        return all(held for _, held in self.checks)


def _real_path(name: str) -> Path:
    if name.endswith((".nii", ".nii.gz")):
        import nibabel

        # nibabel.testing.data_path is the same folder, but importing nibabel.testing
        # imports pytest, which a user's install (no dev extras) does not have.
        return Path(nibabel.__file__).resolve().parent / "tests" / "data" / name
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)
    if found is None:  # pragma: no cover - these ship inside pydicom's wheel
        raise FileNotFoundError(name)
    return Path(str(found))


def _synthetic_record(modality: str, body_part: str, source_sha: str) -> SynthmarkRecord:
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
            "conditioning": {"kind": "source_image", "sources": [{"pixel_sha256": source_sha}]},
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
    return parse_record(json.dumps(data))


def _mix(
    array: npt.NDArray[np.generic],
    rng: np.random.Generator,
    low: float,
    high: float,
    spatial: tuple[int, int],
) -> npt.NDArray[np.generic]:
    # A deliberately simple generative step: blend the image with a flipped, shifted copy
    # of itself and add noise. Not a model of anatomy, and labelled as such.
    values = array.astype(np.float64)
    other = np.roll(np.flip(values, axis=spatial[1]), int(rng.integers(-12, 13)), axis=spatial[0])
    weight = float(rng.uniform(0.35, 0.65))
    mixed = weight * values + (1 - weight) * other
    mixed += rng.normal(0.0, 0.01 * float(values.std() or 1.0), size=mixed.shape)
    return np.clip(np.rint(mixed), low, high).astype(array.dtype)


def _stored_range(dtype: np.dtype[np.generic], bits: int) -> tuple[float, float]:
    if dtype.kind == "i":
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    if dtype.kind == "u":
        return 0.0, 2.0**bits - 1
    return float("-inf"), float("inf")


def _codes(report: Report) -> list[str]:
    return sorted({f.code for f in report.findings if f.severity.value == "error"})


def _describe(report: Report, path_hint: str | None = None) -> str:
    errors = [f for f in report.findings if f.severity.value == "error"]
    if not errors:
        return "PASSED (exit 0)"
    shown = []
    for finding in errors[:4]:
        where = finding.path or "dataset"
        shown.append(f"{finding.code} {finding.name} at {where}")
    return "REJECTED (exit 1): " + "; ".join(shown)


def run_demo(folder: Path) -> Iterator[str | DemoOutcome]:
    """Build the demo dataset in ``folder`` and yield what happens, line by line.

    The last item yielded is a :class:`DemoOutcome`.
    """
    checks: list[tuple[str, bool]] = []
    dataset = folder / "dataset"
    real_dir, synthetic_dir = dataset / "real", dataset / "synthetic"
    for sub in (real_dir, synthetic_dir):
        sub.mkdir(parents=True, exist_ok=True)
    yield f"Working in {folder}"
    for name, *_ in REAL_SCANS:
        shutil.copy(_real_path(name), real_dir / name)
    yield (
        f"1. Copied {len(REAL_SCANS)} real scans shipped with pydicom and nibabel into "
        "dataset/real/ (CT and MR slices, a 4-D MR volume)."
    )

    rng = np.random.default_rng(20261123)
    made: list[Path] = []
    fidelity: dict[str, list[float]] = {"CT": [], "MR": []}
    siblings: dict[str, list[npt.NDArray[np.float64]]] = {}
    for name, modality, body_part, count in REAL_SCANS:
        if count == 0:
            continue
        template = real_dir / name
        content = open_image(template).pixels()
        low, high = _stored_range(content.array.dtype, content.bits_stored)
        spatial = (1, 2) if content.layout.startswith("frames") else (0, 1)
        from synthmark.binding import digest_pixels

        source_sha = digest_pixels(content).sha256
        for index in range(count):
            pixels = _mix(content.array, rng, low, high, spatial)
            span = float(np.ptp(content.array)) or 1.0
            error = pixels.astype(np.float64) - content.array.astype(np.float64)
            fidelity[modality].append(10 * np.log10(span**2 / max(float(np.mean(error**2)), 1e-12)))
            siblings.setdefault(name, []).append(pixels.astype(np.float64) / span)
            stem = name.split(".")[0]
            suffix = name[len(stem) :]
            dest = synthetic_dir / f"{stem}-synthetic-{index + 1}{suffix}"
            from synthmark.watermark import PUBLIC_DETECTION_KEY

            stamp(
                template,
                _synthetic_record(modality, body_part, source_sha),
                dest=dest,
                new_pixels=pixels,
                watermark=PUBLIC_DETECTION_KEY,
            )
            made.append(dest)
    yield (
        f"2. Made {len(made)} synthetic images by blending, shifting and noising real ones, "
        "labelled honestly (compositeSynthetic, 'not for diagnosis'), watermarked with the "
        "public detection key and stamped: DICOM Synthetic Data=YES + Contributing Equipment "
        "+ private record; NIfTI extension + descrip; records bound to the marked pixels."
    )
    envelopes, trust = _attest(folder, dataset, made, fidelity, siblings)
    yield (
        f"3. Signed {len(envelopes)} lifecycle attestations (data collection, processing, "
        "the mixer's 'training' and its evaluation, measured here) as in-toto statements in "
        f"DSSE envelopes under dataset/attestations/, and a trust file {trust} that trusts "
        "the demo key for those stages."
    )
    manifest = build_manifest(
        dataset,
        name="synthmark demo dataset",
        version="1.0.0",
        publisher="synthmark demo",
        config=ValidateConfig(jobs=1),
        attestations=envelopes,
    )
    (dataset / MANIFEST_FILE).write_text(pretty_json(manifest), encoding="utf-8")
    yield (
        f"4. Built dataset/{MANIFEST_FILE}: {manifest.total_count} images, "
        f"{manifest.synthetic_count} synthetic ({manifest.synthetic_proportion:.0%}), "
        f"referencing the {len(manifest.attestations)} attestations by digest."
    )

    verified = [verify(path) for path in made]
    all_ok = all(v.ok and v.watermark.value == "pass" for v in verified)
    checks.append(("every synthetic image verifies, watermark included", all_ok))
    yield "5. synthmark verify on the synthetic images: " + (
        "all pass (record valid, binding matches, standard label agrees, watermark found)"
        if all_ok
        else "FAILED: " + "; ".join(p.message for v in verified for p in v.problems)
    )

    config = ValidateConfig(jobs=1)
    report = validate([dataset], config)
    checks.append(("the acknowledged dataset passes validation", not report.failed))
    yield f"6. synthmark validate dataset/ -> {_describe(report)}"
    publish = apply_policy(replace(config, trust=trust), "publish", folder)
    report = validate([dataset], publish)
    checks.append(("the attested dataset passes the publish policy", not report.failed))
    yield (
        "7. synthmark validate dataset/ --policy publish --trust trust.json (every required "
        f"stage attested by a trusted key, subjects unchanged) -> {_describe(report)}"
    )

    victim = made[0]
    relative = victim.relative_to(dataset).as_posix()

    # Tampered copy A: a synthetic file stripped of its labels and passed off as real.
    copy_a = folder / "tampered-A-stripped"
    shutil.copytree(dataset, copy_a)
    passed_off = copy_a / "real" / "CT-from-another-site.dcm"
    strip_dicom_labels(copy_a / relative, passed_off)
    (copy_a / relative).unlink()
    _rewrite_manifest(copy_a, drop={relative}, add_real={"real/CT-from-another-site.dcm"})
    report = validate([copy_a], config)
    caught = "SM501" in _codes(report) and any(
        f.code == "SM501" and f.path == "real/CT-from-another-site.dcm" for f in report.findings
    )
    checks.append(("stripped synthetic file caught by its watermark (SM501)", caught))
    yield (
        "8. Copy A: a synthetic CT stripped of every label (private block, Synthetic Data, "
        "Contributing Equipment) and listed as real -> " + _describe(report)
    )

    # Tampered copy B: a synthetic label transplanted onto a real scan.
    copy_b = folder / "tampered-B-transplant"
    shutil.copytree(dataset, copy_b)
    donor = open_image(victim)
    record_json = donor.read_record()
    assert record_json is not None
    real_target = copy_b / "real" / "CT_small.dcm"
    open_image(real_target).write(
        real_target, record_json=record_json, ack=acknowledgment_for(parse_record(record_json))
    )
    report = validate([copy_b], config)
    caught = any(f.code == "SM201" and f.path == "real/CT_small.dcm" for f in report.findings)
    checks.append(("label transplanted onto a real scan caught (SM201)", caught))
    yield "9. Copy B: a synthetic label transplanted onto a real CT -> " + _describe(report)

    # Tampered copy C: the manifest under-declares the synthetic images.
    copy_c = folder / "tampered-C-underdeclared"
    shutil.copytree(dataset, copy_c)
    _rewrite_manifest(copy_c, relabel_real={relative})
    report = validate([copy_c], config)
    caught = "SM503" in _codes(report)
    checks.append(("under-declaring manifest caught (SM503)", caught))
    yield "10. Copy C: the manifest declares one synthetic image fewer -> " + _describe(report)

    # Tampered copy D: the generator description changed after its training was attested.
    copy_d = folder / "tampered-D-attested-generator-changed"
    shutil.copytree(dataset, copy_d)
    generator = copy_d / "generator" / "generator.json"
    generator.write_text(generator.read_text(encoding="utf-8").replace('"1"', '"2"'))
    report = validate([copy_d], publish)
    caught = {"SM301", "SM304"} <= set(_codes(report))
    checks.append(("attested subject changed after signing caught (SM304, SM301)", caught))
    yield (
        "11. Copy D: the generator description edited after its training was attested, "
        "validated with --policy publish -> " + _describe(report)
    )

    held = sum(1 for _, ok in checks if ok)
    yield (
        f"Summary: {held}/{len(checks)} expectations held. Try: synthmark validate "
        f"{copy_a} --format html -o report.html"
    )
    yield DemoOutcome(folder, tuple(checks))


def _attest(
    folder: Path,
    dataset: Path,
    made: list[Path],
    fidelity: dict[str, list[float]],
    siblings: dict[str, list[npt.NDArray[np.float64]]],
) -> tuple[list[Path], Path]:
    from synthmark.demo.chain import sign_demo_chain
    from synthmark.record.vocab import LifecycleStage

    generator_dir = dataset / "generator"
    generator_dir.mkdir(exist_ok=True)
    (generator_dir / "generator.json").write_text(
        json.dumps(
            {
                "name": "synthmark-demo-mixer",
                "version": "1",
                "seed": 20261123,
                "blend": [0.35, 0.65],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    pairs = [a for a in siblings.values() if len(a) > 1]
    evaluation = {
        "psnr": float(np.mean(fidelity["CT"] + fidelity["MR"])),
        "psnr_ct": float(np.mean(fidelity["CT"])),
        "psnr_mr": float(np.mean(fidelity["MR"])),
        "mae_siblings": float(np.mean([np.abs(a[0] - a[1]).mean() for a in pairs]))
        if pairs
        else 0.0,
        "proportion": len(made) / (len(made) + len(REAL_SCANS)),
    }
    (generator_dir / "evaluation.json").write_text(json.dumps(evaluation, indent=2))
    reals = sorted((dataset / "real").iterdir())
    subjects = {
        LifecycleStage.DATA_COLLECTION: reals,
        LifecycleStage.DATA_PROCESSING: made,
        LifecycleStage.MODEL_TRAINING: [generator_dir / "generator.json"],
        LifecycleStage.MODEL_EVALUATION: [generator_dir / "evaluation.json"],
    }
    return sign_demo_chain(dataset, folder / "keys", subjects, evaluation)


def _rewrite_manifest(
    root: Path,
    *,
    drop: set[str] = frozenset(),  # type: ignore[assignment]
    add_real: set[str] = frozenset(),  # type: ignore[assignment]
    relabel_real: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    # What a careless or dishonest publisher would do: keep the manifest self-consistent
    # so that only comparing it with the files can reveal the lie.
    from synthmark.binding import digest_pixels

    path = root / MANIFEST_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    files = [f for f in data["files"] if f["path"] not in drop]
    for entry in files:
        if entry["path"] in relabel_real:
            entry["role"] = "real"
            entry.pop("record_id", None)
    for added in sorted(add_real):
        digest = digest_pixels(open_image(root / added).pixels())
        files.append(
            {
                "path": added,
                "role": "real",
                "pixel_xxh3_128": digest.xxh3_128,
                "pixel_sha256": digest.sha256,
            }
        )
    synthetic = sum(1 for f in files if f["role"] == "synthetic")
    data.update(
        files=files,
        total_count=len(files),
        synthetic_count=synthetic,
        synthetic_proportion=synthetic / len(files),
        contains_synthetic=synthetic > 0,
    )
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def strip_dicom_labels(source: Path, dest: Path) -> None:
    """Write ``source`` to ``dest`` without any synthetic label, as a careless or hostile
    pipeline would: private tags, Synthetic Data, Contributing Equipment, Image Comments,
    Derivation Description and Source Image Sequence removed, Image Type set to ORIGINAL."""
    import pydicom

    dataset = pydicom.dcmread(source)
    dataset.remove_private_tags()
    for keyword in (
        "SyntheticData",
        "ContributingEquipmentSequence",
        "ImageComments",
        "DerivationDescription",
        "SourceImageSequence",
    ):
        if keyword in dataset:
            delattr(dataset, keyword)
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    dataset.save_as(dest, enforce_file_format=True)
