"""The forward renderer: Mitsuba 3-compatible path / direct integrators on Taichi.

``render(scene, spp=None, seed=0, sensor=0, aovs=(), spp_per_pass=None, progress=None,
max_depth=None)`` renders once; :class:`Renderer` uploads a scene once and renders it many
times. See ``docs/renderer.md``.
"""
from __future__ import annotations

from .renderer import AOV_NAMES, Renderer, render, render_jvp, render_vjp

__all__ = ["render", "render_vjp", "render_jvp", "Renderer", "AOV_NAMES"]
