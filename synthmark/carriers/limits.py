"""Resource limits on untrusted input, defined and checked in one place (spec/parts/limits.md).

synthmark reads files that anyone can submit (pre-commit hooks, CI runners, ingestion
gateways). Every carrier asks this module before it allocates what a file *declares*:
decoded pixel values (rows x columns x frames x samples, from the header), bytes a
compressed stream inflates to (DICOM Deflated Explicit VR Little Endian, gzip of
``.nii.gz``; Pillow's own guard for PNG/TIFF, raised to the same limit), and frames.
A file over a limit is refused with :class:`~synthmark.errors.ResourceLimitError`
(SMX015) before anything large exists.

Limits come from, later winning: the defaults, a validation configuration file
(``max-pixels`` ...), the environment (``SYNTHMARK_MAX_PIXELS`` ...), the command line
(``--max-pixels`` ...). The environment beats a configuration file found beside the data so
that whoever runs the check (a CI runner, a gateway) caps what a dataset can ask for.
The limits in effect are process-wide (:func:`current`); the CLI sets them once per command
and validation applies its own per file (:func:`applied`), also in worker processes.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

from synthmark.errors import ConfigError, ResourceLimitError

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "SETTINGS",
    "LimitSetting",
    "Limits",
    "applied",
    "check_decompressed",
    "check_frames",
    "check_pixels",
    "configure",
    "current",
    "inflated_size",
    "limit_error",
    "parse_amount",
    "resolve",
]

#: Decoded pixel values (samples) of one decoded array. Decoding, digesting and detecting
#: the watermark on one plane peaks at about 35 bytes per value (16-bit grey, measured),
#: so 64 Mi values (an 8192x8192 plane, a 512x512x256 volume) stay under 2.5 GB: a 4 GB
#: CI runner with room to spare.
DEFAULT_MAX_PIXELS = 1 << 26
#: Bytes a compressed container may inflate to. pydicom holds a deflated dataset inflated
#: and parsed (about twice this), so 1 GiB fits a 4 GB runner; a legitimate file at the
#: pixel limit needs at most 512 MiB (float64 NIfTI).
DEFAULT_MAX_DECOMPRESSED = 1 << 30
#: Frames of a multi-frame object: per-frame decoding overhead, even of tiny frames.
DEFAULT_MAX_FRAMES = 16384

_CHUNK_IN = 64 << 10
_CHUNK_OUT = 1 << 20


@dataclass(frozen=True)
class LimitSetting:
    """How one limit is named wherever it can be set.

    Attributes:
        field: Attribute of :class:`Limits`.
        option: Command-line option (verify, detect, inspect, validate).
        env: Environment variable (hooks, gateways).
        key: Key in ``synthmark.toml`` / ``[tool.synthmark]`` (validate).
        unit: What it counts, for messages.
    """

    field: str
    option: str
    env: str
    key: str
    unit: str

    def names(self) -> str:
        """The three names of the setting, for messages and hints."""
        return f"{self.option}, {self.env} or `{self.key}` in synthmark.toml"


SETTINGS: tuple[LimitSetting, ...] = (
    LimitSetting(
        "max_pixels", "--max-pixels", "SYNTHMARK_MAX_PIXELS", "max-pixels", "pixel values"
    ),
    LimitSetting(
        "max_decompressed",
        "--max-decompressed",
        "SYNTHMARK_MAX_DECOMPRESSED",
        "max-decompressed",
        "bytes",
    ),
    LimitSetting("max_frames", "--max-frames", "SYNTHMARK_MAX_FRAMES", "max-frames", "frames"),
)
_BY_FIELD = {s.field: s for s in SETTINGS}
_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class Limits:
    """The limits in effect.

    Attributes:
        max_pixels: Most decoded pixel values (rows x columns x frames x samples) of one
            decoded array.
        max_decompressed: Most bytes one compressed stream may inflate to.
        max_frames: Most frames of one multi-frame object.
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED
    max_frames: int = DEFAULT_MAX_FRAMES

    def merged(self, values: Mapping[str, int | None]) -> Limits:
        """These limits with every non-None value of ``values`` (by field name) in place."""
        changes = {name: value for name, value in values.items() if value is not None}
        unknown = set(changes) - set(_BY_FIELD)
        if unknown:
            raise ValueError(f"unknown limits: {sorted(unknown)}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, int]:
        """Field name to value."""
        return {item.name: int(getattr(self, item.name)) for item in fields(self)}


_AMOUNT = re.compile(r"(?P<number>[0-9][0-9_]*)\s*(?P<suffix>[kKMGT]i?)?")
_FACTORS = {"k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}
_BINARY = {"k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_amount(value: object, name: str) -> int:
    """Parse a limit: a positive integer, or one with a suffix (``64Mi``, ``1G``, ``500k``).

    ``k M G T`` are powers of 1000, ``Ki Mi Gi Ti`` powers of 1024.

    Raises:
        ConfigError: when ``value`` is not such an amount (``name`` says where it came from).
    """
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected a positive number, got {value!r}")
    if isinstance(value, int):
        amount = value
    else:
        match = _AMOUNT.fullmatch(str(value).strip())
        if match is None:
            raise ConfigError(
                f"{name}: expected a positive number, got {value!r}",
                hint="e.g. 67108864, 64Mi or 1G (k/M/G: powers of 1000, Ki/Mi/Gi: of 1024)",
            )
        amount = int(match.group("number").replace("_", ""))
        suffix = match.group("suffix")
        if suffix:
            table = _BINARY if suffix.endswith("i") else _FACTORS
            amount *= table[suffix[0]]
    if amount < 1:
        raise ConfigError(f"{name}: must be at least 1, got {value!r}")
    return amount


def from_environ(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """The limits set in the environment (field name to value; unset ones left out).

    Raises:
        ConfigError: when a variable holds no valid amount.
    """
    env = os.environ if environ is None else environ
    found: dict[str, int] = {}
    for setting in SETTINGS:
        raw = env.get(setting.env)
        if raw is not None and raw.strip():
            found[setting.field] = parse_amount(raw, setting.env)
    return found


def from_table(table: Mapping[str, object], source: str) -> dict[str, int]:
    """The limits a configuration table sets (``max-pixels`` ...), by field name.

    Raises:
        ConfigError: when a value is no valid amount.
    """
    return {
        _BY_KEY[key].field: parse_amount(value, f"{source}: `{key}`")
        for key, value in table.items()
        if key in _BY_KEY
    }


def config_keys() -> frozenset[str]:
    """The configuration keys of the limits."""
    return frozenset(_BY_KEY)


def resolve(
    *,
    config: Mapping[str, int | None] | None = None,
    cli: Mapping[str, int | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Limits:
    """The limits in effect: defaults, then ``config``, then the environment, then ``cli``.

    Raises:
        ConfigError: when an environment variable holds no valid amount.
    """
    limits = Limits().merged(config or {})
    limits = limits.merged(from_environ(environ))
    return limits.merged(cli or {})


_ACTIVE: Limits | None = None


def current() -> Limits:
    """The limits in effect in this process: configured, else defaults and environment.

    A bad environment variable is a configuration error (raised here, where it is used).
    """
    if _ACTIVE is not None:
        return _ACTIVE
    return resolve()


def configure(limits: Limits | None) -> None:
    """Set this process's limits (``None``: back to the defaults and the environment)."""
    global _ACTIVE
    _ACTIVE = limits


@contextmanager
def applied(limits: Limits | None) -> Iterator[Limits]:
    """Run a block under ``limits`` (``None`` keeps those in effect), then restore."""
    global _ACTIVE
    before = _ACTIVE
    if limits is not None:
        _ACTIVE = limits
    try:
        yield current()
    finally:
        _ACTIVE = before


def limit_error(field: str, message: str, path: Path | None = None) -> ResourceLimitError:
    """The error for exceeding the limit ``field`` (e.g. ``"max_pixels"``), naming its
    settings in the message (which reports without hints show) and in the hint."""
    setting = _BY_FIELD[field]
    return ResourceLimitError(
        f"{message} ({setting.option} / {setting.env})",
        setting=setting.option,
        hint=f"refused before decoding; if the file is trusted, raise the limit with "
        f"{setting.names()} (spec/parts/limits.md)",
        path=path,
    )


def _refuse(field: str, what: str, amount: int, limit: int, path: Path | None) -> None:
    unit = _BY_FIELD[field].unit
    raise limit_error(field, f"{what} {amount:,} {unit}, over the limit of {limit:,}", path)


def check_pixels(dims: Sequence[int], *, what: str, path: Path | None = None) -> None:
    """Refuse an array declared with ``dims`` when it holds more values than allowed.

    ``dims`` are the declared extents (e.g. rows, columns, frames, samples); ``what`` names
    them for the message, e.g. ``"PNG IHDR declares 100000 x 100000 x 1 ="``.

    Raises:
        ResourceLimitError: over ``max_pixels``.
    """
    count = 1
    for extent in dims:
        count *= max(int(extent), 1)
    limit = current().max_pixels
    if count > limit:
        _refuse("max_pixels", what, count, limit, path)


def check_frames(frames: int, *, what: str, path: Path | None = None) -> None:
    """Refuse a multi-frame object of more than ``max_frames`` frames.

    Raises:
        ResourceLimitError: over ``max_frames``.
    """
    limit = current().max_frames
    if frames > limit:
        _refuse("max_frames", what, frames, limit, path)


def check_decompressed(nbytes: int, *, what: str, path: Path | None = None) -> None:
    """Refuse a compressed stream that declares (or was counted to) more than allowed.

    Raises:
        ResourceLimitError: over ``max_decompressed``.
    """
    limit = current().max_decompressed
    if nbytes > limit:
        _refuse("max_decompressed", what, nbytes, limit, path)


def inflated_size(
    read: Callable[[int], bytes], *, wbits: int, what: str, path: Path | None = None
) -> int:
    """Inflate a deflate/zlib/gzip stream without keeping it, counting its output.

    ``read(n)`` returns the next compressed bytes (``b""`` at the end); ``wbits`` is zlib's
    (-15 raw deflate, 15 zlib, 31 gzip). Output is produced at most a megabyte at a time
    and dropped, so a bomb costs CPU up to the limit and no memory. Damaged data is left
    for the real decoder to report: counting stops at the first zlib error.

    Returns:
        The inflated size (at most the limit).

    Raises:
        ResourceLimitError: as soon as the count passes ``max_decompressed``.
    """
    limit = current().max_decompressed
    inflater = zlib.decompressobj(wbits)
    total = 0
    try:
        while not inflater.eof:
            data = read(_CHUNK_IN)
            if not data:
                total += len(inflater.flush())
                break
            while data and not inflater.eof:
                total += len(inflater.decompress(data, _CHUNK_OUT))
                if total > limit:
                    check_decompressed(total, what=what + " more than", path=path)
                data = inflater.unconsumed_tail
    except zlib.error:
        pass
    check_decompressed(total, what=what, path=path)
    return total
