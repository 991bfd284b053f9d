"""Mitsuba's shape-optimization tutorial (examples/shape_optimization/) with diffrender and
Mitsuba 3 (``direct_projective`` with ``sppi`` 0, llvm_ad_rgb, ``mi.ad.LargeSteps`` and
``mi.ad.Adam(uniform=True)``, the tutorial's loop) side by side, in ONE process: the two
optimizations are interleaved, one tutorial iteration (8 views, a step after each) of diffrender,
then one of Mitsuba, and so on, each timed in CPU seconds (``time.process_time``, all threads;
both at 2 threads). Each side optimizes against its own target renders of Suzanne (the
tutorial's files: ``examples/shape_optimization/shape.py`` downloads them).

JSON lines: per side the Chamfer distance to Suzanne at the start and after ``--iterations``,
the median CPU seconds per iteration (the first iterations, compilation and JIT, reported
apart), and the ratios diffrender / Mitsuba (time: the median of the per-iteration ratios of
the alternating pairs, with min-max; Chamfer: final distances).

    python benchmarks/bench_shape.py --res 128 --spp 16 --iterations 100
    python benchmarks/bench_shape.py --no-mitsuba --iterations 5       # diffrender alone
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from peers import get_mitsuba  # noqa: E402

WARMUP = 2  # iterations whose times are reported apart (compilation, JIT)


def _example():
    spec = importlib.util.spec_from_file_location(
        "shape_example", os.path.join(ROOT, "examples", "shape_optimization", "shape.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def emit(**kw):
    print(json.dumps(kw), flush=True)


class Ours:
    """diffrender: the example's optimize config, stepped here (``Run.evaluate`` and the run's
    optimizer: what ``diffrender optimize`` does per iteration, without its file outputs)."""

    def __init__(self, S, out, data, a):
        from diffrender.inverse import load_config
        from diffrender.inverse.run import Run, Views

        path = S.prepare(out, data, a.res, a.spp, a.target_spp, a.iterations, a.edge_spp)
        self.run = Run(load_config(path), overwrite=True)
        self.views = Views(self.run.problem)
        self.opt = self.run._make_optimizer()
        self.step = 0

    def iteration(self, views):
        for _ in range(views):
            _, grads, _ = self.run.evaluate(self.views, self.opt.params, self.step)
            self.opt.step(grads)
            self.step += 1

    def mesh(self):
        p = self.run.problem
        V = p.scene_values(self.opt.params)["shape.vertex_positions"]
        return np.asarray(V, np.float64).reshape(-1, 3), p.scene.shapes[0].faces


class Theirs:
    """Mitsuba 3: the tutorial's code (its first large-steps loop)."""

    def __init__(self, S, data, a):
        import drjit as dj
        import mitsuba as mi
        from mitsuba import ScalarTransform4f as T

        self.dj, self.mi = dj, mi
        self.sensors = [mi.load_dict({
            "type": "perspective", "fov": S.FOV,
            "to_world": T().look_at(target=[0, 0, 0], origin=list(o), up=[0, 1, 0]),
            "film": {"type": "hdrfilm", "width": a.res, "height": a.res,
                     "filter": {"type": "gaussian"}, "sample_border": True},
            "sampler": {"type": "independent", "sample_count": a.spp}})
            for o in S.camera_origins()]
        sd = {"type": "scene", "integrator": {"type": "direct_projective", "sppi": 0},
              "emitter": {"type": "envmap", "filename": os.path.join(data, "envmap2.exr")},
              "shape": {"type": "ply", "filename": os.path.join(data, "suzanne.ply"),
                        "bsdf": {"type": "diffuse"}}}
        target = mi.load_dict(sd)
        self.refs = [mi.render(target, sensor=s, spp=a.target_spp, seed=1) for s in self.sensors]
        sd["shape"]["filename"] = os.path.join(data, "ico_10k.ply")
        self.scene = mi.load_dict(sd)
        self.params = mi.traverse(self.scene)
        self.ls = mi.ad.LargeSteps(self.params["shape.vertex_positions"], self.params["shape.faces"],
                                   S.LAMBDA)
        self.opt = mi.ad.Adam(lr=S.LEARNING_RATE, uniform=True)
        self.opt["u"] = self.ls.to_differential(self.params["shape.vertex_positions"])
        self.spp = a.spp
        self.it = 0

    def iteration(self, views):
        dj, mi = self.dj, self.mi
        for v in range(views):
            self.params["shape.vertex_positions"] = self.ls.from_differential(self.opt["u"])
            self.params.update()
            img = mi.render(self.scene, self.params, sensor=self.sensors[v], seed=self.it, spp=self.spp)
            loss = dj.mean(dj.abs(img - self.refs[v]))
            dj.backward(loss)
            self.opt.step()
        dj.eval(self.opt["u"])
        self.it += 1

    def mesh(self):
        self.params["shape.vertex_positions"] = self.ls.from_differential(self.opt["u"])
        self.params.update()
        V = np.array(self.params["shape.vertex_positions"], np.float64).reshape(-1, 3)
        F = np.array(self.params["shape.faces"], np.int64).reshape(-1, 3)
        return V, F


