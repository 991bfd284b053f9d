"""Visibility derivatives by edge sampling (Li, Aittala, Durand, Lehtinen, SIGGRAPH Asia 2018).

Moving geometry, a light or the camera moves silhouettes and shadow boundaries; the derivative
of the pixel integrals then has a *boundary* term, an integral along the moving discontinuity
curves of (radiance on one side - radiance on the other) x (normal velocity of the curve).
This module estimates it with three samplers; each yields, per sample, a film position ``x``,
a radiance difference ``dC`` (already divided by the sample density) and the *velocity
coefficients* of the discontinuity at ``x``, i.e. the gradient of its normal velocity with
respect to the vertices, the camera and the point lights' positions. The renderer then
contracts them with the adjoint image (``vjp``) or with a tangent (``jvp``).

1. **Primary** (silhouettes seen from the camera): edges that are silhouettes from the camera
   origin (boundary edges, or edges whose two faces face opposite ways) are clipped to the near
   plane and to the sampled film region, an edge is chosen with probability proportional to its
   projected length and a point uniformly on it; the full path estimator (the forward ``path``
   integrator, NEE included) is evaluated on both sides, ``eps`` pixels apart, with the same
   random numbers. Weight: the adjoint density of the film at ``x`` (pixel filter included).
2. **Point-light shadows on directly visible surfaces**: edges that are silhouettes from a point
   light; a point ``m`` uniformly by length; the ray from the light through ``m`` hits the
   receiver at ``q``; the shadow boundary's image is ``x = pi(q)``; both sides are path traced
   from the camera. The receiver is treated as locally flat and fixed. Spot lights are
   treated alike (silhouettes from their position; the falloff is in the traced radiance);
   directional lights are their limit at infinity: silhouettes seen along the direction the
   light travels, shadow rays parallel to it from ``m``, ``d q / d m = I - d n^T / (n . d)``.
3. **Secondary** (at path vertex ``k`` ``p`` of every camera sample, reached by ``k`` BSDF
   samples; ``k = 0``: the camera ray's hit): an edge of a moving shape is
   chosen by its importance seen from ``p`` (:meth:`EdgeTracer._choose_edge`; large meshes: a
   mixture with a choice by length), kept when it is a silhouette seen from ``p``, and the
   incident radiance is path traced on both sides of the direction towards the edge point
   (``eps`` radians apart, less for short edges). This covers shadow boundaries of area
   lights and of the environment (``constant``, ``envmap``: the silhouettes that occlude the
   sky), occlusion of indirect light, and the edges of moving area lights.

Edge data: ``topology.py``; the camera's projection and its Jacobian: ``camera.CameraModel``;
the film's adjoint density: ``film.FilmWeights``; the contraction of the samples with an
adjoint image or a tangent: ``contraction.py``.

4. **Point-light shadows seen through a bounce** (the light's visibility at vertex ``k + 1``,
   seen from vertex ``k``): the shadow point q of an edge point is found as in 2., and the
   boundary's image on the sphere of directions at p is sampled like a secondary edge.

The shading points move too: a sample's path vertices slide on their (moving) triangles and
with the camera (``_moving_path_parts``, ``_moving_surface_parts``: the boundary's velocity is
relative to p), and a moving area light's next-event samples move with it, so a side of a
secondary sample that sees it takes |m - p| / |y - p| of the light's motion
(``_moving_light_parts``). What is not handled is listed in docs/edge-sampling.md (*Not
handled*). The *interior* derivative (shading that changes smoothly with the geometry) is
``geometry.py``.
"""


import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...engine import ti
from ...errors import GradientError
from ..bsdfs import LEAVES
from ..camera import CameraModel, distortion_jacobian
from ..film import FilmWeights, finite_or_black
from ..geometry import capacity_class
from ..rng import pcg_hash, pcg_hash_np, rand, rand2, rand_direction, rand_lobe
from ..path import trace_path
from ..types import Hit, vec3
from ..warp import coordinate_system, offset_origin, to_local, to_world
from .edge_tree import NODE_ALWAYS, NODE_CREASE, NODE_MOVING, TREE_MIN_EDGES, EdgeTree, morton_codes
from .topology import EdgeTopology

SCREEN_EPS = 2e-3      # pixels between the two sides of a screen-space discontinuity
# ... of a silhouette or crease seen from the camera, whose sides are decided by the edge's own
# faces (``EdgeSideHit``): ray-triangle tests in float32 are not exact for the faces at grazing
# angles next to a silhouette, so the side is no longer found by tracing, and the two sides can
# be much closer (farther apart, they straddle other silhouettes near the outline of a finely
# tessellated mesh)
EDGE_SCREEN_EPS = 1e-4
# a hit nearer than the edge face's point by less than this share of its distance is that face
EDGE_FACE_DEPTH_TOL = 2e-5
SHADING_TURN_COS = 1e-3  # cosine to the camera of a silhouette side's turned shading normal
ANGLE_EPS = 2e-4       # radians between the two sides of a secondary edge sample, at most ...
# ... this share of the angle the edge subtends (short edges of a finely tessellated, ragged
# mesh: sides farther apart than a small part of the edge cross the neighbouring faces near its
# ends, a bias that grows with the distance between the sides), and at least ANGLE_EPS_MIN.
# The bunny's shadow on the wall in Mitsuba's pose tutorial (edges ~0.005 long seen from ~2
# away): tx 0.00009 with 0.002 and 2e-6, 0.00022 with these, against the FD's 0.00026
# (docs/edge-sampling.md, *Sides of secondary samples*)
ANGLE_EPS_EDGE_SHARE = 2e-5
ANGLE_EPS_MIN = 2e-7
EXHAUSTIVE_EDGES = 4096  # secondary: per-shading-point importance over all edges up to this many
# secondary, more edges than that: the edges that can be shadow boundaries of an area light
# (silhouettes seen from some point of its bounding sphere) get per-shading-point importance
# (the rest: by length), through the edge tree (``edge_tree.py``) from TREE_MIN_EDGES of them
TREE_STACK = 48  # entries of the stack of the edge tree's traversal (a fuller stack: a node's
# edges are visited in order without opening it)
GUIDED_FRACTION = 0.5  # share of the per-point importance in the mixture with the length CDF
# Random dimensions of a secondary edge sample (its own keys, not a camera path's): the edge
# and the point on it (2D), the choice between the two point densities (1D).
DIM_EDGE = 1001
DIM_EDGE_MIXTURE = 1003
DIM_EDGE_COMPONENT = 1005  # which of the two edge densities (per-point importance, length)
WALK_SALT = 0x3A1F0C55  # the random numbers of the BSDF walk to a later path vertex (own keys)
# The BSDF's lobe at the shading point (``EdgeTracer._lobe``): LOBE_SAMPLES directions sampled
# from it (random numbers of their own) give a cone about the first, its half-angle that of the
# widest sample times LOBE_WIDEN plus LOBE_PAD; edges whose direction cone misses it keep
# LOBE_FLOOR of their importance (never none: the choice stays unbiased for any cone). A cone
# wider than LOBE_MAX_ANGLE (a diffuse or layered lobe), or fewer than half the samples valid:
# no cone (LOBE_OFF).
DIFFUSE_CODE = LEAVES["diffuse"].SPEC.code
LOBE_SALT = 0x6B2D91E7
LOBE_SAMPLES = 4
LOBE_WIDEN = 2.0
LOBE_PAD = 0.05
LOBE_MAX_ANGLE = 1.0
LOBE_FLOOR = 0.05
LOBE_OFF = 10.0
MAX_GUIDE_LIGHTS = 16  # area lights whose bounding spheres guide secondary edge samples
STILL_LIGHT_EDGE = 4  # flag added to an edge's kind (``EdgeTracer.einfo``): see _edge_weight
STILL_LIGHT_LENGTH_SHARE = 0.1  # such an edge's length counts this much when picked by length
# secondary samples at longer paths with area lights: the emitted and the reflected radiance of
# the sides sampled apart (the emitted part as direct illumination: guided to penumbrae)
SPLIT_EMITTED = True
PILOT_SHARE = 0.25  # secondary samples towards area-light penumbrae: the pilot's share (0: off)
SHADOW_PILOT = 4  # pilot segments per edge of the point-light shadows seen through a bounce


# --------------------------------------------------------------------------------------------
# Samples and their velocities
# --------------------------------------------------------------------------------------------

@dataclass
class EdgeSamples:
    """Per sample: crop-relative film position, dC (N, 3); velocity coefficients: two vertex
    indices (N, 2) with (N, 2, 3) coefficients; camera coefficients (camera-space point ``l``,
    d v / d l (N, 3), d v / d K (N, 9): the camera's intrinsics); point-light index (N,) (-1: none) with (N, 3)."""
    x: np.ndarray
    dC: np.ndarray
    vidx: np.ndarray
    vcoef: np.ndarray
    cam_l: Optional[np.ndarray] = None
    cam_cl: Optional[np.ndarray] = None
    cam_cK: Optional[np.ndarray] = None
    light: Optional[np.ndarray] = None
    lcoef: Optional[np.ndarray] = None

    @staticmethod
    def concat(items):
        items = [s for s in items if s is not None and s.x.shape[0]]
        if not items:
            return None
        n = [s.x.shape[0] for s in items]

        def cat(attr, shape, fill=0.0):
            return np.concatenate([getattr(s, attr) if getattr(s, attr) is not None
                                   else np.full((k,) + shape, fill) for s, k in zip(items, n)])
        return EdgeSamples(cat("x", (2,)), cat("dC", (3,)), cat("vidx", (2,), 0).astype(np.int64),
                           cat("vcoef", (2, 3)), cat("cam_l", (3,), 1.0), cat("cam_cl", (3,)),
                           cat("cam_cK", (9,)), cat("light", (), -1).astype(np.int64), cat("lcoef", (3,)))


@ti.data_oriented
class EdgeSideHit:
    """The recorder (``path.trace_path``) of the primary sampler's sides: the camera ray on
    each side of a silhouette or crease hits the edge's own face on that side (the one turned
    towards the camera when both faces lie there), unless something else is nearer (the edge
    is hidden there), and a ray on a side without an own face does not hit the edge's faces.
    Traced in float32, a ray 10⁻⁴ pixels inside the outline of a finely tessellated mesh often
    misses both faces next to the edge (they are seen at grazing angles: Möller–Trumbore is
    not exact there) and the two sides then see the same background.

    ``i`` of the hooks is an :data:`EdgeSide`."""

    RECORDS = False
    NEEDS_RADIANCE = True
    FIRST_HIT = True

    def __init__(self, geometry):
        self.g = geometry

    @ti.func
    def first_hit(self, i, hit, o, d, tmax):
        res = hit
        horig = -1
        if hit.tri >= 0:
            horig = self.g.tri_info[hit.tri].orig
        on_edge = (horig >= 0) & ((horig == i.f0) | (horig == i.f1))
        if i.own >= 0:
            # the own face at the edge point (the sides are a tiny angle apart): its distance
            # along the ray and its barycentrics there
            t = (i.m - o).dot(d)
            if t > 0.0 and t < tmax:
                if hit.tri < 0 or on_edge or hit.t >= t * (1.0 - EDGE_FACE_DEPTH_TOL):
                    tr = self.g.tris[i.own]
                    b = _barycentrics_f(o + t * d, tr.v0, tr.e1, tr.e2)
                    res = Hit(t=t, tri=i.own, b1=b[0], b2=b[1])
        elif on_edge:  # grazed an edge face from the side it does not lie on: go past it
            t0 = hit.t * (1.0 + EDGE_FACE_DEPTH_TOL)
            h2 = self.g.intersect(o + t0 * d, d, tmax - t0)
            res = h2
            res.t = h2.t + t0
        return res

    @ti.func
    def first_surface(self, i, si, d):
        # At the edge point of a smooth-shaded silhouette the interpolated normal can face away
        # from the camera while the face does not: Mitsuba's BSDFs and area lights are black
        # there, in a band along the outline whose inner boundary moves with the silhouette.
        # The band is far thinner than a pixel (a finite difference does not see it: it gives
        # the same derivative with face normals), so the side takes the radiance past it: the
        # shading normal turned until it just faces the camera.
        if si.valid != 0:
            w = -d
            c = si.ns.dot(w)
            if c <= 0.0 and si.ng.dot(w) > 0.0:
                n = si.ns - (c - SHADING_TURN_COS) * w
                ln = n.norm()
                if ln > 0.0:
                    si.ns = n / ln
        return si


#: what :class:`EdgeSideHit` reads per side: the own face's slot (-1: none), the edge's two
#: faces (original triangle indices, -1: none) and the edge point
EdgeSide = ti.types.struct(own=ti.i32, f0=ti.i32, f1=ti.i32, m=vec3)


