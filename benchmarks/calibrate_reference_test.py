"""Calibration of ``tests/core/test_reference_mitsuba.py`` on Mitsuba itself: for every
reference, ``TRIALS`` times, Mitsuba renders the scene the way the test renders diffrender
(K renders at the test's spp, fresh seeds) and the test is run on them as they are (a failure is a
false alarm), 1 % and 2 % brighter, and shifted by one pixel (those should fail). One JSON line per
reference; ``max_z_ratio`` / ``mean_z2_ratio`` are the largest statistics seen over their limits.

    python benchmarks/calibrate_reference_test.py [TRIALS] [NAME ...]
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]

import tests.helpers.reference as T  # noqa: E402
from peers import get_mitsuba  # noqa: E402


def main() -> int:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    only = sys.argv[2:]
    peer, why = get_mitsuba("llvm_ad_rgb", threads=2)
    if peer is None:
        print(f"calibrate_reference_test: Mitsuba is not available: {why}", file=sys.stderr)
        return 1
    for name in T.reference_names():
        if only and name not in only:
            continue
        ref = T.load_reference(name)
        meta = ref["meta"]
        k, spp = T.OURS.get(name, T.DEFAULT_OURS)
        scene = peer.load(T.ROOT / meta["scene"], **meta["defines"])
        counts = {"false_alarms": 0, "reject_1pct": 0, "reject_2pct": 0, "reject_shift": 0}
        zr, mr = [], []
        for t in range(trials):
            renders = [peer.render(scene, spp, seed=50000 + t * 100 + i) for i in range(k)]
            r = T.compare_with_reference(renders, ref)
            counts["false_alarms"] += not r["ok"]
            zr.append(r["max_abs_z"] / r["limit_max"])
            mr.append(r["mean_z2"] / r["limit_mean"])
            for key, imgs in (("reject_1pct", [x * 1.01 for x in renders]),
                              ("reject_2pct", [x * 1.02 for x in renders]),
                              ("reject_shift", [np.roll(x, 1, axis=1) for x in renders])):
                counts[key] += not T.compare_with_reference(imgs, ref)["ok"]
        print(json.dumps({"reference": name, "trials": trials, "k": k, "spp": spp, **counts,
                          "max_z_ratio": round(max(zr), 3), "mean_z2_ratio": round(max(mr), 3)}),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
