"""Spatially varying and curve filters: monotone tone curve, vignetting."""
import math

import numpy as np

from ..engine import ti
from ..errors import ConfigError
from .base import Param, register
from .color import _Pointwise


# ----------------------------------------------------------------------------- tone curve
@ti.kernel
def _tone_fwd(X: ti.template(), Y: ti.template(), p: ti.template(), n: ti.template()):
    # knots at x_k = k / (n - 1); y_k = sum_{m <= k} d_m; linear in between, linear extrapolation
    for i, j in X:
        v = X[i, j]
        out = v * 0
        for c in ti.static(range(X.n)):
            t = v[c] * (n - 1)
            k = 0  # segment index, clamped to [0, n - 2] (comparisons: no floor, AD-friendly)
            for m in ti.static(range(1, n - 1)):
                if t >= m:
                    k = m
            f = t - k
            yk = p[0]
            slope = p[0] - p[0]
            for m in ti.static(range(1, n)):
                if m <= k:
                    yk += p[m]
                if m == k + 1:
                    slope = p[m]
            out[c] = yk + f * slope
        Y[i, j] = out


@ti.kernel
def _tone_bwd(X: ti.template(), GY: ti.template(), GX: ti.template(), p: ti.template(),
              n: ti.template(), part: ti.template(), want: ti.template()):
    # part[i, k] = sum g over samples in segment k; part[i, n - 1 + k] = sum g * f
    for i in range(GX.shape[0]):
        for m in ti.static(range(2 * (n - 1))):
            part[i, m] = 0
        for j in range(GX.shape[1]):
            v = X[i, j]
            gy = GY[i, j]
            gx = gy * 0
            for c in ti.static(range(X.n)):
                t = v[c] * (n - 1)
                k = 0
                for m in ti.static(range(1, n - 1)):
                    if t >= m:
                        k = m
                f = t - k
                slope = p[k + 1]
                gx[c] = gy[c] * slope * (n - 1)
                if ti.static(want):
                    part[i, k] += gy[c]
                    part[i, n - 1 + k] += gy[c] * f
            GX[i, j] = gx


@register
class ToneCurve(_Pointwise):
    r"""Monotone tone curve, the same for every channel: piecewise linear through knots at
    :math:`x_k = k/(n-1)` with values :math:`y_k = \sum_{m \le k} d_m`, linear extrapolation
    outside [0, 1].

    Parameters: ``d0`` (the value at x = 0) and increments ``d1`` .. ``d{n-1}`` (>= 0 keeps the
    curve monotone; learnable bounds clamp them at 0), written as ``increments: [...]``.
    Options: ``knots`` (initial curve values y_k, non-decreasing; sets n), ``n_knots``
    (default 5, identity curve).

    Pipeline snippet::

        - {name: tone, type: tone_curve, knots: [0, 0.3, 0.55, 0.8, 1.0],
           increments: {learnable: true, bounds: [0, 2]}}
    """

    kind = "tone_curve"
    OPTIONS = {"knots": None, "n_knots": 5}

    def _configure(self, settings):
        knots = self.options.get("knots")
        incs = settings.get("increments")
        if knots is not None:
            try:
                k = [float(v) for v in knots]
            except (TypeError, ValueError):
                raise ConfigError(f"knots must be a list of numbers, got {knots!r}", self.where) from None
            if len(k) < 2:
                raise ConfigError("knots needs at least 2 values", self.where)
            if any(b < a for a, b in zip(k, k[1:])):
                raise ConfigError(f"knots must be non-decreasing (monotone curve), got {k}", self.where)
            self.n = len(k)
        elif isinstance(incs, (list, tuple)):
            self.n = len(incs)
        elif isinstance(incs, dict) and isinstance(incs.get("value"), (list, tuple)):
            self.n = len(incs["value"])
        else:
            n = self.options.get("n_knots", 5)
            if not isinstance(n, (int, np.integer)) or n < 2 or n > 64:
                raise ConfigError(f"n_knots must be an integer in [2, 64], got {n!r}", self.where)
            self.n = int(n)

    def params_spec(self):
        n = self.n
        knots = self.options.get("knots")
        if knots is not None:
            k = [float(v) for v in knots]
            d = [k[0]] + [b - a for a, b in zip(k, k[1:])]
        else:
            d = [0.0] + [1.0 / (n - 1)] * (n - 1)
        return [Param("d0", d[0], -1e3, 1e3, "curve value at 0")] + [
            Param(f"d{m}", d[m], 0.0, 1e3, f"rise over segment {m}") for m in range(1, n)]

    def groups(self):
        return {"increments": [f"d{m}" for m in range(self.n)]}

    def saved_options(self):
        return {}  # the curve is saved as its increments

    def _forward(self, X, Y, frame):
        _tone_fwd(X, Y, self.p, self.n)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        n = self.n
        part = self.part(X.shape[0], 2 * (n - 1))
        _tone_bwd(X, GY, GX, self.p, n, part, bool(want_params))
        if not want_params:
            return None
        s = part.to_numpy().astype(np.float64).sum(axis=0)
        s0, s1 = s[: n - 1], s[n - 1: 2 * (n - 1)]
        g = np.zeros(n)
        g[0] = s0.sum()
        for m in range(1, n):
            g[m] = s0[m:].sum() + s1[m - 1]
        return g


