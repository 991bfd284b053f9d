r"""Edge-aware filters: bilateral filter (OpenCV ``bilateralFilter`` semantics) and a bilateral
denoiser with a strength parameter.

Forward: one flat kernel over output pixels, window taps unrolled with ``ti.static`` (round
window), spatial weights from a small kernel so that forward-mode autodiff reaches sigma_space.
Backward (hand-derived, recomputing the weights instead of storing them): with
:math:`A_p = \bar y_p / D_p`, :math:`a_{pk} = A_p \cdot (x_q - y_p)`, every (pixel, tap) pair
contributes :math:`w A_p` and :math:`a_{pk}\, \partial w/\partial x` to the neighbour and
:math:`a_{pk}\, \partial w / \partial x_p` to the centre; both are gathered per padded pixel (no
atomics), then folded back through the border mode.

Forward only (``Pipeline.__call__``, float32: ``forward_lanes``): the image is padded by OpenCV's
copyMakeBorder into one plane per channel, and ``_bil_lanes`` computes LANES pixels of a row at
once (vectors of LANES values: AVX), a window row per loop iteration with its taps unrolled.
"""
import cv2
import numpy as np

from .. import fmath
from ..engine import launch, ti
from ..errors import ConfigError
from .base import (LANES, Filter, Param, _aligned, _ld, bucket, exp_neg, fold, pad,
                   register)

#: OpenCV's border flags for the padding of the forward-only path (the same modes as ``pad``)
_CV_BORDER = {"reflect101": cv2.BORDER_REFLECT_101, "reflect": cv2.BORDER_REFLECT,
              "replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT,
              "wrap": cv2.BORDER_WRAP}


@ti.kernel
def _spatial_weights(p: ti.template(), si: ti.template(), R: ti.i32, Rb: ti.template(),
                     sw: ti.template()):
    for k in range((2 * Rb + 1) * (2 * Rb + 1)):
        dy = k // (2 * Rb + 1) - Rb
        dx = k % (2 * Rb + 1) - Rb
        r2 = dy * dy + dx * dx
        s = p[si]
        msk = ti.cast(r2 <= R * R, p.dtype)
        sw[k] = msk * fmath.exp(-ti.cast(r2, p.dtype) / (2.0 * s * s))


@ti.func
def _dist2(q, c, l2: ti.template()):
    e = (q - c).dot(q - c)
    if ti.static(not l2):
        d = ti.abs(q - c).sum()
        e = d * d
    return e


@ti.func
def _dist2_grad(q, c, l2: ti.template()):
    # d e / d q  (and -d e / d c)
    h = 2.0 * (q - c)
    if ti.static(not l2):
        d = ti.abs(q - c).sum()
        h = 2.0 * d * ti.math.sign(q - c)
    return h


@ti.kernel
def _bil_fwd(P: ti.template(), Y: ti.template(), D: ti.template(), sw: ti.template(),
             p: ti.template(), ri: ti.template(), Rb: ti.template(), l2: ti.template(),
             fast: ti.template()):
    for i, j in Y:
        c = P[i + Rb, j + Rb]
        sr = p[ri]
        cc = -0.5 / (sr * sr)
        num = c * sw[ti.static(Rb * (2 * Rb + 1) + Rb)]
        den = sw[ti.static(Rb * (2 * Rb + 1) + Rb)]
        for dy in ti.static(range(-Rb, Rb + 1)):
            for dx in ti.static(range(-Rb, Rb + 1)):
                if ti.static(dy * dy + dx * dx <= Rb * Rb and (dy != 0 or dx != 0)):
                    q = P[i + Rb + dy, j + Rb + dx]
                    w = sw[ti.static((dy + Rb) * (2 * Rb + 1) + dx + Rb)] * exp_neg(cc * _dist2(q, c, l2), fast)
                    num += w * q
                    den += w
        Y[i, j] = num / den
        D[i, j][0] = den


@ti.func
def _exp_neg_lanes(x):
    """``exp_neg(x, fast=True)`` on a vector of LANES values, lane by lane (LLVM vectorises the
    lanes' identical operations)."""
    r = x
    for l in ti.static(range(LANES)):
        r[l] = exp_neg(x[l], True)
    return r


