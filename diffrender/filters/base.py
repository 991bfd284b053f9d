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

import functools
import math
import sys

import numpy as np

from .. import fmath
from ..engine import ensure_init, launch, on_gpu, task_stride, ti
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


# ----------------------------------------------------------------------------- forward-only bands
# Forward-only evaluation of the separable filters (``Pipeline.__call__``, float32), numpy in,
# numpy out. An (H, W, C) image is read as rows of W * C interleaved float32 values straight from
# the numpy array (a flat 1-D ndarray argument; row stride a multiple of LANES). One kernel per
# stage, parallel over bands of rows; a band walks its rows top to bottom: the horizontal taps of
# each source row go into a ring of 2 Ry + 1 filtered rows (a small field that stays in cache),
# and as soon as the ring holds the rows an output row needs, the vertical taps write that row
# into the numpy output. Same order as the differentiable path (Hx first, then Vy), so the two
# agree to float32 rounding.
#
# Vectorisation. Every step handles L consecutive values of a row (L = LANES, one AVX register,
# or WIDE_LANES for wide stencils on AVX-512: ``wide_lanes``). A horizontal tap reads them at an
# offset of C * k values: LLVM emits one unaligned vector load when it can prove the L addresses
# consecutive, i.e. when the block's start index is a multiple of L whose range is known
# (``_aligned_l``: the index masked to [0, 2^30) and to multiples of L) and the offset is a
# constant. Loads from a field at such offsets stay scalar (gathers), so taps read the
# numpy arrays. Near a row's ends the taps read a scratch copy of the row's end (``Z``), extended
# by the border mode. Stores to a numpy argument are scalar (Taichi reloads its address after
# each store), which costs about what a copy of the output would. No gradients flow here: these
# kernels are never used on the vjp / jacobian paths.
LANES = 8
_IDX_RANGE = 0x3FFFFFFF  # indices in [0, 2^30); masked to multiples of the lane width: ``_aligned_l``
# Lane width of the separable band kernels for wide stencils (``wide_lanes``): on a CPU with
# AVX-512, 16 values per step run a Gaussian of sigma 8 at 1024^2 in 0.55x the CPU time of 8
# and one of sigma 2 (radius 8) in 0.86-0.93x; radius 4 gained 2-4 %, and radii up to 2 (a 5x5
# box: few taps per stored value) nothing (AMD EPYC, 2026-12-07).
WIDE_LANES = 16
WIDE_STENCIL_RADIUS = 8  # Rx and Ry at least this: wide lanes
MAX_BAND_VALUES = 1 << 30  # images with more float32 values take the differentiable (field) path
_NO_U64 = np.zeros(1, dtype=np.uint64)  # the packed output argument when unused
_EXP_BITS = 0x7F800000  # float32 exponent bits: all set for Inf and NaN


@ti.func
def _aligned_l(block, L: ti.template()):
    """Start index of lane block ``block`` (L * block), written so that LLVM knows it is a
    multiple of L in [0, 2^30): then ``X[b + d + l]`` (d, l constants) are consecutive
    addresses for l = 0 .. L - 1 and the L loads become one vector load."""
    return (block * L) & ti.static(_IDX_RANGE & ~(L - 1))


@ti.func
def _ld_l(X: ti.template(), b, d: ti.template(), L: ti.template()):
    """X[b + d .. b + d + L - 1] as a vector (b from ``_aligned_l``, d constant)."""
    return ti.Vector([X[b + ti.static(d + l)] for l in ti.static(range(L))])


@ti.func
def _aligned(block):
    """``_aligned_l`` for LANES values."""
    return _aligned_l(block, LANES)


@ti.func
def _ld(X: ti.template(), b, d: ti.template()):
    """``_ld_l`` for LANES values."""
    return _ld_l(X, b, d, LANES)


