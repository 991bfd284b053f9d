"""Contraction of edge samples (``samplers.py``) into derivatives: with the adjoint image
(reverse mode: per vertex, camera and point-light gradients) or with parameter tangents
(forward mode: the image tangent).

Each sample carries dC (the radiance difference across the discontinuity over its density)
and the gradient of the discontinuity's normal velocity with respect to two vertices, the
camera (through the camera-space point ``l = Rinv (P - o)`` and the intrinsics K) and a point light;
the film's adjoint density (``film.FilmWeights``) weights it by where it lies on the film.
"""

import numpy as np

from ..camera import CameraModel
from ..film import FilmWeights
from .samplers import EdgeSamples


def contract_vjp(samples: EdgeSamples, film: FilmWeights, adj_img, cam: CameraModel, n_verts, n_lights):
    """Gradients of ``sum(adj * I)``: per vertex (n_verts, 3), camera (dR (3,3), do (3,), dK (9,)),
    point lights (n_lights, 3)."""
    gV = np.zeros((max(1, n_verts), 3))
    gR = np.zeros((3, 3))
    go = np.zeros(3)
    gK = np.zeros(9)
    gL = np.zeros((max(1, n_lights), 3))
    if samples is None:
        return gV[:n_verts], (gR, go, gK), gL[:n_lights]
    w = np.einsum("nc,nc->n", film.adjoint(adj_img, samples.x), samples.dC)
    for j in range(2):
        np.add.at(gV, samples.vidx[:, j], w[:, None] * samples.vcoef[:, j])
    # Camera: l = Rinv (P - o):  d l = -Rinv (dR l + do)
    gw = (w[:, None] * samples.cam_cl) @ cam.Rinv          # (N, 3): Rinv^T c_l, weighted
    go = -gw.sum(0)
    gR = -(gw.T @ samples.cam_l)
    gK = w @ samples.cam_cK
    lm = samples.light >= 0
    if np.any(lm):
        np.add.at(gL, samples.light[lm], w[lm, None] * samples.lcoef[lm])
    return gV[:n_verts], (gR, go, gK), gL[:n_lights]


def contract_jvp(samples: EdgeSamples, film: FilmWeights, cam: CameraModel, dV, dR, do, dK, dL):
    """Image tangent for vertex tangents dV (n_verts, 3), camera tangents and light tangents."""
    if samples is None:
        return np.zeros((film.h, film.w, 3))
    v = np.zeros(samples.x.shape[0])
    for j in range(2):
        v += np.einsum("nk,nk->n", samples.vcoef[:, j], dV[samples.vidx[:, j]])
    dl = -(samples.cam_l @ dR.T + do) @ cam.Rinv.T
    v += np.einsum("nk,nk->n", samples.cam_cl, dl) + samples.cam_cK @ dK
    lm = samples.light >= 0
    if np.any(lm) and dL is not None and len(dL):
        v[lm] += np.einsum("nk,nk->n", samples.lcoef[lm], dL[samples.light[lm]])
    return film.splat(samples.x, samples.dC * v[:, None])
