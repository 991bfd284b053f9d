"""Separable linear filters: Gaussian blur, box blur, unsharp mask."""

import math

import numpy as np

from .. import fmath
from ..engine import ti
from ..errors import ConfigError
from .base import (Filter, Param, _row_conv, _row_conv_dot, bucket, fold, lane_separable, pad,
                   register)


def opencv_gauss_radius(sigma: float) -> int:
    """OpenCV's ksize=0 rule for float images: ksize = round(sigma * 4 * 2 + 1) | 1."""
    ks = int(round(sigma * 8.0 + 1.0)) | 1
    return ks // 2


@ti.kernel
def _gauss_weights(p: ti.template(), idx: ti.i32, R: ti.i32, Rb: ti.template(), w: ti.template(),
                   dw: ti.template()):
    # w[k] = g(k - Rb) / sum g, g(t) = exp(-t^2 / (2 s^2)) for |t| <= R else 0; dw = dw/ds.
    for k in range(2 * Rb + 1):
        s = p[idx]
        tot = s - s
        m2 = s - s
        for m in ti.static(range(2 * Rb + 1)):
            msk = ti.cast(ti.static(abs(m - Rb)) <= R, p.dtype)
            g = msk * fmath.exp(-ti.static(float((m - Rb) * (m - Rb))) / (2.0 * s * s))
            tot += g
            m2 += g * ti.static(float((m - Rb) * (m - Rb)))
        t = ti.cast(k - Rb, p.dtype)
        mk = ti.cast(ti.abs(k - Rb) <= R, p.dtype)
        gk = mk * fmath.exp(-(t * t) / (2.0 * s * s)) / tot
        w[k] = gk
        dw[k] = gk * (t * t - m2 / tot) / (s * s * s)


class _Separable:
    """Forward and adjoint of y = Vy(Hx(pad(x))) for symmetric 1-D weight fields (lengths Kx,
    Ky, odd; w[k] = w[K-1-k], as are the sigma derivatives of Gaussian weights)."""

    @staticmethod
    def forward(f: Filter, X, Y, wx, Kx, wy, Ky, mode, cval):
        H, W = X.shape
        n = X.n
        rx, ry = (Kx - 1) // 2, (Ky - 1) // 2
        Px = f.buf("Px", (H, W + 2 * rx), n)
        pad(X, Px, 0, rx, mode, cval)
        Tt = f.buf("Tt", (W, H), n)
        _row_conv(Px, Tt, wx, Kx, True, False, True)
        PT = f.buf("PT", (W, H + 2 * ry), n)
        pad(Tt, PT, 0, ry, mode, cval)
        _row_conv(PT, Y, wy, Ky, True, False, True)

    @staticmethod
    def backward(f: Filter, X, GY, GX, wx, dwx, Kx, wy, dwy, Ky, mode, want_x, want_y):
        """GX = adjoint(GY); returns (d/dsx, d/dsy) through the weight derivatives dwx, dwy."""
        H, W = X.shape
        n = X.n
        rx, ry = (Kx - 1) // 2, (Ky - 1) // 2
        red = f.scalar("red")
        Zt = f.buf("Zt", (W, H + 4 * ry), n)
        pad(GY, Zt, 0, 2 * ry, "constant", 0.0, transpose=True)
        gPT = f.buf("gPT", (W, H + 2 * ry), n)
        _row_conv(Zt, gPT, wy, Ky, False, True, True)
        gT = f.buf("gT", (W, H), n)
        fold(gPT, gT, 0, ry, mode)
        dsy = 0.0
        if want_y:
            red[None] = 0
            _row_conv_dot(f.buf("PT", (W, H + 2 * ry), n), dwy, Ky, Zt, 2 * ry, red, True)
            dsy = float(red[None])
        Z2 = f.buf("Z2", (H, W + 4 * rx), n)
        pad(gT, Z2, 0, 2 * rx, "constant", 0.0, transpose=True)
        gPx = f.buf("gPx", (H, W + 2 * rx), n)
        _row_conv(Z2, gPx, wx, Kx, False, True, True)
        fold(gPx, GX, 0, rx, mode)
        dsx = 0.0
        if want_x:
            red[None] = 0
            _row_conv_dot(f.buf("Px", (H, W + 2 * rx), n), dwx, Kx, Z2, 2 * rx, red, True)
            dsx = float(red[None])
        return dsx, dsy


