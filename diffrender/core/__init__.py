"""The rendering core: Mitsuba 3-compatible path / direct integrators on Taichi, their
derivatives, and the device tables they run on. The public entry points are re-exported by
:mod:`diffrender` (``diffrender.render``, ``diffrender.Renderer``); see ``docs/renderer.md``.
"""
from __future__ import annotations

from .renderer import AOV_NAMES, Renderer, render, render_jvp, render_vjp

__all__ = ["render", "render_vjp", "render_jvp", "Renderer", "AOV_NAMES"]