@ti.func
def _barycentrics_f(p, v0, e1, e2):
    """(b1, b2) of the point of triangle (v0, v0 + e1, v0 + e2) nearest to p's projection on
    its plane, clamped into the triangle."""
    w = p - v0
    d11, d12, d22 = e1.dot(e1), e1.dot(e2), e2.dot(e2)
    r1, r2 = w.dot(e1), w.dot(e2)
    den = d11 * d22 - d12 * d12
    b1, b2 = 1.0 / 3.0, 1.0 / 3.0
    if den > 0.0:
        b1 = (d22 * r1 - d12 * r2) / den
        b2 = (d11 * r2 - d12 * r1) / den
    b1 = ti.min(ti.max(b1, 0.0), 1.0)
    b2 = ti.min(ti.max(b2, 0.0), 1.0 - b1)
    return ti.Vector([b1, b2])


@dataclass
class ShadowLight:
    """A light whose shadows the point-light shadow samplers follow: emitter ``index``;
    ``vec``: its position (point, spot), or, ``at_infinity`` (directional), the direction its
    light travels (unit)."""
    index: int
    vec: np.ndarray
    at_infinity: bool = False


def _liang_barsky(p0, p1, lo, hi):
    """Parameter range [a, b] of the 2D segments p0 -> p1 (N, 2) inside the box [lo, hi]."""
    d = p1 - p0
    a = np.zeros(p0.shape[0])
    b = np.ones(p0.shape[0])
    for k in range(2):
        for q_lo, sgn in ((p0[:, k] - lo[k], -1.0), (hi[k] - p0[:, k], 1.0)):
            pk = sgn * d[:, k]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = q_lo / pk
            par = pk == 0
            a = np.where(par, np.where(q_lo < 0, 2.0, a), np.where(pk < 0, np.maximum(a, t), a))
            b = np.where(par, np.where(q_lo < 0, -1.0, b), np.where(pk > 0, np.minimum(b, t), b))
    return a, b


