"""Fit a pipeline's learnable parameters to (input, target) image pairs.

Loss: mean squared error over pixels and channels (of the crops, when cropping), averaged over
pairs. Methods:

All three run through the shared optimizer stack (:func:`diffrender.optim.minimize`):

- ``lbfgs``: scipy's L-BFGS-B with the parameter bounds, gradients from ``Pipeline.vjp``
  (default for up to 50 learnable parameters);
- ``adam``: Adam with projection onto the bounds (default above 50 parameters), new random
  crops every step;
- ``lm``: Levenberg-Marquardt (damped Gauss-Newton) whose Jacobian comes from forward-mode
  autodiff (``ti.ad.FwdMode``, one pass per parameter; few parameters, many pixels).

Random crops keep exact margins: the input region is the crop grown by the pipeline's support
(at the parameters' upper bounds) and clipped to the image, and the filters see where the region
sits in the full image, so the crop's output equals the full image's output on the crop.
"""
from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..engine import ti
from ..errors import ConfigError, ImageError
from ..optim import minimize

#: tune's method names -> the shared optimizer stack's (:func:`diffrender.optim.minimize`)
TUNE_METHODS = {"lbfgs": "lbfgs-b", "adam": "adam", "lm": "lm"}
DEFAULT_ITERS = {"lbfgs": 200, "adam": 500, "lm": 50}
AUTO_LBFGS_MAX_PARAMS = 50  # "auto" picks L-BFGS-B up to this many parameters, Adam above
DEFAULT_ADAM_LR = 0.01
ADAM_EPS = 1e-12
# Stopping rule: none but the optimizer's own. scipy's L-BFGS-B ftol compares the decrease with
# max(|loss|, 1), an absolute test for image losses (<< 1): any ftol > 0 stopped the benchmark
# fit at a max parameter error of ~1e-4. With 0 it stops when its line search can no longer
# decrease the loss (the float32 noise floor), gtol, or the iteration limit; LM stops when an
# iteration no longer improves the loss.
DEFAULT_TOL = 0.0


@dataclass
class Crop:
    pair: int
    y0: int  # input region in the full image
    x0: int
    y1: int
    x1: int
    cy: int  # crop (loss region) inside the region
    cx: int
    ch: int
    cw: int


@dataclass
class TuneResult:
    params: dict
    loss: float
    initial_loss: float
    history: list = field(default_factory=list)  # (iteration, loss, {param: value}, seconds)
    method: str = "lbfgs"
    evaluations: int = 0


