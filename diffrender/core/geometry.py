"""Triangle geometry of a scene in Taichi fields, and its BVH (built on the CPU, traversed here).

The BVH is built binary (``bvh.py``) and collapsed into a wide tree for traversal: nodes of
``WIDTH`` children whose boxes one SIMD slab test checks at once, leaves as packets of
``LEAF_WIDTH`` triangles tested lane-parallel (see :data:`WIDTH` and :meth:`Geometry.trace`).

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
from .bvh import BVH, build_bvh, build_sah_search, build_sbvh, collapse_wide
from .types import Hit, SurfaceInteraction, ivec3, vec2, vec3

Tri = ti.types.struct(v0=vec3, e1=vec3, e2=vec3)
#: Per-triangle uv tangents dp/du, dp/dv (see :func:`uv_tangents`).
TriTangents = ti.types.struct(dpdu=vec3, dpdv=vec3)
#: vertex indices (merged), shape, and the triangle's index in the merged (shape-order) list
TriInfo = ti.types.struct(vi=ivec3, shape_id=ti.i32, orig=ti.i32)
#: Traversal uses a wide BVH (:func:`bvh.collapse_wide`): nodes of up to ``WIDTH`` children
#: whose boxes are tested together (one SIMD slab test), and leaves of packets of
#: ``LEAF_WIDTH`` triangles tested together (Möller–Trumbore on the lanes). Per node, six
#: vectors of the children's bounds (rows ``BOX_ROWS``: lower x, upper x, lower y, ...; a ray
#: reads its near and far planes by row, from the signs of its direction), the children's words
#: (``>= 0`` a node, ``< 0`` a leaf: packets ``first .. first + count - 1`` with
#: ``-c - 1 = first * LEAF_SPAN + count``) and, per ray octant, the front-to-back order of the
#: children, 3 bits per position. A packet holds nine lane vectors (v0, e1, e2 per axis) and
#: the lanes' leaf slots (lanes past the leaf's end repeat its last triangle).
#: Measured on the Cornell box (docs/renderer.md, fifth round): 8-wide nodes, 2-wide packets
#: (LLVM's vectoriser splits 4-wide packets into two 2-wide halves inside the megakernel, and
#: leaves of 2 triangles cull better); 4-wide nodes were slower.
WIDTH = 8
LEAF_WIDTH = 2
BOX_ROWS = ("lo_x", "hi_x", "lo_y", "hi_y", "lo_z", "hi_z")
PACKET_ROWS = ("v0x", "v0y", "v0z", "e1x", "e1y", "e1z", "e2x", "e2y", "e2z")
vW = ti.types.vector(WIDTH, ti.f32)
vK = ti.types.vector(LEAF_WIDTH, ti.f32)
ShapeInfo = ti.types.struct(bsdf=ti.i32, emitter=ti.i32, has_normals=ti.i32, has_uvs=ti.i32)

#: Traversal stack. A visit pops one entry and pushes the children hit (at most WIDTH), so
#: the stack holds at most (WIDTH - 1) per wide level on the way down; pushes past the end
#: would be dropped (only a path of more than 9 wide levels whose nodes all have every child
#: hit could get there).
STACK_SIZE = 64
LEAF_SPAN = 32  # a leaf holds at most LEAF_SPAN - 1 packets
#: Scenes up to this many triangles get :func:`bvh.build_sbvh` (exact sweeps, spatial splits;
#: ~1 ms of Python per node), larger ones the vectorised binned build.
SBVH_MAX_TRIS = 128
#: Scenes up to this many triangles also try :func:`bvh.build_sah_search` (a two-level
#: lookahead over the SAH splits; the Cornell box: 7.1 -> 6.5 node visits per closest hit).
SEARCH_MAX_TRIS = 64
#: Rows per chunk of the upload's per-triangle arrays (temporaries small enough to be reused).
CHUNK = 1 << 16
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
    out = np.zeros((n,) + a.shape[1:], a.dtype)  # the tail's pages stay untouched
    out[:a.shape[0]] = a
    return out


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


def _grow(x, sign):
    """Bounds grown outwards (``sign`` -1: lower bounds, +1: upper) by a few float32 ulps, in
    float64, as float32: the triangles are stored as v0 + edges, whose rounding can put hit
    points a hair outside boxes built from the vertices. One temporary, modified in place."""
    x = np.asarray(x, np.float64)
    t = np.abs(x)
    t *= 4e-7
    t += 1e-30
    if sign < 0:
        np.subtract(x, t, out=t)
    else:
        np.add(x, t, out=t)
    return t.astype(np.float32)


def pack_wide(w, capacity: int):
    """The wide BVH ``w`` (:class:`bvh.WideBVH`) as arrays (boxes (capacity, 6, WIDTH) in
    :data:`BOX_ROWS` order, child words (capacity, WIDTH), orders (capacity, 8)), padded to
    ``capacity`` nodes. Unused children get an empty box (lower > upper)."""
    n = w.n_nodes
    if n > capacity:
        raise SceneError(f"BVH has {n} nodes, more than the {capacity} allocated")
    unused = w.lo[..., 0] > w.hi[..., 0]
    box = np.zeros((capacity, len(BOX_ROWS), w.lo.shape[1]), np.float32)
    for a in range(3):  # rows lower x, upper x, lower y, ...: one axis at a time
        for r, (src, sign, empty) in enumerate(((w.lo, -1, 1e30), (w.hi, 1, -1e30))):
            g = _grow(src[:, :, a], sign)
            g[unused] = np.float32(empty)
            box[:n, 2 * a + r] = g
    return (box, _pad(w.child.astype(np.int32, copy=False), capacity),
            _pad(w.order.astype(np.int32, copy=False), capacity))


def pack_packets(w, v0, e1, e2, capacity: int):
    """The leaf packets of ``w``: lane vectors (capacity, 9, LEAF_WIDTH) in
    :data:`PACKET_ROWS` order from the float32 triangles ``v0``, ``e1``, ``e2`` ((n_slots, 3)
    or more rows, by leaf slot), and the lanes' slots (capacity, LEAF_WIDTH)."""
    slots = w.packet_slots
    if slots.shape[0] > capacity:
        raise SceneError(f"BVH has {slots.shape[0]} leaf packets, more than the {capacity} "
                         "allocated")
    n_p = slots.shape[0]
    rows = np.zeros((capacity, len(PACKET_ROWS), slots.shape[1]), np.float32)
    for k, src in enumerate((v0, e1, e2)):  # one row (component) at a time: no copies
        for a in range(3):
            rows[:n_p, 3 * k + a] = src[slots, a]
    return rows, _pad(slots.astype(np.int32, copy=False), capacity)


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
        # Capacities that hold any tree of nt leaf slots, so that rebuilding the BVH after
        # vertices move fits in the same fields: a leaf holds >= 1 slot (<= nt packets); a
        # wide node has >= 2 children and one with fewer than WIDTH has leaves only, so there
        # are at most (leaves) / 2 of them (+ 1: a root over a single leaf).
        n_wide = nt // 2 + 1
        self.wbox = vW.field(shape=(n_wide, len(BOX_ROWS)))
        self.wchild = ti.field(ti.i32, shape=(n_wide, WIDTH))
        self.worder = ti.field(ti.i32, shape=(n_wide, 8))
        self.packets = vK.field(shape=(nt, len(PACKET_ROWS)))
        self.packet_slot = ti.field(ti.i32, shape=(nt, LEAF_WIDTH))
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
        if small_builds and 0 < self.n_tris <= SBVH_MAX_TRIS:
            v0, v1, v2 = (V[F[:, k]] for k in range(3))
            self.bvh: BVH = _small_bvh(v0, v1, v2, self.max_leaf, self.tris.shape[0])
        else:
            # build_bvh works in float32: rounding the vertices and then gathering the corners
            # gives its corners without float64 copies per triangle
            V32 = V.astype(np.float32)
            self.bvh = build_bvh(V32[F[:, 0]], V32[F[:, 1]], V32[F[:, 2]],
                                 max_leaf=self.max_leaf)
            del V32
        order = self.bvh.order
        # Leaf slot -> original (merged) triangle index. Every per-triangle field is indexed by
        # slot (a duplicated triangle has identical records in each of its slots); ids leave
        # the geometry through ``tri_order`` (host queries) or are only used to read these
        # fields (surface(), the differentiable replay), so duplicates are invisible outside.
        self.tri_order = order
        self.n_slots = ns = int(order.size)
        self.tri_rank = np.empty(self.n_tris, np.int64)  # original -> (first) slot
        self.tri_rank[order[::-1]] = np.arange(order.size)[::-1]
        if self.n_tris:
            nt, nv = self.tris.shape[0], self.vnormals.shape[0]
            nrm = self._n
            ln = np.linalg.norm(nrm, axis=1, keepdims=True)
            nrm = np.where(ln > 0, nrm / np.where(ln > 0, ln, 1), 0)
            nrm32 = nrm.astype(np.float32)
            del nrm, ln
            # Per slot, in chunks (small float64 temporaries, reused): v0 and the edges
            # (differences of the float64 vertices, rounded), the vertex indices, the unit
            # normals of the float32 edges, and whether the three vertex normals are equal.
            # Rows past the slots stay zero (untouched pages: no memory until written).
            v0_32, e1_32, e2_32, ng = (np.zeros((nt, 3), np.float32) for _ in range(4))
            vi = np.zeros((nt, 3), np.int32)
            flat = np.zeros(nt, np.int32)
            for c0 in range(0, ns, CHUNK):
                c1 = min(c0 + CHUNK, ns)
                fo = F[order[c0:c1]]
                vi[c0:c1] = fo
                p0 = V[fo[:, 0]]
                v0_32[c0:c1] = p0
                e1_32[c0:c1] = V[fo[:, 1]] - p0
                e2_32[c0:c1] = V[fo[:, 2]] - p0
                g = np.cross(e1_32[c0:c1].astype(np.float64), e2_32[c0:c1].astype(np.float64))
                ln = np.linalg.norm(g, axis=1, keepdims=True)
                ng[c0:c1] = np.where(ln > 0, g / np.where(ln > 0, ln, 1), 0)
                n32 = nrm32[fo]  # (chunk, 3 corners, 3)
                flat[c0:c1] = (np.all(n32[:, 0] == n32[:, 1], axis=1)
                               & np.all(n32[:, 0] == n32[:, 2], axis=1))
            self.tris.from_numpy({"v0": v0_32, "e1": e1_32, "e2": e2_32})
            self.tri_n.from_numpy(ng)
            del ng
            self.tri_info.from_numpy({"vi": vi, "shape_id": _pad(self._s[order], nt),
                                      "orig": _pad(order.astype(np.int32), nt)})
            del vi
            # uv tangents by slot: without uvs the edges (uv_tangents' v1 - v0, v2 - v0)
            has = np.flatnonzero(self._tri_has_uv[order])
            du, dv = e1_32, e2_32
            if has.size:  # triangles with uvs: Mitsuba's solution over the uv edges
                du, dv = e1_32.copy(), e2_32.copy()
                fh = F[order[has]]
                UV = self._uv
                du_h, dv_h = uv_tangents(V[fh[:, 0]], V[fh[:, 1]], V[fh[:, 2]], UV[fh[:, 0]],
                                         UV[fh[:, 1]], UV[fh[:, 2]])
                du[has], dv[has] = du_h, dv_h
            self.tri_tan.from_numpy({"dpdu": du, "dpdv": dv})
            del du, dv
            self.vnormals.from_numpy(_pad(nrm32, nv))
            self.tri_flat.from_numpy(flat)
            self.vuvs.from_numpy(_pad(self._uv.astype(np.float32), nv))
        self.wide = collapse_wide(self.bvh, WIDTH, LEAF_WIDTH, LEAF_SPAN)
        box, child, order_w = pack_wide(self.wide, self.wchild.shape[0])
        self.wbox.from_numpy(box)
        self.wchild.from_numpy(child)
        self.worder.from_numpy(order_w)
        del box, child, order_w
        if self.n_tris:
            rows, slots = pack_packets(self.wide, v0_32, e1_32, e2_32, self.packet_slot.shape[0])
            self.packets.from_numpy(rows)
            self.packet_slot.from_numpy(slots)
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
    def intersect_packet(self, pk, o, d, tmax):
        """Möller–Trumbore on the LEAF_WIDTH lanes of packet ``pk`` (the arithmetic of
        :meth:`intersect_triangle`, lane by lane): (t, b1, b2) vectors, t = tmax for a miss."""
        v0x, v0y, v0z = self.packets[pk, 0], self.packets[pk, 1], self.packets[pk, 2]
        e1x, e1y, e1z = self.packets[pk, 3], self.packets[pk, 4], self.packets[pk, 5]
        e2x, e2y, e2z = self.packets[pk, 6], self.packets[pk, 7], self.packets[pk, 8]
        px = d.y * e2z - d.z * e2y
        py = d.z * e2x - d.x * e2z
        pz = d.x * e2y - d.y * e2x
        inv = 1.0 / (e1x * px + e1y * py + e1z * pz)
        sx = o.x - v0x
        sy = o.y - v0y
        sz = o.z - v0z
        u = (sx * px + sy * py + sz * pz) * inv
        qx = sy * e1z - sz * e1y
        qy = sz * e1x - sx * e1z
        qz = sx * e1y - sy * e1x
        v = (d.x * qx + d.y * qy + d.z * qz) * inv
        t = (e2x * qx + e2y * qy + e2z * qz) * inv
        ok = (u >= 0.0) & (v >= 0.0) & (u + v <= 1.0) & (t > 0.0) & (t < tmax)
        return ti.select(ok, t, tmax), u, v

    @ti.func
    def trace(self, o, d, tmax, any_hit: ti.template()):
        """Closest hit (any_hit=False) or the first hit found (any_hit=True) in (0, tmax).

        Wide-BVH stack traversal: all children's slabs at once, the near and far planes read
        by row from the ray's octant (Mitsuba's robust test: far distances grown by
        2 gamma(3)); the children hit are pushed in the node's front-to-back order for that
        octant (farthest first), so the nearest one is popped next; a popped entry is skipped
        when its entry distance is beyond the closest hit found since it was pushed. Leaves
        test their packets lane-parallel; ties between lanes go to the lowest lane."""
        inv_d = self._inv_dir(d)
        nx = ti.cast(inv_d.x < 0.0, ti.i32)
        ny = ti.cast(inv_d.y < 0.0, ti.i32)
        nz = ti.cast(inv_d.z < 0.0, ti.i32)
        octant = nx | (ny << 1) | (nz << 2)
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
            if cur_t < best_t:
                if cur >= 0:
                    tnx = (self.wbox[cur, nx] - o.x) * inv_d.x
                    tfx = (self.wbox[cur, 1 - nx] - o.x) * inv_d.x
                    tny = (self.wbox[cur, 2 + ny] - o.y) * inv_d.y
                    tfy = (self.wbox[cur, 3 - ny] - o.y) * inv_d.y
                    tnz = (self.wbox[cur, 4 + nz] - o.z) * inv_d.z
                    tfz = (self.wbox[cur, 5 - nz] - o.z) * inv_d.z
                    zero = ti.Vector([0.0] * WIDTH)
                    far = ti.Vector([best_t] * WIDTH)
                    tn = _vmax(_vmax(tnx, tny), _vmax(tnz, zero))
                    tf = _vmin(_vmin(tfx, tfy), _vmin(tfz, far)) * (1.0 + 2.0 * GAMMA3)
                    hit = ti.select(tn <= tf, 1, 0)
                    if hit.max() > 0:
                        order = self.worder[cur, octant]
                        # Farthest first; every child is written, only those hit are kept.
                        if sp <= STACK_SIZE - WIDTH:
                            for p in ti.static(range(WIDTH - 1, -1, -1)):
                                c = (order >> (3 * p)) & 7
                                stack[sp] = self.wchild[cur, c]
                                stack_t[sp] = tn[c]
                                sp += hit[c]
                        else:  # a very deep tree: drop what does not fit
                            for p in ti.static(range(WIDTH - 1, -1, -1)):
                                c = (order >> (3 * p)) & 7
                                if sp < STACK_SIZE:
                                    stack[sp] = self.wchild[cur, c]
                                    stack_t[sp] = tn[c]
                                    sp += hit[c]
                else:
                    k = -cur - 1
                    first = k // LEAF_SPAN
                    for pk in range(first, first + k % LEAF_SPAN):
                        t, b1, b2 = self.intersect_packet(pk, o, d, best_t)
                        tmin = t[0]
                        for j in ti.static(range(1, LEAF_WIDTH)):
                            tmin = _min(tmin, t[j])
                        if tmin < best_t:
                            lane = 0
                            for j in ti.static(range(LEAF_WIDTH - 1, 0, -1)):
                                lane = ti.select(t[j] == tmin, j, lane)
                            best_t = tmin
                            best_tri = self.packet_slot[pk, lane]
                            best_b1 = b1[lane]
                            best_b2 = b2[lane]
                    if ti.static(any_hit):
                        if best_tri >= 0:
                            running = False
            if running:
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
                                dp_dv=ti.Vector([0.0, 1.0, 0.0]), shape=-1, tri=hit.tri, bsdf=-1, emitter=-1,
                                bc=ti.Vector([hit.b1, hit.b2]))
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
