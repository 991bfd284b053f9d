"""Rough conductor (GGX microfacet metal) — Mitsuba's ``roughconductor``.

Equation (Cook–Torrance with the isotropic GGX distribution ``D``, Smith's separable
shadowing ``G = G1(wi, h) G1(wo, h)``, half vector ``h = normalize(wi + wo)``)::

    f(wi, wo) cos(wo) = R_s F_cond(wi.h; eta + i k) D(h) G(wi, wo, h) / (4 cos_i)

Sampling: visible normals (Heitz 2018), ``h ~ D_wi(h) = G1(wi, h) (wi.h) D(h) / cos_i``, then
``wo = reflect(wi, h)``, so ``pdf = D_wi(h) / (4 wi.h)`` and the weight is
``R_s F G1(wo, h)``.

Parameters (-> bundle): ``alpha`` (0.1, float or texture; ``alpha``), ``specular_reflectance``
(1.0, ``a``), ``eta`` / ``k`` RGB or ``material`` preset (``b`` / ``c``; default ``none``, a
perfect mirror), ``distribution`` must be ``ggx`` (Mitsuba's default; ``beckmann`` is refused).
Differentiable: ``alpha``, ``specular_reflectance``, ``eta``, ``k``.

Scene snippet::

    <bsdf type="roughconductor">
        <string name="material" value="Cu"/>
        <float name="alpha" value="0.2"/>
    </bsdf>
"""

from ...engine import ti
from ..types import BSDFSample
from ...scene.spec import PluginSpec
from .common import (LOBE_SMOOTH, SAMPLE_VISIBLE, HAS_SMOOTH, conductor_params, distribution,
                     roughness)
from .microfacet import (fresnel_conductor, ggx_d, ggx_g1, ggx_pdf_visible,
                         ggx_sample_visible, reflect_about)

SPEC = PluginSpec("bsdf", "roughconductor", {
    **conductor_params(),
    "alpha": roughness("GGX roughness (float or texture)", "alpha"),
    "distribution": distribution(doc="microfacet distribution (ggx only; without it: ggx, "
                                     "with a warning)"),
    "sample_visible": SAMPLE_VISIBLE},
    doc="rough metal (GGX microfacets)", code=2, lobes=(HAS_SMOOTH,))


@ti.func
def eval(p, wi, wo):
    res = ti.Vector([0.0, 0.0, 0.0])
    if wi.z > 0.0 and wo.z > 0.0:
        h = (wi + wo).normalized()
        g = ggx_g1(p.alpha, wi, h) * ggx_g1(p.alpha, wo, h)
        res = p.a * fresnel_conductor(wi.dot(h), p.b, p.c) * (ggx_d(p.alpha, h) * g / (4.0 * wi.z))
    return res


@ti.func
def pdf(p, wi, wo):
    res = 0.0
    if wi.z > 0.0 and wo.z > 0.0:
        h = (wi + wo).normalized()
        res = ggx_pdf_visible(p.alpha, wi, h) / (4.0 * wi.dot(h))
    return res


@ti.func
def eval_delta(p, wi, wo, lobe):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def sample(p, wi, u1, u2):
    res = BSDFSample(wo=ti.Vector([0.0, 0.0, 1.0]), weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0,
                     delta=LOBE_SMOOTH)
    if wi.z > 0.0:
        m = ggx_sample_visible(p.alpha, wi, u2.x, u2.y)
        wo = reflect_about(wi, m)
        res.wo = wo
        if wo.z > 0.0:
            res.pdf = pdf(p, wi, wo)
            if res.pdf > 0.0:
                res.weight = eval(p, wi, wo) / res.pdf
    return res
