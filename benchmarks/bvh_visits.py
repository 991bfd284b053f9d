"""Node visits per ray of the binary BVH builders' trees, simulated in numpy (no timing).

Rays of a small path tracer in the Cornell box (camera rays, cosine bounces, shadow rays
to uniform points of the light) are traced through a binary :class:`BVH` (ordered traversal,
nearer child first, entry-distance culling, any-hit exit for shadow rays: the renderer's
traversal before it moved to the wide tree that ``bvh.collapse_wide`` makes of these trees,
and still the measure by which the builders are compared). Prints one JSON line per builder: internal-node visits, leaf visits
and triangle tests per closest-hit and per shadow ray, and whether every ray found the
same triangle (closest) / the same occlusion (shadow) as the binned-SAH tree.

    python benchmarks/bvh_visits.py [--paths 1500]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SCENE = os.path.join(ROOT, "scenes", "cornell-box", "scene.xml")


def load():
    from diffrender.scene.loader import load_scene
    s = load_scene(SCENE)
    V, F, S, base = [], [], [], 0
    for i, sh in enumerate(s.shapes):
        v = np.asarray(sh.vertices, np.float64).reshape(-1, 3)
        f = np.asarray(sh.faces).reshape(-1, 3)
        V.append(v)
        F.append(f + base)
        S.append(np.full(len(f), i))
        base += len(v)
    V, F = np.concatenate(V), np.concatenate(F)
    emit = np.array([sh.emitter is not None for sh in s.shapes])[np.concatenate(S)]
    return V[F[:, 0]], V[F[:, 1]], V[F[:, 2]], emit


def isect(v, tris, o, d, tmax):
    a, b, c = v[0][tris], v[1][tris], v[2][tris]
    e1, e2 = b - a, c - a
    pv = np.cross(d, e2)
    with np.errstate(all="ignore"):
        inv = 1 / (e1 * pv).sum(-1)
        s = o - a
        u = (s * pv).sum(-1) * inv
        q = np.cross(s, e1)
        w = (d * q).sum(-1) * inv
        t = (e2 * q).sum(-1) * inv
    ok = (u >= 0) & (w >= 0) & (u + w <= 1) & (t > 0) & (t < tmax)
    return np.where(ok, t, np.inf)


def trace(bvh, v, o, d, tmax, any_hit, cnt):
    inv = 1 / np.where(np.abs(d) < 1e-30, 1e-30, d)
    best_t, best, stack, cur, cur_t = tmax, -1, [], 0, 0.0
    while True:
        if cur_t < best_t:
            if bvh.count[cur] == 0:
                cnt[0] += 1
                kids = []
                for c in (bvh.first[cur], bvh.first[cur] + 1):
                    t0, t1 = (bvh.lo[c] - o) * inv, (bvh.hi[c] - o) * inv
                    tn = max(np.minimum(t0, t1).max(), 0.0)
                    tf = min(np.maximum(t0, t1).min(), best_t) * (1 + 1e-6)
                    kids.append((c, tn, tn <= tf and tn < best_t))
                hit = [k for k in kids if k[2]]
                if hit:
                    hit.sort(key=lambda k: k[1])
                    if len(hit) == 2:
                        stack.append(hit[1][:2])
                    cur, cur_t = hit[0][:2]
                    continue
            else:
                cnt[1] += 1
                ids = bvh.order[bvh.first[cur]:bvh.first[cur] + bvh.count[cur]]
                cnt[2] += ids.size
                t = isect(v, ids, o, d, best_t)
                j = int(np.argmin(t))
                if t[j] < best_t:
                    best_t, best = t[j], int(ids[j])
                if any_hit and best >= 0:
                    return best
        if not stack:
            return best
        cur, cur_t = stack.pop()


def rays(v, emit, n_paths, seed=0):
    rng = np.random.default_rng(seed)
    n = v[0].shape[0]
    lt = np.flatnonzero(emit)
    cam, tan = np.array([278.0, 273.0, -800.0]), np.tan(np.radians(39.3077) / 2)
    out = []
    for _ in range(n_paths):
        sx, sy = rng.uniform(-1, 1, 2)
        d = np.array([sx * tan, sy * tan, 1.0])
        d /= np.linalg.norm(d)
        o = cam
        for _depth in range(4):
            out.append((o, d, np.inf, False))
            t = isect(v, np.arange(n), o, d, np.inf)
            j = int(np.argmin(t))
            if not np.isfinite(t[j]):
                break
            p = o + t[j] * d
            nrm = np.cross(v[1][j] - v[0][j], v[2][j] - v[0][j])
            nrm /= np.linalg.norm(nrm)
            nrm = -nrm if nrm @ d > 0 else nrm
            k = rng.choice(lt)
            u1, u2 = rng.uniform(0, 1, 2)
            u1, u2 = (1 - u1, 1 - u2) if u1 + u2 > 1 else (u1, u2)
            lp = v[0][k] + u1 * (v[1][k] - v[0][k]) + u2 * (v[2][k] - v[0][k])
            dl = lp - p
            dist = np.linalg.norm(dl)
            if dl @ nrm > 0 and not emit[j]:
                out.append((p + nrm * 1e-3, dl / dist, dist * (1 - 1e-4), True))
            a, r2 = rng.uniform(0, 2 * np.pi), rng.uniform()
            tt = np.cross(nrm, [1, 0, 0] if abs(nrm[0]) < 0.9 else [0, 1, 0])
            tt /= np.linalg.norm(tt)
            d = np.sqrt(r2) * (np.cos(a) * tt + np.sin(a) * np.cross(nrm, tt)) + np.sqrt(1 - r2) * nrm
            o = p + nrm * 1e-3
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=1500)
    a = ap.parse_args()
    from diffrender.core.bvh import build_bvh, build_sah_search, build_sbvh
    v0, v1, v2, emit = load()
    v = (v0, v1, v2)
    R = rays(v, emit, a.paths)
    builders = {
        "binned_sah": lambda: build_bvh(v0, v1, v2, max_leaf=4),
        "sbvh": lambda: build_sbvh(v0, v1, v2, max_leaf=4, max_refs=64),
        "sbvh_no_spatial": lambda: build_sbvh(v0, v1, v2, max_leaf=4, max_refs=v0.shape[0]),
        "sah_search_lookahead1": lambda: build_sah_search(v0, v1, v2, max_leaf=4, lookahead=1),
        "sah_search_lookahead2": lambda: build_sah_search(v0, v1, v2, max_leaf=4, beam=1,
                                                          peel=2, lookahead=2),
    }
    ref = None
    for name, fn in builders.items():
        t = time.perf_counter()
        bvh = fn()
        build_s = time.perf_counter() - t
        row = {"bench": "bvh_visits", "builder": name, "triangles": int(v0.shape[0]),
               "references": int(bvh.order.size), "nodes": bvh.n_nodes,
               "sah_cost": round(bvh.sah_cost(), 3), "build_s": round(build_s, 4)}
        hits = []
        for kind, any_hit in (("closest", False), ("shadow", True)):
            rs = [r for r in R if r[3] == any_hit]
            cnt = np.zeros(3)
            h = np.array([trace(bvh, v, o, d, tm, ah, cnt) for o, d, tm, ah in rs])
            hits.append(h >= 0 if any_hit else h)
            row[f"{kind}_rays"] = len(rs)
            row[f"{kind}_node_visits"] = round(cnt[0] / len(rs), 3)
            row[f"{kind}_leaf_visits"] = round(cnt[1] / len(rs), 3)
            row[f"{kind}_triangle_tests"] = round(cnt[2] / len(rs), 3)
        if ref is None:
            ref = hits
        row["same_hits_as_binned"] = bool(all(np.array_equal(x, y) for x, y in zip(hits, ref)))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
