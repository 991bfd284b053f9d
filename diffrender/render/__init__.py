"""The forward renderer: Mitsuba 3-compatible path / direct integrators on Taichi.

``render(scene, spp=None, seed=0, sensor=0, aovs=(), spp_per_pass=None, progress=None,
max_depth=None)`` renders once; :class:`Renderer` uploads a scene once and renders it many
times. See ``docs/renderer.md``.
"""
from __future__ import annotations

import sys as _sys
import types as _types

from .renderer import AOV_NAMES, Renderer, render, render_jvp, render_vjp

__all__ = ["render", "render_vjp", "render_jvp", "Renderer", "AOV_NAMES"]


class _CallableRenderModule(_types.ModuleType):
    """``diffrender.render`` names both this subpackage and the function ``render``: importing the
    subpackage rebinds the package attribute to the module, so the module itself is callable
    with the function's signature, whatever the import order."""

    def __call__(self, scene, spp=None, seed=0, **kwargs):
        return render(scene, spp=spp, seed=seed, **kwargs)


_sys.modules[__name__].__class__ = _CallableRenderModule
