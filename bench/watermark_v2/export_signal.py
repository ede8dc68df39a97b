"""Deliverable 1: signal left by export chains, with ORACLE geometry.

Mark natively (int16, bits_stored=16, signed, default strength), export, then undo the
geometry exactly (resample back onto the marked grid with the known transform) and measure
the pilot z at the TRUE hypothesis (g = identity, known shift) plus detect(..., scales=(1,)).
Usage: python bench/watermark_v2/export_signal.py [out.json]
"""

import json
import sys
import time

import common as c
import numpy as np
from PIL import Image

rng = np.random.default_rng(0)


def rrc_box(h, w, area_frac, rng):
    ar = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    ch = round(np.sqrt(area_frac * h * w / ar))
    cw = round(np.sqrt(area_frac * h * w * ar))
    ch, cw = min(ch, h), min(cw, w)
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    return y0, x0, ch, cw


def chains(mod):
    wins = ["minmax", "soft", "lung", "bone", "brain"] if mod == "CT" else ["minmax", "p1-99"]
    out = []
    for w in wins:
        out += [(w, "png", None, None), (w, "jpeg", 90, None), (w, "jpeg", 70, None)]
        for s in (256, 224, 128):
            out.append((w, "png", None, ("resize", s)))
        out.append((w, "jpeg", 70, ("resize", 224)))
        out.append((w, "jpeg", 90, ("rrc", 224)))
    return out


def run_chain(marked, mod, ch, rng):
    w, fmt, q, geo = ch
    H, W = marked.shape
    x8 = c.to8(marked, w)
    shift = (0, 0)
    if geo is None:
        y = c.codec(x8, fmt, q).astype(np.float32)
        return y, shift
    kind, s = geo
    if kind == "resize":  # resize (aspect change for non-square), then encode, then oracle back
        r = np.clip(np.rint(c.resize(x8, (s, s))), 0, 255).astype(np.uint8)
        r = c.codec(r, fmt, q)
        return c.resize(r, (H, W), Image.BICUBIC), shift
    # RandomResizedCrop-like: crop 50% area, resize to s x s, encode; oracle: back to crop size
    y0, x0, ch_, cw = rrc_box(H, W, 0.5, rng)
    r = np.clip(np.rint(c.resize(x8[y0 : y0 + ch_, x0 : x0 + cw], (s, s))), 0, 255).astype(np.uint8)
    r = c.codec(r, fmt, q)
    back = c.resize(r, (ch_, cw), Image.BICUBIC)
    return back, ((-y0) % 128, (-x0) % 128)


def evaluate(y, key, shift):
    zm = c.zmap(y, key)
    z_true = float(zm[0, shift[0], shift[1]])
    d = c.detect(y, [key], scales=(1.0,))
    ok = d.payload is not None and d.payload.record_id_prefix == c.PAYLOAD.record_id_prefix
    return z_true, bool(d.detected), bool(ok), float(d.z)


def main():
    cv = c.covers()
    rows = []
    t0 = time.time()
    for name in [
        "693_J2KI.dcm",
        "J2K_pixelrep_mismatch.dcm",
        "CT_small.dcm",
        "examples_overlay.dcm",
    ]:
        x, mod = cv[name]
        for ki, key in enumerate(c.KEYS):
            m = c.embed(x, key, c.PAYLOAD, bits_stored=16, signed=True)
            z, det, ok, zd = evaluate(m.astype(np.float32), key, (0, 0))
            rows.append(
                {
                    "cover": name,
                    "key": ki,
                    "chain": "native (no export)",
                    "z": z,
                    "det": det,
                    "payload": ok,
                }
            )
            for ch in chains(mod):
                y, sh = run_chain(m, mod, ch, rng)
                z, det, ok, zd = evaluate(y, key, sh)
                label = f"{ch[0]} {ch[1]}{'' if ch[2] is None else ch[2]}" + (
                    "" if ch[3] is None else f" {ch[3][0]}{ch[3][1]}"
                )
                rows.append(
                    {"cover": name, "key": ki, "chain": label, "z": z, "det": det, "payload": ok}
                )
        print(name, "done", round(time.time() - t0, 1), "s", flush=True)
    # small slices, unattacked
    for name in ["MR_small.dcm", "CT_small.dcm"]:
        x, mod = cv[name]
        for ki, key in enumerate(c.KEYS):
            m = c.embed(x, key, c.PAYLOAD, bits_stored=16, signed=True)
            for lab, y in [
                ("small native", m.astype(np.float32)),
                ("small minmax png", c.to8(m, "minmax").astype(np.float32)),
            ]:
                z, det, ok, zd = evaluate(y, key, (0, 0))
                rows.append(
                    {"cover": name, "key": ki, "chain": lab, "z": z, "det": det, "payload": ok}
                )
            # 8-bit marking directly (reference: strength for 8-bit storage)
            x8 = c.to8(x, "minmax")
            m8 = c.embed(x8, key, c.PAYLOAD)
            z, det, ok, _zd = evaluate(m8.astype(np.float32), key, (0, 0))
            rows.append(
                {
                    "cover": name,
                    "key": ki,
                    "chain": "small marked in 8-bit",
                    "z": z,
                    "det": det,
                    "payload": ok,
                }
            )
    json.dump(rows, open(sys.argv[1] if len(sys.argv) > 1 else "signal.json", "w"), indent=0)
    # table: per (cover group, chain): median/min z over covers x keys, detected and payload fractions
    import collections

    groups = collections.OrderedDict()
    for r in rows:
        grp = (
            "CT512"
            if r["cover"] in ("693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm")
            else r["cover"].replace(".dcm", "")
        )
        groups.setdefault((grp, r["chain"]), []).append(r)
    print("| covers | chain | n | median z | min z | detected | payload |")
    print("|---|---|---|---|---|---|---|")
    for (g, ch), rs in groups.items():
        zs = [r["z"] for r in rs]
        print(
            f"| {g} | {ch} | {len(rs)} | {np.median(zs):.1f} | {min(zs):.1f} | {sum(r['det'] for r in rs)}/{len(rs)} | {sum(r['payload'] for r in rs)}/{len(rs)} |"
        )


if __name__ == "__main__":
    main()
