"""Rough plastic — Mitsuba's ``roughplastic``: a diffuse base under a rough (GGX) dielectric
coating, as Mitsuba 3 (3.9.1) evaluates it.

Equations (``h = normalize(wi + wo)``, ``F`` the dielectric Fresnel reflectance for
``eta = int_ior / ext_ior``, ``D``/``G`` isotropic GGX with Smith shadowing)::

    f cos_o = R_s F(wi.h) D(h) G(wi, wo, h) / (4 cos_i)
            + R_d / (1 - F_int) / eta^2 T(cos_i) T(cos_o) cos_o / pi

(``nonlinear=true``: ``R_d / (1 - R_d F_int)``). ``T(mu)`` is the rough coat's external
transmittance and ``F_int`` its internal diffuse reflectance, tabulated the way Mitsuba does at
construction: ``T`` at 64 cosines ``mu_i = max(1e-6, i / 63)`` (linear interpolation in
``cos theta``), each value the integral over visible GGX normals of ``(1 - F(wi.m)) G1(wo_t, m)``
(``wo_t`` the refracted direction) by a 32 x 32 Gauss-Legendre rule on the sample square
(128 x 128 for ``eta < 1``); ``F_int = 2 mean_i(mu_i R_int(mu_i))`` with ``R_int`` the rough
reflectance of the inside (``1 / eta``) interface, integrated the same way with 128 x 128 nodes.
The tables match Mitsuba 3.9.1's ``eval`` to 3e-6 (``tests/core/test_roughplastic_coat.py``).

Derivatives. The tables are computed on the host (float64 numpy, :func:`coat_tables`) at the
material's ``(alpha0, eta0)`` together with their partial derivatives (central differences of the
quadrature over +-1% of the parameter, see :func:`coat_tables`); the kernels use the first-order expansion
``T0 + (alpha - alpha0) Ta + (eta - eta0) Te + (alpha - alpha0)(eta - eta0) Tae`` (same for
``F_int``; ``Ta``, ``Te``, ``Tae`` the tabulated partial derivatives),
which is exact in value and in derivative at ``(alpha0, eta0)``. When a constant ``alpha`` /
``eta`` changes (``Renderer.update``, every optimisation step), the tables are recomputed at the
new value, as Mitsuba's ``parameters_changed`` does. A *textured* ``alpha`` (which Mitsuba does
not support for roughplastic) is expanded about the texture's mean at load time: exact
derivatives of a model that is second-order accurate away from the mean.

Sampling (Mitsuba's): visible-normal GGX reflection with probability
``p_s = (1 - T_i) w / ((1 - T_i) w + T_i (1 - w))`` (``w`` as in :mod:`plastic`), else
cosine-weighted; the pdf is the mixture, the weight ``f cos / pdf``.

Shaders calling ``builtins.roughplastic.eval/pdf/sample(p, ...)`` (no table) get the smooth-coat
approximation ``T = 1 - F(cos)``, ``F_int = fresnel_diffuse_reflectance(1 / eta)``.

Parameters (-> bundle): ``alpha`` (0.1, ``alpha``), ``diffuse_reflectance`` (0.5, ``a``),
``specular_reflectance`` (1.0, ``b``), ``int_ior`` / ``ext_ior`` (-> ``eta``), ``nonlinear``,
``distribution`` = ``ggx``. Differentiable: ``alpha``, ``diffuse_reflectance``,
``specular_reflectance``, ``eta``.

Scene snippet::

    <bsdf type="roughplastic">
        <rgb name="diffuse_reflectance" value="0.8, 0.1, 0.1"/>
        <float name="alpha" value="0.15"/>
    </bsdf>
"""

import functools

import numpy as np

from ...engine import ti
from ..types import INV_PI, BSDFSample
from ..warp import square_to_cosine_hemisphere
from .microfacet import (fresnel_dielectric, fresnel_diffuse_reflectance, mf_d, mf_g1, mf_pdf,
                         mf_sample, reflect_about)
