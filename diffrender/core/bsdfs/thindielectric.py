"""Thin dielectric sheet (window pane, soap film without interference) — Mitsuba's
``thindielectric``.

Equations: with ``R = F(|cos_i|, eta)`` (dielectric Fresnel) the sheet's total reflectance
after all internal bounces is ``R' = R + (1 - R)^2 R / (1 - R^2)``, ``T' = 1 - R'``::

    reflection   (delta, wo = (-wi.x, -wi.y, wi.z)):  R_s R'
    transmission (delta, wo = -wi, no refraction):    T_s T'

Sampling picks reflection with probability ``R'``: weights ``R_s`` and ``T_s``. Works from both
sides.

Parameters: ``int_ior`` (bk7) / ``ext_ior`` (air) -> ``eta``, ``specular_reflectance`` (1.0),
``specular_transmittance`` (1.0). Differentiable: all three.

Scene snippet::

    <bsdf type="thindielectric">
        <float name="int_ior" value="1.5"/>
    </bsdf>
"""

from ...engine import ti
from ..types import BSDFSample
from ...scene.spec import PluginSpec
from .common import HAS_DELTA, LOBE_REFLECT, LOBE_TRANSMIT, eta_param, ior_params, reflectance
from .microfacet import fresnel_dielectric, reflect

SPEC = PluginSpec("bsdf", "thindielectric", {
    **ior_params("bk7"),
    "specular_reflectance": reflectance(1.0, "reflection multiplier", "a"),
    "specular_transmittance": reflectance(1.0, "transmission multiplier", "b")},
    doc="thin glass sheet", code=6, lobes=(HAS_DELTA,), model=eta_param("bk7"))


@ti.func
def reflectance(p, wi):
    r, _a, _b, _c = fresnel_dielectric(ti.abs(wi.z), p.eta)
    t = 1.0 - r
    if r < 1.0:
        r += t * t * r / (1.0 - r * r)
    return r


@ti.func
def eval(p, wi, wo):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def pdf(p, wi, wo):
    return 0.0


@ti.func
def eval_delta(p, wi, wo, lobe):
    r = reflectance(p, wi)
    res = ti.Vector([0.0, 0.0, 0.0])
    if lobe == LOBE_REFLECT:
        res = p.a * r
    elif lobe == LOBE_TRANSMIT:
        res = p.b * (1.0 - r)
    return res


@ti.func
def sample(p, wi, u1, u2):
    r = reflectance(p, wi)
    res = BSDFSample(wo=reflect(wi), weight=p.a, pdf=r, delta=LOBE_REFLECT)
    if not (u1 <= r):
        res.wo = -wi
        res.weight = p.b
        res.pdf = 1.0 - r
        res.delta = LOBE_TRANSMIT
    if wi.z == 0.0:
        res.pdf = 0.0
        res.weight = ti.Vector([0.0, 0.0, 0.0])
    return res
