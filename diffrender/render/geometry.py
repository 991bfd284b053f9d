"""Triangle geometry of a scene in Taichi fields, and its BVH (built on the CPU, traversed here).

All shapes are merged into one triangle list, permuted into BVH leaf order ("slots"; in small
scenes a triangle may fill several slots, spatial splits: ``tri_order`` maps a slot to the
original triangle, ``tri_rank`` an original triangle to its first slot). Per triangle (slot):
``v0, e1 = v1 - v0, e2 = v2 - v0`` (float32, for Möller–Trumbore), the vertex indices (into the
merged vertex arrays, for normals and uvs), the shape id, the unit geometric normal,
whether its three vertex normals are equal (flat shading) and the uv tangents dp/du, dp/dv
(:func:`uv_tangents`, Mitsuba's mesh rules; ``SurfaceInteraction.dp_du`` / ``.dp_dv``, read by
``normalmap`` / ``bumpmap``). Per shape: BSDF index, emitter
index (-1: none), whether it has vertex normals / uvs.

Ray conventions: a ray is (o, d, tmax) with ``d`` unit length; hits are accepted for
``0 < t < tmax``. Spawned rays are offset along the geometric normal (``warp.offset_origin``,
Mitsuba's rule), which keeps the Cornell box (500 mm) free of self-intersection acne.
"""

import hashlib
from collections import OrderedDict

import numpy as np

from ..engine import ti
from ..errors import SceneError
from .bvh import BVH, build_bvh, build_sah_search, build_sbvh
from .types import Hit, SurfaceInteraction, ivec3, vec2, vec3

Tri = ti.types.struct(v0=vec3, e1=vec3, e2=vec3)
#: Per-triangle uv tangents dp/du, dp/dv (see :func:`uv_tangents`).
TriTangents = ti.types.struct(dpdu=vec3, dpdv=vec3)
TriInfo = ti.types.struct(vi=ivec3, shape_id=ti.i32)
#: An internal BVH node holding the boxes of its two children (one load per visited node, both
#: boxes tested together). A child word ``c >= 0`` is an internal node; ``c < 0`` a leaf whose
#: triangles are ``first .. first + count - 1`` with ``-c - 1 = first * LEAF_SPAN + count``.
#: Boxes are stored per axis as (left lo, right lo, left hi, right hi), so that one 4-wide
#: subtract and multiply gives the four slab distances of an axis.
vec4 = ti.types.vector(4, ti.f32)
#: ``pad`` makes a node 64 bytes: one cache line, and an index -> address shift.
Node = ti.types.struct(bx=vec4, by=vec4, bz=vec4, left=ti.i32, right=ti.i32,
                       pad=ti.types.vector(2, ti.i32))
ShapeInfo = ti.types.struct(bsdf=ti.i32, emitter=ti.i32, has_normals=ti.i32, has_uvs=ti.i32)

STACK_SIZE = 32
LEAF_SPAN = 32  # leaves hold at most LEAF_SPAN - 1 triangles
#: Scenes up to this many triangles get :func:`bvh.build_sbvh` (exact sweeps, spatial splits;
#: ~1 ms of Python per node), larger ones the vectorised binned build.
SBVH_MAX_TRIS = 128
#: Scenes up to this many triangles also try :func:`bvh.build_sah_search` (a two-level
#: lookahead over the SAH splits; the Cornell box: 7.1 -> 6.5 node visits per closest hit).
SEARCH_MAX_TRIS = 64
GAMMA3 = 3.0 * 2.0 ** -24 / (1.0 - 3.0 * 2.0 ** -24)


@ti.func
def _min(a, b):
    return ti.select(a < b, a, b)


@ti.func
def _max(a, b):
    return ti.select(a > b, a, b)


@ti.func
def _vmin(a, b):
    return ti.Vector([_min(a[k], b[k]) for k in ti.static(range(a.n))])


@ti.func
def _vmax(a, b):
    return ti.Vector([_max(a[k], b[k]) for k in ti.static(range(a.n))])


@ti.func
def _vmin2(t):
    """(min(t0, t2), min(t1, t3)) of a 4-vector (lo, lo, hi, hi) of slab distances."""
    return ti.Vector([_min(t[0], t[2]), _min(t[1], t[3])])


