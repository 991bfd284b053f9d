"""Bounding volume hierarchy: binned-SAH build on the CPU (vectorised numpy), flat node arrays.

The build is breadth first: every node of one tree level is binned and split in the same few
numpy passes, so the Python overhead is per level (about log2(N) levels), not per node. The
cost model is the usual one (traversal cost 1, intersection cost 1)::

    C_split = 1 + (A_L * N_L + A_R * N_R) / A,     C_leaf = N

with ``A`` the surface area of a bounding box. A node becomes a leaf when it holds
``min_leaf`` triangles or fewer, or when it holds at most ``max_leaf`` and no split is cheaper
than the leaf. Nodes whose centroids all coincide are split in the middle of their range.

Layout of the result (children of a node are adjacent, so only the first child is stored):

- ``lo``, ``hi``: (n_nodes, 3) float32 node bounds;
- ``first``: (n_nodes,) int32, the left child (internal node) or the first triangle (leaf);
- ``count``: (n_nodes,) int32, 0 for an internal node, else the number of triangles;
- ``order``: (n_tris,) int64, the triangle permutation (leaf ranges index the permuted arrays).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
              min_bins: int | None = None, sample: int = 2048) -> BVH:
    """Build a binned-SAH BVH over the triangles (v0[i], v1[i], v2[i]) (arrays (N, 3)).

    ``n_bins`` bins per axis for large nodes, down to ``min_bins`` when the nodes of a level are
    small (default: ``n_bins`` up to 2^16 triangles, where the build takes milliseconds and the
    better splits save node visits, else 4); ``traversal_cost``: cost of a node visit relative
    to a triangle test; nodes of more than ``2 * sample`` triangles bin a regular subsample of
    about ``sample`` of them."""
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
        node_start[kids + 1] = starts[split] + nl
        node_count[kids + 1] = counts[split] - nl
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
    return BVH(lo=node_lo[:n_nodes].copy(), hi=node_hi[:n_nodes].copy(),
               first=first.astype(np.int32), count=node_count[:n_nodes].astype(np.int32),
               order=order)
