"""Rough dielectric (frosted glass) — Mitsuba's ``roughdielectric`` (Walter et al. 2007), with
Mitsuba 3.9.1's semantics and defaults.

Equations (local frame, ``cos = z``; ``eta = int_ior / ext_ior`` seen from the side of wi:
``eta`` if ``cos_i > 0`` else ``1 / eta``; ``D``, ``G1`` the Beckmann or GGX distribution with
roughness ``alpha_u`` along x and ``alpha_v`` along y, :mod:`.microfacet`)::

    reflection   (cos_i cos_o > 0):  m = normalize(wi + wo)
        f cos_o = R_s F(wi.m) D(m) G1(wi, m) G1(wo, m) / (4 |cos_i|)
    transmission (cos_i cos_o < 0):  m = normalize(wi + eta wo)
        f cos_o = T_s |(1 - F) D G1 G1 (wi.m) (wo.m) / (cos_i (wi.m + eta wo.m)^2)|

(``m`` flipped into the upper hemisphere; the radiance scale ``1 / eta^2`` and the ``eta^2`` of
the Jacobian cancel, as in Mitsuba). Sampling: a microfacet normal from the visible normals of
wi mirrored to the upper hemisphere (``sample_visible``, the default) or from ``D(m) cos(m)``
with Walter's roughness scale ``1.2 - 0.2 sqrt(|cos_i|)``; reflection with probability
``F(wi.m)``, else refraction; ``pdf = pdf(m) F |dm/dwo|`` resp. ``pdf(m) (1 - F) |dm/dwo|``,
the weight ``f cos / pdf``. The sampling routines differ from Mitsuba's in the random numbers
they consume (GGX: Heitz 2018), not in the densities.

Parameters (-> bundle): ``distribution`` (``beckmann``, Mitsuba's default, or ``ggx``; a row
flag), ``alpha`` (0.1) or ``alpha_u`` / ``alpha_v`` (-> ``alpha`` / ``alpha_v``),
``int_ior`` (bk7) / ``ext_ior`` (air) (-> ``eta``), ``specular_reflectance`` (1.0, ``a``),
``specular_transmittance`` (1.0, ``b``), ``sample_visible`` (true; a row flag).
Differentiable: ``alpha`` (``alpha_u``, ``alpha_v``), ``eta``, ``specular_reflectance``,
``specular_transmittance``.

Scene snippet::

    <bsdf type="roughdielectric">
        <string name="distribution" value="ggx"/>
        <float name="alpha" value="0.2"/>
        <string name="int_ior" value="bk7"/>
        <string name="ext_ior" value="air"/>
    </bsdf>
"""

from ...engine import ti
from ...scene.spec import Param, PluginSpec
from ..types import BSDFSample
from .common import (HAS_SMOOTH, LOBE_SMOOTH, MF_ALL_NORMALS, SAMPLE_VISIBLE, distribution,
                     eta_param, ior_params, microfacet_flag, microfacet_options, reflectance,
                     roughness)
from .microfacet import fresnel_dielectric, mf_d, mf_g1, mf_pdf, mf_sample, reflect_about

SPEC = PluginSpec("bsdf", "roughdielectric", {
    "distribution": distribution(),
    "alpha": roughness("roughness, both directions (float or texture)"),
    "alpha_u": Param("float_texture", None, "roughness along the tangent (with alpha_v, "
                                            "instead of alpha)", diff=True, field="alpha"),
    "alpha_v": Param("float_texture", None, "roughness along the bitangent (with alpha_u)",
                     diff=True, field="alpha_v"),
    **ior_params("bk7"),
    "specular_reflectance": reflectance(1.0, "reflection multiplier", "a"),
    "specular_transmittance": reflectance(1.0, "transmission multiplier", "b"),
    "sample_visible": SAMPLE_VISIBLE},
    doc="rough glass (Beckmann or GGX microfacets)", code=7, lobes=(HAS_SMOOTH,),
    model=eta_param("bk7"))


def host_row(params) -> dict:
    """The row flag: the distribution and the sampling technique."""
    return {"flag": microfacet_flag(params, SPEC)}


