"""Interior derivatives with respect to geometry, the camera and point-light positions.

The boundary (visibility) term comes from edge sampling (``samplers.py``); this module adds
the *interior* term: how the path's contribution changes while every path keeps its vertices
on the same triangles. Same replay scheme as ``replay.py``: the bounce loop (``path.py``)
records, with this object as its recorder, the material replay's records and the geometry's
(hit triangles, the directions leaving each vertex, the light sample's triangle and
barycentrics as the emitter sample drew them) in one trace; flat per-bounce kernels under
``ti.ad.Tape`` then recompute the geometry from differentiable fields:

- camera rays from the sensor's rotation, origin and intrinsics K (fx, fy, cx, cy and the
  distortion, ``camera.py``) at the recorded film position;
- every hit point by Möller–Trumbore against the *recorded* triangle, from the (moving)
  previous vertex along the (fixed) world-space direction: barycentrics, position, geometric
  normal (and the shading normal interpolated with the new barycentrics) follow the vertices;
- directions sampled by the BSDF are held fixed in world space and their densities detached
  (the estimator of ``int f dw`` stays unbiased: only ``f`` depends on theta), MIS weights and
  roulette factors detached;
- next-event estimation in area measure: the light point keeps its barycentrics on its
  triangle, the contribution ``f cos_x L cos_y / r^2 * A`` is differentiated through both end
  points (a moving area light's samples move with it; the edge samplers give the boundaries
  that sweep them their share of its motion: ``samplers._moving_light_parts``);
  point lights through ``I / r^2`` with a differentiable position, spot lights the same times
  their angular falloff and projected texture towards the (moving) lit point, projectors
  through their image along that direction times pi / (z^2 cos); directional lights through
  ``f E`` with their fixed direction (the BSDF's cosine follows the moving normal); the
  environment (``constant``, ``envmap``) through ``f L / pdf`` with the sampled direction
  fixed in world space (its radiance and density depend on the direction only);
- rays that leave the scene see the environment along their direction: a camera ray's
  direction moves with the camera (an envmap's lookup is differentiated), a BSDF-sampled
  one is fixed (its radiance is a constant; the throughput to it is not).

Vertex normals: a shape whose normals are Mitsuba's smooth normals of its vertices
(``Shape.derived_normals``: a mesh file without normals, or positions set since, which the
forward recomputes), or whose ``vertex_positions`` are differentiated (setting them recomputes
the normals), gets them recomputed here from the differentiable vertices (each face's
unit normal weighted by its corner angles, summed per vertex and normalised: two kernels under
the same tape), so that shading follows the vertices. Stored normals (from a file) are
constants: they turn with ``to_world`` in the forward render but are not differentiated.

Not differentiated: texture coordinates sliding with the barycentrics (the texture value is
the recorded one), stored vertex normals rotating with ``to_world``, the emitter's area in the
light-selection density.
"""
import numpy as np

from ...engine import launch, ti
from ..camera import CameraModel, camera_direction, vec9
from ..geometry import capacity_class
from ..emitters import (CONSTANT as EMITTER_CONSTANT, DIRECTIONAL as EMITTER_DIRECTIONAL,
                        ENVMAP as EMITTER_ENVMAP, PROJECTOR as EMITTER_PROJECTOR, SPOT as EMITTER_SPOT,
                        projector, spot)
from ..path import EMITTER_AREA, EMITTER_POINT
from ..types import PI, ivec3, mat3, vec2, vec3
from ..warp import coordinate_system, to_local