@ti.data_oriented
class EdgeTracer:
    """Taichi kernels (not differentiated): both-side path estimates, shadow-ray hits, and the
    first-bounce secondary edge samples."""

    def __init__(self, renderer, n_edges):
        """``n_edges``: the most edges that will be uploaded (the mesh's unique edges); the
        edge fields get the capacity class of that number, allocated here once, so that a
        pooled tracer (``core/pool.py``) keeps its fields and compiled kernels."""
        self.r = renderer
        self.geometry = renderer.geometry
        self.bsdfs = renderer.bsdfs
        self.camera = renderer.camera
        self.integ = renderer.integrator
        self.side_hit = EdgeSideHit(self.geometry)
        cap = capacity_class(n_edges)
        self.ev0 = vec3.field(shape=cap)
        self.ev1 = vec3.field(shape=cap)
        self.en0 = vec3.field(shape=cap)
        self.en1 = vec3.field(shape=cap)
        self.ecdf = ti.field(ti.f32, shape=cap)
        # 1: always (boundary/non-manifold), 2: crease; + STILL_LIGHT_EDGE: an area light's
        # edge that stays while shading points move (see ``_edge_weight``)
        self.einfo = ti.field(ti.i32, shape=cap)
        self.n_edge = ti.field(ti.i32, shape=())
        # the first n_guided edges are chosen by their importance seen from the shading point
        # (:meth:`_choose_edge`); cone_only: edges outside every light's cone get none (the
        # traced sides see emitters only)
        self.n_guided = ti.field(ti.i32, shape=())
        self.cone_only = ti.field(ti.i32, shape=())
        # cone_only with one light: per edge, the direction from the light's centre to its
        # midpoint and the cosine of the widest angle (at that centre) between it and a
        # shading point whose cone towards the light the edge can reach (a cheap cull)
        self.ecull = ti.Vector.field(4, ti.f32, shape=cap)
        self.n_edge_cap = cap
        self.tree = EdgeTree(cap)  # over the guided edges, when there are many (``tree``)
        self.light_c = vec3.field(shape=MAX_GUIDE_LIGHTS)
        self.light_r = ti.field(ti.f32, shape=MAX_GUIDE_LIGHTS)
        self.n_light = ti.field(ti.i32, shape=())
        self.env_light = ti.field(ti.i32, shape=())  # 1: the scene has an environment light

    @property
    def glossy(self) -> bool:
        """Whether the scene has a BSDF with a lobe narrower than a diffuse one (any smooth
        leaf but ``diffuse``, or a user shader): the kernels then bound it (:meth:`_lobe`)."""
        b = self.bsdfs
        return any(t != DIFFUSE_CODE for t in b.used_smooth) or bool(b.shader_list)

    def upload_lights(self, centers, radii, environment=False):
        """Bounding spheres of the area lights (edge importance and the point mixture of the
        secondary samples); ``environment``: the scene has a light at infinity in every
        direction (``constant``, ``envmap``), whose shadows every edge can cast."""
        self.env_light[None] = int(bool(environment))
        n = min(len(radii), self.light_c.shape[0])
        c = np.zeros((self.light_c.shape[0], 3), np.float32)
        r = np.zeros(self.light_c.shape[0], np.float32)
        c[:n] = np.asarray(centers, np.float32).reshape(-1, 3)[:n]
        r[:n] = np.asarray(radii, np.float32)[:n]
        self.light_c.from_numpy(c)
        self.light_r.from_numpy(r)
        self.n_light[None] = n

    def upload_edges(self, v0, v1, n0, n1, always, cdf, n_guided=None, cone_only=False, cull=None,
                     tree=None):
        """Edges (the first ``n_guided``, default all, chosen by per-point importance, the
        others by length through ``cdf``, the cumulative length share of all of them);
        ``cull`` (N, 4): see ``ecull`` (None: no cull). ``tree``: the sorted codes of the guided
        edges (``edge_tree.morton_codes``, in whose order they are) to choose them through the
        edge tree; None: by two passes over them."""
        n = v0.shape[0]
        cap = self.n_edge_cap
        if n > cap:
            raise GradientError(f"{n} edges do not fit the edge tracer's {cap} (its topology changed)")

        def pad(a, fill=0.0):
            out = np.full((cap,) + a.shape[1:], fill, np.float32)
            out[:n] = a
            return out
        self.ev0.from_numpy(pad(v0))
        self.ev1.from_numpy(pad(v1))
        self.en0.from_numpy(pad(n0))
        self.en1.from_numpy(pad(n1))
        self.ecdf.from_numpy(pad(cdf, 2.0))
        ai = np.zeros(cap, np.int32)
        ai[:n] = always
        self.einfo.from_numpy(ai)
        self.n_edge[None] = n
        self.n_guided[None] = n if n_guided is None else int(n_guided)
        self.cone_only[None] = int(bool(cone_only)) + int(bool(cone_only) and cull is not None)
        cu = np.zeros((cap, 4), np.float32)
        cu[:, 3] = -2.0
        if cull is not None:
            cu[:n] = cull
        self.ecull.from_numpy(cu)
        ng = self.n_guided[None]
        if tree is not None and ng > 0:
            k = np.asarray(always[:ng], np.int64)
            flags = (np.where(k % STILL_LIGHT_EDGE == 1, NODE_ALWAYS, 0)
                     | np.where(k % STILL_LIGHT_EDGE == 2, NODE_CREASE, 0)
                     | np.where(k >= STILL_LIGHT_EDGE, 0, NODE_MOVING))
            self.tree.upload(v0[:ng], v1[:ng], n0[:ng], n1[:ng], flags, tree)
        else:
            self.tree.upload(None, None, None, None, None)

    @ti.kernel
    def trace_pairs(self, pos: ti.types.ndarray(), off: ti.types.ndarray(), keys: ti.types.ndarray(),
                    out: ti.types.ndarray(), max_depth: ti.i32, rr_depth: ti.i32, hide: ti.i32):
        """Path estimates through full-film positions pos - off and pos + off (same random
        numbers): out[i, 0] = minus side, out[i, 1] = plus side."""
        for i in range(pos.shape[0]):
            key = ti.cast(keys[i], ti.u32)
            for side in range(2):  # not unrolled: one copy of the path tracer in the kernel
                sg = 2.0 * side - 1.0
                fp = ti.Vector([pos[i, 0] + sg * off[i, 0], pos[i, 1] + sg * off[i, 1]])
                o, d, tmax = self.camera.sample_ray(fp, key)
                L, _ = self.integ.path(o, d, tmax, key, max_depth, rr_depth, hide, False)
                L = finite_or_black(L)
                for c in ti.static(range(3)):
                    out[i, side, c] = L[c]

    @ti.kernel
    def trace_edge_pairs(self, pos: ti.types.ndarray(), off: ti.types.ndarray(),
                         keys: ti.types.ndarray(), faces: ti.types.ndarray(),
                         mpt: ti.types.ndarray(), out: ti.types.ndarray(), max_depth: ti.i32, rr_depth: ti.i32, hide: ti.i32):
        """:meth:`trace_pairs` for silhouettes and creases seen from the camera: the camera
        rays' hits are decided by :class:`EdgeSideHit` from ``faces`` (N, 4): the slots of
        the minus and plus sides' own faces (-1: none) and the edge's two faces (original
        triangle indices, -1: none); ``mpt`` (N, 3): the edge points (world)."""
        for i in range(pos.shape[0]):
            key = ti.cast(keys[i], ti.u32)
            for side in range(2):
                sg = 2.0 * side - 1.0
                fp = ti.Vector([pos[i, 0] + sg * off[i, 0], pos[i, 1] + sg * off[i, 1]])
                o, d, tmax = self.camera.sample_ray(fp, key)
                iv = EdgeSide(own=faces[i, side], f0=faces[i, 2], f1=faces[i, 3],
                              m=ti.Vector([mpt[i, 0], mpt[i, 1], mpt[i, 2]]))
                L, _ = trace_path(self.integ, o, d, tmax, key, max_depth, rr_depth, hide, False,
                                  self.side_hit, iv)
                L = finite_or_black(L)
                for c in ti.static(range(3)):
                    out[i, side, c] = L[c]

    @ti.kernel
    def cast(self, org: ti.types.ndarray(), dirs: ti.types.ndarray(), q: ti.types.ndarray(),
             nq: ti.types.ndarray(), qtri: ti.types.ndarray(), hit: ti.types.ndarray()):
        """The first hits q of the rays (org[i], dirs[i]): point, geometric normal and the
        vertex indices of its triangle."""
        for i in range(org.shape[0]):
            o = ti.Vector([org[i, 0], org[i, 1], org[i, 2]])
            d = ti.Vector([dirs[i, 0], dirs[i, 1], dirs[i, 2]])
            h = self.geometry.intersect(o, d, ti.math.inf)
            si = self.geometry.surface(h, o, d)
            hit[i] = si.valid
            for c in ti.static(range(3)):
                q[i, c] = si.p[c]
                nq[i, c] = si.ng[c]
                qtri[i, c] = 0
            if si.valid:
                vi = self.geometry.tri_info[si.tri].vi
                for c in ti.static(range(3)):
                    qtri[i, c] = vi[c]

    @ti.func
    def _pick_edge(self, u):
        """Index of the edge whose CDF interval holds u."""
        lo = 0
        hi = self.n_edge[None] - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.ecdf[mid] <= u:
                lo = mid + 1
            else:
                hi = mid
        return lo

    @ti.func
    def _light_interval(self, v0, v1, p):
        """Parameter range [lo, hi] of the points of edge v0 v1 that p sees inside the cone of
        the first area light whose cone they reach (16 probes, widened by one probe step);
        lo > hi when there is none."""
        lo = 2.0
        hi = -1.0
        found = 0
        for k in range(self.n_light[None]):
            if found == 0:
                lc = self.light_c[k] - p
                ld = lc.norm()
                if ld > 0.0:
                    ax = lc / ld
                    ca = ti.cos(ti.min(ti.asin(ti.min(self.light_r[k] / ld, 1.0)) * 1.05, 1.5707963))
                    for j in range(17):
                        sj = j / 16.0
                        w = v0 + sj * (v1 - v0) - p
                        wl = w.norm()
                        if wl > 0.0 and w.dot(ax) >= ca * wl:
                            lo = ti.min(lo, sj)
                            hi = ti.max(hi, sj)
                    if hi >= lo:
                        found = 1
                        lo = ti.max(0.0, lo - 1.0 / 16.0)
                        hi = ti.min(1.0, hi + 1.0 / 16.0)
        return lo, hi

    @ti.func
    def _base_boost(self):
        """The factor of an edge's importance when its direction cone misses every area
        light: a tenth, none when the sides see emitters only (``cone_only``), all of it with an
        environment light."""
        boost = 0.1
        if self.cone_only[None] != 0:
            boost = 0.0
        if self.env_light[None] != 0:
            boost = 1.0
        return boost

    @ti.func
    def _edge_weight(self, e, p, ns, lobe):
        """Importance of edge e seen from p (normal ns): 0 unless it is a silhouette from p
        in front of the surface; else its subtended angle, x 10 when its direction cone
        overlaps an area light's bounding sphere (shadow boundaries), so that occluded
        indirect light keeps a positive probability. With an environment light every
        direction sees a light: every edge gets the full weight (its subtended angle). Times
        LOBE_FLOOR when its direction cone misses the BSDF's lobe cone ``lobe`` (axis, half
        angle; :meth:`_lobe`)."""
        v0 = self.ev0[e]
        v1 = self.ev1[e]
        w0 = v0 - p
        w1 = v1 - p
        res = 0.0
        culled = False
        if self.cone_only[None] == 2:  # the edge cannot reach p's cone towards the light
            cp = p - self.light_c[0]
            cl = cp.norm()
            cu = self.ecull[e]
            if cl > 0.0 and ti.Vector([cu[0], cu[1], cu[2]]).dot(cp) < cu[3] * cl:
                culled = True
        s0 = self.en0[e].dot(w0)
        s1 = self.en1[e].dot(w0)
        kind = self.einfo[e] % STILL_LIGHT_EDGE
        sil = kind == 1 or s0 * s1 <= 0.0 or (kind == 2 and (s0 < 0.0 or s1 < 0.0))
        if not culled and sil and (ns.dot(w0) > 0.0 or ns.dot(w1) > 0.0):
            mid = 0.5 * (v0 + v1) - p
            dm = mid.norm()
            el = (v1 - v0).norm()
            if dm > 0.0:
                res = ti.min(el / dm, 3.0)
                md = mid / dm
                near = dm - 0.5 * el  # no point of the edge is closer than this
                half = 0.5 * 3.141592653589793
                if near > 0.0:
                    half = ti.asin(ti.min(0.5 * el / near, 1.0))
                boost = self._base_boost()
                # an area light's own edge that stays: only the side past the light sees
                # radiance that p's motion sweeps (the replay holds the light's point), so its
                # cone overlapping the light is no reason to boost it
                n_boost = self.n_light[None]
                if self.einfo[e] >= STILL_LIGHT_EDGE:
                    n_boost = 0
                for k in range(n_boost):
                    lc = self.light_c[k] - p
                    ld = lc.norm()
                    if ld > 0.0:
                        lr = ti.asin(ti.min(self.light_r[k] / ld, 1.0))
                        ang = ti.acos(ti.max(-1.0, ti.min(1.0, md.dot(lc / ld))))
                        if ang <= lr + half and near < ld + self.light_r[k]:
                            boost = 1.0
                if lobe[3] < LOBE_OFF:
                    ax = ti.Vector([lobe[0], lobe[1], lobe[2]])
                    if ti.acos(ti.max(-1.0, ti.min(1.0, md.dot(ax)))) > lobe[3] + half:
                        boost *= LOBE_FLOOR
                res *= boost
        return res

    @ti.func
    def _guided_sum(self, p, ns, lobe, want, find):
        """The guided edges' importance seen from p (normal ns), added in index order: with
        ``find`` 0, the sum; with ``find`` 1, the first edge at which the running sum exceeds
        ``want`` (else the last edge of positive importance), and its importance. With the edge
        tree, only the leaves of nodes that may hold an edge of positive importance are visited
        (``EdgeTree.may_contribute``), left before right: the edges skipped have importance 0,
        so the sums and the choice are those of a pass over every edge, bit for bit."""
        tree = self.tree
        use_tree = tree.n_nodes[None] > 0
        bb = self._base_boost()
        acc = 0.0
        e_pick = -1
        w_pick = 0.0
        last = -1
        w_last = 0.0
        stack = ti.Vector([0] * TREE_STACK, ti.i32)
        stack[0] = 0
        sp = 1
        while sp > 0 and e_pick < 0:
            sp -= 1
            k = stack[sp]
            first = 0
            end = self.n_guided[None]
            leaf = True
            if use_tree:
                first = tree.first[k]
                end = tree.end[k]
                if not tree.may_contribute(k, p, ns, bb, self.light_c, self.light_r, self.n_light[None]):
                    end = first
                elif tree.left[k] >= 0 and sp + 2 <= TREE_STACK:
                    stack[sp] = tree.left[k] + 1
                    stack[sp + 1] = tree.left[k]  # on top: visited first
                    sp += 2
                    leaf = False
            if leaf:  # a leaf (or a node the stack has no room to open): its edges in order
                for e in range(first, end):
                    w = self._edge_weight(e, p, ns, lobe)
                    if w > 0.0:
                        acc += w
                        if find != 0:
                            last = e
                            w_last = w
                            if acc > want:
                                e_pick = e
                                w_pick = w
                                break
        if find != 0 and e_pick < 0:  # round-off at the top of the range: the last edge
            e_pick = last
            w_pick = w_last
        return acc, e_pick, w_pick

    @ti.func
    def _guided_pick(self, p, ns, lobe, u, target):
        """The choice among the guided edges by their importance seen from p, with the uniform
        u (``target`` >= 0: that edge, for its probability). Returns the edge (-1: none can
        contribute), its importance and the guided edges' total."""
        total = 0.0
        e_pick = -1
        w_pick = 0.0
        for pass_ in range(2):  # not unrolled: one copy of the sum in the kernel
            if pass_ == 0 or (total > 0.0 and target < 0):
                acc, e, w = self._guided_sum(p, ns, lobe, u * total, pass_)
                if pass_ == 0:
                    total = acc
                else:
                    e_pick = e
                    w_pick = w
        if target >= 0 and total > 0.0:
            e_pick = target
            w_pick = self._edge_weight(target, p, ns, lobe)
        return e_pick, w_pick, total

    @ti.func
    def _choose_edge(self, p, ns, lobe, u, uc):
        """An edge for the shading point p (normal ns) and its probability: a mixture of the
        first ``n_guided`` edges by their importance seen from p (:meth:`_edge_weight`; through
        the edge tree when there is one, :meth:`_guided_pick`) and all edges by length (the CDF
        ``ecdf``), GUIDED_FRACTION of the samples from the first (all when every edge is
        guided, none when none is); -1 when the chosen edge cannot contribute from p (its
        importance is 0)."""
        n = self.n_edge[None]
        ng = self.n_guided[None]
        a = GUIDED_FRACTION
        if ng >= n:
            a = 1.0
        elif ng <= 0:
            a = 0.0
        e_pick = -1
        target = -1
        guided = uc < a
        if not guided:
            e = self._pick_edge(u)
            if self._edge_weight(e, p, ns, lobe) > 0.0:
                target = e
        pdf = 0.0
        if guided or (target >= 0 and target < ng and a > 0.0):
            # one call: the choice, or the guided probability of the edge chosen by length
            eg, w_pick, total = self._guided_pick(p, ns, lobe, u, target)
            if guided:
                e_pick = eg
            if eg >= 0 and total > 0.0:
                pdf += a * w_pick / total
        if not guided:
            e_pick = target
        if e_pick >= 0:
            if a < 1.0:
                c0 = 0.0
                if e_pick > 0:
                    c0 = self.ecdf[e_pick - 1]
                pdf += (1.0 - a) * (self.ecdf[e_pick] - c0)
            if pdf <= 0.0:
                e_pick = -1
        return e_pick, pdf

    @ti.func
    def _lobe(self, si, d, key):
        """A cone (axis, half angle) that holds the BSDF's lobe at si for light arriving along
        d: up to LOBE_SAMPLES directions sampled from it, around the first valid one, the
        widest one's angle times LOBE_WIDEN plus LOBE_PAD. LOBE_OFF as the angle when there is
        none: a wider cone than LOBE_MAX_ANGLE (it stops sampling then: at a diffuse point
        after a sample or two), fewer than half the samples valid, or a scene whose BSDFs are
        all diffuse (no code for it in the kernel)."""
        angle = LOBE_OFF
        ax = ti.Vector([0.0, 0.0, 1.0])
        if ti.static(self.glossy):
            s, t = coordinate_system(si.ns)
            wi = to_local(s, t, si.ns, -d)
            g = self.bsdfs.local_geo(si.dp_du, si.dp_dv, si.ng, s, t, si.ns)
            tex = self.bsdfs.textures.point(self.geometry, si)
            lkey = pcg_hash(key ^ ti.u32(LOBE_SALT))
            n_ok = 0
            cmin = 1.0
            wide = ti.static(math.cos((LOBE_MAX_ANGLE - LOBE_PAD) / LOBE_WIDEN))
            for k in range(LOBE_SAMPLES):  # not unrolled: one copy of the BSDF's sampling
                if cmin >= wide:
                    bs = self.bsdfs.sample(si.bsdf, tex, wi, rand_lobe(lkey, k), rand_direction(lkey, k), g)
                    if bs.pdf > 0.0 and bs.weight.max() > 0.0:
                        wo = bs.wo.normalized()
                        if n_ok == 0:
                            ax = wo
                        else:
                            cmin = ti.min(cmin, wo.dot(ax))
                        n_ok += 1
            if 2 * n_ok >= LOBE_SAMPLES and cmin >= wide:
                angle = ti.acos(ti.min(1.0, cmin)) * LOBE_WIDEN + LOBE_PAD
            ax = to_world(s, t, si.ns, ax)
        return ti.Vector([ax[0], ax[1], ax[2], angle])

    @ti.kernel
    def choice_probabilities(self, pts: ti.types.ndarray(), nrm: ti.types.ndarray(), lobe: ti.types.ndarray(),
                             weight: ti.types.ndarray(), prob: ti.types.ndarray()):
        """Diagnostics of the edge choice at shading points pts[i] (normals nrm[i], lobe cones
        lobe[i]: axis and half angle, LOBE_OFF for none; :meth:`_lobe`): per edge e, its
        importance (:meth:`_edge_weight`) and, for a guided edge, the probability that the
        choice among the guided edges takes it (else -1)."""
        for i, e in ti.ndrange(pts.shape[0], weight.shape[1]):
            p = ti.Vector([pts[i, 0], pts[i, 1], pts[i, 2]])
            ns = ti.Vector([nrm[i, 0], nrm[i, 1], nrm[i, 2]])
            lb = ti.Vector([lobe[i, 0], lobe[i, 1], lobe[i, 2], lobe[i, 3]])
            weight[i, e] = 0.0
            prob[i, e] = -1.0
            if e < self.n_edge[None]:
                weight[i, e] = self._edge_weight(e, p, ns, lb)
                if e < self.n_guided[None]:
                    eg, w_pick, total = self._guided_pick(p, ns, lb, 0.0, e)
                    prob[i, e] = 0.0
                    if eg >= 0 and total > 0.0:
                        prob[i, e] = w_pick / total

    @ti.kernel
    def choose_edges(self, pts: ti.types.ndarray(), nrm: ti.types.ndarray(), lobe: ti.types.ndarray(),
                     u: ti.types.ndarray(), edge: ti.types.ndarray(), pdf: ti.types.ndarray()):
        """Diagnostics: :meth:`_choose_edge` at the shading point pts[i] (normal nrm[i], lobe
        cone lobe[i]) with the uniforms u[i, 0] (the edge) and u[i, 1] (the component)."""
        for i in range(u.shape[0]):
            p = ti.Vector([pts[i, 0], pts[i, 1], pts[i, 2]])
            ns = ti.Vector([nrm[i, 0], nrm[i, 1], nrm[i, 2]])
            lb = ti.Vector([lobe[i, 0], lobe[i, 1], lobe[i, 2], lobe[i, 3]])
            edge[i], pdf[i] = self._choose_edge(p, ns, lb, u[i, 0], u[i, 1])

    @ti.func
    def _walk(self, fp, key, bounce, i, chain: ti.template(), ctri: ti.template(),
              record: ti.template()):
        """The camera ray through the full-film position ``fp``, then ``bounce`` BSDF samples
        (random numbers of their own, from ``key``): the surface interaction reached (path
        vertex ``bounce``), the direction of the ray that reached it, the path throughput to
        it (product of the BSDF sample weights) and whether it is a surface. ``record``: the
        earlier vertices j < bounce go to chain[i, j] = (p_j, the direction of the ray that
        reached it, its geometric normal) and ctri[i, j] (its triangle's vertex indices)."""
        o, d, tmax = self.camera.sample_ray(fp, key)
        h = self.geometry.intersect(o, d, tmax)
        si = self.geometry.surface(h, o, d)
        T = ti.Vector([1.0, 1.0, 1.0])
        ok = si.valid
        wkey = pcg_hash(key ^ ti.u32(WALK_SALT))
        k = 0
        while k < bounce and ok != 0:
            if ti.static(record):
                vj = self.geometry.tri_info[si.tri].vi
                for c in ti.static(range(3)):
                    chain[i, k, 0, c] = si.p[c]
                    chain[i, k, 1, c] = d[c]
                    chain[i, k, 2, c] = si.ng[c]
                    ctri[i, k, c] = vj[c]
            s, t = coordinate_system(si.ns)
            wi = to_local(s, t, si.ns, -d)
            g = self.bsdfs.local_geo(si.dp_du, si.dp_dv, si.ng, s, t, si.ns)
            bs = self.bsdfs.sample(si.bsdf, self.bsdfs.textures.point(self.geometry, si), wi,
                                   rand_lobe(wkey, k), rand_direction(wkey, k), g)
            T *= bs.weight
            if bs.pdf <= 0.0 or T.max() <= 0.0:
                ok = 0
            else:
                wo = to_world(s, t, si.ns, bs.wo)
                ro = offset_origin(si.p, si.ng, wo)
                h = self.geometry.intersect(ro, wo, ti.math.inf)
                si = self.geometry.surface(h, ro, wo)
                d = wo
                ok = si.valid
            k += 1
        return si, d, T, ok

    @ti.kernel
    def secondary(self, pos: ti.types.ndarray(), keys: ti.types.ndarray(),
                  eps: ti.f32, max_depth: ti.i32, rr_depth: ti.i32, bounce: ti.i32,
                  hide_first: ti.i32,
                  dC: ti.types.ndarray(), eid: ti.types.ndarray(), es: ti.types.ndarray(),
                  nhat: ti.types.ndarray(), ptri: ti.types.ndarray(), pgeo: ti.types.ndarray(),
                  dCp: ti.types.ndarray(), chain: ti.types.ndarray(), ctri: ti.types.ndarray(),
                  dCl: ti.types.ndarray(), ltri: ti.types.ndarray(), lbc: ti.types.ndarray()):
        """At path vertex ``bounce`` p of the camera sample through pos[i] (:meth:`_walk`):
        choose an edge (:meth:`_choose_edge`), a point on it, and path trace the incident
        radiance on both sides of the direction to that point (depth ``max_depth - 1 -
        bounce``; ``hide_first``: without the emission the sides' rays find first, and with
        no share of an emitter's motion); dC carries the walk's throughput. Also p's triangle
        (vertex indices),
        pgeo[i] = (p, the direction of the ray that reached p, p's geometric normal), and dCp:
        dC with each side weighted by how much of p's motion moves the boundary in the
        parametrisation the interior replay uses on that side (see ``secondary`` in Python).
        Per side (dCl[i, side], ltri[i, side], lbc[i, side]): when it sees an area light, that
        side's share of the light's own motion (the replay holds the light's point y on it:
        the boundary moves by |m - p| / |y - p| of y's motion there), the light's triangle
        (vertex indices; -1: the side sees no emitter) and y's barycentrics on it."""
        for i in range(pos.shape[0]):
            key = ti.cast(keys[i], ti.u32)
            eid[i] = -1
            for c in ti.static(range(3)):
                dC[i, c] = 0.0
                dCp[i, c] = 0.0
                for sd in ti.static(range(2)):
                    dCl[i, sd, c] = 0.0
                    ltri[i, sd, c] = -1
            fp = ti.Vector([pos[i, 0], pos[i, 1]])
            si, d, Tw, ok = self._walk(fp, key, bounce, i, chain, ctri, True)
            if ok != 0 and max_depth >= 2 + bounce and self.n_edge[None] > 0:
                p = si.p
                nsd = si.ns
                if nsd.dot(-d) < 0.0:
                    nsd = -nsd
                u = rand2(key, DIM_EDGE)
                lobe = self._lobe(si, d, key)
                e_pick, pdf_e = self._choose_edge(p, nsd, lobe, u.x, rand(key, DIM_EDGE_COMPONENT))
                if e_pick >= 0:
                    v0 = self.ev0[e_pick]
                    v1 = self.ev1[e_pick]
                    s_lo, s_hi = self._light_interval(v0, v1, p)
                    # Mixture: half the points uniformly on the part of the edge seen in front
                    # of an area light (shadow boundaries), half on the whole edge (indirect);
                    # all on that part when the sides see emitters only (``cone_only``: the
                    # widened probe interval holds every point of the edge inside the cone).
                    mix = 0.5
                    if self.cone_only[None] != 0:
                        mix = 1.0
                    su = u.y
                    if s_hi > s_lo and rand(key, DIM_EDGE_MIXTURE) < mix:
                        su = s_lo + u.y * (s_hi - s_lo)
                    pdf_s = 1.0
                    if s_hi > s_lo:
                        pdf_s = 1.0 - mix
                        if s_lo <= su and su <= s_hi:
                            pdf_s += mix / (s_hi - s_lo)
                    m = v0 + su * (v1 - v0)
                    dv = m - p
                    dist = dv.norm()
                    nh = (v0 - p).cross(v1 - p)
                    nl = nh.norm()
                    if dist > 0.0 and nl > 0.0:
                        nh /= nl
                        om = dv / dist
                        s, t = coordinate_system(si.ns)
                        wi = to_local(s, t, si.ns, -d)
                        wo = to_local(s, t, si.ns, om)
                        g = self.bsdfs.local_geo(si.dp_du, si.dp_dv, si.ng, s, t, si.ns)
                        f, _ = self.bsdfs.eval_pdf(
                            si.bsdf, self.bsdfs.textures.point(self.geometry, si), wi, wo, g)
                        if f.max() > 0.0:
                            el = (v1 - v0).norm()
                            sin_t = (v1 - v0).cross(om).norm() / ti.max(el, 1e-30)
                            Ld = ti.Vector([0.0, 0.0, 0.0])  # minus side - plus side
                            # Both sides from the offset ray origin, aimed across the edge as
                            # seen from there: the offset (~1e-4 scene units) can exceed eps
                            # times the distance, and rays aimed from p would then often miss
                            # the edge on the same side (a bias towards zero).
                            ro = offset_origin(p, si.ng, om)
                            omr = (m - ro).normalized()
                            nhr = (v0 - ro).cross(v1 - ro)
                            if nhr.norm() > 0.0:
                                nhr = nhr.normalized()
                            else:
                                nhr = nh
                            eps_e = ti.max(ti.min(eps, ANGLE_EPS_EDGE_SHARE * el * sin_t / dist), ANGLE_EPS_MIN)
                            # not unrolled: one copy of the path tracer in the kernel (half
                            # the code to compile)
                            Lp = ti.Vector([0.0, 0.0, 0.0])  # the sides as p's motion moves them
                            for side in range(2):
                                sg = 2.0 * side - 1.0
                                ws = (omr + sg * eps_e * nhr).normalized()
                                Ls, _ = self.integ.path(ro, ws, ti.math.inf, key, max_depth - 1 - bounce,
                                                        rr_depth, hide_first, False)
                                if not (Ls.x == Ls.x and Ls.y == Ls.y and Ls.z == Ls.z):
                                    Ls = ti.Vector([0.0, 0.0, 0.0])
                                Ld -= sg * Ls
                                # An area light seen on this side is replayed in area measure
                                # (its point y held): p's motion moves the boundary there by
                                # 1 - |m - p| / |y - p| of what it does in directions (anything
                                # else: BSDF-sampled directions held, all of it)
                                hs = self.geometry.intersect(ro, ws, ti.math.inf)
                                share = 1.0
                                if hs.tri >= 0 and hide_first == 0:  # (else no emission seen here)
                                    geo = self.geometry
                                    if geo.shapes[geo.tri_info[hs.tri].shape_id].emitter >= 0:
                                        share_l = ti.min(1.0, dist / ti.max(hs.t, 1e-30))
                                        share = 1.0 - share_l
                                        vl = geo.tri_info[hs.tri].vi
                                        for c in ti.static(range(3)):
                                            # scaled by the weights below, after the loop
                                            dCl[i, side, c] = -sg * share_l * Ls[c]
                                            ltri[i, side, c] = vl[c]
                                        lbc[i, side, 0] = hs.b1
                                        lbc[i, side, 1] = hs.b2
                                Lp -= sg * share * Ls
                            scale = sin_t / (dist * dist) * el / (pdf_s * pdf_e)
                            for c in ti.static(range(3)):
                                dC[i, c] = Tw[c] * f[c] * Ld[c] * scale
                                dCp[i, c] = Tw[c] * f[c] * Lp[c] * scale
                                for sd in ti.static(range(2)):
                                    dCl[i, sd, c] *= Tw[c] * f[c] * scale
                            eid[i] = e_pick
                            es[i] = su
                            vi = self.geometry.tri_info[si.tri].vi
                            for c in ti.static(range(3)):
                                nhat[i, c] = nh[c]
                                ptri[i, c] = vi[c]
                                pgeo[i, 0, c] = p[c]
                                pgeo[i, 1, c] = d[c]
                                pgeo[i, 2, c] = si.ng[c]

    @ti.kernel
    def shadow_walk(self, pos: ti.types.ndarray(), keys: ti.types.ndarray(), bounce: ti.i32,
                    org: ti.types.ndarray(), dirs: ti.types.ndarray(), q: ti.types.ndarray(),
                    nq: ti.types.ndarray(), qtri: ti.types.ndarray(), pp: ti.types.ndarray(),
                    pd: ti.types.ndarray(), pn: ti.types.ndarray(), ptri: ti.types.ndarray(),
                    hit: ti.types.ndarray(), chain: ti.types.ndarray(), ctri: ti.types.ndarray()):
        """Point-light shadow boundaries seen from path vertex ``bounce`` p of the camera
        sample through pos[i]: the ray (org[i], dirs[i]) from the light past an edge point
        hits the receiver at q (its triangle's vertex indices in qtri); hit[i] = 1 when q is
        visible from p. Also p, the direction of the ray that reached it, its geometric normal
        and its triangle's vertex indices."""
        for i in range(pos.shape[0]):
            key = ti.cast(keys[i], ti.u32)
            hit[i] = 0
            fp = ti.Vector([pos[i, 0], pos[i, 1]])
            si, d, Tw, ok = self._walk(fp, key, bounce, i, chain, ctri, True)
            if ok != 0:
                o = ti.Vector([org[i, 0], org[i, 1], org[i, 2]])
                dd = ti.Vector([dirs[i, 0], dirs[i, 1], dirs[i, 2]])
                hq = self.geometry.intersect(o, dd, ti.math.inf)
                sq = self.geometry.surface(hq, o, dd)
                if sq.valid and self.integ.visible(si.p, si.ng, sq.p):
                    hit[i] = 1
                    vi = self.geometry.tri_info[si.tri].vi
                    vq = self.geometry.tri_info[sq.tri].vi
                    for c in ti.static(range(3)):
                        qtri[i, c] = vq[c]
                        q[i, c] = sq.p[c]
                        nq[i, c] = sq.ng[c]
                        pp[i, c] = si.p[c]
                        pd[i, c] = d[c]
                        pn[i, c] = si.ng[c]
                        ptri[i, c] = vi[c]

    @ti.kernel
    def shadow_pairs(self, pos: ti.types.ndarray(), keys: ti.types.ndarray(), bounce: ti.i32,
                     om: ti.types.ndarray(), nh: ti.types.ndarray(), qb: ti.types.ndarray(), eps: ti.f32,
                     max_depth: ti.i32, rr_depth: ti.i32, out: ti.types.ndarray()):
        """Throughput x BSDF x incident radiance at path vertex ``bounce`` of the camera sample
        through pos[i], on both sides (out[i, 0]: minus, out[i, 1]: plus) of the boundary point
        qb[i] seen in direction om[i], eps radians apart along nh[i] (same random numbers).
        Both sides start at the offset ray origin and are aimed across qb as seen from there
        (as the silhouette sampler's: the offset can exceed eps times the distance)."""
        for i in range(pos.shape[0]):
            key = ti.cast(keys[i], ti.u32)
            for side in range(2):
                for c in ti.static(range(3)):
                    out[i, side, c] = 0.0
            fp = ti.Vector([pos[i, 0], pos[i, 1]])
            si, d, Tw, ok = self._walk(fp, key, bounce, i, out, out, False)
            if ok != 0:
                w = ti.Vector([om[i, 0], om[i, 1], om[i, 2]])
                n = ti.Vector([nh[i, 0], nh[i, 1], nh[i, 2]])
                s, t = coordinate_system(si.ns)
                wi = to_local(s, t, si.ns, -d)
                g = self.bsdfs.local_geo(si.dp_du, si.dp_dv, si.ng, s, t, si.ns)
                f, _ = self.bsdfs.eval_pdf(si.bsdf, self.bsdfs.textures.point(self.geometry, si),
                                           wi, to_local(s, t, si.ns, w), g)
                if f.max() > 0.0:
                    ro = offset_origin(si.p, si.ng, w)
                    wr = (ti.Vector([qb[i, 0], qb[i, 1], qb[i, 2]]) - ro).normalized()
                    nr = n - n.dot(wr) * wr
                    if nr.norm() > 0.0:
                        nr = nr.normalized()
                    else:
                        nr = n
                    for side in range(2):
                        ws = (wr + (2.0 * side - 1.0) * eps * nr).normalized()
                        Ls, _ = self.integ.path(ro, ws, ti.math.inf, key, max_depth - 1 - bounce,
                                                rr_depth, 0, False)
                        Ls = finite_or_black(Ls)
                        for c in ti.static(range(3)):
                            out[i, side, c] = Tw[c] * f[c] * Ls[c]