@ti.func
def _vmax2(t):
    return ti.Vector([_max(t[0], t[2]), _max(t[1], t[3])])


_SMALL_BVH_CACHE: "OrderedDict[bytes, BVH]" = OrderedDict()


def _small_bvh(v0, v1, v2, max_leaf, max_refs):
    """BVH of a small scene: the spatial-split build (a triangle may fill several leaf slots,
    at most ``max_refs`` = the slots the fields hold, so field shapes do not change) and, up to
    :data:`SEARCH_MAX_TRIS` triangles, the searched SAH tree; the one of lower SAH cost.
    The last few results are cached by triangle data (a second Renderer of the same scene
    does not pay the ~0.1 s of Python again)."""
    key = hashlib.sha1(b"".join(np.ascontiguousarray(a, np.float64).tobytes()
                                for a in (v0, v1, v2))
                       + f"{max_leaf},{max_refs}".encode()).digest()
    if key in _SMALL_BVH_CACHE:
        _SMALL_BVH_CACHE.move_to_end(key)
        return _SMALL_BVH_CACHE[key]
    b = build_sbvh(v0, v1, v2, max_leaf=max_leaf, max_refs=max_refs)
    if v0.shape[0] <= SEARCH_MAX_TRIS:
        b2 = build_sah_search(v0, v1, v2, max_leaf=max_leaf, beam=1, peel=2, lookahead=2)
        if b2.sah_cost() < b.sah_cost():
            b = b2
    _SMALL_BVH_CACHE[key] = b
    while len(_SMALL_BVH_CACHE) > 8:
        _SMALL_BVH_CACHE.popitem(last=False)
    return b


def capacity_class(n: int) -> int:
    """Field size for ``n`` elements: 64, then steps of 1/8 of the power of two above ``n``
    (at most 12.5% unused). Scenes of similar sizes share field shapes, hence kernels
    (see ``renderer``'s pool of device sets)."""
    n = max(1, int(n))
    if n <= 64:
        return 64
    step = 1 << max(0, (n - 1).bit_length() - 3)
    return -(-n // step) * step


def _pad(a, n):
    """``a`` extended with zero rows to ``n`` rows."""
    if a.shape[0] == n:
        return a
    return np.concatenate([a, np.zeros((n - a.shape[0],) + a.shape[1:], a.dtype)])


def _coordinate_system_np(n):
    """Duff et al. 2017 tangents of unit normals n (M, 3), as ``warp.coordinate_system``."""
    sign = np.where(n[:, 2] >= 0.0, 1.0, -1.0)
    a = -1.0 / (sign + n[:, 2])
    b = n[:, 0] * n[:, 1] * a
    s = np.stack([1.0 + sign * n[:, 0] ** 2 * a, sign * b, -sign * n[:, 0]], axis=1)
    t = np.stack([b, sign + n[:, 1] ** 2 * a, -n[:, 1]], axis=1)
    return s, t


def uv_tangents(v0, v1, v2, uv0=None, uv1=None, uv2=None):
    """dp/du and dp/dv of triangles (M, 3 each), Mitsuba 3's mesh rules: with texture
    coordinates, the solution of ``dp = dp/du du + dp/dv dv`` over the two edges; without
    them, the edges ``v1 - v0`` and ``v2 - v0`` (the uv are then the barycentrics); when the
    uv determinant is zero (degenerate uvs), the frame ``coordinate_system(n_g)``."""
    dp0, dp1 = v1 - v0, v2 - v0
    if uv0 is None:
        return dp0.copy(), dp1.copy()
    d10, d20 = uv1 - uv0, uv2 - uv0
    det = d10[:, 0] * d20[:, 1] - d10[:, 1] * d20[:, 0]
    ok = det != 0.0
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)[:, None]
    dpdu = (d20[:, 1:2] * dp0 - d10[:, 1:2] * dp1) * inv
    dpdv = (-d20[:, 0:1] * dp0 + d10[:, 0:1] * dp1) * inv
    if not np.all(ok):
        ng = np.cross(dp0, dp1)
        ln = np.linalg.norm(ng, axis=1, keepdims=True)
        ng = np.where(ln > 0, ng / np.where(ln > 0, ln, 1.0), np.array([0.0, 0.0, 1.0]))
        s, t = _coordinate_system_np(ng)
        dpdu = np.where(ok[:, None], dpdu, s)
        dpdv = np.where(ok[:, None], dpdv, t)
    return dpdu, dpdv


