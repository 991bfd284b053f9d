"""Smooth conductor (perfect metal mirror) — Mitsuba's ``conductor``.

Equation: a single delta lobe in the mirror direction ``wo = (-wi.x, -wi.y, wi.z)``::

    f(wi, wo) cos(wo) = R_s * F_cond(cos_i; eta + i k) * delta(wo - reflect(wi))

``F_cond`` is the unpolarised Fresnel reflectance of a conductor with complex index
``eta + i k`` (per RGB channel). Sampling picks the mirror direction with probability 1, so
the weight is ``R_s F``; ``eval``/``pdf`` of any other direction are 0.

Parameters (-> bundle): ``specular_reflectance`` (1.0, ``a``), ``eta`` (``b``) and ``k``
(``c``) as RGB values, or ``material`` — one of Mitsuba's presets (``diffrender.scene.ior.
CONDUCTORS``: Au, Ag, Cu, Al, Cr, ... with Mitsuba 3's RGB-mode values; default ``none`` =
eta 0, k 1, a perfect mirror). Differentiable: ``specular_reflectance``, ``eta``, ``k``.

Scene snippet::

    <bsdf type="conductor">
        <string name="material" value="Au"/>
    </bsdf>
"""

from ...engine import ti
from ..types import BSDFSample
from ...scene.spec import PluginSpec
from .common import HAS_DELTA, LOBE_REFLECT, conductor_params
from .microfacet import fresnel_conductor, reflect

SPEC = PluginSpec("bsdf", "conductor", conductor_params(),
                  doc="smooth metal (delta reflection)", code=1, lobes=(HAS_DELTA,))


@ti.func
def eval(p, wi, wo):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def pdf(p, wi, wo):
    return 0.0


@ti.func
def eval_delta(p, wi, wo, lobe):
    """The delta lobe's mass ``R_s F`` (wo is the mirror direction)."""
    res = ti.Vector([0.0, 0.0, 0.0])
    if wi.z > 0.0 and wo.z > 0.0 and lobe == LOBE_REFLECT:
        res = p.a * fresnel_conductor(wi.z, p.b, p.c)
    return res


@ti.func
def sample(p, wi, u1, u2):
    wo = reflect(wi)
    res = BSDFSample(wo=wo, weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0, delta=LOBE_REFLECT)
    if wi.z > 0.0:
        res.weight = p.a * fresnel_conductor(wi.z, p.b, p.c)
        res.pdf = 1.0
    return res
