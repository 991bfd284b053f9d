"""Pointwise colour filters: exposure, gamma, white balance, 3x3 colour matrix, saturation.

Forward kernels are flat (forward-mode autodiff works on them); backward kernels are written by
hand: the image adjoint per pixel, parameter gradients as per-row partial sums (one thread per
row, no atomics) reduced in float64 by numpy.
"""
import math

import numpy as np

from .. import fmath
from ..engine import ti
from .base import Filter, Param, register

LN2 = math.log(2.0)
LUMA = (0.2126, 0.7152, 0.0722)  # Rec. 709 / sRGB primaries, linear light


class _Pointwise(Filter):
    def part(self, h, n):
        k = ("__part", h, n)
        f = self._bufs.get(k)
        if f is None:
            f = ti.field(self.dtype, shape=(h, max(n, 1)))
            self._bufs[k] = f
        return f

    def _reduce(self, part, n):
        return part.to_numpy().astype(np.float64).sum(axis=0)[:n]


# ----------------------------------------------------------------------------- exposure
@ti.kernel
def _exposure_fwd(X: ti.template(), Y: ti.template(), p: ti.template()):
    for i, j in X:
        Y[i, j] = X[i, j] * fmath.exp(p[0] * LN2)


@ti.kernel
def _exposure_bwd(Y: ti.template(), GY: ti.template(), GX: ti.template(), p: ti.template(),
                  part: ti.template(), want: ti.template()):
    for i in range(GX.shape[0]):
        s = p[0] - p[0]
        k = fmath.exp(p[0] * LN2)
        for j in range(GX.shape[1]):
            GX[i, j] = GY[i, j] * k
            if ti.static(want):
                s += GY[i, j].dot(Y[i, j])
        part[i, 0] = s * LN2


@register
class Exposure(_Pointwise):
    r"""Exposure: :math:`y = 2^{ev} x`.

    Parameters: ``ev`` (stops, default 0).

    Pipeline snippet::

        - {name: exposure, type: exposure, ev: {value: 0.0, learnable: true, bounds: [-4, 4]}}
    """

    kind = "exposure"
    PARAMS = [Param("ev", 0.0, -30.0, 30.0, "exposure change in stops")]

    def _forward(self, X, Y, frame):
        _exposure_fwd(X, Y, self.p)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        part = self.part(X.shape[0], 1)
        _exposure_bwd(Y, GY, GX, self.p, part, bool(want_params))
        return self._reduce(part, 1) if want_params else None


# ----------------------------------------------------------------------------- gamma
@ti.kernel
def _gamma_fwd(X: ti.template(), Y: ti.template(), p: ti.template()):
    for i, j in X:
        v = X[i, j]
        for c in ti.static(range(X.n)):
            a = ti.abs(v[c])
            y = a - a
            if a > 0:
                y = ti.math.sign(v[c]) * fmath.exp(p[0] * fmath.log(a))
            Y[i, j][c] = y


@ti.kernel
def _gamma_bwd(X: ti.template(), Y: ti.template(), GY: ti.template(), GX: ti.template(),
               p: ti.template(), part: ti.template(), want: ti.template()):
    for i in range(GX.shape[0]):
        g = p[0]
        s = g - g
        for j in range(GX.shape[1]):
            v = X[i, j]
            y = Y[i, j]
            gy = GY[i, j]
            gx = gy * 0
            for c in ti.static(range(X.n)):
                a = ti.abs(v[c])
                if a > 0:
                    gx[c] = gy[c] * g * ti.abs(y[c]) / a
                    if ti.static(want):
                        s += gy[c] * y[c] * fmath.log(a)
            GX[i, j] = gx
        part[i, 0] = s


@register
class Gamma(_Pointwise):
    r"""Gamma (power) curve, sign-preserving: :math:`y = \mathrm{sign}(x)\,|x|^{\gamma}`.

    Parameters: ``gamma`` (> 0, default 1). The derivative at x = 0 is taken as 0.

    Pipeline snippet::

        - {name: gamma, type: gamma, gamma: {value: 1.0, learnable: true, bounds: [0.2, 5]}}
    """

    kind = "gamma"
    PARAMS = [Param("gamma", 1.0, 1e-3, 100.0, "exponent", True)]

    def _forward(self, X, Y, frame):
        _gamma_fwd(X, Y, self.p)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        part = self.part(X.shape[0], 1)
        _gamma_bwd(X, Y, GY, GX, self.p, part, bool(want_params))
        return self._reduce(part, 1) if want_params else None


# ----------------------------------------------------------------------------- white balance
@ti.kernel
def _wb_fwd(X: ti.template(), Y: ti.template(), p: ti.template()):
    for i, j in X:
        v = X[i, j]
        for c in ti.static(range(X.n)):
            Y[i, j][c] = v[c] * p[c]


@ti.kernel
def _wb_bwd(X: ti.template(), GY: ti.template(), GX: ti.template(), p: ti.template(),
            part: ti.template(), want: ti.template()):
    for i in range(GX.shape[0]):
        s = X[i, 0] * 0
        for j in range(GX.shape[1]):
            gy = GY[i, j]
            gx = gy * 0
            for c in ti.static(range(X.n)):
                gx[c] = gy[c] * p[c]
            GX[i, j] = gx
            if ti.static(want):
                s += gy * X[i, j]
        for c in ti.static(range(X.n)):
            part[i, c] = s[c]