def pack_nodes(b: BVH, capacity: int) -> dict:
    """The BVH as internal nodes holding their children's boxes (see :data:`Node`), padded to
    ``capacity`` nodes. A tree that is a single leaf gets a root whose right child is empty."""
    # A BVH without triangles (a scene of emitters only) is one empty leaf: a root whose
    # children are both empty.
    internal = np.flatnonzero(b.count == 0) if b.order.size else np.zeros(0, np.int64)
    index = np.full(b.n_nodes, -1, np.int64)
    index[internal] = np.arange(internal.size)
    # Boxes grown by a few float32 ulps: the triangles are stored as v0 + edges, whose
    # rounding can put hit points a hair outside boxes built from the vertices.
    lo = (b.lo - (np.abs(b.lo) * 4e-7 + 1e-30)).astype(np.float32)
    hi = (b.hi + (np.abs(b.hi) * 4e-7 + 1e-30)).astype(np.float32)
    word = np.where(b.count == 0, index, -(b.first.astype(np.int64) * LEAF_SPAN + b.count) - 1)
    if internal.size:
        lc = b.first[internal].astype(np.int64)
        rc = lc + 1
        out = {"l_lo": lo[lc], "l_hi": hi[lc], "r_lo": lo[rc], "r_hi": hi[rc],
               "left": word[lc], "right": word[rc]}
    else:  # the root is a leaf
        empty_lo = np.full((1, 3), np.inf, np.float32)
        out = {"l_lo": lo[:1], "l_hi": hi[:1], "r_lo": empty_lo, "r_hi": -empty_lo,
               "left": word[:1], "right": np.full(1, -1, np.int64)}
        if not b.order.size:
            out.update(l_lo=empty_lo, l_hi=-empty_lo, left=np.full(1, -1, np.int64))
    n = out["left"].shape[0]
    if n > capacity:
        raise SceneError(f"BVH has {n} internal nodes, more than the {capacity} allocated")
    res = {}
    for key, a in out.items():
        pad = np.zeros((capacity - n,) + a.shape[1:], a.dtype)
        if key.endswith("lo"):
            pad[:] = np.inf
        elif key.endswith("hi"):
            pad[:] = -np.inf
        elif key in ("left", "right"):
            pad[:] = -1
        res[key] = np.concatenate([a, pad]).astype(np.int32 if key in ("left", "right") else np.float32)
    packed = {"left": res["left"], "right": res["right"],
              "pad": np.zeros((capacity, 2), np.int32)}
    for k, name in enumerate(("bx", "by", "bz")):
        packed[name] = np.stack([res["l_lo"][:, k], res["r_lo"][:, k], res["l_hi"][:, k],
                                 res["r_hi"][:, k]], axis=1)
    return packed


