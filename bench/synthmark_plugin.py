"""synthmark as a ``--plugin`` of the independent scorer ``shared/tools/peer_watermark_bench.py``.

    .venv/bin/python /work/shared/tools/peer_watermark_bench.py --pydicom-samples \
        --plugin bench/synthmark_plugin.py

The scorer calls ``make_methods(nbits)`` and uses each returned object's ``name``, ``nbits``,
``embed(grey_u8, bits) -> grey_u8``, ``extract(grey_u8) -> bits``, ``note``, ``setup()`` and
``rgb_out``. This adapter only uses synthmark's public API:

* the scorer's 64 random bits become the 8-byte ``record_id_prefix`` of a
  :class:`synthmark.watermark.Payload` (synthmark always carries exactly 64 such bits plus a
  32-bit keyed tag, so ``nbits`` other than 64 is not supported);
* ``extract`` returns the decoded prefix when :func:`synthmark.watermark.detect` detects the
  mark (pilot p <= 1e-6) **and** the tag verifies; otherwise it returns pseudo-random bits,
  i.e. a failed decode scores as a coin flip (about 0.5 bit accuracy, never a detection).
  The scorer's binomial rule (>= 51/64 bits) is therefore met only by a verified payload.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthmark.watermark import Payload, WatermarkKey, detect, embed

KEY = WatermarkKey.from_secret(bytes(range(32)))


class SynthmarkMethod:
    """Duck-types the scorer's ``Method`` (a plain class: the scorer loads this file without
    registering it in ``sys.modules``, which dataclasses need)."""

    def __init__(
        self,
        name: str,
        nbits: int,
        embed: Callable[[np.ndarray, np.ndarray], np.ndarray],
        extract: Callable[[np.ndarray], np.ndarray],
        note: str = "",
    ) -> None:
        self.name, self.nbits, self.embed, self.extract, self.note = (
            name,
            nbits,
            embed,
            extract,
            note,
        )
        self.rgb_out = False

    def setup(self) -> None:
        pass


def _make(strength: float) -> SynthmarkMethod:
    rng = np.random.default_rng(12345)

    def do_embed(g: np.ndarray, bits: np.ndarray) -> np.ndarray:
        prefix = np.packbits(np.asarray(bits, dtype=np.uint8).reshape(-1)).tobytes()
        return embed(np.ascontiguousarray(g), KEY, Payload(prefix), strength=strength)

    def do_extract(g: np.ndarray) -> np.ndarray:
        r = detect(np.ascontiguousarray(g), [KEY])
        if r.payload is not None:
            return np.unpackbits(np.frombuffer(r.payload.record_id_prefix, np.uint8)).astype(
                np.int64
            )
        return rng.integers(0, 2, 64)

    label = "synthmark" if strength == 1.0 else f"synthmark@{strength:g}"
    return SynthmarkMethod(
        label,
        64,
        do_embed,
        do_extract,
        f"synthmark-wm/1, strength {strength:g}, payload = verified 64-bit prefix",
    )


def make_methods(nbits: int) -> list[SynthmarkMethod]:
    if nbits != 64:
        print(f"synthmark plugin: carries 64 prefix bits, ignoring --bits {nbits}", file=sys.stderr)
    return [_make(1.0)]