@ti.kernel
def _bil_lanes(P: ti.types.ndarray(dtype=ti.f32, ndim=1), O: ti.template(),
               tw: ti.types.ndarray(dtype=ti.f32, ndim=1), step: ti.types.ndarray(dtype=ti.i32, ndim=1),
               s0: ti.f32, cc: ti.f32, Rb: ti.template(), C: ti.template(), l2: ti.template(),
               h: ti.i32, w: ti.i32, ps8: ti.i32, plane8: ti.i32, z: ti.i32):
    """Forward only, LANES output pixels of one row per iteration. P: C planes of padded rows
    (pixel (i, j) of the image at column j + Rb of row i + Rb; ps8 lane blocks per row, plane8
    per plane); tw: the spatial weights of the (2 Rb + 1)^2 window, 0 outside the round window
    and at the centre (weight s0, taken first); O[ch, i, block]: the output, one vector per
    channel (a vector store: LLVM vectorises the arithmetic that feeds it). The same operations
    in the same order as ``_bil_fwd`` (fast exp), plus taps of weight 0. A window row is a loop
    iteration, its taps are unrolled. The rows are a ``while`` loop stepped by ``step[r]`` (all
    1): LLVM cannot count its trips and leaves it a loop (a ``range`` loop over the rows was
    vectorised across rows, into gathers: 2.7x slower). ``z`` is 0 (see ``base._row_taps``: taps
    whose loads overlap take their start from different expressions)."""
    nb = (w + LANES - 1) // LANES
    for i, blk in ti.ndrange(h, nb):
        c = [_ld(P, _aligned(ch * plane8 + (i + Rb) * ps8 + blk), Rb) for ch in ti.static(range(C))]
        num = [c[ch] * s0 for ch in ti.static(range(C))]
        den = ti.Vector.zero(ti.f32, LANES) + s0
        r = 0
        while r < 2 * Rb + 1:
            for dx in ti.static(range(-Rb, Rb + 1)):
                g = ti.static((Rb + dx) % LANES)
                q = [_ld(P, _aligned(ch * plane8 + (i + r) * ps8 + blk + g * z), Rb + dx)
                     for ch in ti.static(range(C))]
                e = ti.Vector.zero(ti.f32, LANES)
                if ti.static(l2):
                    for ch in ti.static(range(C)):
                        e += (q[ch] - c[ch]) * (q[ch] - c[ch])
                else:
                    d = ti.abs(q[0] - c[0])
                    for ch in ti.static(range(1, C)):
                        d += ti.abs(q[ch] - c[ch])
                    e = d * d
                wv = tw[r * (2 * Rb + 1) + Rb + dx] * _exp_neg_lanes(cc * e)
                for ch in ti.static(range(C)):
                    num[ch] += wv * q[ch]
                den += wv
            r += step[r]
        for ch in ti.static(range(C)):
            O[ch, i, blk] = num[ch] / den


@ti.kernel
def _bil_prep(Y: ti.template(), D: ti.template(), GY: ti.template(), A: ti.template(),
              B: ti.template()):
    for i, j in Y:
        a = GY[i, j] / D[i, j][0]
        A[i, j] = a
        B[i, j][0] = a.dot(Y[i, j])


