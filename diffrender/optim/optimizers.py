"""Optimizers over named numpy parameters (or one vector), with bounds and schedules.

- :class:`Adam` (Kingma & Ba 2015) and :class:`SGD` (with momentum) take per-parameter learning
  rates; :class:`UniformAdam` (Nicolet, Jacobson, Jakob 2021, the optimizer of the large-steps
  method) normalises every element of a parameter by one scalar, the largest bias-corrected
  second moment of that parameter's elements; after each step a parameter is projected onto its bounds (``[lo, hi]``, e.g. reflectance
  in [0, 1], radiance >= 0).
- :class:`LBFGS`: limited-memory BFGS with the two-loop recursion and a backtracking Armijo line
  search on the projected step, for small parameter sets with deterministic (common random
  numbers) gradients.
- :class:`LevenbergMarquardt`: damped Gauss-Newton from residuals and their Jacobian.
- :func:`minimize`: one entry point over a parameter vector for all of them and scipy's
  L-BFGS-B (``diffrender tune`` uses it; ``diffrender optimize`` steps the classes itself, to
  checkpoint between iterations).
- Schedules: ``constant``, ``step`` (gamma every ``step_size`` iterations), ``exponential``,
  ``cosine`` (to ``min_factor`` over ``total`` iterations).

All optimizers have ``state_dict()`` / ``load_state_dict()`` with plain numpy/JSON-able content, so
a checkpointed run resumes bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize as scipy_minimize

from ..errors import ConfigError


@dataclass
class Schedule:
    kind: str = "constant"
    gamma: float = 0.5
    step_size: int = 100
    total: int = 100
    min_factor: float = 0.0

    def __post_init__(self):
        if self.kind not in ("constant", "step", "exponential", "cosine"):
            raise ConfigError(f"unknown schedule '{self.kind}': expected constant, step, exponential or cosine")

    def factor(self, it: int) -> float:
        if self.kind == "constant":
            return 1.0
        if self.kind == "step":
            return self.gamma ** (it // max(self.step_size, 1))
        if self.kind == "exponential":
            return self.gamma ** it
        t = min(it / max(self.total, 1), 1.0)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t))


def project(value: np.ndarray, bounds) -> np.ndarray:
    if bounds is None:
        return value
    lo, hi = bounds
    return np.clip(value, -np.inf if lo is None else lo, np.inf if hi is None else hi)


class _FirstOrder:
    def __init__(self, params: dict, lr, bounds: dict | None = None, schedule: Schedule | None = None):
        self.params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
        if isinstance(lr, dict):
            missing = set(self.params) - set(lr)
            if missing:
                raise ConfigError(f"no learning rate for parameter(s) {', '.join(sorted(missing))}")
            self.lr = {k: float(lr[k]) for k in self.params}
        else:
            self.lr = {k: float(lr) for k in self.params}
        for k, v in self.lr.items():
            if not v > 0:
                raise ConfigError(f"learning rate of '{k}' must be positive, got {v}")
        self.bounds = dict(bounds or {})
        self.schedule = schedule or Schedule()
        self.iteration = 0

    def _apply(self, name, delta):
        self.params[name] = project(self.params[name] - delta, self.bounds.get(name))

    def state_dict(self) -> dict:
        return {"iteration": self.iteration, "params": {k: v.tolist() for k, v in self.params.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.iteration = int(state["iteration"])
        self.params = {k: np.array(v, dtype=np.float64) for k, v in state["params"].items()}


class SGD(_FirstOrder):
    def __init__(self, params, lr, momentum: float = 0.0, **kw):
        super().__init__(params, lr, **kw)
        self.momentum = float(momentum)
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}

    def step(self, grads: dict) -> dict:
        f = self.schedule.factor(self.iteration)
        for k, g in grads.items():
            g = np.asarray(g, np.float64).reshape(self.params[k].shape)
            self.velocity[k] = self.momentum * self.velocity[k] + g
            self._apply(k, f * self.lr[k] * self.velocity[k])
        self.iteration += 1
        return self.params

    def state_dict(self):
        s = super().state_dict()
        s["velocity"] = {k: v.tolist() for k, v in self.velocity.items()}
        return s

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.velocity = {k: np.array(v, np.float64) for k, v in state["velocity"].items()}


class Adam(_FirstOrder):
    def __init__(self, params, lr, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, **kw):
        super().__init__(params, lr, **kw)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.params.items()}

    def _second_moment(self, vh: np.ndarray):
        """The normaliser of each element's step: its own bias-corrected second moment."""
        return vh

    def step(self, grads: dict) -> dict:
        t = self.iteration + 1
        f = self.schedule.factor(self.iteration)
        for k, g in grads.items():
            g = np.asarray(g, np.float64).reshape(self.params[k].shape)
            self.m[k] = self.beta1 * self.m[k] + (1 - self.beta1) * g
            self.v[k] = self.beta2 * self.v[k] + (1 - self.beta2) * g * g
            mh = self.m[k] / (1 - self.beta1 ** t)
            vh = self.v[k] / (1 - self.beta2 ** t)
            self._apply(k, f * self.lr[k] * mh / (np.sqrt(self._second_moment(vh)) + self.eps))
        self.iteration += 1
        return self.params

    def state_dict(self):
        s = super().state_dict()
        s["m"] = {k: v.tolist() for k, v in self.m.items()}
        s["v"] = {k: v.tolist() for k, v in self.v.items()}
        return s

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.m = {k: np.array(v, np.float64) for k, v in state["m"].items()}
        self.v = {k: np.array(v, np.float64) for k, v in state["v"].items()}


