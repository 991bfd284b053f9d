"""Triangle geometry of a scene in Taichi fields, and its BVH (built on the CPU, traversed here).

All shapes are merged into one triangle list, permuted into BVH leaf order. Per triangle:
``v0, e1 = v1 - v0, e2 = v2 - v0`` (float32, for Möller–Trumbore), the vertex indices (into the
merged vertex arrays, for normals and uvs) and the shape id. Per shape: BSDF index, emitter
index (-1: none), whether it has vertex normals / uvs.

Ray conventions: a ray is (o, d, tmax) with ``d`` unit length; hits are accepted for
``0 < t < tmax``. Spawned rays are offset along the geometric normal (``warp.offset_origin``,
Mitsuba's rule), which keeps the Cornell box (500 mm) free of self-intersection acne.
"""

import numpy as np

from ..engine import ti
from ..errors import SceneError
from .bvh import BVH, build_bvh
from .types import Hit, SurfaceInteraction, ivec3, vec2, vec3

Tri = ti.types.struct(v0=vec3, e1=vec3, e2=vec3)
TriInfo = ti.types.struct(vi=ivec3, shape_id=ti.i32)
Node = ti.types.struct(lo=vec3, hi=vec3, first=ti.i32, count=ti.i32)
ShapeInfo = ti.types.struct(bsdf=ti.i32, emitter=ti.i32, has_normals=ti.i32, has_uvs=ti.i32)

STACK_SIZE = 32
GAMMA3 = 3.0 * 2.0 ** -24 / (1.0 - 3.0 * 2.0 ** -24)


