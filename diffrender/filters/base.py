"""Shared machinery of the differentiable filters: the Filter interface, parameters, border
padding (OpenCV's modes) and the separable row-convolution kernels.

Layout. Images live in ``ti.Vector.field(C, dtype, shape=(H, W))``. Every stencil runs on a
padded copy (``pad``: a gather whose adjoint ``fold`` is a copy plus a scatter-add over the
border strips), so the convolution kernels themselves have no border logic. Separable filters
run two *row* passes, each writing its output transposed (fast on CPU: every pass reads rows).

Derivatives. Forward kernels are flat (taps unrolled with ``ti.static``, no loop-carried values)
so ``ti.ad.FwdMode`` differentiates them correctly; that is used for Jacobian-vector products
(Gauss-Newton) and as a cross-check. Reverse mode (vector-Jacobian products) is hand-written per
filter: adjoint gathers and reductions into scalars, which is an order of magnitude faster than
Taichi's reverse autodiff here (its parameter gradients become contended atomics). Every path is
checked against central finite differences in float64 in ``tests/filters``.
"""

import math

import numpy as np

from .. import fmath
from ..engine import ensure_init, ti
from ..errors import ConfigError, ImageError
from . import load_all

BORDER_MODES = ("reflect101", "reflect", "replicate", "constant", "wrap")
_MODE_ID = {m: i for i, m in enumerate(BORDER_MODES)}
_ZERO = 3  # constant mode id, used with cval 0 for zero extension

# radii are rounded up to one of these so that a learnable sigma recompiles only a few kernels
# (taps beyond the true radius get weight 0); powers of two up to 256, then multiples of 64
_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def bucket(r: int) -> int:
    for b in _BUCKETS:
        if b >= r:
            return b
    return int(math.ceil(r / 64.0) * 64)


def to_dtype(name):
    if name in (None, "float32", "f32", np.float32):
        return ti.f32
    if name in ("float64", "f64", np.float64):
        return ti.f64
    return name


def np_dtype(dt):
    return np.float64 if dt == ti.f64 else np.float32


# ----------------------------------------------------------------------------- fast exp
_EXP2_POLY = (0.999999998651341, 0.6931470473455039, 0.24022435577564596, 0.055491036099784556,
              0.009580059399930606, 0.0012757166434150488, 0.00010938755330016387)


@ti.func
def exp_neg(x, fast: ti.template()):
    """exp(x) for x <= 0. ``fast`` (float32 only): 2^n * poly(f), relative error 3e-9, below
    float32 rounding (libm's expf dominated the bilateral filter's time); forward-mode autodiff
    does not accept its integer bit tricks, so runs under ti.ad.FwdMode use ti.exp."""
    r = x
    if ti.static(fast):
        y = ti.max(x * 1.4426950408889634, -125.0)
        n = ti.cast(y, ti.i32)  # truncation: y in (n - 1, n], f in (-1, 0]
        f = y - n
        c = _EXP2_POLY
        poly = c[0] + f * (c[1] + f * (c[2] + f * (c[3] + f * (c[4] + f * (c[5] + f * c[6])))))
        r = poly * ti.bit_cast((n + 127) << 23, ti.f32)
    else:
        r = fmath.exp(x)
    return r


# ----------------------------------------------------------------------------- border kernels
@ti.func
def border_index(p, n, mode: ti.template()):
    """OpenCV's borderInterpolate for one axis (mode ids as in BORDER_MODES; constant -> -1)."""
    r = p
    if p < 0 or p >= n:
        if ti.static(mode == 0):  # reflect101: gfedcb|abcdefgh|gfedcba
            if n == 1:
                r = 0
            else:
                per = 2 * n - 2
                m = p % per
                r = m
                if m >= n:
                    r = per - m
        elif ti.static(mode == 1):  # reflect: fedcba|abcdefgh|hgfedcb
            per = 2 * n
            m = p % per
            r = m
            if m >= n:
                r = per - 1 - m
        elif ti.static(mode == 2):  # replicate
            r = ti.min(ti.max(p, 0), n - 1)
        elif ti.static(mode == 4):  # wrap
            r = p % n
        else:  # constant
            r = -1
    return r


