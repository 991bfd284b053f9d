"""The edge tree of the secondary sampler (``core/ad/edge_tree.py``): its nodes bound their
edges, and walking it chooses, bit for bit, what a pass over every guided edge chooses (the
edges it skips have no importance), with the probabilities it states (chi-square), also with
a BSDF lobe cone at the shading point.
tests/core/test_edges_large_light.py checks a gradient that walks it against finite
differences."""
import numpy as np
import pytest
from scipy import stats

import diffrender as dr
from diffrender.core.ad import edge_tree
from diffrender.core.ad.edge_tree import TREE_LEAF, build, morton_codes
from diffrender.core.ad.samplers import LOBE_FLOOR, LOBE_OFF

from .test_edges_large_light import adjoint, scene_dict


def random_edges(n, seed=0):
    rng = np.random.default_rng(seed)
    v0 = rng.normal(size=(n, 3))
    v1 = v0 + 0.05 * rng.normal(size=(n, 3))
    n0 = rng.normal(size=(n, 3))
    n1 = n0 + 0.3 * rng.normal(size=(n, 3))
    n0 /= np.linalg.norm(n0, axis=1)[:, None]
    n1 /= np.linalg.norm(n1, axis=1)[:, None]
    return v0, v1, n0, n1


def test_nodes_bound_their_edges():
    n = 1000
    v0, v1, n0, n1 = random_edges(n)
    # a second object far away: the root parts it from the first
    v0[:50] += 100.0
    v1[:50] += 100.0
    order = np.argsort(morton_codes(0.5 * (v0 + v1)), kind="stable")
    assert sorted(order) == list(range(n))
    v0, v1, n0, n1 = v0[order], v1[order], n0[order], n1[order]
    flags = np.zeros(n, np.int64)
    flags[17] = edge_tree.NODE_CREASE
    t = build(v0, v1, n0, n1, flags)
    first, end, left, right = t["first"], t["end"], t["left"], t["right"]
    assert (first[0], end[0]) == (0, n)
    assert sorted((end[1] - first[1], end[2] - first[2])) == [50, 950]
    leaves = 0
    for k in range(first.size):
        if left[k] >= 0:  # the children split the node's range
            assert (first[left[k]], end[left[k]], first[right[k]], end[right[k]]) == \
                (first[k], first[right[k]], end[left[k]], end[k])
            assert first[k] < end[left[k]] < end[k]
        else:
            assert 0 < end[k] - first[k] <= TREE_LEAF
            leaves += end[k] - first[k]
        sl = slice(first[k], end[k])
        for v in (v0[sl], v1[sl]):
            assert np.all(np.linalg.norm(v - t["centre"][k], axis=1) <= t["radius"][k])
        if t["cos"][k] > -1.0:
            for nm in (n0[sl], n1[sl]):
                assert np.all(nm @ t["axis"][k] >= t["cos"][k])
        assert bool(t["flags"][k] & edge_tree.NODE_CREASE) == (first[k] <= 17 < end[k])
    assert leaves == n  # every edge in exactly one leaf
    # the normals of random edges point everywhere
    assert t["cos"][0] == edge_tree.ANY_NORMAL


@pytest.fixture(scope="module")
def light_tracer():
    """The edge tracer after a gradient with respect to the sphere light's pose: its 16k
    edges, all guided, in the tree (the traced sides see emitters only)."""
    r = dr.Renderer(dr.load_scene(scene_dict()))
    r.vjp(adjoint(), ["light.to_world"], spp=1, seed=1, edges=dict(spp=1, seed=1))
    tracer = r._geo_ad.sampler().tracer
    assert tracer.tree.n_nodes[None] > 0 and tracer.n_guided[None] == tracer.n_edge[None] > 4096
    return r, tracer


def shading_points(n, seed=3):
    """Points on the wall (z = -2) and on the cube's faces, with their normals."""
    rng = np.random.default_rng(seed)
    wall = np.c_[rng.uniform(-2, 2, (n, 2)), np.full(n, -2.0)]
    face = np.c_[rng.uniform(-0.3, 0.3, (n, 2)), np.full(n, 0.3)]
    pts = np.concatenate([wall, face]).astype(np.float32)
    nrm = np.tile(np.float32([0, 0, 1]), (2 * n, 1))
    return pts, nrm


def no_lobes(n):
    return np.tile(np.float32([0, 0, 1, LOBE_OFF]), (n, 1))


