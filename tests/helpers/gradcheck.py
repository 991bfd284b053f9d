"""Shared finite-difference helpers for gradient tests."""
from __future__ import annotations

import numpy as np


def central_difference(f, x, eps=1e-6, indices=None):
    """d f / d x by central differences; ``f`` maps a float64 array of x's shape to a scalar.

    ``indices`` limits the check to some flat indices (returns their derivatives only)."""
    x = np.array(x, dtype=np.float64)
    flat = x.reshape(-1)
    idx = range(flat.size) if indices is None else indices
    out = []
    for i in idx:
        old = flat[i]
        flat[i] = old + eps
        fp = f(x.copy())
        flat[i] = old - eps
        fm = f(x.copy())
        flat[i] = old
        out.append((fp - fm) / (2 * eps))
    out = np.array(out)
    return out.reshape(x.shape) if indices is None else out


def assert_grad_close(actual, expected, rtol=1e-4, atol=1e-8, what="gradient"):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    err = np.abs(actual - expected)
    ok = err <= atol + rtol * np.abs(expected)
    if not np.all(ok):
        i = np.argmax(err - rtol * np.abs(expected))
        raise AssertionError(f"{what}: {actual.ravel()[i]} vs finite difference {expected.ravel()[i]} "
                             f"(worst of {actual.size}; max abs err {err.max():.3g})")
