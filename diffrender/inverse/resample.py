"""Resampling a target image (or mask) to a sensor's film size.

``area``: each film pixel is the average of the target image over the film pixel's footprint
(the fraction of each target pixel it covers weighs that pixel): exact box filtering for any
ratio, so a photo downscaled to the film keeps its mean radiance. ``bilinear``: bilinear
interpolation at the film pixels' centres (for upsampling, or when aliasing does not matter).
``undistort``: a photo through a camera with distortion and an off-centre principal point,
resampled to the ideal pinhole camera a sensor renders (what COLMAP's image undistorter does).
"""
from __future__ import annotations

import cv2
import numpy as np


def _area_matrix(n_src: int, n_dst: int) -> np.ndarray:
    """(n_dst, n_src) weights: overlap of destination pixel j's interval with source pixel i's,
    both in units of the source axis, normalised per row."""
    edges = np.linspace(0.0, n_src, n_dst + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    src = np.arange(n_src)[None, :]
    overlap = np.clip(np.minimum(hi, src + 1.0) - np.maximum(lo, src), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _bilinear_matrix(n_src: int, n_dst: int) -> np.ndarray:
    x = (np.arange(n_dst) + 0.5) * n_src / n_dst - 0.5
    x = np.clip(x, 0.0, n_src - 1.0)
    i0 = np.floor(x).astype(int)
    i1 = np.minimum(i0 + 1, n_src - 1)
    f = x - i0
    m = np.zeros((n_dst, n_src))
    m[np.arange(n_dst), i0] += 1.0 - f
    m[np.arange(n_dst), i1] += f
    return m


def resample(img: np.ndarray, size: tuple[int, int], method: str = "area") -> np.ndarray:
    """``img`` (H, W, C) resampled to ``size`` = (height, width)."""
    make = _area_matrix if method == "area" else _bilinear_matrix
    a = np.asarray(img, np.float64)
    my = make(a.shape[0], size[0])
    mx = make(a.shape[1], size[1])
    out = np.einsum("ij,jkc,lk->ilc", my, a, mx)
    return out.astype(np.float32)


def undistort(img: np.ndarray, camera, pinhole) -> np.ndarray:
    """``img`` (H, W, C), taken by ``camera`` (a ``datasets.CameraModel`` of the image's size,
    with its principal point and Brown–Conrady distortion), as the ideal pinhole ``pinhole``
    (same size, no distortion) sees it: each output pixel centre is mapped through ``pinhole``'s
    inverse and ``camera``'s distortion into the photo and interpolated bilinearly there
    (pixels outside the photo get 0)."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    xy = np.stack([(xs - pinhole.cx) / pinhole.fx, (ys - pinhole.cy) / pinhole.fy], axis=-1)
    xd = camera.distort(xy)
    map_x = (camera.fx * xd[..., 0] + camera.cx - 0.5).astype(np.float32)
    map_y = (camera.fy * xd[..., 1] + camera.cy - 0.5).astype(np.float32)
    src = np.ascontiguousarray(img, np.float32)
    out = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(img.shape)