@register
class WhiteBalance(_Pointwise):
    r"""White balance: per-channel gains, :math:`y_c = g_c x_c`.

    Parameters: ``gain_r``, ``gain_g``, ``gain_b`` (default 1), written as ``gains: [r, g, b]``.

    Pipeline snippet::

        - {name: wb, type: white_balance, gains: {value: [1, 1, 1], learnable: true, bounds: [0.2, 5]}}
    """

    kind = "white_balance"
    PARAMS = [Param("gain_r", 1.0, -1e3, 1e3), Param("gain_g", 1.0, -1e3, 1e3),
              Param("gain_b", 1.0, -1e3, 1e3)]
    GROUPS = {"gains": ["gain_r", "gain_g", "gain_b"]}
    IN_CHANNELS = 3

    def _forward(self, X, Y, frame):
        _wb_fwd(X, Y, self.p)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        part = self.part(X.shape[0], 3)
        _wb_bwd(X, GY, GX, self.p, part, bool(want_params))
        return self._reduce(part, 3) if want_params else None


# ----------------------------------------------------------------------------- colour matrix
@ti.kernel
def _cm_fwd(X: ti.template(), Y: ti.template(), p: ti.template()):
    for i, j in X:
        v = X[i, j]
        r = v * 0
        for a in ti.static(range(3)):
            acc = p[9 + a]
            for b in ti.static(range(3)):
                acc += p[3 * a + b] * v[b]
            r[a] = acc
        Y[i, j] = r


@ti.kernel
def _cm_bwd(X: ti.template(), GY: ti.template(), GX: ti.template(), p: ti.template(),
            part: ti.template(), want: ti.template()):
    for i in range(GX.shape[0]):
        sm = ti.Matrix.zero(p.dtype, 3, 3)
        so = ti.Vector.zero(p.dtype, 3)
        for j in range(GX.shape[1]):
            gy = GY[i, j]
            v = X[i, j]
            gx = gy * 0
            for b in ti.static(range(3)):
                acc = p[b] * gy[0]
                for a in ti.static(range(1, 3)):
                    acc += p[3 * a + b] * gy[a]
                gx[b] = acc
            GX[i, j] = gx
            if ti.static(want):
                sm += gy.outer_product(v)
                so += gy
        for a in ti.static(range(3)):
            for b in ti.static(range(3)):
                part[i, 3 * a + b] = sm[a, b]
            part[i, 9 + a] = so[a]


@register
class ColorMatrix(_Pointwise):
    r"""3x3 colour matrix with offset: :math:`y = M x + o`.

    Parameters: ``m00`` .. ``m22`` (row-major, default identity), ``o0`` .. ``o2`` (default 0),
    written as ``matrix: [[..], [..], [..]]`` and ``offset: [..]``.

    Pipeline snippet::

        - name: color
          type: color_matrix
          matrix: {value: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], learnable: true, bounds: [-3, 3]}
          offset: {value: [0, 0, 0], learnable: true, bounds: [-1, 1]}
    """

    kind = "color_matrix"
    PARAMS = ([Param(f"m{a}{b}", 1.0 if a == b else 0.0, -1e3, 1e3) for a in range(3) for b in range(3)]
              + [Param(f"o{a}", 0.0, -1e3, 1e3) for a in range(3)])
    GROUPS = {"matrix": [f"m{a}{b}" for a in range(3) for b in range(3)],
              "offset": ["o0", "o1", "o2"]}
    IN_CHANNELS = 3

    def _forward(self, X, Y, frame):
        _cm_fwd(X, Y, self.p)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        part = self.part(X.shape[0], 12)
        _cm_bwd(X, GY, GX, self.p, part, bool(want_params))
        return self._reduce(part, 12) if want_params else None


# ----------------------------------------------------------------------------- saturation
@ti.kernel
def _sat_fwd(X: ti.template(), Y: ti.template(), p: ti.template()):
    for i, j in X:
        v = X[i, j]
        lum = LUMA[0] * v[0] + LUMA[1] * v[1] + LUMA[2] * v[2]
        s = p[0]
        Y[i, j] = lum + s * (v - lum)


@ti.kernel
def _sat_bwd(X: ti.template(), GY: ti.template(), GX: ti.template(), p: ti.template(),
             part: ti.template(), want: ti.template()):
    for i in range(GX.shape[0]):
        s = p[0]
        acc = s - s
        for j in range(GX.shape[1]):
            gy = GY[i, j]
            v = X[i, j]
            tot = (gy[0] + gy[1] + gy[2]) * (1.0 - s)
            gx = gy * s
            gx[0] += LUMA[0] * tot
            gx[1] += LUMA[1] * tot
            gx[2] += LUMA[2] * tot
            GX[i, j] = gx
            if ti.static(want):
                lum = LUMA[0] * v[0] + LUMA[1] * v[1] + LUMA[2] * v[2]
                acc += gy.dot(v - lum)
        part[i, 0] = acc


@register
class Saturation(_Pointwise):
    r"""Saturation around linear luminance: :math:`y = L + s\,(x - L)`,
    :math:`L = 0.2126 R + 0.7152 G + 0.0722 B` (Rec. 709 primaries, linear light).

    Parameters: ``saturation`` s (default 1; 0 gives grey).

    Pipeline snippet::

        - {name: sat, type: saturation, saturation: {value: 1.0, learnable: true, bounds: [0, 3]}}
    """

    kind = "saturation"
    PARAMS = [Param("saturation", 1.0, -1e3, 1e3, "saturation factor")]
    IN_CHANNELS = 3

    def _forward(self, X, Y, frame):
        _sat_fwd(X, Y, self.p)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        part = self.part(X.shape[0], 1)
        _sat_bwd(X, GY, GX, self.p, part, bool(want_params))
        return self._reduce(part, 1) if want_params else None
