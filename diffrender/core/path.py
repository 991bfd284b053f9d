"""The bounce loop of Mitsuba's ``path`` integrator, written once.

The forward integrator (``integrators.Integrator.path``), the material replay
(``ad/replay.py``) and the geometry replay (``ad/geometry.py``) all run :func:`trace_path`, so
a replay follows the forward render's paths by construction: same random dimensions
(``rng.py``), same decisions (MIS, Russian roulette), same stopping rule.

What differs is the *recorder*, a compile-time (``ti.template()``) object whose hooks the loop
calls at each event of a path. ``RECORDS = False`` (:class:`NullRecorder`, the forward render):
every hook call sits under ``ti.static(rec.RECORDS)`` and compiles away. A recording class
sets ``RECORDS = True`` and implements every hook as a ``ti.func``; ``i`` is the sample's index
in the recorder's buffers and ``k`` the path vertex (0 = the camera ray's hit), which can exceed
the recorder's depth for unbounded paths (the recorder ignores those):

- ``vertex(i, k, hit, si, ray_d)``: the ray of segment k found ``hit`` / ``si``;
- ``emission(i, k, si, ray_d, w)``: it hit an emitter; ``w`` is the MIS weight of that emission;
- ``environment(i, k, w, tuv)``: it left the scene and sees the environment (MIS weight ``w``,
  texture coordinates ``tuv``);
- ``surface(i, k, si, wi, g)``: the path goes on from this vertex (local incident direction,
  local differential geometry);
- ``light(i, k, em, wo, w)``: the visible emitter sample ``em`` (``wo`` local, MIS weight
  ``w``) contributed;
- ``scatter(i, k, bs, wo)``: the BSDF sample ``bs`` (``wo`` its world direction);
- ``roulette(i, k, bs, inv_q, alive)``: the path's continuation factor after vertex k.

A recorder with ``FIRST_HIT = True`` also decides the hit of the first ray:
``first_hit(i, hit, o, d, tmax)`` returns the hit to use instead of the traced ``hit``, and
``first_surface(i, si, d)`` the surface interaction to shade there (the primary edge sampler's
sides: ``ad/samplers.EdgeSideHit``).

A recorder also sets ``NEEDS_RADIANCE``: whether it (or the caller) uses the path's radiance.
When it is False (the gradient replays, which recompute the contributions themselves), the loop
compiles without every computation whose only use is the radiance sum (emitted radiance, the
contributions of light samples and environment, the sum itself; the returned radiance is then
black), and without the MIS weight of an emitter hit that the recorder does not record: it asks
``rec.emits(k, si, ray_d)`` (a ``ti.func``: does the recorder record this hit?) before computing
it. It also stops after the recorder's last vertex (``rec.depth``; the vertices beyond it are
ignored anyway). The decisions of the path (visibility of light samples, BSDF samples, roulette)
are the same either way, so the records are too (``tests/core/test_path_replay.py``).

Russian roulette (``rng.roulette``): a path that survives is divided by its survival
probability; the replays record ``1 / q`` as a constant of the estimator.
"""

from ..engine import ti
from .emitters import TYPES as EMITTER_TYPES
from .film import N_AOV
from .media import MAX_CROSSINGS
from .rng import rand_direction, rand_emitter, rand_lobe, roulette, roulette_dim
from .warp import coordinate_system, mis_power, offset_origin, to_local, to_world

#: Emitter type codes the loop and the replays test (the table's codes, by name).
EMITTER_AREA = EMITTER_TYPES["area"]
EMITTER_POINT = EMITTER_TYPES["point"]
#: ``BSDFSample.delta`` of a smooth lobe (a delta lobe is its 1-based index).
SMOOTH_LOBE = 0


@ti.data_oriented
class NullRecorder:
    """The forward render's recorder: records nothing, its hooks are never compiled."""

    RECORDS = False
    NEEDS_RADIANCE = True


@ti.func
def first_hit_aovs(bsdfs: ti.template(), si, tp):
    """The AOVs of the first hit ``si`` (``tp``: its texture point)."""
    a = ti.Vector([0.0] * N_AOV)
    if si.valid:
        alb = bsdfs.albedo(si.bsdf, tp)
        a = ti.Vector([si.t, si.ns.x, si.ns.y, si.ns.z, alb.x, alb.y, alb.z, 1.0])
    return a