class _GaussMixin:
    """Gaussian weights for sigma parameter(s) with OpenCV's radius rule."""

    def _radius(self, sigma):
        ks = int(self.options.get("ksize", 0) or 0)
        if ks > 0:
            return ks // 2
        return opencv_gauss_radius(sigma)

    def _weights(self, idx, sigma, tag):
        r = self._radius(sigma)
        rb = r if int(self.options.get("ksize", 0) or 0) > 0 else bucket(r)
        K = 2 * rb + 1
        w = self.vec(f"w{tag}{K}", K)
        dw = self.vec(f"dw{tag}{K}", K)
        _gauss_weights(self.p, idx, r, rb, w, dw)
        return w, dw, K

    def _lane_weights(self, idx, sigma, tag):
        """``_weights`` for the forward-only path, recomputed only when sigma changed (a kernel
        launch costs ~0.1 ms; the forward-only path never runs under forward-mode autodiff)."""
        key = (idx, float(sigma), int(self.options.get("ksize", 0) or 0))
        cache = self.__dict__.setdefault("_lane_w", {})
        hit = cache.get(tag)
        if hit is None or hit[0] != key:
            hit = cache[tag] = (key, self._weights(idx, sigma, tag))
        return hit[1]

    def _check_ksize(self):
        ks = self.options.get("ksize", 0)
        if not isinstance(ks, (int, np.integer)) or ks < 0 or (ks > 0 and ks % 2 == 0):
            raise ConfigError(f"ksize must be 0 (from sigma) or a positive odd integer, got {ks!r}",
                              self.where)


@register
class GaussianBlur(_GaussMixin, Filter):
    r"""Gaussian blur, separable, OpenCV ``GaussianBlur`` semantics.

    Equation: :math:`y = G_{\sigma_y} *_y (G_{\sigma_x} *_x x)` with the truncated, normalised
    kernel :math:`w_k = e^{-k^2/2\sigma^2} / \sum_{|j|\le r} e^{-j^2/2\sigma^2}`, :math:`|k| \le r`,
    :math:`r = \lfloor (\mathrm{round}(8\sigma + 1) | 1) / 2 \rfloor` (OpenCV's ksize=0 rule for
    float images) unless ``ksize`` is given.

    Parameters: ``sigma`` (> 0; isotropic), or ``sigma_x`` and ``sigma_y``.
    Options: ``border`` (reflect101), ``ksize`` (0 = from sigma), ``cval`` (0, for constant).

    Pipeline snippet::

        - {name: blur, type: gaussian_blur, sigma: {value: 1.0, learnable: true, bounds: [0.3, 4]}}
    """

    kind = "gaussian_blur"
    OPTIONS = {"border": "reflect101", "ksize": 0, "cval": 0.0}

    def __init__(self, name=None, **settings):
        if "sigma_x" in settings or "sigma_y" in settings:
            settings.setdefault("sigma_x", settings.get("sigma_y"))
            settings.setdefault("sigma_y", settings.get("sigma_x"))
        super().__init__(name, **settings)
        self._check_ksize()

    def _configure(self, settings):
        self._aniso = "sigma_x" in settings or "sigma_y" in settings
        if self._aniso and "sigma" in settings:
            raise ConfigError("give either 'sigma' or 'sigma_x'/'sigma_y', not both", self.where)

    def params_spec(self):
        if getattr(self, "_aniso", False):
            return [Param("sigma_x", 1.0, 1e-3, 1e3, "horizontal standard deviation (pixels)", True),
                    Param("sigma_y", 1.0, 1e-3, 1e3, "vertical standard deviation (pixels)", True)]
        return [Param("sigma", 1.0, 1e-3, 1e3, "standard deviation (pixels)", True)]

    def _sigmas(self, values=None):
        v = self.values if values is None else values
        return (v[0], v[1]) if self._aniso else (v[0], v[0])

    def support(self):
        sx, sy = self._sigmas()
        return (self._radius(sy), self._radius(sx))

    def max_support(self, bounds=None):
        sx, sy = self._sigmas()
        if bounds:
            names = self.param_names()
            hi = [min(bounds.get(n, (None, v))[1] or v, 1e3) for n, v in zip(names, self.values)]
            sx, sy = self._sigmas(np.maximum(self.values, hi))
        return (self._radius(sy), self._radius(sx))

    def _forward(self, X, Y, frame):
        sx, sy = self._sigmas()
        wx, _, Kx = self._weights(0, sx, "x")
        wy, _, Ky = (wx, None, Kx) if not self._aniso else self._weights(1, sy, "y")
        _Separable.forward(self, X, Y, wx, Kx, wy, Ky, self.options["border"], self.options["cval"])

    def lanes_ok(self):
        return self.fast_math()

    def forward_lanes(self, X, Y, shape, xs, ys, check=False):
        sx, sy = self._sigmas()
        wx, _, Kx = self._lane_weights(0, sx, "x")
        wy, _, Ky = (wx, None, Kx) if not self._aniso else self._lane_weights(1, sy, "y")
        return lane_separable(self, X, Y, shape, xs, ys, wx, Kx // 2, wy, Ky // 2,
                              self.options["border"], self.options["cval"], check=check)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        sx, sy = self._sigmas()
        wx, dwx, Kx = self._weights(0, sx, "x")
        wy, dwy, Ky = (wx, dwx, Kx) if not self._aniso else self._weights(1, sy, "y")
        dsx, dsy = _Separable.backward(self, X, GY, GX, wx, dwx, Kx, wy, dwy, Ky,
                                       self.options["border"], want_params, want_params)
        if self._aniso:
            return [dsx, dsy]
        return [dsx + dsy]


