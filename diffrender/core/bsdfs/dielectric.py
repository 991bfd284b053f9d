"""Smooth dielectric (glass, water) — Mitsuba's ``dielectric``.

Equations (``eta = int_ior / ext_ior``; ``F, cos_t, eta_ti = fresnel(cos_i, eta)``, with
``cos_i < 0`` meaning the ray arrives from inside)::

    reflection  (delta, wo = (-wi.x, -wi.y, wi.z)):             R_s F
    refraction  (delta, wo = (-eta_ti wi.x, -eta_ti wi.y, cos_t)): T_s (1 - F) eta_ti^2

(the ``eta_ti^2`` factor: radiance is compressed into a smaller solid angle on the denser
side). Sampling picks reflection with probability ``F``, so the weights are ``R_s`` and
``T_s eta_ti^2``; ``eval``/``pdf`` are 0. The replay re-evaluates the recorded lobe's mass
(``F`` or ``1 - F``, a function of ``eta``) over the recorded probability.

Parameters (-> bundle): ``int_ior`` (bk7 1.5046) / ``ext_ior`` (air 1.000277), floats or
names (-> ``eta``), ``specular_reflectance`` (1.0, ``a``), ``specular_transmittance``
(1.0, ``b``). Differentiable: ``eta``, ``specular_reflectance``, ``specular_transmittance``.

Scene snippet::

    <bsdf type="dielectric">
        <string name="int_ior" value="water"/>
        <string name="ext_ior" value="air"/>
    </bsdf>
"""

from ...engine import ti
from ..types import BSDFSample
from ...scene.spec import PluginSpec
from .common import HAS_DELTA, LOBE_REFLECT, LOBE_TRANSMIT, eta_param, ior_params, reflectance
from .microfacet import fresnel_dielectric, reflect

SPEC = PluginSpec("bsdf", "dielectric", {
    **ior_params("bk7"),
    "specular_reflectance": reflectance(1.0, "reflection multiplier", "a"),
    "specular_transmittance": reflectance(1.0, "transmission multiplier", "b")},
    doc="smooth glass / water interface", code=5, lobes=(HAS_DELTA,), model=eta_param("bk7"))


@ti.func
def eval(p, wi, wo):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def pdf(p, wi, wo):
    return 0.0


@ti.func
def eval_delta(p, wi, wo, lobe):
    r, cos_t, eta_it, eta_ti = fresnel_dielectric(wi.z, p.eta)
    res = ti.Vector([0.0, 0.0, 0.0])
    if lobe == LOBE_REFLECT:
        res = p.a * r
    elif lobe == LOBE_TRANSMIT:
        res = p.b * ((1.0 - r) * eta_ti * eta_ti)
    return res


@ti.func
def sample(p, wi, u1, u2):
    r, cos_t, eta_it, eta_ti = fresnel_dielectric(wi.z, p.eta)
    res = BSDFSample(wo=reflect(wi), weight=p.a, pdf=r, delta=LOBE_REFLECT)
    if not (u1 <= r):
        res.wo = ti.Vector([-eta_ti * wi.x, -eta_ti * wi.y, cos_t])
        res.weight = p.b * (eta_ti * eta_ti)
        res.pdf = 1.0 - r
        res.delta = LOBE_TRANSMIT
    if wi.z == 0.0:
        res.pdf = 0.0
        res.weight = ti.Vector([0.0, 0.0, 0.0])
    return res