class UniformAdam(Adam):
    """Adam whose steps are normalised by one scalar per parameter (Nicolet et al. 2021, "Large
    Steps in Inverse Rendering of Geometry"): the moments are kept per element as in Adam, but
    each element's step is ``lr * m_hat / (sqrt(max(v_hat)) + eps)``, the maximum taken over the
    parameter's elements. The step direction is then the (momentum-averaged) gradient itself, not
    a per-element rescaling of it, which keeps the smoothing of the large-steps parametrization
    intact."""

    def _second_moment(self, vh: np.ndarray):
        return np.max(vh) if vh.size else vh


class LBFGS:
    """Projected L-BFGS for small parameter sets.

    ``step(fun)`` takes ``fun(params) -> (loss, grads)`` and performs one outer iteration
    (direction from the two-loop recursion, backtracking Armijo line search on the projected
    point); it returns the new params. The curvature pairs are skipped when ``y.s <= 0``.
    """

    def __init__(self, params: dict, bounds: dict | None = None, history: int = 10,
                 max_line_search: int = 20, lr: float = 1.0):
        self.names = list(params)
        self.shapes = {k: np.shape(v) for k, v in params.items()}
        self.params = {k: np.array(v, np.float64) for k, v in params.items()}
        self.bounds = dict(bounds or {})
        self.history = int(history)
        self.max_line_search = int(max_line_search)
        self.lr = float(lr)
        self.s_list: list[np.ndarray] = []
        self.y_list: list[np.ndarray] = []
        self.iteration = 0
        self._last = None  # (x, f, g) at the current point

    def _flat(self, d):
        return np.concatenate([np.ravel(np.asarray(d[k], np.float64)) for k in self.names])

    def _unflat(self, x):
        out, i = {}, 0
        for k in self.names:
            n = int(np.prod(self.shapes[k])) if self.shapes[k] else 1
            out[k] = x[i:i + n].reshape(self.shapes[k])
            i += n
        return out

    def _proj(self, x):
        d = self._unflat(x.copy())
        return self._flat({k: project(v, self.bounds.get(k)) for k, v in d.items()})

    def _direction(self, g):
        q = g.copy()
        alphas = []
        for s, y in reversed(list(zip(self.s_list, self.y_list))):
            rho = 1.0 / y.dot(s)
            a = rho * s.dot(q)
            alphas.append((a, rho, s, y))
            q -= a * y
        if self.s_list:
            s, y = self.s_list[-1], self.y_list[-1]
            q *= s.dot(y) / y.dot(y)
        else:
            q *= self.lr / max(np.abs(g).max(), 1e-30)
        for a, rho, s, y in reversed(alphas):
            b = rho * y.dot(q)
            q += s * (a - b)
        return -q

    def step(self, fun):
        if self._last is None:
            x = self._flat(self.params)
            f, g = fun(self._unflat(x))
            self._last = (x, float(f), self._flat(g))
        x, f, g = self._last
        p = self._direction(g)
        if g.dot(p) >= 0:  # not a descent direction: reset memory
            self.s_list.clear()
            self.y_list.clear()
            p = self._direction(g)
        t = 1.0
        for _ in range(self.max_line_search):
            xn = self._proj(x + t * p)
            fn, gn = fun(self._unflat(xn))
            if fn <= f + 1e-4 * g.dot(xn - x):
                break
            t *= 0.5
        gn = self._flat(gn)
        s, y = xn - x, gn - g
        if y.dot(s) > 1e-12:
            self.s_list.append(s)
            self.y_list.append(y)
            if len(self.s_list) > self.history:
                self.s_list.pop(0)
                self.y_list.pop(0)
        if fn <= f:
            self._last = (xn, float(fn), gn)
            self.params = self._unflat(xn)
        self.iteration += 1
        return self.params

    @property
    def loss(self):
        return None if self._last is None else self._last[1]

    def state_dict(self) -> dict:
        return {"iteration": self.iteration, "params": {k: np.asarray(v).tolist() for k, v in self.params.items()},
                "s": [s.tolist() for s in self.s_list], "y": [y.tolist() for y in self.y_list],
                "last": None if self._last is None else [self._last[0].tolist(), self._last[1], self._last[2].tolist()]}

    def load_state_dict(self, state: dict) -> None:
        self.iteration = int(state["iteration"])
        self.params = {k: np.array(v, np.float64) for k, v in state["params"].items()}
        self.s_list = [np.array(s) for s in state["s"]]
        self.y_list = [np.array(y) for y in state["y"]]
        last = state.get("last")
        self._last = None if last is None else (np.array(last[0]), float(last[1]), np.array(last[2]))


