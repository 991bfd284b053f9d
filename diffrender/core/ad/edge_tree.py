"""A hierarchy over the edges of the secondary sampler, so that adding up (and choosing by) the
importance of the guided edges seen from a shading point skips the parts of the scene where no
edge can have any (docs/edge-sampling.md, *The edge tree*).

The guided edges are sorted by shape, then along a Morton curve of their midpoints
(``morton_codes``); a binary tree splits each range of that order where the codes' highest
differing bit changes (a linear BVH: shapes, then separate parts, part near the root), in
halves when the codes are equal, down to leaves of at most ``TREE_LEAF`` edges. Each node holds
its range of edges, a bounding box and a ball that hold its edges, the cone of their faces'
normals, and flags.

``EdgeTracer._guided_sum`` walks the tree depth first, left before right, and adds up the
importance of the edges of the leaves it reaches, in index order; it skips a node when
:meth:`EdgeTree.may_contribute` shows that none of its edges can have a positive importance.
Those edges would have added 0, so the sum, and the edge a running sum chooses, are those of a
pass over every edge, bit for bit: the tree changes the cost, not the result.
"""
import numpy as np

from ...engine import ti
from ..types import vec3

TREE_LEAF = 32           # the most edges in a leaf of the edge tree
MAX_TREE_DEPTH = 64     # levels of the edge tree (from half of it, ranges split in halves)
TREE_MIN_EDGES = 4096   # guided edges from which the secondary sampler walks the tree
MORTON_BITS = 10        # bits per axis of the Morton code the guided edges are sorted by
# node flags
NODE_ALWAYS = 1         # holds a boundary or non-manifold edge, or one with a degenerate face
NODE_CREASE = 2         # holds a crease (a silhouette unless both faces face p)
NODE_MOVING = 4         # holds an edge that is not a still area light's own
ANY_NORMAL = -2.0       # cosine of a normal cone that holds every direction
BALL_MARGIN = 1e-4      # relative growth of the node balls (float32 round-off in the kernel)
CONE_MARGIN = 1e-3      # radians added to the normal cones' half-angles
ANGLE_SLACK = 1e-3      # of the distance, added to the bounds of n . (x - p) in a node


def morton_codes(points, group=None):
    """Morton codes (MORTON_BITS per axis) of ``points`` (N, 3) in their bounding box, after
    ``group`` (N integers, e.g. the shape of each edge) when given: groups stay apart."""
    code = np.zeros(len(points), np.int64)
    if len(points) == 0:
        return code
    lo = points.min(0)
    ext = np.maximum(points.max(0) - lo, 1e-30)
    q = np.clip(((points - lo) / ext * ((1 << MORTON_BITS) - 1)).astype(np.int64), 0,
                (1 << MORTON_BITS) - 1)
    for bit in range(MORTON_BITS):
        for axis in range(3):
            code |= ((q[:, axis] >> bit) & 1) << (3 * bit + axis)
    if group is not None:
        code |= np.asarray(group, np.int64) << (3 * MORTON_BITS)
    return code


def _split(code, start, end, halve):
    """Where each range [start, end) of the sorted ``code`` splits: at the first code with the
    highest bit in which the range's first and last codes differ; in half where they are equal
    or ``halve``."""
    ca, cb = code[start], code[end - 1]
    diff = ca ^ cb
    h = np.zeros(len(start), np.int64)
    nz = diff > 0
    h[nz] = np.floor(np.log2(diff[nz].astype(np.float64))).astype(np.int64)
    # log2 of a float can be one off for large codes: correct it
    h[nz] -= ((diff[nz] >> h[nz]) == 0).astype(np.int64)
    h[nz] += ((diff[nz] >> (h[nz] + 1)) > 0).astype(np.int64)
    value = (cb >> h) << h
    at = np.searchsorted(code, value, side="left")
    mid = (start + end) // 2
    use_mid = ~nz | halve | (at <= start) | (at >= end)
    return np.where(use_mid, mid, at)


def _segment_reduce(ufunc, values, start, end):
    """``ufunc.reduceat`` of ``values`` over each range [start, end) (non-empty ranges)."""
    size = end - start
    offsets = np.r_[0, np.cumsum(size)[:-1]]
    idx = np.repeat(start - offsets, size) + np.arange(size.sum())
    return ufunc.reduceat(values[idx], offsets, axis=0)


