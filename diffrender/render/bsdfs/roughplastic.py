"""Rough plastic — Mitsuba's ``roughplastic``: a diffuse base under a rough (GGX) dielectric
coating.

Equations (``h = normalize(wi + wo)``, ``F`` the dielectric Fresnel reflectance for
``eta = int_ior / ext_ior``, ``D``/``G`` isotropic GGX with Smith shadowing)::

    f cos_o = R_s F(wi.h) D(h) G(wi, wo, h) / (4 cos_i)
            + R_d / (1 - F_dr) / eta^2 T(cos_i) T(cos_o) cos_o / pi

with the coating transmittances approximated by the smooth interface, ``T(c) = 1 - F(c)``,
and ``F_dr = fresnel_diffuse_reflectance(1 / eta)`` (Mitsuba tabulates the rough-coating
transmittance numerically; the two agree for small ``alpha`` and differ by a few percent in
the diffuse part at ``alpha`` >= 0.3, see ``docs/materials.md``).

Sampling: visible-normal GGX reflection with probability ``p_s = (1 - T_i) w / ((1 - T_i) w +
T_i (1 - w))`` (``w`` as in :mod:`plastic`), else cosine-weighted; the pdf is the mixture.

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

from ...engine import ti
from ..types import INV_PI, BSDFSample
from ..warp import square_to_cosine_hemisphere
from .microfacet import (fresnel_dielectric, ggx_d, ggx_g1, ggx_pdf_visible,
                         ggx_sample_visible, reflect_about)
from .plastic import diffuse_albedo, probs

NAME = "roughplastic"
PARAMS = ("alpha", "diffuse_reflectance", "specular_reflectance", "eta")


@ti.func
def eval(p, wi, wo):
    res = ti.Vector([0.0, 0.0, 0.0])
    if wi.z > 0.0 and wo.z > 0.0:
        h = (wi + wo).normalized()
        fh, _a, _b, _c = fresnel_dielectric(wi.dot(h), p.eta)
        g = ggx_g1(p.alpha, wi, h) * ggx_g1(p.alpha, wo, h)
        spec = p.b * (fh * ggx_d(p.alpha, h) * g / (4.0 * wi.z))
        fi, _d, _e, _f = fresnel_dielectric(wi.z, p.eta)
        fo, _g, _h, _i = fresnel_dielectric(wo.z, p.eta)
        res = spec + diffuse_albedo(p) * ((1.0 - fi) * (1.0 - fo) * INV_PI * wo.z)
    return res


@ti.func
def pdf(p, wi, wo):
    res = 0.0
    if wi.z > 0.0 and wo.z > 0.0:
        fi, _a, _b, _c = fresnel_dielectric(wi.z, p.eta)
        ps, pd = probs(p, fi)
        h = (wi + wo).normalized()
        res = ps * ggx_pdf_visible(p.alpha, wi, h) / (4.0 * wi.dot(h)) + pd * INV_PI * wo.z
    return res


@ti.func
def eval_delta(p, wi, wo, lobe):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def sample(p, wi, u1, u2):
    res = BSDFSample(wo=ti.Vector([0.0, 0.0, 1.0]), weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0,
                     delta=0)
    if wi.z > 0.0:
        fi, _a, _b, _c = fresnel_dielectric(wi.z, p.eta)
        ps, pd = probs(p, fi)
        wo = ti.Vector([0.0, 0.0, 1.0])
        if u1 < ps:
            wo = reflect_about(wi, ggx_sample_visible(p.alpha, wi, u2.x, u2.y))
        else:
            wo = square_to_cosine_hemisphere(u2)
        res.wo = wo
        if wo.z > 0.0:
            res.pdf = pdf(p, wi, wo)
            if res.pdf > 0.0:
                res.weight = eval(p, wi, wo) / res.pdf
    return res
