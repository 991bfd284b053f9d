"""Gradient benchmark: diffrender's reverse mode against Mitsuba 3's ``prb`` (same process, same
thread count). Prints JSON lines.

1. ``gradient``: one gradient evaluation (primal render + adjoint pass) of the Cornell box's
   red-wall reflectance, 256x256, 16 spp, max_depth 5 (loss: L2 against a fixed target), steady
   state (best of --repeats, after a warm-up), wall and CPU time (this process, all threads),
   with the ratios ours / Mitsuba (``ratio``: wall, ``ratio_cpu``: CPU; on a shared machine
   compare CPU time).
2. ``memory``: peak resident memory (VmHWM) of a fresh process doing one gradient evaluation
   at 16 and at 256 spp, for both renderers; ``growth`` is the ratio 256 spp / 16 spp.
3. ``recovery``: albedo recovery from the same start (grey 0.3) and the same target (a high-spp
   Mitsuba render), Adam with the same settings, timed until the relative parameter error
   ||theta - theta*|| / ||theta*|| falls under 1% (and at the end).

    python benchmarks/bench_gradients.py [--res 256] [--spp 16] [--threads 2] [--skip-memory]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
SCENE = os.path.join(ROOT, "scenes", "cornell-box", "scene.xml")
TRUE = np.array([0.63, 0.065, 0.05])


def emit(d):
    print(json.dumps(d), flush=True)


# --- diffrender -------------------------------------------------------------------------------

class Ours:
    name = "diffrender"

    def __init__(self, res, threads):
        import diffrender as dr
        from diffrender.engine import init
        from diffrender.core import Renderer

        init("cpu", threads=threads)
        self.scene = dr.load_scene(SCENE, res=res, max_depth=5)
        self.r = Renderer(self.scene)

    def set(self, value):
        self.scene.parameters()["red.reflectance"] = value

    def grad(self, target, spp, seed):
        img = self.r.render(spp=spp, seed=seed)
        d = img.astype(np.float64) - target
        loss = float(np.mean(d * d))
        adj = (2.0 * d / d.size).astype(np.float32)
        g = self.r.vjp(adj, ["red.reflectance"], spp=spp, seed=seed + 1)["red.reflectance"]
        return loss, np.asarray(g, np.float64)


# --- Mitsuba ----------------------------------------------------------------------------------

class Mitsuba:
    name = "mitsuba-prb"

    def __init__(self, peer, res):
        self.mi, self.dr = peer.mi, peer.dr
        peer.activate()
        self.scene = self.mi.load_file(SCENE, res=str(res), max_depth="5")
        self.integrator = self.mi.load_dict({"type": "prb", "max_depth": 5})
        self.params = self.mi.traverse(self.scene)
        self.key = "red.brdf_0.reflectance.value"  # twosided wraps the diffuse BSDF

    def set(self, value):
        self.params[self.key] = self.mi.Color3f(*[float(v) for v in value])
        self.params.update()

    def grad(self, target, spp, seed):
        mi, dr = self.mi, self.dr
        dr.enable_grad(self.params[self.key])
        self.params.update()
        img = mi.render(self.scene, self.params, spp=spp, seed=seed, seed_grad=seed + 1,
                        integrator=self.integrator)
        t = mi.TensorXf(np.ascontiguousarray(target, np.float32))
        loss = dr.mean(dr.square(img - t), axis=None)
        dr.backward(loss)
        g = np.array(dr.grad(self.params[self.key]), np.float64).reshape(3)
        dr.disable_grad(self.params[self.key])
        return float(np.array(loss).reshape(-1)[0]), g


def timed_gradient(model, target, spp, repeats):
    model.set(np.full(3, 0.5))
    model.grad(target, spp, 0)  # warm-up: compiles
    times, cpu = [], []
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        _, g = model.grad(target, spp, 10 + 2 * r)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(times), g, min(cpu)


def recovery(model, target, spp, iterations, lr):
    from diffrender.optim import Adam, Schedule

    opt = Adam({"x": np.full(3, 0.3)}, lr=lr, bounds={"x": (0.0, 1.0)},
               schedule=Schedule("exponential", gamma=0.985))
    model.set(opt.params["x"])
    model.grad(target, spp, 0)  # compile outside the timing
    t0 = time.perf_counter()
    reached = None
    for it in range(iterations):
        model.set(opt.params["x"])
        _, g = model.grad(target, spp, 1000 + 2 * it)
        opt.step({"x": g})
        err = float(np.linalg.norm(opt.params["x"] - TRUE) / np.linalg.norm(TRUE))
        if reached is None and err < 0.01:
            reached = (it + 1, time.perf_counter() - t0)
    return {"final_error": err, "final_value": opt.params["x"].tolist(),
            "iterations_to_1pct": None if reached is None else reached[0],
            "seconds_to_1pct": None if reached is None else round(reached[1], 3),
            "total_s": round(time.perf_counter() - t0, 3), "iterations": iterations}


def memory_child(which, res, spp, threads):
    """Run in a subprocess: one gradient evaluation, print peak RSS (MiB)."""
    if which == "mitsuba":
        from peers import get_mitsuba

        peer, why = get_mitsuba("llvm_ad_rgb", threads=threads)
        model = Mitsuba(peer, res)
    else:
        model = Ours(res, threads)
    target = np.zeros((res, res, 3), np.float32)
    model.set(np.full(3, 0.5))
    model.grad(target, spp, 0)
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's resident-memory high-water mark. /proc/self/status VmHWM belongs to this
    address space; ru_maxrss would also count the parent's RSS at fork time on Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_memory(which, res, spp, threads):
    r = subprocess.run([sys.executable, __file__, "--memory-child", which, "--res", str(res),
                        "--spp", str(spp), "--threads", str(threads)],
                       capture_output=True, text=True, timeout=1800)
    for line in reversed(r.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)["peak_rss_mib"]
    raise RuntimeError(f"memory child failed: {r.stderr[-2000:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--spp", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--recovery-res", type=int, default=64)
    ap.add_argument("--recovery-iterations", type=int, default=150)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-recovery", action="store_true")
    ap.add_argument("--memory-child", default=None)
    a = ap.parse_args()
    if a.memory_child:
        memory_child(a.memory_child, a.res, a.spp, a.threads)
        return

    from peers import get_mitsuba

    peer, why = get_mitsuba("llvm_ad_rgb", threads=a.threads)
    ours = Ours(a.res, a.threads)
    mits = Mitsuba(peer, a.res) if peer is not None else None
    if mits is None:
        emit({"peer": "mitsuba", "skipped": why})
        target = ours.r.render(spp=256, seed=777)
    else:
        mits.set(TRUE)
        target = peer.render(mits.scene, spp=256, seed=777)
    t_ours, g_ours, c_ours = timed_gradient(ours, target, a.spp, a.repeats)
    row = {"bench": "gradient", "scene": "cornell-box", "param": "red.reflectance", "res": a.res,
           "spp": a.spp, "max_depth": 5, "threads": a.threads, "diffrender_s": round(t_ours, 3),
           "diffrender_cpu_s": round(c_ours, 3), "diffrender_grad": g_ours.tolist()}
    if mits is not None:
        t_m, g_m, c_m = timed_gradient(mits, target, a.spp, a.repeats)
        row.update({"mitsuba_prb_s": round(t_m, 3), "mitsuba_prb_cpu_s": round(c_m, 3),
                    "mitsuba_grad": g_m.tolist(), "ratio": round(t_ours / t_m, 3),
                    "ratio_cpu": round(c_ours / c_m, 3)})
    emit(row)

    if not a.skip_memory:
        peaks = {}
        for which in ("diffrender", "mitsuba") if mits is not None else ("diffrender",):
            # A first child compiles what the kernel caches lack (LLVM's memory would count
            # in whichever measurement came first); the two measured children start warm.
            measure_memory(which, a.res, 1, a.threads)
            m16 = measure_memory(which, a.res, 16, a.threads)
            m256 = measure_memory(which, a.res, 256, a.threads)
            peaks[which] = (m16, m256)
            emit({"bench": "memory", "renderer": which, "res": a.res, "peak_rss_mib_16spp": round(m16, 1),
                  "peak_rss_mib_256spp": round(m256, 1), "growth": round(m256 / m16, 3)})
        if "mitsuba" in peaks:  # issue #17 item 3: peak memory of a gradient process <= 2x prb's
            (o16, o256), (m16, m256) = peaks["diffrender"], peaks["mitsuba"]
            emit({"bench": "memory_ratio", "res": a.res, "ratio_16spp": round(o16 / m16, 3),
                  "ratio_256spp": round(o256 / m256, 3)})

    if not a.skip_recovery:
        res = a.recovery_res
        ours_r = Ours(res, a.threads)
        if mits is not None:
            mits_r = Mitsuba(peer, res)
            mits_r.set(TRUE)
            target_r = peer.render(mits_r.scene, spp=4096, seed=4242)
        else:
            mits_r = None
            target_r = ours_r.r.render(spp=4096, seed=4242)
        for model in (ours_r, mits_r):
            if model is None:
                continue
            out = recovery(model, target_r, a.spp, a.recovery_iterations, lr=0.02)
            emit({"bench": "recovery", "renderer": model.name, "res": res, "spp": a.spp, **out})


if __name__ == "__main__":
    main()