# ----------------------------------------------------------------------------- vignetting
@ti.func
def _radius2(i, j, oy: ti.i32, ox: ti.i32, fh: ti.i32, fw: ti.i32):
    cy = 0.5 * (fh - 1)
    cx = 0.5 * (fw - 1)
    dy = (i + oy) - cy
    dx = (j + ox) - cx
    return (dx * dx + dy * dy) / ti.max(cx * cx + cy * cy, 1e-12)


@ti.kernel
def _vig_fwd(X: ti.template(), Y: ti.template(), p: ti.template(), oy: ti.i32, ox: ti.i32,
             fh: ti.i32, fw: ti.i32):
    for i, j in X:
        r2 = ti.cast(_radius2(i, j, oy, ox, fh, fw), p.dtype)
        v = 1.0 + r2 * (p[0] + r2 * (p[1] + r2 * p[2]))
        Y[i, j] = X[i, j] * v


@ti.kernel
def _vig_bwd(X: ti.template(), GY: ti.template(), GX: ti.template(), p: ti.template(),
             oy: ti.i32, ox: ti.i32, fh: ti.i32, fw: ti.i32, part: ti.template(), want: ti.template()):
    for i in range(GX.shape[0]):
        s = ti.Vector.zero(p.dtype, 3)
        for j in range(GX.shape[1]):
            r2 = ti.cast(_radius2(i, j, oy, ox, fh, fw), p.dtype)
            v = 1.0 + r2 * (p[0] + r2 * (p[1] + r2 * p[2]))
            gy = GY[i, j]
            GX[i, j] = gy * v
            if ti.static(want):
                d = gy.dot(X[i, j])
                s += d * ti.Vector([r2, r2 * r2, r2 * r2 * r2])
        for m in ti.static(range(3)):
            part[i, m] = s[m]


@register
class Vignette(_Pointwise):
    r"""Vignetting, a radial polynomial gain:
    :math:`y = x\,(1 + k_1 r^2 + k_2 r^4 + k_3 r^6)`, with r the distance from the image centre
    divided by the half-diagonal (r = 1 in the corners). Positions are those of the full image,
    also when a crop is processed.

    Parameters: ``k1``, ``k2``, ``k3`` (default 0).

    Pipeline snippet::

        - {name: vignette, type: vignette, k1: {value: 0.0, learnable: true, bounds: [-1, 1]}}
    """

    kind = "vignette"
    PARAMS = [Param("k1", 0.0, -1e3, 1e3), Param("k2", 0.0, -1e3, 1e3), Param("k3", 0.0, -1e3, 1e3)]

    def _forward(self, X, Y, frame):
        oy, ox, fh, fw = frame
        _vig_fwd(X, Y, self.p, oy, ox, fh, fw)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        oy, ox, fh, fw = frame
        part = self.part(X.shape[0], 3)
        _vig_bwd(X, GY, GX, self.p, oy, ox, fh, fw, part, bool(want_params))
        return self._reduce(part, 3) if want_params else None


_ = math
