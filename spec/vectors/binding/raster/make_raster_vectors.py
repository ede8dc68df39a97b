"""Regenerate the raster content-binding vectors: ``python make_raster_vectors.py`` in this folder.

Each vector is a small PNG, TIFF or JPEG; ``expected.json`` maps its name to the canonical
descriptor and both digests (spec/synthmark.md section 6, spec/parts/raster-sidecar.md).
The same grey pixels as 8-bit PNG and TIFF share one digest; the palette PNG shares the
digest of its RGB expansion. ``rgb_q90.jpg`` depends on the JPEG decoder (libjpeg-turbo,
as in Pillow's wheels, integer IDCT); ``decoder_dependent`` marks it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from synthmark.binding import digest_pixels
from synthmark.carriers.raster import RasterCarrier

HERE = Path(__file__).resolve().parent
DECODER_DEPENDENT = {"rgb_q90.jpg"}


def main() -> None:
    """Write the vector files and expected.json."""
    rng = np.random.default_rng(20261123)
    grey = rng.integers(0, 256, (24, 32)).astype(np.uint8)
    Image.fromarray(grey).save(HERE / "grey8.png")
    Image.fromarray(grey).save(HERE / "grey8.tif", compression="tiff_lzw")
    grey16 = rng.integers(0, 65536, (20, 16)).astype(np.uint16)
    Image.fromarray(grey16).save(HERE / "grey16.png")
    Image.fromarray(grey16).save(HERE / "grey16.tif")
    rgb = rng.integers(0, 256, (16, 20, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(HERE / "rgb.png")
    Image.fromarray(rgb).save(HERE / "rgb_q90.jpg", quality=90)
    rgba = rng.integers(0, 256, (12, 10, 4)).astype(np.uint8)
    Image.frombytes("RGBA", (10, 12), rgba.tobytes()).save(HERE / "rgba.png")
    palette = Image.fromarray(rgb[:, :, 0] // 32).convert("P")
    palette.putpalette([v for i in range(8) for v in (i * 32, 255 - i * 32, i * 16)])
    palette.save(HERE / "palette.png")
    Image.fromarray(grey > 127).save(HERE / "bilevel.png")
    expected = {}
    for path in sorted(HERE.iterdir()):
        if path.suffix not in (".png", ".tif", ".jpg"):
            continue
        digest = digest_pixels(RasterCarrier.open(path).pixels())
        expected[path.name] = {
            "descriptor": digest.descriptor,
            "xxh3_128": digest.xxh3_128,
            "sha256": digest.sha256,
            "decoder_dependent": path.name in DECODER_DEPENDENT,
        }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
