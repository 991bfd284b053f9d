"""Coated metal: a layered material built from two built-in BSDFs — a rough metal base
(``roughconductor``) under a clear, rough dielectric coat (``roughconductor`` with a real index,
k = 0, is a GGX dielectric reflection lobe).

    f = coat(wi, wo) + (1 - F(cos_i)) (1 - F(cos_o)) * metal(wi, wo)

with ``F`` the coat's Fresnel reflectance at normal-ish incidence (the usual layering
approximation: light reaching the metal crosses the coat twice). Sampling picks the coat lobe
with probability ``coat_prob`` and the metal lobe otherwise (each by its GGX visible-normal
sampling); ``pdf`` is the mixture, so the renderer's MIS stays consistent.

Scene::

    <bsdf type="shader">
        <string name="filename" value="shaders/coated_metal.py"/>
        <rgb name="metal_eta" value="0.2, 0.92, 1.1"/>
        <rgb name="metal_k" value="3.9, 2.45, 2.14"/>
        <float name="coat_alpha" value="0.03"/>
    </bsdf>
"""
from diffrender.shading import builtins, microfacet, params, ti

KIND = "bsdf"
PARAMETERS = {
    "metal_eta": ("rgb", (0.2, 0.92, 1.1)),    # Cu (Mitsuba RGB values)
    "metal_k": ("rgb", (3.91, 2.45, 2.14)),
    "metal_alpha": ("float", 0.3),
    "coat_alpha": ("float", 0.03),
    "coat_eta": ("float", 1.5),
    "coat_prob": ("float", 0.3),
}


@ti.func
def _coat(p):
    return params(a=ti.Vector([1.0, 1.0, 1.0]), b=ti.Vector([p.coat_eta, p.coat_eta, p.coat_eta]),
                  c=ti.Vector([0.0, 0.0, 0.0]), alpha=p.coat_alpha)


@ti.func
def _metal(p):
    return params(a=ti.Vector([1.0, 1.0, 1.0]), b=p.metal_eta, c=p.metal_k, alpha=p.metal_alpha)


@ti.func
def eval(p, wi, wo):
    fi, _a, _b, _c = microfacet.fresnel_dielectric(wi.z, p.coat_eta)
    fo, _d, _e, _f = microfacet.fresnel_dielectric(wo.z, p.coat_eta)
    return (builtins.roughconductor.eval(_coat(p), wi, wo)
            + (1.0 - fi) * (1.0 - fo) * builtins.roughconductor.eval(_metal(p), wi, wo))


@ti.func
def pdf(p, wi, wo):
    return (p.coat_prob * builtins.roughconductor.pdf(_coat(p), wi, wo)
            + (1.0 - p.coat_prob) * builtins.roughconductor.pdf(_metal(p), wi, wo))


@ti.func
def sample(p, wi, u1, u2):
    s = builtins.roughconductor.sample(_metal(p), wi, u1, u2)
    if u1 < p.coat_prob:
        s = builtins.roughconductor.sample(_coat(p), wi, u1, u2)
    return s.wo, pdf(p, wi, s.wo)
