"""Filters benchmark: diffrender (Taichi) against Kornia (PyTorch), same machine, same run.

Each measurement runs in its own subprocess (2 threads for both), so that peak memory is the
process's RSS high-water mark (``resource.getrusage(...).ru_maxrss``), reported both absolute
and as the delta over the RSS right after imports and engine start. Times are the best of
``--reps`` after one warm-up call (the warm-up includes Taichi's compile or cache load).

Prints one JSON line per case with the ratio kornia / diffrender (> 1: diffrender faster).

    python benchmarks/bench_filters.py [--size 1024] [--reps 3] [--cases gauss2,gauss8,...]
    pip install torch==2.13.0 kornia   # the peer (extra "bench")

``--vs opencv``: forward only against OpenCV, both in one process (Taichi's pool and OpenCV's
both at 2 threads), one JSON line per (filter, size): process CPU time (``time.process_time``,
all threads) of ``--pairs`` alternating pairs (diffrender call, OpenCV call; each sample repeats
the call until it has run ``--min-sample`` seconds), the median ratio diffrender / OpenCV
(< 1: diffrender faster) and its min-max over the pairs. The pipelines take and return numpy
images, as OpenCV does (upload, filter, download all counted).

    python benchmarks/bench_filters.py --vs opencv [--sizes 1024,2048] [--pairs 5]

The ``tune`` case runs both fits to convergence and reports the time to a max parameter error
of 0.01 and 1e-4 and the final error.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

CASES = ["gauss2", "gauss8", "bilateral9", "unsharp", "pipeline7", "tune"]
THREADS = 2
KORNIA_TUNE_BUDGET_S = 150.0
TUNE_ITERS = 300
TUNE_LEVELS = (0.01, 1e-4)  # max parameter errors whose first time is reported
# forward against OpenCV: (name, diffrender stage, OpenCV call on a float32 (H, W, 3) image)
OPENCV_CASES = ["gauss2", "gauss8", "box5", "bilateral9", "unsharp"]
OPENCV_SIZES = "1024,2048"
MIN_SAMPLE_S = 0.05
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


def _levels_hit(hit, err, wall, cpu, it):
    for lv in TUNE_LEVELS:
        if err < lv and lv not in hit:
            hit[lv] = {"s": wall, "cpu_s": cpu, "iterations": it, "max_err": err}


def _tune_summary(hit, it, err, wall, cpu):
    out = {}
    for lv in TUNE_LEVELS:
        h = hit.get(lv) or {}
        out[f"time_to_{lv:g}_s"] = h.get("s")
        out[f"cpu_to_{lv:g}_s"] = h.get("cpu_s")
        out[f"iterations_to_{lv:g}"] = h.get("iterations")
    out.update({"final_max_err": err, "final_iterations": it, "final_s": wall, "final_cpu_s": cpu,
                "seconds_per_iteration": wall / max(it, 1)})
    return out


def _tune_diffrender(base):
    import numpy as np

    from diffrender.filters import Pipeline
    from diffrender.filters.tune import Tuner

    x, t, true = _tune_problem()
    pipe = Pipeline.load(os.path.join(ROOT, "examples", "filters", "recover.yaml"))
    names = ["blur.sigma", "gamma.gamma"] + [f"color.m{a}{b}" for a in range(3) for b in range(3)] + \
            ["sharpen.amount"]
    tuner = Tuner(pipe, [(x, t)])
    t0, c0 = time.perf_counter(), time.process_time()
    hit, last = {}, {"it": 0, "err": float("nan")}

    def cb(it, loss, params):
        err = max(abs(params[n] - v) for n, v in zip(names, true))
        last.update(it=it, err=err)
        _levels_hit(hit, err, time.perf_counter() - t0, time.process_time() - c0, it)

    res = tuner.run("lbfgs", TUNE_ITERS, callback=cb)
    out = _tune_summary(hit, last["it"], last["err"], time.perf_counter() - t0, time.process_time() - c0)
    out.update({"evaluations": res.evaluations, "note": "includes first-call kernel compile/cache load",
                "image": list(x.shape), "peak_rss_mb": _maxrss_mb(), "peak_delta_mb": _maxrss_mb() - base})
    return out


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

    t0, c0 = time.perf_counter(), time.process_time()
    hit = {}
    it, err, best, stalled = 0, float("nan"), float("inf"), 0
    while it < TUNE_ITERS and time.perf_counter() - t0 < KORNIA_TUNE_BUDGET_S and stalled < 10:
        it += 1
        opt.step(closure)
        with torch.no_grad():
            cur = torch.cat([sig[None], gam[None], mat.flatten(), amt[None]]).numpy()
        err = float(abs(cur - true).max())
        _levels_hit(hit, err, time.perf_counter() - t0, time.process_time() - c0, it)
        stalled = 0 if err < 0.999 * best else stalled + 1  # converged: 10 steps without progress
        best = min(best, err)
    out = _tune_summary(hit, it, err, time.perf_counter() - t0, time.process_time() - c0)
    out.update({"budget_s": KORNIA_TUNE_BUDGET_S, "image": list(x.shape), "peak_rss_mb": _maxrss_mb(),
                "peak_delta_mb": _maxrss_mb() - base})
    return out


# ----------------------------------------------------------------------------- OpenCV, forward
def _opencv_case(case):
    """(diffrender stage, OpenCV's equivalent call) for a float32 (H, W, 3) image."""
    import cv2

    if case in ("gauss2", "gauss8"):
        s = 2.0 if case == "gauss2" else 8.0
        k = _ks(s)
        return {"type": "gaussian_blur", "sigma": s}, lambda x: cv2.GaussianBlur(x, (k, k), s)
    if case == "box5":
        return {"type": "box_blur", "ksize": 5}, lambda x: cv2.blur(x, (5, 5))
    if case == "bilateral9":
        return ({"type": "bilateral", "d": 9, "sigma_space": 3.0, "sigma_range": 0.1},
                lambda x: cv2.bilateralFilter(x, 9, 0.1, 3.0))
    if case == "unsharp":
        k = _ks(2.0)
        return ({"type": "unsharp_mask", "sigma": 2.0, "amount": 0.6},
                lambda x: cv2.addWeighted(x, 1.6, cv2.GaussianBlur(x, (k, k), 2.0), -0.6, 0.0))
    raise ValueError(case)


def _cpu_per_call(fn, n):
    c = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - c) / n


