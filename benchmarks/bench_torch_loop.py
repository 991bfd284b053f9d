"""The cost of the PyTorch front end: an inverse-rendering loop written with ``diffrender.torch``
(render -> loss -> backward -> ``torch.optim.Adam``) against the same loop written with
``Renderer`` + ``diffrender.optim.Adam`` in NumPy, both in this process, alternating
(A B B A ...) so that the machine's load hits both alike.

Both recover the Cornell box's red-wall albedo from grey with the same seeds, spp, learning rate
and bounds; prints one JSON line per timed loop, then a summary line with the median times, the
ratio torch / numpy (the target is <= 1.1) and how far apart the two final albedos are.

The torch loop runs twice per round: with torch's default intra-op threads (``torch``) and with
``torch.set_num_threads(1)`` (``torch_1thread``; the tensor work of this loop is a few 64x64
images, while the renderer keeps its own Taichi threads). On a loaded machine torch's thread
pool waiting for a descheduled worker shows in wall time, not CPU time, so both are printed.

    python benchmarks/bench_torch_loop.py [--res 64] [--iterations 60] [--rounds 2] [--spp 8]
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
INIT = 0.3
LR = 0.02
TARGET_SPP = 128


def emit(d):
    print(json.dumps(d), flush=True)


def numpy_loop(scene, renderer, target, iterations, spp):
    from diffrender._interop import adjoint_seed
    from diffrender.optim import Adam, get_loss

    params = scene.parameters()
    params[NAME] = np.full(3, INIT)
    opt = Adam({NAME: params[NAME]}, lr=LR, bounds={NAME: (0.0, 1.0)})
    loss_fn = get_loss("l2")
    for it in range(iterations):
        img = renderer.render(spp=spp, seed=it)
        _, adj = loss_fn(img, target)
        g = renderer.vjp(adj, [NAME], spp=spp, seed=adjoint_seed(it))
        params[NAME] = opt.step(g)[NAME]
    return np.array(params[NAME])


def torch_loop(scene, target, iterations, spp):
    import torch

    import diffrender.torch as drt

    x = torch.full((3,), INIT, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x], lr=LR)
    t = torch.from_numpy(target)
    for it in range(iterations):
        opt.zero_grad()
        img = drt.render(scene, {NAME: x}, spp=spp, seed=it)
        loss = ((img - t) ** 2).mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
    return x.detach().numpy().copy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2, help="each round times A B B A")
    ap.add_argument("--spp", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()

    import diffrender as dr
    from diffrender.engine import init

    init("cpu", threads=a.threads)
    scene_np = dr.load_scene(SCENE, res=a.res, max_depth=5)
    scene_t = dr.load_scene(SCENE, res=a.res, max_depth=5)
    r = dr.Renderer(scene_np)
    target = r.render(spp=TARGET_SPP, seed=12345)
    true = np.array(scene_np.parameters()[NAME])
    import torch

    runs = ("numpy", "torch", "torch_1thread")
    default_threads = torch.get_num_threads()

    def run(kind, iterations):
        torch.set_num_threads(1 if kind == "torch_1thread" else default_threads)
        t0 = time.perf_counter()
        c0 = time.process_time()
        if kind == "numpy":
            x = numpy_loop(scene_np, r, target, iterations, a.spp)
        else:
            x = torch_loop(scene_t, target, iterations, a.spp)
        return time.perf_counter() - t0, time.process_time() - c0, x

    for kind in runs:  # warm-up: compiles every kernel both loops use
        run(kind, 2)
    times = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    final = {}
    for rnd in range(a.rounds):
        for kind in ("numpy", "torch", "torch_1thread", "torch_1thread", "torch", "numpy"):
            wall, c, x = run(kind, a.iterations)
            times[kind].append(wall)
            cpu[kind].append(c)
            final[kind] = x
            emit({"loop": kind, "round": rnd, "iterations": a.iterations, "res": a.res,
                  "spp": a.spp, "wall_s": round(wall, 3), "cpu_s": round(c, 3),
                  "albedo": [round(float(v), 4) for v in x]})
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    emit({"summary": "torch loop / numpy loop", "res": a.res, "iterations": a.iterations,
          "spp": a.spp, "loops_each": len(times["numpy"]), "torch_threads": default_threads,
          "numpy_wall_s": round(med["numpy"], 3), "torch_wall_s": round(med["torch"], 3),
          "torch_1thread_wall_s": round(med["torch_1thread"], 3),
          "ratio": round(med["torch"] / med["numpy"], 3),
          "ratio_1thread": round(med["torch_1thread"] / med["numpy"], 3),
          "ratio_cpu": round(med_cpu["torch"] / med_cpu["numpy"], 3),
          "ratio_cpu_1thread": round(med_cpu["torch_1thread"] / med_cpu["numpy"], 3),
          "target_ratio": 1.1,
          "albedo_true": [round(float(v), 4) for v in true],
          "albedo_max_abs_diff_torch_vs_numpy": float(np.abs(final["torch"] - final["numpy"]).max()),
          "albedo_numpy": [round(float(v), 4) for v in final["numpy"]]})


if __name__ == "__main__":
    main()