def cpu(fn):
    c = time.process_time()
    fn()
    return time.process_time() - c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--spp", type=int, default=16)
    ap.add_argument("--edge-spp", type=int, default=4, help="diffrender's primary-edge spp")
    ap.add_argument("--target-spp", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=100, help="each: all 8 views")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=None, help="the tutorial's files (default: the example's)")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "bench-shape"))
    ap.add_argument("--no-mitsuba", action="store_true")
    a = ap.parse_args(argv)
    S = _example()
    data = S.fetch(a.data or S.DATA)
    peer, why = (None, "--no-mitsuba") if a.no_mitsuba else get_mitsuba("llvm_ad_rgb", a.threads)
    if peer is None:
        emit(peer="mitsuba", skipped=why)
    suzanne = S.read_mesh(os.path.join(data, "suzanne.ply"))
    ours = Ours(S, a.out, data, a)
    theirs = Theirs(S, data, a) if peer is not None else None
    start = S.chamfer(ours.mesh(), suzanne)
    ta, tb = [], []
    for it in range(a.iterations):
        ta.append(cpu(lambda: ours.iteration(S.VIEWS)))
        if theirs is not None:
            tb.append(cpu(lambda: theirs.iteration(S.VIEWS)))
        if it % 10 == 9 or it == a.iterations - 1:
            print(f"bench_shape: iteration {it + 1}/{a.iterations}", file=sys.stderr, flush=True)
    common = dict(res=a.res, spp=a.spp, target_spp=a.target_spp, iterations=a.iterations,
                  views=S.VIEWS, start_chamfer=start)
    ca = S.chamfer(ours.mesh(), suzanne)
    steady = ta[WARMUP:] or ta
    emit(renderer="diffrender", edge_spp=a.edge_spp, chamfer=ca,
         cpu_s_per_iteration=statistics.median(steady), first_iterations_cpu_s=ta[:WARMUP],
         **common)
    if theirs is not None:
        cb = S.chamfer(theirs.mesh(), suzanne)
        ratios = [x / y for x, y in zip(ta[WARMUP:], tb[WARMUP:])] or [ta[0] / tb[0]]
        emit(renderer="mitsuba direct_projective", chamfer=cb,
             cpu_s_per_iteration=statistics.median(tb[WARMUP:] or tb),
             first_iterations_cpu_s=tb[:WARMUP], **common)
        emit(ratio_time=statistics.median(ratios), ratio_time_min=min(ratios),
             ratio_time_max=max(ratios), ratio_chamfer=ca / cb,
             what="diffrender / Mitsuba (below 1: diffrender better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
