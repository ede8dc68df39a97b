"""Dataset validation: walk, inspect each file once, run the rules, return a Report.

Work is split so that pixel arrays never cross a process boundary: a worker decodes a
file, digests and watermark-checks it, and returns small :class:`FileFacts`; the parent
applies the rules as facts stream in and keeps only a compact index for dataset rules.
Nothing here prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import json
import multiprocessing
import os
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISLNK
from typing import Any, Protocol

from synthmark.carriers.limits import Limits, applied
from synthmark.carriers.sidecar import SIDECAR_SUFFIX
from synthmark.errors import ResourceLimitError, SynthmarkError, UnsupportedFormatError
from synthmark.rules import RULES_BY_CODE, Rule
from synthmark.validation.config import IGNORE_FILE, MANIFEST_FILE, ValidateConfig
from synthmark.validation.report import (
    DatasetSummary,
    FileFacts,
    Finding,
    Report,
    Thumbnail,
    WatermarkFacts,
)

#: Bumped whenever FileFacts or how they are computed changes: old cache entries are ignored.
FACTS_VERSION = 2
_BATCH = 8
_SKIP_NAMES = {MANIFEST_FILE, IGNORE_FILE, "synthmark.toml"}
# Attestation envelopes are synthmark's own files, checked through the manifest (SM30x).
_SKIP_SUFFIXES = (SIDECAR_SUFFIX, ".dsse.json")
INTERNAL_ERROR = "SMX070"
#: Files handed to a worker at once with --header-only: a file then costs well under a
#: millisecond, so small batches spent the parent's (shared) core on pool traffic.
_HEADER_BATCH = 128
_IGNORED_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class WalkItem:
    """One path found by the walk.

    Attributes:
        path: Absolute path.
        root: The dataset root it was found under.
        relative: POSIX path relative to the root.
        absent: Why the content is absent (``"broken-symlink"``, ``"annex-pointer"``,
            ``"lfs-pointer"``), or ``None``.
        sidecar: Whether the folder listing showed a ``<name>.synthmark.json`` entry,
            ``None`` when unknown; ``False`` spares probing for one per file.
    """

    path: Path
    root: Path
    relative: str
    absent: str | None = None
    sidecar: bool | None = None


# --------------------------------------------------------------------------------- walk


def _ignore_spec(root: Path, config: ValidateConfig) -> Callable[[str, bool], bool]:
    import pathspec

    patterns = list(config.exclude)
    ignore_file = root / IGNORE_FILE
    if ignore_file.is_file():
        patterns += ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
    if not any(line.strip() for line in patterns):
        # Nothing to match: skip pathspec's per-path work, which with --jobs runs in the
        # parent beside the workers for every file of the tree.
        return lambda relative, is_dir: False
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)

    def ignored(relative: str, is_dir: bool) -> bool:
        return spec.match_file(relative + "/" if is_dir else relative)

    return ignored


def _absent_reason(path: Path) -> str | None:
    # One lstat for a regular file (the common case) instead of pathlib's lstat and stat:
    # with --jobs this runs in the parent, which shares the cores with the workers. Errors
    # are those of Path.is_symlink / Path.exists: missing-like ones are ignored.
    name = os.fspath(path)
    try:
        info = os.lstat(name)
    except OSError as exc:
        if exc.errno not in _IGNORED_ERRNOS:
            raise
        return None
    if S_ISLNK(info.st_mode):
        try:
            info = os.stat(name)
        except OSError as exc:
            if exc.errno not in _IGNORED_ERRNOS:
                raise
            target = os.readlink(name)
            return "annex-pointer" if "annex/objects" in target else "broken-symlink"
    size = info.st_size
    if size < 1024:
        try:
            head = path.read_bytes()[:200]
        except OSError:
            return None
        if head.startswith(b"version https://git-lfs.github.com/spec/"):
            return "lfs-pointer"
        if head.startswith(b"/annex/objects/") or b"/.git/annex/objects/" in head:
            return "annex-pointer"
    return None


def _fold(name: str) -> str:
    return name.casefold() if name.isascii() else unicodedata.normalize("NFC", name).casefold()


def walk(roots: Iterable[Path], config: ValidateConfig) -> Iterator[WalkItem]:
    """Yield the files to check under ``roots``, streaming, in a deterministic order.

    Folders are walked sorted, symlinks followed (DataLad and git-annex trees are
    symlinks) with loop protection; hidden entries, sidecars, the manifest and the
    configuration files are skipped; ``exclude`` patterns and ``.synthmarkignore``
    (gitignore syntax) apply relative to each root.
    """
    for root in roots:
        if not root.exists() and not root.is_symlink():
            yield WalkItem(root, root.parent, root.name, absent="missing")
            continue
        if not root.is_dir():
            yield WalkItem(root, root.parent, root.name, _absent_reason(root))
            continue
        ignored = _ignore_spec(root, config)
        seen_dirs: set[tuple[int, int]] = set()
        for folder, dirs, files in os.walk(root, followlinks=True):
            here = Path(folder)
            try:
                stat = here.stat()
            except OSError:
                dirs[:] = []
                continue
            if (stat.st_dev, stat.st_ino) in seen_dirs:
                dirs[:] = []  # a symlink loop
                continue
            seen_dirs.add((stat.st_dev, stat.st_ino))
            # Any entry that might open as a sidecar (a folder too, which fails to read;
            # case and Unicode form may not matter to the file system) means: probe for it.
            listed = {_fold(entry) for entry in (*files, *dirs)}
            base = here.relative_to(root).as_posix()
            prefix = "" if base == "." else base + "/"
            dirs[:] = sorted(
                d for d in dirs if not d.startswith(".") and not ignored(prefix + d, True)
            )
            for name in sorted(files):
                if name.startswith(".") or name.endswith(_SKIP_SUFFIXES) or name in _SKIP_NAMES:
                    continue
                relative = prefix + name
                if ignored(relative, False):
                    continue
                path = here / name
                sidecar = _fold(name + SIDECAR_SUFFIX) in listed
                yield WalkItem(path, root, relative, _absent_reason(path), sidecar)


# ------------------------------------------------------------------------------ workers


@dataclass(frozen=True)
class RunSettings:
    header_only: bool
    keyring: Path | None
    fpr: float
    thumbnails: bool
    real_thumbnails: bool
    single_thread: bool
    trust: Path | None = None
    #: Resource limits each file is read under; None: those in effect in the process.
    limits: Limits | None = None


_WORKER_KEYS: list[Any] | None = None
_WORKER_SETTINGS: RunSettings | None = None


def worker_settings() -> RunSettings | None:
    """The settings this worker process was initialised with (None before)."""
    return _WORKER_SETTINGS


def _keys(settings: RunSettings) -> list[Any]:
    global _WORKER_KEYS
    if _WORKER_KEYS is None:
        from synthmark.watermark import PUBLIC_DETECTION_KEY, load_keyring

        keys = [PUBLIC_DETECTION_KEY]
        if settings.keyring is not None:
            keys += [k for k in load_keyring(settings.keyring) if k != PUBLIC_DETECTION_KEY]
        _WORKER_KEYS = keys
        if settings.single_thread:
            # Several worker processes each running many torch threads on 2 cores only
            # thrash. Done here, on the first detection, not in init_worker: importing
            # torch costs each worker about 1 s of start-up, for nothing with --header-only.
            with contextlib.suppress(ImportError):
                import torch

                torch.set_num_threads(1)
    return _WORKER_KEYS


_WORKER_TRUST: dict[Path, Any] = {}


def _trust(settings: RunSettings) -> Any:
    """The trust policy, parsed once per process (validate() already proved it loads)."""
    if settings.trust is None:
        return None
    if settings.trust not in _WORKER_TRUST:
        from synthmark.provenance import load_trust

        _WORKER_TRUST[settings.trust] = load_trust(settings.trust)
    return _WORKER_TRUST[settings.trust]


def init_worker(settings: RunSettings) -> None:
    global _WORKER_SETTINGS, _WORKER_KEYS
    _WORKER_SETTINGS = settings
    _WORKER_KEYS = None
    if settings.single_thread:
        # Read by torch when detection first imports it (see _keys).
        os.environ["OMP_NUM_THREADS"] = "1"


def _inspect_batch(items: list[WalkItem]) -> list[FileFacts]:
    assert _WORKER_SETTINGS is not None
    return [file_facts(item, _WORKER_SETTINGS) for item in items]


def file_facts(item: WalkItem, settings: RunSettings) -> FileFacts:
    """Gather the facts of one file (runs in a worker). Never raises."""
    try:
        # Per file, not per worker: in-process runs must leave the caller's limits alone.
        with applied(settings.limits):
            return _inspect(item, settings)
    except SynthmarkError as exc:
        return FileFacts(item.relative, error_code=exc.code, error_message=exc.message)
    except Exception as exc:  # a bug: reported as such, never as a verdict
        return FileFacts(
            item.relative,
            error_code=INTERNAL_ERROR,
            error_message=f"internal error (a bug): {type(exc).__name__}: {exc}",
        )


def _inspect(item: WalkItem, settings: RunSettings) -> FileFacts:
    from synthmark.inspect import CheckState, InspectOptions, inspect_file

    if item.absent is not None:
        return FileFacts(
            item.relative,
            error_code="absent:" + item.absent,
            error_message=f"content absent ({item.absent})",
        )
    full = not settings.header_only
    seen = inspect_file(
        item.path,
        InspectOptions(
            watermark_keys=tuple(_keys(settings)) if full else (),
            fpr=settings.fpr,
            trust=_trust(settings),
            decode_pixels=full,
            detect_watermark=full,
            label_evidence=False,
            sidecar_absent=item.sidecar is False,
            keep_view=settings.thumbnails,
        ),
    )
    error = seen.error or seen.pixels_error
    if error is not None:
        return FileFacts(item.relative, error_code=error.code, error_message=error.message)
    label = seen.standard_label.synthetic if seen.standard_label is not None else None
    facts: dict[str, Any] = {
        "path": item.relative,
        "format": seen.format,
        "size": seen.size,
        "standard_label": label,
    }
    record = seen.record
    if seen.record_present:
        facts.update(
            record_present=True,
            record_source=seen.record_source,
            sidecar_disagrees=seen.sidecar_disagrees,
            record_problems=seen.record_problems,
            record_unparseable=seen.record_unparseable is not None,
        )
    if record is not None:
        facts.update(
            record_id=str(record.record_id),
            synthetic=record.synthetic,
            source_type=record.digital_source_type.term,
            record_watermark_key_id=record.watermark.key_id if record.watermark else None,
        )
    facts["binding"] = seen.binding.value
    if seen.signature is not None:
        facts.update(
            signature=seen.signature.state, signature_message=seen.signature.message or None
        )
    if seen.credentials == CheckState.FAIL:
        errors = [p.message for p in seen.credentials_problems if p.severity == "error"]
        facts.update(credentials="fail", credentials_message="; ".join(errors) or None)
    elif seen.credentials == CheckState.PASS:
        facts["credentials"] = "pass"
    if not full:
        return FileFacts(**facts)
    if seen.digest is not None:
        facts.update(
            pixel_xxh3_128=seen.digest.xxh3_128,
            pixel_sha256=seen.digest.sha256,
            megapixels=seen.megapixels,
        )
    found = seen.detection
    if found is None:
        watermark = WatermarkFacts(False, 1.0, 0.0)  # too small for a mark: a null statistic
    else:
        prefix = found.payload.record_id_prefix.hex() if found.payload is not None else None
        watermark = WatermarkFacts(
            detected=found.detected,
            p_value=float(found.p_value),
            z=float(found.z),
            key_id=found.key_id if found.detected else None,
            payload_record_prefix=prefix,
        )
    facts["watermark"] = watermark
    synthetic = facts.get("synthetic") is True or label is True
    wanted = synthetic or watermark.detected or settings.real_thumbnails
    if settings.thumbnails and wanted and seen.view is not None:
        facts["thumbnail_png"] = thumbnail_png(seen.view.stack)
    return FileFacts(**facts)


def thumbnail_png(stack: Any) -> bytes:
    import numpy as np
    from PIL import Image

    plane = np.asarray(stack[stack.shape[0] // 2], dtype=np.float64)
    if plane.ndim == 3:
        plane = plane[..., :3].mean(axis=-1)
    low, high = np.percentile(plane, [1, 99]) if plane.size else (0.0, 1.0)
    scaled = np.clip((plane - low) / max(high - low, 1e-9) * 255.0, 0, 255).astype(np.uint8)
    image = Image.fromarray(scaled)
    image.thumbnail((128, 128))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# -------------------------------------------------------------------------------- cache


class FactsCache:
    """Facts of unchanged files, keyed by file and sidecar stat plus the run's settings."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(folder / f"facts-v{FACTS_VERSION}.sqlite")
        self._db.execute("CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, facts TEXT)")
        self._fingerprint = fingerprint
        self._pending: list[tuple[str, str]] = []
        self.hits = 0

    def key(self, item: WalkItem) -> str | None:
        try:
            stat = item.path.stat()
        except OSError:
            return None
        try:
            side = (item.path.parent / (item.path.name + SIDECAR_SUFFIX)).stat()
            side_key = f"{side.st_size}:{side.st_mtime_ns}:{side.st_ino}"
        except OSError:
            side_key = "-"
        real = os.path.realpath(item.path)
        raw = (
            f"{self._fingerprint}|{real}|{item.relative}|{stat.st_size}|{stat.st_mtime_ns}|"
            f"{stat.st_ctime_ns}|{stat.st_ino}|{side_key}"
        )
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, key: str) -> FileFacts | None:
        row = self._db.execute("SELECT facts FROM facts WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self.hits += 1
        return facts_from_json(json.loads(row[0]))

    def put(self, key: str, facts: FileFacts) -> None:
        if facts.error_code == INTERNAL_ERROR:
            return  # a bug is never cached as if it were a fact
        self._pending.append((key, json.dumps(facts_to_json(facts))))
        if len(self._pending) >= 500:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?)", self._pending)
            self._db.commit()
            self._pending.clear()

    def close(self) -> None:
        self.flush()
        self._db.close()


