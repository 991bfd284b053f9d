"""Bounding volume hierarchy: binned-SAH build on the CPU (vectorised numpy), flat node arrays.

The build is breadth first: every node of one tree level is binned and split in the same few
numpy passes, so the Python overhead is per level (about log2(N) levels), not per node. The
cost model is the usual one (traversal cost 1, intersection cost 1)::

    C_split = 1 + (A_L * N_L + A_R * N_R) / A,     C_leaf = N

with ``A`` the surface area of a bounding box. A node becomes a leaf when it holds
``min_leaf`` triangles or fewer, or when it holds at most ``max_leaf`` and no split is cheaper
than the leaf. Nodes whose centroids all coincide are split in the middle of their range.

Above :data:`HLBVH_MIN_TRIS` triangles :func:`build_hlbvh` takes over: the same SAH build over
clusters of triangles that are neighbours on a Morton curve, exact SAH sweeps below it (the
per-level passes over every triangle dominated at a million triangles). The sweeps run in one
Taichi kernel (:func:`_sweep_subtrees`, a thread per subtree of at most 64 triangles), the numpy
version (:func:`_bottom_numpy`) kept as its reference.

Small scenes have two slower builders (Python recursions over nodes): :func:`build_sbvh`
(exact sweeps and spatial splits; a triangle may fill several leaf slots) and
:func:`build_sah_search` (a lookahead search over the SAH splits).

The renderer traverses none of these binary trees directly: :func:`collapse_wide` turns one
into a :class:`WideBVH` (nodes of up to 8 children tested with one SIMD slab test, leaves as
packets of triangles tested lane-parallel, a front-to-back child order per ray octant); large
trees are collapsed by one Taichi kernel (:func:`_collapse_kernel`), the same tree as the
vectorised numpy collapse.

The kernels take numpy arrays (``ti.types.ndarray``) and compute their costs in float64, so
they are used on the CPU and CUDA devices (elsewhere the numpy versions run).

Layout of the result (children of a node are adjacent, so only the first child is stored):

- ``lo``, ``hi``: (n_nodes, 3) float32 node bounds;
- ``first``: (n_nodes,) int32, the left child (internal node) or the first triangle (leaf);
- ``count``: (n_nodes,) int32, 0 for an internal node, else the number of triangles;
- ``order``: (n_tris,) int64, the triangle permutation (leaf ranges index the permuted arrays).
"""

from dataclasses import dataclass

import numpy as np

from ..engine import ensure_init, ti

#: Above this many triangles :func:`build_bvh` builds with :func:`build_hlbvh`.
HLBVH_MIN_TRIS = 1 << 17
#: Mean primitives per Morton cluster of :func:`build_hlbvh`.
HLBVH_CLUSTER_SIZE = 16
#: Ranges of at most this many primitives are split by exact SAH sweeps (above: Morton bits).
HLBVH_SWEEP_MAX = 64
#: Sweeps over at most this many primitives try one axis (largest centroid extent), not three.
HLBVH_SWEEP_ONE_AXIS = 16
_BIG = 3.0e38  # "infinity" of the kernels' float32 boxes
SWEEP_CHUNK = 1 << 16  # padded entries (positions x nodes) per sweep call
MORTON_BITS = 21  # bits per axis of the Morton codes
MORTON_CELLS = 1 << MORTON_BITS


@dataclass
class BVH:
    lo: np.ndarray
    hi: np.ndarray
    first: np.ndarray
    count: np.ndarray
    order: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.lo.shape[0])

    def depth(self) -> int:
        """Depth of the tree (root alone = 1)."""
        d = np.zeros(self.n_nodes, np.int64)
        d[0] = 1
        for i in range(self.n_nodes):  # children always come after their parent
            if self.count[i] == 0:
                d[self.first[i]] = d[self.first[i] + 1] = d[i] + 1
        return int(d.max())

    def sah_cost(self) -> float:
        """SAH cost of the tree relative to its root box (1 per node visit, 1 per triangle)."""
        a = _area(self.lo.astype(np.float64), self.hi.astype(np.float64))
        internal = self.count == 0
        return float((a[internal].sum() + (a[~internal] * self.count[~internal]).sum()) / a[0])


def _area(lo, hi):
    e = hi - lo  # empty boxes (inf, -inf) give -inf or nan: masked by the callers
    x, y, z = e[..., 0], e[..., 1], e[..., 2]
    return 2 * (x * (y + z) + y * z)


def _area3(lo, hi):
    """Surface areas of boxes stored axis-first: lo, hi (3, ...)."""
    x, y, z = hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]
    return 2 * (x * (y + z) + y * z)


