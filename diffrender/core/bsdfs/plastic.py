"""Smooth plastic — Mitsuba's ``plastic``: a diffuse base under a smooth dielectric coating.

Equations (``F`` the dielectric Fresnel reflectance for ``eta = int_ior / ext_ior``,
``F_i = F(cos_i)``, ``F_o = F(cos_o)``, ``F_dr`` the coating's internal diffuse reflectance
``fresnel_diffuse_reflectance(1 / eta)``)::

    specular (delta, mirror direction):  R_s F_i
    diffuse:  f cos_o = R_d / (1 - F_dr) / eta^2 (1 - F_i) (1 - F_o) cos_o / pi
              (nonlinear=true: R_d / (1 - R_d F_dr) instead of R_d / (1 - F_dr))

Sampling: the specular lobe with probability ``p_s = F_i w / (F_i w + (1 - F_i)(1 - w))``,
``w = mean(R_s) / (mean(R_s) + mean(R_d))`` (computed on the host, as Mitsuba does), else a
cosine-weighted direction (``pdf = (1 - p_s) cos_o / pi``).

Parameters (-> bundle): ``diffuse_reflectance`` (0.5, ``a``), ``specular_reflectance``
(1.0, ``b``), ``int_ior`` (polypropylene 1.49) / ``ext_ior`` (air 1.000277) as floats or
names (-> ``eta``, the differentiable parameter), ``nonlinear`` (false).
Differentiable: ``diffuse_reflectance``, ``specular_reflectance``, ``eta``.

Scene snippet::

    <bsdf type="plastic">
        <rgb name="diffuse_reflectance" value="0.1, 0.27, 0.36"/>
        <float name="int_ior" value="1.9"/>
    </bsdf>
"""

import numpy as np

from ...engine import ti
from ..types import INV_PI, BSDFSample
from ..warp import square_to_cosine_hemisphere
from ...scene.spec import Param, PluginSpec
from .common import (HAS_DELTA, LOBE_REFLECT, LOBE_SMOOTH, HAS_SMOOTH, eta_param, ior_params,
                     reflectance)
from .microfacet import fresnel_dielectric, fresnel_diffuse_reflectance, reflect

SPEC = PluginSpec("bsdf", "plastic", {
    "diffuse_reflectance": reflectance(0.5, "base colour", "a"),
    "specular_reflectance": reflectance(1.0, "coating multiplier", "b"),
    **ior_params("polypropylene"),
    "nonlinear": Param("boolean", False, "account for colour shift by internal scattering")},
    doc="smooth plastic (diffuse base, dielectric coating)", code=3, lobes=(HAS_SMOOTH, HAS_DELTA),
    model=eta_param("polypropylene"))


def host_row(params) -> dict:
    """Row options computed on the host: ``nonlinear`` and the specular sampling weight
    ``w = mean(R_s) / (mean(R_s) + mean(R_d))`` (as Mitsuba)."""
    d = float(np.mean(params["diffuse_reflectance"].mean()))
    s = float(np.mean(params["specular_reflectance"].mean()))
    return {"flag": int(bool(params.get("nonlinear", False))),
            "w": s / (d + s) if d + s > 0 else 0.5}


@ti.func
def diffuse_albedo(p):
    fdr = fresnel_diffuse_reflectance(1.0 / p.eta)
    res = p.a / (1.0 - fdr)
    if p.flag != 0:
        res = p.a / (1.0 - p.a * fdr)
    return res / (p.eta * p.eta)


@ti.func
def probs(p, fi):
    ps = fi * p.w
    pd = (1.0 - fi) * (1.0 - p.w)
    s = ps / ti.max(ps + pd, 1e-20)
    return s, 1.0 - s


@ti.func
def eval(p, wi, wo):
    res = ti.Vector([0.0, 0.0, 0.0])
    if wi.z > 0.0 and wo.z > 0.0:
        fi, _a, _b, _c = fresnel_dielectric(wi.z, p.eta)
        fo, _d, _e, _f = fresnel_dielectric(wo.z, p.eta)
        res = diffuse_albedo(p) * ((1.0 - fi) * (1.0 - fo) * INV_PI * wo.z)
    return res


@ti.func
def pdf(p, wi, wo):
    res = 0.0
    if wi.z > 0.0 and wo.z > 0.0:
        fi, _a, _b, _c = fresnel_dielectric(wi.z, p.eta)
        ps, pd = probs(p, fi)
        res = pd * INV_PI * wo.z
    return res


@ti.func
def eval_delta(p, wi, wo, lobe):
    res = ti.Vector([0.0, 0.0, 0.0])
    if wi.z > 0.0 and wo.z > 0.0 and lobe == LOBE_REFLECT:
        fi, _a, _b, _c = fresnel_dielectric(wi.z, p.eta)
        res = p.b * fi
    return res


@ti.func
def sample(p, wi, u1, u2):
    res = BSDFSample(wo=ti.Vector([0.0, 0.0, 1.0]), weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0,
                     delta=LOBE_SMOOTH)
    if wi.z > 0.0:
        fi, _a, _b, _c = fresnel_dielectric(wi.z, p.eta)
        ps, pd = probs(p, fi)
        if u1 < ps:
            res.wo = reflect(wi)
            res.pdf = ps
            res.delta = LOBE_REFLECT
            res.weight = p.b * fi / ps
        else:
            wo = square_to_cosine_hemisphere(u2)
            res.wo = wo
            if wo.z > 0.0:
                res.pdf = pd * INV_PI * wo.z
                if res.pdf > 0.0:
                    res.weight = eval(p, wi, wo) / res.pdf
    return res
