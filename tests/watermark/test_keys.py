from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from synthmark.errors import KeyError_
from synthmark.watermark import (
    PUBLIC_DETECTION_KEY,
    WatermarkKey,
    generate_key,
    load_key,
    load_keyring,
    save_key,
    save_keyring,
)
from synthmark.watermark._keys import derive_key_id


def test_generate_key_is_random_and_consistent() -> None:
    a, b = generate_key(), generate_key()
    assert a != b
    assert len(a.secret) == 32 and not a.public
    assert a.key_id == derive_key_id(a.secret) and len(a.key_id) == 16
    assert a.secret.hex() not in repr(a)


def test_public_key_is_fixed() -> None:
    assert PUBLIC_DETECTION_KEY.public
    # Published in spec/parts/watermark.md; changing it breaks every deployed detector.
    assert PUBLIC_DETECTION_KEY.secret.hex() == (
        "3e6e7047cc59b993409d5120d18876b4efd3f600c8bb33fe311cdf3d841379c9"
    )
    assert PUBLIC_DETECTION_KEY.key_id == "3279dcac8aaa62da"


def test_save_load_round_trip(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "k.json"
    save_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == key
    assert load_keyring(path) == [key]


def test_keyring_round_trip(tmp_path: Path) -> None:
    keys = [generate_key(), generate_key(), PUBLIC_DETECTION_KEY]
    path = tmp_path / "ring.json"
    save_keyring(keys, path)
    assert load_keyring(path) == keys


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"type": "other", "version": 1}',
        b'{"type": "synthmark-watermark-key", "version": 99}',
        b'{"type": "synthmark-watermark-key", "version": 1, "key_id": "x", "secret": "%%%"}',
        b'{"type": "synthmark-watermark-key", "version": 1, "key_id": "x", "secret": "AAAA"}',
    ],
)
def test_bad_key_files_raise(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(KeyError_) as info:
        load_key(path)
    assert info.value.code == "SMX040"


def test_tampered_key_id_raises(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    save_key(generate_key(), path)
    doc = json.loads(path.read_text())
    doc["key_id"] = "0" * 16
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyError_):
        load_key(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(KeyError_):
        load_key(tmp_path / "nope.json")
    with pytest.raises(KeyError_):
        load_keyring(tmp_path / "nope.json")


def test_empty_keyring_raises(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"type": "synthmark-watermark-keyring", "version": 1, "keys": []}))
    with pytest.raises(KeyError_):
        load_keyring(path)


def test_key_validation() -> None:
    with pytest.raises(KeyError_):
        WatermarkKey(key_id="00", secret=b"x" * 32)
    with pytest.raises(KeyError_):
        WatermarkKey.from_secret(b"short")


def test_keys_import_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import synthmark.watermark as w; w.generate_key(); "
        "assert 'torch' not in sys.modules; w.embed; assert 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
