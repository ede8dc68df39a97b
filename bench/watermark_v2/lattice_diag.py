"""True-lattice score against the chosen lattice, and the oracle z (section 2, failure 1)."""

import common as c
import lattice_sync as S
import numpy as np

x, _ = c.covers()["693_J2KI.dcm"]
key = c.KEYS[0]
m = c.embed(x, key, c.PAYLOAD, bits_stored=16, signed=True)
rng = np.random.default_rng(1)
atts = {a[0]: a for a in S.attacks(512, 512, rng)}
for exp in ("minmax8", "native"):
    b = c.to8(m, "minmax") if exp == "minmax8" else m
    fill = 0.0 if exp == "minmax8" else float(m.min())
    q = (0, 255) if exp == "minmax8" else (-32768, 32767)
    for n in ["rot17", "scale0.6", "aspect 512x512->224x360"]:
        att = atts[n]
        y = S.apply_attack(b, att, fill, q)
        Bt = 128 * att[1]
        maps, ctr, hw = S.lag_maps(y)
        sc = [(s, round(S.score(a, ctr, hw, Bt)[0], 1)) for s, a in maps]
        zo, _ = S.synced_z(y, Bt, key)
        B, s, nn, _ = S.estimate_lattice(y)
        print(
            exp,
            n,
            "true-lattice scores",
            sc,
            "oracle z",
            round(zo, 1),
            "| est score",
            round(s, 1),
            "err",
            round(S.a_error(B, att[1]), 3),
            flush=True,
        )
