"""Differentiable image filters and filter pipelines (Taichi kernels).

>>> from diffrender.filters import Pipeline
>>> pipe = Pipeline.load("look.yaml")
>>> out = pipe(image)                                   # (H, W, C) float32, linear
>>> d_image, d_params = pipe.vjp(image, d_out)          # reverse mode
>>> out, J = Pipeline.load("look.yaml", dual=True).jacobian(image)   # forward mode

Filters (``type`` in pipeline files): gaussian_blur, box_blur, bilateral, unsharp_mask,
exposure, gamma, white_balance, color_matrix, saturation, tone_curve, vignette, demosaic,
denoise. See docs/filters.md for every filter's equation, parameters and border modes.
"""
import warnings

# filter taps are unrolled on purpose (flat layout, see taichi-autodiff.md)
warnings.filterwarnings("ignore", category=SyntaxWarning, message=".*(unrolling|static expansion).*")

from .base import BORDER_MODES, Filter, Param, registry
from .bilateral import Bilateral, Denoise
from .color import ColorMatrix, Exposure, Gamma, Saturation, WhiteBalance
from .demosaic import Demosaic
from .gaussian import BoxBlur, GaussianBlur, UnsharpMask
from .pipeline import Pipeline
from .tone import ToneCurve, Vignette

__all__ = ["BORDER_MODES", "Filter", "Param", "registry", "Pipeline", "GaussianBlur", "BoxBlur",
           "UnsharpMask", "Bilateral", "Denoise", "Exposure", "Gamma", "WhiteBalance",
           "ColorMatrix", "Saturation", "ToneCurve", "Vignette", "Demosaic"]