class LevenbergMarquardt:
    """Levenberg-Marquardt (damped Gauss-Newton with Marquardt's diagonal scaling) within bounds.

    ``step(residuals, loss)`` takes ``residuals(x) -> (r, J)`` (residual vector and its Jacobian,
    e.g. from forward-mode autodiff) and ``loss(x) -> float`` (= r.r at x) and performs one outer
    iteration: the damping grows until a trial point lowers the loss (at most ``max_tries``
    trials). ``converged`` is set when no trial improved."""

    GROW = 4.0  # damping factor after a rejected trial
    SHRINK = 3.0  # damping divisor after an accepted one
    SINGULAR_GROW = 10.0  # damping factor when the damped system is singular
    MIN_DAMPING = 1e-9
    DIAG_FLOOR = 1e-12  # keeps the scaling matrix positive definite

    def __init__(self, x0, bounds=None, damping: float = 1e-3, max_tries: int = 12):
        self.x = np.array(x0, np.float64)
        lo, hi = (None, None) if bounds is None else bounds
        self.lo = np.full_like(self.x, -np.inf) if lo is None else np.asarray(lo, np.float64)
        self.hi = np.full_like(self.x, np.inf) if hi is None else np.asarray(hi, np.float64)
        self.damping = float(damping)
        self.max_tries = int(max_tries)
        self.iteration = 0
        self.converged = False
        self._rJ = None

    def start(self, residuals) -> None:
        """Evaluate the residuals at the starting point (else the first step does)."""
        self._rJ = residuals(self.x)

    def step(self, residuals, loss):
        if self._rJ is None:
            self.start(residuals)
        r, J = self._rJ
        f = float(r @ r)
        A, g = J.T @ J, J.T @ r
        D = np.diag(np.diag(A)) + self.DIAG_FLOOR * np.eye(len(self.x))
        for _ in range(self.max_tries):
            try:
                delta = -np.linalg.solve(A + self.damping * D, g)
            except np.linalg.LinAlgError:
                self.damping *= self.SINGULAR_GROW
                continue
            xn = np.clip(self.x + delta, self.lo, self.hi)
            if loss(xn) < f:
                self.x = xn
                self.damping = max(self.damping / self.SHRINK, self.MIN_DAMPING)
                self._rJ = residuals(self.x)
                self.iteration += 1
                return self.x
            self.damping *= self.GROW
        self.converged = True
        return self.x

    @property
    def loss(self):
        return None if self._rJ is None else float(self._rJ[0] @ self._rJ[0])


