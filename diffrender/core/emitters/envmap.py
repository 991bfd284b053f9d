"""Environment map — Mitsuba's ``envmap``: radiance from a latitude-longitude image.

Convention (Mitsuba 3's): a world direction ``d`` is mapped to the emitter's local frame
(``to_world`` inverse), then ``u = atan2(x, -z) / (2 pi)`` (wrapped to [0, 1)) and
``v = acos(y) / pi``: the image's top row is local +Y (up), its left edge looks along local -Z
and its centre column along +Z. Texel ``(col, row)`` has its centre at ``u = (col + 0.5) / W``
and ``v = row / (H - 1)`` (Mitsuba's envmap lookup: bilinear, the poles on the first and last
rows, wrapping in u).

Equation: ``L(d) = scale * bitmap(u(d), v(d))`` for rays that miss all geometry.

Sampling (as Mitsuba's, which warps by the bilinear interpolant of the image): the density over
the (u, v) square is the bilinear interpolant of ``q = luminance * sin(theta)`` (plus a small
floor, so that no lit direction has zero density) taken at the texel positions, the same grid
the radiance is interpolated on, so a bright texel (a sun) is sampled where its interpolated
radiance is. A cell between four texels is chosen through a marginal CDF over rows and
conditional CDFs over columns, then a point in it by inverting the bilinear patch (a linear
density in v, then in u). Per unit cell area the density is ``bilinear(q) / norm`` (``norm``
the grid's integral), and in solid angle ``p(x, y) W (H - 1) / (2 pi^2 sin theta)``. Multiple
importance sampling with the BSDF samples uses this density.

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
from ...scene.spec import Param, PluginSpec
from ..types import INV_PI, PI
from ..warp import floor_f

SPEC = PluginSpec("emitter", "envmap", {
    "filename": Param("string", None, "lat-long image (EXR, HDR, PNG, JPEG)"),
    "scale": Param("float", 1.0, "radiance multiplier", diff=True),
    "to_world": Param("transform", None, "rotation of the environment")},
    doc="environment map", code=5,
    model={"radiance": Param("spectrum", None, "the image's texels (linear RGB)", diff=True)})


def build_distribution(data: np.ndarray):
    """The sampling density of an H x W x 3 lat-long image (module docstring, Sampling).

    Returns ``q`` (H', W): luminance x sin(theta) (+ a floor) at the texel positions, the grid
    the density interpolates bilinearly (H' = max(H, 2): a one-row image is its row twice);
    the row CDF over the H' - 1 rows of cells; the column CDFs (H' - 1, W) within each row; and
    ``norm``, the integral of the bilinear interpolant over the grid in cell units (so that
    the density per unit cell area is ``bilinear(q) / norm``)."""
    data = np.asarray(data, np.float64)
    if data.shape[0] == 1:
        data = np.concatenate([data, data], axis=0)
    h, w = data.shape[:2]
    lum = np.maximum(data[:, :, 0] * 0.2126 + data[:, :, 1] * 0.7152 + data[:, :, 2] * 0.0722,
                     0.0)
    sin_t = np.sin(np.pi * np.arange(h) / (h - 1))[:, None]  # row r at v = r / (H - 1)
    sin_t = np.maximum(sin_t, 0.0)
    q = lum * sin_t
    floor = 1e-3 * q.mean() if q.mean() > 0 else 1.0
    q = q + floor * sin_t
    # cell (r, c): between rows r, r + 1 and columns c, c + 1 (mod W); its integral is the mean
    # of its four corners
    qn = np.roll(q, -1, axis=1)
    cell = 0.25 * (q[:-1] + qn[:-1] + q[1:] + qn[1:])
    rows = cell.sum(axis=1)
    norm = rows.sum()
    row_cdf = np.cumsum(rows) / norm
    row_cdf[-1] = 1.0
    col_cdf = np.cumsum(cell, axis=1) / np.maximum(rows[:, None], 1e-300)
    col_cdf[:, -1] = 1.0
    return (q.astype(np.float32), row_cdf.astype(np.float32), col_cdf.astype(np.float32),
            float(norm))


@ti.func
def sample_linear(v0, v1, u):
    """t in [0, 1] with density proportional to (1 - t) v0 + t v1 (v0, v1 >= 0)."""
    t = u
    if ti.abs(v0 - v1) > 1e-4 * (v0 + v1):
        t = (v0 - ti.sqrt(ti.max((1.0 - u) * v0 * v0 + u * v1 * v1, 0.0))) / (v0 - v1)
    return ti.min(ti.max(t, 0.0), 1.0)


@ti.func
def bilerp(q00, q10, q01, q11, s, t):
    """The bilinear patch with corners q00 (s = t = 0), q10 (s = 1), q01 (t = 1), q11 at (s, t)."""
    return (1.0 - t) * ((1.0 - s) * q00 + s * q10) + t * ((1.0 - s) * q01 + s * q11)


@ti.func
def grid_coords(uv, w, h):
    """(column, row) of the cell holding lat-long uv and the position (s, t) in it: texel
    column c sits at u = (c + 0.5) / W (wrapping), row r at v = r / (H - 1)."""
    x = uv.x * w - 0.5
    x = x - floor_f(x / w) * w
    y = uv.y * (h - 1)
    c = ti.min(ti.cast(x, ti.i32), w - 1)
    r = ti.min(ti.cast(y, ti.i32), h - 2)
    return c, r, x - c, y - r


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
