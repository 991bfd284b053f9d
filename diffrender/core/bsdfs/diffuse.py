"""Smooth diffuse (Lambertian) BSDF — Mitsuba's ``diffuse``.

Equation (local shading frame, ``cos = z``)::

    f(wi, wo) cos(wo) = R / pi * cos(theta_o)      if cos(theta_i) > 0 and cos(theta_o) > 0
                      = 0                          otherwise (one-sided: black from the back)

Sampling: cosine-weighted hemisphere (concentric disk mapping), ``pdf = cos(theta_o) / pi``, so
the sample weight ``f cos / pdf`` is ``R``.

Parameters: ``reflectance`` — RGB constant or texture (default 0.5) -> ``p.a``.

Scene snippet (Mitsuba 3 XML)::

    <bsdf type="twosided" id="white">
        <bsdf type="diffuse">
            <rgb name="reflectance" value="0.725, 0.71, 0.68"/>
        </bsdf>
    </bsdf>
"""

from ...engine import ti
from ...scene.spec import PluginSpec
from ..types import INV_PI, BSDFSample
from ..warp import square_to_cosine_hemisphere
from .common import LOBE_SMOOTH, HAS_SMOOTH, reflectance

SPEC = PluginSpec("bsdf", "diffuse", {
    "reflectance": reflectance(0.5, "albedo (rgb, float, spectrum or texture)", "a")},
    doc="Lambertian", code=0, lobes=(HAS_SMOOTH,))


@ti.func
def eval(p, wi, wo):
    """f(wi, wo) * cos(theta_o)."""
    res = ti.Vector([0.0, 0.0, 0.0])
    if wi.z > 0.0 and wo.z > 0.0:
        res = p.a * (INV_PI * wo.z)
    return res


@ti.func
def pdf(p, wi, wo):
    res = 0.0
    if wi.z > 0.0 and wo.z > 0.0:
        res = INV_PI * wo.z
    return res


@ti.func
def sample(p, wi, u1, u2):
    wo = square_to_cosine_hemisphere(u2)
    pd = INV_PI * wo.z
    weight = p.a
    if not (wi.z > 0.0 and wo.z > 0.0 and pd > 0.0):
        weight = ti.Vector([0.0, 0.0, 0.0])
        pd = 0.0
    return BSDFSample(wo=wo, weight=weight, pdf=pd, delta=LOBE_SMOOTH)


@ti.func
def eval_delta(p, wi, wo, lobe):
    return ti.Vector([0.0, 0.0, 0.0])
