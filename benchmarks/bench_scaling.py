"""Render cost against triangle count and against resolution, diffrender and Mitsuba 3 side by
side (issue #17, item 7): the plot of ``docs/benchmarks.md``.

Two sweeps, each point a warm forward render (kernels compiled, scene uploaded) of both
renderers in ONE process, alternating (diffrender, Mitsuba, diffrender, ...) ``--pairs`` times,
each timed sample repeating its render for at least ``--min-sample`` CPU seconds:

- ``tris``: a UV sphere of N triangles (``bench_load.sphere``, a binary PLY) under a
  ``constant`` sky, path tracing depth 3, ``--tri-res`` pixels square, ``--spp``;
- ``res``: the bundled Cornell box at each resolution, ``--spp``;
- ``scenes`` (``--scenes all`` or names): bundled scenes at ``--scene-res`` pixels square and
  ``--scene-spp`` (the small-scene case of issue #17: 32², 4 spp, where the fixed cost of a
  render call dominates). A scene with diffrender-only plugins (shaders) is rendered by both
  as ``bench_render.py``'s variant without them.

Times are CPU seconds of the process (``time.process_time``, all threads; both renderers at
``--threads`` threads). One JSON line per point: each side's median seconds, the ratio
diffrender / Mitsuba per pair (median, min-max; below 1: diffrender faster) and the
relative difference of the two images' means (a check that both rendered the same thing).
``--plot FILE`` draws both sweeps (seconds per render, log-log) into a PNG.

    python benchmarks/bench_scaling.py [--tris 1000,10000,100000,1000000] [--res 64,128,256,512]
        [--spp 16] [--tri-res 128] [--pairs 3] [--threads 2] [--min-sample 0.2] [--plot scaling.png]
        [--scenes all --scene-res 32 --scene-spp 4]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from bench_load import SCENE_XML, SHAPE_XML, sphere, write_ply  # noqa: E402
from bench_render import mitsuba_variant, scene_defines, scene_name, scene_paths  # noqa: E402
from peers import get_mitsuba  # noqa: E402

CORNELL = os.path.join(ROOT, "scenes", "cornell-box", "scene.xml")
PLOT_SIZE = (10, 4)  # inches


def emit(d):
    print(json.dumps(d), flush=True)


def ints(text):
    return [int(float(x)) for x in text.split(",") if x.strip()]


def tri_scene(folder, n_tris, res):
    v, f = sphere(n_tris)
    ply = os.path.join(folder, f"sphere_{n_tris}.ply")
    write_ply(ply, v, f)
    path = os.path.join(folder, f"sphere_{n_tris}.xml")
    with open(path, "w") as fh:
        fh.write(SCENE_XML.format(res=res, eye="0, 0, 4", target="0, 0, 0",
                                  shapes=SHAPE_XML.format(file=os.path.basename(ply))))
    return path, int(len(f))


def cpu_call(fn, min_s):
    """CPU seconds per call of ``fn(seed)``, calling it until ``min_s`` have passed (short
    renders are below the clock's resolution and its noise); the last image."""
    n, c0 = 0, time.process_time()
    while True:
        out = fn(n + 1)
        n += 1
        spent = time.process_time() - c0
        if spent >= min_s:
            return spent / n, out


def measure(path, defines, spp, pairs, peer, min_s):
    """Warm both renderers on ``path``, then ``pairs`` alternating timed renders."""
    import diffrender
    from diffrender import Renderer

    scene = diffrender.load_scene(path, **defines)
    renderer = Renderer(scene)
    mscene = peer.load(path, **defines)
    ours = lambda seed: renderer.render(spp=spp, seed=seed)  # noqa: E731
    theirs = lambda seed: peer.render(mscene, spp, seed)     # noqa: E731
    img_a, img_b = ours(0), theirs(0)                        # warm-up (compilation, JIT)
    ta, tb = [], []
    for k in range(pairs):
        t, img_a = cpu_call(lambda n: ours(1000 * k + n), min_s)
        ta.append(t)
        t, img_b = cpu_call(lambda n: theirs(1000 * k + n), min_s)
        tb.append(t)
    ratios = [a / b for a, b in zip(ta, tb)]
    ma, mb = float(np.mean(img_a)), float(np.mean(img_b))
    return {"diffrender_s": statistics.median(ta), "mitsuba_s": statistics.median(tb),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "mean_rel_diff": abs(ma - mb) / max(abs(mb), 1e-12)}


def plot(rows, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=PLOT_SIZE)
    axes = fig.subplots(1, 2)
    for ax, sweep, key, label in ((axes[0], "tris", "triangles", "triangles (sphere, 128², 16 spp)"),
                                  (axes[1], "res", "pixels", "pixels (Cornell box, 16 spp)")):
        pts = sorted((r[key], r) for r in rows if r["sweep"] == sweep)
        if not pts:
            continue
        x = [p[0] for p in pts]
        ax.loglog(x, [p[1]["diffrender_s"] for p in pts], "o-", label="diffrender")
        ax.loglog(x, [p[1]["mitsuba_s"] for p in pts], "s--", label="Mitsuba 3 llvm_ad_rgb")
        for xi, (_, r) in zip(x, pts):
            ax.annotate(f"{r['ratio']:.2f}x", (xi, r["diffrender_s"]), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel("CPU seconds per render")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Warm forward render, CPU time (ratio diffrender / Mitsuba over each point)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tris", default="1000,10000,100000,1000000", help="triangle counts ('' for none)")
    ap.add_argument("--res", default="64,128,256,512", help="Cornell box resolutions ('' for none)")
    ap.add_argument("--spp", type=int, default=16)
    ap.add_argument("--tri-res", type=int, default=128, help="film size of the triangle sweep")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-sample", type=float, default=0.2,
                    help="CPU seconds each timed sample repeats its render for")
    ap.add_argument("--plot", default=None, help="write the plot (PNG) here")
    ap.add_argument("--scenes", default="", help="bundled scenes ('all' or names, comma-separated)")
    ap.add_argument("--scene-res", type=int, default=32, help="film size of the scene sweep")
    ap.add_argument("--scene-spp", type=int, default=4, help="spp of the scene sweep")
    args = ap.parse_args(argv)

    peer, why = get_mitsuba("llvm_ad_rgb", threads=args.threads)
    if peer is None:
        emit({"skipped": f"Mitsuba is not available: {why}"})
        return 0
    import diffrender

    diffrender.init("cpu", threads=args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in ints(args.tris):
            path, n_real = tri_scene(tmp, n, args.tri_res)
            row = {"sweep": "tris", "triangles": n_real, "res": args.tri_res, "spp": args.spp,
                   "pairs": args.pairs, **measure(path, {}, args.spp, args.pairs, peer, args.min_sample)}
            rows.append(row)
            emit(row)
    for res in ints(args.res):
        row = {"sweep": "res", "res": res, "pixels": res * res, "spp": args.spp, "pairs": args.pairs,
               **measure(CORNELL, {"res": res}, args.spp, args.pairs, peer, args.min_sample)}
        rows.append(row)
        emit(row)
    paths = [] if not args.scenes else scene_paths(None if args.scenes == "all" else args.scenes.split(","))
    for path in paths:
        variant, notes = mitsuba_variant(path)
        try:
            row = {"sweep": "scenes", "scene": scene_name(path), "res": args.scene_res,
                   "spp": args.scene_spp, "pairs": args.pairs, "variant": notes,
                   **measure(variant or path, scene_defines(path, args.scene_res), args.scene_spp,
                             args.pairs, peer, args.min_sample)}
        finally:
            if variant is not None and os.path.exists(variant):
                os.remove(variant)
        emit(row)
    if args.plot and rows:
        plot(rows, args.plot)
        emit({"plot": args.plot})
    return 0


if __name__ == "__main__":
    sys.exit(main())
