"""Integrators: Mitsuba's ``path`` (NEE + BSDF sampling, power-heuristic MIS, Russian roulette)
and ``direct``, as a megakernel (one thread per camera sample, bounce loop inside).

Path tracer, per camera ray (Mitsuba 3 ``path.cpp`` semantics):

- ``max_depth``: the longest path has ``max_depth`` segments; 1 = only directly visible
  emitters, 2 = direct illumination, -1 = unbounded. 0 renders black.
- At every vertex with a smooth BSDF: one emitter sample (uniform emitter choice, uniform point
  by area, shadow ray) weighted ``w = p_em^2 / (p_em^2 + p_bsdf^2)`` (1 for point lights), and
  one BSDF sample whose ray, if it hits an emitter, adds ``L_e`` with the complementary weight.
- Russian roulette after ``rr_depth`` bounces (``depth >= rr_depth``, depth counting surface
  interactions): continue with probability ``q = min(max(throughput), 0.95)``, divide by q.
- ``hide_emitters``: emission seen directly by the camera ray is dropped (Mitsuba >= 3.6).

The bounce loop itself is ``path.trace_path`` (shared with the gradient replays); the random
dimensions of a sample are laid out in ``rng.py``.

AOVs (first camera hit, filtered like the colour): depth (distance from the near plane),
shading normal (world space), albedo (diffuse reflectance), alpha (1 if something was hit).
"""

import math

from ..engine import ti
from .film import N_AOV, camera_sample, finite_or_black
from .media import DIM_SHADOW, MAX_CROSSINGS, stream
from .path import NullRecorder, first_hit_aovs, trace_path
from .rng import direct_bsdf_dim, direct_emitter_dim, rand, rand2
from .types import SHADOW_EPSILON, vec3
from .warp import coordinate_system, mis_power, offset_origin, to_local, to_world

INT_MAX = 2 ** 31 - 1
#: an emitter sample at least this far is a light at infinity (``emitters.FAR`` is 3e38)
FAR_LIGHT = 1.0e38


