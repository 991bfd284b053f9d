"""Mitsuba's object-pose tutorial (examples/bunny_pose/) with diffrender and, if importable,
Mitsuba 3 (``direct_projective``, llvm_ad_rgb, the tutorial's setup: the same scene file), side
by side: the gradient d loss / d(angle, tx, ty) at the start pose against a central finite
difference with common random numbers (diffrender renders), the pose error after the tutorial's
iterations, CPU time per iteration. JSON lines; ``ratio``: Mitsuba / diffrender.

    python benchmarks/bench_pose.py --iterations 100 --fd-seeds 4
    python benchmarks/bench_pose.py --test-reference     # tests/core/test_edges_large_light.py
"""
import argparse
import importlib.util
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _pose_module():
    spec = importlib.util.spec_from_file_location("bunny_pose", os.path.join(ROOT, "examples", "bunny_pose", "pose.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def emit(**kw):
    print(json.dumps(kw), flush=True)


def fd_gradient(P, task, pose, spp, seeds, h=0.01):
    """Central differences of the loss, common random numbers per seed: (mean, standard error)."""
    out = []
    for s in range(seeds):
        g = []
        for k in range(3):
            v = []
            for sg in (1, -1):
                th = np.array(pose, np.float64)
                th[k] += sg * h
                task.set_pose(th)
                v.append(task.loss(task.renderer.render(spp=spp, seed=1000 + s)))
            g.append((v[0] - v[1]) / (2 * h))
        out.append(g)
    out = np.array(out)
    return out.mean(0), out.std(0, ddof=1) / np.sqrt(len(out)) if len(out) > 1 else np.zeros(3)


class MitsubaTask:
    """The tutorial in Mitsuba: the same scene file with ``direct_projective``."""

    def __init__(self, P, target_spp):
        import drjit as dj
        import mitsuba as mi
        mi.set_variant("llvm_ad_rgb")
        self.dj, self.mi, self.P = dj, mi, P
        self.scene = mi.load_file(P.SCENE)
        self.integrator = mi.load_dict({"type": "direct_projective"})
        self.params = mi.traverse(self.scene)
        self.V0 = np.array(self.params["bunny.vertex_positions"]).reshape(-1, 3)
        self.target = self.integrator.render(self.scene, seed=0, spp=target_spp)

    def gradient(self, pose, spp, seed):
        mi, dj = self.mi, self.dj
        angle = mi.Float(float(pose[0]))
        trans = mi.Point2f(float(pose[1]), float(pose[2]))
        dj.enable_grad(angle, trans)
        trafo = mi.Transform4f().translate([trans.x, trans.y, 0.0]).rotate([0, 1, 0], angle * self.P.ANGLE_UNIT)
        V = trafo @ mi.Point3f(self.V0[:, 0], self.V0[:, 1], self.V0[:, 2])
        self.params["bunny.vertex_positions"] = dj.ravel(V)
        self.params.update()
        img = mi.render(self.scene, self.params, integrator=self.integrator, seed=seed, spp=spp)
        loss = dj.sum(dj.square(img - self.target)) / len(img.array)
        dj.backward(loss)
        g = np.array([dj.grad(angle)[0], dj.grad(trans).x[0], dj.grad(trans).y[0]])
        return float(loss.array[0]), g


def optimize_mitsuba(P, mt, iterations, spp):
    opt = P.dr.Adam({"pose": np.array(P.START, np.float64)}, lr=P.LEARNING_RATE,
                    bounds={"pose": (-P.CLIP, P.CLIP)})
    cpu = time.process_time()
    for it in range(iterations):
        _, g = mt.gradient(opt.params["pose"], spp, it)
        opt.step({"pose": g})
    return opt.params["pose"].copy(), (time.process_time() - cpu) / max(iterations, 1)


def test_reference(spp, seeds):
    import diffrender as dr
    from tests.core import test_edges_large_light as T
    from tests.helpers.edge_scenes import fd_translation
    sc = dr.load_scene(T.scene_dict())
    r = dr.Renderer(sc)
    for axis in sorted(T.REFERENCE):
        m, se = fd_translation(r, sc, "occ.to_world", axis, T.adjoint(), 0.04, spp, seeds)
        emit(case="test_edges_large_light", axis=axis, fd=m, se=se, spp=spp, seeds=seeds, h=0.04)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--spp", type=int, default=16)
    ap.add_argument("--edge-spp", type=int, default=4)
    ap.add_argument("--grad-spp", type=int, default=64, help="spp of the gradients at the start pose")
    ap.add_argument("--grad-edge-spp", type=int, default=32)
    ap.add_argument("--grad-seeds", type=int, default=4)
    ap.add_argument("--fd-spp", type=int, default=2048)
    ap.add_argument("--fd-seeds", type=int, default=4, help="0: no finite differences")
    ap.add_argument("--no-mitsuba", action="store_true")
    ap.add_argument("--test-reference", action="store_true")
    a = ap.parse_args(argv)
    if a.test_reference:
        return test_reference(4096, 32)
    P = _pose_module()
    task = P.PoseTask()
    start = np.array(P.START, np.float64)
    fd = None
    if a.fd_seeds > 0:
        fd, se = fd_gradient(P, task, start, a.fd_spp, a.fd_seeds)
        emit(what="fd", grad=fd.tolist(), se=se.tolist(), spp=a.fd_spp, seeds=a.fd_seeds)
    task.set_pose(start)
    image = task.renderer.render(spp=1024, seed=7)
    gs = []
    for s in range(a.grad_seeds):
        gs.append(task.gradient(start, a.grad_spp, 1 + s, {"spp": a.grad_edge_spp}, image=image)[1])
    gs = np.array(gs)
    row = dict(what="grad", renderer="diffrender", grad=gs.mean(0).tolist(), sd=gs.std(0).tolist(),
               spp=a.grad_spp, edge_spp=a.grad_edge_spp, seeds=a.grad_seeds)
    if fd is not None:
        row["rel_error"] = ((gs.mean(0) - fd) / np.abs(fd)).tolist()
    emit(**row)
    mt = None
    if not a.no_mitsuba:
        try:
            mt = MitsubaTask(P, 1024)
        except ImportError:
            mt = None
    if mt is not None:
        gm = np.array([mt.gradient(start, a.grad_spp, 1 + s)[1] for s in range(a.grad_seeds)])
        row = dict(what="grad", renderer="mitsuba direct_projective", grad=gm.mean(0).tolist(),
                   sd=gm.std(0).tolist(), spp=a.grad_spp, seeds=a.grad_seeds)
        if fd is not None:
            row["rel_error"] = ((gm.mean(0) - fd) / np.abs(fd)).tolist()
        emit(**row)
    pose, losses, per_it = P.optimize(task, a.iterations, a.spp, {"spp": a.edge_spp})
    ea, et = P.pose_error(pose)
    emit(what="optimize", renderer="diffrender", iterations=a.iterations, angle_error_deg=ea,
         trans_error=et, cpu_s_per_iteration=per_it)
    if mt is not None:
        pm, per_m = optimize_mitsuba(P, mt, a.iterations, a.spp)
        ma, mtr = P.pose_error(pm)
        emit(what="optimize", renderer="mitsuba direct_projective", iterations=a.iterations,
             angle_error_deg=ma, trans_error=mtr, cpu_s_per_iteration=per_m,
             ratio_angle_error=ma / max(ea, 1e-12), ratio_trans_error=mtr / max(et, 1e-12),
             ratio_cpu_time=per_m / max(per_it, 1e-12))


if __name__ == "__main__":
    main()
