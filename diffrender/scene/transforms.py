"""4x4 float64 transforms, composed exactly as Mitsuba 3 composes them.

Column vectors (``p_world = M @ [p, 1]``). Inside ``<transform>`` every operation multiplies
the transform built so far on the LEFT: ``<translate/><rotate/>`` gives ``R @ T``.
"""
from __future__ import annotations

import numpy as np


def translate(v) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = np.asarray(v, np.float64).reshape(3)
    return m


def scale(v) -> np.ndarray:
    v = np.broadcast_to(np.asarray(v, np.float64).reshape(-1), (3,))
    return np.diag([v[0], v[1], v[2], 1.0])


def rotate(axis, angle_deg: float) -> np.ndarray:
    """Right-handed rotation by ``angle_deg`` degrees about ``axis`` (normalised), as Mitsuba's
    ``Transform4f::rotate``."""
    a = np.asarray(axis, np.float64).reshape(3)
    n = np.linalg.norm(a)
    if not np.isfinite(n) or n == 0.0:
        raise ValueError("rotation axis must be a non-zero vector")
    a = a / n
    th = np.radians(angle_deg)
    c, s = np.cos(th), np.sin(th)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    m = np.eye(4)
    m[:3, :3] = c * np.eye(3) + s * k + (1.0 - c) * np.outer(a, a)
    return m


def coordinate_system(n) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to unit ``n`` (Duff et al. 2017, as Mitsuba)."""
    n = np.asarray(n, np.float64)
    sign = 1.0 if n[2] >= 0 else -1.0
    a = -1.0 / (sign + n[2])
    b = n[0] * n[1] * a
    s = np.array([1.0 + sign * n[0] * n[0] * a, sign * b, -sign * n[0]])
    t = np.array([b, sign + n[1] * n[1] * a, -n[1]])
    return s, t


def lookat(origin, target, up=None) -> np.ndarray:
    """Camera-to-world matrix: columns ``left, up', dir, origin`` (camera looks along +Z,
    +X is left), as Mitsuba's ``Transform4f::look_at``. ``up=None`` or zero picks one."""
    o = np.asarray(origin, np.float64).reshape(3)
    t = np.asarray(target, np.float64).reshape(3)
    d = t - o
    nd = np.linalg.norm(d)
    if nd == 0.0 or not np.isfinite(nd):
        raise ValueError("lookat origin and target coincide")
    d = d / nd
    u = np.zeros(3) if up is None else np.asarray(up, np.float64).reshape(3)
    if not np.any(u):
        u, _ = coordinate_system(d)
    left = np.cross(u, d)
    nl = np.linalg.norm(left)
    if nl < 1e-12 or not np.isfinite(nl):
        raise ValueError("lookat 'up' is parallel to the viewing direction")
    left = left / nl
    new_up = np.cross(d, left)
    m = np.eye(4)
    m[:3, 0] = left
    m[:3, 1] = new_up
    m[:3, 2] = d
    m[:3, 3] = o
    return m


def matrix(values) -> np.ndarray:
    """16 values (row-major 4x4) or 9 values (row-major 3x3, embedded in an identity 4x4)."""
    v = np.asarray(values, np.float64).reshape(-1)
    if v.size == 16:
        return v.reshape(4, 4).copy()
    if v.size == 9:
        m = np.eye(4)
        m[:3, :3] = v.reshape(3, 3)
        return m
    raise ValueError(f"matrix needs 16 or 9 values, got {v.size}")


def transform_points(m: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, np.float64)
    h = p @ m[:3, :3].T + m[:3, 3]
    return h


def transform_normals(m: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Normals go through the inverse transpose and are renormalised."""
    it = np.linalg.inv(m[:3, :3]).T
    out = np.asarray(n, np.float64) @ it.T
    ln = np.linalg.norm(out, axis=-1, keepdims=True)
    return out / np.where(ln > 0, ln, 1.0)


def to_uv_3x3(m4: np.ndarray) -> np.ndarray:
    """Mitsuba's ``to_uv``: the 2D affine part (rows/columns x, y, w) of a 4x4 transform."""
    idx = [0, 1, 3]
    return np.asarray(m4, np.float64)[np.ix_(idx, idx)].copy()
