"""Robust invisible watermark for 2-D and 3-D medical images (torch, float32, batched).

A keyed, tiled spread-spectrum mark: a pilot carrier proves presence with a conservative
p-value, and payload carriers hold 96 convolutionally coded bits (an 8-byte record id
prefix plus a 4-byte keyed tag). See ``spec/parts/watermark.md``.

Keys and payloads import without torch; :func:`embed`, :func:`detect` and the result types
load torch on first use, so tools that only manage keys start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from synthmark.watermark._codec import Payload
from synthmark.watermark._keys import (
    PUBLIC_DETECTION_KEY,
    WatermarkKey,
    generate_key,
    load_key,
    load_keyring,
    save_key,
    save_keyring,
)

if TYPE_CHECKING:
    from synthmark.watermark._core import Detection, SliceDetection, detect, embed

SCHEME = "synthmark-wm/1"
"""Scheme name written in a record's watermark descriptor."""

_LAZY = {"Detection", "SliceDetection", "detect", "embed"}

__all__ = [
    "PUBLIC_DETECTION_KEY",
    "SCHEME",
    "Detection",
    "Payload",
    "SliceDetection",
    "WatermarkKey",
    "detect",
    "embed",
    "generate_key",
    "load_key",
    "load_keyring",
    "save_key",
    "save_keyring",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module("synthmark.watermark._core"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