@ti.kernel
def _pad(X: ti.template(), B: ti.template(), r0: ti.i32, r1: ti.i32, mode: ti.template(),
         cval: ti.f64, transpose: ti.template()):
    # B[u0, u1] = X'[b(u0 - r0), b(u1 - r1)] where X' is X or its transpose
    for u0, u1 in B:
        n0 = X.shape[0]
        n1 = X.shape[1]
        if ti.static(transpose):
            n0 = X.shape[1]
            n1 = X.shape[0]
        s0 = border_index(u0 - r0, n0, mode)
        s1 = border_index(u1 - r1, n1, mode)
        if s0 < 0 or s1 < 0:
            B[u0, u1] = ti.Vector.zero(B.dtype, B.n) + ti.cast(cval, B.dtype)
        else:
            if ti.static(transpose):
                B[u0, u1] = X[s1, s0]
            else:
                B[u0, u1] = X[s0, s1]


@ti.kernel
def _fold_interior(GB: ti.template(), GX: ti.template(), r0: ti.i32, r1: ti.i32):
    for i, j in GX:
        GX[i, j] = GB[i + r0, j + r1]


@ti.kernel
def _fold_border(GB: ti.template(), GX: ti.template(), r0: ti.i32, r1: ti.i32, mode: ti.template()):
    for u0, u1 in GB:
        n0 = GX.shape[0]
        n1 = GX.shape[1]
        if u0 < r0 or u0 >= r0 + n0 or u1 < r1 or u1 >= r1 + n1:
            s0 = border_index(u0 - r0, n0, mode)
            s1 = border_index(u1 - r1, n1, mode)
            if s0 >= 0 and s1 >= 0:
                ti.atomic_add(GX[s0, s1], GB[u0, u1])


def pad(X, B, r0: int, r1: int, mode: str = "reflect101", cval: float = 0.0, transpose=False):
    """B (shape X.shape + 2r, transposed first if asked) = X extended by the border mode."""
    _pad(X, B, r0, r1, _MODE_ID[mode], float(cval), bool(transpose))


def fold(GB, GX, r0: int, r1: int, mode: str = "reflect101"):
    """Adjoint of ``pad`` (not transposed): GX = sum of GB over the positions that read it."""
    _fold_interior(GB, GX, r0, r1)
    if mode != "constant" and (r0 > 0 or r1 > 0):
        _fold_border(GB, GX, r0, r1, _MODE_ID[mode])


