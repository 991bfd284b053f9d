"""BVH: build invariants, closest hit identical to brute force, any-hit consistent."""
import numpy as np
import pytest

from diffrender.core import bvh as bvh_module
from diffrender.core.bvh import (build_bvh, build_hlbvh, build_sah_search, build_sbvh,
                                 morton_codes)
from diffrender.core.geometry import Geometry
from diffrender.scene.model import Shape


def random_triangles(n, seed=0, size=0.3):
    rng = np.random.default_rng(seed)
    c = rng.uniform(-1, 1, (n, 3))
    v = np.stack([c + rng.normal(0, size, (n, 3)) for _ in range(3)], axis=1)
    return v.reshape(-1, 3), np.arange(3 * n, dtype=np.int32).reshape(-1, 3)


#: Closest-hit distances of the BVH traversal against the brute-force loop: the same triangle,
#: the same distance up to float32 rounding of the intersection. The two are compiled apart (the
#: traversal tests packets of triangles in SIMD lanes); on AMD EPYC (AVX-512) LLVM contracts
#: their multiply-adds differently: measured 3.4e-5 relative, 1.0e-4 for grazing rays.
T_RTOL = 5e-4


def assert_same_hits(t_h, tri_h, t_b, tri_b):
    np.testing.assert_array_equal(tri_h, tri_b)
    hit = tri_b >= 0
    np.testing.assert_array_equal(t_h[~hit], t_b[~hit])  # misses: the same "no hit" distance
    np.testing.assert_allclose(t_h[hit], t_b[hit], rtol=T_RTOL)


def test_build_invariants():
    v, f = random_triangles(3000, seed=1, size=0.05)
    tri = v[f].astype(np.float32)
    b = build_bvh(tri[:, 0], tri[:, 1], tri[:, 2], max_leaf=4)
    _tree_invariants(b, tri, 4)
    # SAH quality: far below a leaf with everything (cost N) and better than a median split.
    assert b.sah_cost() < 0.05 * len(f)