def facts_to_json(facts: FileFacts) -> dict[str, Any]:
    data = dataclasses.asdict(facts)
    if facts.thumbnail_png is not None:
        data["thumbnail_png"] = facts.thumbnail_png.hex()
    return data


def facts_from_json(data: dict[str, Any]) -> FileFacts:
    if data.get("watermark") is not None:
        data["watermark"] = WatermarkFacts(**data["watermark"])
    if data.get("thumbnail_png") is not None:
        data["thumbnail_png"] = bytes.fromhex(data["thumbnail_png"])
    data["record_problems"] = tuple(tuple(p) for p in data.get("record_problems", ()))
    return FileFacts(**data)


# -------------------------------------------------------------------------------- rules


@dataclass
class _Manifest:
    root: Path
    parsed: Any | None  # DatasetManifest, or None when invalid
    problem: str | None
    entries: dict[str, Any]


@dataclass
class _Tally:
    """What the dataset rules need of one root: counts, and verdicts only of the paths the
    manifest lists (already in memory) or that it misses (each one is a finding anyway)."""

    synthetic: int = 0
    listed: dict[str, tuple[bool, str | None]] = field(default_factory=dict)
    unlisted: dict[str, bool] = field(default_factory=dict)


class _Run:
    """Applies rules to streaming facts and keeps a compact tally for the dataset rules."""

    def __init__(self, config: ValidateConfig, trust: Any = None) -> None:
        self.config = config
        self.trust = trust
        self.enabled = {rule.code: rule for rule in config.enabled_rules()}
        self.findings: list[Finding] = []
        self.tallies: dict[Path, _Tally] = {}
        self.internal_errors = 0
        self.files = 0
        self.unreadable = 0
        self.synthetic = 0
        self.watermarked = 0
        self.megapixels = 0.0
        self.thumbnails: list[Thumbnail] = []

    def shown(self, path: str | None) -> str | None:
        if path is None or not self.config.redact_paths:
            return path
        return "redacted-" + hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]

    def add(self, code: str, path: str | None, message: str) -> None:
        rule = self.enabled.get(code)
        if rule is None:
            return
        severity = self.config.severity_for(rule, path)
        if severity is None:
            return
        self.findings.append(Finding(code, rule.name, severity, self.shown(path), message))

    def file(self, root: Path, facts: FileFacts, manifest: _Manifest | None) -> None:
        path = facts.path
        if facts.error_code is not None:
            if facts.error_code == UnsupportedFormatError.code:
                self.add("SM903", path, "not a supported image format; ignored")
                return
            self.files += 1
            self.unreadable += 1
            if facts.error_code.startswith("absent:"):
                self.add("SM902", path, facts.error_message or "content absent")
            else:
                if facts.error_code == INTERNAL_ERROR:
                    self.internal_errors += 1
                code = "SM904" if facts.error_code == ResourceLimitError.code else "SM901"
                self.add(code, path, f"{facts.error_code}: {facts.error_message}")
            self._tally(root, path, False, None, manifest)
            return
        self.files += 1
        self.megapixels += facts.megapixels
        detected = facts.watermark is not None and facts.watermark.detected
        entry = manifest.entries.get(path) if manifest is not None else None
        manifest_says_synthetic = entry is not None and entry.role.value == "synthetic"
        synthetic = facts.acknowledged_synthetic or detected
        self.synthetic += facts.acknowledged_synthetic
        self.watermarked += detected
        self._tally(root, path, synthetic, facts.pixel_xxh3_128, manifest)

        if facts.record_unparseable:
            self.add("SM104", path, "record bytes are not a UTF-8 JSON object")
        for location, message in facts.record_problems:
            if location == "spec_version":
                self.add("SM102", path, f"{location}: {message}")
            elif "digital_source_type" in message or location == "digital_source_type":
                self.add("SM103", path, f"{location}: {message}")
            else:
                self.add("SM101", path, f"{location}: {message}")
        if facts.sidecar_disagrees:
            self.add("SM106", path, "embedded record and sidecar differ; the embedded one is used")
        if (
            facts.synthetic is not None
            and facts.standard_label is not None
            and (facts.synthetic != facts.standard_label)
        ):
            said = "synthetic" if facts.standard_label else "real"
            self.add("SM105", path, f"standard fields say {said}, the record says otherwise")
        if not facts.record_present and facts.standard_label is True:
            self.add("SM107", path, "standard fields say synthetic but there is no record")
        if facts.binding == "fail":
            self.add(
                "SM201",
                path,
                "content binding does not match the pixels (transplanted "
                "record or pixels edited after stamping)",
            )
        elif facts.binding == "absent":
            self.add("SM202", path, "record has no content binding")
        if facts.signature in ("bad", "malformed"):
            self.add("SM307", path, facts.signature_message or "record signature does not verify")
        elif facts.signature == "untrusted":
            self.add("SM308", path, facts.signature_message or "record signer not trusted")
        if facts.credentials == "fail":
            self.add("SM309", path, facts.credentials_message or "C2PA credentials invalid")
        if facts.watermark is not None:
            wm = facts.watermark
            if detected and not facts.acknowledged_synthetic and not manifest_says_synthetic:
                what = "a record saying real" if facts.synthetic is False else "no record"
                if entry is not None and not manifest_says_synthetic:
                    what += " and a manifest entry saying real"
                self.add(
                    "SM501",
                    path,
                    f"synthmark watermark detected (p <= {wm.p_value:.1e}, "
                    f"z = {wm.z:.1f}) but the file has {what}",
                )
            if facts.acknowledged_synthetic and not detected:
                self.add("SM401", path, f"synthetic, but no watermark detected (z = {wm.z:.1f})")
            if (
                detected
                and facts.record_watermark_key_id is not None
                and (
                    wm.key_id is not None
                    and wm.key_id != facts.record_watermark_key_id
                    and wm.payload_record_prefix is not None
                )
            ):
                self.add("SM402", path, "detected watermark key differs from the record's")
        if facts.thumbnail_png is not None:
            self.thumbnails.append(
                Thumbnail(
                    self.shown(path) or path,
                    facts.thumbnail_png,
                    facts.watermark.z if facts.watermark else None,
                    facts.watermark.p_value if facts.watermark else None,
                    facts.acknowledged_synthetic,
                )
            )

    def _tally(
        self,
        root: Path,
        path: str,
        synthetic: bool,
        xxh3: str | None,
        manifest: _Manifest | None,
    ) -> None:
        tally = self.tallies.setdefault(root, _Tally())
        tally.synthetic += synthetic
        if manifest is not None and manifest.parsed is not None:
            if path in manifest.entries:
                tally.listed[path] = (synthetic, xxh3)
            else:
                tally.unlisted[path] = synthetic

    def dataset(self, root: Path, manifest: _Manifest | None, is_folder: bool) -> None:
        tally = self.tallies.get(root, _Tally())
        if manifest is None:
            if is_folder and tally.synthetic:
                self.add(
                    "SM508",
                    None,
                    f"{tally.synthetic} synthetic image(s) under "
                    f"{self.shown(root.name)} and no {MANIFEST_FILE}",
                )
            return
        if manifest.parsed is None:
            self.add("SM507", self.shown(MANIFEST_FILE), manifest.problem or "invalid manifest")
            return
        declared = manifest.parsed
        if any(code in self.enabled for code in _CHAIN_RULES):
            from synthmark.provenance.chain import check_chain

            chain, _ = check_chain(
                root,
                declared,
                self.trust,
                self.config.required_stages,
                now=datetime.now(UTC),
            )
            for finding in chain:
                self.add(finding.rule, self.shown(finding.path), finding.message)
        found = tally.listed
        for path, entry in sorted(manifest.entries.items()):
            if path not in found:
                self.add("SM505", path, "listed in the manifest but not found")
                continue
            synthetic, xxh3 = found[path]
            if synthetic and entry.role.value != "synthetic":
                self.add("SM502", path, "synthetic file listed as real in the manifest")
            if xxh3 is not None and entry.pixel_xxh3_128 != xxh3:
                self.add("SM506", path, "pixels differ from the manifest's digest")
        for path in sorted(tally.unlisted):
            self.add("SM504", path, "image file not listed in the manifest")
        synthetic_count = sum(s for s, _ in found.values()) + sum(tally.unlisted.values())
        if synthetic_count and not declared.contains_synthetic:
            self.add(
                "SM502",
                None,
                "manifest declares no synthetic content but "
                f"{synthetic_count} synthetic image(s) were found",
            )
        total = len(found) + len(tally.unlisted)
        proportion = synthetic_count / total if total else 0.0
        if (
            declared.synthetic_count != synthetic_count
            or abs(declared.synthetic_proportion - proportion) > 1e-9
        ):
            self.add(
                "SM503",
                None,
                f"manifest declares {declared.synthetic_count} synthetic "
                f"({declared.synthetic_proportion:.4f}); found {synthetic_count} of "
                f"{total} ({proportion:.4f})",
            )