def _scipy_lbfgsb(loss_grad, x0, bounds, iters, tol, callback):
    """scipy's L-BFGS-B (bounds by active sets); ``callback(it, loss, x)`` per iteration."""
    last = {}

    def fun(v):
        loss, g = loss_grad(v)
        last["loss"] = loss
        return loss, g

    state = {"it": 0}

    def cb(v):
        state["it"] += 1
        callback(state["it"], last.get("loss", float("nan")), v)

    lo, hi = bounds
    box = [(None if not math.isfinite(a) else a, None if not math.isfinite(b) else b)
           for a, b in zip(lo, hi)]
    res = scipy_minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=box, callback=cb,
                         options={"maxiter": iters, "ftol": tol, "gtol": LBFGSB_GTOL,
                                  "maxcor": LBFGSB_MEMORY, "maxfun": iters * LBFGSB_EVALS_PER_ITER})
    return res.x, float(res.fun)


TINY = 1e-30  # floor of a loss used as a divisor
LBFGSB_GTOL = 1e-14
LBFGSB_MEMORY = 20
LBFGSB_EVALS_PER_ITER = 4
#: the methods of :func:`minimize`
METHODS = ("lbfgs-b", "lbfgs", "adam", "uniform_adam", "sgd", "lm")


def minimize(x0, method, loss_grad=None, bounds=None, iters=100, lr=None, callback=None,
             tol=1e-12, residuals=None, loss=None, before_step=None, adam=None, sgd=None):
    """Minimise over one parameter vector ``x0`` with bounds ``(lo, hi)`` (arrays, +-inf for
    none) by ``method`` (:data:`METHODS`); returns ``(x, loss)``.

    - ``lbfgs-b`` (scipy) and ``lbfgs`` (:class:`LBFGS`): ``loss_grad(x) -> (loss, grad)``;
    - ``adam`` / ``uniform_adam`` / ``sgd``: ``loss_grad`` and the learning rate ``lr``;
      ``before_step(it)`` runs before each gradient (e.g. new random crops); ``adam`` (also for
      ``uniform_adam``) / ``sgd``: their keyword options;
    - ``lm`` (:class:`LevenbergMarquardt`): ``residuals(x) -> (r, J)`` and ``loss(x) -> r.r``;
      stops when an iteration improves the loss by at most ``tol`` relatively.

    ``callback(it, loss, x)`` after each iteration (``loss``: the loss at the point the
    iteration's gradient was taken for adam / sgd, at the new point otherwise)."""
    if method not in METHODS:
        raise ConfigError(f"unknown method '{method}' (expected {', '.join(METHODS)})")
    x0 = np.asarray(x0, np.float64)
    lo, hi = bounds if bounds is not None else (np.full_like(x0, -np.inf), np.full_like(x0, np.inf))
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    callback = callback or (lambda it, f, x: None)
    if method == "lbfgs-b":
        return _scipy_lbfgsb(loss_grad, x0, (lo, hi), iters, tol, callback)
    if method == "lm":
        opt = LevenbergMarquardt(x0, (lo, hi))
        opt.start(residuals)
        for it in range(1, iters + 1):
            prev = opt.loss
            x = opt.step(residuals, loss)
            if opt.converged:
                break
            callback(it, opt.loss, x)
            if prev - opt.loss <= tol * max(prev, TINY):
                break
        return opt.x, opt.loss
    if method == "lbfgs":
        opt = LBFGS({"x": x0}, bounds={"x": (lo, hi)})

        def fun(p):
            f, g = loss_grad(p["x"])
            return f, {"x": g}

        for it in range(1, iters + 1):
            opt.step(fun)
            callback(it, opt.loss, opt.params["x"])
        return np.asarray(opt.params["x"]), opt.loss
    if lr is None:
        raise ConfigError(f"method '{method}' needs a learning rate")
    cls, kw = {"adam": (Adam, adam), "uniform_adam": (UniformAdam, adam), "sgd": (SGD, sgd)}[method]
    opt = cls({"x": x0}, lr=lr, bounds={"x": (lo, hi)}, **(kw or {}))
    f = float("nan")
    for it in range(1, iters + 1):
        if before_step is not None:
            before_step(it)
        f, g = loss_grad(opt.params["x"])
        opt.step({"x": g})
        callback(it, f, opt.params["x"])
    return opt.params["x"], f
