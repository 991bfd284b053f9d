"""The one-call functions in a loop: ``diffrender.render`` / ``render_vjp`` called on a scene
whose parameter changes every iteration, against the same loop over one ``Renderer`` (issue
#17 item 5: the one-call functions keep a Renderer per scene, ``diffrender/core/cache.py``).

Alternating pairs (one-call loop, Renderer loop) in this process; CPU time; one JSON line per
pair and a summary with the median ratio one-call / Renderer and its min-max (1.0 = the cache
costs nothing; before the cache, each call built a Renderer: 3.3x on this loop).

    python benchmarks/bench_one_call.py [--res 64] [--spp 4] [--iterations 30] [--pairs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SCENE = os.path.join(ROOT, "scenes", "cornell-box", "scene.xml")
NAME = "red.reflectance"

import diffrender as dr  # noqa: E402


def loop(render, vjp, params, iterations, spp):
    t = time.process_time()
    for i in range(iterations):
        params[NAME] = [0.3 + 0.01 * i, 0.1, 0.1]
        img = render(spp=spp, seed=2 * i)
        vjp(np.ones_like(img), [NAME], spp=spp, seed=2 * i + 1)
    return time.process_time() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--spp", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--pairs", type=int, default=3)
    a = ap.parse_args()
    one = dr.load_scene(SCENE, res=a.res)
    kept = dr.Renderer(dr.load_scene(SCENE, res=a.res))

    def one_render(**kw):
        return dr.render(one, **kw)

    def one_vjp(d, names, **kw):
        return dr.render_vjp(one, d, names, **kw)

    args = [(one_render, one_vjp, dr.traverse(one)),
            (kept.render, kept.vjp, dr.traverse(kept.scene))]
    for f, g, p in args:  # warm-up: compile, upload
        loop(f, g, p, 1, a.spp)
    ratios = []
    for k in range(a.pairs):
        t_one = loop(*args[0], a.iterations, a.spp)
        t_kept = loop(*args[1], a.iterations, a.spp)
        ratios.append(t_one / t_kept)
        print(json.dumps({"pair": k, "one_call_cpu_s": round(t_one, 3),
                          "renderer_cpu_s": round(t_kept, 3), "ratio": round(ratios[-1], 3)}),
              flush=True)
    print(json.dumps({"summary": "one-call loop / Renderer loop (CPU time)",
                      "res": a.res, "spp": a.spp, "iterations": a.iterations,
                      "ratio_median": round(statistics.median(ratios), 3),
                      "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3)}))


if __name__ == "__main__":
    main()
