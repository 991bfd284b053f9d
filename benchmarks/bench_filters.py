"""Filters benchmark: diffrender (Taichi) against Kornia (PyTorch), same machine, same run.

Each measurement runs in its own subprocess (2 threads for both), so that peak memory is the
process's RSS high-water mark (``resource.getrusage(...).ru_maxrss``), reported both absolute
and as the delta over the RSS right after imports and engine start. Times are the best of
``--reps`` after one warm-up call (the warm-up includes Taichi's compile or cache load).

Prints one JSON line per case with the ratio kornia / diffrender (> 1: diffrender faster).

    python benchmarks/bench_filters.py [--size 1024] [--reps 3] [--cases gauss2,gauss8,...]
    pip install torch==2.13.0 kornia   # the peer (extra "bench")
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

CASES = ["gauss2", "gauss8", "bilateral9", "unsharp", "pipeline7", "tune"]
THREADS = 2
KORNIA_TUNE_BUDGET_S = 60.0
M = [[1.10, 0.08, -0.05], [0.04, 0.95, 0.06], [-0.03, 0.12, 1.05]]


def _rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _maxrss_mb():
    # VmHWM is this address space's high-water mark; ru_maxrss would include the parent's RSS
    # at fork time (Linux keeps it across fork + exec)
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _ks(sigma):
    return int(round(sigma * 8 + 1)) | 1


def _best(fn, reps):
    fn()  # warm-up (compile / cache load, allocation)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


# ----------------------------------------------------------------------------- diffrender side
def _dr_pipeline(case):
    from diffrender.filters import Pipeline

    L = {"learnable": True}
    if case == "gauss2":
        st = [{"name": "g", "type": "gaussian_blur", "sigma": {"value": 2.0, **L}}]
    elif case == "gauss8":
        st = [{"name": "g", "type": "gaussian_blur", "sigma": {"value": 8.0, **L}}]
    elif case == "bilateral9":
        st = [{"name": "b", "type": "bilateral", "d": 9, "sigma_space": {"value": 3.0, **L},
               "sigma_range": {"value": 0.1, **L}}]
    elif case == "unsharp":
        st = [{"name": "u", "type": "unsharp_mask", "sigma": {"value": 2.0, **L},
               "amount": {"value": 0.6, **L}}]
    elif case == "pipeline7":
        st = [{"name": "exposure", "type": "exposure", "ev": {"value": 0.2, **L}},
              {"name": "wb", "type": "white_balance", "gains": {"value": [1.1, 1.0, 0.9], **L}},
              {"name": "blur", "type": "gaussian_blur", "sigma": {"value": 2.0, **L}},
              {"name": "gamma", "type": "gamma", "gamma": {"value": 0.8, **L}},
              {"name": "color", "type": "color_matrix", "matrix": {"value": M, **L}},
              {"name": "sat", "type": "saturation", "saturation": {"value": 1.2, **L}},
              {"name": "sharpen", "type": "unsharp_mask", "sigma": 1.0, "amount": {"value": 0.6, **L}}]
    else:
        raise ValueError(case)
    return Pipeline.from_config({"stages": st})


def worker_diffrender(case, size, reps):
    import numpy as np

    from diffrender.engine import init

    init("cpu", threads=THREADS)
    import diffrender.filters  # noqa: F401  (kernels defined)

    base = _rss_mb()
    if case == "tune":
        return _tune_diffrender(base)
    rng = np.random.default_rng(0)
    x = rng.random((size, size, 3), dtype=np.float32)
    d = rng.standard_normal((size, size, 3)).astype(np.float32)
    pipe = _dr_pipeline(case)
    fwd = _best(lambda: pipe(x), reps)
    fb = _best(lambda: pipe.vjp(x, d, wrt="learnable"), reps)
    return {"fwd_s": fwd, "fwdbwd_s": fb, "peak_rss_mb": _maxrss_mb(), "peak_delta_mb": _maxrss_mb() - base}


def _tune_problem():
    import cv2
    import numpy as np
    from skimage import data

    from diffrender.image import srgb_to_linear

    x = srgb_to_linear(data.astronaut()[..., :3].astype(np.float32) / 255.0).astype(np.float32)
    Mn = np.array(M, np.float32)
    y = cv2.GaussianBlur(x, (0, 0), 1.7)
    y = np.power(y, 0.8).astype(np.float32)
    y = (y.reshape(-1, 3) @ Mn.T).reshape(y.shape).astype(np.float32)
    t = (y + 0.6 * (y - cv2.GaussianBlur(y, (0, 0), 1.0))).astype(np.float32)
    true = np.array([1.7, 0.8] + [v for row in M for v in row] + [0.6])
    return x, t, true


def _tune_diffrender(base):
    import numpy as np

    from diffrender.filters import Pipeline
    from diffrender.filters.tune import Tuner

    x, t, true = _tune_problem()
    pipe = Pipeline.load(os.path.join(ROOT, "examples", "filters", "recover.yaml"))
    names = ["blur.sigma", "gamma.gamma"] + [f"color.m{a}{b}" for a in range(3) for b in range(3)] + \
            ["sharpen.amount"]
    tuner = Tuner(pipe, [(x, t)])
    t0 = time.perf_counter()
    hit = {}

    def cb(it, loss, params):
        err = max(abs(params[n] - v) for n, v in zip(names, true))
        if err < 0.01 and "t" not in hit:
            hit["t"], hit["it"], hit["err"] = time.perf_counter() - t0, it, err
            raise StopIteration

    try:
        tuner.run("lbfgs", 300, callback=cb)
    except StopIteration:
        pass
    el = time.perf_counter() - t0
    return {"time_to_0.01_s": hit.get("t"), "iterations": hit.get("it"), "max_err": hit.get("err"),
            "seconds_per_iteration": el / max(hit.get("it") or 1, 1),
            "note": "includes first-call kernel compile/cache load", "image": list(x.shape),
            "peak_rss_mb": _maxrss_mb(), "peak_delta_mb": _maxrss_mb() - base}


# ----------------------------------------------------------------------------- kornia side
def _kornia_fn(case, torch, kf):
    def T(v):
        return torch.tensor(v, dtype=torch.float32, requires_grad=True)

    if case in ("gauss2", "gauss8"):
        s = 2.0 if case == "gauss2" else 8.0
        sig = T([[s, s]])
        return (lambda x: kf.gaussian_blur2d(x, _ks(s), sig, border_type="reflect")), [sig]
    if case == "bilateral9":
        sc, ss = T([0.1]), T([[3.0, 3.0]])
        return (lambda x: kf.bilateral_blur(x, 9, sc, ss, border_type="reflect",
                                            color_distance_type="l1")), [sc, ss]
    if case == "unsharp":
        sig, a = T([[2.0, 2.0]]), T(0.6)
        return (lambda x: x + a * (x - kf.gaussian_blur2d(x, _ks(2.0), sig, border_type="reflect"))), [sig, a]
    if case == "pipeline7":
        ev, gains, sig, gam = T(0.2), T([1.1, 1.0, 0.9]), T([[2.0, 2.0]]), T(0.8)
        mat, sat, amt = T(M), T(1.2), T(0.6)
        s1 = torch.tensor([[1.0, 1.0]])
        luma = torch.tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)

        def f(x):
            y = x * torch.exp2(ev)
            y = y * gains.view(1, 3, 1, 1)
            y = kf.gaussian_blur2d(y, _ks(2.0), sig, border_type="reflect")
            y = torch.sign(y) * torch.abs(y).clamp_min(1e-12) ** gam
            y = torch.einsum("ab,nbhw->nahw", mat, y)
            lum = (y * luma).sum(1, keepdim=True)
            y = lum + sat * (y - lum)
            return y + amt * (y - kf.gaussian_blur2d(y, _ks(1.0), s1, border_type="reflect"))

        return f, [ev, gains, sig, gam, mat, sat, amt]
    raise ValueError(case)


def worker_kornia(case, size, reps):
    import torch

    torch.set_num_threads(THREADS)
    import kornia.filters as kf

    base = _rss_mb()
    if case == "tune":
        return _tune_kornia(torch, kf, base)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, size, size, generator=g)
    d = torch.randn(1, 3, size, size, generator=g)
    fn, params = _kornia_fn(case, torch, kf)

    def fwd():
        with torch.no_grad():
            fn(x)

    def fb():
        xi = x.clone().requires_grad_(True)
        for p in params:
            p.grad = None
        fn(xi).backward(d)

    t_fwd = _best(fwd, reps)
    t_fb = _best(fb, reps)
    return {"fwd_s": t_fwd, "fwdbwd_s": t_fb, "peak_rss_mb": _maxrss_mb(), "peak_delta_mb": _maxrss_mb() - base}


def _tune_kornia(torch, kf, base):
    x, t, true = _tune_problem()
    X = torch.from_numpy(x).permute(2, 0, 1)[None].contiguous()
    Tt = torch.from_numpy(t).permute(2, 0, 1)[None].contiguous()
    sig = torch.tensor(1.0, requires_grad=True)
    gam = torch.tensor(1.0, requires_grad=True)
    mat = torch.eye(3, requires_grad=True)
    amt = torch.tensor(0.0, requires_grad=True)
    s1 = torch.tensor([[1.0, 1.0]])
    ks = _ks(1.7)  # kernel size of the true sigma (OpenCV rule), fixed: kornia's is not from sigma

    def f():
        y = kf.gaussian_blur2d(X, ks, torch.stack([sig, sig])[None], border_type="reflect")
        y = y.clamp_min(1e-12) ** gam
        y = torch.einsum("ab,nbhw->nahw", mat, y)
        return y + amt * (y - kf.gaussian_blur2d(y, _ks(1.0), s1, border_type="reflect"))

    opt = torch.optim.LBFGS([sig, gam, mat, amt], lr=1, max_iter=1, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-15, tolerance_change=1e-20)

    def closure():
        opt.zero_grad()
        loss = ((f() - Tt) ** 2).mean()
        loss.backward()
        return loss

    t0 = time.perf_counter()
    hit = {}
    it, err = 0, float("nan")
    while it < 300 and time.perf_counter() - t0 < KORNIA_TUNE_BUDGET_S:
        it += 1
        opt.step(closure)
        with torch.no_grad():
            cur = torch.cat([sig[None], gam[None], mat.flatten(), amt[None]]).numpy()
        err = float(abs(cur - true).max())
        if err < 0.01:
            hit = {"t": time.perf_counter() - t0, "it": it, "err": err}
            break
    el = time.perf_counter() - t0
    return {"time_to_0.01_s": hit.get("t"), "iterations": hit.get("it"), "max_err": hit.get("err"),
            "stopped_after_s": el, "stopped_after_iterations": it, "final_max_err": err,
            "seconds_per_iteration": el / max(it, 1),
            "image": list(x.shape), "peak_rss_mb": _maxrss_mb(), "peak_delta_mb": _maxrss_mb() - base}


# ----------------------------------------------------------------------------- driver
def _run_worker(impl, case, size, reps):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, "--cases", case,
           "--size", str(size), "--reps", str(reps)]
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), DIFFRENDER_THREADS=str(THREADS))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--worker", default=None)
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    if a.worker:
        fn = worker_diffrender if a.worker == "diffrender" else worker_kornia
        print(json.dumps(fn(a.cases, a.size, a.reps)))
        return
    try:
        import importlib.util

        have_peer = (not a.no_peer and importlib.util.find_spec("kornia") is not None
                     and importlib.util.find_spec("torch") is not None)
    except Exception:  # noqa: BLE001
        have_peer = False
    for case in a.cases.split(","):
        ours = _run_worker("diffrender", case, a.size, a.reps)
        rec = {"bench": f"filters.{case}", "size": a.size if case != "tune" else 512, "threads": THREADS,
               "diffrender": ours}
        if have_peer:
            peer = _run_worker("kornia", case, a.size, a.reps)
            rec["kornia"] = peer
            try:
                if case == "tune":
                    rec["ratio_seconds_per_iteration"] = (peer["seconds_per_iteration"]
                                                          / ours["seconds_per_iteration"])
                    if peer.get("time_to_0.01_s") is None:
                        rec["kornia_reached_0.01"] = False
                        rec["ratio_time_to_0.01_lower_bound"] = peer["stopped_after_s"] / ours["time_to_0.01_s"]
                    else:
                        rec["ratio_time_to_0.01"] = peer["time_to_0.01_s"] / ours["time_to_0.01_s"]
                else:
                    rec["ratio_fwd"] = peer["fwd_s"] / ours["fwd_s"]
                    rec["ratio_fwdbwd"] = peer["fwdbwd_s"] / ours["fwdbwd_s"]
                    rec["ratio_peak_delta_mem"] = peer["peak_delta_mb"] / max(ours["peak_delta_mb"], 1.0)
            except (KeyError, TypeError, ZeroDivisionError):
                pass
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
