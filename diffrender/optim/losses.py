"""Image losses. Each returns ``(loss, adjoint)`` where ``adjoint`` is d loss / d image, the
input of a vector-Jacobian product through the renderer or a filter pipeline.

All losses are means over pixels and channels (so their scale does not depend on resolution);
with per-pixel ``weights`` (an ``(H, W)`` or ``(H, W, 1)`` map, e.g. a mask: 0 ignores a pixel),
the weighted mean ``sum(w t) / sum(w)`` over the pixels' channels, so a mask does not change the
loss's scale either:

- ``l1``:      mean |x - y|                       (adjoint sign(x - y) / N)
- ``l2``:      mean (x - y)^2                     (adjoint 2 (x - y) / N)
- ``relative_l2``: mean (x - y)^2 / (y^2 + eps)   (eps = 1e-2, the target is treated as constant)
- ``l2_srgb``: mean (s(x) - s(y))^2 with s the exact sRGB encoding curve, so errors weigh as they
  look on screen (linear values are clamped at 0 first; the adjoint includes s'(x)).
- ``charbonnier``: mean sqrt((x - y)^2 + eps^2) - eps (eps = 1e-3), a robust (L1-like) loss
  for photographs: outliers (specular highlights, compression artefacts, moving clutter) pull
  with a bounded force.

``silhouette(alpha, mask)`` compares a render's coverage (alpha) with a target mask:
mean (alpha - mask)^2 over the pixels (adjoint 2 (alpha - mask) / N), unweighted: the mask is
the target here, not a weight.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError


RELATIVE_EPS = 1e-2
CHARBONNIER_EPS = 1e-3


def _check(x, y):
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ConfigError(f"loss: image shape {x.shape} does not match target shape {y.shape}")
    return x, y


def _srgb(x):
    x = np.maximum(x, 0.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _srgb_deriv(x):
    pos = x > 0
    xs = np.maximum(x, 1e-12)
    d = np.where(xs <= 0.0031308, 12.92, 1.055 / 2.4 * np.power(xs, 1 / 2.4 - 1.0))
    return np.where(pos, d, 0.0)


# Per-element terms: (x, y) -> (term, d term / d x).

def _l1_term(x, y):
    d = x - y
    return np.abs(d), np.sign(d)


def _l2_term(x, y):
    d = x - y
    return d * d, 2.0 * d


def _relative_l2_term(x, y):
    d = x - y
    w = 1.0 / (y * y + RELATIVE_EPS)  # the target is treated as constant
    return d * d * w, 2.0 * d * w


def _l2_srgb_term(x, y):
    d = _srgb(x) - _srgb(y)
    return d * d, 2.0 * d * _srgb_deriv(x)


def _charbonnier_term(x, y):
    d = x - y
    r = np.sqrt(d * d + CHARBONNIER_EPS ** 2)
    return r - CHARBONNIER_EPS, d / r


def _weights(weights, shape):
    w = np.asarray(weights, np.float64)
    if w.ndim == 2:
        w = w[:, :, None]
    if w.shape[:2] != shape[:2] or w.ndim != 3 or w.shape[2] not in (1, shape[2]):
        raise ConfigError(f"loss: weights of shape {w.shape} do not match the image {shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ConfigError("loss: weights must be finite and >= 0")
    return np.broadcast_to(w, shape)


def _make(term):
    def loss(x, y, weights=None):
        x, y = _check(x, y)
        t, dt = term(x, y)
        if weights is None:
            return float(np.mean(t)), (dt / t.size).astype(np.float32)
        w = _weights(weights, x.shape)
        total = float(w.sum())
        if total <= 0.0:
            return 0.0, np.zeros(x.shape, np.float32)
        return float((w * t).sum() / total), (w * dt / total).astype(np.float32)

    loss.__name__ = term.__name__[1:-5]
    return loss


l1 = _make(_l1_term)
l2 = _make(_l2_term)
relative_l2 = _make(_relative_l2_term)
l2_srgb = _make(_l2_srgb_term)
charbonnier = _make(_charbonnier_term)


def silhouette(alpha, mask):
    """``(loss, d loss / d alpha)`` of an (H, W) coverage against an (H, W) mask in [0, 1]."""
    loss, adj = l2(np.asarray(alpha, np.float64)[:, :, None], np.asarray(mask, np.float64)[:, :, None])
    return loss, adj[:, :, 0]


LOSSES = {"l1": l1, "l2": l2, "relative_l2": relative_l2, "l2_srgb": l2_srgb,
          "charbonnier": charbonnier}


def get_loss(name: str):
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown loss '{name}': expected one of {', '.join(LOSSES)}") from None