@ti.kernel
def _bil_bwd(P: ti.template(), A: ti.template(), B: ti.template(), GP: ti.template(),
             sw: ti.template(), p: ti.template(), si: ti.template(), ri: ti.template(),
             Rb: ti.template(), l2: ti.template(), red_s: ti.template(), red_r: ti.template(),
             want: ti.template(), fast: ti.template(), interior: ti.template()):
    # Gather per padded pixel u. The weight of the pair (u, v = u + k) is symmetric, so one exp
    # serves both orderings: u as the window centre with neighbour v, and v as the centre with
    # neighbour u (tap -k; the round window and the spatial weights are symmetric).
    # ``interior``: only the pixels whose whole window consists of output pixels (no range
    # checks); otherwise only the others.
    H = A.shape[0]
    W = A.shape[1]
    for u0, u1 in GP:
        inner = u0 >= 2 * Rb and u0 < H and u1 >= 2 * Rb and u1 < W
        if ti.static(interior):
            if not inner:
                continue
        else:
            if inner:
                continue
        sr = p[ri]
        ss = p[si]
        cc = -0.5 / (sr * sr)
        xu = P[u0, u1]
        g = xu * 0
        acc_s = sr - sr
        acc_r = sr - sr
        i0 = u0 - Rb
        j0 = u1 - Rb
        centre = True
        if ti.static(not interior):
            centre = i0 >= 0 and i0 < H and j0 >= 0 and j0 < W
        a_u = xu * 0
        b_u = sr - sr
        if centre:
            a_u = A[i0, j0]
            b_u = B[i0, j0][0]
            g += sw[ti.static(Rb * (2 * Rb + 1) + Rb)] * a_u  # the centre tap
        for dy in ti.static(range(-Rb, Rb + 1)):
            for dx in ti.static(range(-Rb, Rb + 1)):
                if ti.static(dy * dy + dx * dx <= Rb * Rb and (dy != 0 or dx != 0)):
                    v0 = u0 + dy
                    v1 = u1 + dx
                    pi = i0 + dy
                    pj = j0 + dx
                    nbr = True
                    if ti.static(not interior):
                        nbr = pi >= 0 and pi < H and pj >= 0 and pj < W
                    if centre or nbr:
                        xv = P[v0, v1]
                        e = _dist2(xv, xu, l2)
                        w = sw[ti.static((dy + Rb) * (2 * Rb + 1) + dx + Rb)] * exp_neg(cc * e, fast)
                        h = _dist2_grad(xv, xu, l2)  # d e / d xv = - d e / d xu
                        if centre:  # pair (centre u, neighbour v)
                            a = a_u.dot(xv) - b_u
                            g -= (a * w * cc) * h
                            if ti.static(want):
                                acc_r += a * w * e
                                acc_s += a * w * ti.static(float(dy * dy + dx * dx))
                        if nbr:  # pair (centre v, neighbour u)
                            a_v = A[pi, pj]
                            a = a_v.dot(xu) - B[pi, pj][0]
                            g += w * a_v - (a * w * cc) * h
        GP[u0, u1] = g
        if ti.static(want):
            red_s[None] += acc_s / (ss * ss * ss)
            red_r[None] += acc_r / (sr * sr * sr)