@ti.data_oriented
class Geometry:
    def __init__(self, shapes, shape_bsdf, shape_emitter, max_leaf=4):
        self.max_leaf = max_leaf
        self.n_shapes = max(1, len(shapes))
        sinfo = np.zeros((self.n_shapes, 4), np.int32)
        sinfo[:, 1] = -1
        for i, sh in enumerate(shapes):
            sinfo[i] = (shape_bsdf[i], shape_emitter[i], sh.normals is not None, sh.uvs is not None)
        self._merge(shapes)
        nt = max(1, self.n_tris)
        nv = max(1, self.n_verts)
        self.tris = Tri.field(shape=nt)
        self.tri_info = TriInfo.field(shape=nt)
        self.vnormals = vec3.field(shape=nv)
        self.vuvs = vec2.field(shape=nv)
        self.shapes = ShapeInfo.field(shape=self.n_shapes)
        # A binary tree over N leaves-or-more triangles has at most 2N - 1 nodes: rebuilding
        # the BVH after vertices move always fits in the same field.
        self.nodes = Node.field(shape=max(1, 2 * self.n_tris - 1))
        self.n_tris_field = ti.field(ti.i32, shape=())
        self.shapes.from_numpy({"bsdf": sinfo[:, 0], "emitter": sinfo[:, 1],
                                "has_normals": sinfo[:, 2], "has_uvs": sinfo[:, 3]})
        self._upload()

    def _merge(self, shapes):
        verts, normals, uvs, faces, tri_shape = [], [], [], [], []
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
            base += v.shape[0]
        self._v = np.concatenate(verts) if verts else np.zeros((0, 3))
        self._f = np.concatenate(faces) if faces else np.zeros((0, 3), np.int64)
        self._s = np.concatenate(tri_shape) if tri_shape else np.zeros(0, np.int32)
        self._n = np.concatenate(normals) if normals else np.zeros((0, 3))
        self._uv = np.concatenate(uvs) if uvs else np.zeros((0, 2))
        self.n_tris = int(self._f.shape[0])
        self.n_verts = int(self._v.shape[0])
        self.shape_tri_offset = np.cumsum([0] + [len(f) for f in faces])
        if not np.all(np.isfinite(self._v)):
            raise SceneError("vertex positions must be finite")

    def _upload(self):
        V, F = self._v, self._f
        v0, v1, v2 = (V[F[:, k]] for k in range(3))
        self.bvh: BVH = build_bvh(v0, v1, v2, max_leaf=self.max_leaf)
        order = self.bvh.order
        self.tri_order = order  # BVH position -> original (merged) triangle index
        self.tri_rank = np.empty_like(order)  # original -> BVH position
        self.tri_rank[order] = np.arange(order.size)
        if self.n_tris:
            pv0, pv1, pv2 = v0[order], v1[order], v2[order]
            self.tris.from_numpy({"v0": pv0.astype(np.float32),
                                  "e1": (pv1 - pv0).astype(np.float32),
                                  "e2": (pv2 - pv0).astype(np.float32)})
            self.tri_info.from_numpy({"vi": F[order].astype(np.int32), "shape_id": self._s[order]})
            nrm = self._n
            ln = np.linalg.norm(nrm, axis=1, keepdims=True)
            nrm = np.where(ln > 0, nrm / np.where(ln > 0, ln, 1), 0)
            self.vnormals.from_numpy(nrm.astype(np.float32))
            self.vuvs.from_numpy(self._uv.astype(np.float32))
        b = self.bvh
        cap = self.nodes.shape[0]
        pad = cap - b.n_nodes

        def padded(a, fill=0):
            return np.concatenate([a, np.full((pad,) + a.shape[1:], fill, a.dtype)])

        # Boxes grown by a few float32 ulps: the triangles are stored as v0 + edges, whose
        # rounding can put hit points a hair outside boxes built from the vertices.
        lo = b.lo - (np.abs(b.lo) * 4e-7 + 1e-30)
        hi = b.hi + (np.abs(b.hi) * 4e-7 + 1e-30)
        self.nodes.from_numpy({"lo": padded(lo.astype(np.float32)), "hi": padded(hi.astype(np.float32)), "first": padded(b.first),
                               "count": padded(b.count)})
        self.n_tris_field[None] = self.n_tris

    def refit_vertices(self, shapes):
        """Re-upload after vertex positions / normals changed (same topology): the BVH is
        rebuilt on the CPU into the same fields (no reallocation, no recompilation)."""
        n_before = self.n_tris
        self._merge(shapes)
        if self.n_tris != n_before:
            raise SceneError("the number of triangles changed; create a new Renderer")
        self._upload()

    def triangle_area(self) -> np.ndarray:
        """Areas of the merged triangles (original order)."""
        V, F = self._v, self._f
        return 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)

    # --- intersection --------------------------------------------------------------------

    @ti.func
    def intersect_triangle(self, i, o, d, tmax):
        """Möller–Trumbore: (t, b1, b2); t = tmax when there is no hit in (0, tmax)."""
        tr = self.tris[i]
        pv = d.cross(tr.e2)
        det = tr.e1.dot(pv)
        t_hit = tmax
        b1 = 0.0
        b2 = 0.0
        if det != 0.0:
            inv = 1.0 / det
            s = o - tr.v0
            u = s.dot(pv) * inv
            if u >= 0.0 and u <= 1.0:
                q = s.cross(tr.e1)
                v = d.dot(q) * inv
                if v >= 0.0 and u + v <= 1.0:
                    t = tr.e2.dot(q) * inv
                    if t > 0.0 and t < tmax:
                        t_hit = t
                        b1 = u
                        b2 = v
        return t_hit, b1, b2

    @ti.func
    def _box(self, n, o, inv_d, tmax):
        """Entry distance of the ray into node n's box, or +inf when it misses before tmax."""
        nd = self.nodes[n]
        t0 = (nd.lo - o) * inv_d
        t1 = (nd.hi - o) * inv_d
        tn = ti.min(t0, t1)
        tf = ti.max(t0, t1)
        tnear = ti.max(tn.x, tn.y, tn.z, 0.0)
        tfar = ti.min(tf.x, tf.y, tf.z) * (1.0 + 2.0 * GAMMA3)
        res = ti.math.inf
        if tnear <= tfar and tnear < tmax:
            res = tnear
        return res

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
        """Closest hit (any_hit=False) or the first hit found (any_hit=True) in (0, tmax)."""
        inv_d = self._inv_dir(d)
        best_t = tmax
        best_tri = -1
        best_b1 = 0.0
        best_b2 = 0.0
        stack = ti.Vector([0] * STACK_SIZE, ti.i32)
        stack_t = ti.Vector([0.0] * STACK_SIZE, ti.f32)
        sp = 0
        node = 0
        running = self.n_tris_field[None] > 0 and self._box(0, o, inv_d, tmax) < ti.math.inf
        while running:
            nd = self.nodes[node]
            go_pop = True
            if nd.count > 0:
                for i in range(nd.first, nd.first + nd.count):
                    t, b1, b2 = self.intersect_triangle(i, o, d, best_t)
                    if t < best_t:
                        best_t = t
                        best_tri = i
                        best_b1 = b1
                        best_b2 = b2
                if ti.static(any_hit):
                    if best_tri >= 0:
                        running = False
            else:
                left = nd.first
                tl = self._box(left, o, inv_d, best_t)
                tr = self._box(left + 1, o, inv_d, best_t)
                if tl < ti.math.inf or tr < ti.math.inf:
                    go_pop = False
                    if tl < ti.math.inf and tr < ti.math.inf:
                        near, far, tfar = left, left + 1, tr
                        if tr < tl:
                            near, far, tfar = left + 1, left, tl
                        if sp < STACK_SIZE:
                            stack[sp] = far
                            stack_t[sp] = tfar
                            sp += 1
                        node = near
                    elif tl < ti.math.inf:
                        node = left
                    else:
                        node = left + 1
            if running and go_pop:
                found = False
                while sp > 0 and not found:
                    sp -= 1
                    if stack_t[sp] < best_t:
                        node = stack[sp]
                        found = True
                if not found:
                    running = False
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
                                shape=-1, tri=hit.tri, bsdf=-1, emitter=-1)
        if hit.tri >= 0:
            tr = self.tris[hit.tri]
            info = self.tri_info[hit.tri]
            sh = self.shapes[info.shape_id]
            b0 = 1.0 - hit.b1 - hit.b2
            si.valid = 1
            si.p = tr.v0 + hit.b1 * tr.e1 + hit.b2 * tr.e2
            si.ng = tr.e1.cross(tr.e2).normalized()
            si.ns = si.ng
            if sh.has_normals:
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