class EdgeSampler:
    """Builds the edge samples of one Renderer (one sensor)."""

    def __init__(self, renderer, make_tracer=None):
        """``make_tracer(n_edges)``: the :class:`EdgeTracer` (e.g. from the renderer's device
        set); default: a new one."""
        self.r = renderer
        g = renderer.geometry
        has_n = [sh.normals is not None for sh in renderer.scene.shapes]
        self.topo = EdgeTopology(g._f, g.n_verts, g._v, g._s, g._n, has_n)
        self.film = FilmWeights(renderer.sensor, renderer.film)
        n = self.topo.n_edges
        self.tracer = EdgeTracer(renderer, n) if make_tracer is None else make_tracer(n)

    # --- helpers -------------------------------------------------------------------------

    def _keys(self, seed, salt, n):
        with np.errstate(over="ignore"):
            base = pcg_hash_np(pcg_hash_np(np.uint32(seed & 0xFFFFFFFF)) ^ np.uint32(salt))
            return pcg_hash_np(base + np.arange(n, dtype=np.uint32)).astype(np.uint32)

    def _pairs(self, x_full, off, keys, integ, max_depth):
        n = x_full.shape[0]
        out = np.zeros((n, 2, 3), np.float32)
        if n:
            self.tracer.trace_pairs(np.ascontiguousarray(x_full, np.float32),
                                    np.ascontiguousarray(off, np.float32), keys, out,
                                    int(max_depth), int(integ.rr_depth), int(bool(integ.hide_emitters)))
        return out.astype(np.float64)

    def _crop_full(self):
        return np.asarray(self.film.crop, np.float64)

    # --- primary ---------------------------------------------------------------------------

    def primary(self, V, cam: CameraModel, n_samples, seed, integ, max_depth):
        topo = self.topo
        fn = topo.face_normals(V)
        # seen from the camera's origin, or (orthographic) along its parallel rays
        e = (topo.silhouettes(V, None, fn, creases=True, direction=cam.R[:, 2]) if cam.ortho
             else topo.silhouettes(V, cam.o, fn, creases=True))
        if e.size == 0 or n_samples <= 0:
            return None
        a_i, b_i = topo.v[e, 0], topo.v[e, 1]
        la, lb = cam.local(V[a_i]), cam.local(V[b_i])
        # Near-plane clip (3D parameter range [s0, s1] of the edge with z >= near).
        za, zb = la[:, 2], lb[:, 2]
        near = cam.near
        with np.errstate(divide="ignore", invalid="ignore"):
            sc = (near - za) / (zb - za)
        s0 = np.where(za >= near, 0.0, np.where(zb > za, sc, 2.0))
        s1 = np.where(zb >= near, 1.0, np.where(za > zb, sc, -1.0))
        ok = s1 > s0
        e, a_i, b_i, la, lb, s0, s1 = e[ok], a_i[ok], b_i[ok], la[ok], lb[ok], s0[ok], s1[ok]
        if e.size == 0:
            return None
        ca = la + s0[:, None] * (lb - la)
        cb = la + s1[:, None] * (lb - la)
        crop = self._crop_full()
        # Segments on the pinhole film (straight); with lens distortion the silhouette is their
        # image under the distortion, a curve (sampled below through the pinhole segment).
        p0 = cam.screen_pinhole(ca) - crop
        p1 = cam.screen_pinhole(cb) - crop
        lo, hi = cam.pinhole_bounds(self.film.lo + crop, self.film.hi + crop)
        ua, ub = _liang_barsky(p0, p1, lo - crop, hi - crop)
        seglen = np.linalg.norm(p1 - p0, axis=1)
        length = np.where(ub > ua, (ub - ua) * seglen, 0.0)
        total = float(length.sum())
        if not total > 0:
            return None
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 101])
        k = np.searchsorted(np.cumsum(length) / total, rng.random(n_samples), side="right")
        k = np.minimum(k, e.size - 1)
        u = ua[k] + rng.random(n_samples) * (ub[k] - ua[k])
        x = p0[k] + u[:, None] * (p1[k] - p0[k])
        # 3D parameter of the point: the projection is a homography along the segment (affine
        # for an orthographic camera).
        z0, z1 = ca[k, 2], cb[k, 2]
        sp = u if cam.ortho else u * z0 / ((1.0 - u) * z1 + u * z0)
        s = s0[k] + sp * (s1[k] - s0[k])
        l = la[k] + s[:, None] * (lb[k] - la[k])
        tdir = p1[k] - p0[k]
        ns = np.stack([-tdir[:, 1], tdir[:, 0]], 1) / np.maximum(seglen[k], 1e-30)[:, None]
        world = l @ cam.R.T + cam.o
        faces = self._edge_sides(V, fn, cam, crop, e[k], x, ns, world)
        stretch = 1.0
        if cam.distorted:  # the curve's point, tangent and length element on the film
            td = np.einsum("nij,nj->ni", cam.distortion_jacobian_px(x + crop),
                           tdir / np.maximum(seglen[k], 1e-30)[:, None])
            stretch = np.linalg.norm(td, axis=1)
            ns = np.stack([-td[:, 1], td[:, 0]], 1) / np.maximum(stretch, 1e-30)[:, None]
            x = cam.screen(l) - crop
            stretch = stretch[:, None]
        keys = self._keys(seed, 0x51ED, n_samples)
        L = np.zeros((n_samples, 2, 3), np.float32)
        self.tracer.trace_edge_pairs(np.ascontiguousarray(x + crop, np.float32),
                                     np.ascontiguousarray(ns * EDGE_SCREEN_EPS, np.float32), keys,
                                     faces, np.ascontiguousarray(world, np.float32),
                                     L, int(max_depth), int(integ.rr_depth),
                                     int(bool(integ.hide_emitters)))
        L = L.astype(np.float64)
        dC = (L[:, 0] - L[:, 1]) * (total / n_samples) * stretch
        Jl = cam.jac_local(l)                        # (N, 2, 3)
        cl = np.einsum("nk,nkj->nj", ns, Jl)         # d v_n / d l
        cw = cl @ cam.Rinv                           # d v_n / d world point
        vcoef = np.stack([(1.0 - s)[:, None] * cw, s[:, None] * cw], 1)
        cK = np.einsum("nk,nkj->nj", ns, cam.jac_K(l))
        return EdgeSamples(x, dC, np.stack([a_i[k], b_i[k]], 1), vcoef, l, cl, cK)

    def _edge_sides(self, V, fn, cam, crop, e, x, ns, world):
        """Per primary sample (edge ``e``, pinhole film point ``x``, film normal ``ns``, world
        point ``world``; ``fn``: the face normals): (own face slot of the minus side, of the plus side, the edge's
        faces), see :class:`EdgeSideHit`. A face lies on the side its third vertex projects
        to; of two faces on one side, the own face is the one turned towards the camera."""
        topo, g = self.topo, self.r.geometry
        n = e.size
        f = np.stack([topo.f0[e], topo.f1[e]], 1)                      # (N, 2), -1: none
        own = np.full((n, 2), -1, np.int64)
        best = np.full((n, 2), -np.inf)
        fa = np.maximum(f, 0)
        a, b = topo.v[e, 0], topo.v[e, 1]
        view = world - cam.o if not cam.ortho else np.broadcast_to(cam.R[:, 2], (n, 3))
        for j in range(2):
            row = topo.faces[fa[:, j]]
            ok = f[:, j] >= 0
            third = np.where(ok, row.sum(1) - a - b, a)
            l3 = cam.local(V[third])
            if not cam.ortho:
                ok &= l3[:, 2] > 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                p3 = cam.screen_pinhole(l3) - crop
            side = (np.einsum("ij,ij->i", p3 - x, ns) > 0.0).astype(np.int64)  # 1: plus side
            front = -np.einsum("ij,ij->i", fn[fa[:, j]], view)   # > 0: turned towards the camera
            score = np.where(front > 0.0, 1.0, 0.0)
            rows = np.flatnonzero(ok)
            better = score[rows] > best[rows, side[rows]]
            rows = rows[better]
            own[rows, side[rows]] = f[rows, j]
            best[rows, side[rows]] = score[rows]
        slot = np.where(own >= 0, g.tri_rank[np.maximum(own, 0)], -1)
        return np.ascontiguousarray(np.concatenate([slot, f], 1), np.int32)

    # --- point-light shadows on directly visible receivers ---------------------------------

    def _light_silhouettes(self, V, lights):
        """The silhouette edges of the mesh ``V`` seen from each light of ``lights``
        (:class:`ShadowLight`): per edge its light's index (-1 for a light at infinity, whose
        position is no parameter), the edge, the light's vector (position, or direction of
        travel), whether it is at infinity, its two vertex indices and its length; None when
        there is none (or all are degenerate)."""
        topo = self.topo
        fn = topo.face_normals(V)
        cand = topo.candidates(V, fn)
        rows = []
        for li in lights:
            vec = np.asarray(li.vec, np.float64)
            e = (topo.silhouettes(V, None, fn, cand, direction=vec) if li.at_infinity
                 else topo.silhouettes(V, vec, fn, cand))
            if e.size:
                rows.append((np.full(e.size, -1 if li.at_infinity else li.index), e,
                             np.repeat(vec[None], e.size, 0), np.full(e.size, li.at_infinity)))
        if not rows:
            return None
        lid = np.concatenate([r[0] for r in rows])
        e = np.concatenate([r[1] for r in rows])
        lpos = np.concatenate([r[2] for r in rows])
        inf = np.concatenate([r[3] for r in rows])
        a_i, b_i = topo.v[e, 0], topo.v[e, 1]
        length = np.linalg.norm(V[b_i] - V[a_i], axis=1)
        if not length.sum() > 0:
            return None
        return lid, e, lpos, inf, a_i, b_i, length

    def point_shadows(self, V, cam: CameraModel, lights, n_samples, seed, integ, max_depth):
        """``lights``: :class:`ShadowLight` list (point, spot and directional lights)."""
        if not lights or n_samples <= 0 or max_depth < 2:
            return None
        found = self._light_silhouettes(V, lights)
        if found is None:
            return None
        lid, e, lpos, inf, a_i, b_i, length = found
        crop = self._crop_full()
        # Pilot: a few stratified points per edge estimate the length of its shadow's image
        # (most silhouette edges seen from a light cast no visible shadow); edges are then
        # chosen from a mixture of that estimate (90%) and their length (10%), so that every
        # edge keeps a positive probability.
        n_pilot = 4
        kp = np.repeat(np.arange(e.size), n_pilot)
        sp = (np.tile(np.arange(n_pilot), e.size) + 0.5) / n_pilot
        geo = self._shadow_geometry(V, cam, a_i[kp], b_i[kp], lpos[kp], inf[kp], sp, crop)
        est = np.zeros(e.size)
        np.add.at(est, kp[geo["idx"]], geo["tl"])
        est = est / n_pilot * length
        prob = 0.1 * length / length.sum()
        if est.sum() > 0:
            prob += 0.9 * est / est.sum()
        else:
            prob = length / length.sum()
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 202])
        cdf = np.cumsum(prob)
        cdf /= cdf[-1]
        k = np.minimum(np.searchsorted(cdf, rng.random(n_samples), side="right"), e.size - 1)
        s = rng.random(n_samples)
        geo = self._shadow_geometry(V, cam, a_i[k], b_i[k], lpos[k], inf[k], s, crop)
        idx = geo["idx"]
        if idx.size == 0:
            return None
        k, s = k[idx], s[idx]
        x, ns, tl, Jw, Jl, lq = geo["x"], geo["ns"], geo["tl"], geo["Jw"], geo["Jl"], geo["lq"]
        dq_dm, dq_dl = geo["dq_dm"], geo["dq_dl"]
        keys = self._keys(seed, 0x5AD0, idx.size)
        L = self._pairs(x + crop, ns * SCREEN_EPS, keys, integ, max_depth)
        wgt = tl * length[k] / (prob[k] * n_samples)
        dC = (L[:, 0] - L[:, 1]) * wgt[:, None]
        cq = np.einsum("nk,nkj->nj", ns, Jw)                   # d v_n / d q
        cm = np.einsum("nj,nji->ni", cq, dq_dm)
        clight = np.einsum("nj,nji->ni", cq, dq_dl)
        cl = np.einsum("nk,nkj->nj", ns, Jl)
        vcoef = np.stack([(1.0 - s)[:, None] * cm, s[:, None] * cm], 1)
        cT = np.einsum("nk,nkj->nj", ns, cam.jac_K(lq))
        edge = EdgeSamples(x, dC, np.stack([a_i[k], b_i[k]], 1), vcoef, lq, cl, cT, lid[k], clight)
        # the receiver moving with its triangle: q slides along the light's ray
        recv = _moving_surface_parts(x, dC, V, geo["q"], geo["qtri"], cq, geo["dvec"], geo["nq"])
        return EdgeSamples.concat([edge] + recv)

    def _shadow_geometry(self, V, cam, ia, ib, lp, inf, s, crop):
        """Shadow points q of edge points m = V[ia] + s (V[ib] - V[ia]) cast from lights lp
        (``inf``: lights at infinity, lp their direction of travel), their film positions and
        the derivatives; ``idx``: the samples that are valid."""
        n = s.size
        va, vb = V[ia], V[ib]
        m = va + s[:, None] * (vb - va)
        dvec = _shadow_ray(m, lp, inf)
        dn = np.linalg.norm(dvec, axis=1)
        good = dn > 0
        ddir = dvec / np.where(good, dn, 1.0)[:, None]
        scale = float(np.max(np.abs(V))) + 1.0 if V.size else 1.0
        org = m + ddir * (1e-4 * scale)
        q = np.zeros((n, 3), np.float32)
        nq = np.zeros((n, 3), np.float32)
        qtri = np.zeros((n, 3), np.int32)
        hit = np.zeros(n, np.int32)
        if n:
            self.tracer.cast(np.ascontiguousarray(org, np.float32), np.ascontiguousarray(ddir, np.float32),
                             q, nq, qtri, hit)
        q, nq = q.astype(np.float64), nq.astype(np.float64)
        lq = cam.local(q)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = cam.screen(lq) - crop
        nd = np.einsum("ij,ij->i", nq, dvec)
        good &= (hit == 1) & (lq[:, 2] > cam.near) & (np.abs(nd) > 1e-12)
        # A shadow point at the edge itself (an object resting on the receiver, or grazing its
        # own surface) is no shadow boundary: what is visible there is the object's silhouette,
        # which the primary sampler counts.
        good &= np.linalg.norm(q - m, axis=1) > 2e-3 * scale
        good &= np.all((x >= self.film.lo) & (x <= self.film.hi), axis=1)
        idx = np.flatnonzero(good)
        lp, inf, q, nq, qtri, lq, x, dvec, nd = (a[idx] for a in (lp, inf, q, nq, qtri, lq, x, dvec, nd))
        ed = (vb - va)[idx]
        dq_dm, dq_dl = _shadow_point_jacobians(q, nq, lp, inf, dvec, nd)
        Jl = cam.jac_local(lq)
        Jw = Jl @ cam.Rinv                                     # d x / d q
        el = np.linalg.norm(ed, axis=1)
        tan = np.einsum("nij,nj->ni", Jw @ dq_dm, ed / np.maximum(el, 1e-30)[:, None])  # dx / dl
        tl = np.linalg.norm(tan, axis=1)
        ok = tl > 0
        ns = np.stack([-tan[:, 1], tan[:, 0]], 1) / np.where(ok, tl, 1.0)[:, None]
        sel = np.flatnonzero(ok)
        return dict(idx=idx[sel], x=x[sel], ns=ns[sel], tl=tl[sel], Jw=Jw[sel], Jl=Jl[sel], lq=lq[sel],
                    dq_dm=dq_dm[sel], dq_dl=dq_dl[sel], q=q[sel], qtri=qtri[sel], nq=nq[sel], dvec=dvec[sel])

    # --- secondary (first bounce) -----------------------------------------------------------

    def _area_light_spheres(self, V):
        g = self.r.geometry
        cs, rs = [], []
        off = [0]
        for sh in self.r.scene.shapes:
            off.append(off[-1] + np.asarray(sh.vertices).reshape(-1, 3).shape[0])
        for row in self.r.emitters.rows:
            if row["type"] == "area":
                pts = V[off[row["shape"]]:off[row["shape"] + 1]]
                if pts.size:
                    c = 0.5 * (pts.min(0) + pts.max(0))
                    cs.append(c)
                    rs.append(float(np.linalg.norm(pts - c, axis=1).max()) * 1.001)
        return (np.asarray(cs).reshape(-1, 3), np.asarray(rs)) if rs else (np.zeros((0, 3)), np.zeros(0))

    def _camera_samples(self, spp, seed, stream):
        """Film positions (crop-relative): ``spp`` uniform samples per pixel of the sampled
        region."""
        f = self.film
        x0, y0 = int(f.lo[0]), int(f.lo[1])
        nx, ny = int(f.hi[0] - f.lo[0]), int(f.hi[1] - f.lo[1])
        rng = np.random.default_rng([seed & 0xFFFFFFFF, stream])
        gy, gx = np.meshgrid(np.arange(ny) + y0, np.arange(nx) + x0, indexing="ij")
        base = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64)
        return np.repeat(base, spp, 0) + rng.random((base.shape[0] * spp, 2))

    def _guided_camera_samples(self, spp, seed, stream, xp, score):
        """``spp`` samples per film cell on average (crop-relative positions) from the cell
        probabilities 1/2 uniform + 1/2 proportional to ``score`` of the pilot samples ``xp``
        summed per cell and dilated by one cell; and their weights 1 / (cells x probability),
        so that weighted sums estimate what uniform samples do."""
        f = self.film
        x0, y0 = int(f.lo[0]), int(f.lo[1])
        nx, ny = int(f.hi[0] - f.lo[0]), int(f.hi[1] - f.lo[1])
        cells = nx * ny
        ix = np.clip(np.floor(xp[:, 0]).astype(np.int64) - x0, 0, nx - 1)
        iy = np.clip(np.floor(xp[:, 1]).astype(np.int64) - y0, 0, ny - 1)
        acc = np.zeros((ny, nx))
        np.add.at(acc, (iy, ix), np.where(np.isfinite(score), score, 0.0))
        pad = np.pad(acc, 1)
        dil = np.max([pad[1 + dy:1 + dy + ny, 1 + dx:1 + dx + nx]
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0).ravel()
        pmf = np.full(cells, 1.0 / cells)
        if dil.sum() > 0:
            pmf = 0.5 * pmf + 0.5 * dil / dil.sum()
        rng = np.random.default_rng([seed & 0xFFFFFFFF, stream])
        n = spp * cells
        cdf = np.cumsum(pmf)
        c = np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"), cells - 1)
        x = np.stack([c % nx + x0, c // nx + y0], 1).astype(np.float64) + rng.random((n, 2))
        return x, 1.0 / (cells * pmf[c])

    def _light_boundary_edges(self, V, e, fn, centers, radii):
        """Which of the edges ``e`` can be shadow boundaries of the area lights (bounding
        spheres ``centers``, ``radii``): boundary and non-manifold edges, edges of the emitting
        shapes themselves, and edges that are silhouettes seen from some point of a light's
        sphere. (Seen from a shading point p, an edge point m is a shadow boundary when the
        line from p through m reaches the light beyond m; the faces' signed distances to p and
        to that light point then have opposite signs, so the edge is a silhouette from both or
        from neither.)"""
        topo = self.topo
        inner = topo.f1[e] >= 0
        keep = (~inner) | topo.nonmanifold[e]
        emitting = np.zeros(len(self.r.scene.shapes) + 1, bool)
        for row in self.r.emitters.rows:
            if row["type"] == "area":
                emitting[row["shape"]] = True
        keep |= emitting[np.asarray(self.r.geometry._s)[topo.f0[e]]]
        n0, n1 = fn[topo.f0[e]], fn[np.maximum(topo.f1[e], 0)]
        v0 = V[topo.v[e, 0]]
        for c, r in zip(centers, radii):
            d0 = np.einsum("ij,ij->i", n0, v0 - c)  # signed distances from the centre (unit normals)
            d1 = np.einsum("ij,ij->i", n1, v0 - c)
            front = (d0 > r) & (d1 > r)              # both faces' planes beyond the sphere, ...
            back = (d0 < -r) & (d1 < -r)             # ... or both before it: never a silhouette
            keep |= ~(front | back)
        return keep

    def _moving_and_still_lights(self, e, moving, emitters):
        """For the candidate edges ``e``: which move (a vertex of theirs does: ``moving``, a
        vertex mask) and which are an area light's own edges that stay (``emitters``: the
        area emitters' vertex mask, or None)."""
        v0, v1 = self.topo.v[e, 0], self.topo.v[e, 1]
        moves = moving[v0] | moving[v1]
        still = np.zeros(e.size, bool)
        if emitters is not None:
            emitters = np.asarray(emitters, bool)
            still = ~moves & emitters[v0] & emitters[v1]
        return moves, still

    @staticmethod
    def _relatively_moving(moves, still, points_move, one_light):
        """Which candidate edges can move relative to a shading point. An edge moves when a
        vertex of it does (``moves``). When shading points move (``points_move``: a vertex
        moves, so a point on a moving triangle slides along the ray that reached it, or the
        camera moves), the edges that stay move relative to them too. With one area light and
        sides that see emitters only (``one_light``), the light's own edges that stay
        (``still``) are left out: the interior replay holds the light's point (area measure),
        so the side that sees the light has no share of p's motion, and the other side sees
        no emitter."""
        if not points_move:
            return moves
        return moves | ~still if one_light else np.ones(moves.size, bool)

    def secondary(self, V, spp, seed, integ, max_depth, bounce=0, moving=None, emitters=None,
                  cam=None, part="all"):
        """Silhouettes seen from path vertex ``bounce`` (0: the camera ray's hit). ``moving``:
        a mask of the vertices that move (the differentiated shapes'; None: all). ``emitters``:
        a mask of the area emitters' vertices (None: none). ``cam``: the camera model when the
        camera moves (the camera ray's hit slides on its surface), else None.

        ``part``: the radiance the two sides see, ``"all"``; ``"emitted"``: only the emission
        their rays find first (the sides traced to depth 1); ``"reflected"``: all but that. With
        area lights (no environment) and longer paths, ``"all"`` is estimated as the sum of the
        other two: the emitted part, the soft shadows, by the sampler of direct illumination
        (edges in the lights' cones, camera samples guided to penumbrae), the reflected part by
        the general one (*Soft shadows at longer paths* in docs/edge-sampling.md)."""
        if max_depth < 2 + bounce or spp <= 0:
            return None
        topo = self.topo
        fn = topo.face_normals(V)
        e = topo.candidates(V, fn)
        centers, radii = self._area_light_spheres(V)
        env = self.r.emitters.env >= 0
        n_area = sum(row["type"] == "area" for row in self.r.emitters.rows)
        if (part == "all" and SPLIT_EMITTED and not env and 0 < n_area <= MAX_GUIDE_LIGHTS
                and max_depth - 1 - bounce >= 2):
            kw = dict(bounce=bounce, moving=moving, emitters=emitters, cam=cam)
            return EdgeSamples.concat([
                self.secondary(V, spp, seed, integ, bounce + 2, part="emitted", **kw),
                self.secondary(V, spp, seed, integ, max_depth, part="reflected", **kw)])
        # The two sides see emitters only (depth 1 after the vertex) and every area light is
        # among the guiding spheres: only shadow boundaries of area lights contribute, and only
        # edges in a light's cone (exact, not a heuristic).
        direct_only = max_depth - 1 - bounce == 1 and not env and n_area <= MAX_GUIDE_LIGHTS
        still = None
        if moving is not None:
            mv = np.asarray(moving, bool)
            moves, still = self._moving_and_still_lights(e, mv, emitters)
            keep = self._relatively_moving(moves, still, mv.any() or cam is not None,
                                           direct_only and n_area == 1)
            e, still = e[keep], still[keep]
        if e.size == 0:
            return None
        n_guided = None
        if direct_only or e.size > EXHAUSTIVE_EDGES:
            rel = (self._light_boundary_edges(V, e, fn, centers, radii)
                   if n_area <= MAX_GUIDE_LIGHTS and not env else np.ones(e.size, bool))
            order = np.flatnonzero(rel) if direct_only else np.concatenate([np.flatnonzero(rel),
                                                                             np.flatnonzero(~rel)])
            e = e[order]
            if still is not None:
                still = still[order]
            n_rel = int(rel.sum())
            if e.size > EXHAUSTIVE_EDGES:
                n_guided = n_rel
        tree = None  # the guided edges' sorted codes when they are chosen through the tree
        n_tree = n_guided if n_guided is not None else e.size
        if n_tree > TREE_MIN_EDGES:
            # the guided edges by shape, then along a Morton curve: neighbours share leaves
            g = e[:n_tree]
            codes = morton_codes(0.5 * (V[topo.v[g, 0]] + V[topo.v[g, 1]]), topo.shape[g])
            perm = np.argsort(codes, kind="stable")
            tree = codes[perm]
            e = np.concatenate([g[perm], e[n_tree:]])
            if still is not None:
                still = np.concatenate([still[:n_tree][perm], still[n_tree:]])
        if e.size == 0:
            return None
        a_i, b_i = topo.v[e, 0], topo.v[e, 1]
        length = np.linalg.norm(V[b_i] - V[a_i], axis=1)
        total = float(length.sum())
        if not total > 0:
            return None
        inner = topo.f1[e] >= 0
        always = (~inner) | topo.nonmanifold[e]
        kind = np.where(always, 1, np.where(topo.smooth[e], 0, 2)).astype(np.int32)
        pick = length
        if still is not None:
            kind += STILL_LIGHT_EDGE * still.astype(np.int32)
            pick = length * np.where(still, STILL_LIGHT_LENGTH_SHARE, 1.0)  # as _edge_weight
        cull = None
        if direct_only and radii.size == 1:
            # An edge point m in the cone from p to the light's sphere (c, r) lies within r of
            # the line c p, between them: the angle at c between m - c and p - c is at most
            # asin(r / |m - c|); for the midpoint, r + half the length (1 % margin).
            mid = 0.5 * (V[a_i] + V[b_i]) - centers[0]
            dm = np.linalg.norm(mid, axis=1)
            reach = (radii[0] + 0.5 * length) * 1.01
            far = dm > 1.5 * reach
            sin_a = np.where(far, reach / np.where(far, dm, 1.0), 1.0)
            cull = np.zeros((e.size, 4))
            cull[:, :3] = mid / np.where(dm > 0, dm, 1.0)[:, None]
            cull[:, 3] = np.where(far, np.sqrt(np.maximum(0.0, 1.0 - sin_a ** 2)), -2.0)
        self.tracer.upload_edges(V[a_i], V[b_i], fn[topo.f0[e]], fn[np.maximum(topo.f1[e], 0)],
                                 kind, np.cumsum(pick) / pick.sum(), n_guided, direct_only, cull, tree)
        self.tracer.upload_lights(centers, radii, environment=env)
        crop = self._crop_full()

        def trace(x, salt):
            n = x.shape[0]
            keys = self._keys(seed, salt, n)
            out = dict(dC=np.zeros((n, 3), np.float32), eid=np.zeros(n, np.int32),
                       es=np.zeros(n, np.float32), nh=np.zeros((n, 3), np.float32),
                       ptri=np.zeros((n, 3), np.int32), pgeo=np.zeros((n, 3, 3), np.float32),
                       dCp=np.zeros((n, 3), np.float32), dCl=np.zeros((n, 2, 3), np.float32),
                       ltri=np.zeros((n, 2, 3), np.int32), lbc=np.zeros((n, 2, 2), np.float32),
                       **_chain_arrays(n, bounce))
            self.tracer.secondary(np.ascontiguousarray(x + crop, np.float32), keys, ANGLE_EPS,
                                  int(max_depth), int(integ.rr_depth), int(bounce),
                                  int(part == "reflected"), out["dC"],
                                  out["eid"], out["es"], out["nh"], out["ptri"], out["pgeo"], out["dCp"],
                                  out["chain"], out["ctri"], out["dCl"], out["ltri"], out["lbc"])
            return out
        weight = None
        if direct_only and PILOT_SHARE > 0:
            # Penumbrae are thin: a pilot (PILOT_SHARE of the samples) finds the film cells
            # whose samples see a shadow boundary; the samples are then drawn half from
            # those cells (by the number of pilot samples with a radiance difference, dilated
            # by a cell: not by its size, whose heavy tail would starve the other cells) and
            # half uniformly.
            xp = self._camera_samples(max(1, int(round(spp * PILOT_SHARE))), seed, 313 + 16 * bounce)
            pilot = trace(xp, 0x5EE0 + bounce)
            hit = (np.abs(pilot["dC"]).sum(1) > 0).astype(np.float64)
            x, weight = self._guided_camera_samples(spp, seed, 323 + 16 * bounce, xp, hit)
        else:
            x = self._camera_samples(spp, seed, 303 + 16 * bounce)
        res = trace(x, 0x5EC0 + bounce)
        dC, eid, es, nh, ptri, pgeo, dCp = (res[k] for k in ("dC", "eid", "es", "nh", "ptri", "pgeo", "dCp"))
        chain, ctri = res["chain"], res["ctri"]
        dCl = res["dCl"]
        if weight is not None:
            dC = dC * weight[:, None]
            dCp = dCp * weight[:, None]
            dCl = dCl * weight[:, None, None]
        sel = np.flatnonzero(eid >= 0)
        if sel.size == 0:
            return None
        ei = eid[sel]
        s = es[sel].astype(np.float64)
        nhat = nh[sel].astype(np.float64)
        xs, dCs = x[sel], dC[sel].astype(np.float64) / spp
        vcoef = np.stack([(1.0 - s)[:, None] * nhat, s[:, None] * nhat], 1)
        parts = [EdgeSamples(xs, dCs, np.stack([a_i[ei], b_i[ei]], 1), vcoef)]
        # The shading point p (vertex ``bounce``) is the hit of the ray that reached it on
        # its triangle: when that triangle moves, p slides along the ray (dp/dV_j = b_j d
        # n^T / (n.d), the previous vertex and the direction held, as the interior replay
        # holds them). In directions from p the boundary then moves by nh . (dm - dp): a
        # body's own shadows on itself move with it. But the replay holds an area light's
        # point y (next-event estimation in area measure), and there the boundary moves
        # by nh . (dm - (1 - |m - p| / |y - p|) dp): each side's share of p's motion is in
        # dCp (the kernel), so a side that sees such a light takes only part of it.
        dCps = dCp[sel].astype(np.float64) / spp
        parts += _moving_path_parts(xs, dCps, V, -nhat, pgeo[sel], ptri[sel], chain[sel], ctri[sel], bounce,
                                    cam, moving)
        # An area light that moves: the replay holds its next-event point y on it (area
        # measure), so on a side that sees it the boundary moves by -|m - p| / |y - p| of y's
        # motion, dy = sum_j b_j dV_j over y's triangle (an occluder's shadow boundary sweeps
        # the light's samples; the light's own edges then move by about nothing on that side).
        for side in range(2):
            parts += _moving_light_parts(xs, dCl[sel, side].astype(np.float64) / spp, -nhat,
                                         res["ltri"][sel, side], res["lbc"][sel, side], moving)
        return EdgeSamples.concat(parts)

    # --- point-light shadows seen through a bounce --------------------------------------------

    def indirect_point_shadows(self, V, lights, spp, seed, integ, max_depth, bounce=0, moving=None, cam=None):
        """Point-light shadow boundaries on the surfaces seen from path vertex ``bounce`` p
        (the light's visibility at vertex ``bounce + 1``): per camera sample, an edge that is a
        silhouette from a light (by length) and a point m uniformly on it; the ray light -> m
        hits the receiver at q; when p sees q, the incident radiance at p is path traced on
        both sides of the direction w = (q - p) / |q - p| across the boundary curve's image on
        p's sphere of directions. Velocity: that of w along the curve's normal, from the
        edge's vertices and the light through q, from the vertices of the receiver's triangle
        (locally flat: q slides along the shadow ray), and from the vertices of p's triangle
        (p slides along the ray that reached it)."""
        if not lights or spp <= 0 or max_depth < bounce + 3:
            return None
        found = self._light_silhouettes(V, lights)
        if found is None:
            return None
        lid, e, lpos, inf, a_i, b_i, length = found
        scale = float(np.max(np.abs(V))) + 1.0 if V.size else 1.0

        def shadow_rays(k, s):
            m = V[a_i[k]] + s[:, None] * (V[b_i[k]] - V[a_i[k]])
            dvec = _shadow_ray(m, lpos[k], inf[k])
            dn = np.linalg.norm(dvec, axis=1)
            ddir = dvec / np.where(dn > 0, dn, 1.0)[:, None]
            return m, dvec, dn, ddir, m + ddir * (1e-4 * scale)
        # Pilot: the shadow curve of each edge at SHADOW_PILOT + 1 points (a shadow at the
        # edge itself, contact or grazing, is none); edges are chosen from 90% its length +
        # 10% the edge's length, the point on it from half pilot segments by their shadow
        # length, half uniformly (every edge point keeps a positive density).
        K = SHADOW_PILOT
        kp = np.repeat(np.arange(e.size), K + 1)
        sp = np.tile(np.arange(K + 1) / K, e.size)
        m, _, _, ddir, org = shadow_rays(kp, sp)
        Q = np.zeros((kp.size, 3), np.float32)
        NQ = np.zeros((kp.size, 3), np.float32)
        hp = np.zeros(kp.size, np.int32)
        self.tracer.cast(np.ascontiguousarray(org, np.float32), np.ascontiguousarray(ddir, np.float32), Q, NQ,
                         np.zeros((kp.size, 3), np.int32), hp)
        Q = Q.astype(np.float64).reshape(e.size, K + 1, 3)
        okp = ((hp == 1) & (np.linalg.norm(Q.reshape(-1, 3) - m, axis=1) > 2e-3 * scale)).reshape(e.size, K + 1)
        seg = np.linalg.norm(Q[:, 1:] - Q[:, :-1], axis=2) * (okp[:, 1:] & okp[:, :-1])
        est = seg.sum(1)
        prob = 0.1 * length / length.sum()
        prob = prob + 0.9 * est / est.sum() if est.sum() > 0 else length / length.sum()
        x = self._camera_samples(spp, seed, 404 + 16 * bounce)
        n = x.shape[0]
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 405 + 16 * bounce])
        cdf = np.cumsum(prob)
        k = np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"), e.size - 1)
        segk = seg[k]
        estk = est[k]
        guided = (rng.random(n) < 0.5) & (estk > 0)
        scdf = np.cumsum(segk, axis=1) / np.where(estk > 0, estk, 1.0)[:, None]
        j = np.minimum((scdf < rng.random(n)[:, None]).sum(1), K - 1)
        s = np.where(guided, (j + rng.random(n)) / K, rng.random(n))
        js = np.minimum((s * K).astype(np.int64), K - 1)
        pdf_s = np.where(estk > 0, 0.5 + 0.5 * K * segk[np.arange(n), js] / np.where(estk > 0, estk, 1.0), 1.0)
        m, dvec, dn, ddir, org = shadow_rays(k, s)
        lp, linf = lpos[k], inf[k]
        keys = self._keys(seed, 0x5B00 + bounce, n)
        crop = self._crop_full()
        xf = np.ascontiguousarray(x + crop, np.float32)
        q, nq, pp, pd, pn = (np.zeros((n, 3), np.float32) for _ in range(5))
        ptri, qtri = np.zeros((n, 3), np.int32), np.zeros((n, 3), np.int32)
        hit = np.zeros(n, np.int32)
        ch = _chain_arrays(n, bounce)
        self.tracer.shadow_walk(xf, keys, int(bounce), np.ascontiguousarray(org, np.float32),
                                np.ascontiguousarray(ddir, np.float32), q, nq, qtri, pp, pd, pn, ptri, hit,
                                ch["chain"], ch["ctri"])
        chain, ctri = ch["chain"], ch["ctri"]
        q, nq, pp, pd, pn = (a.astype(np.float64) for a in (q, nq, pp, pd, pn))
        nd = np.einsum("ij,ij->i", nq, dvec)
        # a shadow point at the edge itself (contact, grazing) is no shadow boundary
        good = (hit == 1) & (dn > 0) & (np.abs(nd) > 1e-12) & (np.linalg.norm(q - m, axis=1) > 2e-3 * scale)
        idx = np.flatnonzero(good)
        if idx.size == 0:
            return None
        k, s, pdf_s, m, lp, linf, q, nq, qtri, pp, pd, pn, ptri, dvec, nd, chain, ctri = (
            a[idx] for a in (k, s, pdf_s, m, lp, linf, q, nq, qtri, pp, pd, pn, ptri, dvec, nd, chain, ctri))
        xf = xf[idx]
        keys = keys[idx]
        dq_dm, dq_dl = _shadow_point_jacobians(q, nq, lp, linf, dvec, nd)
        tq = np.einsum("nij,nj->ni", dq_dm, V[b_i[k]] - V[a_i[k]])   # d q / d s
        u = q - pp
        dist = np.linalg.norm(u, axis=1)
        w = u / np.maximum(dist, 1e-30)[:, None]
        dw = (tq - w * np.einsum("ij,ij->i", w, tq)[:, None]) / np.maximum(dist, 1e-30)[:, None]  # d w / d s
        dl = np.linalg.norm(dw, axis=1)
        nh = np.cross(w, dw)
        nl = np.linalg.norm(nh, axis=1)
        ok = (dist > 0) & (dl > 0) & (nl > 0)
        sel = np.flatnonzero(ok)
        if sel.size == 0:
            return None
        k, s, pdf_s, q, nq, qtri, pp, pd, pn, ptri, dq_dm, dq_dl, w, dl, nh, nl, dist, xf, keys, dvec, chain, ctri = (
            a[sel] for a in (k, s, pdf_s, q, nq, qtri, pp, pd, pn, ptri, dq_dm, dq_dl, w, dl, nh, nl, dist, xf,
                             keys, dvec, chain, ctri))
        nh = nh / nl[:, None]
        L = np.zeros((sel.size, 2, 3), np.float32)
        self.tracer.shadow_pairs(xf, keys, int(bounce), np.ascontiguousarray(w, np.float32),
                                 np.ascontiguousarray(nh, np.float32), np.ascontiguousarray(q, np.float32),
                                 ANGLE_EPS, int(max_depth),
                                 int(integ.rr_depth), L)
        L = L.astype(np.float64)
        dC = (L[:, 0] - L[:, 1]) * (dl / (prob[k] / prob.sum() * pdf_s * spp))[:, None]
        cm = np.einsum("nj,nji->ni", nh, dq_dm) / dist[:, None]
        cl = np.einsum("nj,nji->ni", nh, dq_dl) / dist[:, None]
        xs = xf.astype(np.float64) - crop
        parts = [EdgeSamples(xs, dC, np.stack([a_i[k], b_i[k]], 1),
                             np.stack([(1.0 - s)[:, None] * cm, s[:, None] * cm], 1),
                             light=lid[k], lcoef=cl)]
        # p = the hit of the ray that reached it, on its (moving) triangle, the previous vertex
        # and the direction held (as the interior replay holds them): w moves by -dp / dist
        # across the boundary; the receiver's q slides along the light's ray: w moves by
        # dq / dist.
        nhd = nh / dist[:, None]
        parts += _moving_path_parts(xs, dC, V, -nhd, np.stack([pp, pd, pn], 1), ptri, chain, ctri, bounce,
                                    cam, moving)
        parts += _moving_surface_parts(xs, dC, V, q, qtri, nhd, dvec, nq)
        return EdgeSamples.concat(parts)


def _shadow_ray(m, lp, inf):
    """Direction (not normalised) of the shadow rays through edge points m (N, 3) from lights
    lp (N, 3): m - lp from a light's position; a light at infinity (``inf``): lp, its direction
    of travel (parallel rays)."""
    return np.where(np.asarray(inf, bool)[:, None], lp, m - lp)


def _shadow_point_jacobians(q, nq, lp, inf, dvec, nd):
    """d q / d m and d q / d light position of the shadow points q (receiver plane through q,
    normal nq, fixed) of the edge points m along the shadow rays dvec (nd = nq . dvec).

    From a light at position l: q = l + t (m - l), t = nq.(q - l) / nd, so
    d q / d m = t P and d q / d l = (1 - t) P with P = I - dvec nq^T / nd. From a light at
    infinity (fixed direction d): q = m + u d with u = nq.(q - m) / nd, d q / d m = P (the
    limit t -> 1), d q / d l = 0."""
    t = np.where(inf, 1.0, np.einsum("ij,ij->i", nq, q - lp) / nd)
    P = np.eye(3)[None] - dvec[:, :, None] * nq[:, None, :] / nd[:, None, None]  # I - d n^T / (n.d)
    return t[:, None, None] * P, (1.0 - t)[:, None, None] * P


def _moving_surface_parts(xs, dC, V, pts, tri, cov, d, n, moving=None):
    """The velocity terms of a point ``pts`` (N, 3), the hit of a ray of fixed direction ``d``
    on its triangle ``tri`` (N, 3 vertex indices, geometric normal ``n``): when the triangle
    moves, the point slides along the ray, dp / dV_j = b_j d n^T / (n . d) (b its barycentric
    coordinates), and a velocity v = cov . dp (``cov`` (N, 3)) gets d v / d V_j = b_j (cov . d)
    / (n . d) n. As two EdgeSamples (vertices 0 and 1; vertex 2). ``moving``: a mask of the
    vertices that move (None: all); rows whose triangle has none are left out."""
    if moving is not None:
        keep = np.flatnonzero(np.asarray(moving, bool)[tri].any(axis=1))
        if keep.size < len(tri):
            xs, dC, pts, tri, cov, d, n = (a[keep] for a in (xs, dC, pts, tri, cov, d, n))
    nd = np.einsum("ij,ij->i", n, d)
    ok = np.abs(nd) > 1e-12
    coef = np.where(ok, np.einsum("ij,ij->i", cov, d) / np.where(ok, nd, 1.0), 0.0)[:, None] * n
    bc = _barycentrics(pts, V[tri[:, 0]], V[tri[:, 1]], V[tri[:, 2]])
    return _triangle_rows(xs, dC, tri, [bc[:, j, None] * coef for j in range(3)])


def _triangle_rows(xs, dC, tri, cj):
    """Velocity coefficients ``cj`` (three (N, 3) arrays) on the vertices of triangles ``tri``
    (N, 3) as two EdgeSamples (vertices 0 and 1; vertex 2)."""
    return [EdgeSamples(xs, dC, tri[:, :2].astype(np.int64), np.stack([cj[0], cj[1]], 1)),
            EdgeSamples(xs, dC, np.stack([tri[:, 2], tri[:, 2]], 1).astype(np.int64),
                        np.stack([cj[2], np.zeros_like(cj[2])], 1))]


def _moving_light_parts(xs, dC, cov, tri, bc, moving=None):
    """The velocity terms of a point y = sum_j b_j V_j held on its (moving) triangle ``tri``
    (N, 3 vertex indices, -1: no point; ``bc`` (N, 2): b_1, b_2) in a velocity v = cov . dy:
    d v / d V_j = b_j cov (:func:`_triangle_rows`). ``moving``: a mask of the vertices that
    move (None: all); rows whose triangle has none are left out."""
    keep = tri[:, 0] >= 0
    if moving is not None:
        keep &= np.asarray(moving, bool)[np.maximum(tri, 0)].any(axis=1)
    keep = np.flatnonzero(keep)
    if keep.size == 0:
        return []
    xs, dC, cov, tri, bc = (a[keep] for a in (xs, dC, cov, tri, bc))
    b = bc.astype(np.float64)
    return _triangle_rows(xs, dC, tri, [(1.0 - b[:, 0] - b[:, 1])[:, None] * cov, b[:, 0, None] * cov,
                                        b[:, 1, None] * cov])


def _chain_arrays(n, bounce):
    """The kernels' records of the path vertices before vertex ``bounce`` (:meth:`_walk`)."""
    k = max(1, int(bounce))
    return dict(chain=np.zeros((n, k, 3, 3), np.float32), ctri=np.zeros((n, k, 3), np.int32))


def _slide_transpose(cov, d, n):
    """A^T cov for A = I - d n^T / (n . d), the motion of a ray's hit on a triangle (normal n)
    when the ray's origin moves, its direction d held: (N, 3) rows."""
    nd = np.einsum("ij,ij->i", n, d)
    ok = np.abs(nd) > 1e-12
    a = cov - np.where(ok, np.einsum("ij,ij->i", cov, d) / np.where(ok, nd, 1.0), 0.0)[:, None] * n
    return np.where(ok[:, None], a, 0.0)


def _moving_path_parts(xs, dC, V, cov, geo, tri, chain, ctri, bounce, cam, moving=None):
    """The velocity terms of path vertex k (``geo`` (N, 3, 3): its point, the direction of the
    ray that reached it, its geometric normal; ``tri`` its triangle) in a velocity v = cov . dp_k,
    as the interior replay moves it: every vertex p_j (j <= k; the earlier ones in ``chain`` /
    ``ctri``, from :meth:`EdgeTracer._walk`) is the hit of a ray of fixed direction from the
    (moving) vertex before it, on its (moving) triangle. So dp_j = A_j dp_(j-1) + (its own
    triangle's motion) with A_j = I - d_j n_j^T / (n_j . d_j), and dp_0 = A_0 u for the
    camera's motion u of the camera-space point at p_0. Walking back from k, each vertex's
    triangle and (with ``cam``) the camera get cov_j = A_(j+1)^T ... A_k^T cov. ``moving``: a
    mask of the vertices that move (None: all); a vertex on a triangle of still vertices has no
    part of its own."""
    geo = geo.astype(np.float64)
    ch = chain.astype(np.float64)
    verts = [(ch[:, j, 0], ch[:, j, 1], ch[:, j, 2], ctri[:, j]) for j in range(int(bounce))]
    verts.append((geo[:, 0], geo[:, 1], geo[:, 2], tri))
    parts = []
    c = cov
    for j in range(len(verts) - 1, -1, -1):
        p, d, n, t = verts[j]
        parts += _moving_surface_parts(xs, dC, V, p, t, c, d, n, moving)
        if j > 0:
            c = _slide_transpose(c, d, n)
    if cam is not None:
        p, d, n, _ = verts[0]
        parts.append(_camera_moved_point_part(xs, dC, cam, p, c, d, n))
    return parts


def _camera_moved_point_part(xs, dC, cam, pts, cov, d, n):
    """The camera's term of a point ``pts`` (N, 3), the hit of the camera ray (direction ``d``)
    through the film position ``xs`` on a triangle of geometric normal ``n``, in a velocity
    v = cov . dp. When the camera moves (film position and lens sample held), the point at
    camera-space coordinates l moves by u = do + dR l, and the hit slides on its triangle:
    dp = (I - d n^T / (n . d)) u (a motion along the ray moves it not at all). With
    dl = -Rinv u (``contraction``), d v / d l = -R^T (cov - n (cov . d) / (n . d)). The
    intrinsics move the ray through the held film position (:func:`_intrinsics_slide`)."""
    g = _slide_transpose(cov, d, n) @ cam.R  # d v / d (camera-space motion of the point at l)
    k = xs.shape[0]
    l = cam.local(pts)
    return EdgeSamples(xs, dC, np.zeros((k, 2), np.int64), np.zeros((k, 2, 3)),
                       cam_l=l, cam_cl=-g, cam_cK=_intrinsics_slide(cam, l, g))


def _intrinsics_slide(cam, l, g):
    """d v / d K (N, 9) of a point at camera-space l on the ray through a fixed film position,
    for v = g . (its camera-space motion). The film position x = f xd + c is held, with
    (xd, yd) = D(xn, yn; k) the distorted normalised position of the point's xn = -l_x / l_z
    (-l_x under a parallel projection): d(xn, yn) = J^-1 (d(xd, yd) - dD/dk dk), J = dD /
    d(xn, yn), and at the same depth the point moves by -z d(xn, yn) in x, y (z = l_z, or
    1)."""
    n = l.shape[0]
    fx, fy = cam.K[0], cam.K[1]
    if cam.ortho:
        z = np.ones(n)
        xn, yn = -l[:, 0], -l[:, 1]
    else:
        z = l[:, 2]
        safe = np.where(np.abs(z) > 1e-30, z, 1.0)
        xn, yn = -l[:, 0] / safe, -l[:, 1] / safe
    h = -z[:, None] * g[:, :2]  # d v / d (xn, yn)
    w = h
    if cam.distorted:
        j00, j01, j10, j11 = distortion_jacobian(xn, yn, cam.K)
        det = j00 * j11 - j01 * j10
        det = np.where(np.abs(det) > 1e-30, det, 1.0)
        # w = J^-T h: d v / d (xd, yd)
        w = np.stack([(j11 * h[:, 0] - j10 * h[:, 1]) / det, (-j01 * h[:, 0] + j00 * h[:, 1]) / det], 1)
    # the film position is held: d(xd, yd) = -diag(1/f) (d screen / d K) dK
    ls = l if cam.ortho else np.concatenate([l[:, :2], safe[:, None]], 1)
    out = -np.einsum("ni,nik->nk", w / np.array([fx, fy]), cam.jac_K(ls))
    if not cam.distorted:
        out[:, 4:] = 0.0
    return out


def _barycentrics(p, a, b, c):
    """Barycentric coordinates (N, 3) of points p in triangles (a, b, c) (least squares in the
    triangle's plane)."""
    e1, e2, r = b - a, c - a, p - a
    d11 = np.einsum("ij,ij->i", e1, e1)
    d12 = np.einsum("ij,ij->i", e1, e2)
    d22 = np.einsum("ij,ij->i", e2, e2)
    r1 = np.einsum("ij,ij->i", r, e1)
    r2 = np.einsum("ij,ij->i", r, e2)
    det = d11 * d22 - d12 * d12
    det = np.where(np.abs(det) > 0, det, 1.0)
    b1 = (d22 * r1 - d12 * r2) / det
    b2 = (d11 * r2 - d12 * r1) / det
    return np.stack([1.0 - b1 - b2, b1, b2], 1)