class Tuner:
    def __init__(self, pipeline, pairs, crop=None, seed=0, where=None):
        self.pipe = pipeline
        self.names = pipeline.learnable_names()
        if not self.names:
            raise ConfigError("no learnable parameters (mark some with learnable: true)",
                              pipeline._where())
        self.pairs = []
        for k, (x, t) in enumerate(pairs):
            label = where[k] if where else f"pair {k}"
            x = pipeline.check_image(x, f"{label} input")
            t = np.asarray(t, dtype=np.float64 if pipeline.dtype == ti.f64 else np.float32)
            if t.ndim == 2:
                t = t[:, :, None]
            cs = pipeline._channels(x.shape[2])
            if t.shape != x.shape[:2] + (cs[-1],):
                raise ImageError(f"{label}: target has shape {t.shape}, the pipeline makes "
                                 f"{x.shape[:2] + (cs[-1],)} from the input")
            if not np.isfinite(t).all():
                raise ImageError(f"{label}: target contains NaN or Inf values")
            self.pairs.append((x, t))
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        self.bounds = pipeline.bounds_of(self.names)
        self.margin = pipeline.support(over_bounds=True)
        self.evals = 0
        self.crops = self.sample_crops()

    # ------------------------------------------------------------------ crops
    def sample_crops(self):
        out = []
        ry, rx = self.margin
        for k, (x, _) in enumerate(self.pairs):
            h, w = x.shape[:2]
            if not self.crop or (self.crop >= h and self.crop >= w):
                out.append(Crop(k, 0, 0, h, w, 0, 0, h, w))
                continue
            ch, cw = min(self.crop, h), min(self.crop, w)
            # even origins keep the Bayer phase of the crop equal to the image's (demosaic)
            oy = 2 * int(self.rng.integers(0, (h - ch) // 2 + 1))
            ox = 2 * int(self.rng.integers(0, (w - cw) // 2 + 1))
            # the region is the crop grown by the margin; at the image edges it is shifted (not
            # clipped) so that every region has the same size and reuses the compiled kernels
            lh, lw = min(h, ch + 2 * ry), min(w, cw + 2 * rx)
            y0 = min(max(0, oy - ry), h - lh)
            x0 = min(max(0, ox - rx), w - lw)
            out.append(Crop(k, y0, x0, y0 + lh, x0 + lw, oy - y0, ox - x0, ch, cw))
        return out

    def _region(self, c: Crop):
        x, t = self.pairs[c.pair]
        h, w = x.shape[:2]
        xin = x[c.y0:c.y1, c.x0:c.x1]
        tgt = t[c.y0 + c.cy:c.y0 + c.cy + c.ch, c.x0 + c.cx:c.x0 + c.cx + c.cw]
        return xin, tgt, (c.y0, c.x0, h, w)

    # ------------------------------------------------------------------ loss and gradient
    def set_vector(self, v):
        for n, x in zip(self.names, v):
            self.pipe.set(n, float(x))

    def vector(self):
        return np.array([self.pipe.get(n) for n in self.names], dtype=np.float64)

    def loss_grad(self, v, crops=None):
        self.set_vector(v)
        crops = crops or self.crops
        total, grad = 0.0, np.zeros(len(self.names))
        for c in crops:
            xin, tgt, frame = self._region(c)
            entry = self.pipe.run_fields(xin, frame, check=False)
            out = entry["acts"][-1].to_numpy().astype(np.float64)
            r = np.zeros_like(out)
            sl = (slice(c.cy, c.cy + c.ch), slice(c.cx, c.cx + c.cw))
            r[sl] = out[sl] - tgt
            n = r[sl].size * len(crops)
            total += float((r[sl] ** 2).sum()) / n
            _, g = self.pipe.vjp_fields(entry, 2.0 * r / n, wrt=self.names)
            grad += np.array([g[k] for k in self.names])
        self.evals += 1
        return total, grad

    def loss(self, v, crops=None):
        self.set_vector(v)
        crops = crops or self.crops
        total = 0.0
        for c in crops:
            xin, tgt, frame = self._region(c)
            out = self.pipe(xin, frame).astype(np.float64)
            r = out[c.cy:c.cy + c.ch, c.cx:c.cx + c.cw] - tgt
            total += float((r ** 2).mean()) / len(crops)
        self.evals += 1
        return total

    def residuals_jacobian(self, v):
        """Residual vector and its Jacobian (forward mode) over the current crops."""
        self.set_vector(v)
        rs, Js = [], []
        for c in self.crops:
            xin, tgt, frame = self._region(c)
            out, J = self.pipe.jacobian(xin, self.names, frame)
            sl = (slice(c.cy, c.cy + c.ch), slice(c.cx, c.cx + c.cw))
            scale = 1.0 / math.sqrt(tgt.size * len(self.crops))
            rs.append(((out[sl] - tgt) * scale).ravel())
            Js.append((J[(slice(None),) + sl] * scale).reshape(len(self.names), -1).T)
        self.evals += 1
        return np.concatenate(rs).astype(np.float64), np.concatenate(Js).astype(np.float64)

    # ------------------------------------------------------------------ methods
    def run(self, method="auto", iters=None, lr=None, callback=None, tol=DEFAULT_TOL):
        n = len(self.names)
        if method == "auto":
            method = "lbfgs" if n <= AUTO_LBFGS_MAX_PARAMS else "adam"
        if method not in TUNE_METHODS:
            raise ConfigError(f"unknown method '{method}' (expected auto, {', '.join(TUNE_METHODS)})",
                              "tune")
        lo = np.array([b[0] for b in self.bounds], np.float64)
        hi = np.array([b[1] for b in self.bounds], np.float64)
        v0 = np.clip(self.vector(), lo, hi)
        t0 = time.perf_counter()
        hist = []

        def record(it, loss, v):
            hist.append((it, float(loss), dict(zip(self.names, map(float, v))), time.perf_counter() - t0))
            if callback:
                callback(it, float(loss), dict(zip(self.names, map(float, v))))

        init_loss = self.loss(v0) if method != "adam" else self.loss(v0, self.crops)
        record(0, init_loss, v0)

        def new_crops(it):
            if self.crop:
                self.crops = self.sample_crops()

        v, loss = minimize(v0, TUNE_METHODS[method], loss_grad=self.loss_grad, bounds=(lo, hi),
                           iters=iters or DEFAULT_ITERS[method], lr=lr or DEFAULT_ADAM_LR,
                           callback=record, tol=tol, residuals=self.residuals_jacobian,
                           loss=self.loss, before_step=new_crops, adam={"eps": ADAM_EPS})
        self.set_vector(v)
        return TuneResult(dict(zip(self.names, map(float, v))), float(loss), float(init_loss), hist,
                          method, self.evals)


def tune(pipeline, pairs, method="auto", iters=None, crop=None, seed=0, lr=None, callback=None,
         where=None):
    """Fit ``pipeline``'s learnable parameters to ``pairs`` [(input, target), ...] in place and
    return a :class:`TuneResult`. LM needs a pipeline loaded with ``dual=True``."""
    if method == "lm" and not pipeline.dual:
        raise ConfigError("method 'lm' needs forward-mode autodiff: load the pipeline with dual=True",
                          pipeline._where())
    t = Tuner(pipeline, pairs, crop=crop, seed=seed, where=where)
    return t.run(method, iters, lr, callback)


def write_report(path, result: TuneResult):
    os.makedirs(os.path.dirname(os.path.abspath(str(path))), exist_ok=True)
    names = list(result.params)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["iteration", "loss", "seconds"] + names)
        for it, loss, params, sec in result.history:
            w.writerow([it, f"{loss:.9g}", f"{sec:.3f}"] + [f"{params[n]:.9g}" for n in names])