def build(v0, v1, n0, n1, flags, codes=None):
    """Node arrays of the tree over the edges (v0, v1), which are in the order of their codes
    (``codes``: e.g. ``morton_codes`` of their midpoints and shapes, sorted; default: the Morton
    codes of their midpoints). ``flags``: NODE_* bits per edge. Returns a dict of arrays, one
    row per node, the root first: ``first``, ``end`` (the node's range of edges), ``left``,
    ``right`` (children, always ``left + 1``; -1: a leaf), ``centre``, ``radius`` (the ball),
    ``lo``, ``hi`` (the bounding box), ``axis``, ``cos`` (the normal cone), ``flags``."""
    v0 = np.asarray(v0, np.float64)
    v1 = np.asarray(v1, np.float64)
    n = v0.shape[0]
    mid = 0.5 * (v0 + v1)
    if codes is None:
        codes = morton_codes(mid)
    half = 0.5 * np.linalg.norm(v1 - v0, axis=1)
    normals = np.stack([np.asarray(n0, np.float64), np.asarray(n1, np.float64)], 1)  # (n, 2, 3)
    nn = np.linalg.norm(normals, axis=2)
    unit = normals / np.maximum(nn, 1e-30)[..., None]
    flags = np.asarray(flags, np.int64) | np.where((nn < 0.5).any(1), NODE_ALWAYS, 0)
    lo_pt = np.minimum(v0, v1)
    hi_pt = np.maximum(v0, v1)

    levels = []
    start = np.zeros(1, np.int64)
    end = np.full(1, n, np.int64)
    next_id = 1
    depth = 0
    while start.size:
        m = start.size
        inner = end - start > TREE_LEAF
        left = np.full(m, -1, np.int64)
        right = np.full(m, -1, np.int64)
        k = np.flatnonzero(inner)
        sp = _split(codes, start[k], end[k], depth >= MAX_TREE_DEPTH // 2)
        left[k] = next_id + 2 * np.arange(k.size)
        right[k] = left[k] + 1
        levels.append((start, end, left, right))
        start = np.stack([start[k], sp], 1).ravel()
        end = np.stack([sp, end[k]], 1).ravel()
        next_id += start.size
        depth += 1
        if depth > MAX_TREE_DEPTH:
            raise AssertionError("edge tree deeper than MAX_TREE_DEPTH")
    first = np.concatenate([lv[0] for lv in levels])
    end = np.concatenate([lv[1] for lv in levels])
    out = dict(first=first, end=end, left=np.concatenate([lv[2] for lv in levels]),
               right=np.concatenate([lv[3] for lv in levels]))
    lo = _segment_reduce(np.minimum, lo_pt, first, end)
    hi = _segment_reduce(np.maximum, hi_pt, first, end)
    c = 0.5 * (lo + hi)
    size = end - first
    owner = np.repeat(np.arange(size.size), size)
    idx = np.repeat(first - np.r_[0, np.cumsum(size)[:-1]], size) + np.arange(size.sum())
    reach = np.linalg.norm(mid[idx] - c[owner], axis=1) + half[idx]
    r = np.zeros(size.size)
    np.maximum.at(r, owner, reach)
    out["centre"] = c
    grow = BALL_MARGIN * (hi - lo).max(1, keepdims=True) + 1e-6 * np.abs(c).max(1, keepdims=True)
    out["lo"] = lo - grow
    out["hi"] = hi + grow
    out["radius"] = r * (1.0 + BALL_MARGIN) + 1e-6 * np.abs(c).max(1)
    s = _segment_reduce(np.add, unit.sum(1), first, end)
    sl = np.linalg.norm(s, axis=1)
    ax = s / np.maximum(sl, 1e-30)[:, None]
    cmin = np.full(size.size, 1.0)
    for j in range(2):
        np.minimum.at(cmin, owner, np.einsum("nc,nc->n", unit[idx, j], ax[owner]))
    ang = np.arccos(np.clip(cmin, -1.0, 1.0)) + CONE_MARGIN
    ok = (sl > 1e-6) & (ang < 0.5 * np.pi)
    out["axis"] = np.where(ok[:, None], ax, 0.0)
    out["cos"] = np.where(ok, np.cos(ang), ANY_NORMAL)
    out["flags"] = _segment_reduce(np.bitwise_or, flags, first, end)
    return out


@ti.data_oriented
class EdgeTree:
    """The tree's fields (room for the tree over ``capacity`` edges, allocated once so that a
    pooled tracer keeps its kernels) and the test that lets the walk skip a node."""

    def __init__(self, capacity):
        n = 2 * max(1, int(capacity))  # a binary tree over n edges has fewer than 2n nodes
        self.capacity = n
        self.first = ti.field(ti.i32, shape=n)
        self.end = ti.field(ti.i32, shape=n)
        self.left = ti.field(ti.i32, shape=n)
        self.c = vec3.field(shape=n)
        self.r = ti.field(ti.f32, shape=n)
        self.lo = vec3.field(shape=n)
        self.hi = vec3.field(shape=n)
        self.axis = vec3.field(shape=n)
        self.cos = ti.field(ti.f32, shape=n)
        self.flags = ti.field(ti.i32, shape=n)
        self.n_nodes = ti.field(ti.i32, shape=())  # 0: no tree

    def upload(self, v0, v1, n0, n1, flags, codes=None):
        """The tree over these edges (in the order of their sorted ``codes``, as uploaded to
        the tracer: see ``build``), or none (``v0`` None)."""
        if v0 is None or len(v0) == 0:
            self.n_nodes[None] = 0
            return
        arrays = build(v0, v1, n0, n1, flags, codes)
        m = arrays["first"].size
        for name in ("first", "end", "left", "c", "r", "lo", "hi", "axis", "cos",
                     "flags"):
            a = arrays[{"c": "centre", "r": "radius"}.get(name, name)]
            out = np.zeros((self.capacity,) + a.shape[1:], np.int32 if a.dtype.kind == "i" else np.float32)
            out[:m] = a
            getattr(self, name).from_numpy(out)
        self.n_nodes[None] = m

    @ti.func
    def may_contribute(self, k, p, ns, base_boost, light_c: ti.template(), light_r: ti.template(),
                       n_light):
        """Whether node k may hold an edge of positive importance (``EdgeTracer._edge_weight``)
        seen from p (normal ns): False only when none can be a silhouette from p in front of
        the surface, or (``base_boost`` 0: edges outside every light's cone have none) none can
        reach a light's cone. Conservative: an edge that has a positive importance is never in
        a node for which this is False (tests/core/test_edge_tree.py)."""
        res = False
        if self.end[k] > self.first[k]:
            w = self.c[k] - p
            D = w.norm()
            r = self.r[k]
            fl = self.flags[k]
            # in front of the surface: some point of the box
            front = 0.0
            for a in ti.static(range(3)):
                front += ti.max(ns[a] * (self.lo[k][a] - p[a]), ns[a] * (self.hi[k][a] - p[a]))
            if front > 0.0:
                sil = (fl & NODE_ALWAYS) != 0 or D <= r or self.cos[k] < -1.0
                if not sil:
                    # n . (x - p) over the normals of the cone and the points of the ball
                    # (slack: float32 round-off of the angles)
                    # (cosines of phi -+ theta from the angle-sum identities, clamped to
                    # [0, pi]: no inverse trigonometry)
                    cphi = ti.max(-1.0, ti.min(1.0, self.axis[k].dot(w) / D))
                    sphi = ti.sqrt(ti.max(0.0, 1.0 - cphi * cphi))
                    cth = self.cos[k]
                    sth = ti.sqrt(ti.max(0.0, 1.0 - cth * cth))
                    c_minus = 1.0
                    if cphi < cth:
                        c_minus = cphi * cth + sphi * sth
                    c_plus = -1.0
                    if cphi > -cth:
                        c_plus = cphi * cth - sphi * sth
                    slack = r + ANGLE_SLACK * D
                    hi = D * c_minus + slack
                    lo = D * c_plus - slack
                    if (fl & NODE_CREASE) != 0:
                        sil = lo <= 0.0
                    else:
                        sil = lo <= 0.0 and hi >= 0.0
                if sil:
                    if base_boost > 0.0:
                        res = True
                    elif (fl & NODE_MOVING) != 0:
                        # an edge's direction cone, grown as _edge_weight grows it, lies in
                        # that of the node's ball grown alike; a grown ball that holds p
                        # reaches every direction
                        near = D - r
                        if near <= r:
                            res = True
                        else:
                            # ang <= lr + half, as cosines (both angles at most pi / 2)
                            md = w / D
                            s_half = r / near
                            c_half = ti.sqrt(ti.max(0.0, 1.0 - s_half * s_half))
                            for j in range(n_light):
                                lc = light_c[j] - p
                                ld = lc.norm()
                                if ld > 0.0 and near < ld + light_r[j]:
                                    s_l = ti.min(light_r[j] / ld, 1.0)
                                    c_l = ti.sqrt(ti.max(0.0, 1.0 - s_l * s_l))
                                    if md.dot(lc / ld) >= c_l * c_half - s_l * s_half - ANGLE_SLACK:
                                        res = True
        return res