from ...scene.spec import Param, PluginSpec
from .common import (HAS_SMOOTH, LOBE_SMOOTH, SAMPLE_VISIBLE, distribution, eta_param,
                     ior_params, microfacet_flag, reflectance, roughness)
from .plastic import host_row as plastic_host_row, probs

SPEC = PluginSpec("bsdf", "roughplastic", {
    "diffuse_reflectance": reflectance(0.5, "base colour", "a"),
    "specular_reflectance": reflectance(1.0, "coating multiplier", "b"),
    **ior_params("polypropylene"),
    "nonlinear": Param("boolean", False, "account for colour shift by internal scattering"),
    "alpha": roughness("roughness (float; a texture is expanded about its mean)", "alpha"),
    "distribution": distribution(),
    "sample_visible": SAMPLE_VISIBLE},
    doc="rough plastic (diffuse base, Beckmann or GGX coating)", code=4, lobes=(HAS_SMOOTH,),
    model=eta_param("polypropylene"))


#: cosines in the coat tables (Mitsuba's MI_ROUGH_TRANSMITTANCE_RES)
RES = 64


# --- host: the coat tables ------------------------------------------------------------------

def _np_fresnel(c, eta):
    """(F, cos_theta_t signed, eta_ti) of a dielectric interface, numpy float64."""
    if np.all(c >= 0.0):  # every direction outside (the quadratures' visible normals)
        return _np_fresnel_outside(c, 1.0 - c * c, eta)
    outside = c >= 0.0
    eta_it = np.where(outside, eta, 1.0 / eta)
    eta_ti = np.where(outside, 1.0 / eta, eta)
    ct2 = 1.0 - eta_ti * eta_ti * (1.0 - c * c)
    ci = np.abs(c)
    ct = np.sqrt(np.maximum(ct2, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        a_s = (ci - eta_it * ct) / (ci + eta_it * ct)
        a_p = (ct - eta_it * ci) / (ct + eta_it * ci)
    r = np.where((ci == 0.0) | (ct2 <= 0.0), 1.0, 0.5 * (a_s * a_s + a_p * a_p))
    return r, np.where(outside, -ct, ct), eta_ti


def _np_fresnel_outside(c, sin2, eta):
    """:func:`_np_fresnel` for ``c >= 0`` everywhere (``sin2 = 1 - c * c``, shared by calls at
    several ``eta``): the same operations without the per-element side selection, so the same
    values, and ``eta_ti`` a scalar."""
    eta_it = eta
    eta_ti = 1.0 / eta
    ct2 = 1.0 - eta_ti * eta_ti * sin2
    ct = np.sqrt(np.maximum(ct2, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        a_s = (c - eta_it * ct) / (c + eta_it * ct)
        a_p = (ct - eta_it * c) / (ct + eta_it * c)
    r = np.where((c == 0.0) | (ct2 <= 0.0), 1.0, 0.5 * (a_s * a_s + a_p * a_p))
    return r, -ct, eta_ti


def _np_g1(alpha, vx, vy, vz, m, beckmann=False):
    """Smith's masking, GGX or Beckmann (Mitsuba's rational approximation), with Mitsuba's
    conventions: 1 at normal incidence, 0 for back faces."""
    xy = alpha * alpha * (vx * vx + vy * vy)
    with np.errstate(divide="ignore", invalid="ignore"):
        if beckmann:
            a = 1.0 / np.sqrt(xy / (vz * vz))
            g = np.where(a >= 1.6, 1.0,
                         (3.535 * a + 2.181 * a * a) / (1.0 + 2.276 * a + 2.577 * a * a))
        else:
            g = 2.0 / (1.0 + np.sqrt(1.0 + xy / (vz * vz)))
    g = np.where(xy == 0.0, 1.0, g)
    return np.where((vx * m[0] + vy * m[1] + vz * m[2]) * vz <= 0.0, 0.0, g)


def _np_visible_normals(alpha, mu, u1, u2):
    """GGX visible normals for wi = (sqrt(1 - mu^2), 0, mu) from points (u1, u2) of the unit
    square, through the same warp as Mitsuba 3 (concentric disk, Heitz 2018), so that the
    quadrature below lands on the same normals."""
    sx = np.sqrt(1.0 - mu * mu)
    n = np.sqrt((alpha * sx) ** 2 + mu * mu)
    c, s = mu / n, np.sqrt(np.maximum(1.0 - (mu / n) ** 2, 0.0))
    a, b = 2.0 * u1 - 1.0, 2.0 * u2 - 1.0
    swap = np.abs(a) < np.abs(b)
    r = np.where(swap, b, a)
    phi = 0.25 * np.pi * np.where(swap, a, b) / r
    phi = np.where(swap, 0.5 * np.pi - phi, phi)
    px, py = r * np.cos(phi), r * np.sin(phi)
    t = 0.5 * (1.0 + c)
    py = (1.0 - t) * np.sqrt(np.maximum(1.0 - px * px, 0.0)) + t * py
    pz = np.sqrt(np.maximum(1.0 - px * px - py * py, 0.0))
    k = alpha / (s * py + c * pz)
    slope_x, slope_y = (c * py - s * pz) * k, px * k
    inv = 1.0 / np.sqrt(slope_x * slope_x + slope_y * slope_y + 1.0)
    return sx, (-slope_x * inv, -slope_y * inv, inv)


def _np_beckmann_visible_normals(alpha, mu, u1, u2):
    """Beckmann visible normals for wi = (sqrt(1 - mu^2), 0, mu) from points (u1, u2) of the
    unit square through Mitsuba 3's warp (Jakob 2014: the x slope by inverting its CDF in the
    erf domain, the y slope ``erfinv(2 u2 - 1)``; at normal incidence a Gaussian from polar
    coordinates). The CDF is inverted to convergence (bisection, 60 steps) where Mitsuba stops
    its Newton steps at a CDF error of 1e-5. The x slope depends on (mu, u1) only: the CDF is
    inverted once per distinct pair (a quadrature repeats each u1 over its u2 nodes)."""
    # imported here: scipy.special costs ~0.1 s and ~20 MB in every process that imports the
    # BSDFs, and only Beckmann coat tables need it
    from scipy.special import erf, erfinv

    mu, u1, u2 = np.broadcast_arrays(mu, u1, u2)
    sx = np.sqrt(1.0 - mu * mu)
    # stretched wi: (alpha sx, 0, mu) normalised; rotation by its phi = 0 (identity)
    n = np.sqrt((alpha * sx) ** 2 + mu * mu)
    c = mu / n
    normal = c > 0.99999
    cs = np.where(normal, 0.5, c)
    cu, ic = np.unique(cs, return_inverse=True)
    xu, ix = np.unique(np.maximum(u1, 1e-6), return_inverse=True)
    if cu.size * xu.size < cs.size:  # a grid of (mu, u1): solve on its distinct values
        cs_u, x = (a.ravel() for a in np.meshgrid(cu, xu, indexing="ij"))
        inv = ic.reshape(-1) * xu.size + ix.reshape(-1)
    else:
        cs_u, x, inv = cs.ravel(), np.maximum(u1, 1e-6).ravel(), np.arange(cs.size)
    tan_i = np.sqrt(1.0 - cs_u * cs_u) / cs_u
    cot_i = 1.0 / tan_i
    maxval = erf(cot_i)
    norm = 1.0 / (1.0 + maxval + tan_i * np.exp(-cot_i * cot_i) / np.sqrt(np.pi))
    lo = np.full_like(x, -1.0)
    hi = maxval.copy()
    for _ in range(60):
        b = 0.5 * (lo + hi)
        v = norm * (1.0 + b + tan_i * np.exp(-erfinv(b) ** 2) / np.sqrt(np.pi)) - x
        hi = np.where(v > 0.0, b, hi)
        lo = np.where(v > 0.0, lo, b)
    slope_x = erfinv(0.5 * (lo + hi))[inv].reshape(mu.shape)
    slope_y = erfinv(2.0 * u2 - 1.0)
    r = np.sqrt(-np.log(np.maximum(1.0 - u1, 1e-30)))
    slope_x = np.where(normal, r * np.cos(2.0 * np.pi * u2), slope_x)
    slope_y = np.where(normal, r * np.sin(2.0 * np.pi * u2), slope_y)
    slope_x, slope_y = slope_x * alpha, slope_y * alpha
    inv = 1.0 / np.sqrt(slope_x * slope_x + slope_y * slope_y + 1.0)
    return sx, (-slope_x * inv, -slope_y * inv, inv)


@functools.lru_cache(maxsize=8)
def _gauss_legendre_square(n):
    x, w = np.polynomial.legendre.leggauss(n)
    return (np.repeat(0.5 * x + 0.5, n), np.tile(0.5 * x + 0.5, n),
            0.25 * np.outer(w, w).ravel())


def _mu():
    return np.maximum(1e-6, np.linspace(0.0, 1.0, RES))


@functools.lru_cache(maxsize=16)
def _geometry(alpha, n, beckmann=False):
    """Visible normals of the quadrature (``n`` x ``n`` Gauss-Legendre nodes) at the cosines
    :func:`_mu`: (sin_i, m, cos(wi, m), weights)."""
    u1, u2, w = _gauss_legendre_square(n)
    mu = _mu()[:, None]
    warp = _np_beckmann_visible_normals if beckmann else _np_visible_normals
    sx, m = warp(alpha, mu, u1[None, :], u2[None, :])
    return sx, m, sx * m[0] + mu * m[2], w


def _transmittance(alpha, eta, beckmann=False):
    """(RES,) directional transmittance of a rough GGX / Beckmann interface (relative index
    ``eta``) at the cosines :func:`_mu`: the integral over visible normals of
    ``(1 - F) G1(wo_t, m)``."""
    mu = _mu()[:, None]
    sx, m, c, w = _geometry(alpha, 32 if eta > 1.0 else 128, beckmann)
    f, ct, eta_ti = _np_fresnel(c, eta)
    k = c * eta_ti + ct
    o = (m[0] * k - sx * eta_ti, m[1] * k, m[2] * k - mu * eta_ti)
    g = np.where(o[2] * mu >= 0.0, 0.0, _np_g1(alpha, *o, m, beckmann) * (1.0 - f))
    return g @ w


def _internal(alpha, etas, beckmann=False):
    """F_int = 2 mean_i(mu_i R(mu_i)) for each (outside / inside) index in ``etas``, R the
    directional reflectance of the inside interface (relative index 1 / eta): the integral over
    visible normals of ``F G1(wo_r, m)``. The normals do not depend on eta: computed once."""
    mu = _mu()[:, None]
    sx, m, c, w = _geometry(alpha, 128 if min(etas) > 1.0 else 32, beckmann)
    o = (2.0 * c * m[0] - sx, 2.0 * c * m[1], 2.0 * c * m[2] - mu)
    g = np.where(o[2] <= 0.0, 0.0, _np_g1(alpha, *o, m, beckmann))
    if np.all(c >= 0.0):
        sin2 = 1.0 - c * c
        fres = [_np_fresnel_outside(c, sin2, 1.0 / e)[0] for e in etas]
    else:
        fres = [_np_fresnel(c, 1.0 / e)[0] for e in etas]
    return [2.0 * float(np.mean(((g * f) @ w) * _mu())) for f in fres]


@functools.lru_cache(maxsize=64)
def coat_tables(alpha: float, eta: float, beckmann: bool = False) -> np.ndarray:
    """(RES + 1, 4) float64: rows 0..RES-1 the external transmittance ``T(mu_i)``, row RES the
    internal diffuse reflectance ``F_int``; columns: value, d/d alpha, d/d eta, d2/d alpha d eta:
    central differences over +-1% of alpha and eta. (Finer steps resolve the quadrature's own
    non-smoothness: nodes crossing the total-internal-reflection kink of the inside interface
    make d F_int / d alpha wander by ~1% at steps of 1e-4; at +-1% the derivative is the smooth
    one to ~0.5% for F_int and ~1e-4 absolute for T.)"""
    alpha = max(float(alpha), 1e-4)
    eta = float(eta)
    ha, he = 1e-2 * alpha, 1e-2 * eta
    etas = (eta, eta + he, eta - he)
    # v[i][j]: alpha (0, +, -) x eta (0, +, -); the normals depend on alpha only
    v = [[np.append(_transmittance(a, e, beckmann), f)
          for e, f in zip(etas, _internal(a, etas, beckmann))]
         for a in (alpha, alpha + ha, alpha - ha)]
    da = (v[1][0] - v[2][0]) / (2.0 * ha)
    de = (v[0][1] - v[0][2]) / (2.0 * he)
    dae = (v[1][1] - v[1][2] - v[2][1] + v[2][2]) / (4.0 * ha * he)
    out = np.stack([v[0][0], da, de, dae], axis=1)
    out.flags.writeable = False
    return out


# --- device: the tables of a BSDF table's roughplastic rows ----------------------------------

@ti.data_oriented
class CoatTable:
    """Per-row coat tables (rows of other types are unused): ``t[row, i]`` = (T, dT/dalpha,
    dT/deta, d2T/dalpha deta) at cosine ``i / (RES - 1)``, ``f_int[row]`` the same for
    ``F_int``, ``origin[row]`` = (alpha0, eta0) the expansion point. The mixed term keeps the
    expansion consistent when one of the two is textured (its expansion point fixed) while the
    other is re-tabulated: d/d eta of ``T0(eta) + (alpha - alpha0) Ta(eta)`` is
    ``Te + (alpha - alpha0) Tae``."""

    def __init__(self, n):
        self.n = n
        self.t = ti.Vector.field(4, ti.f32, shape=(n, RES))
        self.f_int = ti.Vector.field(4, ti.f32, shape=n)
        self.origin = ti.Vector.field(2, ti.f32, shape=n)
        self.keys: dict[int, tuple[float, float]] = {}

    def set(self, row: int, alpha: float, eta: float, beckmann: bool = False) -> bool:
        """Tabulate row ``row`` at (alpha, eta) for the distribution; False (nothing done) when
        it already is."""
        key = (max(float(alpha), 1e-4), float(eta), bool(beckmann))
        if self.keys.get(row) == key:
            return False
        tab = coat_tables(*key).astype(np.float32)
        for i in range(RES):
            self.t[row, i] = tab[i]
        self.f_int[row] = tab[RES]
        self.origin[row] = key[:2]
        self.keys[row] = key
        return True

    @ti.func
    def transmittance(self, r, cos, alpha, eta):
        x = ti.min(ti.max(cos, 0.0), 1.0) * (RES - 1)
        i = ti.min(ti.cast(x, ti.i32), RES - 2)
        w = x - i
        return ti.min(ti.max(self._expand((1.0 - w) * self.t[r, i] + w * self.t[r, i + 1], r,
                                          alpha, eta), 0.0), 1.0)

    @ti.func
    def internal(self, r, alpha, eta):
        return ti.min(ti.max(self._expand(self.f_int[r], r, alpha, eta), 0.0), 0.999)

    @ti.func
    def _expand(self, v, r, alpha, eta):
        o = self.origin[r]
        da = alpha - o[0]
        de = eta - o[1]
        return v[0] + da * v[1] + de * v[2] + da * de * v[3]


@ti.data_oriented
class SmoothCoat:
    """The smooth-interface approximation (no tables), for shaders calling the built-in."""

    @ti.func
    def transmittance(self, r, cos, alpha, eta):
        f, _a, _b, _c = fresnel_dielectric(cos, eta)
        return 1.0 - f

    @ti.func
    def internal(self, r, alpha, eta):
        return fresnel_diffuse_reflectance(1.0 / eta)


SMOOTH = SmoothCoat()


# --- BSDF --------------------------------------------------------------------------------------

FLAG_NONLINEAR = 1  # row flag bits (shaders' params(flag=1): nonlinear, as plastic)
FLAG_BECKMANN = 2  # Beckmann (else GGX)
FLAG_ALL_NORMALS = 4  # sample_visible = false


def host_row(params) -> dict:
    """Row options: ``nonlinear``, the distribution, the sampling technique (the flag bits) and
    the specular sampling weight ``w`` (as :func:`plastic.host_row`)."""
    row = plastic_host_row(params)
    row["flag"] = ((FLAG_NONLINEAR if row["flag"] else 0)
                   | microfacet_flag(params, SPEC, FLAG_BECKMANN, FLAG_ALL_NORMALS))
    return row


@ti.func
def _options(p):
    return (p.flag & FLAG_BECKMANN) != 0, (p.flag & FLAG_ALL_NORMALS) == 0


@ti.func
def _diffuse_albedo(p, f_int):
    res = p.a / (1.0 - f_int)
    if (p.flag & FLAG_NONLINEAR) != 0:
        res = p.a / (1.0 - p.a * f_int)
    return res / (p.eta * p.eta)


@ti.func
def eval_coat(p, wi, wo, coat: ti.template(), r):
    """f cos_o with the coat tables of row ``r`` of ``coat`` (:class:`CoatTable`)."""
    res = ti.Vector([0.0, 0.0, 0.0])
    if wi.z > 0.0 and wo.z > 0.0:
        beck, _vis = _options(p)
        h = (wi + wo).normalized()
        fh, _a, _b, _c = fresnel_dielectric(wi.dot(h), p.eta)
        g = mf_g1(beck, p.alpha, p.alpha, wi, h) * mf_g1(beck, p.alpha, p.alpha, wo, h)
        spec = p.b * (fh * mf_d(beck, p.alpha, p.alpha, h) * g / (4.0 * wi.z))
        t_i = coat.transmittance(r, wi.z, p.alpha, p.eta)
        t_o = coat.transmittance(r, wo.z, p.alpha, p.eta)
        f_int = coat.internal(r, p.alpha, p.eta)
        res = spec + _diffuse_albedo(p, f_int) * (t_i * t_o * INV_PI * wo.z)
    return res


@ti.func
def pdf_coat(p, wi, wo, coat: ti.template(), r):
    res = 0.0
    if wi.z > 0.0 and wo.z > 0.0:
        beck, vis = _options(p)
        ps, pd = probs(p, 1.0 - coat.transmittance(r, wi.z, p.alpha, p.eta))
        h = (wi + wo).normalized()
        res = (ps * mf_pdf(beck, vis, p.alpha, p.alpha, wi, h) / (4.0 * wo.dot(h))
               + pd * INV_PI * wo.z)
    return res


@ti.func
def sample_coat(p, wi, u1, u2, coat: ti.template(), r):
    res = BSDFSample(wo=ti.Vector([0.0, 0.0, 1.0]), weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0,
                     delta=LOBE_SMOOTH)
    if wi.z > 0.0:
        ps, pd = probs(p, 1.0 - coat.transmittance(r, wi.z, p.alpha, p.eta))
        wo = ti.Vector([0.0, 0.0, 1.0])
        if u1 < ps:
            beck, vis = _options(p)
            wo = reflect_about(wi, mf_sample(beck, vis, p.alpha, p.alpha, wi, u2.x, u2.y))
        else:
            wo = square_to_cosine_hemisphere(u2)
        res.wo = wo
        if wo.z > 0.0:
            res.pdf = pdf_coat(p, wi, wo, coat, r)
            if res.pdf > 0.0:
                res.weight = eval_coat(p, wi, wo, coat, r) / res.pdf
    return res


@ti.func
def eval(p, wi, wo):
    return eval_coat(p, wi, wo, SMOOTH, 0)


@ti.func
def pdf(p, wi, wo):
    return pdf_coat(p, wi, wo, SMOOTH, 0)


@ti.func
def eval_delta(p, wi, wo, lobe):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def sample(p, wi, u1, u2):
    return sample_coat(p, wi, u1, u2, SMOOTH, 0)