def lobes(tr, pts, seed=11):
    """Cones of half angles 0.05-0.6 rad about directions from the points to near the sphere
    light's centre (its silhouette edges are the ones that matter)."""
    rng = np.random.default_rng(seed)
    ax = tr.light_c.to_numpy()[0] + rng.normal(scale=0.3, size=(len(pts), 3)) - pts
    ax /= np.linalg.norm(ax, axis=1, keepdims=True)
    return np.c_[ax, rng.uniform(0.05, 0.6, len(pts))].astype(np.float32)


def walk_and_pass(tr, pts, nrm, u, lobe):
    """The edges and probabilities ``choose_edges`` gives with the tree, and with a pass over
    every edge (the same edges, in the same order)."""
    m = len(u)
    out = []
    for with_tree in (True, False):
        nodes = tr.tree.n_nodes[None]
        if not with_tree:
            tr.tree.n_nodes[None] = 0
        edge = np.zeros(m, np.int32)
        pdf = np.zeros(m, np.float32)
        try:
            tr.choose_edges(pts, nrm, lobe, u, edge, pdf)
        finally:
            tr.tree.n_nodes[None] = nodes
        out.append((edge, pdf))
    return out


def test_the_walk_chooses_what_a_pass_over_every_edge_chooses(light_tracer):
    """Bit for bit, at 2048 points on the wall and the cube (many see none of the light's
    silhouette: the walk skips everything there): a node skipped that held an edge of positive
    importance would change the sums."""
    _, tr = light_tracer
    pts, nrm = shading_points(1024)
    u = np.random.default_rng(7).random((len(pts), 2)).astype(np.float32)
    lobe = no_lobes(len(pts))
    lobe[1::2] = lobes(tr, pts)[1::2]  # every other point with a lobe cone
    (e1, p1), (e0, p0) = walk_and_pass(tr, pts, nrm, u, lobe)
    assert (e0 >= 0).sum() > len(pts) // 4
    np.testing.assert_array_equal(e1, e0)
    np.testing.assert_array_equal(p1, p0)


@pytest.mark.parametrize("with_lobe", [False, True], ids=["no_lobe", "lobe"])
def test_the_probabilities_are_the_importance_shares(light_tracer, with_lobe):
    """The probabilities are the importances' shares, and the choices follow them; with a lobe
    cone an edge keeps its importance or LOBE_FLOOR of it, never none (the choice stays
    unbiased whatever the cone)."""
    _, tr = light_tracer
    pts, nrm = shading_points(8)
    n = tr.n_edge[None]
    lobe = lobes(tr, pts) if with_lobe else no_lobes(len(pts))
    w = np.zeros((len(pts), n), np.float32)
    pt = np.zeros((len(pts), n), np.float32)
    tr.choice_probabilities(pts, nrm, lobe, w, pt)
    if with_lobe:
        w0 = np.zeros_like(w)
        tr.choice_probabilities(pts, nrm, no_lobes(len(pts)), w0, np.zeros_like(pt))
        np.testing.assert_array_equal(w > 0, w0 > 0)
        ratio = w[w0 > 0] / w0[w0 > 0]
        full = np.isclose(ratio, 1.0, rtol=1e-6)
        floor = np.isclose(ratio, LOBE_FLOOR, rtol=1e-6)
        assert np.all(full | floor)
        assert full.sum() > 0 and floor.sum() > 0, (full.sum(), floor.sum())
    seen = w.sum(1) > 0
    assert seen.sum() >= 4
    np.testing.assert_allclose(pt[seen], w[seen] / w[seen].sum(1, keepdims=True), rtol=1e-5, atol=1e-12)
    i = int(np.argmax((w > 0).sum(1)))  # the point that sees the most silhouette edges
    m = 200_000
    u = np.random.default_rng(5).random((m, 2)).astype(np.float32)
    edge = np.zeros(m, np.int32)
    pdf = np.zeros(m, np.float32)
    tr.choose_edges(np.repeat(pts[i:i + 1], m, 0), np.repeat(nrm[i:i + 1], m, 0), np.repeat(lobe[i:i + 1], m, 0),
                    u, edge, pdf)
    assert np.all(edge >= 0)
    np.testing.assert_allclose(pdf, pt[i, edge], rtol=1e-5)
    counts = np.bincount(edge, minlength=n)
    expected = m * pt[i].astype(np.float64)
    assert np.all(counts[expected == 0] == 0)
    big = expected >= 5
    obs = np.r_[counts[big], counts[~big].sum()]
    exp = np.r_[expected[big], expected[~big].sum()]
    obs, exp = obs[exp > 0], exp[exp > 0]
    exp *= obs.sum() / exp.sum()
    chi2 = ((obs - exp) ** 2 / exp).sum()
    assert stats.chi2.sf(chi2, len(obs) - 1) > 1e-3, (chi2, len(obs))