def _load_manifest(root: Path) -> _Manifest | None:
    from synthmark.record.parsing import parse_manifest

    path = root / MANIFEST_FILE
    if not root.is_dir() or not path.is_file():
        return None
    try:
        parsed = parse_manifest(path.read_bytes(), path=path)
    except SynthmarkError as exc:
        return _Manifest(root, None, exc.message, {})
    except OSError as exc:
        return _Manifest(root, None, f"cannot read: {exc.strerror}", {})
    return _Manifest(root, parsed, None, {e.path: e for e in parsed.files})


# ----------------------------------------------------------------------------- validate


_CHAIN_RULES = ("SM301", "SM302", "SM303", "SM304", "SM305", "SM306")


def _not_run(config: ValidateConfig, roots: list[Path]) -> list[tuple[str, str]]:
    reasons: list[tuple[str, str]] = []
    for rule in config.enabled_rules():
        if config.trust is None and rule.code in ("SM302", "SM303", "SM304", "SM305", "SM308"):
            reasons.append((rule.code, "no trust file: signatures cannot be judged"))
        elif config.header_only and rule.needs_pixels:
            reasons.append((rule.code, "--header-only: pixels were not decoded"))
        elif config.changed_only is not None and rule.code.startswith("SM50"):
            reasons.append((rule.code, "--changed-since: dataset rules need every file"))
        elif rule.needs_manifest and not any((r / MANIFEST_FILE).is_file() for r in roots):
            reasons.append((rule.code, f"no {MANIFEST_FILE} in the dataset"))
    return reasons