class _BilateralCore:
    """Bilateral filter evaluation shared by ``bilateral`` and ``denoise``."""

    def _bil_radius(self, ss):
        d = int(self.options.get("d", 0) or 0)
        if d > 0:
            r = d // 2
        else:
            r = int(round(ss * 1.5))
        return max(r, 1)

    def lanes_ok(self):
        return self.fast_math()

    def _spatial(self):
        """(window radius rb, K = 2 rb + 1, the K x K spatial weights, 0 outside the round
        window of the radius the sigma gives)."""
        r = self._bil_radius(self.values[self.SI])
        rb = r if int(self.options.get("d", 0) or 0) > 0 else bucket(r)
        K = 2 * rb + 1
        sw = self.vec(f"sw{K}", K * K)
        _spatial_weights(self.p, self.SI, r, rb, sw)
        return rb, K, sw

    def _bil_setup(self, X):
        rb, _, sw = self._spatial()
        H, W = X.shape
        P = self.buf(f"P{rb}", (H + 2 * rb, W + 2 * rb), X.n)
        return rb, sw, P

    def _bil_forward(self, X, Y):
        rb, sw, P = self._bil_setup(X)
        pad(X, P, rb, rb, self.options["border"], self.options["cval"])
        D = self.buf("D", X.shape, 1)
        _bil_fwd(P, Y, D, sw, self.p, self.RI, rb, self.options["distance"] == "l2", self.fast_math())

    def _bil_lanes(self, X, Y, shape, xs, ys, check):
        """Forward only on flat float32 arrays (``Filter.forward_lanes``): the image padded by
        OpenCV's copyMakeBorder into C planes whose rows start at lane-block boundaries, then
        ``_bil_lanes``."""
        h, w, c = shape
        img = X[: h * xs].reshape(h, xs)[:, : w * c].reshape(h, w, c)
        if check and not np.isfinite(img).all():
            return False
        rb, K, sw = self._spatial()
        nb = -(-w // LANES)
        ps = -(-(nb * LANES + 2 * rb) // LANES) * LANES
        rows = h + 2 * rb
        key = ("bilp", c, rows, ps)
        buf = self._bufs.get(key)
        if buf is None:
            buf = self._bufs[key] = np.zeros(c * rows * ps, dtype=np.float32)
        planes = buf.reshape(c, rows, ps)
        mode = _CV_BORDER[self.options["border"]]
        cval = float(self.options["cval"])
        for ch in range(c):
            plane = np.ascontiguousarray(img[:, :, ch])
            planes[ch, :, : w + 2 * rb] = cv2.copyMakeBorder(plane, rb, rb, rb, rb, mode, value=cval)
        tw = sw.to_numpy().astype(np.float32)
        s0 = float(tw[rb * K + rb])
        tw[rb * K + rb] = 0.0  # the centre is taken first, with weight s0
        sr = np.float32(self.values[self.RI])
        cc = np.float32(-0.5) / (sr * sr)
        okey = ("bilo", c, h, nb)
        O = self._bufs.get(okey)
        if O is None:
            O = self._bufs[okey] = ti.Vector.field(LANES, ti.f32, shape=(c, h, nb))
        launch(_bil_lanes, buf, O, tw, np.ones(K, np.int32), s0, float(cc), rb, c,
               self.options["distance"] == "l2", h, w, ps // LANES, rows * ps // LANES, 0)
        Y[: h * ys].reshape(h, ys)[:, : w * c].reshape(h, w, c)[...] = \
            O.to_numpy().reshape(c, h, nb * LANES)[:, :, :w].transpose(1, 2, 0)
        return True

    def _bil_backward(self, X, Y, GY, GX, want):
        """GX = adjoint; returns (d sigma_space, d sigma_range). Y is the bilateral output."""
        rb, sw, P = self._bil_setup(X)
        H, W = X.shape
        D = self.buf("D", X.shape, 1)
        A = self.buf("A", X.shape, X.n)
        B = self.buf("B", X.shape, 1)
        _bil_prep(Y, D, GY, A, B)
        GP = self.buf(f"GP{rb}", (H + 2 * rb, W + 2 * rb), X.n)
        rs, rr = self.scalar("red_s"), self.scalar("red_r")
        rs[None] = 0
        rr[None] = 0
        for interior in (True, False):
            _bil_bwd(P, A, B, GP, sw, self.p, self.SI, self.RI, rb, self.options["distance"] == "l2",
                     rs, rr, bool(want), self.fast_math(), interior)
        fold(GP, GX, rb, rb, self.options["border"])
        return float(rs[None]), float(rr[None])

    def _check_bil_options(self):
        d = self.options.get("d", 0)
        if not isinstance(d, (int, np.integer)) or d < 0:
            raise ConfigError(f"d must be a non-negative integer (0: from sigma_space), got {d!r}",
                              self.where)
        if self.options.get("distance") not in ("l1", "l2"):
            raise ConfigError(f"distance must be 'l1' or 'l2', got {self.options.get('distance')!r}",
                              self.where)

    def support(self):
        r = self._bil_radius(self.values[self.SI])
        return (r, r)

    def max_support(self, bounds=None):
        ss = self.values[self.SI]
        b = (bounds or {}).get("sigma_space")
        if b and b[1] is not None:
            ss = max(ss, min(b[1], 1e3))
        r = self._bil_radius(ss)
        return (r, r)


@register
class Bilateral(_BilateralCore, Filter):
    r"""Bilateral filter (OpenCV ``bilateralFilter`` for float images):

    .. math:: y_p = \frac{\sum_{q} w_{pq} x_q}{\sum_q w_{pq}},\quad
              w_{pq} = e^{-|q-p|^2 / 2\sigma_s^2}\, e^{-\|x_q - x_p\|^2 / 2\sigma_r^2}

    over the round window :math:`|q - p| \le r` (r = d // 2, or round(1.5 sigma_space) when d = 0);
    the colour distance is L1 over channels (OpenCV's) or L2 (``distance: l2``).

    Parameters: ``sigma_space`` (> 0, default 3), ``sigma_range`` (> 0, default 0.1; OpenCV's
    sigmaColor). Options: ``d`` (0), ``distance`` (l1), ``border`` (reflect101), ``cval``.

    Pipeline snippet::

        - {name: smooth, type: bilateral, d: 9, sigma_space: 3.0,
           sigma_range: {value: 0.1, learnable: true, bounds: [0.01, 1]}}
    """

    kind = "bilateral"
    PARAMS = [Param("sigma_space", 3.0, 1e-3, 1e3, "spatial standard deviation (pixels)", True),
              Param("sigma_range", 0.1, 1e-4, 1e4, "range (colour) standard deviation", True)]
    OPTIONS = {"d": 0, "distance": "l1", "border": "reflect101", "cval": 0.0}
    SI, RI = 0, 1

    def _check_options(self):
        super()._check_options()
        self._check_bil_options()

    def _forward(self, X, Y, frame):
        self._bil_forward(X, Y)

    def forward_lanes(self, X, Y, shape, xs, ys, check=False):
        return self._bil_lanes(X, Y, shape, xs, ys, check)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        ds, dr = self._bil_backward(X, Y, GY, GX, want_params)
        return [ds, dr]


@ti.kernel
def _blend_fwd(X: ti.template(), Bx: ti.template(), Y: ti.template(), p: ti.template()):
    for i, j in X:
        Y[i, j] = X[i, j] + p[0] * (Bx[i, j] - X[i, j])


@ti.kernel
def _blend_bwd(X: ti.template(), Bx: ti.template(), GY: ti.template(), GB: ti.template(),
               p: ti.template(), red: ti.template()):
    for i, j in X:
        GB[i, j] = p[0] * GY[i, j]
        red[None] += GY[i, j].dot(Bx[i, j] - X[i, j])


@ti.kernel
def _blend_finish(GY: ti.template(), GX: ti.template(), p: ti.template()):
    for i, j in GX:
        GX[i, j] += (1.0 - p[0]) * GY[i, j]


@register
class Denoise(_BilateralCore, Filter):
    r"""Edge-preserving denoiser with a strength: :math:`y = x + s\,(B(x) - x)` where B is the
    bilateral filter above.

    Parameters: ``strength`` s (default 0.5; 0 = identity, 1 = bilateral), ``sigma_space``
    (default 2), ``sigma_range`` (default 0.1). Options as ``bilateral``.

    Pipeline snippet::

        - {name: denoise, type: denoise, strength: {value: 0.5, learnable: true, bounds: [0, 1]}}
    """

    kind = "denoise"
    PARAMS = [Param("strength", 0.5, -10.0, 10.0, "blend towards the bilateral result"),
              Param("sigma_space", 2.0, 1e-3, 1e3, "spatial standard deviation (pixels)", True),
              Param("sigma_range", 0.1, 1e-4, 1e4, "range (colour) standard deviation", True)]
    OPTIONS = {"d": 0, "distance": "l1", "border": "reflect101", "cval": 0.0}
    SI, RI = 1, 2

    def _check_options(self):
        super()._check_options()
        self._check_bil_options()

    def _forward(self, X, Y, frame):
        Bx = self.buf("bil", X.shape, X.n)
        self._bil_forward(X, Bx)
        _blend_fwd(X, Bx, Y, self.p)

    def forward_lanes(self, X, Y, shape, xs, ys, check=False):
        if not self._bil_lanes(X, Y, shape, xs, ys, check):
            return False
        h, w, c = shape
        x = X[: h * xs].reshape(h, xs)[:, : w * c]
        y = Y[: h * ys].reshape(h, ys)[:, : w * c]
        y -= x
        y *= np.float32(self.values[0])
        y += x  # x + strength (B(x) - x), in float32 as _blend_fwd
        return True

    def _backward(self, X, Y, GY, GX, frame, want_params):
        Bx = self.buf("bil", X.shape, X.n)
        GB = self.buf("gbil", X.shape, X.n)
        red = self.scalar("red_t")
        red[None] = 0
        _blend_bwd(X, Bx, GY, GB, self.p, red)
        ds, dr = self._bil_backward(X, Bx, GB, GX, want_params)
        _blend_finish(GY, GX, self.p)
        return [float(red[None]), ds, dr]