@ti.kernel
def _box_weights(w: ti.template(), K: ti.i32, scale: ti.f64):
    for k in range(K):
        w[k] = ti.cast(scale, w.dtype)


@register
class BoxBlur(Filter):
    r"""Box blur (OpenCV ``blur`` / ``boxFilter``): mean over a ``kx`` x ``ky`` window centred
    on the pixel, :math:`y = \frac{1}{k_x k_y} \sum_{|i|\le r_y, |j| \le r_x} x_{p + (i, j)}`.

    No continuous parameters (the size is discrete); differentiable w.r.t. the image.
    Options: ``ksize`` (odd int or [kx, ky], default 3), ``normalize`` (true), ``border``
    (reflect101), ``cval``.

    Pipeline snippet::

        - {name: box, type: box_blur, ksize: 5}
    """

    kind = "box_blur"
    OPTIONS = {"border": "reflect101", "ksize": 3, "normalize": True, "cval": 0.0}

    def _check_options(self):
        super()._check_options()
        ks = self.options["ksize"]
        ks = [ks, ks] if isinstance(ks, (int, np.integer)) else list(ks)
        if len(ks) != 2 or any((not isinstance(k, (int, np.integer))) or k < 1 or k % 2 == 0 for k in ks):
            raise ConfigError(f"ksize must be a positive odd integer or [kx, ky], got "
                              f"{self.options['ksize']!r}", self.where)
        self._ks = (int(ks[0]), int(ks[1]))

    def support(self):
        return (self._ks[1] // 2, self._ks[0] // 2)

    def _w(self):
        kx, ky = self._ks
        wx = self.vec(f"wx{kx}", kx)
        wy = self.vec(f"wy{ky}", ky)
        norm = bool(self.options["normalize"])
        _box_weights(wx, kx, 1.0 / kx if norm else 1.0)
        _box_weights(wy, ky, 1.0 / ky if norm else 1.0)
        return wx, kx, wy, ky

    def _forward(self, X, Y, frame):
        wx, kx, wy, ky = self._w()
        _Separable.forward(self, X, Y, wx, kx, wy, ky, self.options["border"], self.options["cval"])

    def lanes_ok(self):
        # unnormalised sums with a non-zero constant border depend on the order of the passes
        const = self.options["border"] == "constant" and float(self.options["cval"]) != 0.0
        return self.fast_math() and (bool(self.options["normalize"]) or not const)

    def forward_lanes(self, X, Y, shape, xs, ys, check=False):
        key = (self._ks, bool(self.options["normalize"]))
        if self.__dict__.get("_lane_w", (None,))[0] != key:  # (fixed by the options)
            self._lane_w = (key, self._w())
        wx, kx, wy, ky = self._lane_w[1]
        return lane_separable(self, X, Y, shape, xs, ys, wx, kx // 2, wy, ky // 2,
                              self.options["border"], self.options["cval"], check=check)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        wx, kx, wy, ky = self._w()
        _Separable.backward(self, X, GY, GX, wx, wx, kx, wy, wy, ky, self.options["border"],
                            False, False)
        return []


@ti.kernel
def _unsharp_combine(X: ti.template(), B: ti.template(), Y: ti.template(), p: ti.template()):
    for i, j in X:
        a = p[1]
        Y[i, j] = X[i, j] + a * (X[i, j] - B[i, j])


@ti.kernel
def _unsharp_back(X: ti.template(), B: ti.template(), GY: ti.template(), GB: ti.template(),
                  p: ti.template(), red: ti.template()):
    # GB = -a GY (input of the blur adjoint); red += <GY, X - B>
    for i, j in X:
        a = p[1]
        GB[i, j] = -a * GY[i, j]
        red[None] += GY[i, j].dot(X[i, j] - B[i, j])


@ti.kernel
def _unsharp_finish(GY: ti.template(), GX: ti.template(), p: ti.template()):
    for i, j in GX:
        GX[i, j] += (1.0 + p[1]) * GY[i, j]


@register
class UnsharpMask(_GaussMixin, Filter):
    r"""Unsharp mask: :math:`y = x + a\,(x - G_\sigma * x)` with the Gaussian of
    ``gaussian_blur`` (same radius rule and borders).

    Parameters: ``sigma`` (> 0, default 1), ``amount`` a (default 0.5; negative blurs).
    Options: ``border`` (reflect101), ``ksize`` (0).

    Pipeline snippet::

        - {name: sharpen, type: unsharp_mask, sigma: 1.0, amount: {value: 0.0, learnable: true}}
    """

    kind = "unsharp_mask"
    PARAMS = [Param("sigma", 1.0, 1e-3, 1e3, "blur standard deviation (pixels)", True),
              Param("amount", 0.5, -1e3, 1e3, "sharpening amount")]
    OPTIONS = {"border": "reflect101", "ksize": 0, "cval": 0.0}

    def __init__(self, name=None, **settings):
        super().__init__(name, **settings)
        self._check_ksize()

    def support(self):
        r = self._radius(self.values[0])
        return (r, r)

    def max_support(self, bounds=None):
        s = self.values[0]
        if bounds and "sigma" in bounds and bounds["sigma"][1] is not None:
            s = max(s, min(bounds["sigma"][1], 1e3))
        r = self._radius(s)
        return (r, r)

    def _forward(self, X, Y, frame):
        w, _, K = self._weights(0, self.values[0], "x")
        B = self.buf("blur", X.shape, X.n)
        _Separable.forward(self, X, B, w, K, w, K, self.options["border"], self.options["cval"])
        _unsharp_combine(X, B, Y, self.p)

    def lanes_ok(self):
        return self.fast_math()

    def forward_lanes(self, X, Y, shape, xs, ys, check=False):
        w, _, K = self._lane_weights(0, self.values[0], "x")
        return lane_separable(self, X, Y, shape, xs, ys, w, K // 2, w, K // 2,
                              self.options["border"], self.options["cval"], unsharp=True,
                              check=check)

    def _backward(self, X, Y, GY, GX, frame, want_params):
        w, dw, K = self._weights(0, self.values[0], "x")
        B = self.buf("blur", X.shape, X.n)
        GB = self.buf("gblur", X.shape, X.n)
        red = self.scalar("red_a")
        red[None] = 0
        _unsharp_back(X, B, GY, GB, self.p, red)
        da = float(red[None])
        dsx, dsy = _Separable.backward(self, X, GB, GX, w, dw, K, w, dw, K, self.options["border"],
                                       want_params, want_params)
        _unsharp_finish(GY, GX, self.p)
        return [dsx + dsy, da]