@ti.data_oriented
class Integrator:
    """Holds the scene components; kernels render one pass into a Film's sample buffers."""

    def __init__(self, geometry, bsdfs, emitters, camera, media):
        self.geometry = geometry
        self.bsdfs = bsdfs
        self.emitters = emitters
        self.camera = camera
        self.media = media  # a MediumTable; ``media.enabled`` False compiles every medium out
        self.null_recorder = NullRecorder()

    # --- shared pieces -------------------------------------------------------------------

    @ti.func
    def visible(self, p, ng, target):
        """Shadow ray from surface point p (geometric normal ng) to ``target``."""
        d0 = target - p
        o = offset_origin(p, ng, d0)
        v = target - o
        dist = v.norm()
        res = False
        if dist > 0.0:
            res = not self.geometry.occluded(o, v * (1.0 / dist), dist * (1.0 - SHADOW_EPSILON))
        return res

    @ti.func
    def visible_em(self, p, ng, em):
        """Shadow ray towards an emitter sample (lights at infinity: along em.d)."""
        res = False
        if ti.static(not self.emitters.has_infinite):
            res = self.visible(p, ng, em.p)
        else:
            if em.dist < 1.0e38:
                res = self.visible(p, ng, em.p)
            else:  # at infinity (emitters.FAR)
                o = offset_origin(p, ng, em.d)
                res = not self.geometry.occluded(o, em.d, 3.0e38)
        return res

    @ti.func
    def _shadow_transmittance(self, o, d, target, finite, medium, key, k):
        """Transmittance of the shadow ray from ``o`` along ``d`` to ``target`` (``finite``
        False: to infinity) starting in ``medium``, through null surfaces (their
        ``null_transmission``) and homogeneous media (``exp(-sigma_t d)``); 0 where a surface
        that is not null blocks it."""
        tr = ti.Vector([1.0, 1.0, 1.0])
        cur = medium
        ro = o
        go = True
        n = 0
        seed = stream(key, DIM_SHADOW + k * MAX_CROSSINGS)
        while go:
            remaining = ti.math.inf
            if finite:
                remaining = (target - ro).norm() * (1.0 - SHADOW_EPSILON)
            hit = self.geometry.intersect(ro, d, remaining)
            if hit.tri < 0:
                if cur >= 0:
                    tr *= self.media.transmittance(cur, ro, d, remaining, seed + ti.u32(n))
                go = False
            else:
                si = self.geometry.surface(hit, ro, d)
                if cur >= 0:
                    tr *= self.media.transmittance(cur, ro, d, si.t, seed + ti.u32(n))
                s, t = coordinate_system(si.ns)
                wi = to_local(s, t, si.ns, -d)
                tr *= self.bsdfs.null_transmission(si.bsdf,
                                                   self.bsdfs.textures.point(self.geometry, si), wi)
                cur = self.media.target(si.shape, si.ng, d, cur)
                ro = offset_origin(si.p, si.ng, d)
                n += 1
                if n >= MAX_CROSSINGS:  # given up: no light
                    tr = ti.Vector([0.0, 0.0, 0.0])
                if tr.max() <= 0.0:
                    go = False
        return tr

    @ti.func
    def transmittance(self, p, em, medium, key, k):
        """Transmittance from the medium point ``p`` (in ``medium``) to the emitter sample (path
        event ``k`` of the sample ``key``: the random streams of ratio tracking)."""
        return self._shadow_transmittance(p, em.d, em.p, em.dist < FAR_LIGHT, medium, key, k)

    @ti.func
    def transmittance_from(self, si, em, medium, key, k):
        """Transmittance from the surface point ``si`` (the path arrived in ``medium``) to the
        emitter sample: the ray leaves into the medium on em.d's side of the surface."""
        start = self.media.target(si.shape, si.ng, em.d, medium)
        o = offset_origin(si.p, si.ng, em.d)
        return self._shadow_transmittance(o, em.d, em.p, em.dist < FAR_LIGHT, start, key, k)

    @ti.func
    def emitter_contribution(self, si, s, t, wi, g, u2):
        """One emitter sample at si: (f * L_e / pdf, pdf of the emitter sample, bsdf pdf,
        delta) — already visibility-tested; the caller applies MIS."""
        em = self.emitters.sample_direction(si.p, u2)
        contrib = ti.Vector([0.0, 0.0, 0.0])
        bpdf = 0.0
        if em.pdf > 0.0:
            wo = to_local(s, t, si.ns, em.d)
            f, bp = self.bsdfs.eval_pdf(si.bsdf, self.bsdfs.textures.point(self.geometry, si),
                                        wi, wo, g)
            bpdf = bp
            if f.max() > 0.0 and em.weight.max() > 0.0:
                if self.visible_em(si.p, si.ng, em):
                    contrib = f * em.weight
        return contrib, em.pdf, bpdf, em.delta

    # --- path ----------------------------------------------------------------------------

    @ti.func
    def path(self, o, d, tmax, key, max_depth, rr_depth, hide_emitters, with_aovs: ti.template()):
        """The ``path`` estimator along one camera ray (the bounce loop of ``path.py``, with
        the recorder that records nothing)."""
        return trace_path(self, o, d, tmax, key, max_depth, rr_depth, hide_emitters, with_aovs,
                          self.null_recorder, 0)

    # --- direct --------------------------------------------------------------------------

    @ti.func
    def direct(self, o, d, tmax, key, n_em, n_bsdf, hide_emitters, with_aovs: ti.template()):
        """Mitsuba's ``direct``: ``n_em`` emitter and ``n_bsdf`` BSDF samples combined by the
        power heuristic over the sample counts (multi-sample MIS)."""
        result = ti.Vector([0.0, 0.0, 0.0])
        hit = self.geometry.intersect(o, d, tmax)
        si = self.geometry.surface(hit, o, d)
        tp = self.bsdfs.textures.point(self.geometry, si)
        aovs = ti.Vector([0.0] * N_AOV)
        if ti.static(with_aovs):
            aovs = first_hit_aovs(self.bsdfs, si, tp)
        if ti.static(self.emitters.env >= 0):
            if not si.valid and not hide_emitters:
                le, _uv = self.emitters.env_eval(d)
                result += le
        if si.valid:
            if si.emitter >= 0 and not hide_emitters:
                result += self.emitters.eval_hit(si.emitter, si, -d)
            total = ti.cast(n_em + n_bsdf, ti.f32)
            frac_em = ti.cast(n_em, ti.f32) / total
            frac_bsdf = ti.cast(n_bsdf, ti.f32) / total
            s, t = coordinate_system(si.ns)
            wi = to_local(s, t, si.ns, -d)
            g = self.bsdfs.local_geo(si.dp_du, si.dp_dv, si.ng, s, t, si.ns)
            for i in range(n_em):
                c, em_pdf, bpdf, delta = self.emitter_contribution(si, s, t, wi, g,
                                                                   rand2(key, direct_emitter_dim(i)))
                if c.max() > 0.0:
                    w = 1.0 / n_em
                    if delta == 0:
                        w = mis_power(em_pdf * frac_em, bpdf * frac_bsdf) / n_em
                    result += c * w
            for j in range(n_bsdf):
                base = direct_bsdf_dim(j, n_em)
                bs = self.bsdfs.sample(si.bsdf, tp, wi, rand(key, base), rand2(key, base + 1), g)
                if bs.pdf > 0.0 and bs.weight.max() > 0.0:
                    wo = to_world(s, t, si.ns, bs.wo)
                    ro = offset_origin(si.p, si.ng, wo)
                    h2 = self.geometry.intersect(ro, wo, ti.math.inf)
                    s2 = self.geometry.surface(h2, ro, wo)
                    if s2.valid and s2.emitter >= 0:
                        le = self.emitters.eval_hit(s2.emitter, s2, -wo)
                        em_pdf = 0.0
                        if bs.delta == 0:
                            em_pdf = self.emitters.pdf_direction(s2.emitter, si.p, s2)
                        w = mis_power(bs.pdf * frac_bsdf, em_pdf * frac_em) / n_bsdf
                        result += bs.weight * le * w
                    if ti.static(self.emitters.env >= 0):
                        if not s2.valid:
                            le, _uv = self.emitters.env_eval(wo)
                            em_pdf = 0.0
                            if bs.delta == 0:
                                em_pdf = self.emitters.env_pdf(wo)
                            w = mis_power(bs.pdf * frac_bsdf, em_pdf * frac_em) / n_bsdf
                            result += bs.weight * le * w
        return result, aovs

    # --- kernel --------------------------------------------------------------------------

    @ti.kernel
    def sample_pass(self, film: ti.template(), n: ti.i32, first_sample: ti.i32, seed: ti.u32,
                    kind: ti.template(), with_aovs: ti.template(), max_depth: ti.i32,
                    rr_depth: ti.i32, hide_emitters: ti.i32, n_em: ti.i32, n_bsdf: ti.i32,
                    crop_x: ti.i32, crop_y: ti.i32, film_w: ti.i32):
        """Trace ``n`` samples per pixel (sample indices first_sample ...) into film's buffers."""
        b = ti.static(film.border)
        for s, gy, gx in ti.ndrange(n, film.dims[3], film.dims[2]):  # the film's actual size
            key, pos, fpos = camera_sample(s, gy, gx, first_sample, seed, b, crop_x, crop_y, film_w)
            o, d, tmax = self.camera.sample_ray(fpos, key)
            L = ti.Vector([0.0, 0.0, 0.0])
            aovs = ti.Vector([0.0] * N_AOV)
            if ti.static(kind == "path"):
                L, aovs = self.path(o, d, tmax, key, max_depth, rr_depth, hide_emitters, with_aovs)
            else:
                L, aovs = self.direct(o, d, tmax, key, n_em, n_bsdf, hide_emitters, with_aovs)
            film.store(s, gy, gx, pos, finite_or_black(L))
            if ti.static(with_aovs):
                film.aov[s, gy, gx] = aovs


def depth_limit(max_depth: int) -> int:
    return INT_MAX if max_depth < 0 else int(max_depth)


__all__ = ["Integrator", "depth_limit", "math", "vec3"]
