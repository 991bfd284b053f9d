"""Environment map — Mitsuba's ``envmap``: radiance from a latitude-longitude image.

Convention (Mitsuba 3's): a world direction ``d`` is mapped to the emitter's local frame
(``to_world`` inverse), then ``u = atan2(x, -z) / (2 pi)`` (wrapped to [0, 1)) and
``v = acos(y) / pi``: the image's top row is local +Y (up), its left edge looks along local -Z
and its centre column along +Z. Texel ``(col, row)`` has its centre at ``u = (col + 0.5) / W``
and ``v = row / (H - 1)`` (Mitsuba's envmap lookup: bilinear, the poles on the first and last
rows, wrapping in u).

Equation: ``L(d) = scale * bitmap(u(d), v(d))`` for rays that miss all geometry.

Sampling: a piecewise-constant 2D distribution over the ``W x H`` cells of the (u, v) square,
cell weight ``luminance * sin(theta)`` (plus a small floor so that no lit direction has zero
density), chosen through a marginal CDF over rows and conditional CDFs over columns; the
density in solid angle is ``p_cell W H / (2 pi^2 sin theta)``. Multiple importance sampling
with the BSDF samples uses this density.

Parameters: ``filename`` (EXR, HDR, PNG, JPEG; 8-bit images are sRGB-decoded), ``scale``
(1.0; differentiable), ``to_world`` (rotation); the texels are differentiable too
(``<emitter>.radiance.data``).

Scene snippet::

    <emitter type="envmap">
        <string name="filename" value="textures/sky.exr"/>
        <float name="scale" value="1.5"/>
    </emitter>
"""

import numpy as np

from ...engine import ti
from ..types import INV_PI, PI
from ..warp import floor_f

NAME = "envmap"
PARAMS = ("radiance", "scale")


def build_distribution(data: np.ndarray):
    """(row CDF (H,), column CDFs (H, W), cell probabilities (H, W)) of an H x W x 3 image."""
    h, w = data.shape[:2]
    lum = data[:, :, 0] * 0.2126 + data[:, :, 1] * 0.7152 + data[:, :, 2] * 0.0722
    lum = np.maximum(lum.astype(np.float64), 0.0)
    sin_t = np.sin(np.pi * (np.arange(h) + 0.5) / h)[:, None]
    wgt = lum * sin_t
    floor = 1e-3 * wgt.mean() if wgt.mean() > 0 else 1.0
    wgt = wgt + floor * sin_t
    rows = wgt.sum(axis=1)
    total = rows.sum()
    row_cdf = np.cumsum(rows) / total
    row_cdf[-1] = 1.0
    col_cdf = np.cumsum(wgt, axis=1) / rows[:, None]
    col_cdf[:, -1] = 1.0
    pcell = wgt / total
    return row_cdf.astype(np.float32), col_cdf.astype(np.float32), pcell.astype(np.float32)


@ti.func
def dir_to_uv(d_local):
    """Mitsuba's lat-long coordinates of a unit local direction."""
    u = ti.atan2(d_local.x, -d_local.z) * (0.5 * INV_PI)
    u = u - floor_f(u)
    v = ti.acos(ti.min(ti.max(d_local.y, -1.0), 1.0)) * INV_PI
    return ti.Vector([u, v])


@ti.func
def uv_to_dir(uv):
    phi = 2.0 * PI * uv.x
    theta = PI * uv.y
    st = ti.sin(theta)
    return ti.Vector([st * ti.sin(phi), ti.cos(theta), -st * ti.cos(phi)])


@ti.func
def texture_uv(uv, h):
    """(u, v) of the lat-long map -> the bitmap texture's uv, so that the bilinear lookup puts
    row r at v = r / (H - 1) as Mitsuba's envmap does."""
    hf = ti.cast(h, ti.f32)
    return ti.Vector([uv.x, (uv.y * (hf - 1.0) + 0.5) / hf])
