"""Dataset validation: the engine, its configuration, the report and its renderers.

:func:`synthmark.validation.engine.validate` walks a dataset, gets every file's facts from
:func:`synthmark.inspect.inspect_file` (in a local process pool or, through the
:class:`~synthmark.validation.engine.FactsExecutor` interface, on a Dask cluster:
:mod:`.dask`), applies the rules (:mod:`synthmark.rules`) and returns a
:class:`~synthmark.validation.report.Report`, which :mod:`.reporters` render.

Until 0.2, ``synthmark.validation`` was one module; its public names (``validate``,
``walk``, ...) are still served from here, lazily, so that importing the package for its
configuration or report does not load the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synthmark.validation.engine import validate

__all__ = ["validate"]


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(f"module 'synthmark.validation' has no attribute {name!r}")
    engine = importlib.import_module("synthmark.validation.engine")
    try:
        return getattr(engine, name)
    except AttributeError:
        raise AttributeError(f"module 'synthmark.validation' has no attribute {name!r}") from None
