"""Differentiable image filters and filter pipelines (Taichi kernels).

>>> from diffrender.filters import Pipeline
>>> pipe = Pipeline.load("look.yaml")
>>> out = pipe(image)                                   # (H, W, C) float32, linear
>>> d_image, d_params = pipe.vjp(image, d_out)          # reverse mode
>>> out, J = Pipeline.load("look.yaml", dual=True).jacobian(image)   # forward mode

Filters (``type`` in pipeline files): gaussian_blur, box_blur, bilateral, unsharp_mask,
exposure, gamma, white_balance, color_matrix, saturation, tone_curve, vignette, demosaic,
denoise. See docs/filters.md for every filter's equation, parameters and border modes.

The names below are imported on first use, so that ``diffrender.filters.cli`` (the click
commands) does not import the Taichi engine until a command runs.
"""
import importlib
import warnings

# filter taps are unrolled on purpose (flat layout, see docs/engine.md "Autodiff rules")
warnings.filterwarnings("ignore", category=SyntaxWarning, message=".*(unrolling|static expansion).*")

_EXPORTS = {
    "BORDER_MODES": "base", "Filter": "base", "Param": "base", "registry": "base",
    "Bilateral": "bilateral", "Denoise": "bilateral",
    "ColorMatrix": "color", "Exposure": "color", "Gamma": "color", "Saturation": "color",
    "WhiteBalance": "color",
    "Demosaic": "demosaic",
    "BoxBlur": "gaussian", "GaussianBlur": "gaussian", "UnsharpMask": "gaussian",
    "Pipeline": "pipeline",
    "ToneCurve": "tone", "Vignette": "tone",
    "tune": "tune", "Tuner": "tune", "TuneResult": "tune",
}
_FILTER_MODULES = ("gaussian", "bilateral", "color", "tone", "demosaic")


def load_all():
    """Import every filter module (they register their stage types)."""
    for m in _FILTER_MODULES:
        importlib.import_module(f"{__name__}.{m}")


def __getattr__(name):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    load_all()
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


__all__ = list(_EXPORTS) + ["load_all"]
