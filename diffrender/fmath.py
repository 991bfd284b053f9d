"""``exp`` and ``log`` that also work in float64 on SPIR-V backends (Vulkan).

SPIR-V's extended instructions (GLSL.std.450 ``Exp``, ``Log``, ``Pow``, ``Sin``...) exist for
16- and 32-bit floats only: Taichi's Vulkan backend refuses ``ti.exp`` of a float64
(``Instruction Exp(27) does not 64bits operation``). The filters run in float64 when asked
(``dtype="float64"``: finite-difference checks, Levenberg-Marquardt), so on those backends
float64 ``exp``/``log`` are computed here from operations SPIR-V has in float64 (add, multiply,
divide, compare, integer conversion):

- ``exp(x)``: x = n ln2 + r (Cody-Waite, |r| <= ln2 / 2), e^r by its Taylor series to degree 15
  (truncation < 1e-17), times 2^n assembled from the binary digits of |n| (products of exact
  powers of two); x is clamped to [-708, 709] (results below 2^-1022 are flushed to ~0).
- constants are ``ti.f64(c)``: a bare Python float next to a float64 value is rounded to
  float32 by Taichi.
- ``log(x)``: x = m 2^e with m in [1/2, 2] by exact power-of-two scalings (binary search on the
  exponent), log(m) from float32 ``log`` refined by one Halley step with the ``exp`` above
  (cubic convergence: 1e-7 -> 1e-20); x <= 0 gives -inf / nan as ``ti.log``.

No bit casts: forward mode (``ti.ad.FwdMode``) and reverse mode differentiate both (the integer
exponents carry no derivative; d/dx = exp(x) and 1/x follow from the float parts). Elsewhere
(CPU, CUDA, any float32) they are ``ti.exp`` / ``ti.log``. Accuracy of the float64 path
(``tests/test_fmath.py``): relative 1e-15 for |x| <= 3; for large |x| Taichi's fast math may
fold the two-part ln 2 of the range reduction, ~1e-16 |x| (6e-14 measured at |x| ~ 650).
"""
from __future__ import annotations

import math

from .engine import ti

LN2_HI = 0.693147180369123816490  # ln 2 split so that n * LN2_HI is exact for |n| < 2^20
LN2_LO = 1.90821492927058770002e-10
LOG2E = 1.4426950408889634
EXP_MAX = 709.0
EXP_MIN = -708.0
EXP_TERMS = 16                      # Taylor terms of e^r, |r| <= 0.3466
EXP_BITS = 10                       # |n| <= 1022 < 2^10
# log: power-of-two steps that bring any positive float64 (subnormals included) into [1/2, 2)
LOG_STEPS = (512, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1)
SOFT_ARCHES = ("vulkan", "metal", "opengl", "gles", "dx11", "dx12")  # SPIR-V / shader backends

_force = {"soft": False}  # tests: the float64 path on the CPU


def _soft(x) -> bool:
    """True when ``x`` is a float64 expression and the backend has no float64 exp/log."""
    try:
        is64 = x.ptr.get_rvalue_type() == ti.f64
    except AttributeError:  # a Python number: Taichi types it as the default float
        return False
    if not is64:
        return False
    if _force["soft"]:
        return True
    arch = str(ti.lang.impl.current_cfg().arch).split(".")[-1].lower()
    return arch in SOFT_ARCHES


def force_software(on: bool = True) -> None:
    """Use the float64 software path on every backend (for tests; kernels compiled before keep
    the path they were compiled with)."""
    _force["soft"] = bool(on)


@ti.func
def _pow2_int(n):
    """2^n for an integer ``n`` (i32) in [-1022, 1023], exactly, as a float64."""
    m = ti.abs(n)
    s = ti.f64(1.0)
    for k in ti.static(range(EXP_BITS)):
        if (m >> k) & 1:
            s = s * ti.f64(ti.static(float(2.0 ** (2 ** k))))
    r = s
    if n < 0:
        r = 1.0 / s
    return r


@ti.func
def _exp64(x):
    xc = ti.min(ti.max(x, ti.f64(EXP_MIN)), ti.f64(EXP_MAX))
    # n = floor(x / ln2 + 1/2) from an integer conversion: forward mode refuses ti.floor
    v = xc * ti.f64(LOG2E) + 0.5
    ni = ti.cast(v, ti.i32)  # truncation
    if ti.cast(ni, ti.f64) > v:
        ni -= 1
    n = ti.cast(ni, ti.f64)
    r = (xc - n * ti.f64(LN2_HI)) - n * ti.f64(LN2_LO)
    p = ti.f64(1.0)
    for k in ti.static(range(EXP_TERMS - 1, 0, -1)):
        p = 1.0 + p * r * ti.f64(ti.static(1.0 / k))
    # e^r = 1 + r (1 + r/2 (1 + r/3 (...)))
    return p * _pow2_int(ni)


@ti.func
def _log64(x):
    m = x
    e = ti.f64(0.0)
    if x > 0.0:
        for k in ti.static(LOG_STEPS):
            big = ti.f64(ti.static(float(2.0 ** k)))
            small = ti.f64(ti.static(float(2.0 ** -k)))
            if m >= big:
                m = m * small
                e = e + k
            if m < small:
                m = m * big
                e = e - k
    y0 = ti.cast(ti.log(ti.cast(m, ti.f32)), ti.f64)
    em = _exp64(y0)
    y = y0 + 2.0 * (m - em) / (m + em)
    res = e * ti.f64(LN2_HI) + (y + e * ti.f64(LN2_LO))
    if x <= 0.0:
        res = ti.log(ti.cast(x, ti.f32))  # -inf for 0, nan below, as ti.log
    return res


@ti.func
def exp(x):
    r = x
    if ti.static(_soft(x)):
        r = _exp64(x)
    else:
        r = ti.exp(x)
    return r


@ti.func
def log(x):
    r = x
    if ti.static(_soft(x)):
        r = _log64(x)
    else:
        r = ti.log(x)
    return r


assert math.isclose(LN2_HI + LN2_LO, math.log(2.0), rel_tol=0, abs_tol=1e-17)
