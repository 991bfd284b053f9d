"""Procedural textures and mesh of ``scenes/normal-map`` (and, at 32 x 32, of the test scene
``tests/data/reference/normalmap/``): ``python make_textures.py [size] [out_dir] [mesh_dir]``.

- ``tiles_normal.png``: a tangent-space normal map (raw RGB, ``(n + 1) / 2``) of 4 x 4 square
  tiles with bevelled edges and a shallow dimple in each tile, from the height field ``h`` as
  ``n = normalize(-k dh/du, -k dh/dv, 1)`` (u along the columns, v along the rows, as the
  ``bitmap`` texture looks images up).
- ``waves_height.png``: a grey-scale height map (raw) of crossed sine ridges, for ``bumpmap``.
- ``../meshes/uvsphere.obj``: a unit latitude-longitude sphere (24 x 12 quads) with texture
  coordinates (u around the pole axis y, v from pole to pole), so that the bump map has a
  smooth uv tangent frame (Mitsuba's analytic ``sphere`` and our tessellated one differ slightly
  in dp/du; a mesh is the same in both renderers).
"""
import os
import sys

import numpy as np
from PIL import Image


def tiles_height(n):
    u = (np.arange(n) + 0.5) / n
    U, V = np.meshgrid(u, u)  # U along columns, V along rows
    fu, fv = (U * 4) % 1.0, (V * 4) % 1.0
    edge = np.minimum.reduce([fu, 1 - fu, fv, 1 - fv])
    bevel = np.clip(edge / 0.12, 0.0, 1.0)
    r2 = (fu - 0.5) ** 2 + (fv - 0.5) ** 2
    dimple = -0.5 * np.exp(-r2 / 0.02)
    return 0.05 * (bevel + 0.3 * dimple)


def normal_map(n):
    h = tiles_height(n)
    dv, du = np.gradient(h, 1.0 / n)  # d/d(row) = d/dv, d/d(column) = d/du
    nrm = np.stack([-du, -dv, np.ones_like(h)], axis=-1)
    nrm /= np.linalg.norm(nrm, axis=-1, keepdims=True)
    return np.round((nrm + 1) * 0.5 * 255).astype(np.uint8)


def height_map(n):
    u = (np.arange(n) + 0.5) / n
    U, V = np.meshgrid(u, u)
    h = 0.5 + 0.25 * np.sin(2 * np.pi * 3 * U) + 0.25 * np.sin(2 * np.pi * 2 * (U + V))
    return np.round(np.clip(h, 0, 1) * 255).astype(np.uint8)


def uv_sphere_obj(nu=24, nv=12):
    lines = []
    for j in range(nv + 1):
        th = np.pi * j / nv
        for i in range(nu + 1):
            ph = 2 * np.pi * i / nu
            lines.append(f"v {np.sin(th) * np.cos(ph):.7f} {np.cos(th):.7f} "
                         f"{-np.sin(th) * np.sin(ph):.7f}")
    for j in range(nv + 1):
        for i in range(nu + 1):
            lines.append(f"vt {i / nu:.7f} {1 - j / nv:.7f}")
    for j in range(nv):
        for i in range(nu):
            a = j * (nu + 1) + i + 1
            b, c, d = a + 1, a + nu + 1, a + nu + 2
            if j > 0:
                lines.append(f"f {a}/{a} {c}/{c} {b}/{b}")
            if j < nv - 1:
                lines.append(f"f {b}/{b} {c}/{c} {d}/{d}")
    return "\n".join(lines) + "\n"


def main(size=128, out=None, mesh_dir=None):
    here = os.path.dirname(os.path.abspath(__file__))
    out = out or here
    Image.fromarray(normal_map(size), "RGB").save(os.path.join(out, "tiles_normal.png"))
    Image.fromarray(height_map(size), "L").save(os.path.join(out, "waves_height.png"))
    mesh_dir = mesh_dir or os.path.join(here, "..", "meshes")
    os.makedirs(mesh_dir, exist_ok=True)
    with open(os.path.join(mesh_dir, "uvsphere.obj"), "w") as f:
        f.write(uv_sphere_obj())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 128,
         sys.argv[2] if len(sys.argv) > 2 else None, sys.argv[3] if len(sys.argv) > 3 else None)