def _ranges(starts, counts):
    """Concatenation of arange(s, s + c) for each (s, c)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offs = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(offs - starts, counts)


def _scatter(dst, idx, src, axis=0):
    """``dst`` with ``dst[..., idx] = src`` (a new array when ``src`` aliases ``dst``)."""
    out = np.empty_like(dst)
    if axis == 0:
        out[idx] = src
    else:
        out[:, idx] = src
    return out


def build_bvh(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, max_leaf: int = 4,
              min_leaf: int = 1, n_bins: int = 16, traversal_cost: float = 1.0,
              min_bins: int | None = None, sample: int = 2048,
              hlbvh: bool | None = None) -> BVH:
    """Build a binned-SAH BVH over the triangles (v0[i], v1[i], v2[i]) (arrays (N, 3)).

    ``n_bins`` bins per axis for large nodes, down to ``min_bins`` when the nodes of a level are
    small (default: ``n_bins`` up to 2^16 triangles, where the build takes milliseconds and the
    better splits save node visits, else 4); ``traversal_cost``: cost of a node visit relative
    to a triangle test; nodes of more than ``2 * sample`` triangles bin a regular subsample of
    about ``sample`` of them. ``hlbvh``: build with :func:`build_hlbvh` (default: above
    :data:`HLBVH_MIN_TRIS` triangles)."""
    v0 = np.asarray(v0, np.float32)
    v1 = np.asarray(v1, np.float32)
    v2 = np.asarray(v2, np.float32)
    n = v0.shape[0]
    if n == 0:
        return BVH(np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32),
                   np.zeros(1, np.int32), np.zeros(1, np.int32), np.zeros(0, np.int64))
    if min_bins is None:
        min_bins = n_bins if n <= 1 << 16 else 4
    min_bins = min(min_bins, n_bins)
    tlo = np.minimum(np.minimum(v0, v1), v2)
    thi = np.maximum(np.maximum(v0, v1), v2)
    sah = dict(n_bins=n_bins, traversal_cost=traversal_cost, min_bins=min_bins, sample=sample)
    if hlbvh is None:
        hlbvh = n > HLBVH_MIN_TRIS
    if hlbvh:
        return build_hlbvh(tlo, thi, max_leaf, **sah)
    return _build_boxes(tlo, thi, max_leaf, min_leaf, **sah)


def _build_boxes(tlo, thi, max_leaf, min_leaf, n_bins=16, traversal_cost=1.0, min_bins=4,
                 sample=2048, ranges=False):
    """:func:`build_bvh` over primitives given by their boxes (float32 (N, 3) each); with
    ``ranges``, also every node's range in ``order`` (start, size)."""
    n = tlo.shape[0]
    # Triangle data kept in the current `order` (struct of arrays, one row per axis), so that
    # the per-level gathers read contiguous ranges instead of random triangles.
    p_lo = np.ascontiguousarray(tlo.T)
    p_hi = np.ascontiguousarray(thi.T)
    p_c = 0.5 * (p_lo + p_hi)

    cap = 2 * n
    node_lo = np.zeros((cap, 3), np.float32)
    node_hi = np.zeros((cap, 3), np.float32)
    node_first = np.zeros(cap, np.int64)
    node_count = np.zeros(cap, np.int64)
    node_start = np.zeros(cap, np.int64)  # range in `order`, for every node while building
    order = np.arange(n, dtype=np.int64)

    node_start[0], node_count[0] = 0, n
    node_size = node_count.copy()  # primitives under every node (node_count: leaves only)
    node_lo[0], node_hi[0] = tlo.min(axis=0), thi.max(axis=0)
    n_nodes = 1
    frontier = np.array([0], np.int64) if n > min_leaf else np.zeros(0, np.int64)
    while frontier.size:
        k = frontier.size
        starts, counts = node_start[frontier], node_count[frontier]
        # Fewer bins when the nodes are small: the bin passes cost k * nb, not N.
        nb = int(np.clip(counts.sum() // (2 * k), min_bins, n_bins))
        seg_off = np.cumsum(counts) - counts
        m_all = int(counts.sum())
        full = m_all == n
        pos = np.arange(n) if full else _ranges(starts, counts)  # positions in `order`
        seg = np.repeat(np.arange(k, dtype=np.int32), counts)
        c = p_c if full else p_c[:, pos]
        glo = p_lo if full else p_lo[:, pos]
        ghi = p_hi if full else p_hi[:, pos]
        cmin = np.minimum.reduceat(c, seg_off, axis=1)
        cmax = np.maximum.reduceat(c, seg_off, axis=1)
        ext = cmax - cmin
        scale = np.where(ext > 0, nb * (1 - 1e-6) / np.where(ext > 0, ext, 1), 0).astype(np.float32)

        best_cost = np.full(k, np.inf)
        best_axis = np.zeros(k, np.int64)
        best_bin = np.zeros(k, np.int64)
        # Boxes of the two sides of the best split (exact unions of the binned triangle boxes).
        box_l = np.zeros((2, 3, k), np.float32)
        box_r = np.zeros((2, 3, k), np.float32)
        bins = np.empty((3, m_all), np.int32)
        rank_in_seg = np.arange(m_all) - np.repeat(seg_off, counts)
        # Large nodes choose their split from a regular subsample of about `sample` of their
        # triangles (approximate binning); their children's boxes are then reduced exactly.
        stride = np.maximum(1, counts // sample)
        sub = stride > 1
        take = np.flatnonzero(rank_in_seg % np.repeat(stride, counts) == 0) if sub.any() else None
        glo_s = glo if take is None else glo[:, take]
        ghi_s = ghi if take is None else ghi[:, take]
        seg_s = seg if take is None else seg[take]
        for a in range(3):
            ba = ((c[a] - np.repeat(cmin[a], counts)) * np.repeat(scale[a], counts)).astype(np.int32)
            np.clip(ba, 0, nb - 1, out=ba)
            bins[a] = ba
            # bin-major, so the sweeps below read contiguous rows
            key = (ba if take is None else ba[take]) * np.int32(k) + seg_s
            cnt = np.bincount(key, minlength=k * nb).reshape(nb, k)
            blo = np.full((3, nb * k), np.inf, np.float32)
            bhi = np.full((3, nb * k), -np.inf, np.float32)
            for b in range(3):
                np.minimum.at(blo[b], key, glo_s[b])
                np.maximum.at(bhi[b], key, ghi_s[b])
            blo = blo.reshape(3, nb, k)
            bhi = bhi.reshape(3, nb, k)
            # Sweep from the left (prefix) and from the right (suffix) over the bins.
            l_lo, l_hi = blo.copy(), bhi.copy()
            r_lo, r_hi = blo.copy(), bhi.copy()
            for j in range(1, nb):
                np.minimum(l_lo[:, j - 1], l_lo[:, j], out=l_lo[:, j])
                np.maximum(l_hi[:, j - 1], l_hi[:, j], out=l_hi[:, j])
                jj = nb - 1 - j
                np.minimum(r_lo[:, jj + 1], r_lo[:, jj], out=r_lo[:, jj])
                np.maximum(r_hi[:, jj + 1], r_hi[:, jj], out=r_hi[:, jj])
            n_l = np.cumsum(cnt, axis=0)[:-1].T
            n_r = n_l[:, -1:] + cnt[-1][:, None] - n_l  # (sampled) counts on the right
            with np.errstate(invalid="ignore"):
                cost = (_area3(l_lo[:, :-1], l_hi[:, :-1]).T * n_l
                        + _area3(r_lo[:, 1:], r_hi[:, 1:]).T * n_r)
            cost[(n_l == 0) | (n_r == 0)] = np.inf
            i = np.argmin(cost, axis=1)
            ci = cost[np.arange(k), i]
            better = ci < best_cost
            best_cost = np.where(better, ci, best_cost)
            best_axis = np.where(better, a, best_axis)
            best_bin = np.where(better, i, best_bin)
            kk = np.arange(k)
            box_l[0][:, better] = l_lo[:, i, kk][:, better]
            box_l[1][:, better] = l_hi[:, i, kk][:, better]
            box_r[0][:, better] = r_lo[:, i + 1, kk][:, better]
            box_r[1][:, better] = r_hi[:, i + 1, kk][:, better]

        area = _area(node_lo[frontier].astype(np.float64), node_hi[frontier].astype(np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            split_cost = traversal_cost + best_cost / np.where(area > 0, area, 1.0)
        no_split = ~np.isfinite(best_cost)
        make_leaf = (counts <= max_leaf) & (no_split | (split_cost >= counts))
        median = no_split & ~make_leaf  # too many, identical centroids: split the range in half

        split = ~make_leaf
        if not split.any():
            break
        # Partition: left side first inside every split node's range (stable). Elements of
        # nodes that stay leaves keep their positions (written back in place).
        chosen = np.take_along_axis(bins, best_axis[seg][None, :], axis=0)[0]
        side = chosen > best_bin[seg]
        if median.any():
            side = np.where(median[seg], rank_in_seg >= counts[seg] // 2, side)
        left = ~side & split[seg]
        cl = np.cumsum(left)
        cl_base = np.concatenate([[0], cl])[seg_off]
        n_left = cl[seg_off + counts - 1] - cl_base
        left_rank = cl - left - np.repeat(cl_base, counts)  # lefts before, in the segment
        st = np.repeat(starts, counts)
        new_pos = np.where(left, st + left_rank,
                           np.where(split[seg], st + np.repeat(n_left, counts)
                                    + (rank_in_seg - left_rank), pos))
        if full:
            order = _scatter(order, new_pos, order)
            p_c = _scatter(p_c, new_pos, c, axis=1)
            p_lo = _scatter(p_lo, new_pos, glo, axis=1)
            p_hi = _scatter(p_hi, new_pos, ghi, axis=1)
        else:
            order[new_pos] = order[pos]
            p_c[:, new_pos] = c
            p_lo[:, new_pos] = glo
            p_hi[:, new_pos] = ghi

        parents = frontier[split]
        ns = parents.size
        kids = n_nodes + 2 * np.arange(ns)
        node_first[parents] = kids
        nl = n_left[split]
        node_start[kids] = starts[split]
        node_count[kids] = nl
        node_size[kids] = nl
        node_start[kids + 1] = starts[split] + nl
        node_count[kids + 1] = counts[split] - nl
        node_size[kids + 1] = counts[split] - nl
        node_count[parents] = 0
        n_nodes += 2 * ns
        children = np.stack([kids, kids + 1], axis=1).reshape(-1)
        cc = node_count[children]
        # Bounds of the children: from the bins for SAH splits; median splits (rare) reduce
        # over their (contiguous, in order) ranges.
        sah = ~(median | sub)[split]
        node_lo[kids[sah]] = box_l[0][:, split][:, sah].T
        node_hi[kids[sah]] = box_l[1][:, split][:, sah].T
        node_lo[kids[sah] + 1] = box_r[0][:, split][:, sah].T
        node_hi[kids[sah] + 1] = box_r[1][:, split][:, sah].T
        if not sah.all():
            mk = np.stack([kids[~sah], kids[~sah] + 1], axis=1).reshape(-1)
            cs, mc = node_start[mk], node_count[mk]
            cpos = _ranges(cs, mc)
            coff = np.cumsum(mc) - mc
            node_lo[mk] = np.minimum.reduceat(p_lo[:, cpos], coff, axis=1).T
            node_hi[mk] = np.maximum.reduceat(p_hi[:, cpos], coff, axis=1).T
        frontier = children[cc > min_leaf]

    leaf = node_count[:n_nodes] > 0
    first = np.where(leaf, node_start[:n_nodes], node_first[:n_nodes])
    b = BVH(lo=node_lo[:n_nodes].copy(), hi=node_hi[:n_nodes].copy(),
            first=first.astype(np.int32), count=node_count[:n_nodes].astype(np.int32),
            order=order)
    return (b, node_start[:n_nodes], node_size[:n_nodes]) if ranges else b


# --- large scenes: SAH over Morton clusters, exact SAH sweeps below (HLBVH) -------------------

def _spread_bits(x):
    """The low 21 bits of uint64 ``x`` spread to every third bit (63-bit Morton codes)."""
    x = x & np.uint64(0x1FFFFF)
    for shift, mask in ((32, 0x1F00000000FFFF), (16, 0x1F0000FF0000FF),
                        (8, 0x100F00F00F00F00F), (4, 0x10C30C30C30C30C3),
                        (2, 0x1249249249249249)):
        x = (x | (x << np.uint64(shift))) & np.uint64(mask)
    return x


def morton_codes(c: np.ndarray) -> np.ndarray:
    """63-bit Morton (Z-order) codes of points ``c`` (N, 3) over their bounding box."""
    lo, hi = c.min(axis=0), c.max(axis=0)
    ext = (hi - lo).astype(np.float64)
    scale = np.where(ext > 0, (MORTON_CELLS - 1) / np.where(ext > 0, ext, 1.0), 0.0)
    q = ((c - lo) * scale).astype(np.uint64)
    return ((_spread_bits(q[:, 0]) << np.uint64(2)) | (_spread_bits(q[:, 1]) << np.uint64(1))
            | _spread_bits(q[:, 2]))


def build_hlbvh(tlo: np.ndarray, thi: np.ndarray, max_leaf: int = 4,
                cluster_size: int | None = None, traversal_cost: float = 1.0,
                bottom: str | None = None, **sah) -> BVH:
    """BVH of many primitives given by their boxes (float32 (N, 3) each), for large scenes.

    The primitives are sorted along a Morton curve and cut into clusters (runs of equal code
    prefixes, the prefix as short as gives clusters of about ``cluster_size`` primitives on
    average, default :data:`HLBVH_CLUSTER_SIZE`). The top of the tree is the binned-SAH build
    over the clusters' boxes (:func:`build_bvh`'s, ``sah``: its options), every cluster a leaf.
    Below it, every top node of at most :data:`HLBVH_SWEEP_MAX` primitives whose parent has
    more is rebuilt (its primitives regrouped across cluster borders) by exact SAH sweeps:
    the primitives sorted by centroid along each axis (along the axis of largest centroid
    extent only for nodes of at most :data:`HLBVH_SWEEP_ONE_AXIS`), every split position
    costed from prefix and suffix boxes, a leaf when it costs less and holds at most
    ``max_leaf``. Clusters larger than HLBVH_SWEEP_MAX are first split at the highest
    differing code bit of their range (a linear BVH) down to that size.

    The top build's passes run over the clusters, not the primitives. ``bottom``: how the
    sweeps run, ``"taichi"`` (:func:`_bottom_taichi`, a kernel thread per range of at most
    HLBVH_SWEEP_MAX primitives; the default on CPU and CUDA) or ``"numpy"``
    (:func:`_bottom_numpy`, level by level over padded (positions, nodes) arrays); both make
    the same tree (node numbering aside)."""
    n = tlo.shape[0]
    if bottom is None:  # the kernel computes its costs in float64: CPU and CUDA
        bottom = "taichi" if ensure_init() in ("cpu", "cuda") else "numpy"
    cluster_size = HLBVH_CLUSTER_SIZE if cluster_size is None else int(cluster_size)
    codes = morton_codes(tlo + thi)
    perm = np.argsort(codes, kind="stable")
    codes = codes[perm]
    plo, phi = tlo[perm], thi[perm]
    # The prefix length (in octree levels) whose runs are clusters of about cluster_size.
    target = max(1, n // cluster_size)
    level = 1
    for lv in range(1, MORTON_BITS + 1):
        cuts = np.count_nonzero(np.diff(codes >> np.uint64(3 * (MORTON_BITS - lv)))) + 1
        level = lv
        if cuts >= target:
            break
    key = codes >> np.uint64(3 * (MORTON_BITS - level))
    cstart = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1]).astype(np.int64)
    csize = np.diff(np.append(cstart, n))
    clo = np.minimum.reduceat(plo, cstart, axis=0)
    chi = np.maximum.reduceat(phi, cstart, axis=0)
    if cstart.size <= 1 << 16:  # few clusters: all the bins (as build_bvh for small scenes)
        sah = dict(sah, min_bins=sah.get("n_bins", 16))
    top, t_start, t_size = _build_boxes(clo, chi, 1, 1, traversal_cost=traversal_cost,
                                        ranges=True, **sah)  # a cluster a leaf
    m_top = top.n_nodes
    # Everything below in "slots": positions in the clusters' order of the top tree (a top
    # node's primitives are the slots start .. end).
    runs = _ranges(cstart[top.order], csize[top.order])
    codes, plo, phi, perm = codes[runs], plo[runs], phi[runs], perm[runs]
    c_end = np.cumsum(csize[top.order])
    n_start = (c_end - csize[top.order])[t_start]
    n_end = c_end[t_start + t_size - 1]
    # The bottom starts at the top nodes of at most HLBVH_SWEEP_MAX primitives whose parent
    # has more (their subtrees are rebuilt by sweeps, across cluster borders), and at the
    # larger clusters (Morton splits inside them first).
    parent = np.full(m_top, -1, np.int64)
    internal = np.flatnonzero(top.count == 0)
    parent[top.first[internal]] = internal
    parent[top.first[internal] + 1] = internal
    size = n_end - n_start
    fits = size <= HLBVH_SWEEP_MAX
    start = fits & ((parent < 0) | ~fits[np.maximum(parent, 0)])
    start |= (top.count > 0) & ~fits
    # Top nodes under a start node are dropped (renumbered away at the end).
    keep = np.ones(m_top, bool)
    for lvl_nodes in _top_levels(top):
        under = lvl_nodes[(parent[lvl_nodes] >= 0)]
        under = under[~keep[parent[under]] | start[parent[under]]]
        keep[under] = False

    cap = m_top + 2 * n  # every entry below n_nodes is written (untouched pages stay free)
    lo = np.empty((cap, 3), np.float32)
    hi = np.empty((cap, 3), np.float32)
    first = np.empty(cap, np.int32)
    count = np.empty(cap, np.int32)
    lo[:m_top], hi[:m_top] = top.lo, top.hi
    first[:m_top] = top.first
    count[:m_top] = 0
    # ``cur[slot]``: the primitive (its slot before the sweeps) now there; ranges of more
    # than HLBVH_SWEEP_MAX split at their highest differing code bit (inside one cluster,
    # where the codes are sorted), smaller ones by an exact SAH sweep, which permutes ``cur``.
    cur = np.arange(n, dtype=np.int32)
    # boxes (lower x y z, upper x y z) and centroids by primitive, axis first, and a sentinel
    box_x = np.empty((6, n + 1), np.float32)
    box_x[:3, :n], box_x[3:, :n] = plo.T, phi.T
    box_x[:3, n], box_x[3:, n] = np.inf, -np.inf
    c_x = np.empty((3, n + 1), np.float32)
    np.add(box_x[:3, :n], box_x[3:, :n], out=c_x[:, :n])
    c_x[:, n] = np.inf
    node = np.flatnonzero(start)
    s, e = n_start[node], n_end[node]
    if bottom == "numpy":
        n_nodes, alive_tail = _bottom_numpy(node, s, e, codes, cur, plo, phi, box_x, c_x, lo, hi,
                                            first, count, m_top, max_leaf, traversal_cost)
    else:
        n_nodes, alive_tail = _bottom_taichi(node, s, e, codes, cur, box_x, c_x, lo, hi, first,
                                             count, m_top, max_leaf, traversal_cost)
    # Renumber without the dropped top nodes (children stay adjacent and after parents).
    alive = np.ones(n_nodes, bool)
    alive[:m_top] = keep
    if alive_tail is not None:
        alive[m_top:] = alive_tail
    new_id = np.cumsum(alive) - 1
    idx = np.flatnonzero(alive)  # entries not used are not even initialised
    first, count = first[idx], count[idx]
    inner = count == 0
    first = np.where(inner, new_id[np.where(inner, first, 0)], first)
    return BVH(lo=lo[idx], hi=hi[idx], first=first.astype(np.int32, copy=False),
               count=count.astype(np.int32, copy=False),
               order=perm[cur])


def _morton_split(codes, s, e):
    """Split positions of the ranges ``s .. e`` (more than HLBVH_SWEEP_MAX primitives, inside
    one cluster: codes sorted) at their highest differing code bit (the middle when all codes
    are equal)."""
    x = codes[s] ^ codes[e - 1]
    same = x == 0
    _, ex = np.frexp(np.where(same, 1, x).astype(np.float64))
    bit = (ex - 1).astype(np.uint64)
    t = ((codes[s] >> bit) | np.uint64(1)) << bit
    return np.where(same, (s + e) // 2, _search_ranges(codes, s, e, t))


def _bottom_numpy(node, s, e, codes, cur, plo, phi, box_x, c_x, lo, hi, first, count, m_top,
                  max_leaf, traversal_cost):
    """:func:`build_hlbvh`'s bottom in numpy, level by level over all ranges (the reference
    for :func:`_bottom_taichi`): Morton splits of the ranges of more than HLBVH_SWEEP_MAX
    primitives, exact SAH sweeps (:func:`_sweep_small`) below. Writes the nodes from index
    ``m_top`` on; returns (number of nodes, None: all of them used)."""
    n_nodes = m_top
    n_nodes = m_top
    levels = []  # (parents, first child) per level, for the bottom-up boxes
    leaves_node, leaves_s, leaves_e = [], [], []
    while node.size:
        m = e - s
        leaf = m <= 1
        big = m > HLBVH_SWEEP_MAX
        small = ~leaf & ~big
        split = np.zeros(node.size, np.int64)
        if big.any():
            sb, eb = s[big], e[big]
            x = codes[sb] ^ codes[eb - 1]
            same = x == 0
            _, ex = np.frexp(np.where(same, 1, x).astype(np.float64))
            bit = (ex - 1).astype(np.uint64)
            t = ((codes[sb] >> bit) | np.uint64(1)) << bit
            split[big] = np.where(same, (sb + eb) // 2, _search_ranges(codes, sb, eb, t))
        # Pairs: the one split (one primitive each side) against the leaf, no sweep needed.
        pair = np.flatnonzero(small & (m == 2))
        if pair.size:
            a, b = cur[s[pair]], cur[s[pair] + 1]
            both = _area3(np.minimum(box_x[:3, a], box_x[:3, b]),
                          np.maximum(box_x[3:, a], box_x[3:, b])).astype(np.float64)
            apart = (_area3(box_x[:3, a], box_x[3:, a]).astype(np.float64)
                     + _area3(box_x[:3, b], box_x[3:, b]))
            with np.errstate(divide="ignore", invalid="ignore"):
                split_cost = traversal_cost + apart / np.where(both > 0, both, 1.0)
            leaf[pair[(max_leaf >= 2) & (split_cost >= 2)]] = True
            split[pair] = s[pair] + 1
            small[pair] = False
        # Other small ranges in buckets of similar sizes (padded to the bucket's largest).
        bucket = np.where(small, np.frexp((m - 1).astype(np.float64))[1], -1)
        for bk in np.unique(bucket[small]):
            sel_all = np.flatnonzero(bucket == bk)
            # in chunks of about SWEEP_CHUNK padded entries: small temporaries, reused memory
            step = max(1, SWEEP_CHUNK >> int(bk))
            for c0 in range(0, sel_all.size, step):
                sel = sel_all[c0:c0 + step]
                cut, stop = _sweep_small(cur, s[sel], m[sel], box_x, c_x, max_leaf,
                                         traversal_cost)
                split[sel] = s[sel] + cut
                leaf[sel[stop]] = True
        leaves_node.append(node[leaf])
        leaves_s.append(s[leaf])
        leaves_e.append(e[leaf])
        node, s, e, split = node[~leaf], s[~leaf], e[~leaf], split[~leaf]
        if not node.size:
            break
        node, s, e, n_nodes = _split_level(node, s, e, split, n_nodes, first, count, levels)
    ln = np.concatenate(leaves_node)
    ls = np.concatenate(leaves_s)
    le = np.concatenate(leaves_e)
    srt = np.argsort(ls)
    ln, ls, le = ln[srt], ls[srt], le[srt]
    first[ln], count[ln] = ls, le - ls
    lo[ln] = np.minimum.reduceat(plo[cur], ls, axis=0)  # leaves tile the slots [0, n)
    hi[ln] = np.maximum.reduceat(phi[cur], ls, axis=0)
    for parents, kids in reversed(levels):
        lo[parents] = np.minimum(lo[kids], lo[kids + 1])
        hi[parents] = np.maximum(hi[kids], hi[kids + 1])
    return n_nodes, None


def _split_level(node, s, e, split, n_nodes, first, count, levels):
    """One level of a top-down build: the ranges [s, e) of ``node`` cut at ``split`` into two
    children each (node entries from ``n_nodes`` on, recorded in ``levels`` for the bottom-up
    box pass). Returns the children (nodes, starts, ends) and the new number of entries."""
    kids = n_nodes + 2 * np.arange(node.size)
    first[node] = kids
    count[node] = 0
    levels.append((node, kids))
    return (np.concatenate([kids, kids + 1]), np.concatenate([s, split]),
            np.concatenate([split, e]), n_nodes + 2 * node.size)


def _bottom_taichi(node, s, e, codes, cur, box_x, c_x, lo, hi, first, count, m_top, max_leaf,
                   traversal_cost):
    """:func:`build_hlbvh`'s bottom: the ranges of more than HLBVH_SWEEP_MAX primitives split
    at their highest differing code bit (numpy, level by level), then every range of at most
    HLBVH_SWEEP_MAX built by one thread of :func:`_sweep_subtrees` (the exact SAH sweeps of
    :func:`_sweep_small`, depth first, in a block of ``2 m - 2`` node entries reserved for a
    range of ``m`` primitives; areas in float32, costs in float64 as the numpy sweeps).
    Returns (number of node entries, which of those from ``m_top`` on are used)."""
    n_nodes = m_top
    levels, roots, r_s, r_e = [], [], [], []
    while node.size:
        big = (e - s) > HLBVH_SWEEP_MAX
        roots.append(node[~big])
        r_s.append(s[~big])
        r_e.append(e[~big])
        node, s, e = node[big], s[big], e[big]
        if not node.size:
            break
        split = _morton_split(codes, s, e)
        node, s, e, n_nodes = _split_level(node, s, e, split, n_nodes, first, count, levels)
    roots = np.concatenate(roots).astype(np.int32)
    r_s = np.concatenate(r_s).astype(np.int32)
    r_e = np.concatenate(r_e).astype(np.int32)
    block = 2 * (r_e - r_s) - 2
    base = (n_nodes + np.cumsum(block) - block).astype(np.int32)
    used = np.zeros(roots.size, np.int32)
    n = cur.size
    ensure_init()
    scratch = np.empty((6, n), np.int32)  # per slot: sort buffers, areas, the DFS stacks
    _sweep_subtrees(roots, r_s, r_e, base, box_x, c_x, cur, scratch, first, count, lo, hi,
                    used, int(max_leaf), float(traversal_cost), HLBVH_SWEEP_ONE_AXIS)
    for parents, kids in reversed(levels):
        lo[parents] = np.minimum(lo[kids], lo[kids + 1])
        hi[parents] = np.maximum(hi[kids], hi[kids + 1])
    end = n_nodes + int(block.sum())
    alive = np.zeros(end - m_top, bool)
    alive[:n_nodes - m_top] = True
    alive[_ranges(base.astype(np.int64) - m_top, used.astype(np.int64))] = True
    return end, alive


@ti.func
def _box_area(lo, hi):
    d = hi - lo
    return 2.0 * (d[0] * (d[1] + d[2]) + d[1] * d[2])


@ti.kernel
def _sweep_subtrees(roots: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    r_s: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    r_e: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    base: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    box: ti.types.ndarray(dtype=ti.f32, ndim=2),
                    cen: ti.types.ndarray(dtype=ti.f32, ndim=2),
                    cur: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    scratch: ti.types.ndarray(dtype=ti.i32, ndim=2),
                    first: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    count: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    lo: ti.types.ndarray(dtype=ti.f32, ndim=2),
                    hi: ti.types.ndarray(dtype=ti.f32, ndim=2),
                    used: ti.types.ndarray(dtype=ti.i32, ndim=1),
                    max_leaf: ti.i32, traversal_cost: ti.f64, one_axis: ti.i32):
    """One thread per range ``r_s[r] .. r_e[r]`` of slots (at most HLBVH_SWEEP_MAX
    primitives), node ``roots[r]``: the subtree by exact SAH sweeps, depth first, its nodes
    allocated in pairs from ``base[r]`` (``used[r]``: how many). ``box`` (6, N: lower x y z,
    upper x y z) and ``cen`` (3, N: lower + upper) by primitive; ``cur`` maps a slot to its
    primitive and is permuted by the sweeps. ``scratch`` rows, indexed by slot inside the
    range (each thread owns its range): 0 a sort buffer, 1 the best axis's order, 2 the
    suffix areas (float32 bits), 3-5 the DFS stack (node, start, end)."""
    for r in range(roots.shape[0]):
        s0 = r_s[r]
        nxt = base[r]
        scratch[3, s0] = roots[r]
        scratch[4, s0] = s0
        scratch[5, s0] = r_e[r]
        sp = 1
        while sp > 0:
            sp -= 1
            nd = scratch[3, s0 + sp]
            a = scratch[4, s0 + sp]
            b = scratch[5, s0 + sp]
            m = b - a
            leaf = m <= 1
            split = a + 1
            if m == 2:  # the one split against the leaf
                q_ = cur[a]
                l0 = ti.Vector([box[0, q_], box[1, q_], box[2, q_]])
                h0 = ti.Vector([box[3, q_], box[4, q_], box[5, q_]])
                q_ = cur[a + 1]
                l1 = ti.Vector([box[0, q_], box[1, q_], box[2, q_]])
                h1 = ti.Vector([box[3, q_], box[4, q_], box[5, q_]])
                both = ti.f64(_box_area(ti.min(l0, l1), ti.max(h0, h1)))
                apart = ti.f64(_box_area(l0, h0)) + ti.f64(_box_area(l1, h1))
                cost = traversal_cost + apart / (both if both > 0.0 else 1.0)
                if max_leaf >= 2 and cost >= 2.0:
                    leaf = True
            elif m > 2:
                ax0, ax1 = 0, 2
                if m <= one_axis:  # the axis of the largest centroid extent
                    cl = ti.Vector([_BIG, _BIG, _BIG])
                    ch = -cl
                    for i in range(a, b):
                        c = ti.Vector([cen[0, cur[i]], cen[1, cur[i]], cen[2, cur[i]]])
                        cl = ti.min(cl, c)
                        ch = ti.max(ch, c)
                    ext = ch - cl
                    ax0 = 0
                    if ext[1] > ext[ax0]:
                        ax0 = 1
                    if ext[2] > ext[ax0]:
                        ax0 = 2
                    ax1 = ax0
                best = ti.f64(_BIG)
                best_k = 0
                area = ti.f64(0.0)
                for ax in range(ax0, ax1 + 1):
                    for i in range(a, b):  # stable insertion sort by centroid
                        p = cur[i]
                        key = cen[ax, p]
                        j = i - 1
                        while j >= a:
                            if cen[ax, scratch[0, j]] <= key:
                                break
                            scratch[0, j + 1] = scratch[0, j]
                            j -= 1
                        scratch[0, j + 1] = p
                    bl = ti.Vector([_BIG, _BIG, _BIG])
                    bh = -bl
                    for q in range(b - 1 - a):  # suffix boxes' areas
                        i = b - 1 - q
                        q_ = scratch[0, i]
                        pl = ti.Vector([box[0, q_], box[1, q_], box[2, q_]])
                        ph = ti.Vector([box[3, q_], box[4, q_], box[5, q_]])
                        bl = ti.min(bl, pl)
                        bh = ti.max(bh, ph)
                        scratch[2, i] = ti.bit_cast(ti.f32(_box_area(bl, bh)), ti.i32)
                    bl = ti.Vector([_BIG, _BIG, _BIG])
                    bh = -bl
                    axis_best = ti.f64(_BIG)
                    axis_k = 0
                    for i in range(a, b - 1):  # prefix boxes, the cost of every split
                        q_ = scratch[0, i]
                        pl = ti.Vector([box[0, q_], box[1, q_], box[2, q_]])
                        ph = ti.Vector([box[3, q_], box[4, q_], box[5, q_]])
                        bl = ti.min(bl, pl)
                        bh = ti.max(bh, ph)
                        c = (ti.f64(_box_area(bl, bh)) * ti.f64(i - a + 1)
                             + ti.f64(ti.bit_cast(scratch[2, i + 1], ti.f32)) * ti.f64(b - 1 - i))
                        if c < axis_best:
                            axis_best = c
                            axis_k = i - a
                    q_ = scratch[0, b - 1]
                    pl = ti.Vector([box[0, q_], box[1, q_], box[2, q_]])
                    ph = ti.Vector([box[3, q_], box[4, q_], box[5, q_]])
                    area = ti.f64(_box_area(ti.min(bl, pl), ti.max(bh, ph)))
                    if axis_best < best or ax == ax0:
                        best = axis_best
                        best_k = axis_k
                        for i in range(a, b):
                            scratch[1, i] = scratch[0, i]
                cost = traversal_cost + best / (area if area > 0.0 else 1.0)
                if m <= max_leaf and cost >= ti.f64(m):
                    leaf = True
                else:
                    for i in range(a, b):
                        cur[i] = scratch[1, i]
                    split = a + best_k + 1
            if leaf:
                first[nd] = a
                count[nd] = m
                bl = ti.Vector([_BIG, _BIG, _BIG])
                bh = -bl
                for i in range(a, b):
                    q_ = cur[i]
                    pl = ti.Vector([box[0, q_], box[1, q_], box[2, q_]])
                    ph = ti.Vector([box[3, q_], box[4, q_], box[5, q_]])
                    bl = ti.min(bl, pl)
                    bh = ti.max(bh, ph)
                for k in ti.static(range(3)):
                    lo[nd, k] = bl[k]
                    hi[nd, k] = bh[k]
            else:
                kl = nxt
                nxt += 2
                first[nd] = kl
                count[nd] = 0
                scratch[3, s0 + sp] = kl + 1  # right pushed first: the left is built first
                scratch[4, s0 + sp] = split
                scratch[5, s0 + sp] = b
                scratch[3, s0 + sp + 1] = kl
                scratch[4, s0 + sp + 1] = a
                scratch[5, s0 + sp + 1] = split
                sp += 2
        used[r] = nxt - base[r]
        # Boxes of the internal nodes, children (allocated after their parent) first.
        for q in range(nxt - base[r] + 1):
            i = roots[r]
            if q < nxt - base[r]:
                i = nxt - 1 - q
            if count[i] == 0:
                c = first[i]
                for k in ti.static(range(3)):
                    lo[i, k] = ti.min(lo[c, k], lo[c + 1, k])
                    hi[i, k] = ti.max(hi[c, k], hi[c + 1, k])


def _top_levels(top: BVH):
    """The nodes of a tree level by level from the root (children after their parent)."""
    out, node = [], np.array([0], np.int64)
    while node.size:
        out.append(node)
        inner = node[top.count[node] == 0]
        node = np.concatenate([top.first[inner], top.first[inner] + 1]).astype(np.int64)
    return out


def _search_ranges(codes, s, e, t):
    """For every range ``s .. e`` of ``codes`` (sorted inside each range), the first position
    whose code is >= ``t`` (vectorised bisection)."""
    lo, hi = s.copy(), e.copy()
    while True:
        go = lo < hi
        if not go.any():
            return lo
        mid = (lo + hi) // 2
        below = go & (codes[np.minimum(mid, codes.size - 1)] < t)
        lo = np.where(below, mid + 1, lo)
        hi = np.where(go & ~below, mid, hi)


def _sweep_small(cur, s, m, box_x, c_x, max_leaf, traversal_cost):
    """One exact-sweep SAH step for the ranges ``s .. s + m`` of slots (2 <= m, small): for
    each axis the range's primitives sorted by centroid, every split position costed from the
    prefix and suffix boxes. Writes the best axis's order into ``cur``; returns the split
    position in each range (the size of its left child) and whether the range stays a leaf.
    ``box_x`` (6, N + 1: lower x y z, upper x y z) and ``c_x`` (3, N + 1): boxes and
    centroids by primitive, and an empty sentinel last."""
    # Position-major layout (p, k): the sweeps run along the positions, row by row.
    k, p = s.size, int(m.max())
    j = np.arange(p)[:, None]
    valid = j < m[None, :]
    slots = s[None, :] + j
    el = np.where(valid, cur[np.minimum(slots, cur.size - 1)], box_x.shape[1] - 1)
    cols = np.arange(k)
    cnt = np.arange(1, p)[:, None]
    best = np.full(k, np.inf)
    best_i = np.zeros(k, np.int64)
    best_el = el
    area = None
    boxes = np.take(box_x, el, axis=1)  # (6, p, k); then local gathers per axis
    cen = np.take(c_x, el, axis=1)  # (3, p, k), the sentinel's +inf
    if p > HLBVH_SWEEP_ONE_AXIS:
        keys = list(cen)
    else:  # the axis of the largest centroid extent
        ext = (np.where(valid, cen, -np.inf).max(axis=1) - np.where(valid, cen, np.inf).min(axis=1))
        keys = [np.take_along_axis(cen, np.argmax(ext, axis=0)[None, None, :], axis=0)[0]]
    for key in keys:
        o = np.argsort(key, axis=0, kind="stable")
        flat = (o * k + cols).reshape(-1)  # (position, column) -> flat index, sorted
        se = np.take(el, flat).reshape(p, k)
        left = np.take(boxes.reshape(6, -1), flat, axis=1).reshape(6, p, k)
        right = left.copy()
        for r in range(1, p):
            np.minimum(left[:3, r - 1], left[:3, r], out=left[:3, r])
            np.maximum(left[3:, r - 1], left[3:, r], out=left[3:, r])
            q = p - 1 - r
            np.minimum(right[:3, q + 1], right[:3, q], out=right[:3, q])
            np.maximum(right[3:, q + 1], right[3:, q], out=right[3:, q])
        if area is None:
            area = _area3(left[:3, m - 1, cols], left[3:, m - 1, cols]).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            cost = (_area3(left[:3, :-1], left[3:, :-1]) * cnt
                    + _area3(right[:3, 1:], right[3:, 1:]) * (m - cnt))
        cost = np.where(cnt < m, cost, np.inf)
        i = np.argmin(cost, axis=0)
        ci = cost[i, cols]
        better = ci < best
        best = np.where(better, ci, best)
        best_i = np.where(better, i, best_i)
        best_el = np.where(better[None, :], se, best_el)
    with np.errstate(divide="ignore", invalid="ignore"):
        split_cost = traversal_cost + best / np.where(area > 0, area, 1.0)
    stop = (m <= max_leaf) & (split_cost >= m)
    w = valid & ~stop[None, :]
    cur[slots[w]] = best_el[w]
    return best_i + 1, stop


# --- spatial splits (SBVH) for small scenes ----------------------------------------------------

def _clip_boxes(v0, v1, v2, rlo, rhi, axis, planes):
    """Boxes of the triangles (M, 3 each) clipped to the slabs ``planes[j] <= x_axis <=
    planes[j + 1]`` (J + 1 planes), intersected with the reference boxes ``rlo``, ``rhi``
    (M, 3). Returns lo, hi (M, J, 3); a triangle that misses a slab gets an empty box
    (lo = +inf, hi = -inf). The clipped part of a triangle is the convex hull of its vertices
    inside the slab and of its edges' crossings of the two planes, so its box is exact."""
    a0, a1 = planes[None, :-1], planes[None, 1:]  # (1, J)
    pts = []
    ins = []
    verts = (v0, v1, v2)
    for v in verts:
        x = v[:, axis:axis + 1]
        pts.append(np.broadcast_to(v[:, None, :], (v.shape[0], a0.shape[1], 3)))
        ins.append((x >= a0) & (x <= a1))
    for p, q in ((v0, v1), (v1, v2), (v2, v0)):
        xp, xq = p[:, axis:axis + 1], q[:, axis:axis + 1]
        dx = xq - xp
        safe = np.where(dx != 0, dx, 1.0)
        for plane in (a0, a1):
            s = (plane - xp) / safe  # (M, J)
            ok = (dx != 0) & (s >= 0) & (s <= 1)
            pt = p[:, None, :] + np.clip(s, 0, 1)[..., None] * (q - p)[:, None, :]
            pt[..., axis] = np.broadcast_to(plane, s.shape)  # exactly on the plane
            pts.append(pt)
            ins.append(ok)
    P = np.stack(pts)  # (K, M, J, 3)
    I = np.stack(ins)[..., None]
    lo = np.where(I, P, np.inf).min(axis=0)
    hi = np.where(I, P, -np.inf).max(axis=0)
    lo = np.maximum(lo, rlo[:, None, :])
    hi = np.minimum(hi, rhi[:, None, :])
    empty = np.any(lo > hi, axis=2, keepdims=True)
    return np.where(empty, np.inf, lo), np.where(empty, -np.inf, hi)


def _sweep_sah(lo, hi, key):
    """Best object split of the references sorted by ``key``: (cost, position, order, left box,
    right box) with cost = A_L N_L + A_R N_R; position = number of references on the left."""
    o = np.argsort(key, kind="stable")
    l_lo = np.minimum.accumulate(lo[o], axis=0)
    l_hi = np.maximum.accumulate(hi[o], axis=0)
    r_lo = np.minimum.accumulate(lo[o][::-1], axis=0)[::-1]
    r_hi = np.maximum.accumulate(hi[o][::-1], axis=0)[::-1]
    m = key.shape[0]
    n_l = np.arange(1, m)
    cost = _area(l_lo[:-1], l_hi[:-1]) * n_l + _area(r_lo[1:], r_hi[1:]) * (m - n_l)
    i = int(np.argmin(cost))
    return (float(cost[i]), i + 1, o, (l_lo[i], l_hi[i]), (r_lo[i + 1], r_hi[i + 1]))


def build_sbvh(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, max_leaf: int = 4,
               min_leaf: int = 1, max_refs: int | None = None, n_bins: int = 32,
               alpha: float = 1e-5, traversal_cost: float = 1.0) -> BVH:
    """SAH BVH with spatial splits (Stich, Friedrich and Dietrich 2009, "Spatial splits in
    bounding volume hierarchies"), for small scenes (a Python recursion over nodes).

    Every node tries the best object split (exact sweep over the sorted centroids of its
    references, on each axis); when the two children's boxes overlap by more than ``alpha``
    times the root's area, it also tries ``n_bins`` spatial split planes per axis, which
    clip the triangles that straddle the plane into both children (a triangle's reference box
    is its part inside the node), with reference unsplitting (a straddling triangle goes
    wholly to one side when that is cheaper). Leaves follow the same cost model as
    :func:`build_bvh`. At most ``max_refs`` triangle references (default: unlimited) in all.

    The result is a :class:`BVH` whose ``order`` may hold a triangle more than once (leaf
    slot -> original triangle); boxes are exact float64 bounds rounded outwards to float32."""
    v0 = np.asarray(v0, np.float64)
    v1 = np.asarray(v1, np.float64)
    v2 = np.asarray(v2, np.float64)
    n = v0.shape[0]
    if n == 0:
        return build_bvh(v0, v1, v2)
    budget = [np.inf if max_refs is None else int(max_refs) - n]
    tlo = np.minimum(np.minimum(v0, v1), v2)
    thi = np.maximum(np.maximum(v0, v1), v2)
    root_area = float(_area(tlo.min(0), thi.max(0)))
    lo_out, hi_out, first_out, count_out, order_out = [], [], [], [], []

    def new_node(lo, hi):
        lo_out.append(lo)
        hi_out.append(hi)
        first_out.append(0)
        count_out.append(0)
        return len(lo_out) - 1

    def make_leaf(i, tri):
        first_out[i] = len(order_out)
        count_out[i] = tri.size
        order_out.extend(tri.tolist())

    stack = [(new_node(tlo.min(0), thi.max(0)), np.arange(n), tlo, thi)]
    while stack:
        node, tri, rlo, rhi = stack.pop()
        m = tri.size
        nlo, nhi = lo_out[node], hi_out[node]
        area = float(_area(nlo, nhi))
        if m <= min_leaf:
            make_leaf(node, tri)
            continue
        cen = 0.5 * (rlo + rhi)
        best = None  # (cost, kind, data)
        for a in range(3):
            if cen[:, a].max() > cen[:, a].min():
                c, pos, o, bl, br = _sweep_sah(rlo, rhi, cen[:, a])
                if best is None or c < best[0]:
                    best = (c, "object", (o, pos, bl, br))
        if best is not None and m > 1 and budget[0] > 0:
            bl, br = best[2][2], best[2][3]
            ov = np.maximum(0.0, np.minimum(bl[1], br[1]) - np.maximum(bl[0], br[0]))
            overlap = 2 * (ov[0] * (ov[1] + ov[2]) + ov[1] * ov[2])
            if overlap > alpha * root_area:
                for a in range(3):
                    if nhi[a] <= nlo[a]:
                        continue
                    planes = np.linspace(nlo[a], nhi[a], n_bins + 1)
                    blo, bhi = _clip_boxes(v0[tri], v1[tri], v2[tri], rlo, rhi, a, planes)
                    has = np.isfinite(blo[..., 0])  # (m, J): the reference has a part in bin j
                    # bin boxes, their prefix / suffix unions, entry / exit counts
                    ulo, uhi = blo.min(axis=0), bhi.max(axis=0)  # (J, 3)
                    L_lo = np.minimum.accumulate(ulo, axis=0)
                    L_hi = np.maximum.accumulate(uhi, axis=0)
                    R_lo = np.minimum.accumulate(ulo[::-1], axis=0)[::-1]
                    R_hi = np.maximum.accumulate(uhi[::-1], axis=0)[::-1]
                    anyb = has.any(axis=1)
                    b0 = np.where(anyb, np.argmax(has, axis=1), 0)
                    b1 = np.where(anyb, n_bins - 1 - np.argmax(has[:, ::-1], axis=1), -1)
                    ent = np.bincount(b0[anyb], minlength=n_bins)
                    ext = np.bincount(b1[anyb], minlength=n_bins)
                    n_l = np.cumsum(ent)[:-1]  # planes 1 .. J - 1
                    n_r = np.cumsum(ext[::-1])[::-1][1:]
                    with np.errstate(invalid="ignore"):
                        cost = _area(L_lo[:-1], L_hi[:-1]) * n_l + _area(R_lo[1:], R_hi[1:]) * n_r
                    cost = np.where((n_l > 0) & (n_r > 0) & np.isfinite(cost), cost, np.inf)
                    k = int(np.argmin(cost))
                    if cost[k] < best[0]:
                        best = (float(cost[k]), "spatial", (a, k + 1, blo, bhi, b0, b1))
        leaf_ok = m <= max_leaf
        if best is None:
            if leaf_ok:
                make_leaf(node, tri)
                continue
            # identical centroids: split the range in half
            h = m // 2
            parts = [(tri[:h], rlo[:h], rhi[:h]), (tri[h:], rlo[h:], rhi[h:])]
        else:
            split_cost = traversal_cost + best[0] / area if area > 0 else np.inf
            if leaf_ok and split_cost >= m:
                make_leaf(node, tri)
                continue
            if best[1] == "object":
                o, pos, _, _ = best[2]
                lft, rgt = o[:pos], o[pos:]
                parts = [(tri[lft], rlo[lft], rhi[lft]), (tri[rgt], rlo[rgt], rhi[rgt])]
            else:
                a, k, blo, bhi, b0, b1 = best[2]
                left_only = b1 < k
                right_only = b0 >= k
                both = ~left_only & ~right_only
                # the two parts of a straddling reference
                pl_lo = blo[:, :k].min(axis=1)
                pl_hi = bhi[:, :k].max(axis=1)
                pr_lo = blo[:, k:].min(axis=1)
                pr_hi = bhi[:, k:].max(axis=1)
                # reference unsplitting: a straddler goes wholly to one side when cheaper
                Llo, Lhi = pl_lo[left_only | both].min(0), pl_hi[left_only | both].max(0)
                Rlo, Rhi = pr_lo[right_only | both].min(0), pr_hi[right_only | both].max(0)
                NL, NR = int((left_only | both).sum()), int((right_only | both).sum())
                AL, AR = float(_area(Llo, Lhi)), float(_area(Rlo, Rhi))
                go_l = np.zeros(m, bool)
                go_r = np.zeros(m, bool)
                for r in np.flatnonzero(both):
                    c_split = AL * NL + AR * NR
                    c1 = float(_area(np.minimum(Llo, rlo[r]), np.maximum(Lhi, rhi[r]))) * NL + AR * (NR - 1)
                    c2 = AL * (NL - 1) + float(_area(np.minimum(Rlo, rlo[r]), np.maximum(Rhi, rhi[r]))) * NR
                    if c1 < c_split and c1 <= c2 and NR > 1:
                        go_l[r] = True
                        Llo, Lhi = np.minimum(Llo, rlo[r]), np.maximum(Lhi, rhi[r])
                        AL, NR = float(_area(Llo, Lhi)), NR - 1
                    elif c2 < c_split and NL > 1:
                        go_r[r] = True
                        Rlo, Rhi = np.minimum(Rlo, rlo[r]), np.maximum(Rhi, rhi[r])
                        AR, NL = float(_area(Rlo, Rhi)), NL - 1
                split_both = both & ~go_l & ~go_r
                n_dup = int(split_both.sum())
                if n_dup > budget[0]:  # out of references: fall back to the object split
                    best = None
                    for ax in range(3):
                        if cen[:, ax].max() > cen[:, ax].min():
                            c, pos, o, bl, br = _sweep_sah(rlo, rhi, cen[:, ax])
                            if best is None or c < best[0]:
                                best = (c, o, pos)
                    o, pos = best[1], best[2]
                    lft, rgt = o[:pos], o[pos:]
                    parts = [(tri[lft], rlo[lft], rhi[lft]), (tri[rgt], rlo[rgt], rhi[rgt])]
                else:
                    budget[0] -= n_dup
                    lm = left_only | go_l | split_both
                    rm = right_only | go_r | split_both
                    l_lo = np.where((go_l | left_only)[:, None], rlo, pl_lo)[lm]
                    l_hi = np.where((go_l | left_only)[:, None], rhi, pl_hi)[lm]
                    r_lo = np.where((go_r | right_only)[:, None], rlo, pr_lo)[rm]
                    r_hi = np.where((go_r | right_only)[:, None], rhi, pr_hi)[rm]
                    parts = [(tri[lm], l_lo, l_hi), (tri[rm], r_lo, r_hi)]
        kl = new_node(parts[0][1].min(0), parts[0][2].max(0))
        kr = new_node(parts[1][1].min(0), parts[1][2].max(0))
        first_out[node] = kl
        # right pushed first: the left subtree is laid out first (depth first)
        stack.append((kr,) + parts[1])
        stack.append((kl,) + parts[0])

    lo = np.array(lo_out, np.float64)
    hi = np.array(hi_out, np.float64)
    lo32 = lo.astype(np.float32)
    hi32 = hi.astype(np.float32)
    lo32 = np.where(lo32 > lo, np.nextafter(lo32, np.float32(-np.inf)), lo32)
    hi32 = np.where(hi32 < hi, np.nextafter(hi32, np.float32(np.inf)), hi32)
    return BVH(lo=lo32, hi=hi32, first=np.array(first_out, np.int32),
               count=np.array(count_out, np.int32), order=np.array(order_out, np.int64))


# --- searched SAH trees for tiny scenes ---------------------------------------------------------

def build_sah_search(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, max_leaf: int = 4,
                     beam: int = 2, peel: int | None = None, lookahead: int = 1,
                     traversal_cost: float = 1.0, leaf_width: int = 1) -> BVH:
    """SAH tree of a tiny scene by a memoised search instead of greedy top-down splits.

    The SAH cost of a subtree over the triangle set ``S`` is
    ``min(A(S) |S|  [|S| <= max_leaf],  A(S) traversal_cost + C(left) + C(right))``; the
    greedy build takes at every node the split that minimises ``A_L N_L + A_R N_R``, which is
    not the split that minimises the cost of the whole subtree. Here every node tries the
    ``beam`` best object splits of each axis (centroid sweeps, ranked by the greedy measure)
    and the ``peel`` (default ``max_leaf``) splits at either end of each axis, which split a
    few large triangles off (walls of a room, ranked low by the greedy measure), and keeps the
    one whose children, searched ``lookahead - 1`` more levels and then built greedily, cost
    least (memoised by triangle set). The result never costs more than the greedy exact-sweep
    tree. Meant for a few dozen triangles (Cornell box, 32 triangles, lookahead 2: ~0.1 s).

    ``leaf_width`` > 1: leaves are tested ``leaf_width`` triangles at a time (SIMD packets), so
    a leaf of ``m`` triangles costs ``ceil(m / leaf_width)`` instead of ``m``."""
    v0 = np.asarray(v0, np.float64)
    v1 = np.asarray(v1, np.float64)
    v2 = np.asarray(v2, np.float64)
    n = v0.shape[0]
    if n == 0:
        return build_bvh(v0, v1, v2)
    tlo = np.minimum(np.minimum(v0, v1), v2)
    thi = np.maximum(np.maximum(v0, v1), v2)
    cen = 0.5 * (tlo + thi)
    peel = max_leaf if peel is None else peel
    greedy_memo = {}

    def leaf_cost(m):
        return m if leaf_width <= 1 else -(-m // leaf_width)

    def candidates(idx, lo, hi, k_top, k_peel):
        """Object splits of ``idx``: (greedy measure, left, right), the ``k_top`` best of each
        axis by the greedy measure and the ``k_peel`` at either end."""
        m = idx.size
        out, seen = [], set()
        for a in range(3):
            o = np.argsort(cen[idx, a], kind="stable")
            if cen[idx[o[0]], a] == cen[idx[o[-1]], a]:
                continue
            l_lo = np.minimum.accumulate(lo[o], axis=0)[:-1]
            l_hi = np.maximum.accumulate(hi[o], axis=0)[:-1]
            r_lo = np.minimum.accumulate(lo[o][::-1], axis=0)[::-1][1:]
            r_hi = np.maximum.accumulate(hi[o][::-1], axis=0)[::-1][1:]
            k = np.arange(1, m)
            c = _area(l_lo, l_hi) * k + _area(r_lo, r_hi) * (m - k)
            top = np.argsort(c, kind="stable")[:k_top].tolist()
            ends = list(range(min(k_peel, m - 1))) + list(range(max(0, m - 1 - k_peel), m - 1))
            for p in dict.fromkeys(top + ends):
                left = np.sort(idx[o[:p + 1]])
                key = left.tobytes()
                if key not in seen:
                    seen.add(key)
                    out.append((float(c[p]), left, np.sort(idx[o[p + 1:]])))
        if not out:  # identical centroids: halves
            out = [(0.0, idx[:m // 2], idx[m // 2:])]
        out.sort(key=lambda x: x[0])
        return out

    def greedy(idx):
        """SAH cost (area-weighted) of the greedy exact-sweep subtree over ``idx``."""
        key = idx.tobytes()
        if key in greedy_memo:
            return greedy_memo[key]
        m = idx.size
        lo, hi = tlo[idx], thi[idx]
        area = float(_area(lo.min(0), hi.max(0)))
        leaf = area * leaf_cost(m) if m <= max_leaf else np.inf
        cost = leaf
        if m > 1:
            _, left, right = candidates(idx, lo, hi, 1, 0)[0]
            split = area * traversal_cost + greedy(left) + greedy(right)
            cost = min(leaf, split)
        greedy_memo[key] = cost
        return cost

    memo = [{} for _ in range(lookahead + 1)]

    def solve(idx, depth):
        """(cost, left, right) of the split of ``idx`` (left None: a leaf) whose children,
        searched ``depth - 1`` more levels and then built greedily, cost least."""
        key = idx.tobytes()
        if key in memo[depth]:
            return memo[depth][key]
        m = idx.size
        lo, hi = tlo[idx], thi[idx]
        area = float(_area(lo.min(0), hi.max(0)))
        best = (area * leaf_cost(m), None, None) if m <= max_leaf else (np.inf, None, None)
        if m > 1:
            sub = greedy if depth <= 1 else (lambda x: solve(x, depth - 1)[0])
            for _, left, right in candidates(idx, lo, hi, beam, peel):
                c = area * traversal_cost + sub(left)
                if c < best[0]:
                    c += sub(right)
                    if c < best[0]:
                        best = (c, left, right)
        memo[depth][key] = best
        return best

    lo_out, hi_out, first_out, count_out, order_out = [], [], [], [], []

    def new_node(idx):
        lo_out.append(tlo[idx].min(0))
        hi_out.append(thi[idx].max(0))
        first_out.append(0)
        count_out.append(0)
        return len(lo_out) - 1

    root = np.arange(n)
    stack = [(new_node(root), root)]
    while stack:
        node, idx = stack.pop()
        _, left, right = solve(idx, lookahead)
        if left is None:
            first_out[node] = len(order_out)
            count_out[node] = idx.size
            order_out.extend(idx.tolist())
            continue
        kl = new_node(left)
        kr = new_node(right)
        first_out[node] = kl
        stack.append((kr, right))
        stack.append((kl, left))
    lo = np.array(lo_out, np.float64)
    hi = np.array(hi_out, np.float64)
    lo32 = lo.astype(np.float32)
    hi32 = hi.astype(np.float32)
    lo32 = np.where(lo32 > lo, np.nextafter(lo32, np.float32(-np.inf)), lo32)
    hi32 = np.where(hi32 < hi, np.nextafter(hi32, np.float32(np.inf)), hi32)
    return BVH(lo=lo32, hi=hi32, first=np.array(first_out, np.int32),
               count=np.array(count_out, np.int32), order=np.array(order_out, np.int64))


# --- wide trees for traversal --------------------------------------------------------------------

#: Binary trees of at least this many nodes are collapsed by :func:`_collapse_wide_taichi`
#: (below, the numpy collapse: small scenes do not compile the kernel).
COLLAPSE_KERNEL_MIN_NODES = 1 << 15
#: The eight ray octants: bit k set when the direction's component k is negative.
OCTANT_SIGNS = np.array([[(o >> k) & 1 for k in range(3)] for o in range(8)], bool)


@dataclass
class WideBVH:
    """A binary :class:`BVH` collapsed into nodes of up to ``width`` children, with the
    triangles of every leaf packed into groups of ``leaf_width`` (the lanes of one SIMD test).

    - ``lo``, ``hi``: (n_nodes, width, 3) child boxes; an unused child has ``lo > hi``
      (never hit by the slab test with near / far planes chosen by the ray's octant);
    - ``child``: (n_nodes, width) int64 words: ``>= 0`` a wide node, ``< 0`` a leaf whose
      packets are ``first .. first + count - 1`` with ``-c - 1 = first * leaf_span + count``;
    - ``order``: (n_nodes, 8) the children's front-to-back order per ray octant (see
      :data:`OCTANT_SIGNS`), 3 bits per position, position 0 in the lowest bits;
    - ``packet_slots``: (n_packets, leaf_width) leaf slot (index into the binary tree's
      ``order``) of every lane; lanes past a leaf's last triangle repeat it.
    """
    lo: np.ndarray
    hi: np.ndarray
    child: np.ndarray
    order: np.ndarray
    packet_slots: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.child.shape[0])


def collapse_wide(b: BVH, width: int = 8, leaf_width: int = 4, leaf_span: int = 32,
                  kernel: bool | None = None) -> WideBVH:
    """Collapse a binary BVH into a :class:`WideBVH`: each wide node starts from a binary
    node's two children and repeatedly opens its largest-area internal child until it has
    ``width`` children (or only leaves). The result's root is node 0; a tree whose root is a
    leaf (or which is empty) gets a root with one (or no) child.

    Front-to-back orders: every opened binary node separates its two children along the axis
    of their centres' largest separation; for a ray octant the child on the near side of that
    axis comes first, and a wide node's children are ordered by these choices from the top of
    its binary subtree down (each child's path of first/second choices, read as a binary
    number). Vectorised over all wide nodes of a level of the tree; trees of at least
    :data:`COLLAPSE_KERNEL_MIN_NODES` binary nodes (or ``kernel=True``) are collapsed by
    :func:`_collapse_wide_taichi`, the same walk in one Taichi kernel."""
    if not 2 <= width <= 8:
        raise ValueError(f"width must be in [2, 8], got {width}")
    if kernel is None:  # (the kernel compares float64 areas: CPU and CUDA)
        kernel = b.n_nodes >= COLLAPSE_KERNEL_MIN_NODES and ensure_init() in ("cpu", "cuda")
    if kernel and b.order.size and b.count[0] == 0:
        return _collapse_wide_taichi(b, width, leaf_width, leaf_span)
    lo64 = b.lo.astype(np.float64)
    hi64 = b.hi.astype(np.float64)
    area = _area(lo64, hi64)
    centre = 0.5 * (lo64 + hi64)
    empty = b.order.size == 0
    internal = (b.count == 0) & (not empty)
    bits = width - 1  # the deepest child of a wide node is width - 1 choices down
    unused_key = 1 << bits
    key_type = np.int16  # keys < 2^8, and (key << 3 | position) < 2^11 below
    # area of every internal binary node, -1 for leaves and (last entry) for "no child"
    open_area = np.append(np.where(internal, area, -1.0), -1.0)

    levels = []  # per level: kids (M, W) binary ids or -1, keys (M, W, 8)
    if empty:
        roots = np.zeros(0, np.int64)
        levels.append((np.full((1, width), -1, np.int64),
                       np.full((1, width, 8), unused_key, key_type)))
    elif not internal[0]:
        kids = np.full((1, width), -1, np.int64)
        kids[0, 0] = 0
        keys = np.full((1, width, 8), unused_key, key_type)
        keys[0, 0] = 0
        levels.append((kids, keys))
        roots = np.zeros(0, np.int64)
    else:
        roots = np.array([0], np.int64)
    while roots.size:
        m = roots.size
        kids = np.full((m, width), -1, np.int64)
        keys = np.full((m, width, 8), unused_key, key_type)
        depth = np.zeros((m, width), np.int64)
        count = np.zeros(m, np.int64)
        rows = np.arange(m)

        def split(sel, j, node):
            """Open binary node ``node`` held by wide nodes ``sel`` at position ``j``: its
            first child replaces it, its second goes to the next free position."""
            a = b.first[node].astype(np.int64)
            c = a + 1
            sep = centre[c] - centre[a]
            axis = np.argmax(np.abs(sep), axis=1)
            a_low = sep[np.arange(node.size), axis] >= 0
            neg = OCTANT_SIGNS[:, axis].T  # (n, 8): the octant's sign on that axis
            a_second = (a_low[:, None] == neg).astype(key_type)  # a is met second
            d = depth[sel, j]
            shift = (bits - 1 - d)[:, None].astype(key_type)
            base = keys[sel, j]
            base = np.where(base == unused_key, 0, base)
            kn = count[sel]
            kids[sel, j] = a
            kids[sel, kn] = c
            keys[sel, j] = base | (a_second << shift)
            keys[sel, kn] = base | ((1 - a_second) << shift)
            depth[sel, j] = d + 1
            depth[sel, kn] = d + 1
            count[sel] += 1

        kids[:, 0] = roots
        count[:] = 1
        split(rows, np.zeros(m, np.int64), roots)
        for _ in range(width - 2):
            kid_area = open_area[kids]  # kids -1 read the last entry
            j = np.argmax(kid_area, axis=1)
            sel = np.flatnonzero(kid_area[rows, j] >= 0)
            if sel.size == 0:
                break
            split(sel, j[sel], kids[sel, j[sel]])
        levels.append((kids, keys))
        nxt = kids[kids >= 0]
        roots = nxt[internal[nxt]]

    # Wide node indices in level order (row-major within a level), children's words.
    sizes = [k.shape[0] for k, _ in levels]
    offsets = np.cumsum([0] + sizes)
    n_nodes = int(offsets[-1])
    all_kids = np.concatenate([k for k, _ in levels])
    all_keys = np.concatenate([k for _, k in levels])
    valid = all_kids >= 0
    safe = np.maximum(all_kids, 0)
    is_node = valid & internal[safe]
    child = np.zeros((n_nodes, width), np.int64)
    # Internal kids become the next level's nodes, in row-major order of this level.
    for lv in range(len(levels) - 1):
        k = levels[lv][0]
        rows_lv = slice(offsets[lv], offsets[lv + 1])
        node_mask = is_node[rows_lv]
        child_idx = offsets[lv + 1] + np.cumsum(node_mask.reshape(-1)) - 1
        blk = child[rows_lv].reshape(-1)
        blk[node_mask.reshape(-1)] = child_idx[node_mask.reshape(-1)]
        child[rows_lv] = blk.reshape(k.shape)
    # Leaves: packets in row-major order of the kids.
    leaf_mask = valid & ~is_node
    leaf_ids = all_kids[leaf_mask]
    first = b.first[leaf_ids].astype(np.int64)
    cnt = b.count[leaf_ids].astype(np.int64)
    n_p = -(-cnt // leaf_width)
    if n_p.size and n_p.max() >= leaf_span:
        raise ValueError(f"a leaf of {int(cnt.max())} triangles needs {int(n_p.max())} packets "
                         f"(at most {leaf_span - 1})")
    p0 = np.cumsum(n_p) - n_p
    child[leaf_mask] = -(p0 * leaf_span + n_p) - 1
    n_packets = int(n_p.sum())
    leaf_of_packet = np.repeat(np.arange(leaf_ids.size), n_p)
    j_in_leaf = np.arange(n_packets) - p0[leaf_of_packet]
    lanes = (first[leaf_of_packet, None] + j_in_leaf[:, None] * leaf_width
             + np.arange(leaf_width)[None, :])
    slots = np.minimum(lanes, (first + cnt - 1)[leaf_of_packet, None])
    lo, hi = lo64[safe], hi64[safe]
    lo[~valid], hi[~valid] = 1e30, -1e30
    # Orders: positions sorted by key per octant, 3 bits per position.
    # (a stable argsort of the keys: key << 3 | position sorted, positions read back)
    perm = np.sort((np.moveaxis(all_keys, 1, 2) << 3) | np.arange(width, dtype=key_type),
                   axis=2)  # (n, 8, W)
    perm = (perm & 7).astype(np.int32)  # 3 bits per position: 24 bits
    order = (perm << (3 * np.arange(width, dtype=np.int32))).sum(axis=2, dtype=np.int64)
    return WideBVH(lo=lo, hi=hi, child=child, order=order,
                   packet_slots=slots.reshape(-1, leaf_width))


def _collapse_wide_taichi(b: BVH, width: int, leaf_width: int, leaf_span: int) -> WideBVH:
    """:func:`collapse_wide` of a tree whose root is internal, by :func:`_collapse_kernel`:
    the wide nodes in breadth-first order (the numpy version's level order, row-major), each
    opening its largest-area internal child (float64 areas) until it has ``width`` children,
    the leaves' packets in the same order. Per binary node, numpy prepares the area (-1 for a
    leaf) and, for an internal node, which child a ray of each octant meets second (one bit
    per octant): the choice of the numpy version, from the float64 centres."""
    internal = b.count == 0
    cnt = b.count.astype(np.int64)
    n_p = -(-cnt // leaf_width)
    if n_p.max() >= leaf_span:
        raise ValueError(f"a leaf of {int(cnt.max())} triangles needs {int(n_p.max())} packets "
                         f"(at most {leaf_span - 1})")
    area = np.where(internal, _area(b.lo.astype(np.float64), b.hi.astype(np.float64)), -1.0)
    inner = np.flatnonzero(internal)
    a = b.first[inner].astype(np.int64)
    centre_a = b.lo[a].astype(np.float64) + b.hi[a]  # twice the centres: the same signs
    sep = (b.lo[a + 1].astype(np.float64) + b.hi[a + 1]) - centre_a
    axis = np.argmax(np.abs(sep), axis=1)
    a_low = sep[np.arange(inner.size), axis] >= 0
    neg = OCTANT_SIGNS[:, axis].T  # (n, 8): the octant's sign on that axis
    second = np.zeros(b.n_nodes, np.int32)  # bit o: child a is met second in octant o
    second[inner] = ((a_low[:, None] == neg).astype(np.int32)
                     << np.arange(8, dtype=np.int32)).sum(axis=1)
    cap = inner.size
    n_packets = int(n_p.sum())
    lo = np.empty((cap, width, 3), np.float32)
    hi = np.empty((cap, width, 3), np.float32)
    child = np.empty((cap, width), np.int32)
    order = np.empty((cap, 8), np.int32)
    queue = np.empty(cap, np.int32)
    slots = np.empty((n_packets, leaf_width), np.int32)
    sizes = np.zeros(2, np.int32)
    ensure_init()
    _collapse_kernel(b.first, b.count, b.lo, b.hi, area, second, lo, hi, child, order, queue,
                     slots, sizes, width, leaf_width, leaf_span)
    m = int(sizes[0])
    return WideBVH(lo=lo[:m], hi=hi[:m], child=child[:m], order=order[:m],
                   packet_slots=slots[:int(sizes[1])])


@ti.kernel
def _collapse_kernel(first: ti.types.ndarray(dtype=ti.i32, ndim=1),
                     count: ti.types.ndarray(dtype=ti.i32, ndim=1),
                     blo: ti.types.ndarray(dtype=ti.f32, ndim=2),
                     bhi: ti.types.ndarray(dtype=ti.f32, ndim=2),
                     area: ti.types.ndarray(dtype=ti.f64, ndim=1),
                     second: ti.types.ndarray(dtype=ti.i32, ndim=1),
                     lo: ti.types.ndarray(dtype=ti.f32, ndim=3),
                     hi: ti.types.ndarray(dtype=ti.f32, ndim=3),
                     child: ti.types.ndarray(dtype=ti.i32, ndim=2),
                     order: ti.types.ndarray(dtype=ti.i32, ndim=2),
                     queue: ti.types.ndarray(dtype=ti.i32, ndim=1),
                     slots: ti.types.ndarray(dtype=ti.i32, ndim=2),
                     sizes: ti.types.ndarray(dtype=ti.i32, ndim=1),
                     width: ti.i32, leaf_width: ti.i32, leaf_span: ti.i32):
    """:func:`_collapse_wide_taichi`'s walk, one thread (the wide nodes are numbered in the
    order they are met). ``sizes`` receives (wide nodes, packets)."""
    bits = width - 1
    unused_key = 1 << bits
    queue[0] = 0
    n_wide = 1
    n_pk = 0
    w = 0
    while w < n_wide:
        kids = ti.Vector([-1] * 8, ti.i32)
        depth = ti.Vector([0] * 8, ti.i32)
        keys = ti.Matrix([[unused_key] * 8 for _ in range(8)], ti.i32)  # (position, octant)
        kids[0] = queue[w]
        n_kids = 1
        j = 0
        for _ in range(width - 1):  # open position j's node: a replaces it, a + 1 is added
            node = kids[j]
            if node < 0 or area[node] < 0.0:
                break
            a = first[node]
            d = depth[j]
            shift = bits - 1 - d
            sec = second[node]
            for o in range(8):
                base = keys[j, o]
                if base == unused_key:
                    base = 0
                bit = (sec >> o) & 1
                keys[j, o] = base | (bit << shift)
                keys[n_kids, o] = base | ((1 - bit) << shift)
            kids[j] = a
            kids[n_kids] = a + 1
            depth[j] = d + 1
            depth[n_kids] = d + 1
            n_kids += 1
            best = ti.f64(-1.0)  # the next one to open: the largest internal child
            j = 0
            for p in range(n_kids):
                ap = area[kids[p]]
                if ap > best:
                    best = ap
                    j = p
            if best < 0.0:  # leaves only
                break
        for p in range(width):
            c = kids[p]
            word = 0
            if c < 0:
                for k in ti.static(range(3)):
                    lo[w, p, k] = 1e30
                    hi[w, p, k] = -1e30
            else:
                for k in ti.static(range(3)):
                    lo[w, p, k] = blo[c, k]
                    hi[w, p, k] = bhi[c, k]
                if count[c] == 0:
                    queue[n_wide] = c
                    word = n_wide
                    n_wide += 1
                else:
                    m = count[c]
                    n_p = (m + leaf_width - 1) // leaf_width
                    for q in range(n_p):
                        for lane in range(leaf_width):
                            slots[n_pk + q, lane] = first[c] + ti.min(q * leaf_width + lane, m - 1)
                    word = -(n_pk * leaf_span + n_p) - 1
                    n_pk += n_p
            child[w, p] = word
        for o in range(8):  # positions by (key, position): 3 bits each
            srt = ti.Vector([0] * 8, ti.i32)
            for p in range(8):
                v = (keys[p, o] << 3) | p
                if p >= width:
                    v = ((unused_key + 1) << 3) | p
                q = p - 1
                while q >= 0:
                    if srt[q] <= v:
                        break
                    srt[q + 1] = srt[q]
                    q -= 1
                srt[q + 1] = v
            word = 0
            for p in range(width):
                word |= (srt[p] & 7) << (3 * p)
            order[w, o] = word
        w += 1
    sizes[0] = n_wide
    sizes[1] = n_pk
