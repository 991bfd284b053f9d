"""Parametrizations of geometry for ``diffrender optimize``: the optimizer works on variables,
the scene receives parameter values, gradients are chained back.

- :class:`Direct`: the variable is the scene parameter (colours, textures, fov, light position).
- :class:`Pose`: ``<shape or sensor>.to_world`` as ``translate`` (world-space offset, scene
  units) and/or ``rotate`` (rotation vector in degrees, or an angle in degrees about a fixed
  ``axis``) about a pivot ``c`` (default: the centre of the shape's bounding box, or the
  camera's position), applied on top of the scene's matrix: ``M = [R(r), c + t - R(r) c] @ M0``.
  The matrix stays rigid whatever the step. A ``mask`` per part keeps some components at their
  initial value (e.g. a translation in x and y only).
- :class:`Mesh`: ``<shape>.vertex_positions`` with a smoothness prior, no remeshing (the
  triangles never change; coincident vertices of split meshes move together):
  ``laplacian`` adds ``weight / 2 * ||L V||^2`` (uniform Laplacian) to the loss;
  ``large_steps`` optimizes ``u = (I + lambda L) V`` (Nicolet, Jacobson, Jakob 2021,
  "Large Steps in Inverse Rendering of Geometry"): the gradient reaching the vertices is
  ``(I + lambda L)^-1`` times the mesh gradient, a smoothed, well-conditioned step.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from ..errors import ConfigError


def rotation(r_deg) -> np.ndarray:
    """Rodrigues: the rotation by ``|r|`` degrees about ``r``."""
    r = np.radians(np.asarray(r_deg, np.float64))
    a = float(np.linalg.norm(r))
    if a < 1e-12:
        K = np.array([[0, -r[2], r[1]], [r[2], 0, -r[0]], [-r[1], r[0], 0]])
        return np.eye(3) + K
    k = r / a
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


class Direct:
    def __init__(self, name, init):
        self.name = name
        self.init = {name: np.asarray(init, np.float64)}

    def scene_values(self, v):
        return {self.name: v[self.name]}

    def chain(self, v, g):
        return {self.name: np.asarray(g[self.name], np.float64)}

    def regularizer(self, v):
        return 0.0, {}


class Pose:
    """A rigid pose on top of ``M0``. ``translate`` / ``rotate``: initial values (3 numbers; with
    ``axis``, ``rotate`` is one angle in degrees about that axis through ``centre``);
    ``masks``: ``{"translate" | "rotate": 3 booleans}``, the components that move (the others stay
    at their initial values and get a zero gradient)."""

    def __init__(self, name, M0, centre, translate=None, rotate=None, axis=None, masks=None):
        self.name = name
        self.M0 = np.asarray(M0, np.float64)
        self.c = np.asarray(centre, np.float64)
        self.axis = None if axis is None else np.asarray(axis, np.float64) / np.linalg.norm(axis)
        self.init = {}
        if translate is not None:
            self.init[name + ".translate"] = np.asarray(translate, np.float64).reshape(3)
        if rotate is not None:
            self.init[name + ".rotate"] = np.asarray(rotate, np.float64).reshape(1 if axis is not None else 3)
        self.masks = {k: np.asarray(m, bool).reshape(3) for k, m in (masks or {}).items()}

    def _part(self, v, part):
        key = f"{self.name}.{part}"
        if key not in v:
            return np.zeros(3)
        x = np.asarray(v[key], np.float64)
        if part == "rotate" and self.axis is not None:
            return float(x.reshape(-1)[0]) * self.axis
        m = self.masks.get(part)
        return x.reshape(3) if m is None else np.where(m, x.reshape(3), self.init[key])

    def _parts(self, v):
        return self._part(v, "translate"), self._part(v, "rotate")

    def _A(self, t, r):
        R = rotation(r)
        A = np.eye(4)
        A[:3, :3] = R
        A[:3, 3] = self.c + t - R @ self.c
        return A

    def scene_values(self, v):
        t, r = self._parts(v)
        return {self.name: self._A(t, r) @ self.M0}

    def chain(self, v, g):
        G = np.asarray(g[self.name], np.float64)
        gA = G @ self.M0.T
        out = {}
        if self.name + ".translate" in v:
            out[self.name + ".translate"] = gA[:3, 3].copy()
        if self.name + ".rotate" in v:
            t, r = self._parts(v)
            gR = gA[:3, :3] - np.outer(gA[:3, 3], self.c)
            h = 1e-4
            dirs = [self.axis] if self.axis is not None else list(np.eye(3))
            gr = np.array([float((gR * (rotation(r + h * e) - rotation(r - h * e))).sum()) / (2 * h)
                           for e in dirs])
            out[self.name + ".rotate"] = gr
        for part, m in self.masks.items():
            key = f"{self.name}.{part}"
            if key in out:
                out[key] = np.where(m, out[key], 0.0)
        return out

    def regularizer(self, v):
        return 0.0, {}


def uniform_laplacian(n, faces):
    f = np.asarray(faces, np.int64)
    i = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    j = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    A = sp.coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)).tocsr()
    A.data[:] = 1.0  # edges shared by two faces counted once
    deg = np.asarray(A.sum(1)).ravel()
    return (sp.diags(deg) - A).tocsc()  # combinatorial Laplacian (positive semi-definite)


class Mesh:
    def __init__(self, name, V0, faces, method="large_steps", weight=10.0):
        self.name = name
        V0 = np.asarray(V0, np.float64).reshape(-1, 3)
        tol = 1e-9 * max(float(np.abs(V0).max()), 1e-30)  # seams equal up to round-off
        _, first, inv = np.unique(np.round(V0 / tol), axis=0, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        self.inv = inv
        self.n_unique = first.size
        U0 = V0[first]
        F = inv[np.asarray(faces, np.int64)]
        self.L = uniform_laplacian(self.n_unique, F)
        self.method = method
        self.weight = float(weight)
        if method == "large_steps":
            self.M = (sp.identity(self.n_unique, format="csc") + self.weight * self.L).tocsc()
            self.solver = splu(self.M)
            self.init = {name: np.asarray(self.M @ U0)}
        elif method in ("laplacian", "none"):
            self.init = {name: U0}
        else:
            raise ConfigError(f"unknown smoothing method '{method}' (expected large_steps, laplacian or none)")

    def unique_positions(self, v):
        u = v[self.name]
        if self.method == "large_steps":
            return np.column_stack([self.solver.solve(u[:, k]) for k in range(3)])
        return u

    def scene_values(self, v):
        return {self.name: self.unique_positions(v)[self.inv]}

    def chain(self, v, g):
        G = np.asarray(g[self.name], np.float64).reshape(-1, 3)
        gU = np.zeros((self.n_unique, 3))
        np.add.at(gU, self.inv, G)
        if self.method == "large_steps":  # V = M^-1 u, M symmetric
            gU = np.column_stack([self.solver.solve(gU[:, k]) for k in range(3)])
        return {self.name: gU}

    def regularizer(self, v):
        if self.method != "laplacian" or self.weight == 0:
            return 0.0, {}
        U = v[self.name]
        LU = self.L @ U
        return 0.5 * self.weight * float((LU * LU).sum()), {self.name: self.weight * (self.L.T @ LU)}
