"""BVH build benchmark: binned-SAH build of N triangles (default 2^20: an icosphere of 327,680
triangles plus small random triangles filling a box), and the Geometry upload (build + packing
+ field writes). Prints one JSON line; times are CPU seconds of this process (and wall), the
build's the median of ``--repeat`` builds (the first one includes the build kernels' first call).

    python benchmarks/bvh_build.py [--n 1048576] [--repeat 3]
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def triangles(n, seed=0):
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=7)
    v, f = np.asarray(m.vertices), np.asarray(m.faces)
    f = f[: min(len(f), n)]
    rng = np.random.default_rng(seed)
    extra = n - len(f)
    c = rng.uniform(-3, 3, (extra, 3))
    v0 = np.concatenate([v[f[:, 0]], c])
    v1 = np.concatenate([v[f[:, 1]], c + rng.normal(scale=0.02, size=c.shape)])
    v2 = np.concatenate([v[f[:, 2]], c + rng.normal(scale=0.02, size=c.shape)])
    return v0, v1, v2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1 << 20)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from diffrender.engine import init
    init("cpu")  # the large-scene build runs Taichi kernels on the engine's device
    from diffrender.core.bvh import build_bvh

    v0, v1, v2 = triangles(a.n)
    cpus, walls = [], []
    for _ in range(a.repeat):
        c, t = time.process_time(), time.perf_counter()
        b = build_bvh(v0, v1, v2)
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - t)
    out = {"bench": "bvh_build", "triangles": int(v0.shape[0]), "nodes": b.n_nodes,
           "depth": b.depth(), "sah_cost": round(b.sah_cost(), 2),
           "build_cpu_s": round(statistics.median(cpus), 3), "build_wall_s": round(statistics.median(walls), 3)}
    from diffrender.core.geometry import Geometry
    from diffrender.scene.model import Shape

    verts = np.stack([v0, v1, v2], axis=1).reshape(-1, 3)
    faces = np.arange(verts.shape[0]).reshape(-1, 3)
    c, t = time.process_time(), time.perf_counter()
    Geometry([Shape(type="mesh", vertices=verts, faces=faces)], [0], [-1])
    out.update(geometry_upload_cpu_s=round(time.process_time() - c, 3),
               geometry_upload_wall_s=round(time.perf_counter() - t, 3))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