class FactsExecutor(Protocol):
    """Something that turns walked items into their facts, in walk order.

    :func:`validate` uses one in place of its local process pool; the Dask executor
    (:mod:`synthmark.validation.dask`) is one.
    """

    def facts_stream(
        self,
        items: Iterator[WalkItem],
        settings: RunSettings,
        config: ValidateConfig,
        cache: FactsCache | None,
    ) -> Iterator[tuple[WalkItem, FileFacts]]:
        """Yield ``(item, facts)`` for every item, in the order the items came."""
        ...


def validate(
    paths: Iterable[Path | str],
    config: ValidateConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
    executor: FactsExecutor | None = None,
) -> Report:
    """Validate files and folders; return a :class:`Report` (never prints).

    ``executor`` inspects the files instead of the local process pool, e.g. a
    :class:`synthmark.validation.dask.DaskExecutor` (``--executor dask``); the rules and the
    report are the same whichever inspects.

    Unreadable files become findings and the run goes on. A bug while checking one file
    becomes an ``SM901`` finding with ``SMX070`` in its message and is counted in
    :attr:`Report.internal_errors`, so the CLI can exit 70 instead of giving a verdict.

    Raises:
        ConfigError: when the keyring cannot be loaded.
    """
    started = time.perf_counter()
    config = config or ValidateConfig()
    roots = [Path(p) for p in paths]
    trust = None
    if config.trust is not None:
        from synthmark.provenance import load_trust

        trust = load_trust(config.trust)  # a bad trust file is a config error, up front
    run = _Run(config, trust)
    manifests = {root: _load_manifest(root) for root in roots}
    limits = config.resource_limits()  # a bad environment variable fails here, up front
    settings = RunSettings(
        header_only=config.header_only,
        keyring=config.keyring,
        fpr=config.fpr,
        thumbnails=config.thumbnails,
        real_thumbnails=config.real_thumbnails,
        single_thread=(config.jobs or os.cpu_count() or 1) > 1,
        trust=config.trust,
        limits=limits,
    )
    if not config.header_only and config.keyring is not None:
        from synthmark.watermark import load_keyring

        load_keyring(config.keyring)  # fail early, as a config error, not per file
    cache = None
    if config.cache_dir is not None:
        from synthmark import __version__

        fingerprint = json.dumps(
            [
                __version__,
                FACTS_VERSION,
                config.header_only,
                str(config.keyring),
                keyring_stamp(config.keyring),
                keyring_stamp(config.trust),
                config.fpr,
                config.thumbnails,
                config.real_thumbnails,
                # A file refused under one limit may read under another.
                limits.as_dict(),
            ]
        )
        cache = FactsCache(config.cache_dir, fingerprint)

    items = (
        item
        for item in walk(roots, config)
        if config.changed_only is None or item.relative in config.changed_only
    )
    done = 0
    try:
        stream = facts_stream if executor is None else executor.facts_stream
        for item, facts in stream(items, settings, config, cache):
            run.file(item.root, facts, manifests.get(item.root))
            done += 1
            if progress is not None:
                progress(done)
    finally:
        if cache is not None:
            cache.close()
    if config.changed_only is None:
        for root in roots:
            run.dataset(root, manifests.get(root), root.is_dir())
    findings = sorted(run.findings, key=lambda f: (f.path or "", f.code, f.message))
    not_run = _not_run(config, roots)
    skipped = {code for code, _ in not_run}
    summary = DatasetSummary(
        files=run.files,
        unreadable=run.unreadable,
        synthetic_acknowledged=run.synthetic,
        watermarked=run.watermarked,
        real_or_unlabelled=run.files - run.unreadable - run.synthetic,
        megapixels=run.megapixels,
    )
    report = Report(
        findings=tuple(findings),
        summary=summary,
        rules_run=tuple(code for code in run.enabled if code not in skipped),
        rules_not_run=tuple(not_run),
        roots=tuple(run.shown(str(r)) or str(r) for r in roots),
        policy=config.policy,
        strict=config.strict,
        duration_s=time.perf_counter() - started,
        thumbnails=tuple(run.thumbnails),
        internal_errors=run.internal_errors,
    )
    return report