# ----------------------------------------------------------------------------- row passes
@ti.kernel
def _row_conv(S: ti.template(), D: ti.template(), w: ti.template(), K: ti.template(),
              transpose: ti.template(), flip: ti.template(), sym: ti.template()):
    # D[i, j] (or D[j, i]) = sum_k w[k] S[i, j + k], valid part only. ``sym``: w[k] = w[K-1-k]
    # (Gaussian, box), so mirrored taps share one multiply.
    for i, j in ti.ndrange(S.shape[0], S.shape[1] - K + 1):
        acc = S[i, j] * 0
        if ti.static(sym):
            R = ti.static((K - 1) // 2)
            acc = S[i, j + R] * w[R]
            for k in ti.static(range(R)):
                acc += (S[i, j + k] + S[i, j + K - 1 - k]) * w[k]
        else:
            acc = S[i, j] * w[ti.static(K - 1 if flip else 0)]
            for k in ti.static(range(1, K)):
                acc += S[i, j + k] * w[ti.static(K - 1 - k if flip else k)]
        if ti.static(transpose):
            D[j, i] = acc
        else:
            D[i, j] = acc


@ti.kernel
def _row_conv_dot(S: ti.template(), w: ti.template(), K: ti.template(), G: ti.template(),
                  goff: ti.i32, out: ti.template(), sym: ti.template()):
    # out[None] += sum_{i,j} <sum_k w[k] S[i, j + k], G[i, j + goff]>
    for i, j in ti.ndrange(S.shape[0], S.shape[1] - K + 1):
        acc = S[i, j] * 0
        if ti.static(sym):
            R = ti.static((K - 1) // 2)
            acc = S[i, j + R] * w[R]
            for k in ti.static(range(R)):
                acc += (S[i, j + k] + S[i, j + K - 1 - k]) * w[k]
        else:
            acc = S[i, j] * w[0]
            for k in ti.static(range(1, K)):
                acc += S[i, j + k] * w[k]
        out[None] += acc.dot(G[i, j + goff])


# ----------------------------------------------------------------------------- lane kernels
# Forward-only evaluation (``Pipeline.__call__``, float32): an (H, W, C) image is held as a
# ``ti.Vector.field(LANES, f32, shape=(H, M))`` whose row i is image row i flattened (W * C
# interleaved values, zero-padded to M * LANES). Every block of LANES values is one vector
# load/store, which LLVM turns into one SIMD instruction (AVX: 8 float32), where the per-pixel
# layout of the differentiable kernels runs scalar. No gradients flow through these kernels.
LANES = 8


@ti.func
def lane_at(S, i, q):
    """Value number q of row i of a lane field."""
    return S[i, q // LANES][q % LANES]


@ti.func
def lane_shift(S, i, mb, d: ti.template()):
    """The LANES values of row i starting d values after block mb's first (d static): two whole
    block loads and a shuffle (per-value loads would not be vectorised)."""
    a = S[i, mb + ti.static(d // LANES)]
    res = a
    if ti.static(d % LANES != 0):
        b = S[i, mb + ti.static(d // LANES + 1)]
        ab = ti.Vector.zero(S.dtype, 2 * LANES)
        for k in ti.static(range(LANES)):
            ab[k] = a[k]
            ab[k + LANES] = b[k]
        res = ti.Vector([ab[l + ti.static(d % LANES)] for l in ti.static(range(LANES))])
    return res


@ti.func
def _hconv_block(Src, i, e, wx: ti.template(), Rx: ti.template(), C: ti.template()):
    """Symmetric taps wx along row i of a lane field, for block e (all reads inside the row)."""
    acc = Src[i, e] * wx[Rx]
    for k in ti.static(range(Rx)):
        acc += (lane_shift(Src, i, e, -C * (Rx - k)) + lane_shift(Src, i, e, C * (Rx - k))) * wx[k]
    return acc


@ti.kernel
def _lane_vert(S: ti.template(), T: ti.template(), wy: ti.template(), Ry: ti.template(),
               mode: ti.template(), cval: ti.f32):
    # T[i] = S's rows i - Ry .. i + Ry weighted by the symmetric taps wy
    for i in range(S.shape[0]):
        H = S.shape[0]
        M = S.shape[1]
        if i >= Ry and i < H - Ry:
            for mb in range(M):
                acc = S[i, mb] * wy[Ry]
                for k in ti.static(range(Ry)):
                    acc += (S[i - (Ry - k), mb] + S[i + (Ry - k), mb]) * wy[k]
                T[i, mb] = acc
        else:  # rows near the top and bottom: source rows through the border mode
            for mb in range(M):
                T[i, mb] = S[i, mb] * 0
            for t in range(2 * Ry + 1):  # (``T[..] +=`` would be an atomic add)
                s = border_index(i + t - Ry, H, mode)
                wt = wy[t]
                if s >= 0:
                    for mb in range(M):
                        T[i, mb] = T[i, mb] + S[s, mb] * wt
                else:
                    for mb in range(M):
                        T[i, mb] = T[i, mb] + cval * wt


@ti.kernel
def _lane_hor(T: ti.template(), D: ti.template(), E: ti.template(), S: ti.template(),
              wx: ti.template(), Rx: ti.template(), C: ti.template(), n: ti.i32,
              mode: ti.template(), cval: ti.f32, p: ti.template(), unsharp: ti.template()):
    # D[i] = T[i] weighted along the row by the symmetric taps wx (rows hold n pixels of C
    # channels); ``unsharp``: D = S + p[1] (S - that). Row i of the edge scratch E is written and
    # read back by the same thread.
    for i in range(T.shape[0]):
        M = T.shape[1]
        nv = n * C
        PB = ti.static((C * Rx + LANES - 1) // LANES)  # blocks a tap reaches beyond its own
        mb0 = ti.min(PB, M)
        mb1 = ti.max((nv - C * Rx) // LANES, mb0)  # blocks [mb0, mb1) read inside the row only
        for mb in range(mb0, mb1):
            acc = _hconv_block(T, i, mb, wx, Rx, C)
            if ti.static(unsharp):
                acc = S[i, mb] + p[1] * (S[i, mb] - acc)
            D[i, mb] = acc
        # the row's ends: E[i, :eR] holds the values q = (e - PB) LANES + l of T's row (left end),
        # E[i, eR:] those from (mb1 - PB) LANES on (right end), through the border mode outside
        # the row; their blocks are then filtered like the interior
        eR = mb0 + 2 * PB
        for e in range(eR + M - mb1 + 2 * PB):
            q0 = (e - PB) * LANES
            if e >= eR:
                q0 = (mb1 - PB + e - eR) * LANES
            v = T[i, 0] * 0
            for l in ti.static(range(LANES)):
                q = q0 + l
                if q >= 0 and q < nv:
                    v[l] = lane_at(T, i, q)
                else:
                    pix = q // C
                    if q < 0:
                        pix = -((C - 1 - q) // C)
                    s = border_index(pix, n, mode)
                    val = cval
                    if s >= 0:
                        val = lane_at(T, i, s * C + q - pix * C)
                    v[l] = val
            E[i, e] = v
        for b in range(mb0 + M - mb1):
            mb = b
            e = b + PB
            if b >= mb0:
                mb = mb1 + b - mb0
                e = eR + PB + b - mb0
            acc = _hconv_block(E, i, e, wx, Rx, C)
            if ti.static(unsharp):
                acc = S[i, mb] + p[1] * (S[i, mb] - acc)
            D[i, mb] = acc


@ti.kernel
def _lanes_from(X: ti.types.ndarray(ndim=1), A: ti.template(), nv: ti.i32, exact: ti.template()):
    # A = rows of nv values of the flat array X, zero-padded to whole blocks (exact: no padding)
    for i in range(A.shape[0]):
        for mb in range(A.shape[1]):
            b = i * nv + mb * LANES
            if ti.static(exact):
                A[i, mb] = ti.Vector([X[b + l] for l in ti.static(range(LANES))])
            else:
                v = A[i, mb] * 0
                for l in ti.static(range(LANES)):
                    if mb * LANES + l < nv:
                        v[l] = X[b + l]
                A[i, mb] = v


@ti.kernel
def _lanes_to(A: ti.template(), X: ti.types.ndarray(ndim=1), nv: ti.i32, exact: ti.template()):
    for i in range(A.shape[0]):
        for mb in range(A.shape[1]):
            v = A[i, mb]
            b = i * nv + mb * LANES
            for l in ti.static(range(LANES)):
                if ti.static(exact):
                    X[b + l] = v[l]
                elif mb * LANES + l < nv:
                    X[b + l] = v[l]


def lanes_from_numpy(img, A):
    """Upload an (H, W, C) float32 C-contiguous image into the lane field A (H, ceil(W C / LANES))."""
    h, w, c = img.shape
    _lanes_from(img.reshape(-1), A, w * c, (w * c) % LANES == 0)


def lanes_to_numpy(A, shape):
    """A new (H, W, C) float32 array from the lane field A."""
    h, w, c = shape
    out = np.empty(h * w * c, dtype=np.float32)
    _lanes_to(A, out, w * c, (w * c) % LANES == 0)
    return out.reshape(h, w, c)


def lane_separable(f, A, B, shape, wx, Rx, wy, Ry, mode, cval, unsharp=False):
    """B = Hx(Vy(A)) on lane fields (``unsharp``: B = A + amount (A - that)); image ``shape``.
    Equal to the differentiable path's Vy(Hx(A)) up to rounding: the weights sum to 1, or
    the border is not a non-zero constant (``lanes_ok`` of the filters)."""
    _, w, c = shape
    T = f.buf("lanes_t", A.shape, LANES)
    pb = -(-(c * Rx) // LANES)
    m = A.shape[1]
    mb0 = min(pb, m)
    mb1 = max((w * c - c * Rx) // LANES, mb0)
    E = f.buf("lanes_e", (A.shape[0], mb0 + m - mb1 + 4 * pb), LANES)
    _lane_vert(A, T, wy, Ry, _MODE_ID[mode], float(cval))
    _lane_hor(T, B, E, A, wx, Rx, c, w, _MODE_ID[mode], float(cval), f.p, bool(unsharp))


# ----------------------------------------------------------------------------- parameters
class Param:
    """One continuous scalar parameter of a filter."""

    def __init__(self, name, default, lo=-math.inf, hi=math.inf, doc="", positive=False):
        self.name, self.default, self.lo, self.hi, self.doc = name, float(default), lo, hi, doc
        self.positive = positive  # domain is (0, hi]; lo is then the smallest bound allowed


class Filter:
    """Base class of a differentiable filter stage.

    Subclasses declare ``kind`` (the name used in pipeline files), ``PARAMS`` (continuous
    parameters: list of :class:`Param`), ``OPTIONS`` (discrete settings with defaults) and
    implement ``_forward`` / ``_backward``. Instances hold parameter values in ``self.values``
    (a float64 numpy array, in ``PARAMS`` order) and their own Taichi fields.
    """

    kind = "filter"
    PARAMS: list = []
    OPTIONS: dict = {}
    IN_CHANNELS = None  # None: any; int: exactly

    def __init__(self, name=None, dtype="float32", dual=False, where=None, **settings):
        ensure_init()
        self.name = name or self.kind
        self.dtype = to_dtype(dtype)
        self.dual = bool(dual)
        self.where = where or f"stage '{self.name}'"
        self.options = dict(self.OPTIONS)
        for key, val in settings.items():
            if key in self.options:
                self.options[key] = val
        self._configure(settings)
        self.values = np.array([p.default for p in self.params_spec()], dtype=np.float64)
        self._bufs = {}
        self.fwd_mode = False  # set by Pipeline while it runs under ti.ad.FwdMode
        params = set(self.param_names())
        groups = self.groups()
        for key, val in settings.items():
            if key in self.options:
                continue
            if key in groups:
                vals = list(np.asarray(val, dtype=object).ravel()) if isinstance(val, (list, tuple, np.ndarray)) else [val]
                if len(vals) != len(groups[key]):
                    raise ConfigError(f"parameter '{key}' needs {len(groups[key])} values, got {len(vals)}",
                                      self.where)
                for m, v in zip(groups[key], vals):
                    self.set(m, v)
            elif key in params:
                self.set(key, val)
            else:
                raise ConfigError(self._unknown(key, with_groups=True), self.where)
        self._check_options()
        self.p = ti.field(self.dtype, shape=max(1, len(self.values)), needs_dual=self.dual)

    def _configure(self, settings):
        """Hook: fix the structure (which parameters exist) from the settings."""

    @classmethod
    def probe(cls, settings, where=None):
        """A Taichi-free instance that answers param_names() / groups() / OPTIONS for settings."""
        obj = cls.__new__(cls)
        obj.name = obj.kind
        obj.where = where or f"stage '{obj.kind}'"
        obj.options = dict(cls.OPTIONS)
        for key, val in settings.items():
            if key in obj.options:
                obj.options[key] = val
        obj._configure(settings)
        return obj

    # -- parameters --
    def params_spec(self):
        return self.PARAMS

    def param_names(self):
        return [p.name for p in self.params_spec()]

    def _unknown(self, key, with_groups=False):
        known = list(self.groups()) if with_groups else []
        known += [n for n in self.param_names() if not (with_groups and any(n in g for g in self.groups().values()))]
        known += list(self.options)
        return f"unknown parameter '{key}' for stage type '{self.kind}' (expected one of {', '.join(known)})"

    def set(self, key, value):
        names = self.param_names()
        if key not in names:
            raise ConfigError(self._unknown(key), self.where)
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"parameter '{key}' must be a number, got {value!r}", self.where) from None
        if not math.isfinite(v):
            raise ConfigError(f"parameter '{key}' must be finite, got {value!r}", self.where)
        self.values[names.index(key)] = v
        self._check_value(key, v)

    def get(self, key):
        return float(self.values[self.param_names().index(key)])

    def _check_value(self, key, v):
        spec = self.params_spec()[self.param_names().index(key)]
        if spec.positive and v <= 0:
            raise ConfigError(f"parameter '{key}' must be > 0, got {v:g}", self.where)
        if v < spec.lo or v > spec.hi:
            raise ConfigError(f"parameter '{key}' = {v:g} is outside its domain "
                              f"[{spec.lo:g}, {spec.hi:g}]", self.where)

    def _check_options(self):
        if "border" in self.options and self.options["border"] not in BORDER_MODES:
            raise ConfigError(f"unknown border mode '{self.options['border']}' "
                              f"(expected one of {', '.join(BORDER_MODES)})", self.where)

    def fast_math(self):
        return self.dtype == ti.f32 and not self.fwd_mode

    def _sync(self):
        vals = np.zeros(self.p.shape[0], dtype=np_dtype(self.dtype))
        vals[: len(self.values)] = self.values
        self.p.from_numpy(vals)

    # -- shapes --
    def out_channels(self, c: int) -> int:
        return c

    def check_channels(self, c: int, label="input image", pipeline=None):
        need = self.IN_CHANNELS
        if need is not None and c != need:
            src = f" of {pipeline}" if pipeline else ""
            raise ImageError(f"{label}: {c}-channel image, but stage '{self.name}' ({self.kind}){src} "
                             f"needs {need} channels")

    def support(self):
        """(ry, rx): how far an output pixel reads from its input, at the current parameters."""
        return (0, 0)

    def max_support(self, bounds=None):
        """Support over the parameter bounds (for crop margins while tuning)."""
        return self.support()

    # -- buffers --
    def buf(self, key, shape, n):
        k = (key, tuple(shape), n)
        f = self._bufs.get(k)
        if f is None:
            f = ti.Vector.field(n, self.dtype, shape=tuple(int(s) for s in shape), needs_dual=self.dual)
            self._bufs[k] = f
        return f

    def scalar(self, key):
        k = ("__scalar", key)
        f = self._bufs.get(k)
        if f is None:
            f = ti.field(self.dtype, shape=(), needs_dual=self.dual)
            self._bufs[k] = f
        return f

    def vec(self, key, n):
        k = ("__vec", key, n)
        f = self._bufs.get(k)
        if f is None:
            f = ti.field(self.dtype, shape=n, needs_dual=self.dual)
            self._bufs[k] = f
        return f

    # -- evaluation --
    # groups of scalar parameters written as one list in pipeline files ({group: [names]})
    GROUPS: dict = {}

    def groups(self):
        return self.GROUPS

    def forward(self, X, Y, frame=None, sync=True):
        """Y = f(X). ``frame`` = (oy, ox, full_h, full_w): where X sits in the full image."""
        if sync:
            self._sync()
        if frame is None:
            frame = (0, 0, X.shape[0], X.shape[1])
        self._forward(X, Y, frame)

    def backward(self, X, Y, GY, GX, frame=None, want_params=True):
        """GX = (dY/dX)^T GY; returns d<GY, Y>/d(params) as a float64 array (zeros if not wanted).
        Needs X and Y from the last ``forward`` (and that ``forward`` just ran for this stage)."""
        self._sync()
        if frame is None:
            frame = (0, 0, X.shape[0], X.shape[1])
        g = self._backward(X, Y, GY, GX, frame, want_params)
        if g is None:
            g = np.zeros(len(self.values))
        return np.asarray(g, dtype=np.float64)

    def lanes_ok(self):
        """True when ``forward_lanes`` can evaluate this stage (forward only, float32)."""
        return False

    def forward_lanes(self, A, B, shape):
        """B = f(A) on lane fields (see LANES) of an image of ``shape`` (H, W, C); parameters
        already synced. Only called when ``lanes_ok()``."""
        raise NotImplementedError

    def _forward(self, X, Y, frame):
        raise NotImplementedError

    def _backward(self, X, Y, GY, GX, frame, want_params):
        raise NotImplementedError

    # -- numpy convenience (standalone use) --
    def __call__(self, image, frame=None):
        """Apply this filter alone to a numpy image (a one-stage pipeline, kept for reuse)."""
        from .pipeline import Pipeline

        pipe = self.__dict__.get("_pipe")
        if pipe is None:
            pipe = self._pipe = Pipeline([self], dtype=self.dtype, dual=self.dual)
        return pipe(image, frame)

    def saved_options(self):
        """Options written back to pipeline files."""
        return dict(self.options)

    def config(self):
        return {"type": self.kind, **self.saved_options(),
                **{n: float(v) for n, v in zip(self.param_names(), self.values)}}

    def __repr__(self):
        ps = ", ".join(f"{n}={v:g}" for n, v in zip(self.param_names(), self.values))
        return f"{type(self).__name__}({self.name}: {ps})"


def reduce_scalar(acc_field):
    return float(acc_field[None])


_REGISTRY: dict = {}


def register(cls):
    _REGISTRY[cls.kind] = cls
    return cls


def registry():
    load_all()
    return dict(_REGISTRY)
