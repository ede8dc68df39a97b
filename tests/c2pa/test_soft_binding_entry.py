"""The Soft Binding Algorithm List entry (spec/c2pa/) follows the list's entry rules.

The rules are those of the C2PA list's entry schema (c2pa-org/softbinding-algorithm-list):
required fields, the reverse-domain `alg` pattern, media types, an ISO date and an e-mail
contact. And the entry names what the writer actually writes.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from synthmark.carriers.c2pa import SOFT_BINDING_ALG

ENTRY = Path(__file__).resolve().parents[2] / "spec" / "c2pa" / "softbinding-algorithm-entry.json"
LABEL = re.compile(r"^[A-Za-z]{2,63}(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+\.?$")
MEDIA_TYPE = re.compile(r"^([a-zA-Z0-9\-]+/[a-zA-Z0-9\-+]+(?:\.[a-zA-Z0-9\-+]+)*)$")


def test_entry_follows_the_list_rules() -> None:
    entry = json.loads(ENTRY.read_text())
    assert {"identifier", "alg", "type", "entryMetadata"} <= set(entry)
    assert isinstance(entry["identifier"], int) and 0 <= entry["identifier"] <= 65535
    assert LABEL.fullmatch(entry["alg"]) and entry["alg"] == SOFT_BINDING_ALG
    assert entry["type"] in ("watermark", "fingerprint")
    assert entry["decodedMediaTypes"] and set(entry["decodedMediaTypes"]) <= {
        "application",
        "audio",
        "image",
        "model",
        "text",
        "video",
    }
    assert all(MEDIA_TYPE.fullmatch(t) for t in entry["encodedMediaTypes"])
    meta = entry["entryMetadata"]
    assert {"description", "dateEntered", "contact", "informationalUrl"} <= set(meta)
    datetime.fromisoformat(meta["dateEntered"].replace("Z", "+00:00"))
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", meta["contact"])
    assert meta["informationalUrl"].startswith("https://")
    assert all(LABEL.fullmatch(c) for c in meta.get("categories", []))
