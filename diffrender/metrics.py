"""Image comparison metrics (``diffrender compare``): RMSE, relative MSE, PSNR, SSIM, and a
false-colour error image."""
from __future__ import annotations

import matplotlib
import numpy as np
from skimage.metrics import structural_similarity

from .errors import ImageError
from .image import srgb_to_linear


def _pair(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if b.ndim == 2:
        b = b[:, :, None]
    if a.shape[:2] != b.shape[:2]:
        raise ImageError(f"images differ in size: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")
    c = min(a.shape[2], b.shape[2], 3)
    return a[:, :, :c], b[:, :, :c]


def mse(a, ref) -> float:
    a, ref = _pair(a, ref)
    return float(np.mean((a - ref) ** 2))


def rmse(a, ref) -> float:
    return float(np.sqrt(mse(a, ref)))


def relative_mse(a, ref, eps: float = 1e-2) -> float:
    """mean((a - ref)^2 / (ref^2 + eps)), the usual renderer-comparison metric."""
    a, ref = _pair(a, ref)
    return float(np.mean((a - ref) ** 2 / (ref ** 2 + eps)))


def psnr(a, ref, peak: float | None = None) -> float:
    """PSNR in dB; ``peak`` defaults to 1 (images are linear, [0, 1] nominal range)."""
    m = mse(a, ref)
    peak = 1.0 if peak is None else float(peak)
    if m == 0:
        return float("inf")
    return float(10.0 * np.log10(peak * peak / m))


def ssim(a, ref, data_range: float | None = None) -> float:
    """Mean SSIM (Wang et al. 2004, Gaussian window sigma 1.5) over the colour channels, computed
    on the images clipped to [0, data_range] (default 1)."""
    a, ref = _pair(a, ref)
    dr = 1.0 if data_range is None else float(data_range)
    a = np.clip(a, 0, dr)
    ref = np.clip(ref, 0, dr)
    if min(a.shape[:2]) < 7:
        raise ImageError("SSIM needs images of at least 7x7 pixels")
    return float(structural_similarity(a, ref, channel_axis=2, data_range=dr,
                                       gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def compare(a, ref) -> dict[str, float]:
    """All metrics of ``a`` against the reference ``ref``."""
    return {"rmse": rmse(a, ref), "relmse": relative_mse(a, ref), "psnr": psnr(a, ref),
            "ssim": ssim(a, ref)}


#: percentile of the absolute error that the top of the diff image's colour map stands for
ERROR_SCALE_PERCENTILE = 99.5


def error_scale(a, ref) -> float:
    """The absolute error the top of :func:`error_image`'s colour map stands for by default:
    the 99.5th percentile of the per-pixel error (mean over channels), or 1 when that is 0."""
    a, ref = _pair(a, ref)
    return float(np.percentile(np.abs(a - ref).mean(axis=2), ERROR_SCALE_PERCENTILE)) or 1.0


def error_image(a, ref, vmax: float | None = None, cmap: str = "inferno") -> np.ndarray:
    """False-colour image of the per-pixel absolute error (mean over channels), as linear RGB
    float32 (so that writing it to PNG reproduces the colour map's sRGB colours)."""
    a, ref = _pair(a, ref)
    err = np.abs(a - ref).mean(axis=2)
    if vmax is None:
        vmax = float(np.percentile(err, ERROR_SCALE_PERCENTILE)) or 1.0
    rgb = matplotlib.colormaps[cmap](np.clip(err / vmax, 0, 1))[:, :, :3]
    return srgb_to_linear(rgb).astype(np.float32)
