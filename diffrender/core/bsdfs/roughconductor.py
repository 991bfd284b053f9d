"""Rough conductor (microfacet metal) — Mitsuba's ``roughconductor``.

Equation (Cook–Torrance with the (an)isotropic Beckmann or GGX distribution ``D``, Smith's
separable shadowing ``G = G1(wi, h) G1(wo, h)``, half vector ``h = normalize(wi + wo)``)::

    f(wi, wo) cos(wo) = R_s F_cond(wi.h; eta + i k) D(h) G(wi, wo, h) / (4 cos_i)

Sampling (Mitsuba's): visible normals (``sample_visible``, the default;
``h ~ D_wi(h) = G1(wi, h) (wi.h) D(h) / cos_i``: Heitz 2018 for GGX, Jakob 2014 for Beckmann),
else all normals ``h ~ D(h) cos(h)``; ``wo = reflect(wi, h)``, ``pdf = p(h) / (4 wo.h)``, the
weight ``f cos / pdf``. The Beckmann masking is Mitsuba's rational approximation
(:func:`~.microfacet.mf_g1`).

Parameters (-> bundle): ``distribution`` (``beckmann``, Mitsuba's default, or ``ggx``; a row
flag), ``alpha`` (0.1, float or texture; ``alpha`` and ``alpha_v``) or ``alpha_u`` / ``alpha_v``
(anisotropic), ``specular_reflectance`` (1.0, ``a``), ``eta`` / ``k`` RGB or ``material`` preset
(``b`` / ``c``; default ``none``, a perfect mirror), ``sample_visible``.
Differentiable: ``alpha`` (``alpha_u``, ``alpha_v``), ``specular_reflectance``, ``eta``, ``k``.
Shaders calling ``builtins.roughconductor`` with ``params(...)`` get GGX (``flag`` 0) unless
they pass ``flag=1`` (Beckmann).

Scene snippet::

    <bsdf type="roughconductor">
        <string name="material" value="Cu"/>
        <string name="distribution" value="ggx"/>
        <float name="alpha" value="0.2"/>
    </bsdf>
"""

from ...engine import ti
from ...scene.spec import Param, PluginSpec
from ..types import BSDFSample
from .common import (HAS_SMOOTH, LOBE_SMOOTH, SAMPLE_VISIBLE, conductor_params, distribution,
                     microfacet_flag, microfacet_options, roughness)
from .microfacet import fresnel_conductor, mf_d, mf_g1, mf_pdf, mf_sample, reflect_about

SPEC = PluginSpec("bsdf", "roughconductor", {
    **conductor_params(),
    "distribution": distribution(),
    "alpha": roughness("roughness, both directions (float or texture)"),
    "alpha_u": Param("float_texture", None, "roughness along the tangent (with alpha_v, "
                                            "instead of alpha)", diff=True, field="alpha"),
    "alpha_v": Param("float_texture", None, "roughness along the bitangent (with alpha_u)",
                     diff=True, field="alpha_v"),
    "sample_visible": SAMPLE_VISIBLE},
    doc="rough metal (Beckmann or GGX microfacets)", code=2, lobes=(HAS_SMOOTH,))


def host_row(params) -> dict:
    """The row flag: the distribution and the sampling technique."""
    return {"flag": microfacet_flag(params, SPEC)}


@ti.func
def eval(p, wi, wo):
    res = ti.Vector([0.0, 0.0, 0.0])
    if wi.z > 0.0 and wo.z > 0.0:
        beck, _vis = microfacet_options(p)
        h = (wi + wo).normalized()
        g = mf_g1(beck, p.alpha, p.alpha_v, wi, h) * mf_g1(beck, p.alpha, p.alpha_v, wo, h)
        res = p.a * fresnel_conductor(wi.dot(h), p.b, p.c) * (
            mf_d(beck, p.alpha, p.alpha_v, h) * g / (4.0 * wi.z))
    return res


@ti.func
def pdf(p, wi, wo):
    res = 0.0
    if wi.z > 0.0 and wo.z > 0.0:
        beck, vis = microfacet_options(p)
        h = (wi + wo).normalized()
        woh = wo.dot(h)
        if woh > 0.0:
            res = mf_pdf(beck, vis, p.alpha, p.alpha_v, wi, h) / (4.0 * woh)
    return res


@ti.func
def eval_delta(p, wi, wo, lobe):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def sample(p, wi, u1, u2):
    res = BSDFSample(wo=ti.Vector([0.0, 0.0, 1.0]), weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0,
                     delta=LOBE_SMOOTH)
    if wi.z > 0.0:
        beck, vis = microfacet_options(p)
        m = mf_sample(beck, vis, p.alpha, p.alpha_v, wi, u2.x, u2.y)
        wo = reflect_about(wi, m)
        res.wo = wo
        if wo.z > 0.0:
            res.pdf = pdf(p, wi, wo)
            if res.pdf > 0.0:
                res.weight = eval(p, wi, wo) / res.pdf
    return res
