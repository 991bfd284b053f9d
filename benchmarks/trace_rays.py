"""Ray-traversal microbenchmark: closest-hit and shadow (any-hit) rays through the BVH of a
scene, outside the path tracer. Rays start uniformly inside the scene's bounding box (shrunk
by 2%) with uniform directions; shadow rays get a uniform tmax up to the box diagonal.
Prints one JSON line: CPU nanoseconds per ray (best of --repeat), hit fractions.

    python benchmarks/trace_rays.py [--scene scenes/cornell-box/scene.xml] [--rays 1048576]
                                    [--threads 1] [--repeat 3]
"""
import argparse
import json
import os
import resource
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def cpu_s():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scene", default=os.path.join(ROOT, "scenes", "cornell-box", "scene.xml"))
    ap.add_argument("--rays", type=int, default=1 << 20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from diffrender.engine import init

    init("cpu", threads=a.threads)
    from diffrender.core.renderer import Renderer
    from diffrender.scene.loader import load_scene

    g = Renderer(load_scene(a.scene)).geometry
    lo, hi = g._v.min(axis=0), g._v.max(axis=0)
    pad = 0.02 * (hi - lo)
    rng = np.random.default_rng(0)
    o = rng.uniform(lo + pad, hi - pad, (a.rays, 3)).astype(np.float32)
    d = rng.normal(size=(a.rays, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    tmax = rng.uniform(0.0, np.linalg.norm(hi - lo), a.rays)
    g.closest_hit(o[:64], d[:64])
    g.occluded_np(o[:64], d[:64], tmax[:64])
    best_c = best_o = np.inf
    for _ in range(a.repeat):
        c = cpu_s()
        _, tri = g.closest_hit(o, d)
        best_c = min(best_c, cpu_s() - c)
        c = cpu_s()
        occ = g.occluded_np(o, d, tmax)
        best_o = min(best_o, cpu_s() - c)
    print(json.dumps({"bench": "trace_rays", "scene": os.path.relpath(a.scene, ROOT),
                      "triangles": int(g.n_tris), "rays": a.rays, "threads": a.threads,
                      "closest_ns_per_ray": round(best_c / a.rays * 1e9, 1),
                      "shadow_ns_per_ray": round(best_o / a.rays * 1e9, 1),
                      "closest_hit_fraction": round(float((tri >= 0).mean()), 4),
                      "occluded_fraction": round(float(occ.mean()), 4)}))


if __name__ == "__main__":
    main()