@ti.data_oriented
class Geometry:
    """Fields are sized by :func:`capacity_class` (triangles, vertices, shapes); kernels read
    the actual counts from fields, never from Python attributes, so a Geometry can be rebuilt
    for another scene of the same size class without recompiling (``RECYCLE_SAFE``)."""

    RECYCLE_SAFE = True

    def __init__(self, shapes, shape_bsdf, shape_emitter, max_leaf=4):
        if not 1 <= int(max_leaf) < LEAF_SPAN:
            raise SceneError(f"max_leaf must be in [1, {LEAF_SPAN - 1}], got {max_leaf}")
        self.max_leaf = int(max_leaf)
        self.n_shapes = max(1, len(shapes))
        sinfo = np.zeros((capacity_class(self.n_shapes), 4), np.int32)
        sinfo[:, 1] = -1
        for i, sh in enumerate(shapes):
            sinfo[i] = (shape_bsdf[i], shape_emitter[i], sh.normals is not None, sh.uvs is not None)
        self._merge(shapes)
        nt = capacity_class(self.n_tris)
        nv = capacity_class(self.n_verts)
        self.tris = Tri.field(shape=nt)
        self.tri_info = TriInfo.field(shape=nt)
        self.tri_tan = TriTangents.field(shape=nt)
        # Unit geometric normals (e1 x e2 normalised, from the stored float32 edges), so that
        # a hit does not pay for a square root and a division.
        self.tri_n = vec3.field(shape=nt)
        # 1 where the three vertex normals are equal (flat faces of meshes with per-face
        # vertices, e.g. boxes): the shading normal is that normal, not interpolated.
        self.tri_flat = ti.field(ti.i32, shape=nt)
        self.vnormals = vec3.field(shape=nv)
        self.vuvs = vec2.field(shape=nv)
        self.shapes = ShapeInfo.field(shape=sinfo.shape[0])
        # A binary tree whose leaves hold >= 1 triangle has at most N - 1 internal nodes (1 when
        # the root is a leaf): rebuilding the BVH after vertices move fits in the same field.
        self.nodes = Node.field(shape=max(1, nt - 1))
        self.n_tris_field = ti.field(ti.i32, shape=())
        self.shapes.from_numpy({"bsdf": sinfo[:, 0], "emitter": sinfo[:, 1],
                                "has_normals": sinfo[:, 2], "has_uvs": sinfo[:, 3]})
        self._upload()

    def _merge(self, shapes):
        verts, normals, uvs, faces, tri_shape, tri_has_uv = [], [], [], [], [], []
        base = 0
        for i, sh in enumerate(shapes):
            v = np.asarray(sh.vertices, np.float64).reshape(-1, 3)
            f = np.asarray(sh.faces, np.int64).reshape(-1, 3)
            verts.append(v)
            normals.append(np.asarray(sh.normals, np.float64).reshape(-1, 3)
                           if sh.normals is not None else np.zeros_like(v))
            uvs.append(np.asarray(sh.uvs, np.float64).reshape(-1, 2)
                       if sh.uvs is not None else np.zeros((v.shape[0], 2)))
            faces.append(f + base)
            tri_shape.append(np.full(f.shape[0], i, np.int32))
            tri_has_uv.append(np.full(f.shape[0], sh.uvs is not None))
            base += v.shape[0]
        self._v = np.concatenate(verts) if verts else np.zeros((0, 3))
        self._f = np.concatenate(faces) if faces else np.zeros((0, 3), np.int64)
        self._s = np.concatenate(tri_shape) if tri_shape else np.zeros(0, np.int32)
        self._n = np.concatenate(normals) if normals else np.zeros((0, 3))
        self._uv = np.concatenate(uvs) if uvs else np.zeros((0, 2))
        self._tri_has_uv = np.concatenate(tri_has_uv) if tri_has_uv else np.zeros(0, bool)
        self.n_tris = int(self._f.shape[0])
        self.n_verts = int(self._v.shape[0])
        self.shape_tri_offset = np.cumsum([0] + [len(f) for f in faces])
        if not np.all(np.isfinite(self._v)):
            raise SceneError("vertex positions must be finite")

    def _upload(self, small_builds=True):
        V, F = self._v, self._f
        v0, v1, v2 = (V[F[:, k]] for k in range(3))
        if small_builds and 0 < self.n_tris <= SBVH_MAX_TRIS:
            self.bvh: BVH = _small_bvh(v0, v1, v2, self.max_leaf, self.tris.shape[0])
        else:
            self.bvh = build_bvh(v0, v1, v2, max_leaf=self.max_leaf)
        order = self.bvh.order
        # Leaf slot -> original (merged) triangle index. Every per-triangle field is indexed by
        # slot (a duplicated triangle has identical records in each of its slots); ids leave
        # the geometry through ``tri_order`` (host queries) or are only used to read these
        # fields (surface(), the differentiable replay), so duplicates are invisible outside.
        self.tri_order = order
        self.n_slots = int(order.size)
        self.tri_rank = np.empty(self.n_tris, np.int64)  # original -> (first) slot
        self.tri_rank[order[::-1]] = np.arange(order.size)[::-1]
        if self.n_tris:
            nt, nv = self.tris.shape[0], self.vnormals.shape[0]
            pv0, pv1, pv2 = v0[order], v1[order], v2[order]
            self.tris.from_numpy({"v0": _pad(pv0.astype(np.float32), nt),
                                  "e1": _pad((pv1 - pv0).astype(np.float32), nt),
                                  "e2": _pad((pv2 - pv0).astype(np.float32), nt)})
            e1 = (pv1 - pv0).astype(np.float32).astype(np.float64)
            e2 = (pv2 - pv0).astype(np.float32).astype(np.float64)
            ng = np.cross(e1, e2)
            ln = np.linalg.norm(ng, axis=1, keepdims=True)
            ng = np.where(ln > 0, ng / np.where(ln > 0, ln, 1), 0)
            self.tri_n.from_numpy(_pad(ng.astype(np.float32), nt))
            self.tri_info.from_numpy({"vi": _pad(F[order].astype(np.int32), nt),
                                      "shape_id": _pad(self._s[order].astype(np.int32), nt)})
            UV = self._uv
            du, dv = uv_tangents(v0, v1, v2, UV[F[:, 0]], UV[F[:, 1]], UV[F[:, 2]])
            eu, ev = uv_tangents(v0, v1, v2)
            has = self._tri_has_uv[:, None]
            du, dv = np.where(has, du, eu), np.where(has, dv, ev)
            self.tri_tan.from_numpy({"dpdu": _pad(du[order].astype(np.float32), nt),
                                     "dpdv": _pad(dv[order].astype(np.float32), nt)})
            nrm = self._n
            ln = np.linalg.norm(nrm, axis=1, keepdims=True)
            nrm = np.where(ln > 0, nrm / np.where(ln > 0, ln, 1), 0)
            self.vnormals.from_numpy(_pad(nrm.astype(np.float32), nv))
            n32 = nrm.astype(np.float32)[F[order]]  # (n, 3 corners, 3)
            flat = np.all(n32[:, 0] == n32[:, 1], axis=1) & np.all(n32[:, 0] == n32[:, 2], axis=1)
            self.tri_flat.from_numpy(_pad(flat.astype(np.int32), nt))
            self.vuvs.from_numpy(_pad(self._uv.astype(np.float32), nv))
        self.nodes.from_numpy(pack_nodes(self.bvh, self.nodes.shape[0]))
        self.n_tris_field[None] = self.n_slots  # leaf slots (brute force loops over them)

    def refit_vertices(self, shapes):
        """Re-upload after vertex positions / normals changed (same topology): the BVH is
        rebuilt on the CPU into the same fields (no reallocation, no recompilation)."""
        n_before = self.n_tris
        self._merge(shapes)
        if self.n_tris != n_before:
            raise SceneError("the number of triangles changed; create a new Renderer")
        # The vectorised binned build (milliseconds): the small-scene builds cost 10-300 ms of
        # Python, too much for every step of an optimisation that moves vertices.
        self._upload(small_builds=False)

    def triangle_area(self) -> np.ndarray:
        """Areas of the merged triangles (original order)."""
        V, F = self._v, self._f
        return 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)

    # --- intersection --------------------------------------------------------------------

    @ti.func
    def intersect_triangle(self, i, o, d, tmax):
        """Möller–Trumbore: (t, b1, b2); t = tmax when there is no hit in (0, tmax).

        Branch free (rays hit or miss triangles unpredictably): a zero determinant gives
        infinite or NaN barycentrics, which fail the range tests."""
        tr = self.tris[i]
        pv = d.cross(tr.e2)
        inv = 1.0 / tr.e1.dot(pv)
        s = o - tr.v0
        u = s.dot(pv) * inv
        q = s.cross(tr.e1)
        v = d.dot(q) * inv
        t = tr.e2.dot(q) * inv
        # The range tests do not involve tmax, so that in a loop over triangles only the
        # final compare-and-select depends on the previous triangle's result.
        ok = (u >= 0.0) & (v >= 0.0) & (u + v <= 1.0) & (t > 0.0) & (t < tmax)
        return ti.select(ok, t, tmax), u, v

    @ti.func
    def _inv_dir(self, d):
        inv = ti.Vector([0.0, 0.0, 0.0])
        for k in ti.static(range(3)):
            dk = d[k]
            if ti.abs(dk) < 1e-30:
                dk = 1e-30 if dk >= 0.0 else -1e-30
            inv[k] = 1.0 / dk
        return inv

    @ti.func
    def trace(self, o, d, tmax, any_hit: ti.template()):
        """Closest hit (any_hit=False) or the first hit found (any_hit=True) in (0, tmax).

        Stack traversal, nearer child first; a popped subtree is skipped when its entry
        distance is beyond the closest hit found since it was pushed. Box slabs as Mitsuba's
        robust test (far distance grown by 2 gamma(3))."""
        inv_d = self._inv_dir(d)
        best_t = tmax
        best_tri = -1
        best_b1 = 0.0
        best_b2 = 0.0
        stack = ti.Vector([0] * STACK_SIZE, ti.i32)
        stack_t = ti.Vector([0.0] * STACK_SIZE, ti.f32)
        sp = 0
        cur = 0
        cur_t = 0.0
        running = self.n_tris_field[None] > 0
        while running:
            go_pop = True
            if cur_t < best_t:
                if cur >= 0:
                    nd = self.nodes[cur]
                    tx = (nd.bx - o.x) * inv_d.x
                    ty = (nd.by - o.y) * inv_d.y
                    tz = (nd.bz - o.z) * inv_d.z
                    # (left, right) near and far distances per axis.
                    nx = _vmin2(tx)
                    fx = _vmax2(tx)
                    ny = _vmin2(ty)
                    fy = _vmax2(ty)
                    nz = _vmin2(tz)
                    fz = _vmax2(tz)
                    tn = _vmax(_vmax(nx, ny), _vmax(nz, ti.Vector([0.0, 0.0])))
                    tf = _vmin(_vmin(fx, fy), _vmin(fz, ti.Vector([best_t, best_t])))
                    tf *= 1.0 + 2.0 * GAMMA3
                    tln = tn.x
                    trn = tn.y
                    tlf = tf.x
                    trf = tf.y
                    hl = (tln <= tlf) & (tln < best_t)
                    hr = (trn <= trf) & (trn < best_t)
                    if hl | hr:
                        go_pop = False
                        # Right child first when it is the only one hit or the nearer one.
                        rf = hr & ((not hl) | (trn < tln))
                        cur = ti.select(rf, nd.right, nd.left)
                        cur_t = ti.select(rf, trn, tln)
                        # The other child is written unconditionally and kept when both hit.
                        if sp < STACK_SIZE:
                            stack[sp] = ti.select(rf, nd.left, nd.right)
                            stack_t[sp] = ti.select(rf, tln, trn)
                            sp += ti.cast(hl & hr, ti.i32)
                else:
                    k = -cur - 1
                    first = k // LEAF_SPAN
                    for i in range(first, first + k % LEAF_SPAN):
                        t, b1, b2 = self.intersect_triangle(i, o, d, best_t)
                        closer = t < best_t
                        best_t = ti.select(closer, t, best_t)
                        best_tri = ti.select(closer, i, best_tri)
                        best_b1 = ti.select(closer, b1, best_b1)
                        best_b2 = ti.select(closer, b2, best_b2)
                    if ti.static(any_hit):
                        if best_tri >= 0:
                            running = False
            if running and go_pop:
                if sp == 0:
                    running = False
                else:
                    sp -= 1
                    cur = stack[sp]
                    cur_t = stack_t[sp]
        return Hit(t=best_t, tri=best_tri, b1=best_b1, b2=best_b2)

    @ti.func
    def intersect(self, o, d, tmax):
        return self.trace(o, d, tmax, False)

    @ti.func
    def occluded(self, o, d, tmax):
        return self.trace(o, d, tmax, True).tri >= 0

    @ti.func
    def surface(self, hit, o, d):
        """The SurfaceInteraction of a hit (invalid when hit.tri < 0)."""
        si = SurfaceInteraction(valid=0, t=hit.t, p=o, ng=ti.Vector([0.0, 0.0, 1.0]),
                                ns=ti.Vector([0.0, 0.0, 1.0]), uv=ti.Vector([0.0, 0.0]),
                                dp_du=ti.Vector([1.0, 0.0, 0.0]),
                                dp_dv=ti.Vector([0.0, 1.0, 0.0]), shape=-1, tri=hit.tri, bsdf=-1, emitter=-1)
        if hit.tri >= 0:
            tr = self.tris[hit.tri]
            info = self.tri_info[hit.tri]
            sh = self.shapes[info.shape_id]
            b0 = 1.0 - hit.b1 - hit.b2
            si.valid = 1
            si.p = tr.v0 + hit.b1 * tr.e1 + hit.b2 * tr.e2
            si.ng = self.tri_n[hit.tri]
            si.ns = si.ng
            tan = self.tri_tan[hit.tri]
            si.dp_du = tan.dpdu
            si.dp_dv = tan.dpdv
            if sh.has_normals:
                if self.tri_flat[hit.tri]:
                    n0 = self.vnormals[info.vi[0]]
                    if n0.dot(n0) > 0.0:
                        si.ns = n0
                else:
                    n = (b0 * self.vnormals[info.vi[0]] + hit.b1 * self.vnormals[info.vi[1]]
                         + hit.b2 * self.vnormals[info.vi[2]])
                    ln = n.norm()
                    if ln > 0.0:
                        si.ns = n / ln
            if sh.has_uvs:
                si.uv = (b0 * self.vuvs[info.vi[0]] + hit.b1 * self.vuvs[info.vi[1]]
                         + hit.b2 * self.vuvs[info.vi[2]])
            else:
                si.uv = ti.Vector([hit.b1, hit.b2])  # Mitsuba: barycentrics when no uvs
            si.shape = info.shape_id
            si.bsdf = sh.bsdf
            si.emitter = sh.emitter
        return si

    @ti.func
    def surface_at(self, tri, b1, b2):
        """SurfaceInteraction at barycentrics (b1, b2) of BVH triangle ``tri``."""
        o = ti.Vector([0.0, 0.0, 0.0])
        return self.surface(Hit(t=0.0, tri=tri, b1=b1, b2=b2), o, o)

    # --- host-side queries (tests) -------------------------------------------------------

    @ti.kernel
    def _closest_kernel(self, o: ti.types.ndarray(), d: ti.types.ndarray(), tmax: ti.f32,
                        brute: ti.i32, t_out: ti.types.ndarray(), tri_out: ti.types.ndarray()):
        for r in range(o.shape[0]):
            oo = ti.Vector([o[r, 0], o[r, 1], o[r, 2]])
            dd = ti.Vector([d[r, 0], d[r, 1], d[r, 2]])
            best_t = tmax
            best = -1
            if brute:
                for i in range(self.n_tris_field[None]):
                    t, b1, b2 = self.intersect_triangle(i, oo, dd, best_t)
                    if t < best_t:
                        best_t = t
                        best = i
            else:
                h = self.intersect(oo, dd, tmax)
                best_t = h.t
                best = h.tri
            t_out[r] = best_t
            tri_out[r] = best

    @ti.kernel
    def _occluded_kernel(self, o: ti.types.ndarray(), d: ti.types.ndarray(),
                         tmax: ti.types.ndarray(), out: ti.types.ndarray()):
        for r in range(o.shape[0]):
            oo = ti.Vector([o[r, 0], o[r, 1], o[r, 2]])
            dd = ti.Vector([d[r, 0], d[r, 1], d[r, 2]])
            out[r] = ti.cast(self.occluded(oo, dd, tmax[r]), ti.i32)

    def closest_hit(self, o, d, tmax=np.inf, brute_force=False):
        """(t, triangle) per ray; triangle is the *original* merged index (-1: miss)."""
        o = np.ascontiguousarray(o, np.float32).reshape(-1, 3)
        d = np.ascontiguousarray(d, np.float32).reshape(-1, 3)
        t = np.zeros(o.shape[0], np.float32)
        tri = np.zeros(o.shape[0], np.int32)
        self._closest_kernel(o, d, float(min(tmax, 3.0e38)), int(brute_force), t, tri)
        orig = np.where(tri >= 0, self.tri_order[np.maximum(tri, 0)], -1)
        return t, orig

    def occluded_np(self, o, d, tmax):
        o = np.ascontiguousarray(o, np.float32).reshape(-1, 3)
        d = np.ascontiguousarray(d, np.float32).reshape(-1, 3)
        tm = np.ascontiguousarray(np.broadcast_to(np.asarray(tmax, np.float32), (o.shape[0],)))
        out = np.zeros(o.shape[0], np.int32)
        self._occluded_kernel(o, d, tm, out)
        return out.astype(bool)
