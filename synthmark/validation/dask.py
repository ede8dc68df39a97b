"""Scale-out validation on a Dask cluster (``synthmark validate --executor dask``).

The per-file work is exactly the local engine's (:func:`synthmark.validation.engine.file_facts`);
only where it runs changes. The client walks the tree as usual (sorted, streaming) and cuts
it into fixed-size shards by index, so shard *i* of an unchanged tree is always the same
files. Each shard becomes one Dask task that inspects its files and writes their
:class:`~synthmark.validation.report.FileFacts` as JSON lines to a *partial* in the run folder
(atomically: a partial exists completely or not at all). The client then reads partials
back in shard order and streams their facts into the rule engine, which is the local run's
reduce step: the report is the one a local run gives.

The run folder is keyed by the synthmark version, the facts version, the settings that
shape facts (header-only, FPR, thumbnails; keyring and trust files by path and content),
the roots, the shard size and the ``--changed-since`` selection; a
partial's name carries a digest of its files' paths and ``stat`` data. A re-run of an
interrupted (or finished) run therefore reuses every partial whose files did not change and
computes only the others. Partials of shards that hit an internal error are never reused.

Requirements: ``pip install synthmark[dask]`` on the client and every worker (workers
unpickle tasks that call into :mod:`synthmark`, so they need the same version in the same
kind of environment), and the run folder and the dataset on storage that the client and
every worker see under the same absolute paths.

Memory stays bounded on the client: at most ``window`` shards (of ``shard_size`` files)
are in flight or waiting to be merged, whatever the size of the tree.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import itertools
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmark.carriers.sidecar import SIDECAR_SUFFIX
from synthmark.errors import (
    ConfigError,
    OptionalDependencyError,
    SynthmarkError,
    UsageError,
    WriteFailedError,
)
from synthmark.validation.report import FileFacts

if TYPE_CHECKING:
    from synthmark.validation.config import ValidateConfig
    from synthmark.validation.engine import FactsCache, ProgressCallback, RunSettings, WalkItem
    from synthmark.validation.report import Report

#: Bumped when the partial format changes: older run folders are then simply not found.
PARTIAL_VERSION = 1
#: Files per shard by default: about a second of header-only work, or a few minutes of
#: full validation, per task; 10 M files make 10,000 tasks, which a scheduler handles.
DEFAULT_SHARD_SIZE = 1000
LOCAL_CLUSTER_PREFIX = "local-cluster:"
_INSTALL_HINT = "pip install synthmark[dask] (on the client and on every worker)"
_SHARED_HINT = (
    "--run-dir must be a folder that the client and every worker see under the same "
    "absolute path, writable by the workers"
)

#: Called after the facts of shard ``index`` were merged; ``reused`` tells whether its
#: partial came from an earlier run. Raising from it aborts the run (tests use that).
ShardCallback = Callable[[int, bool], None]


@dataclass
class ShardStats:
    """What a distributed run did (filled in as it goes).

    Attributes:
        shards: Shards merged.
        reused: Shards whose partial came from an earlier run.
        computed: Shards inspected by the cluster in this run.
        files_inspected: Files inspected by the cluster in this run.
        run_folder: The folder holding this run's partials.
    """

    shards: int = 0
    reused: int = 0
    computed: int = 0
    files_inspected: int = 0
    run_folder: Path | None = None


@dataclass
class DaskExecutor:
    """Run validation's per-file work on a Dask cluster, sharded and resumable.

    Attributes:
        scheduler: Scheduler address (``tcp://host:8786``, or anything
            ``dask.distributed.Client`` accepts), or ``local-cluster:N`` to start a
            :class:`~dask.distributed.LocalCluster` of N one-thread worker processes on
            loopback for the length of the run.
        run_dir: Folder under which the run folder (keyed by inputs and settings) and its
            partials live; must be shared by the client and every worker.
        shard_size: Files per shard (and per task).
        resume: Reuse complete partials of earlier runs; ``False`` recomputes every shard
            (partials are still written).
        window: Shards in flight or waiting to be merged at once; ``None``: twice the
            cluster's worker threads, at least 4. Bounds the client's memory.
        on_shard: Called after each shard is merged (see :data:`ShardCallback`).
        stats: Counts of the last run.
    """

    scheduler: str
    run_dir: Path
    shard_size: int = DEFAULT_SHARD_SIZE
    resume: bool = True
    window: int | None = None
    on_shard: ShardCallback | None = field(default=None, repr=False)
    stats: ShardStats = field(default_factory=ShardStats)
    # The roots are part of the run folder's key, so that two datasets sharing a run dir
    # do not clean up each other's partials. validate() does not hand them to the executor:
    # validate_distributed() sets them, and a bare facts_stream() call uses the first
    # item's root.
    _roots: tuple[str, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise UsageError("the shard size must be at least 1")
        if self.window is not None and self.window < 1:
            raise UsageError("the window must be at least 1")
        parse_scheduler(self.scheduler)

    def facts_stream(
        self,
        items: Iterator[WalkItem],
        settings: RunSettings,
        config: ValidateConfig,
        cache: FactsCache | None,
    ) -> Iterator[tuple[WalkItem, FileFacts]]:
        """Yield ``(item, facts)`` for every item in walk order, computed on the cluster.

        ``cache`` (the local incremental cache) is not used: partials play its part.

        Raises:
            OptionalDependencyError: dask.distributed is not installed.
            ConfigError: the scheduler cannot be reached or was lost during the run.
            WriteFailedError: a worker could not write a partial the client can read.
        """
        del cache  # partials play its part
        _require_dask()
        settings = _absolute(settings)
        self.stats = ShardStats()
        first = next(items, None)
        if first is None:
            return
        items = itertools.chain([first], items)
        roots = self._roots or (os.path.abspath(first.root),)
        # A --changed-since run gets a folder of its own: its shards are other files, and
        # sharing would delete the partials of the full run (stale ones are cleaned up).
        selection = None if config.changed_only is None else sorted(config.changed_only)
        key = run_fingerprint(settings, roots, self.shard_size, selection)
        folder = self.run_dir / f"run-{key}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteFailedError(
                f"cannot create the run folder: {exc.strerror}", path=folder
            ) from exc
        self.stats.run_folder = folder
        with contextlib.ExitStack() as stack:

            def connect() -> Any:
                return stack.enter_context(_connect(self.scheduler))

            yield from self._stream(connect, folder, items, settings, settings_key(settings))

    def _stream(
        self,
        connect: Callable[[], Any],
        folder: Path,
        items: Iterator[WalkItem],
        settings: RunSettings,
        settings_digest: str,
    ) -> Iterator[tuple[WalkItem, FileFacts]]:
        stale = _existing_partials(folder)
        # Connected on the first shard to compute: a run whose partials are all complete
        # (a finished run re-read) needs no cluster at all.
        client: Any = None
        window = self.window or 4
        pending: deque[_Pending] = deque()
        try:
            for index, shard in enumerate(_shards(items, self.shard_size)):
                target = folder / f"shard-{index:07d}-{shard_key(shard)}.jsonl"
                for old in stale.pop(index, ()):
                    if old != target.name:
                        with contextlib.suppress(OSError):
                            (folder / old).unlink()
                facts = _load_partial(target, shard, for_resume=True) if self.resume else None
                if facts is not None:
                    pending.append(_Pending(index, shard, target, None, facts))
                else:
                    if client is None:
                        client = connect()
                        window = self.window or max(4, 2 * _threads(client))
                    future = client.submit(
                        _run_shard,
                        index,
                        [_portable(item) for item in shard],
                        settings,
                        str(target),
                        settings_digest,
                        pure=False,
                    )
                    pending.append(_Pending(index, shard, target, future, None))
                # Merge whatever is ready at the head, and wait for the head while the
                # window is full: facts leave in shard order, so reports are deterministic.
                while pending and (len(pending) >= window or pending[0].future is None):
                    yield from self._merge(pending.popleft())
            while pending:
                yield from self._merge(pending.popleft())
        finally:
            for entry in pending:
                if entry.future is not None:
                    entry.future.cancel()

    def _merge(self, entry: _Pending) -> Iterator[tuple[WalkItem, FileFacts]]:
        reused = entry.future is None
        facts = entry.facts
        if facts is None:
            facts = _shard_result(entry)
            self.stats.computed += 1
            self.stats.files_inspected += len(entry.shard)
        else:
            self.stats.reused += 1
        self.stats.shards += 1
        yield from zip(entry.shard, facts, strict=True)
        if self.on_shard is not None:
            self.on_shard(entry.index, reused)


@dataclass
class _Pending:
    index: int
    shard: list[WalkItem]
    target: Path
    future: Any | None  # a distributed.Future, or None when the partial was reused
    facts: list[FileFacts] | None


def validate_distributed(
    paths: Iterable[Path | str],
    executor: DaskExecutor,
    config: ValidateConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> Report:
    """:func:`synthmark.validation.engine.validate` with the per-file work on a Dask cluster.

    The report equals the local one (findings, counts, summary); only ``duration_s``
    differs. ``executor.stats`` tells afterwards how many shards were reused.

    Raises:
        OptionalDependencyError: dask.distributed is not installed.
        ConfigError: bad keyring, unreachable or lost scheduler.
        WriteFailedError: the run folder is not shared with (or writable by) the workers.
    """
    from synthmark.validation import engine as validation

    roots = [Path(p) for p in paths]
    executor._roots = tuple(os.path.abspath(r) for r in roots)
    return validation.validate(roots, config, progress=progress, executor=executor)


# --------------------------------------------------------------------------- keys, shards


def parse_scheduler(address: str) -> int | None:
    """Workers of a ``local-cluster:N`` address, or ``None`` for a scheduler address.

    Raises:
        UsageError: an empty address or a bad worker count.
    """
    if not address.strip():
        raise UsageError("--scheduler needs an address (tcp://host:port or local-cluster:N)")
    if not address.startswith(LOCAL_CLUSTER_PREFIX):
        return None
    count = address[len(LOCAL_CLUSTER_PREFIX) :]
    if not count.isdigit() or int(count) < 1:
        raise UsageError(f"--scheduler {address}: expected local-cluster:N with N >= 1")
    return int(count)


def run_fingerprint(
    settings: RunSettings,
    roots: Iterable[str],
    shard_size: int,
    selection: list[str] | None = None,
) -> str:
    """Name of the run folder: everything that shapes the facts or the shard boundaries.

    ``selection`` is the ``--changed-since`` subset of paths, if any.
    """
    from synthmark import __version__
    from synthmark.validation.engine import FACTS_VERSION

    key = json.dumps(
        [
            PARTIAL_VERSION,
            __version__,
            FACTS_VERSION,
            settings_key(settings),
            list(roots),
            shard_size,
            selection,
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def settings_key(settings: RunSettings) -> str:
    """Digest of the settings that shape facts, with the content of the files they name.

    Every field counts (so a setting added to validation later is never forgotten) except
    ``single_thread``, which changes speed only; a file (keyring, trust) counts by path and
    by content, so editing it in place invalidates partials and workers' loaded copies.
    """
    from synthmark.validation.engine import keyring_stamp

    parts: list[Any] = []
    for item in dataclasses.fields(settings):
        if item.name == "single_thread":
            continue
        value = getattr(settings, item.name)
        if isinstance(value, Path):
            value = [str(value), keyring_stamp(value)]
        parts.append([item.name, value])
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:24]


def _absolute(settings: RunSettings) -> RunSettings:
    # Workers read the files the settings name (keyring, trust) from another directory.
    paths: dict[str, Any] = {
        item.name: Path(os.path.abspath(value))
        for item in dataclasses.fields(settings)
        if isinstance(value := getattr(settings, item.name), Path)
    }
    return replace(settings, **paths)


def _stat_key(path: Path) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def shard_key(shard: list[WalkItem]) -> str:
    """Digest of a shard's files as found now: paths, walk facts and ``stat`` data.

    A changed, touched, added or removed file changes it, so a stale partial is never read.
    """
    digest = hashlib.sha256()
    for item in shard:
        side = "-"
        if item.sidecar is not False:  # the walk saw no sidecar: nothing to stat
            side = _stat_key(item.path.parent / (item.path.name + SIDECAR_SUFFIX))
        line = "\0".join(
            (
                item.relative,
                os.path.abspath(item.path),
                str(item.absent),
                str(item.sidecar),
                _stat_key(item.path),
                side,
            )
        )
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()[:32]


def _shards(items: Iterator[WalkItem], size: int) -> Iterator[list[WalkItem]]:
    shard: list[WalkItem] = []
    for item in items:
        shard.append(item)
        if len(shard) >= size:
            yield shard
            shard = []
    if shard:
        yield shard


def _portable(item: WalkItem) -> WalkItem:
    # Workers do not share the client's working directory: give them absolute paths (not
    # resolved ones: a symlinked annex tree must stay what the walk saw).
    return replace(item, path=Path(os.path.abspath(item.path)))


def _existing_partials(folder: Path) -> dict[int, list[str]]:
    # One listing per run, not one per shard: a run folder may hold 10,000 partials.
    found: dict[int, list[str]] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            parts = name.split("-")
            if len(parts) == 3 and parts[0] == "shard" and parts[1].isdigit():
                found.setdefault(int(parts[1]), []).append(name)
    return found


# ------------------------------------------------------------------------------ partials


def _load_partial(
    target: Path, shard: list[WalkItem], *, for_resume: bool
) -> list[FileFacts] | None:
    """The facts of a complete partial of ``shard``, or ``None``.

    A partial that does not match the shard (truncated, another shard's, corrupt) gives
    ``None``; one holding internal errors gives ``None`` when resuming (a bug is never
    reused as if it were a fact).
    """
    from synthmark.validation.engine import facts_from_json

    try:
        lines = target.read_bytes().splitlines()
    except OSError:
        return None
    try:
        header = json.loads(lines[0])
        if (
            header.get("synthmark_partial") != PARTIAL_VERSION
            or header.get("files") != len(shard)
            or len(lines) != len(shard) + 1
            or (for_resume and header.get("internal_errors", 1) != 0)
        ):
            return None
        facts = [facts_from_json(json.loads(line)) for line in lines[1:]]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    if any(f.path != item.relative for f, item in zip(facts, shard, strict=True)):
        return None
    return facts


def _shard_result(entry: _Pending) -> list[FileFacts]:
    from synthmark.validation.engine import INTERNAL_ERROR

    assert entry.future is not None
    try:
        entry.future.result()
    except SynthmarkError as exc:
        raise WriteFailedError(
            f"a worker could not write the partial of shard {entry.index}: {exc.message}",
            hint=_SHARED_HINT,
            path=entry.target,
        ) from exc
    except Exception as exc:
        if _is_connection_loss(exc):
            raise ConfigError(
                f"lost the Dask scheduler during the run: {type(exc).__name__}: {exc}",
                hint="re-run the same command: shards already merged are reused",
            ) from exc
        # A worker died on this shard (dask retried it on others first): every file of it
        # is a bug report, as with the local pool, and no partial is left to be reused.
        return [
            FileFacts(
                item.relative,
                error_code=INTERNAL_ERROR,
                error_message=f"internal error (a bug): worker failed: {type(exc).__name__}",
            )
            for item in entry.shard
        ]
    facts = _load_partial(entry.target, entry.shard, for_resume=False)
    if facts is None:
        raise WriteFailedError(
            f"the partial of shard {entry.index} written by a worker is missing or unreadable here",
            hint=_SHARED_HINT,
            path=entry.target,
        )
    return facts


def _is_connection_loss(exc: BaseException) -> bool:
    import asyncio
    import concurrent.futures

    cancelled = (asyncio.CancelledError, concurrent.futures.CancelledError)
    return isinstance(exc, (*cancelled, OSError, TimeoutError))


# -------------------------------------------------------------------------------- worker

#: Guards validation's per-process worker state (settings, loaded keys and trust) on a
#: worker that outlives runs and may run shards of runs with other settings (two clients,
#: a keyring edited in place, threads of one worker): a shard waits until no shard of
#: other settings runs, then resets the state.
_SETTINGS = threading.Condition()
_RUNNING = 0
_ACTIVE_KEY: str | None = None


@contextlib.contextmanager
def _worker_settings(settings: RunSettings, key: str) -> Iterator[None]:
    from synthmark.validation import engine as validation

    global _RUNNING, _ACTIVE_KEY

    def current() -> bool:
        return _ACTIVE_KEY == key and validation.worker_settings() == settings

    with _SETTINGS:
        while _RUNNING and not current():
            _SETTINGS.wait()
        if not current():
            validation.init_worker(settings)  # forgets the keys loaded for other settings
            trust = getattr(validation, "_WORKER_TRUST", None)
            if isinstance(trust, dict):
                trust.clear()  # parsed trust files, cached by path
            _ACTIVE_KEY = key
        _RUNNING += 1
    try:
        yield
    finally:
        with _SETTINGS:
            _RUNNING -= 1
            _SETTINGS.notify_all()


def _run_shard(
    index: int, items: list[WalkItem], settings: RunSettings, target: str, key: str
) -> int:
    """Inspect one shard's files and write their facts as a partial (runs on a worker).

    Returns the number of files; facts travel through the run folder, not the scheduler,
    so the scheduler and the client never hold more than one shard's worth of them.
    """
    from synthmark.carriers.atomic import atomic_writer
    from synthmark.validation.engine import INTERNAL_ERROR, facts_to_json, file_facts

    lines: list[bytes] = []
    errors = 0
    # Workers outlive runs, and validation keeps per-process state (the loaded keys).
    with _worker_settings(settings, key):
        for item in items:
            facts = file_facts(item, settings)
            errors += facts.error_code == INTERNAL_ERROR
            lines.append(json.dumps(facts_to_json(facts)).encode())
    header = {
        "synthmark_partial": PARTIAL_VERSION,
        "shard": index,
        "files": len(items),
        "internal_errors": errors,
    }
    with atomic_writer(Path(target)) as handle:
        handle.write(json.dumps(header).encode() + b"\n")
        for line in lines:
            handle.write(line + b"\n")
    return len(items)


# ------------------------------------------------------------------------------- cluster


def _require_dask() -> None:
    try:
        import dask.distributed  # noqa: F401
    except ImportError as exc:
        raise OptionalDependencyError(
            "--executor dask needs dask.distributed, which is not installed",
            hint=_INSTALL_HINT,
        ) from exc


@contextlib.contextmanager
def _connect(address: str) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for ``address``, closed (with its cluster) after."""
    # Loaded by name, typed Any: dask is optional, and mypy must pass without it installed.
    distributed: Any = importlib.import_module("dask.distributed")
    workers = parse_scheduler(address)
    with contextlib.ExitStack() as stack:
        try:
            if workers is not None:
                # One thread per worker: the work is CPU-bound Python, and torch's own
                # threads are limited to one per worker by the settings.
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                        # The workers log to this terminal: errors come back as findings
                        # or as synthmark's own one-line errors instead.
                        silence_logs=logging.CRITICAL,
                    )
                )
                client = stack.enter_context(distributed.Client(cluster))
            else:
                client = stack.enter_context(distributed.Client(address, timeout="30s"))
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"cannot connect to the Dask scheduler at {address}: {exc}",
                hint="check --scheduler (tcp://host:8786, or local-cluster:N)",
            ) from exc
        yield client


class _OneLine(logging.Filter):
    """Drops the traceback of a log record and keeps its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return bool(record.getMessage().strip())  # some records are only a traceback


@contextlib.contextmanager
def one_line_dask_logs() -> Iterator[None]:
    """Within the block, Dask's log messages reach stderr without their tracebacks.

    For the command line, where no traceback may reach the user: Dask logs (with
    tracebacks) when it loses the scheduler, and synthmark then reports the loss as an
    error of its own. Warnings (e.g. version mismatches between client and workers) stay.
    Does nothing when dask is not installed.
    """
    try:
        importlib.import_module("distributed")
    except ImportError:
        yield
        return
    one_line = _OneLine()
    handlers = {
        handler
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.split(".")[0] in ("distributed", "tornado") and isinstance(logger, logging.Logger)
        for handler in logger.handlers
    }
    for handler in handlers:
        handler.addFilter(one_line)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(one_line)


def _threads(client: Any) -> int:
    try:
        threads: dict[str, int] = client.nthreads()
        return max(1, sum(threads.values()))
    except Exception:  # an informational call; a guess is fine when it fails
        return 1
