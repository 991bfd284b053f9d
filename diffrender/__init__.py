"""diffrender: differentiable rendering and image processing on Taichi.

Importing the package does not start the engine; the first render (or
``diffrender.engine.init``) does.
"""
from __future__ import annotations

import importlib

from .errors import (ConfigError, DiffrenderError, EngineError, ImageError, SceneError,
                     ShaderConsentError)

__version__ = "0.1.0"


def render(scene, spp=None, seed=0, **kwargs):
    """Render ``scene`` and return an ``(H, W, 3)`` float32 linear image (a dict of images when
    ``aovs`` are asked for). Keyword arguments: ``sensor``, ``aovs``, ``spp_per_pass``,
    ``progress``, ``max_depth`` (see ``docs/renderer.md``)."""
    from .core import render as _render

    return _render(scene, spp=spp, seed=seed, **kwargs)


def render_vjp(scene, d_image, params, spp=None, seed=0, **kwargs):
    """Reverse mode: ``{name: gradient}`` for the adjoint image ``d_image`` (d loss / d image)."""
    from .core import render_vjp as _vjp

    return _vjp(scene, d_image, params, spp=spp, seed=seed, **kwargs)


def render_jvp(scene, tangents, spp=None, seed=0, **kwargs):
    """Forward mode: the image tangent dI/dtheta . t for ``tangents = {name: t}``."""
    from .core import render_jvp as _jvp

    return _jvp(scene, tangents, spp=spp, seed=seed, **kwargs)


def traverse(scene):
    """The differentiable parameters of ``scene`` as a dict-like view (Mitsuba's ``traverse``):
    read and assign values by name; a :class:`Renderer` of the scene uploads what changed."""
    return scene.parameters()


# Names whose modules are slow to import (the Taichi engine, about a second; image codecs,
# plotting) are resolved on first use, so that ``import diffrender`` stays cheap (PEP 562).
_LAZY = {
    "read_image": ("diffrender.image", "read_image"),  # linear float32 (H, W, C)
    "write_image": ("diffrender.image", "write_image"),
    "linear_to_srgb": ("diffrender.image", "linear_to_srgb"),
    "srgb_to_linear": ("diffrender.image", "srgb_to_linear"),
    "compare": ("diffrender.metrics", "compare"),  # rmse, relmse, psnr, ssim of an image pair
    "error_image": ("diffrender.metrics", "error_image"),
    "psnr": ("diffrender.metrics", "psnr"),
    "relative_mse": ("diffrender.metrics", "relative_mse"),
    "rmse": ("diffrender.metrics", "rmse"),
    "ssim": ("diffrender.metrics", "ssim"),
    # photo sets (COLMAP models, transforms.json) as cameras + images + masks (docs/photos.md)
    "load_dataset": ("diffrender.datasets", "load_dataset"),
    # Mitsuba 3 scene: XML file, JSON/YAML file of its dict form, or a dict; keyword arguments
    # override <default> values (like -D name=value)
    "load_scene": ("diffrender.scene.loader", "load_scene"),
    "init": ("diffrender.engine", "init"),  # start the engine on a device (else: first render)
    "Renderer": ("diffrender.core.renderer", "Renderer"),
    "project": ("diffrender.core.camera", "project"),  # world points -> film pixels
    "Pipeline": ("diffrender.filters.pipeline", "Pipeline"),
    "tune": ("diffrender.filters.tune", "tune"),
    "optimize": ("diffrender.inverse.run", "optimize"),
    "Adam": ("diffrender.optim", "Adam"),  # the optimizers and losses of `optimize` / `tune`
    "get_loss": ("diffrender.optim", "get_loss"),
}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'diffrender' has no attribute {name!r}")


__all__ = ["load_scene", "render", "render_vjp", "render_jvp", "Renderer", "traverse", "project",
           "init", "Pipeline", "tune", "optimize", "Adam", "get_loss", "load_dataset", "read_image",
           "write_image",
           "linear_to_srgb", "srgb_to_linear", "compare", "error_image", "psnr", "relative_mse",
           "rmse", "ssim", "DiffrenderError", "SceneError", "ShaderConsentError", "ImageError",
           "EngineError",
           "ConfigError", "__version__"]
