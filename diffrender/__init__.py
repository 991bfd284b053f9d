"""diffrender: differentiable rendering and image processing on Taichi.

Importing the package does not start the engine; the first render (or
``diffrender.engine.init``) does.
"""
from __future__ import annotations

from .errors import ConfigError, DiffrenderError, EngineError, ImageError, SceneError
from .image import read_image, write_image
from .metrics import compare, psnr, relative_mse, rmse, ssim

__version__ = "0.1.0"


def load_scene(source, **defines):
    """Load a Mitsuba 3 scene: XML file, JSON/YAML file of its dict form, or a dict.

    Keyword arguments override ``<default>`` values (like ``-D name=value``)."""
    from .scene.loader import load_scene as _load

    return _load(source, **defines)


def render(scene, spp=None, seed=0, **kwargs):
    """Render ``scene`` and return an ``(H, W, 3)`` float32 linear image. See
    :func:`diffrender.render.render` for the keyword arguments."""
    from .render import render as _render

    return _render(scene, spp=spp, seed=seed, **kwargs)


def render_vjp(scene, d_image, params, spp=None, seed=0, **kwargs):
    """Reverse mode: ``{name: gradient}`` for the adjoint image ``d_image`` (d loss / d image)."""
    from .render import render_vjp as _vjp

    return _vjp(scene, d_image, params, spp=spp, seed=seed, **kwargs)


def render_jvp(scene, tangents, spp=None, seed=0, **kwargs):
    """Forward mode: the image tangent dI/dtheta . t for ``tangents = {name: t}``."""
    from .render import render_jvp as _jvp

    return _jvp(scene, tangents, spp=spp, seed=seed, **kwargs)


__all__ = ["load_scene", "render", "render_vjp", "render_jvp", "read_image", "write_image", "compare", "psnr",
           "relative_mse", "rmse", "ssim", "DiffrenderError", "SceneError", "ImageError",
           "EngineError", "ConfigError", "__version__"]
