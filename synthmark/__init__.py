"""synthmark: label, bind, watermark and validate synthetic medical images.

The public API is what ``__all__`` lists; everything is imported lazily so that
``import synthmark`` (and ``synthmark --help``) stays fast and never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "SynthmarkRecord": "synthmark.record",
    "DatasetManifest": "synthmark.record",
    "SPEC_VERSION": "synthmark.record",
    "SynthmarkError": "synthmark.errors",
    "parse_record": "synthmark.records",
    "parse_manifest": "synthmark.records",
    "load_record": "synthmark.records",
    "canonical_json": "synthmark.records",
    "stamp": "synthmark.api",
    "verify": "synthmark.api",
    "read_record": "synthmark.api",
    "Verification": "synthmark.api",
    "digest_file": "synthmark.api",
    "validate": "synthmark.validation",
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
    from synthmark.record import SPEC_VERSION, DatasetManifest, SynthmarkRecord
    from synthmark.records import canonical_json, load_record, parse_manifest, parse_record
    from synthmark.validation import validate


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synthmark' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
