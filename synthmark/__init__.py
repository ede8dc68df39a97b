"""synthmark: label, bind, watermark and validate synthetic medical images.

The public API is what ``__all__`` lists; everything is imported lazily so that
``import synthmark`` (and ``synthmark --help``) stays fast and never imports torch.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "SynthmarkRecord": "synthmark.record.models",
    "DatasetManifest": "synthmark.record.models",
    "SPEC_VERSION": "synthmark.record.models",
    "SynthmarkError": "synthmark.errors",
    "parse_record": "synthmark.record.parsing",
    "parse_manifest": "synthmark.record.parsing",
    "load_record": "synthmark.record.parsing",
    "canonical_json": "synthmark.record.parsing",
    "stamp": "synthmark.api",
    "verify": "synthmark.api",
    "read_record": "synthmark.api",
    "Verification": "synthmark.api",
    "digest_file": "synthmark.api",
    "validate": "synthmark.validation.engine",
}

__all__ = [
    "SPEC_VERSION",
    "DatasetManifest",
    "SynthmarkError",
    "SynthmarkRecord",
    "Verification",
    "__version__",
    "canonical_json",
    "digest_file",
    "load_record",
    "parse_manifest",
    "parse_record",
    "read_record",
    "stamp",
    "validate",
    "verify",
]

if TYPE_CHECKING:
    from synthmark.api import Verification, digest_file, read_record, stamp, verify
    from synthmark.errors import SynthmarkError
    from synthmark.record.models import SPEC_VERSION, DatasetManifest, SynthmarkRecord
    from synthmark.record.parsing import canonical_json, load_record, parse_manifest, parse_record
    from synthmark.validation.engine import validate


#: Import paths of 0.1 that moved in 0.2 (docs/architecture.md), old -> new. They keep
#: working, with a DeprecationWarning, until 0.3.
MOVED_MODULES: dict[str, str] = {
    "synthmark.records": "synthmark.record.parsing",
    "synthmark.vocab": "synthmark.record.vocab",
    "synthmark.sidecar": "synthmark.carriers.sidecar",
    "synthmark.slices": "synthmark.carriers.slices",
    "synthmark.content_credentials": "synthmark.carriers.c2pa",
    "synthmark.marking": "synthmark.watermark.content",
    "synthmark.attest": "synthmark.provenance",
    "synthmark.config": "synthmark.validation.config",
    "synthmark.report": "synthmark.validation.report",
    "synthmark.reporters": "synthmark.validation.reporters",
    "synthmark.distributed": "synthmark.validation.dask",
    "synthmark.schema": "synthmark.specgen.schema",
    "synthmark.spec_tables": "synthmark.specgen.tables",
    "synthmark.gateway": "synthmark.serve.dicom",
    "synthmark.manifest": "synthmark.publish.manifest",
    "synthmark.exports": "synthmark.publish.exports",
    "synthmark.card": "synthmark.publish.card",
}


def _moved_target(fullname: str) -> str | None:
    for old, new in MOVED_MODULES.items():
        if fullname == old or fullname.startswith(old + "."):
            return new + fullname[len(old) :]
    return None


class _MovedModule(types.ModuleType):
    """Stands in for an old import path and forwards every attribute to the new module."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self.__dict__["_synthmark_target"] = target

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__dict__["_synthmark_target"]), attr)

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module(self.__dict__["_synthmark_target"]))


class _MovedModuleLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.target}; the old path goes away in synthmark 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        importlib.import_module(self.target)  # fail now, with the real error, if it cannot
        module = _MovedModule(spec.name, self.target)
        module.__path__ = []  # so that "import old.sub" reaches this finder too
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        new = _moved_target(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader(new))


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synthmark' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
