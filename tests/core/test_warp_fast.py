"""The branch-free sample warps and the precomputed geometry data of the fast path: the
polynomial cos/sin, the concentric disk map against the textbook (trigonometric, branchy)
formula, the per-triangle unit normals and the per-axis BVH node boxes."""
import math

import numpy as np

from diffrender.engine import ensure_init, ti
from diffrender.core import Renderer
from diffrender.core.geometry import BOX_ROWS, PACKET_ROWS, pack_wide
from tests.helpers.scenes import cornell_box


def _probe():
    from diffrender.core.warp import cos_sin_quarter, square_to_uniform_disk_concentric

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
    # Wide nodes: six box rows per node (lower / upper per axis), each child's box holds
    # the triangles of its subtree; packets hold the slots' float32 triangles lane by lane.
    box, child, order = pack_wide(g.wide, g.wchild.shape[0])
    np.testing.assert_array_equal(g.wbox.to_numpy(), box)
    np.testing.assert_array_equal(g.wchild.to_numpy(), child)
    np.testing.assert_array_equal(g.worder.to_numpy(), order)
    assert box.shape[1:] == (len(BOX_ROWS), g.wbox.n)
    rows = g.packets.to_numpy()
    slots = g.packet_slot.to_numpy()
    n_p = g.wide.packet_slots.shape[0]
    for k, name in enumerate(PACKET_ROWS):
        src = tris[name[:2]][:, "xyz".index(name[2])]
        np.testing.assert_array_equal(rows[:n_p, k], src[slots[:n_p]])
