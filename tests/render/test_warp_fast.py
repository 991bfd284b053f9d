"""The branch-free sample warps and the precomputed geometry data of the fast path: the
polynomial cos/sin, the concentric disk map against the textbook (trigonometric, branchy)
formula, the per-triangle unit normals and the per-axis BVH node boxes."""
import math

import numpy as np

from diffrender.engine import ensure_init, ti
from diffrender.render import Renderer
from diffrender.render.geometry import pack_nodes
from tests.helpers.scenes import cornell_box


def _probe():
    from diffrender.render.warp import cos_sin_quarter, square_to_uniform_disk_concentric

    ensure_init()

    @ti.data_oriented
    class Probe:
        @ti.kernel
        def trig(self, a: ti.types.ndarray(), out: ti.types.ndarray()):
            for i in range(a.shape[0]):
                c, s = cos_sin_quarter(a[i])
                out[i, 0] = c
                out[i, 1] = s

        @ti.kernel
        def disk(self, u: ti.types.ndarray(), out: ti.types.ndarray()):
            for i in range(u.shape[0]):
                p = square_to_uniform_disk_concentric(ti.Vector([u[i, 0], u[i, 1]]))
                out[i, 0] = p.x
                out[i, 1] = p.y

    return Probe()


def _concentric_reference(u):
    """Shirley-Chiu in float64, written as in the paper (two wedges, cos/sin of phi)."""
    x = 2.0 * u[:, 0] - 1.0
    y = 2.0 * u[:, 1] - 1.0
    out = np.zeros_like(u)
    for i, (a, b) in enumerate(zip(x, y)):
        if a == 0 and b == 0:
            continue
        if a * a > b * b:
            r, phi = a, math.pi / 4 * (b / a)
        else:
            r, phi = b, math.pi / 2 - math.pi / 4 * (a / b)
        out[i] = r * math.cos(phi), r * math.sin(phi)
    return out


def test_cos_sin_quarter_float32_accurate():
    a = np.linspace(-math.pi / 4, math.pi / 4, 4097).astype(np.float32)
    out = np.zeros((a.size, 2), np.float32)
    _probe().trig(a, out)
    a64 = a.astype(np.float64)
    assert np.abs(out[:, 0] - np.cos(a64)).max() < 2.5e-7
    assert np.abs(out[:, 1] - np.sin(a64)).max() < 2.5e-7
    assert out[2048, 0] == 1.0 and out[2048, 1] == 0.0  # a = 0


def test_concentric_disk_matches_textbook_map():
    rng = np.random.default_rng(3)
    grid = (np.arange(33) / 32.0).clip(0, 0.99999994)
    gu, gv = np.meshgrid(grid, grid)
    u = np.concatenate([rng.random((20000, 2)), np.stack([gu.ravel(), gv.ravel()], 1)])
    u = u.astype(np.float32)
    out = np.zeros_like(u)
    _probe().disk(u, out)
    ref = _concentric_reference(u.astype(np.float64))
    assert np.all(np.isfinite(out))
    assert np.abs(out - ref).max() < 1e-6
    centre = np.flatnonzero((u[:, 0] == 0.5) & (u[:, 1] == 0.5))
    assert centre.size == 1 and np.all(out[centre[0]] == 0.0)
    assert np.hypot(out[:, 0], out[:, 1]).max() <= 1.0 + 1e-6


def test_triangle_normals_and_node_layout():
    ensure_init()
    r = Renderer(cornell_box(res=8, spp=1))
    g = r.geometry
    n = g.n_tris
    tris = g.tris.to_numpy()
    e1 = tris["e1"][:n].astype(np.float64)
    e2 = tris["e2"][:n].astype(np.float64)
    ng = np.cross(e1, e2)
    ng /= np.linalg.norm(ng, axis=1, keepdims=True)
    np.testing.assert_allclose(g.tri_n.to_numpy()[:n], ng, atol=1e-7)
    # Per-axis boxes: (left lo, right lo, left hi, right hi) of each internal node.
    nodes = pack_nodes(g.bvh, g.nodes.shape[0])
    b = g.bvh
    internal = np.flatnonzero(b.count == 0)
    lc = b.first[internal]
    for k, name in enumerate(("bx", "by", "bz")):
        box = nodes[name][:internal.size]
        assert np.all(box[:, 0] <= b.lo[lc, k] + 1e-3) and np.all(box[:, 2] >= b.hi[lc, k] - 1e-3)
        assert np.all(box[:, 1] <= b.lo[lc + 1, k] + 1e-3)
        assert np.all(box[:, 3] >= b.hi[lc + 1, k] - 1e-3)
    assert np.all(nodes["bx"][internal.size:, :2] == np.inf)
    assert nodes["pad"].shape == (g.nodes.shape[0], 2)
