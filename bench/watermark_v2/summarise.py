import json
import sys

rows = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "sync.json"))
print(
    "| cover | export | attack | z before (v1 detect, 3 scales) | sync score | A rel. error | z after sync (1 cand.) | z after (5 cand.) | payload | sync ms |"
)
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(
        f"| {r['cover'][:8]} | {r['export']} | {r['attack']} | {r['z_before']:.1f} | {r['sync_score']:.1f} | {r['A_err']:.4f} | {r['z_after']:.1f} | {r['z_after_5cand']:.1f} | {'yes' if r['payload'] else 'no'} | {r['t_sync_ms']:.0f} |"
    )
import collections

ok = collections.Counter()
tot = collections.Counter()
for r in rows:
    tot[r["export"]] += 1
    ok[r["export"]] += r["A_err"] < 0.01
print({k: f"{ok[k]}/{tot[k]} locked (A err<1%)" for k in tot})
t512 = [r["t_sync_ms"] for r in rows if r["shape"] == [512, 512]]
print(
    "sync time at 512x512 ms: median",
    sorted(t512)[len(t512) // 2],
    "min",
    min(t512),
    "max",
    max(t512),
)
try:
    nulls = json.load(open(sys.argv[2] if len(sys.argv) > 2 else "sync_null.json"))
    print(
        "| unmarked cover | export | attack | shape | sync score | lattice pts | B | z after sync (3 keys) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in nulls:
        print(
            f"| {r['cover']} | {r['export']} | {r['attack']} | {r['shape']} | {r['sync_score']:.1f} | {r['n_lattice']} | {r['B']} | {r['z_after_3keys']} |"
        )
except FileNotFoundError:
    print("no null file yet")
