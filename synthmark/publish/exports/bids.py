"""A BIDS dataset from a synthmark dataset: NIfTI images under BIDS names, acknowledged.

BIDS needs ``sub-<label>/[ses-<label>/]<datatype>/sub-<label>[_...]_<suffix>.nii[.gz]``
names, and which contrast (``T1w``, ``bold``...) an image is cannot be guessed honestly from
its pixels or its synthmark record. So the export takes each image's BIDS name from the
dataset itself when its path is already BIDS-shaped, or from a mapping file the user
gives (``--bids-map``); an image with neither is an error rather than a made-up name.
Images are copied (or hard/symbolic linked) byte for byte, so their embedded synthmark
records, content bindings and watermarks stay valid. Only NIfTI files can be BIDS imaging
data; other files (DICOM, PNG...) are listed as not exported.

What is written into the output folder ``DIR``:

- ``dataset_description.json``: ``DatasetType`` ``derivative`` when any image is
  synthetic (synthetic images are computed data, not recordings), ``GeneratedBy`` (every
  generator, and synthmark), ``SourceDatasets`` (the generators' training data);
- one JSON sidecar per image with the acknowledgment (``SyntheticData``,
  ``DigitalSourceType``, ``SynthmarkRecordID``, generator);
- ``README.md`` stating the mix, ``participants.tsv``;
- ``synthmark-manifest.json``: the source manifest with the BIDS paths, so
  ``synthmark validate DIR`` and ``synthmark manifest check DIR`` work on the export;
- ``synthmark/``: the mapping (``bids-map.json``), the source manifest and the
  attestation envelopes; ``.bidsignore`` hides synthmark's own files from BIDS tools.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from synthmark import __version__
from synthmark.errors import ConfigError, InputNotFoundError, OutputExistsError, UsageError
from synthmark.publish.exports import ExportFile, ExportSource, join_unique
from synthmark.record.models import AttestationReference, DatasetManifest, ManifestEntry

__all__ = [
    "BIDSIGNORE",
    "BIDS_VERSION",
    "BidsExport",
    "LinkMode",
    "bids_name_problem",
    "export_bids",
    "load_bids_map",
    "load_sidecar_defaults",
]

#: The BIDS version the written metadata follows.
BIDS_VERSION = "1.10.0"

#: Lines of the ``.bidsignore`` written: synthmark's own files are not BIDS files.
BIDSIGNORE = (
    "*.synthmark.json",
    "synthmark-manifest.json",
    "*.dsse.json",
    # A folder is matched by its bare name (bids-validator 3 ignores "synthmark/").
    "/synthmark",
)

LinkMode = Literal["copy", "hardlink", "symlink"]

_LABEL = r"[A-Za-z0-9]+"
_BIDS_PATH = re.compile(
    rf"^sub-(?P<sub>{_LABEL})/(?:ses-(?P<ses>{_LABEL})/)?(?P<datatype>[a-z]+)/"
    rf"sub-(?P<fsub>{_LABEL})(?:_ses-(?P<fses>{_LABEL}))?(?:_[a-z]+-{_LABEL})*"
    rf"_(?P<suffix>[A-Za-z0-9]+)(?P<ext>\.nii(?:\.gz)?)$"
)
_NIFTI = (".nii", ".nii.gz")


def _nifti_extension(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(".nii.gz"):
        return ".nii.gz"
    if lower.endswith(".nii"):
        return ".nii"
    return None


def bids_name_problem(path: str) -> str | None:
    """Why ``path`` is not a BIDS imaging file name, or None when it is one.

    This is a shape check (subject and session folders agree with the file name, a
    datatype folder, a suffix, a NIfTI extension); the BIDS validator judges the rest.
    """
    match = _BIDS_PATH.match(path)
    if match is None:
        return (
            "not of the form sub-<label>/[ses-<label>/]<datatype>/"
            "sub-<label>[_ses-<label>][_<key>-<value>...]_<suffix>.nii[.gz]"
        )
    if match["sub"] != match["fsub"]:
        return "the subject folder and the file name name different subjects"
    if match["ses"] != match["fses"]:
        return "the session folder and the file name name different sessions"
    return None


def load_bids_map(path: Path) -> dict[str, str]:
    """Read a mapping from dataset paths to BIDS paths.

    A ``.json`` file is one object ``{"dataset/path.nii.gz": "sub-01/anat/sub-01_T1w.nii.gz"}``;
    anything else is read as a tab-separated file with a header line ``source<TAB>bids``.

    Raises:
        InputNotFoundError: when the file is absent.
        ConfigError: when it is malformed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputNotFoundError("no such mapping file", path=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the mapping file: {exc}", path=path) from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"mapping file is not JSON: {exc}", path=path) from exc
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ConfigError(
                "a JSON mapping is one object of dataset path -> BIDS path strings", path=path
            )
        return dict(data)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split("\t")[:2] != ["source", "bids"]:
        raise ConfigError("a TSV mapping needs the header line 'source<TAB>bids'", path=path)
    mapping: dict[str, str] = {}
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != 2 or not all(cells):
            raise ConfigError(f"line {number}: expected two tab-separated paths", path=path)
        if cells[0] in mapping:
            raise ConfigError(f"line {number}: {cells[0]} is mapped twice", path=path)
        mapping[cells[0]] = cells[1]
    return mapping


def load_sidecar_defaults(path: Path) -> dict[str, Any]:
    """Read a JSON object of sidecar fields (see ``sidecar_defaults`` of :func:`export_bids`).

    Raises:
        InputNotFoundError: when the file is absent.
        ConfigError: when it is not a JSON object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputNotFoundError("no such sidecar defaults file", path=path) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"sidecar defaults are not readable JSON: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise ConfigError("sidecar defaults must be one JSON object", path=path)
    return data


@dataclass(frozen=True)
class BidsExport:
    """What :func:`export_bids` wrote.

    Attributes:
        dest: The BIDS dataset folder.
        dataset_type: ``"derivative"`` or ``"raw"``.
        exported: (dataset path, BIDS path) of each image written.
        not_exported: (dataset path, reason) of each image that is not BIDS data.
    """

    dest: Path
    dataset_type: str
    exported: tuple[tuple[str, str], ...]
    not_exported: tuple[tuple[str, str], ...]


def _plan(
    source: ExportSource, mapping: dict[str, str]
) -> tuple[list[tuple[ExportFile, str]], list[tuple[str, str]]]:
    known = {item.entry.path for item in source.files}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ConfigError(
            "the mapping names files the manifest does not list: " + ", ".join(unknown[:5]),
            hint="mapping keys are paths relative to the dataset root, as in the manifest",
        )
    planned: list[tuple[ExportFile, str]] = []
    skipped: list[tuple[str, str]] = []
    problems: list[str] = []
    for item in source.files:
        path = item.entry.path
        extension = _nifti_extension(path)
        if extension is None:
            if path in mapping:
                problems.append(f"{path}: only NIfTI files can be BIDS images")
            else:
                skipped.append((path, "not NIfTI; BIDS imaging data must be NIfTI"))
            continue
        target = mapping.get(path, path)
        problem = bids_name_problem(target)
        if problem is None and _nifti_extension(target) != extension:
            problem = f"the BIDS name must keep the file's extension {extension}"
        if problem is not None:
            via = f" (mapped to {target})" if path in mapping else ""
            problems.append(f"{path}{via}: {problem}")
            continue
        planned.append((item, target))
    if problems:
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise UsageError(
            "no valid BIDS name for: " + "; ".join(problems[:5]) + more,
            hint="give --bids-map with a BIDS path for each NIfTI image "
            "(e.g. sub-01/anat/sub-01_T1w.nii.gz), see docs/exports.md",
        )
    targets = [target for _, target in planned]
    if len(set(targets)) != len(targets):
        twice = sorted({t for t in targets if targets.count(t) > 1})
        raise UsageError("two images map to the same BIDS name: " + ", ".join(twice[:5]))
    return planned, skipped


def _sidecar(item: ExportFile) -> dict[str, Any]:
    # Keys are BIDS-style CamelCase; BIDS has no synthetic-data field, so these are
    # synthmark's own (validators accept extra sidecar keys).
    record = item.record
    sidecar: dict[str, Any] = {"SyntheticData": item.synthetic}
    if record is None:
        text = "Real acquisition (synthmark manifest); no synthmark record."
        sidecar["SynthmarkAcknowledgment"] = text
        sidecar["Description"] = text
        return sidecar
    sidecar["DigitalSourceType"] = record.digital_source_type.value
    sidecar["SynthmarkRecordID"] = str(record.record_id)
    gen = record.generator
    if gen is not None:
        generator: dict[str, Any] = {
            "Name": gen.name,
            "Version": gen.version,
            "Manufacturer": gen.manufacturer,
            "Architecture": gen.architecture.value,
        }
        if gen.code is not None:
            generator["CodeURL"] = str(gen.code.url)
        sidecar["SyntheticGenerator"] = generator
    if record.synthetic:
        made_by = f" by {gen.name} {gen.version}" if gen is not None else ""
        text = (
            f"SYNTHETIC image ({record.digital_source_type.term}){made_by}; not a real "
            f"patient acquisition; synthmark record {record.record_id}."
        )
        sidecar["SynthmarkAcknowledgment"] = text
        sidecar["Description"] = text
        if record.intended_use is not None and record.intended_use.prohibited:
            sidecar["SyntheticProhibitedUses"] = [u.value for u in record.intended_use.prohibited]
    else:
        text = f"Real acquisition; synthmark record {record.record_id}."
        sidecar["SynthmarkAcknowledgment"] = text
        sidecar["Description"] = text
    return sidecar


def _identifier(identifier: str) -> dict[str, str]:
    if identifier.startswith("doi:"):
        return {"DOI": identifier}
    return {"URL": identifier}


def _description(source: ExportSource, license_id: str | None) -> dict[str, Any]:
    m = source.manifest
    generated_by: list[dict[str, Any]] = []
    for gen in source.generators():
        entry: dict[str, Any] = {
            "Name": gen.name,
            "Version": gen.version,
            "Description": f"Synthetic image generator ({gen.architecture.value}) by "
            f"{gen.manufacturer}; its images are acknowledged in their sidecars "
            "(SyntheticData) and synthmark records.",
        }
        if gen.code is not None:
            entry["CodeURL"] = str(gen.code.url)
        generated_by.append(entry)
    generated_by.append(
        {
            "Name": "synthmark",
            "Version": __version__,
            "Description": "BIDS export of a synthmark-acknowledged dataset "
            "(`synthmark manifest export --bids`).",
        }
    )
    description: dict[str, Any] = {
        "Name": m.name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative" if m.contains_synthetic else "raw",
        "GeneratedBy": generated_by,
    }
    if license_id is not None:
        description["License"] = license_id
    sources = []
    for dataset in source.training_data():
        ref = _identifier(dataset.identifier)
        ref["Version"] = dataset.version
        sources.append(ref)
    if sources:
        description["SourceDatasets"] = sources
    return description


def _readme(source: ExportSource, skipped: list[tuple[str, str]]) -> str:
    m = source.manifest
    synthetic = sum(1 for item in source.files if item.synthetic)
    lines = [
        f"# {m.name}",
        "",
        f"Version {m.version}, published by {m.publisher.organisation}.",
        "",
    ]
    if synthetic:
        names = join_unique(f"{g.name} {g.version} ({g.manufacturer})" for g in source.generators())
        lines += [
            f"**This dataset contains synthetic images**: {m.synthetic_count} of "
            f"{m.total_count} images ({m.synthetic_proportion:.1%}) "
            "are artificial, made by " + ", ".join(names) + ". They depict no real patient.",
            "",
            "Each image's JSON sidecar says whether it is synthetic (`SyntheticData`), its",
            "IPTC digital source type and its synthmark record id; the record itself is",
            "embedded in the NIfTI header extension and bound to the pixels by hash.",
        ]
    else:
        lines.append("All images are real acquisitions (synthmark manifest).")
    lines += [
        "",
        f"Exported by synthmark {__version__} from the dataset's synthmark manifest; "
        f"{len(skipped)} non-NIfTI file(s) of the source were not exported "
        "(see `synthmark/bids-map.json`).",
        "Check the acknowledgments with `synthmark validate .` (synthmark's own files are",
        "listed in `.bidsignore`).",
        "",
    ]
    return "\n".join(lines)


def _place(src: Path, dest: Path, link: LinkMode) -> None:
    from synthmark.carriers.atomic import atomic_writer

    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and os.path.samefile(src, dest):
        return  # already the same file: unlinking it first would lose the source
    if link in ("symlink", "hardlink"):
        # Make the link under a temporary name, then rename over dest: an existing dest is
        # replaced only once its replacement exists.
        temp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        try:
            if link == "symlink":
                temp.symlink_to(src.resolve())
            else:
                os.link(src, temp)
            os.replace(temp, dest)
            return
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            if link == "symlink":
                raise
            # Hard links cannot cross file systems: fall back to copying.
    with src.open("rb") as reader, atomic_writer(dest) as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)


def _write_json(dest: Path, obj: Any) -> None:
    from synthmark.carriers.atomic import atomic_write_bytes

    dest.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(dest, text.encode("utf-8"))


def _write_text(dest: Path, text: str) -> None:
    from synthmark.carriers.atomic import atomic_write_bytes

    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest, text.encode("utf-8"))


def _stem(bids_path: str) -> str:
    for extension in _NIFTI:
        if bids_path.endswith(extension):
            return bids_path[: -len(extension)]
    return bids_path


def _exported_manifest(
    source: ExportSource, planned: list[tuple[ExportFile, str]]
) -> DatasetManifest:
    entries = [
        ManifestEntry.model_validate(item.entry.model_dump() | {"path": target})
        for item, target in planned
    ]
    synthetic = sum(1 for item, _ in planned if item.synthetic)
    references = [
        AttestationReference.model_validate(
            ref.model_dump()
            | ({"path": f"synthmark/attestations/{ref.path}"} if ref.path is not None else {})
        )
        for ref in source.manifest.attestations
    ]
    return DatasetManifest.model_validate(
        source.manifest.model_dump()
        | {
            "files": entries,
            "total_count": len(entries),
            "synthetic_count": synthetic,
            "synthetic_proportion": synthetic / len(entries) if entries else 0.0,
            "contains_synthetic": synthetic > 0,
            "attestations": references,
        }
    )


def export_bids(
    source: ExportSource,
    dest: Path,
    *,
    mapping: dict[str, str] | None = None,
    link: LinkMode = "copy",
    license_id: str | None = None,
    keep_sidecars: bool = False,
    sidecar_defaults: dict[str, Any] | None = None,
    redact_paths: bool = False,
    overwrite: bool = False,
) -> BidsExport:
    """Write ``source`` as a BIDS dataset into ``dest`` (see the module docstring).

    Args:
        source: The dataset (see :func:`synthmark.publish.exports.load_export_source`).
        dest: Output folder; it must not exist or be empty unless ``overwrite``.
        mapping: Dataset path -> BIDS path, for images whose path is not BIDS-shaped.
        link: Copy the images, or hard-link (falling back to copying across file
            systems), or symlink them.
        license_id: ``License`` of the dataset description.
        keep_sidecars: Merge an existing BIDS sidecar (``<stem>.json`` beside the image)
            into the one written. Off by default: such sidecars often hold header values
            (dates, institution) that the export must not spread unasked.
        sidecar_defaults: Fields written into every image's sidecar unless the kept
            sidecar has them, for what BIDS requires and synthmark cannot know (a
            derivative ``anat`` image needs ``SkullStripped``). synthmark's own keys win.
        redact_paths: Leave the dataset paths out of ``synthmark/bids-map.json`` (only BIDS
            paths and digests remain), when source file names may identify someone.
        overwrite: Allow writing into a non-empty ``dest`` (files are replaced, nothing
            is deleted).

    Raises:
        OutputExistsError: when ``dest`` is not empty and ``overwrite`` is false.
        UsageError: when an image has no valid BIDS name, or two share one.
        ConfigError: when the mapping names files the manifest does not list.
        WriteFailedError: when writing fails.
    """
    from synthmark.record.parsing import pretty_json
    from synthmark.validation.config import MANIFEST_FILE

    mapping = mapping or {}
    if dest.exists() and not dest.is_dir():
        raise OutputExistsError("BIDS output exists and is not a folder", path=dest)
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise OutputExistsError("BIDS output folder is not empty", path=dest)
    out, root = dest.resolve(), source.root.resolve()
    if out == root or out.is_relative_to(root) or root.is_relative_to(out):
        # Overlapping folders would let a placed file replace (or link to) its own source.
        raise UsageError("the BIDS output folder must not contain, or lie inside, the dataset root")
    planned, skipped = _plan(source, mapping)
    dest.mkdir(parents=True, exist_ok=True)
    subjects: set[str] = set()
    map_entries: list[dict[str, Any]] = []
    for item, target in planned:
        src = source.root / item.entry.path
        out = dest / PurePosixPath(target)
        _place(src, out, link)
        sidecar: dict[str, Any] = dict(sidecar_defaults or {})
        existing = src.parent / (_stem(src.name) + ".json")
        if keep_sidecars and existing.is_file():
            try:
                loaded = json.loads(existing.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConfigError(
                    f"BIDS sidecar is not readable JSON: {exc}", path=existing
                ) from exc
            if isinstance(loaded, dict):
                sidecar.update(loaded)
        sidecar.update(_sidecar(item))
        _write_json(dest / (_stem(target) + ".json"), sidecar)
        record_sidecar = src.with_name(src.name + ".synthmark.json")
        if record_sidecar.is_file():
            # The record of a file whose format cannot embed it travels with the file.
            _place(record_sidecar, out.with_name(out.name + ".synthmark.json"), "copy")
        match = _BIDS_PATH.match(target)
        assert match is not None
        subjects.add(match["sub"])
        entry: dict[str, Any] = {
            "bids_path": target,
            "role": item.entry.role.value,
            "sha256": item.sha256,
        }
        if item.entry.record_id is not None:
            entry["record_id"] = str(item.entry.record_id)
        if not redact_paths:
            entry["source_path"] = item.entry.path
        map_entries.append(entry)
    for attestation in source.attestations:
        ref = attestation.reference
        assert ref.path is not None
        _place(source.root / ref.path, dest / "synthmark" / "attestations" / ref.path, "copy")
    _place(source.root / MANIFEST_FILE, dest / "synthmark" / "source-manifest.json", "copy")
    _write_json(
        dest / "synthmark" / "bids-map.json",
        {
            "synthmark_version": __version__,
            "source_manifest_sha256": source.manifest_sha256,
            "files": map_entries,
            "not_exported": [
                {"reason": reason} | ({} if redact_paths else {"source_path": path})
                for path, reason in skipped
            ],
        },
    )
    exported_manifest = _exported_manifest(source, planned)
    _write_text(dest / MANIFEST_FILE, pretty_json(exported_manifest))
    # Describe what the BIDS dataset holds, not the source: a generator whose images were
    # not exported (e.g. DICOM) is not a producer of this dataset.
    exported = dataclasses.replace(
        source, manifest=exported_manifest, files=tuple(item for item, _ in planned)
    )
    description = _description(exported, license_id)
    _write_json(dest / "dataset_description.json", description)
    _write_text(dest / "README.md", _readme(exported, skipped))
    _write_text(
        dest / "participants.tsv",
        "participant_id\n" + "".join(f"sub-{s}\n" for s in sorted(subjects)),
    )
    _write_json(
        dest / "participants.json",
        {
            "participant_id": {
                "Description": "Subject label from the image names; the export carries no "
                "participant data (a synthetic image has no participant)."
            }
        },
    )
    _write_text(dest / ".bidsignore", "\n".join(BIDSIGNORE) + "\n")
    return BidsExport(
        dest=dest,
        dataset_type=str(description["DatasetType"]),
        exported=tuple((item.entry.path, target) for item, target in planned),
        not_exported=tuple(skipped),
    )