def run_opencv(cases, sizes, pairs, min_sample):
    import cv2
    import numpy as np

    from diffrender.engine import init

    init("cpu", threads=THREADS)
    cv2.setNumThreads(THREADS)
    from diffrender.filters import Pipeline

    for size in sizes:
        x = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
        for case in cases:
            stage, cv_fn = _opencv_case(case)
            pipe = Pipeline.from_config({"stages": [{"name": "f", **stage}]})
            ours_fn = lambda: pipe(x)  # noqa: E731
            peer_fn = lambda: cv_fn(x)  # noqa: E731
            diff = float(np.abs(ours_fn() - peer_fn()).max())  # warm-up (compile) and agreement
            reps = [max(1, int(np.ceil(min_sample / max(_cpu_per_call(f, 1), 1e-6))))
                    for f in (ours_fn, peer_fn)]
            t_ours, t_peer = [], []
            for _ in range(pairs):
                t_ours.append(_cpu_per_call(ours_fn, reps[0]))
                t_peer.append(_cpu_per_call(peer_fn, reps[1]))
            ratios = [a / b for a, b in zip(t_ours, t_peer)]
            print(json.dumps({
                "bench": f"filters.opencv.{case}", "size": size, "threads": THREADS, "pairs": pairs,
                "clock": "process CPU time", "diffrender_ms": 1e3 * statistics.median(t_ours),
                "opencv_ms": 1e3 * statistics.median(t_peer), "ratio": statistics.median(ratios),
                "ratio_min": min(ratios), "ratio_max": max(ratios), "calls_per_sample": reps,
                "max_abs_diff": diff}), flush=True)


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
    ap.add_argument("--vs", choices=["kornia", "opencv"], default="kornia")
    ap.add_argument("--sizes", default=OPENCV_SIZES, help="--vs opencv: image sizes")
    ap.add_argument("--pairs", type=int, default=5, help="--vs opencv: alternating pairs")
    ap.add_argument("--min-sample", type=float, default=MIN_SAMPLE_S,
                    help="--vs opencv: CPU seconds per timed sample (calls repeated)")
    a = ap.parse_args()
    if a.vs == "opencv" and not a.worker:
        cases = OPENCV_CASES if a.cases == ",".join(CASES) else a.cases.split(",")
        run_opencv(cases, [int(v) for v in a.sizes.split(",")], a.pairs, a.min_sample)
        return
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
                    for lv in TUNE_LEVELS:
                        key = f"time_to_{lv:g}_s"
                        if ours.get(key) is None:
                            continue
                        ckey = f"cpu_to_{lv:g}_s"
                        if peer.get(key) is None:  # not reached: the time it ran is a lower bound
                            rec[f"ratio_{key}_lower_bound"] = peer["final_s"] / ours[key]
                            rec[f"ratio_{ckey}_lower_bound"] = peer["final_cpu_s"] / ours[ckey]
                        else:
                            rec[f"ratio_{key}"] = peer[key] / ours[key]
                            rec[f"ratio_{ckey}"] = peer[ckey] / ours[ckey]
                else:
                    rec["ratio_fwd"] = peer["fwd_s"] / ours["fwd_s"]
                    rec["ratio_fwdbwd"] = peer["fwdbwd_s"] / ours["fwdbwd_s"]
                    rec["ratio_peak_delta_mem"] = peer["peak_delta_mb"] / max(ours["peak_delta_mb"], 1.0)
            except (KeyError, TypeError, ZeroDivisionError):
                pass
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
