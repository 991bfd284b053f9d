"""Image losses. Each returns ``(loss, adjoint)`` where ``adjoint`` is d loss / d image, the
input of a vector-Jacobian product through the renderer or a filter pipeline.

All losses are means over pixels and channels (so their scale does not depend on resolution):

- ``l1``:      mean |x - y|                       (adjoint sign(x - y) / N)
- ``l2``:      mean (x - y)^2                     (adjoint 2 (x - y) / N)
- ``relative_l2``: mean (x - y)^2 / (y^2 + eps)   (eps = 1e-2, the target is treated as constant)
- ``l2_srgb``: mean (s(x) - s(y))^2 with s the exact sRGB encoding curve, so errors weigh as they
  look on screen (linear values are clamped at 0 first; the adjoint includes s'(x)).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def _check(x, y):
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ConfigError(f"loss: image shape {x.shape} does not match target shape {y.shape}")
    return x, y


def l1(x, y):
    x, y = _check(x, y)
    d = x - y
    return float(np.mean(np.abs(d))), (np.sign(d) / d.size).astype(np.float32)


def l2(x, y):
    x, y = _check(x, y)
    d = x - y
    return float(np.mean(d * d)), (2.0 * d / d.size).astype(np.float32)


def relative_l2(x, y, eps: float = 1e-2):
    x, y = _check(x, y)
    d = x - y
    w = 1.0 / (y * y + eps)
    return float(np.mean(d * d * w)), (2.0 * d * w / d.size).astype(np.float32)


def _srgb(x):
    x = np.maximum(x, 0.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _srgb_deriv(x):
    pos = x > 0
    xs = np.maximum(x, 1e-12)
    d = np.where(xs <= 0.0031308, 12.92, 1.055 / 2.4 * np.power(xs, 1 / 2.4 - 1.0))
    return np.where(pos, d, 0.0)


def l2_srgb(x, y):
    x, y = _check(x, y)
    d = _srgb(x) - _srgb(y)
    return float(np.mean(d * d)), (2.0 * d * _srgb_deriv(x) / d.size).astype(np.float32)


LOSSES = {"l1": l1, "l2": l2, "relative_l2": relative_l2, "l2_srgb": l2_srgb}


def get_loss(name: str):
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown loss '{name}': expected one of {', '.join(LOSSES)}") from None