@ti.func
def _row_taps(X: ti.template(), block, z, wl, R: ti.template(), C: ti.template(), L: ti.template()):
    """Symmetric taps wl (wl[k] for k = 0 .. R, centre R) along a row of C interleaved channels,
    for lane block ``block`` of X: mirrored taps share one multiply. ``z`` is 0 at run time but
    unknown to LLVM: taps j whose loads overlap (|C j - C j'| < L) take their start index
    from different expressions (block + g z, g = j mod P), else LLVM merges the overlapping
    scalar loads and rebuilds every tap from pieces with shuffles instead of one vector load."""
    P = ti.static(-(-L // C))
    b = [_aligned_l(block + g * z, L) for g in ti.static(range(P))]
    acc = _ld_l(X, b[0], 0, L) * wl[R]
    for k in ti.static(range(R)):
        j = ti.static(R - k)
        acc += (_ld_l(X, b[ti.static((-j) % P)], -C * j, L) + _ld_l(X, b[ti.static(j % P)], C * j, L)) * wl[k]
    return acc


@ti.func
def _worst(worst, x, L: ti.template()):
    """Lane-wise max of ``worst`` and the exponent fields of x (== _EXP_BITS: Inf or NaN)."""
    r = worst
    for l in ti.static(range(L)):
        r[l] = ti.max(worst[l], ti.bit_cast(x[l], ti.i32) & _EXP_BITS)
    return r


@ti.func
def _ring_put(ring: ti.template(), r, mb, v, K: ti.template(), M: ti.template()):
    ring[r * M + mb] = v
    ring[r * M + mb + K * M] = v


@ti.func
def _store(Y: ti.template(), Yp: ti.template(), b, v, n, pack: ti.template(), L: ti.template()):
    """Y[b + l] = v[l] for l < n (n <= L). ``pack`` (b and n even): through Yp, the same
    memory as uint64 pairs, half as many stores (each store to a numpy argument is scalar)."""
    if ti.static(pack):
        b2 = (b >> 1) & 0x1FFFFFFF  # (known range: the uint64 index needs no 64-bit extension)
        for l in ti.static(range(L // 2)):
            if n >= ti.static(2 * l + 2):
                lo = ti.cast(ti.bit_cast(v[2 * l], ti.u32), ti.u64)
                hi = ti.cast(ti.bit_cast(v[2 * l + 1], ti.u32), ti.u64)
                Yp[b2 + l] = lo | (hi << 32)
    else:
        for l in ti.static(range(L)):
            if n > l:
                Y[b + l] = v[l]


@ti.func
def _row_value(X: ti.template(), rb, q, n, C: ti.template(), mode: ti.template(), cval):
    """Value q of the row starting at X[rb] (n pixels of C channels), extended by the border mode
    beyond the row."""
    nv = n * C
    v = cval
    if q >= 0 and q < nv:
        v = X[rb + q]
    else:
        pix = q // C
        if q < 0:
            pix = -((C - 1 - q) // C)
        s = border_index(pix, n, mode)
        if s >= 0:
            v = X[rb + s * C + q - pix * C]
    return v


@ti.kernel
def _band_separable(X: ti.types.ndarray(dtype=ti.f32, ndim=1), Y: ti.types.ndarray(dtype=ti.f32, ndim=1),
                    Yp: ti.types.ndarray(dtype=ti.u64, ndim=1),
                    Z: ti.types.ndarray(dtype=ti.f32, ndim=1), ring: ti.template(), orow: ti.template(),
                    bad: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    wx: ti.template(), wy: ti.template(), Rx: ti.template(), Ry: ti.template(),
                    C: ti.template(), h: ti.i32, n: ti.i32, xs8: ti.i32, ys: ti.i32, bh: ti.i32,
                    zs8: ti.i32, z: ti.i32, mode: ti.template(), cval: ti.f32, p: ti.template(),
                    unsharp: ti.template(), check: ti.template(), pack: ti.template(),
                    stride: ti.template(), L: ti.template()):
    # Y = Vy(Hx(X)) (``unsharp``: Y = X + p[1] (X - that)). X: h rows of n pixels x C channels,
    # row i at X[i * L xs8]; Y: row i at Y[i * ys]. Band b: output rows [b bh, (b + 1) bh), ring
    # rows [2 b K, 2 (b + 1) K) (K = 2 Ry + 1), output row orow[b], scratch Z[b * L zs8 ...].
    # ``check``: bad[b] = the largest exponent field of the band's input values (_EXP_BITS: an
    # Inf or NaN).
    # The ring keeps each filtered row twice, at slots s and s + K (K = 2 Ry + 1): the rows an
    # output row needs are then consecutive ring rows, at static offsets from the first. Indices
    # into ring and orow are masked to their (static) ranges: LLVM then knows that the linear
    # index cannot overflow, and every vertical tap is one load at a constant displacement.
    MS = ti.static(orow.shape[1])  # ring row length (lane blocks)
    RM = ti.static(_range_mask(ring.shape[0] // MS))
    MM = ti.static(_range_mask(MS))
    QM = ti.static(_range_mask(ring.shape[0]))
    # one band per CPU task (engine.task_stride: a loop over the bands alone would run on one
    # thread)
    for task in range(orow.shape[0] * stride):
        if task % stride == 0:
            band = task // stride
            K = ti.static(2 * Ry + 1)
            PB = ti.static((C * Rx + L - 1) // L)  # blocks a horizontal tap reaches past its own
            nv = n * C
            M = (nv + L - 1) // L  # lane blocks per row
            MF = nv // L  # whole blocks
            lo = ti.min(PB, M)  # blocks [lo, hi): every tap inside the row
            hi = ti.max(lo, (nv - C * Rx) // L)
            zl = lo + 2 * PB  # scratch: left end (blocks [0, lo) and their reach), then right end
            zr = M - hi + 2 * PB
            zb = band * zs8
            wxl = ti.Vector([wx[k] for k in ti.static(range(Rx + 1))])
            wyl = ti.Vector([wy[k] for k in ti.static(range(Ry + 1))])
            amount = p[1]
            worst = ti.Vector.zero(ti.i32, L)
            r0 = band * bh
            r1 = ti.min(h, r0 + bh)
            for v in range(r0 - Ry, r1 + Ry):
                rrow = band * 2 * K + (v - r0 + Ry) % K  # ring row of source row v (and rrow + K)
                s = border_index(v, h, mode)
                if s < 0:  # constant border: the row of the padded intermediate is cval
                    for mb in range(M):
                        _ring_put(ring, rrow & RM, mb & MM, ti.Vector.zero(ti.f32, L) + cval, K, MS)
                else:
                    rb = s * xs8 * L
                    for t in range(zl * L):
                        Z[zb * L + t] = _row_value(X, rb, t - PB * L, n, C, mode, cval)
                    for t in range(zr * L):
                        Z[(zb + zl) * L + t] = _row_value(X, rb, t + (hi - PB) * L, n, C, mode, cval)
                    own = False  # check the band's own rows: each input row once
                    if ti.static(check):
                        own = v >= r0 and v < r1
                    for mb in range(lo):
                        _ring_put(ring, rrow & RM, mb & MM, _row_taps(Z, zb + PB + mb, z, wxl, Rx, C, L), K, MS)
                        if own:  # (the scratch holds the values of the row's ends)
                            worst = _worst(worst, _ld_l(Z, _aligned_l(zb + PB + mb, L), 0, L), L)
                    for mb in range(lo, hi):
                        _ring_put(ring, rrow & RM, mb & MM, _row_taps(X, s * xs8 + mb, z, wxl, Rx, C, L), K, MS)
                        if own:
                            worst = _worst(worst, _ld_l(X, _aligned_l(s * xs8 + mb, L), 0, L), L)
                    for mb in range(hi, M):
                        _ring_put(ring, rrow & RM, mb & MM, _row_taps(Z, zb + zl + PB + mb - hi, z, wxl, Rx, C, L), K, MS)
                        if own:
                            worst = _worst(worst, _ld_l(Z, _aligned_l(zb + zl + PB + mb - hi, L), 0, L), L)
                if v >= r0 + Ry:  # the ring holds rows i - Ry .. i + Ry: output row i
                    i = v - Ry
                    c0 = i - r0  # ring slot of row i - Ry (+ t for row i - Ry + t)
                    rt = (band * 2 * K + c0 % K) & RM  # rows i - Ry + t at ring rows rt + t
                    yb = i * ys
                    for mb in range(M):
                        q = (rt * MS + mb) & QM
                        acc = ring[q + Ry * MS] * wyl[Ry]
                        for k in ti.static(range(Ry)):
                            acc += (ring[q + k * MS] + ring[q + (2 * Ry - k) * MS]) * wyl[k]
                        if ti.static(unsharp):
                            x = _ld_l(X, _aligned_l(i * xs8 + mb, L), 0, L)
                            acc = x + amount * (x - acc)
                        # through a field row: LLVM's vectoriser starts from consecutive stores,
                        # and those to Y are scalar (stored from here, the taps would be too)
                        orow[band, mb & MM] = acc
                    for mb in range(MF):
                        _store(Y, Yp, yb + mb * L, orow[band, mb & MM], L, pack, L)
                    if MF < M:
                        _store(Y, Yp, yb + MF * L, orow[band, MF], nv - MF * L, pack, L)
            if ti.static(check):
                top = worst[0]
                for l in ti.static(range(1, L)):
                    top = ti.max(top, worst[l])
                bad[band] = top


def _range_mask(n):
    """The smallest 2^k - 1 >= n - 1: ``i & _range_mask(n)`` == i for 0 <= i < n."""
    return (1 << max(int(n) - 1, 1).bit_length()) - 1


def band_layout(shape, ry):
    """(band height, number of bands) for an image of ``shape`` and vertical radius ry: one band
    per thread of Taichi's pool. Each band recomputes the horizontal taps of 2 ry rows past its
    ends, so more bands cost CPU time (σ = 8 at 1024²: 8 bands took 18% more than 1)."""
    h = shape[0]
    nb = max(1, min(int(ti.cfg.cpu_max_num_threads or 1), h // max(4 * ry, 16)))
    bh = -(-h // nb)
    return bh, -(-h // bh)


def lane_separable(f, X, Y, shape, xs, ys, wx, Rx, wy, Ry, mode, cval, unsharp=False, check=False):
    """Y = Vy(Hx(X)) on flat float32 numpy arrays (``unsharp``: Y = X + amount (X - that)); image
    ``shape`` (H, W, C), row i of X at X[i * xs] (xs a multiple of LANES), of Y at Y[i * ys].
    Equal to the differentiable path up to rounding. Returns False when ``check`` finds an Inf
    or NaN in X (else True)."""
    h, w, c = shape
    L = wide_lanes(Rx, Ry, xs)
    m = -(-(w * c) // L)
    bh, nb = band_layout(shape, Ry)
    pb = -(-(c * Rx) // L)
    lo = min(pb, m)
    hi = max(lo, (w * c - c * Rx) // L)
    zs8 = (lo + 2 * pb) + (m - hi + 2 * pb)
    key = ("band", L, nb, 2 * Ry + 1, m)
    ring = f._bufs.get(key)
    if ring is None:
        ring = f._bufs[key] = ti.Vector.field(L, ti.f32, shape=nb * 2 * (2 * Ry + 1) * m)
    bad = f._bufs.get(("bad", nb))
    if bad is None:
        bad = f._bufs[("bad", nb)] = np.zeros(nb, dtype=np.int32)
    zkey = ("bandz", nb * zs8 * L)
    Z = f._bufs.get(zkey)
    if Z is None:
        Z = f._bufs[zkey] = np.zeros(nb * zs8 * L, dtype=np.float32)
    okey = ("bandrow", L, nb, m)
    orow = f._bufs.get(okey)
    if orow is None:
        orow = f._bufs[okey] = ti.Vector.field(L, ti.f32, shape=(nb, m))
    pack = ys % 2 == 0 and (w * c) % 2 == 0 and sys.byteorder == "little"
    launch(_band_separable, X, Y, Y.view(np.uint64) if pack else _NO_U64, Z, ring, orow, bad, wx,
           wy, Rx, Ry, c, h, w, xs // L, ys, bh, zs8, 0, _MODE_ID[mode], float(cval), f.p,
           bool(unsharp), bool(check), pack, task_stride(), L)
    if check:
        return int(bad.max()) < _EXP_BITS
    return True


@functools.lru_cache(maxsize=None)
def _wide_lanes_available() -> bool:
    """Whether this CPU runs AVX-512 (Linux: /proc/cpuinfo; elsewhere False)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "avx512f" in line.split(":", 1)[-1].split()
    except OSError:
        pass
    return False


def wide_lanes(Rx: int, Ry: int, xs: int) -> int:
    """Lane width of the band kernel for radii (Rx, Ry) on rows of stride xs: WIDE_LANES for wide
    stencils (both radii at least WIDE_STENCIL_RADIUS) on the CPU backend of an AVX-512 CPU
    when xs is a multiple of it, else LANES (GPUs: not measured)."""
    if (min(Rx, Ry) >= WIDE_STENCIL_RADIUS and xs % WIDE_LANES == 0 and not on_gpu()
            and _wide_lanes_available()):
        return WIDE_LANES
    return LANES


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

    def forward_lanes(self, X, Y, shape, xs, ys, check=False):
        """Y = f(X) on flat float32 numpy arrays holding an image of ``shape`` (H, W, C), row i
        at X[i * xs] (xs a multiple of LANES) and Y[i * ys]; parameters already synced. Only
        called when ``lanes_ok()``. Returns False when ``check`` finds an Inf or NaN in X."""
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