@ti.func
def _sampling_scale(p, cos_i):
    """Walter's roughness scale of the sampling density (only without visible normals)."""
    s = 1.0
    if (p.flag & MF_ALL_NORMALS) != 0:
        s = 1.2 - 0.2 * ti.sqrt(ti.abs(cos_i))
    return s


@ti.func
def _half(p, wi, wo):
    """(m in the upper hemisphere, reflection?, eta seen from wi's side)."""
    refl = wi.z * wo.z > 0.0
    eta = p.eta
    if wi.z < 0.0:
        eta = 1.0 / p.eta
    h = wi + wo * (1.0 if refl else eta)
    ln = h.norm()
    m = ti.Vector([0.0, 0.0, 1.0])
    if ln > 1e-12:
        m = h / ln
    if m.z < 0.0:
        m = -m
    return m, refl, eta


@ti.func
def _eval_pdf(p, wi, wo):
    f = ti.Vector([0.0, 0.0, 0.0])
    pd = 0.0
    ci = wi.z
    co = wo.z
    if ci != 0.0 and co != 0.0:
        beck, visible = microfacet_options(p)
        m, refl, eta = _half(p, wi, wo)
        wim = wi.dot(m)
        wom = wo.dot(m)
        d = mf_d(beck, p.alpha, p.alpha_v, m)
        fr, _ct, _eit, _eti = fresnel_dielectric(wim, p.eta)
        g = mf_g1(beck, p.alpha, p.alpha_v, wi, m) * mf_g1(beck, p.alpha, p.alpha_v, wo, m)
        den = wim + eta * wom
        if refl:
            f = p.a * (fr * d * g / (4.0 * ti.abs(ci)))
        elif ti.abs(den) > 1e-12:
            f = p.b * ti.abs((1.0 - fr) * d * g * wim * wom / (ci * den * den))
        if wim * ci > 0.0 and wom * co > 0.0:
            dwh = 0.0
            if refl:
                dwh = 1.0 / (4.0 * wom)
            elif ti.abs(den) > 1e-12:
                dwh = eta * eta * wom / (den * den)
            sc = _sampling_scale(p, ci)
            sgn = 1.0 if ci > 0.0 else -1.0
            prob = mf_pdf(beck, visible, p.alpha * sc, p.alpha_v * sc, wi * sgn, m)
            prob *= fr if refl else 1.0 - fr
            pd = prob * ti.abs(dwh)
    return f, pd


@ti.func
def eval(p, wi, wo):
    """f(wi, wo) |cos(theta_o)| (reflection and transmission)."""
    f, _pd = _eval_pdf(p, wi, wo)
    return f


@ti.func
def pdf(p, wi, wo):
    _f, pd = _eval_pdf(p, wi, wo)
    return pd


@ti.func
def eval_delta(p, wi, wo, lobe):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def sample(p, wi, u1, u2):
    res = BSDFSample(wo=ti.Vector([0.0, 0.0, 1.0]), weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0,
                     delta=LOBE_SMOOTH)
    ci = wi.z
    if ci != 0.0:
        beck, visible = microfacet_options(p)
        sc = _sampling_scale(p, ci)
        sgn = 1.0 if ci > 0.0 else -1.0
        m = mf_sample(beck, visible, p.alpha * sc, p.alpha_v * sc, wi * sgn, u2.x, u2.y)
        wim = wi.dot(m)
        fr, cos_t, _eta_it, eta_ti = fresnel_dielectric(wim, p.eta)
        wo = reflect_about(wi, m)
        side = 1.0  # the side of wo relative to wi that the chosen lobe must reach
        if not (u1 <= fr):
            wo = m * (wim * eta_ti + cos_t) - wi * eta_ti
            side = -1.0
        res.wo = wo
        # only microfacets that face wi are sampled (their density is the pdf's): one seen
        # from its back would refract as if wi came from the other side
        if wim * ci > 0.0 and wo.z * ci * side > 0.0:
            f, pd = _eval_pdf(p, wi, wo)
            if pd > 0.0:
                res.pdf = pd
                res.weight = f / pd
    return res