@ti.data_oriented
class GeoReplay:
    def __init__(self, renderer, dint):
        r = renderer
        self.r = r
        self.d = dint
        self.geometry, self.bsdfs, self.emitters = r.geometry, r.bsdfs, r.emitters
        self.camera, self.textures = r.camera, r.textures
        D, N = dint.depth, dint.N
        self.depth, self.N = D, N
        # capacity classes: Renderers of the same device-set key share this object (pool.py)
        nv = capacity_class(r.geometry.n_verts)
        ne = capacity_class(r.emitters.n)
        self.vpos = vec3.field(shape=nv, needs_grad=True, needs_dual=True)
        self.lpos = vec3.field(shape=ne, needs_grad=True, needs_dual=True)
        self.cam_R = mat3.field(shape=(), needs_grad=True, needs_dual=True)
        self.cam_o = vec3.field(shape=(), needs_grad=True, needs_dual=True)
        self.cam_K = vec9.field(shape=(), needs_grad=True, needs_dual=True)
        # smooth normals recomputed from vpos (shapes with derived normals): the faces, the
        # per-vertex sums of angle-weighted face normals, the unit normals; per shape, 1 where
        # the bounces read them instead of the geometry's stored normals
        self.nfaces = ivec3.field(shape=capacity_class(r.geometry.n_tris))
        self.n_nfaces = 0
        self.vn_acc = vec3.field(shape=nv, needs_grad=True, needs_dual=True)
        self.vn = vec3.field(shape=nv, needs_grad=True, needs_dual=True)
        self.shape_derived = ti.field(ti.i32, shape=r.geometry.shapes.shape[0])
        # shapes whose vertex_positions are differentiated: setting them recomputes the normals,
        # so their derivative is that of the recomputed normals (stored ones included)
        self.vertex_shapes = frozenset()
        # records
        self.rtri = ti.field(ti.i32, shape=(D, N))
        self.rdir = vec3.field(shape=(D, N))           # direction leaving vertex k (world)
        self.fpos = vec2.field(shape=N)
        self.nee_kind = ti.field(ti.i32, shape=(D, N))  # -1 none, else EMITTER_AREA / _POINT / _SPOT / _DIRECTIONAL / _CONSTANT / _ENVMAP
        self.nee_tri = ti.field(ti.i32, shape=(D, N))   # area: triangle; else: emitter index
        self.nee_bc = vec2.field(shape=(D, N))
        self.nee_k = ti.field(ti.f32, shape=(D, N))     # MIS weight x (area x n) or n (environment: / pdf)
        self.nee_dir = vec3.field(shape=(D, N))        # environment: the sampled world direction
        # differentiated state
        self.O = vec3.field(shape=(D + 1, N), needs_grad=True, needs_dual=True)
        self.Dr = vec3.field(shape=(D + 1, N), needs_grad=True, needs_dual=True)
        self.T = vec3.field(shape=(D + 1, N), needs_grad=True, needs_dual=True)
        self.loss = ti.field(ti.f32, shape=(), needs_grad=True)
        self.img = ti.field(ti.f32, shape=(dint.ch, dint.cw, 3), needs_dual=True)

    def upload(self):
        g, r = self.r.geometry, self.r
        v = np.zeros((self.vpos.shape[0], 3), np.float32)
        v[:g.n_verts] = g._v
        self.vpos.from_numpy(v)
        pos = np.zeros((self.lpos.shape[0], 3), np.float32)
        for i, row in enumerate(r.emitters.rows):
            if row["type"] in ("point", "spot", "projector"):
                pos[i] = np.asarray(row["position"], np.float32)
        self.lpos.from_numpy(pos)
        derived = np.zeros(self.shape_derived.shape[0], np.int32)
        for i, sh in enumerate(r.scene.shapes):
            derived[i] = sh.normals is not None and (bool(sh.derived_normals) or i in self.vertex_shapes)
        self.shape_derived.from_numpy(derived)
        faces = g._f[derived[g._s] > 0] if g.n_tris else np.zeros((0, 3), np.int64)
        self.n_nfaces = int(faces.shape[0])
        if self.n_nfaces:
            fpad = np.zeros((self.nfaces.shape[0], 3), np.int32)
            fpad[:self.n_nfaces] = faces
            self.nfaces.from_numpy(fpad)
        cam = CameraModel.of(r.sensor)
        self.cam_R[None] = cam.R.astype(np.float32)
        self.cam_o[None] = cam.o.astype(np.float32)
        self.cam_K[None] = cam.K.astype(np.float32)

    # --- recording (not differentiated): a recorder of the bounce loop (path.py) -------------
    # One trace records both the material replay's records (``self.d``'s hooks) and the
    # geometry records.

    RECORDS = True
    NEEDS_RADIANCE = False  # ``bounce`` recomputes the contributions (path.py)

    @ti.func
    def begin(self, i, pos, fpos):
        self.d.begin(i, pos, fpos)
        self.fpos[i] = fpos
        for k in range(ti.static(self.depth)):
            self.rtri[k, i] = -1
            self.nee_kind[k, i] = -1

    @ti.func
    def finish(self, i, L):
        self.d.finish(i, L)

    @ti.func
    def vertex(self, i, k, hit, si, ray_d):
        self.d.vertex(i, k, hit, si, ray_d)
        if k < ti.static(self.depth):
            self.rtri[k, i] = hit.tri

    @ti.func
    def emits(self, k, si, ray_d):
        return self.d.emits(k, si, ray_d)

    @ti.func
    def emission(self, i, k, si, ray_d, w):
        self.d.emission(i, k, si, ray_d, w)

    @ti.func
    def environment(self, i, k, w, tuv):
        self.d.environment(i, k, w, tuv)

    @ti.func
    def surface(self, i, k, si, wi, g):
        self.d.surface(i, k, si, wi, g)

    @ti.func
    def light(self, i, k, em, wo, w):
        self.d.light(i, k, em, wo, w)
        if k < ti.static(self.depth):
            nl = ti.cast(self.emitters.n_field[None], ti.f32)
            info = self.emitters.info[em.emitter]
            if (info.type == EMITTER_POINT or info.type == EMITTER_SPOT or info.type == EMITTER_DIRECTIONAL
                    or info.type == EMITTER_PROJECTOR):
                self.nee_kind[k, i] = info.type
                self.nee_tri[k, i] = em.emitter
                self.nee_k[k, i] = nl
            elif info.type == EMITTER_AREA:
                # the triangle and barycentrics that the emitter sample drew
                self.nee_kind[k, i] = EMITTER_AREA
                self.nee_tri[k, i] = em.tri
                self.nee_bc[k, i] = em.bc
                self.nee_k[k, i] = w * info.area * nl
            if ti.static(self.emitters.env >= 0):  # compiled only with an environment
                if info.type == EMITTER_CONSTANT or info.type == EMITTER_ENVMAP:
                    # a direction at infinity: fixed in world space, radiance / density with it
                    self.nee_kind[k, i] = info.type
                    self.nee_tri[k, i] = em.emitter
                    self.nee_dir[k, i] = em.d
                    self.nee_k[k, i] = w * em.geo

    @ti.func
    def scatter(self, i, k, bs, wo):
        self.d.scatter(i, k, bs, wo)
        if k < ti.static(self.depth):
            self.rdir[k, i] = wo

    @ti.func
    def roulette(self, i, k, bs, inv_q, alive):
        self.d.roulette(i, k, bs, inv_q, alive)

    # --- differentiated kernels -----------------------------------------------------------

    @ti.kernel
    def camera_rays(self, count: ti.i32):
        for i in range(count):
            c = self.camera.info[None]
            d = camera_direction(self.fpos[i], self.cam_K[None], c.distorted)
            if c.ortho != 0:  # parallel rays from the near plane (Camera.sample_ray)
                self.O[0, i] = self.cam_R[None] @ ti.Vector([d.x, d.y, c.ortho_near]) + self.cam_o[None]
                self.Dr[0, i] = (self.cam_R[None] @ ti.Vector([0.0, 0.0, 1.0])).normalized()
            else:
                d = d.normalized()
                near_t = c.near / d.z
                dw = (self.cam_R[None] @ d).normalized()
                self.O[0, i] = self.cam_o[None] + dw * near_t
                self.Dr[0, i] = dw
            self.T[0, i] = ti.Vector([1.0, 1.0, 1.0])

    @ti.kernel
    def normals_sum(self, nf: ti.i32):
        """vn_acc[v] += the unit normal of each face at v times its angle there (Mitsuba's
        ``recompute_vertex_normals``; ``meshes.vertex_normals`` on the host)."""
        for f in range(nf):
            vi = self.nfaces[f]
            p = [self.vpos[vi[0]], self.vpos[vi[1]], self.vpos[vi[2]]]
            e = [p[1] - p[0], p[2] - p[1], p[0] - p[2]]  # edge k: corner k to k + 1
            fn = e[0].cross(-e[2])
            ln2 = fn.dot(fn)
            if ln2 > 0.0:
                fn = fn / ti.sqrt(ln2)
                for k in ti.static(range(3)):
                    a = e[k]
                    b = e[ti.static((k + 2) % 3)]
                    c = -a.dot(b) / ti.sqrt(a.dot(a) * b.dot(b))
                    ang = ti.acos(ti.min(ti.max(c, -1.0), 1.0))
                    ti.atomic_add(self.vn_acc[vi[k]], fn * ang)

    @ti.kernel
    def normals_unit(self):
        for v in self.vn_acc:
            acc = self.vn_acc[v]
            l2 = acc.dot(acc)
            n = ti.Vector([1.0, 0.0, 0.0])
            if l2 > 0.0:
                n = acc / ti.sqrt(l2)
            self.vn[v] = n

    def normals(self):
        """The recomputed normals (inside a tape: differentiated with vpos); vn_acc is cleared
        before (outside)."""
        if self.n_nfaces:
            self.normals_sum(self.n_nfaces)
            self.normals_unit()

    @ti.func
    def _tri_verts(self, tri):
        vi = self.geometry.tri_info[tri].vi
        return self.vpos[vi[0]], self.vpos[vi[1]], self.vpos[vi[2]]

    @ti.kernel
    def bounce(self, k: ti.i32, count: ti.i32, forward: ti.template()):
        """Bounce k of the ``count`` samples of a pass (a kernel argument: a differentiated
        kernel holds nothing but its loop)."""
        for i in range(count):
            tri = self.rtri[k, i]
            Tk = self.T[k, i]
            c = ti.Vector([0.0, 0.0, 0.0])
            Tn = ti.Vector([0.0, 0.0, 0.0])
            On = ti.Vector([0.0, 0.0, 0.0])
            Dn = ti.Vector([0.0, 0.0, 1.0])
            if tri >= 0:
                o = self.O[k, i]
                d = self.Dr[k, i]
                a, b, cc = self._tri_verts(tri)
                e1 = b - a
                e2 = cc - a
                pv = d.cross(e2)
                det = e1.dot(pv)
                inv = 1.0 / det
                sv = o - a
                b1 = sv.dot(pv) * inv
                q = sv.cross(e1)
                b2 = d.dot(q) * inv
                t = e2.dot(q) * inv
                p = o + t * d
                ng = e1.cross(e2).normalized()
                info = self.geometry.tri_info[tri]
                sh = self.geometry.shapes[info.shape_id]
                ns = ng
                if sh.has_normals:
                    vi = info.vi
                    nn = ti.Vector([0.0, 0.0, 0.0])
                    if self.shape_derived[info.shape_id]:
                        nn = ((1.0 - b1 - b2) * self.vn[vi[0]] + b1 * self.vn[vi[1]]
                              + b2 * self.vn[vi[2]])
                    else:
                        nn = ((1.0 - b1 - b2) * self.geometry.vnormals[vi[0]]
                              + b1 * self.geometry.vnormals[vi[1]] + b2 * self.geometry.vnormals[vi[2]])
                    ns = nn.normalized()
                # texture coordinates slide with the (differentiable) barycentrics, as the
                # forward's surface interaction interpolates them
                uv2 = ti.Vector([b1, b2])
                if sh.has_uvs:
                    vj = info.vi
                    uv2 = ((1.0 - b1 - b2) * self.geometry.vuvs[vj[0]] + b1 * self.geometry.vuvs[vj[1]]
                           + b2 * self.geometry.vuvs[vj[2]])
                # the texture point (mesh attributes: barycentrics and triangle too)
                uv = self.bsdfs.textures.point_at(uv2, b1, b2, info.orig)
                es = self.d.em_slot[k, i]
                if es >= 0:
                    c += Tk * self.emitters.radiance(es, uv) * self.d.em_w[k, i]
                bsdf = self.d.bsdf[k, i]
                if bsdf >= 0:
                    fs, ft = coordinate_system(ns)
                    wi = to_local(fs, ft, ns, -d)
                    # uv tangents held fixed (not differentiated with respect to the vertices)
                    tan = self.geometry.tri_tan[tri]
                    g = self.bsdfs.local_geo(tan.dpdu, tan.dpdv, ng, fs, ft, ns)
                    kind = self.nee_kind[k, i]
                    if kind == EMITTER_AREA:
                        la, lb, lc = self._tri_verts(self.nee_tri[k, i])
                        bc = self.nee_bc[k, i]
                        y = (1.0 - bc.x - bc.y) * la + bc.x * lb + bc.y * lc
                        v = y - p
                        r2 = v.dot(v)
                        w = v / ti.sqrt(r2)
                        ny = (lb - la).cross(lc - la).normalized()
                        fe, _ = self.bsdfs.eval_pdf(bsdf, uv, wi, to_local(fs, ft, ns, w), g)
                        le = self.emitters.radiance(self.d.nee_slot[k, i], self.d.nee_uv[k, i])
                        c += Tk * fe * le * (ti.abs(ny.dot(w)) * self.nee_k[k, i] / r2)
                    elif kind == EMITTER_POINT:
                        v = self.lpos[self.nee_tri[k, i]] - p
                        r2 = v.dot(v)
                        w = v / ti.sqrt(r2)
                        fe, _ = self.bsdfs.eval_pdf(bsdf, uv, wi, to_local(fs, ft, ns, w), g)
                        le = self.emitters.radiance(self.d.nee_slot[k, i], self.d.nee_uv[k, i])
                        c += Tk * fe * le * (self.nee_k[k, i] / r2)
                    elif kind == EMITTER_SPOT:
                        if ti.static(EMITTER_SPOT in self.emitters.types):
                            # as a point light, times the angular falloff of the direction
                            # from the spot to the (moving) lit point
                            e = self.nee_tri[k, i]
                            v = self.lpos[e] - p
                            r2 = v.dot(v)
                            w = v / ti.sqrt(r2)
                            linfo = self.emitters.info[e]
                            dl = self.emitters._to_local(e, -w)
                            fall = spot.falloff(dl.z, linfo.cos_cutoff, linfo.cos_beam, linfo.cutoff,
                                                linfo.inv_transition)
                            fe, _ = self.bsdfs.eval_pdf(bsdf, uv, wi, to_local(fs, ft, ns, w), g)
                            # a projected texture looked up along that direction too
                            suv = self.d.nee_uv[k, i]
                            if dl.z > 0.0:
                                suv = spot.direction_to_uv(dl, linfo.cutoff)
                            le = self.emitters.radiance(self.d.nee_slot[k, i], suv)
                            c += Tk * fe * le * (fall * self.nee_k[k, i] / r2)
                    elif kind == EMITTER_PROJECTOR:
                        if ti.static(EMITTER_PROJECTOR in self.emitters.types):
                            # the projected image along the direction from the projector to the
                            # (moving) lit point, pi / (z^2 cos) (the frustum's border, where
                            # the light stops, is held: no sampler follows it)
                            e = self.nee_tri[k, i]
                            v = self.lpos[e] - p
                            dist = v.norm()
                            w = v / dist
                            linfo = self.emitters.info[e]
                            pl = self.emitters._to_local(e, -v)
                            fe, _ = self.bsdfs.eval_pdf(bsdf, uv, wi, to_local(fs, ft, ns, w), g)
                            puv = self.d.nee_uv[k, i]
                            geo = 0.0
                            if pl.z > 0.0:
                                puv = projector.local_to_uv(pl, linfo.tan_half)
                                geo = PI * dist / (pl.z * pl.z * pl.z)
                            le = self.emitters.radiance(self.d.nee_slot[k, i], puv)
                            c += Tk * fe * le * (geo * self.nee_k[k, i])
                    elif kind == EMITTER_DIRECTIONAL:
                        if ti.static(EMITTER_DIRECTIONAL in self.emitters.types):
                            # irradiance from a fixed direction: only the BSDF (its cosine
                            # with the moving normal, the moving view direction) changes
                            w = -self.emitters._to_world(self.nee_tri[k, i], ti.Vector([0.0, 0.0, 1.0]))
                            fe, _ = self.bsdfs.eval_pdf(bsdf, uv, wi, to_local(fs, ft, ns, w), g)
                            le = self.emitters.radiance(self.d.nee_slot[k, i], self.d.nee_uv[k, i])
                            c += Tk * fe * le * self.nee_k[k, i]
                    elif kind == EMITTER_CONSTANT or kind == EMITTER_ENVMAP:
                        if ti.static(self.emitters.env >= 0):
                            # the environment from a fixed direction (MIS weight / density)
                            w = self.nee_dir[k, i]
                            fe, _ = self.bsdfs.eval_pdf(bsdf, uv, wi, to_local(fs, ft, ns, w), g)
                            le = self.emitters.radiance(self.d.nee_slot[k, i], self.d.nee_uv[k, i])
                            c += Tk * fe * le * self.nee_k[k, i]
                    cf = self.d.cont[k, i]
                    if cf > 0.0:
                        wn = self.rdir[k, i]
                        fb, _ = self.bsdfs.eval_pdf(bsdf, uv, wi, to_local(fs, ft, ns, wn), g)
                        Tn = Tk * fb * cf
                        On = p
                        Dn = wn
            else:
                if ti.static(self.emitters.env >= 0):
                    # the ray left the scene: the environment along its direction (a camera
                    # ray's moves with the camera; MIS weight detached)
                    if self.d.em_slot[k, i] >= 0:
                        le, _ = self.emitters.env_eval(self.Dr[k, i])
                        c += Tk * le * self.d.em_w[k, i]
            self.T[k + 1, i] = Tn
            self.O[k + 1, i] = On
            self.Dr[k + 1, i] = Dn
            if ti.static(forward):
                self.d.film.splat(self.img, i, c)
            else:
                self.loss[None] += c.dot(self.d.film.adj[i])

    def vjp(self, d_image, spp, seed, max_depth, integ, film_w, vertex_shapes=()):
        """Interior gradients: (per merged vertex (n_verts, 3), camera (dR, do, dK (9,)),
        point-light positions (n_emitters, 3)). ``vertex_shapes``: the shapes whose
        ``vertex_positions`` are differentiated."""
        self.vertex_shapes = frozenset(vertex_shapes)
        dint = self.d
        dint.film.load_adjoint(d_image)
        dint.film.prepare(spp, seed, film_w)
        self.upload()
        gV = np.zeros((self.vpos.shape[0], 3))
        gL = np.zeros((self.lpos.shape[0], 3))
        gR = np.zeros((3, 3))
        go = np.zeros(3)
        gK = np.zeros(9)
        for first, n in dint.film.passes(spp):
            dint._trace(first, n, seed, max_depth, integ, film_w, rec=self)
            launch(dint.film.gather_adjoint, int(n))
            for f in (self.vpos, self.lpos, self.cam_R, self.cam_o, self.cam_K, self.O, self.Dr, self.T,
                      self.vn_acc, self.vn):
                f.grad.fill(0.0)
            self.vn_acc.fill(0.0)
            with ti.ad.Tape(loss=self.loss, clear_gradients=False):
                self.normals()
                self.camera_rays(dint.film.count(n))
                for k in range(self.depth):
                    self.bounce(k, dint.film.count(n), False)
            gV += self.vpos.grad.to_numpy()
            gL += self.lpos.grad.to_numpy()
            gR += self.cam_R.grad.to_numpy()
            go += self.cam_o.grad.to_numpy()
            gK += self.cam_K.grad.to_numpy()
        return gV[:self.r.geometry.n_verts], (gR, go, gK), gL[:self.r.emitters.n]

    def jvp(self, seeds, spp, seed, max_depth, integ, film_w, vertex_shapes=()):
        """Image tangent (H, W, 3) for ``seeds``: {'vpos' | 'lpos' | 'cam_R' | 'cam_o' |
        'cam_K': tangent array}; one forward-mode replay per differentiated field.
        ``vertex_shapes`` as in :meth:`vjp`."""
        self.vertex_shapes = frozenset(vertex_shapes)
        dint = self.d
        dint.film.prepare(spp, seed, film_w)
        self.upload()
        out = np.zeros((dint.film.height, dint.film.width, 3), np.float64)
        fields = {"vpos": self.vpos, "lpos": self.lpos, "cam_R": self.cam_R, "cam_o": self.cam_o,
                  "cam_K": self.cam_K}
        todo = []
        for k, v in seeds.items():
            v = np.asarray(v, np.float32)
            if np.any(v):
                if k == "vpos":  # pad to the field (at least one vertex)
                    v = np.concatenate([v.reshape(-1, 3), np.zeros((self.vpos.shape[0] - v.size // 3, 3), np.float32)])
                elif k == "lpos":
                    v = np.concatenate([v.reshape(-1, 3), np.zeros((self.lpos.shape[0] - v.size // 3, 3), np.float32)])
                todo.append((fields[k], v))
        if not todo:
            return out
        for first, n in dint.film.passes(spp):
            dint._trace(first, n, seed, max_depth, integ, film_w, rec=self)
            for field, sd in todo:
                self.img.fill(0.0)
                self.vn_acc.fill(0.0)
                with ti.ad.FwdMode(loss=self.img, param=field, seed=sd.ravel()):
                    self.normals()
                    self.camera_rays(dint.film.count(n))
                    for k in range(self.depth):
                        self.bounce(k, dint.film.count(n), True)
                out += dint.film.pixels(self.img.dual.to_numpy())
        return out