def keyring_stamp(keyring: Path | None) -> str:
    if keyring is None:
        return "-"
    try:
        return hashlib.sha256(keyring.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def facts_stream(
    items: Iterator[WalkItem],
    settings: RunSettings,
    config: ValidateConfig,
    cache: FactsCache | None,
) -> Iterator[tuple[WalkItem, FileFacts]]:
    jobs = config.jobs or os.cpu_count() or 1
    size = _HEADER_BATCH if settings.header_only and jobs > 1 else _BATCH

    def pending_batches() -> Iterator[list[tuple[WalkItem, str | None]]]:
        batch: list[tuple[WalkItem, str | None]] = []
        for item in items:
            key = cache.key(item) if cache is not None else None
            batch.append((item, key))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def split(
        batch: list[tuple[WalkItem, str | None]],
    ) -> tuple[list[tuple[WalkItem, FileFacts]], list[tuple[WalkItem, str | None]]]:
        ready: list[tuple[WalkItem, FileFacts]] = []
        todo: list[tuple[WalkItem, str | None]] = []
        for item, key in batch:
            cached = cache.get(key) if cache is not None and key is not None else None
            if cached is not None:
                ready.append((item, cached))
            else:
                todo.append((item, key))
        return ready, todo

    def store(todo: list[tuple[WalkItem, str | None]], facts: list[FileFacts]) -> None:
        if cache is not None:
            for (_, key), fact in zip(todo, facts, strict=True):
                if key is not None:
                    cache.put(key, fact)

    if jobs <= 1:
        init_worker(dataclasses.replace(settings, single_thread=False))
        # Files are the unit of parallelism; torch's own threads only fight the rest of the
        # machine (measured 14x slower on a loaded 2-core host), so use one while we run
        # and give the caller back its setting.
        restore = _single_torch_thread() if not settings.header_only else None
        try:
            for batch in pending_batches():
                ready, todo = split(batch)
                yield from ready
                facts = _inspect_batch([item for item, _ in todo])
                store(todo, facts)
                yield from zip([item for item, _ in todo], facts, strict=True)
        finally:
            if restore is not None:
                restore()
        return

    # A bounded window of batches in flight keeps memory flat however large the tree.
    window = jobs * 4
    # forkserver: forking a process that already runs torch's thread pools can deadlock.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=init_worker, initargs=(settings,), mp_context=context
    ) as pool:
        in_flight: dict[Future[list[FileFacts]], list[tuple[WalkItem, str | None]]] = {}
        order: list[Future[list[FileFacts]]] = []
        for batch in pending_batches():
            ready, todo = split(batch)
            yield from ready
            if todo:
                future = pool.submit(_inspect_batch, [item for item, _ in todo])
                in_flight[future] = todo
                order.append(future)
            # Wait for the oldest batch only: results leave in submission order, and
            # waiting for any batch (FIRST_COMPLETED) spun while a later one was done.
            while len(in_flight) >= window:
                wait([order[0]])
                yield from _drain(order, in_flight, store)
        while in_flight:
            wait([order[0]])
            yield from _drain(order, in_flight, store)


def _single_torch_thread() -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    return lambda: torch.set_num_threads(before)


def _drain(
    order: list[Future[list[FileFacts]]],
    in_flight: dict[Future[list[FileFacts]], list[tuple[WalkItem, str | None]]],
    store: Callable[[list[tuple[WalkItem, str | None]], list[FileFacts]], None],
) -> Iterator[tuple[WalkItem, FileFacts]]:
    # Yield finished batches in submission order so reports are deterministic.
    while order and order[0].done():
        future = order.pop(0)
        todo = in_flight.pop(future)
        try:
            facts = future.result()
        except Exception as exc:  # a worker died: every file of its batch is a bug report
            facts = [
                FileFacts(
                    item.relative,
                    error_code=INTERNAL_ERROR,
                    error_message=f"internal error (a bug): worker failed: {exc}",
                )
                for item, _ in todo
            ]
        store(todo, facts)
        yield from zip([item for item, _ in todo], facts, strict=True)


def rule_for(code: str) -> Rule:
    """The catalogue entry of ``code``."""
    return RULES_BY_CODE[code]