def assert_closest_hits_match_brute_force(n_tris=500, n_rays=4000):
    """Random rays against random triangles: the Geometry's traversal finds the brute-force
    hits, and those lie on their triangles (an independent float64 numpy plane check)."""
    v, f = random_triangles(n_tris, seed=2)
    geo = Geometry([Shape("mesh", v, f)], [0], [-1])
    rng = np.random.default_rng(3)
    o = rng.uniform(-2, 2, (n_rays, 3))
    d = rng.normal(size=(n_rays, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t_b, tri_b = geo.closest_hit(o, d, brute_force=True)
    t_h, tri_h = geo.closest_hit(o, d)
    assert (tri_b >= 0).sum() > n_rays // 4  # many rays hit something
    assert_same_hits(t_h, tri_h, t_b, tri_b)
    tri = v[f]
    hit = tri_b >= 0
    p = o[hit] + t_b[hit, None] * d[hit]
    a = tri[tri_b[hit]]
    nrm = np.cross(a[:, 1] - a[:, 0], a[:, 2] - a[:, 0])
    assert np.abs(np.einsum("ij,ij->i", p - a[:, 0], nrm / np.linalg.norm(nrm, axis=1)[:, None])).max() < 1e-4


def test_closest_hit_matches_brute_force():
    assert_closest_hits_match_brute_force()


def test_any_hit_agrees_with_closest_hit():
    v, f = random_triangles(300, seed=4)
    geo = Geometry([Shape("mesh", v, f)], [0], [-1])
    rng = np.random.default_rng(5)
    o = rng.uniform(-2, 2, (3000, 3))
    d = rng.normal(size=(3000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t, tri = geo.closest_hit(o, d, brute_force=True)
    tmax = rng.uniform(0.1, 3.0, 3000)
    occ = geo.occluded_np(o, d, tmax)
    expect = (tri >= 0) & (t < tmax)
    np.testing.assert_array_equal(occ, expect)


def test_empty_and_degenerate():
    # All centroids identical: median splits, still exact.
    v = np.tile(np.array([[0, 0, 1.0], [1, 0, 1], [0, 1, 1]]), (20, 1))
    f = np.arange(60, dtype=np.int32).reshape(-1, 3)
    geo = Geometry([Shape("mesh", v, f)], [0], [-1])
    t, tri = geo.closest_hit([[0.2, 0.2, 0]], [[0, 0, 1.0]])
    assert tri[0] >= 0 and abs(t[0] - 1.0) < 1e-6


def needles(n, seed):
    """Long thin triangles crossing a cube: their boxes overlap, spatial splits pay."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, 3))
    b = rng.uniform(-1, 1, (n, 3))
    c = a + rng.normal(0, 0.05, (n, 3))
    return a, b, c


def test_sbvh_invariants():
    a, b, c = needles(100, seed=2)
    bv = build_sbvh(a, b, c, max_leaf=4, max_refs=128)
    n = a.shape[0]
    assert n < bv.order.size <= 128  # spatial splits duplicated some references, within budget
    assert sorted(set(bv.order.tolist())) == list(range(n))
    leaf = bv.count > 0
    assert bv.count[leaf].max() <= 4
    covered = np.zeros(bv.order.size, int)
    for i in np.nonzero(leaf)[0]:
        covered[bv.first[i]:bv.first[i] + bv.count[i]] += 1
    assert np.all(covered == 1)  # leaf slot ranges are disjoint and cover every slot
    for i in np.nonzero(~leaf)[0]:
        for ch in (bv.first[i], bv.first[i] + 1):
            assert ch > i
            assert np.all(bv.lo[ch] >= bv.lo[i]) and np.all(bv.hi[ch] <= bv.hi[i])
    # Every point of every triangle lies in the box of a leaf that references the triangle.
    rng = np.random.default_rng(0)
    u = rng.uniform(size=(200, 2))
    u = np.where(u.sum(1, keepdims=True) > 1, 1 - u, u)
    slot_leaf = np.repeat(np.nonzero(leaf)[0], bv.count[leaf])[np.argsort(
        np.concatenate([np.arange(f, f + k) for f, k in zip(bv.first[leaf], bv.count[leaf])]))]
    for t in range(n):
        p = a[t] + u[:, :1] * (b[t] - a[t]) + u[:, 1:] * (c[t] - a[t])
        boxes = slot_leaf[bv.order == t]
        inside = np.zeros(len(p), bool)
        for nd in boxes:
            inside |= np.all((p >= bv.lo[nd]) & (p <= bv.hi[nd]), axis=1)
        assert inside.all(), t
    # Better than the binned build by its own measure (references counted as triangles).
    assert bv.sah_cost() < 0.95 * build_bvh(a, b, c, max_leaf=4).sah_cost()
    # Without a budget for duplicates it is a plain (exact-sweep) SAH tree.
    b0 = build_sbvh(a, b, c, max_leaf=4, max_refs=100)
    assert sorted(b0.order.tolist()) == list(range(n))


def test_sbvh_geometry_duplicates_match_brute_force():
    a, b, c = needles(100, seed=5)
    v = np.stack([a, b, c], axis=1).reshape(-1, 3)
    f = np.arange(300, dtype=np.int32).reshape(-1, 3)
    geo = Geometry([Shape("mesh", v, f)], [0], [-1])
    assert geo.n_slots > geo.n_tris == 100  # some triangles fill several leaf slots
    assert np.array_equal(geo.tri_order[geo.tri_rank], np.arange(100))
    rng = np.random.default_rng(6)
    n = 4000
    o = rng.uniform(-1.5, 1.5, (n, 3))
    # aimed at random points of random triangles (most rays hit), half of them random
    k = rng.integers(0, 100, n)
    u = rng.uniform(0, 0.5, (n, 2))
    d = a[k] + u[:, :1] * (b[k] - a[k]) + u[:, 1:] * (c[k] - a[k]) - o
    d[n // 2:] = rng.normal(size=(n - n // 2, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t_b, tri_b = geo.closest_hit(o, d, brute_force=True)
    t_h, tri_h = geo.closest_hit(o, d)
    assert (tri_b >= 0).sum() > n // 2
    assert tri_h.max() < 100  # original ids, not slots
    assert_same_hits(t_h, tri_h, t_b, tri_b)
    tmax = rng.uniform(0.1, 3.0, n)
    expect = (tri_b >= 0) & (t_b < tmax)
    np.testing.assert_array_equal(geo.occluded_np(o, d, tmax), expect)


def test_sah_search_never_worse_than_greedy():
    # The lookahead search keeps the greedy split among its candidates and evaluates every
    # candidate by subtrees at least as good as greedy ones, so its tree costs at most the
    # greedy exact-sweep tree's (build_sbvh without room for duplicates).
    for seed in range(3):
        v, f = random_triangles(40, seed=seed, size=0.3)
        t = v[f]
        greedy = build_sbvh(t[:, 0], t[:, 1], t[:, 2], max_leaf=4, max_refs=40).sah_cost()
        for la in (1, 2):
            b = build_sah_search(t[:, 0], t[:, 1], t[:, 2], max_leaf=4, lookahead=la)
            assert sorted(b.order.tolist()) == list(range(40))
            assert b.count.max() <= 4
            assert b.sah_cost() <= greedy * (1 + 1e-6)


def test_sah_search_cornell_box():
    # The Cornell box (walls overlapping every box): the search splits the large walls off
    # near the root; the greedy binned tree costs 12.31, the greedy exact sweep 11.84.
    from diffrender.scene.loader import load_scene
    import os
    scene = load_scene(os.path.join(os.path.dirname(__file__), "..", "..", "scenes",
                                    "cornell-box", "scene.xml"))
    V = np.concatenate([np.asarray(s.vertices, np.float64).reshape(-1, 3)[np.asarray(s.faces).reshape(-1, 3)]
                        for s in scene.shapes])
    b = build_sah_search(V[:, 0], V[:, 1], V[:, 2], max_leaf=4, beam=1, peel=2, lookahead=2)
    assert b.sah_cost() < 11.4 < build_bvh(V[:, 0], V[:, 1], V[:, 2], max_leaf=4).sah_cost()
    geo = Geometry(scene.shapes, [0] * len(scene.shapes), [-1] * len(scene.shapes))
    assert geo.bvh.sah_cost() == pytest.approx(b.sah_cost())
    rng = np.random.default_rng(7)
    o = rng.uniform(1, 540, (3000, 3))
    d = rng.normal(size=(3000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t_b, tri_b = geo.closest_hit(o, d, brute_force=True)
    t_h, tri_h = geo.closest_hit(o, d)
    assert_same_hits(t_h, tri_h, t_b, tri_b)


def _wide_invariants(b, w, width, leaf_width):
    used = w.lo[..., 0] <= w.hi[..., 0]
    seen_nodes = np.zeros(w.n_nodes, int)
    seen_slots = np.zeros(b.order.size, int)
    for i in range(w.n_nodes):
        u = np.flatnonzero(used[i])
        for o in range(8):
            perm = [(int(w.order[i, o]) >> (3 * p)) & 7 for p in range(width)]
            assert sorted(perm) == list(range(width))
            assert sorted(perm[:u.size]) == u.tolist()  # used children come first
        for j in u:
            c = int(w.child[i, j])
            if c >= 0:
                seen_nodes[c] += 1
                cu = used[c]
                assert np.all(w.lo[c][cu] >= w.lo[i, j] - 1e-6)
                assert np.all(w.hi[c][cu] <= w.hi[i, j] + 1e-6)
            else:
                k = -c - 1
                first, count = k // 32, k % 32
                for p in range(first, first + count):
                    lanes = w.packet_slots[p]
                    seen_slots[np.unique(lanes)] += 1
    assert seen_nodes[0] == 0 and np.all(seen_nodes[1:] == 1)  # a tree rooted at node 0
    assert np.all(seen_slots == 1)  # every leaf slot in exactly one packet lane set


@pytest.mark.parametrize("n", [0, 1, 3, 40, 2000])
def test_wide_collapse_invariants(n):
    from diffrender.core.bvh import collapse_wide

    rng = np.random.default_rng(n)
    c = rng.uniform(-1, 1, (n, 3))
    v0, v1, v2 = c, c + rng.normal(0, 0.1, (n, 3)), c + rng.normal(0, 0.1, (n, 3))
    b = build_bvh(v0, v1, v2, max_leaf=4)
    for width, leaf_width in ((8, 2), (4, 4)):
        w = collapse_wide(b, width, leaf_width)
        _wide_invariants(b, w, width, leaf_width)
        # Packet lanes past a leaf's end repeat its last slot.
        if w.packet_slots.size:
            assert np.all(np.diff(w.packet_slots, axis=1) >= 0)


def test_wide_order_is_front_to_back():
    """Eight small triangles in a row along x (in a shuffled input order): for every ray
    octant the root lists them in the order a ray of that octant meets them."""
    from diffrender.core.bvh import OCTANT_SIGNS, collapse_wide

    base = np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0.05]])
    xs = np.random.default_rng(1).permutation(8) * 1.0
    tri = base[None] + np.stack([xs, 0 * xs, 0 * xs], axis=1)[:, None]
    b = build_bvh(tri[:, 0], tri[:, 1], tri[:, 2], max_leaf=1)
    w = collapse_wide(b, 8, 2)
    assert w.n_nodes == 1
    centre_x = 0.5 * (w.lo[0, :, 0] + w.hi[0, :, 0])
    for o in range(8):
        sign = -1.0 if OCTANT_SIGNS[o][0] else 1.0
        perm = [(int(w.order[0, o]) >> (3 * p)) & 7 for p in range(8)]
        assert np.all(np.diff(centre_x[perm] * sign) > 0)


def test_deep_tree_traversal_matches_brute_force():
    """A long thin chain of tiny triangles (a deep binary tree) still traverses exactly."""
    n = 3000
    t = np.linspace(0, 1, n)
    c = np.stack([np.cos(40 * t) * t, np.sin(40 * t) * t, t * 3], axis=1)
    v = np.stack([c, c + [0.01, 0, 0], c + [0, 0.01, 0.002]], axis=1).reshape(-1, 3)
    f = np.arange(3 * n, dtype=np.int32).reshape(-1, 3)
    geo = Geometry([Shape("mesh", v, f)], [0], [-1])
    rng = np.random.default_rng(7)
    o = np.zeros((5000, 3)) + [0, 0, -1]
    d = c[rng.integers(0, n, 5000)] + rng.normal(0, 0.004, (5000, 3)) - o
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t_b, tri_b = geo.closest_hit(o, d, brute_force=True)
    t_h, tri_h = geo.closest_hit(o, d)
    assert (tri_b >= 0).sum() > 500
    assert_same_hits(t_h, tri_h, t_b, tri_b)


def _tree_invariants(b, tri, max_leaf):
    """Every triangle in exactly one leaf, inside its box; children after their parent and
    inside its box."""
    n = tri.shape[0]
    assert sorted(b.order.tolist()) == list(range(n))
    leaf = b.count > 0
    assert b.count[leaf].max() <= max_leaf
    covered = np.zeros(n, int)
    for i in np.nonzero(leaf)[0]:
        covered[b.first[i]:b.first[i] + b.count[i]] += 1
        t = tri[b.order[b.first[i]:b.first[i] + b.count[i]]].reshape(-1, 3)
        assert np.all(t.min(0) >= b.lo[i]) and np.all(t.max(0) <= b.hi[i])
    assert np.all(covered == 1)
    for i in np.nonzero(~leaf)[0]:
        for c in (b.first[i], b.first[i] + 1):
            assert c > i
            assert np.all(b.lo[c] >= b.lo[i]) and np.all(b.hi[c] <= b.hi[i])


@pytest.mark.parametrize("cluster_size", [None, 512])
def test_hlbvh_invariants_and_quality(cluster_size):
    """The large-scene build (Morton clusters, SAH on top, exact sweeps or Morton splits
    inside: cluster_size 512 makes clusters larger than the sweeps take) is a valid tree whose
    SAH cost stays close to the binned build's."""
    v, f = random_triangles(3000, seed=1, size=0.05)
    tri = v[f].astype(np.float32)
    lo, hi = tri.min(axis=1), tri.max(axis=1)
    b = build_hlbvh(lo, hi, max_leaf=4, cluster_size=cluster_size)
    _tree_invariants(b, tri, 4)
    ref = build_bvh(tri[:, 0], tri[:, 1], tri[:, 2], max_leaf=4, hlbvh=False)
    assert b.sah_cost() < 1.1 * ref.sah_cost()


def test_hlbvh_identical_centroids():
    # One Morton code for all: ranges split in the middle, sweeps on ties; still exact.
    tri = np.tile(np.array([[[0, 0, 1.0], [1, 0, 1], [0, 1, 1]]], np.float32), (300, 1, 1))
    b = build_hlbvh(tri.min(axis=1), tri.max(axis=1), max_leaf=4, cluster_size=100)
    _tree_invariants(b, tri, 4)


def test_morton_codes_follow_the_z_curve():
    # The 8 corners of a cube: z is the lowest bit of the interleave, then y, then x.
    c = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float32)
    codes = morton_codes(c).astype(np.int64)
    assert codes[0] == 0 and np.all(np.diff(codes) > 0)
    # Then the next level: the cell of (1/2, 0, 0) comes after the whole cell of the origin.
    fine = np.array([[0, 0, 0], [0.49, 0.49, 0.49], [0.51, 0, 0], [1, 1, 1]], np.float32)
    assert np.all(np.diff(morton_codes(fine).astype(np.int64)) > 0)


def _leaves(b):
    leaf = b.count > 0
    return sorted(zip(b.first[leaf].tolist(), b.count[leaf].tolist()))


@pytest.mark.parametrize("case", ["random", "clusters512", "identical", "leaf1"])
def test_hlbvh_kernel_bottom_matches_numpy(case):
    """The bottom of the large-scene build in the Taichi kernel (a thread per range, depth
    first) makes the tree of the numpy reference (level by level): the same triangle order,
    leaves and SAH cost (node numbering aside)."""
    v, f = random_triangles(3000, seed=4, size=0.05)
    tri = v[f].astype(np.float32)
    kw = dict(max_leaf=4, cluster_size=None)
    if case == "clusters512":  # clusters above HLBVH_SWEEP_MAX: Morton splits first
        kw["cluster_size"] = 512
    elif case == "identical":  # ties everywhere: the sweeps' stable sorts decide
        tri = np.tile(tri[:1], (700, 1, 1))
        kw["cluster_size"] = 100
    elif case == "leaf1":
        kw["max_leaf"] = 1
    lo, hi = tri.min(axis=1), tri.max(axis=1)
    bk = build_hlbvh(lo, hi, bottom="taichi", **kw)
    bn = build_hlbvh(lo, hi, bottom="numpy", **kw)
    _tree_invariants(bk, tri, kw["max_leaf"])
    np.testing.assert_array_equal(bk.order, bn.order)
    assert bk.n_nodes == bn.n_nodes
    assert _leaves(bk) == _leaves(bn)
    assert bk.sah_cost() == pytest.approx(bn.sah_cost(), rel=1e-12)


@pytest.mark.parametrize("max_leaf,width,leaf_width", [(4, 8, 2), (1, 8, 2), (4, 4, 4),
                                                       (2, 2, 1)])
def test_wide_collapse_kernel_matches_numpy(max_leaf, width, leaf_width):
    """The wide collapse in the Taichi kernel (breadth first) is the numpy collapse's tree:
    the same child words, octant orders, packets and (used) boxes."""
    from diffrender.core.bvh import collapse_wide

    v, f = random_triangles(1500, seed=5, size=0.05)
    tri = v[f]
    b = build_bvh(tri[:, 0], tri[:, 1], tri[:, 2], max_leaf=max_leaf)
    wk = collapse_wide(b, width, leaf_width, kernel=True)
    wn = collapse_wide(b, width, leaf_width, kernel=False)
    _wide_invariants(b, wk, width, leaf_width)
    for name in ("child", "order", "packet_slots"):
        np.testing.assert_array_equal(getattr(wk, name), getattr(wn, name))
    used = wn.lo[..., 0] <= wn.hi[..., 0]
    np.testing.assert_array_equal(used, wk.lo[..., 0] <= wk.hi[..., 0])
    np.testing.assert_array_equal(wk.lo[used], wn.lo[used])
    np.testing.assert_array_equal(wk.hi[used], wn.hi[used])


def test_hlbvh_geometry_matches_brute_force(monkeypatch):
    """A Geometry built with the large-scene builder and the kernel collapse (forced) finds
    the same hits."""
    monkeypatch.setattr(bvh_module, "HLBVH_MIN_TRIS", 0)
    monkeypatch.setattr(bvh_module, "COLLAPSE_KERNEL_MIN_NODES", 0)
    assert_closest_hits_match_brute_force()
