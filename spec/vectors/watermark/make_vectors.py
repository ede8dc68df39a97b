"""Regenerate the watermark conformance vectors (run from the repository root).

    .venv/bin/python spec/vectors/watermark/make_vectors.py

Only rerun when the algorithm changes on purpose: the vectors are the contract.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from synthmark.watermark import PUBLIC_DETECTION_KEY, Payload, WatermarkKey, detect, embed, save_key
from synthmark.watermark._carriers import independent_band, keyed_stream
from synthmark.watermark._codec import conv_encode, info_bits

HERE = Path(__file__).parent
SECRET = hashlib.sha256(b"synthmark watermark test vector key 1").digest()


def _carrier_summary(key: WatermarkKey, tile: int = 128) -> dict[str, object]:
    m = int(independent_band(tile).shape[0])
    phase = np.frombuffer(keyed_stream(key.secret, "phase", tile, 4 * m), dtype="<u4")
    perm_keys = np.frombuffer(keyed_stream(key.secret, "perm", tile, 8 * m), dtype="<u8")
    perm = np.argsort(perm_keys, kind="stable")
    return {
        "tile": tile,
        "independent_band_coefficients": m,
        "first_band_indices_ky_kx": independent_band(tile)[:4].tolist(),
        "phase_u32_first4": [int(v) for v in phase[:4]],
        "perm_first8": [int(v) for v in perm[:8]],
    }


def resize(image: np.ndarray, how: str) -> np.ndarray:
    """``nearest_x2``: every pixel repeated 2 x 2; ``mean_2x2``: the mean of each 2 x 2 block,
    rounded half to even. Both keep the half-pixel-centre geometry of spec 5.6."""
    if how == "nearest_x2":
        return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    if how == "mean_2x2":
        h, w = image.shape
        blocks = image.astype(np.float64).reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        return np.rint(blocks).astype(image.dtype)
    raise ValueError(how)


def main() -> None:
    key = WatermarkKey.from_secret(SECRET)
    save_key(key, HERE / "key.json")
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False)).pixel_array
    grey = np.rint((ct - ct.min()) / (ct.max() - ct.min()) * 255).astype(np.uint8)
    np.save(HERE / "input_ct_small_int16.npy", ct)
    np.save(HERE / "input_grey_uint8.npy", grey)
    # 256 x 256: CT_small mirrored into four quadrants, so that its 2 x 2 reduction still
    # has 128 x 128 pixels and its payload decodes with a wide margin (a 64 x 64 reduction
    # decoded with 15 % raw bit errors, which one CPU's rounding decoded and another's not).
    mirrored = np.block([[ct, ct[:, ::-1]], [ct[::-1], ct[::-1, ::-1]]])
    np.save(HERE / "input_ct_mirror256_int16.npy", mirrored)
    cases = [
        {
            "name": "ct_small_private",
            "input": "input_ct_small_int16.npy",
            "key": "key.json",
            "payload_record_id_prefix": "0011223344556677",
            "embed": {"strength": 12.0, "bits_stored": 16, "signed": True},
        },
        {
            "name": "ct_mirror256_private",
            "input": "input_ct_mirror256_int16.npy",
            "key": "key.json",
            "payload_record_id_prefix": "0011223344556677",
            "embed": {"strength": 12.0, "bits_stored": 16, "signed": True},
        },
        {
            "name": "grey_public",
            "input": "input_grey_uint8.npy",
            "key": "public",
            "payload_record_id_prefix": "8899aabbccddeeff",
            "embed": {"strength": 1.5},
        },
    ]
    out = []
    for case in cases:
        k = PUBLIC_DETECTION_KEY if case["key"] == "public" else key
        pixels = np.load(HERE / str(case["input"]))
        payload = Payload(bytes.fromhex(str(case["payload_record_id_prefix"])))
        params: dict[str, object] = dict(case["embed"])  # type: ignore[call-overload]
        marked = embed(pixels, k, payload, **params)  # type: ignore[arg-type]
        expected_name = str(case["name"]) + "_marked.npy"
        np.save(HERE / expected_name, marked)
        result = detect(marked, [k])
        code = conv_encode(info_bits(k.secret, payload))
        out.append(
            {
                **case,
                "key_id": k.key_id,
                "info_word_hex": np.packbits(info_bits(k.secret, payload)).tobytes().hex(),
                "codeword_hex": np.packbits(code).tobytes().hex(),
                "marked": expected_name,
                "marked_sha256": hashlib.sha256(np.ascontiguousarray(marked).tobytes()).hexdigest(),
                "detect": {
                    "detected": result.detected,
                    "z": round(result.z, 4),
                    "p_value": float(f"{result.p_value:.6g}"),
                    "transform": result.transform,
                    "payload_record_id_prefix": (
                        result.payload.record_id_prefix.hex() if result.payload else None
                    ),
                },
            }
        )
    # Resized copies of the marked arrays exercise the scale search (spec 5.6, whole
    # periods 256 and 64). The resizers are plain NumPy so that they are reproducible.
    resized = []
    for name, source, k, how in (
        ("grey_public_up2", "grey_public", PUBLIC_DETECTION_KEY, "nearest_x2"),
        ("ct_mirror256_private_down2", "ct_mirror256_private", key, "mean_2x2"),
    ):
        image = resize(np.load(HERE / f"{source}_marked.npy"), how)
        np.save(HERE / f"{name}.npy", image)
        result = detect(image, [k])
        resized.append(
            {
                "name": name,
                "source": f"{source}_marked.npy",
                "resize": how,
                "input": f"{name}.npy",
                "input_sha256": hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest(),
                "key": "public" if k.public else "key.json",
                "detect": {
                    "detected": result.detected,
                    "z": round(result.z, 4),
                    "p_value": float(f"{result.p_value:.6g}"),
                    "transform": result.transform,
                    "payload_record_id_prefix": (
                        result.payload.record_id_prefix.hex() if result.payload else None
                    ),
                },
            }
        )
    doc = {
        "algorithm": "synthmark-wm/1",
        "carriers": {
            "key.json": _carrier_summary(key),
            "public": _carrier_summary(PUBLIC_DETECTION_KEY),
        },
        "cases": out,
        "resized_cases": resized,
    }
    (HERE / "vectors.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