@ti.func
def emission_mis(integ: ti.template(), si, prev_p, prev_pdf, prev_delta):
    """MIS weight of the emitter hit ``si`` found by the previous BSDF sample (or the camera
    ray: ``prev_delta`` 1)."""
    em_pdf = 0.0
    if prev_delta == 0:
        em_pdf = integ.emitters.pdf_direction(si.emitter, prev_p, si)
    return mis_power(prev_pdf, em_pdf)


@ti.func
def trace_path(integ: ti.template(), o, d, tmax, key, max_depth, rr_depth, hide_emitters,
               with_aovs: ti.template(), rec: ti.template(), i):
    """Radiance along the camera ray (o, d, tmax) of the sample ``key`` (and its AOVs when
    ``with_aovs``), calling ``rec``'s hooks for sample ``i``. See ``integrators.py`` for the
    estimator (Mitsuba 3 ``path.cpp`` semantics) and ``media.py`` for what changes when the
    scene has participating media (``integ.media.enabled``, a compile-time flag: Mitsuba's
    ``volpath``; the replays never run with it)."""
    result = ti.Vector([0.0, 0.0, 0.0])
    throughput = ti.Vector([1.0, 1.0, 1.0])
    aovs = ti.Vector([0.0] * N_AOV)
    depth = 0
    prev_p = o
    prev_pdf = 1.0
    prev_delta = 1
    ray_o, ray_d, ray_t = o, d, tmax
    active = max_depth != 0
    # Participating media: the medium the ray is in (-1: vacuum) and the event counter that
    # keys the random numbers (null crossings and medium events do not advance ``depth``).
    medium = -1
    step = 0
    if ti.static(integ.media.enabled):
        ti.static_assert(not rec.RECORDS, "the replays do not run with participating media")
        medium = integ.media.camera[None]
    while active:
        k = depth  # the vertex index that keys this event's random numbers
        if ti.static(integ.media.enabled):
            k = step
        hit = integ.geometry.intersect(ray_o, ray_d, ray_t)
        if ti.static(getattr(rec, "FIRST_HIT", False)):
            if depth == 0:  # the recorder decides the camera ray's hit (edge sampling's sides)
                hit = rec.first_hit(i, hit, ray_o, ray_d, ray_t)
        si = integ.geometry.surface(hit, ray_o, ray_d)
        if ti.static(getattr(rec, "FIRST_HIT", False)):
            if depth == 0:
                si = rec.first_surface(i, si, ray_d)
        scattered = False
        if ti.static(integ.media.enabled):
            if medium >= 0:
                t_surf = ti.math.inf
                if si.valid:
                    t_surf = si.t
                sc, tm, wm = integ.media.sample_distance(medium, ray_o, ray_d, t_surf, key, k)
                throughput *= wm
                scattered = sc
                if sc:
                    # A medium vertex: next-event estimation with the phase function, then a
                    # phase-function sample (Mitsuba's volpath; depth counts it).
                    mp = ray_o + tm * ray_d
                    depth += 1
                    if depth >= max_depth or throughput.max() <= 0.0:
                        break
                    if integ.media.nee[medium] != 0:
                        em = integ.emitters.sample_direction(mp, rand_emitter(key, k))
                        if em.pdf > 0.0 and em.weight.max() > 0.0:
                            tr = integ.transmittance(mp, em, medium, key, k)
                            if tr.max() > 0.0:
                                ph = integ.media.phase_eval(medium, ray_d, em.d)
                                w = 1.0
                                if em.delta == 0:
                                    w = mis_power(em.pdf, ph)
                                result += throughput * (ph * em.weight * tr) * w
                    wo, ph_pdf = integ.media.phase_sample(medium, ray_d, rand_direction(key, k))
                    ray_o = mp
                    ray_d = wo
                    ray_t = ti.math.inf
                    prev_p = mp
                    prev_pdf = ph_pdf
                    prev_delta = SMOOTH_LOBE
                    alive, inv_q = roulette(throughput, depth, rr_depth, key, roulette_dim(k))
                    throughput *= inv_q
                    step += 1
                    if not alive or step >= MAX_CROSSINGS:
                        active = False
        if not scattered:
            tp = integ.bsdfs.textures.point(integ.geometry, si)  # what texture lookups read
            if ti.static(rec.RECORDS):
                rec.vertex(i, depth, hit, si, ray_d)
            if ti.static(with_aovs):
                if k == 0:
                    aovs = first_hit_aovs(integ.bsdfs, si, tp)
            # Emission found by the previous BSDF sample (or the camera ray).
            if si.valid and si.emitter >= 0 and not (hide_emitters and depth == 0):
                if ti.static(rec.NEEDS_RADIANCE):
                    le = integ.emitters.eval_hit(si.emitter, si, -ray_d)
                    w_hit = emission_mis(integ, si, prev_p, prev_pdf, prev_delta)
                    result += throughput * le * w_hit
                    if ti.static(rec.RECORDS):
                        rec.emission(i, depth, si, ray_d, w_hit)
                else:
                    if rec.emits(depth, si, ray_d):
                        rec.emission(i, depth, si, ray_d,
                                     emission_mis(integ, si, prev_p, prev_pdf, prev_delta))
            # Rays that leave the scene see the environment (MIS with its sampling).
            if ti.static(integ.emitters.env >= 0):
                if not si.valid and not (hide_emitters and depth == 0):
                    le, w_env, tuv = integ.emitters.env_miss(ray_d, prev_pdf, prev_delta)
                    if ti.static(rec.NEEDS_RADIANCE):
                        result += throughput * le
                    if ti.static(rec.RECORDS):
                        rec.environment(i, depth, w_env, tuv)
            if ti.static(integ.media.enabled):
                # With media a null surface lets the path go on past max_depth's last vertex.
                if not si.valid:
                    break
            else:
                if not (depth + 1 < max_depth and si.valid):
                    break
            s, t = coordinate_system(si.ns)
            wi = to_local(s, t, si.ns, -ray_d)
            g = integ.bsdfs.local_geo(si.dp_du, si.dp_dv, si.ng, s, t, si.ns)
            if ti.static(rec.RECORDS):
                rec.surface(i, depth, si, wi, g)
            # Emitter sampling.
            if depth + 1 < max_depth:
                em = integ.emitters.sample_direction(si.p, rand_emitter(key, k))
                if em.pdf > 0.0:
                    wo_l = to_local(s, t, si.ns, em.d)
                    f, bpdf = integ.bsdfs.eval_pdf(si.bsdf, tp, wi, wo_l, g)
                    if f.max() > 0.0 and em.weight.max() > 0.0:
                        vis = ti.Vector([1.0, 1.0, 1.0])
                        if ti.static(integ.media.enabled):
                            vis = integ.transmittance_from(si, em, medium, key, k)
                        else:
                            if not integ.visible_em(si.p, si.ng, em):
                                vis = ti.Vector([0.0, 0.0, 0.0])
                        if vis.max() > 0.0:
                            w = 1.0
                            if em.delta == 0:
                                w = mis_power(em.pdf, bpdf)
                            if ti.static(rec.NEEDS_RADIANCE):
                                result += throughput * (f * em.weight * vis) * w
                            if ti.static(rec.RECORDS):
                                rec.light(i, depth, em, wo_l, w)
            # BSDF sampling.
            bs = integ.bsdfs.sample(si.bsdf, tp, wi, rand_lobe(key, k),
                                    rand_direction(key, k), g)
            wo = to_world(s, t, si.ns, bs.wo)
            if ti.static(rec.RECORDS):
                rec.scatter(i, depth, bs, wo)
            ray_o = offset_origin(si.p, si.ng, wo)
            ray_d = wo
            ray_t = ti.math.inf
            throughput *= bs.weight
            if ti.static(integ.media.enabled):
                medium = integ.media.target(si.shape, si.ng, wo, medium)
                step += 1
                if not integ.bsdfs.is_null(si.bsdf, bs.delta):
                    prev_p = si.p
                    prev_pdf = bs.pdf
                    prev_delta = bs.delta
                    depth += 1
                alive, inv_q = roulette(throughput, depth, rr_depth, key, roulette_dim(k))
                throughput *= inv_q
                if not alive or depth >= max_depth or step >= MAX_CROSSINGS:
                    active = False
            else:
                prev_p = si.p
                prev_pdf = bs.pdf
                prev_delta = bs.delta
                alive, inv_q = roulette(throughput, depth + 1, rr_depth, key, roulette_dim(depth))
                throughput *= inv_q
                if ti.static(rec.RECORDS):
                    rec.roulette(i, depth, bs, inv_q, alive)
                depth += 1
                if not alive:
                    active = False
                if ti.static(not rec.NEEDS_RADIANCE):
                    if depth >= ti.static(rec.depth):  # past the recorder's last vertex
                        active = False
    return result, aovs
