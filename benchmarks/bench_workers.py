"""``optimize --workers 2`` against ``--workers 1``: a 4-view optimization (the Cornell box seen
by the four cameras of examples/multiview/scene.xml, its red wall's albedo recovered from grey) with its views on two Ray actors of
one thread each, and on one actor of two threads (the same CPUs: this machine's cores, or
``--cpus``), timed alternately (A B B A ...) on one local Ray instance; the single-process run
(``Views``, no Ray, all threads) is timed too, for Ray's overhead.

Each timed run is ``Run(config).run(views=...)`` over ``--iterations`` iterations after a
warm-up run (actors started, kernels compiled). Prints one JSON line per timed run (wall seconds
of the whole run and of its iterations alone, ``loop_wall_s``: the run also writes its outputs,
whose final render runs on one actor; CPU seconds of the driver plus the actors' processes) and
a summary line with the medians and the ratios workers2 / workers1 (below 1: two workers are
faster).

    python benchmarks/bench_workers.py [--res 64] [--iterations 5] [--spp 8] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SCENE = os.path.join(ROOT, "examples", "multiview", "scene.xml")  # four cameras
NAME = "red.reflectance"
TARGET_SPP = 64


def emit(d):
    print(json.dumps(d), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--spp", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="each round times A B B A")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2,
                    help="CPUs for both variants (default: this machine's cores)")
    a = ap.parse_args()

    import ray

    import diffrender as dr
    from diffrender.distributed import RayCluster, ViewPool
    from diffrender.engine import init
    from diffrender.inverse import load_config
    from diffrender.inverse.run import Run, Views

    init("cpu", threads=a.cpus)
    d = tempfile.mkdtemp(prefix="bench_workers_")
    scene = dr.load_scene(SCENE, res=a.res)
    true = np.array(scene.parameters()[NAME])
    targets = []
    for k in range(len(scene.sensors)):
        dr.write_image(os.path.join(d, f"view{k}.exr"), dr.render(scene, spp=TARGET_SPP, seed=7, sensor=k))
        targets.append({"image": f"view{k}.exr", "sensor": k})
    n = 0

    def config(iterations):
        nonlocal n
        n += 1
        cfg = {"scene": SCENE, "defines": {"res": str(a.res)}, "targets": targets,
               "parameters": {NAME: {"init": [0.3, 0.3, 0.3], "lr": 0.05}},
               "iterations": iterations, "spp": a.spp, "spp_adjoint": a.spp, "seed": 1,
               "output": f"run{n}", "video": "none", "render_every": 1000,
               "checkpoint_every": 1000}
        p = os.path.join(d, f"run{n}.yaml")
        with open(p, "w") as f:
            yaml.safe_dump(cfg, f)
        return load_config(p)

    # both pools live at once (they run one after the other): Ray is told of 2 x cpus logical
    # CPUs so that both fit; each pool's actors use cpus threads in all
    ray.init(num_cpus=2 * a.cpus, include_dashboard=False, logging_level=logging.ERROR,
             log_to_driver=False, runtime_env=RayCluster._local_env())
    pools, threads = {}, {}
    for w in (1, 2):
        c = RayCluster(w, threads=max(1, a.cpus // w)).__enter__()  # joins the instance above
        pools[f"workers{w}"] = ViewPool(config(1), len(targets), c, device="cpu")
        threads[f"workers{w}"] = c.threads

    def cpu_now(kind):
        c = time.process_time()
        if kind != "inprocess":
            c += sum(ray.get([x.cpu_time.remote() for x in pools[kind].actors]))
        return c

    def run(kind, iterations):
        run_ = Run(config(iterations))
        views = Views(run_.problem) if kind == "inprocess" else pools[kind]
        c0, t0 = cpu_now(kind), time.perf_counter()
        x = run_.run(views=views)[NAME]
        loop = sum(r["seconds"] for r in run_.trajectory)  # the iterations alone
        return time.perf_counter() - t0, cpu_now(kind) - c0, loop, np.asarray(x)

    kinds = ("workers1", "workers2", "inprocess")
    for kind in kinds:  # warm-up: actors started, kernels compiled
        run(kind, 1)
    wall = {k: [] for k in kinds}
    cpu = {k: [] for k in kinds}
    loops = {k: [] for k in kinds}
    final = {}
    for rnd in range(a.rounds):
        for kind in ("workers1", "workers2", "inprocess", "inprocess", "workers2", "workers1"):
            w, c, lp, x = run(kind, a.iterations)
            wall[kind].append(w)
            cpu[kind].append(c)
            loops[kind].append(lp)
            final[kind] = x
            emit({"run": kind, "round": rnd, "views": len(targets), "iterations": a.iterations,
                  "res": a.res, "spp": a.spp, "threads_per_actor": threads.get(kind, a.cpus),
                  "wall_s": round(w, 3), "loop_wall_s": round(lp, 3), "cpu_s": round(c, 3),
                  "albedo": [round(float(v), 4) for v in x]})
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    med_loop = {k: statistics.median(v) for k, v in loops.items()}
    emit({"summary": "optimize --workers 2 / --workers 1", "views": len(targets), "res": a.res,
          "iterations": a.iterations, "spp": a.spp, "cpus": a.cpus, "runs_each": len(wall["workers1"]),
          "threads_per_actor": threads,
          "workers1_wall_s": round(med["workers1"], 3), "workers2_wall_s": round(med["workers2"], 3),
          "inprocess_wall_s": round(med["inprocess"], 3),
          "ratio": round(med["workers2"] / med["workers1"], 3),
          "workers1_loop_s": round(med_loop["workers1"], 3), "workers2_loop_s": round(med_loop["workers2"], 3),
          "inprocess_loop_s": round(med_loop["inprocess"], 3),
          "ratio_loop": round(med_loop["workers2"] / med_loop["workers1"], 3),
          "ratio_cpu": round(med_cpu["workers2"] / med_cpu["workers1"], 3),
          "ratio_workers2_vs_inprocess": round(med["workers2"] / med["inprocess"], 3),
          "albedo_true": [round(float(v), 4) for v in true],
          "albedo_max_abs_diff": float(max(np.abs(final[k] - final["inprocess"]).max() for k in kinds))})
    for p in pools.values():
        p.close()
    ray.shutdown()


if __name__ == "__main__":
    main()
