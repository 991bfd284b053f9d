"""What user shaders import (``docs/shaders.md``): the Taichi module, the built-in BSDF modules
(to layer or blend them) with their parameter bundle, and the sampling helpers.

    from diffrender.shading import ti, PI, INV_PI, builtins, BSDFParams, microfacet

Every function here is a ``ti.func`` usable inside a shader's ``eval`` / ``sample`` / ``pdf``.
"""
from types import SimpleNamespace

from .engine import ti
from .core.bsdfs import LEAVES, microfacet
from .core.bsdfs.common import N_EXTRA, BSDFParams
from .core.types import INV_PI, PI
from .core.warp import floor_f, square_to_cosine_hemisphere

#: the built-in BSDF modules: ``eval(p, wi, wo)``, ``pdf(p, wi, wo)``, ``sample(p, wi, u1, u2)``
#: taking a :data:`BSDFParams` bundle (see each module's docstring for its fields).
builtins = SimpleNamespace(**LEAVES)


@ti.func
def params(a=ti.Vector([0.0, 0.0, 0.0]), b=ti.Vector([0.0, 0.0, 0.0]),
           c=ti.Vector([0.0, 0.0, 0.0]), alpha=0.1, eta=1.5, alpha_v=-1.0, flag=0):
    """A :data:`BSDFParams` bundle for calling a built-in (``alpha_v`` < 0: ``alpha``)."""
    av = alpha_v
    if av < 0.0:
        av = alpha
    return BSDFParams(a=a, b=b, c=c, alpha=alpha, alpha_v=av, eta=eta,
                      x=ti.Vector([0.0] * N_EXTRA), w=0.5, flag=flag)


__all__ = ["ti", "PI", "INV_PI", "builtins", "BSDFParams", "microfacet", "floor_f",
           "square_to_cosine_hemisphere", "params"]
