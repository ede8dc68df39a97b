"""Options shared by several commands, defined once so their help and limits agree."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., Any])

watermark_key_option = click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Watermark key (default: the public detection key, detectable by anyone).",
)
strength_option = click.option(
    "--strength",
    type=click.FloatRange(min=0.05, max=16),
    default=1.0,
    show_default=True,
    help="Watermark strength; 1.0 is about 2 native units RMS (2 HU on CT).",
)

keyring_option = click.option(
    "--keyring",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Watermark keyring (the public detection key is always tried).",
)
trust_option = click.option(
    "--trust",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Trust file: keys for attestations and signed records, C2PA anchors, required "
    "lifecycle stages (spec/attestations.md section 6).",
)


class _Amount(click.ParamType[int]):
    """A positive count, optionally with a suffix: 64Mi, 1G, 500k."""

    name = "N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from synthmark.carriers.limits import parse_amount
        from synthmark.errors import ConfigError

        try:
            return parse_amount(value, "/".join(param.opts) if param is not None else "value")
        except ConfigError as exc:
            self.fail(exc.message, param, ctx)


_LIMIT_HELP = {
    "max_pixels": "Refuse a file whose header declares more than N decoded pixel values "
    "(rows x columns x frames x samples)",
    "max_decompressed": "Refuse a compressed stream (DICOM deflate, .nii.gz) that inflates "
    "past N bytes",
    "max_frames": "Refuse a multi-frame file of more than N frames",
}


def limit_options(func: F) -> F:
    """Add ``--max-pixels``, ``--max-decompressed`` and ``--max-frames`` (passed as
    ``max_pixels`` ... , ``None`` when not given); spec/parts/limits.md."""
    from synthmark.carriers.limits import SETTINGS, Limits

    defaults = Limits().as_dict()
    for setting in reversed(SETTINGS):
        func = click.option(
            setting.option,
            setting.field,
            type=_Amount(),
            default=None,
            help=f"{_LIMIT_HELP[setting.field]} (default {defaults[setting.field]:,}; "
            f"env {setting.env}; suffixes k/M/G, Ki/Mi/Gi).",
        )(func)
    return func


def limited(func: F) -> F:
    """:func:`limit_options` for a command that reads files itself: it runs under the
    limits the options, the environment and the defaults give (in that order)."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        from synthmark.carriers import limits

        given = {setting.field: kwargs.pop(setting.field) for setting in limits.SETTINGS}
        with limits.applied(limits.resolve(cli=given)):
            return func(*args, **kwargs)

    return limit_options(cast("F", run))
