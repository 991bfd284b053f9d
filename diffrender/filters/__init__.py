"""Differentiable image filters and filter pipelines (Taichi kernels).

>>> from diffrender.filters import Pipeline
>>> pipe = Pipeline.load("look.yaml")
>>> out = pipe(image)                                   # (H, W, C) float32, linear
>>> d_image, d_params = pipe.vjp(image, d_out)          # reverse mode
>>> out, J = Pipeline.load("look.yaml", dual=True).jacobian(image)   # forward mode

See docs/filters.md for every filter's equation, parameters and border modes.
"""
from .base import BORDER_MODES, Filter, Param, registry
from .gaussian import BoxBlur, GaussianBlur, UnsharpMask
from .pipeline import Pipeline

__all__ = ["BORDER_MODES", "Filter", "Param", "registry", "Pipeline", "GaussianBlur", "BoxBlur",
           "UnsharpMask"]
