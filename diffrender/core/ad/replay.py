"""Derivatives of renders with respect to scene parameters: reverse mode (vector-Jacobian
products, ``vjp``) and forward mode (Jacobian-vector products, ``jvp``).

Method: path replay with constant memory (in the spirit of Path Replay Backpropagation, Vicini
et al. 2021). Per pass of ``n`` samples per pixel:

1. ``trace`` (not differentiated): runs the forward ``path`` integrator's bounce loop
   (``path.trace_path``: same code, same random numbers, same decisions) with this object as
   its recorder (``NEEDS_RADIANCE = False``: the trace skips the radiance sum, which ``shade``
   recomputes), which stores, per bounce,
   what does not depend on the differentiated parameters: surface coordinates, BSDF index, local
   directions, the sampled lobe (smooth, or which delta lobe), the MIS weights and the sampling
   densities (detached: the paths are sampled, their densities are constants of the estimator),
   the light sample (emitter, uv, geometric factor) and its visibility, and for rays that leave
   the scene the environment's texture coordinates and MIS weight; in scenes with a
   ``normalmap`` / ``bumpmap``, the vertex's dp/du, dp/dv and geometric normal in the local
   frame (the perturbed frame itself depends on the texels, so ``shade`` rebuilds it).
2. ``shade`` (differentiated, one flat kernel per bounce, no loop inside: the layout that Taichi
   differentiates correctly, see ``docs/engine.md``): recomputes the parameter
   dependent factors from the records (texture lookups, BSDF evaluations — for a delta lobe its
   mass, e.g. a dielectric's Fresnel term, over the recorded lobe probability —, emitted
   radiance times an envmap's scale),
   carries the path throughput in a per-bounce field, and either
   - reverse mode: accumulates ``sum_i <a_i, C_i>`` where ``a_i`` is the adjoint image gathered
     through the pixel reconstruction filter (``a_i = sum_p adj_p w_ip / W_p``), under a
     ``ti.ad.Tape``; or
   - forward mode: splats the contributions' tangents into the image through the filter, under
     ``ti.ad.FwdMode``.

Memory is one pass of records (``n x H x W x depth``) whatever the spp. The estimator is the
derivative of the rendered estimator with the path samples held fixed: unbiased for the interior
derivatives (parameters that do not move visibility) of emitter sampling, BSDF sampling and MIS.
Russian-roulette survival probabilities are constants of the estimator (as in Mitsuba's ``prb``),
so per-sample derivatives equal finite differences with common random numbers whenever roulette
does not act (``max_depth <= rr_depth + 1``); in expectation they always agree.

Unbounded ``max_depth`` (-1) is replayed up to :data:`UNBOUNDED_DEPTH` path segments.
"""


import numpy as np

from ... import engine
from ...engine import launch, ti
from ...errors import GradientError
from ..film import FilmAdjoint, border_size, filter_params, finite_or_black
from ..path import EMITTER_AREA, SMOOTH_LOBE, trace_path
from ..types import LocalGeo, vec2, vec3

UNBOUNDED_DEPTH = 16
# Records of one pass: on the CPU small passes cost little (about 3.5 ms each) and keep a
# gradient process's memory low; a GPU needs many samples per launch to fill its cores.
RECORD_BUDGET_BYTES = 24 * 2 ** 20
GPU_RECORD_BUDGET_BYTES = 128 * 2 ** 20


def record_budget() -> int:
    """The record bytes of one replay pass on the device in use."""
    return GPU_RECORD_BUDGET_BYTES if engine.on_gpu() else RECORD_BUDGET_BYTES


@ti.data_oriented
class DiffIntegrator:
    """Replay buffers and kernels for one Renderer (one sensor, one film size)."""

    def __init__(self, renderer, depth, spp_per_pass=None):
        r = renderer
        self.r = r
        self.geometry, self.bsdfs, self.emitters = r.geometry, r.bsdfs, r.emitters
        self.camera, self.textures = r.camera, r.textures
        self.integ = r.integrator
        film = r.sensor.film
        self.radius = border_size(filter_params(film.rfilter)["radius"])
        # field extents: the film's size class (kernels read the actual size from self.film)
        self.cw, self.ch = r.film.cw, r.film.ch
        self.border = self.radius if film.sample_border else 0
        self.sw, self.sh = self.cw + 2 * self.border, self.ch + 2 * self.border
        self.depth = int(depth)  # number of path vertices replayed
        self.point_dim = int(r.textures.point_dim)  # recorded texture points (uv, or more)
        per_sample = self.depth * (80 + 4 * self.point_dim + (36 if r.bsdfs.needs_geo else 0)) + 64
        budget = record_budget()
        cap = max(1, budget // (per_sample * self.sw * self.sh))
        self.n = int(min(cap, spp_per_pass)) if spp_per_pass else int(min(cap, 16))
        # A film whose one sample per pixel exceeds the budget is replayed in bands of rows
        # (``FilmAdjoint.passes``), unless the caller asked for whole passes (spp_per_pass).
        self.rows = None
        if not spp_per_pass and per_sample * self.sw * self.sh > budget:
            self.rows = max(1, budget // (per_sample * self.sw))
        # The film of a pass: sample positions, filter weights and sums, adjoints (re-initialised
        # in place when the pool recycles this object: its kernels are compiled for it).
        fa = getattr(self, "film", None)
        if fa is None:
            self.film = FilmAdjoint(r.sensor, r.film, self.n, self.rows)
        else:
            fa.__init__(r.sensor, r.film, self.n, self.rows)
        self.N = self.film.capacity()
        D, N = self.depth, self.N
        # Records (constants of the estimator).
        self.uv = ti.Vector.field(self.point_dim, ti.f32, shape=(D, N))
        self.bsdf = ti.field(ti.i32, shape=(D, N))
        self.wi = vec3.field(shape=(D, N))
        self.em_slot = ti.field(ti.i32, shape=(D, N))
        self.em_w = ti.field(ti.f32, shape=(D, N))
        self.nee_wo = vec3.field(shape=(D, N))
        self.nee_slot = ti.field(ti.i32, shape=(D, N))
        self.nee_uv = vec2.field(shape=(D, N))
        self.nee_scale = ti.field(ti.f32, shape=(D, N))
        self.wo = vec3.field(shape=(D, N))
        self.cont = ti.field(ti.f32, shape=(D, N))
        self.lobe = ti.field(ti.i32, shape=(D, N))
        # dp/du, dp/dv, n_g per vertex, for normalmap / bumpmap rows only
        self.has_geo = bool(self.bsdfs.needs_geo)
        self.geo = LocalGeo.field(shape=(D, N) if self.has_geo else (1, 1))
        # Differentiated state.
        self.T = vec3.field(shape=(D + 1, N), needs_grad=True, needs_dual=True)
        self.loss = ti.field(ti.f32, shape=(), needs_grad=True)
        self.img = ti.field(ti.f32, shape=(self.ch, self.cw, 3), needs_dual=True)

    def nbytes(self) -> int:
        D, N = self.depth, self.N
        return D * N * (self.point_dim + 1 + 3 + 1 + 1 + 3 + 1 + 2 + 1 + 3 + 1 + 1) * 4 \
            + (D + 1) * N * 3 * 4 * 3 + self.ch * self.cw * 3 * 2 * 4 \
            + (D * N * 9 * 4 if self.has_geo else 0) + self.film.nbytes()

    # --- replay: the recorder of the bounce loop (path.py) ------------------------------------

    RECORDS = True
    NEEDS_RADIANCE = False  # ``shade`` recomputes the contributions (path.py)

    @ti.kernel
    def trace(self, rec: ti.template(), first_sample: ti.i32, n: ti.i32, seed: ti.u32,
              max_depth: ti.i32, rr_depth: ti.i32, hide_emitters: ti.i32, film_w: ti.i32):
        """Trace the forward render's paths (``path.trace_path``) with the recorder ``rec``
        (this object, or one that records more, e.g. the geometry replay)."""
        for i in range(self.film.samples(n)):
            key, gx, gy, pos, fpos = self.film.position(i, first_sample, seed, film_w)
            rec.begin(i, pos, fpos)
            ray_o, ray_d, ray_t = self.camera.sample_ray(fpos, key)
            L, _aovs = trace_path(self.integ, ray_o, ray_d, ray_t, key, max_depth, rr_depth,
                                  hide_emitters, False, rec, i)
            rec.finish(i, L)

    @ti.func
    def begin(self, i, pos, fpos):
        self.film.pos[i] = pos
        for k in range(ti.static(self.depth)):
            self.em_slot[k, i] = -1
            self.bsdf[k, i] = -1
            self.nee_slot[k, i] = -1
            self.cont[k, i] = 0.0
        self.T[0, i] = ti.Vector([1.0, 1.0, 1.0])

    @ti.func
    def finish(self, i, L):
        pass  # the replay needs no primal radiance (RadianceRecorder records it)

    @ti.func
    def vertex(self, i, k, hit, si, ray_d):
        if k < ti.static(self.depth):
            self.uv[k, i] = self.textures.point(self.geometry, si)

    @ti.func
    def emits(self, k, si, ray_d):
        """Whether the emitter hit ``si`` at vertex k is recorded: an area light's front side."""
        rec = False
        if k < ti.static(self.depth):
            info = self.emitters.info[si.emitter]
            rec = info.type == EMITTER_AREA and si.ns.dot(-ray_d) > 0.0
        return rec

    @ti.func
    def emission(self, i, k, si, ray_d, w):
        if self.emits(k, si, ray_d):
            self.em_slot[k, i] = si.emitter
            self.em_w[k, i] = w

    @ti.func
    def environment(self, i, k, w, tuv):
        if k < ti.static(self.depth):
            env_e = ti.static(self.emitters.env)
            self.em_slot[k, i] = env_e
            self.em_w[k, i] = w
            self.uv[k, i] = self.textures.point_uv(tuv)

    @ti.func
    def surface(self, i, k, si, wi, g):
        if k < ti.static(self.depth):
            if ti.static(self.has_geo):
                self.geo[k, i] = g
            self.bsdf[k, i] = si.bsdf
            self.wi[k, i] = wi

    @ti.func
    def light(self, i, k, em, wo, w):
        if k < ti.static(self.depth):
            self.nee_wo[k, i] = wo
            self.nee_slot[k, i] = em.emitter
            self.nee_uv[k, i] = em.uv
            self.nee_scale[k, i] = w * em.geo

    @ti.func
    def scatter(self, i, k, bs, wo):
        if k < ti.static(self.depth):
            self.wo[k, i] = bs.wo
            self.lobe[k, i] = bs.delta

    @ti.func
    def roulette(self, i, k, bs, inv_q, alive):
        if k < ti.static(self.depth):
            factor = 0.0
            if bs.pdf > 0.0:
                factor = 1.0 / bs.pdf
            factor *= inv_q
            if not alive:
                factor = 0.0
            self.cont[k, i] = factor

    @ti.kernel
    def shade(self, k: ti.i32, count: ti.i32, forward: ti.template()):
        """Bounce k: emission + light sample contributions, and the next throughput, for the
        ``count`` samples of a pass (a kernel argument: a differentiated kernel holds nothing
        but its loop)."""
        r = ti.static(self.radius)
        for i in range(count):
            Tk = self.T[k, i]
            c = ti.Vector([0.0, 0.0, 0.0])
            uv = self.uv[k, i]
            es = self.em_slot[k, i]
            if es >= 0:
                c += Tk * self.emitters.radiance(es, uv) * self.em_w[k, i]
            b = self.bsdf[k, i]
            Tn = ti.Vector([0.0, 0.0, 0.0])
            if b >= 0:
                wi = self.wi[k, i]
                g = LocalGeo(dpdu=ti.Vector([0.0, 0.0, 0.0]), dpdv=ti.Vector([0.0, 0.0, 0.0]),
                             ng=ti.Vector([0.0, 0.0, 1.0]))
                if ti.static(self.has_geo):
                    g = self.geo[k, i]
                ns = self.nee_slot[k, i]
                if ns >= 0:
                    fe = self.bsdfs.eval(b, uv, wi, self.nee_wo[k, i], g)
                    c += Tk * fe * self.emitters.radiance(ns, self.nee_uv[k, i]) * self.nee_scale[k, i]
                cf = self.cont[k, i]
                if cf > 0.0:
                    lobe = self.lobe[k, i]
                    fb = ti.Vector([0.0, 0.0, 0.0])
                    if lobe == SMOOTH_LOBE:
                        fb = self.bsdfs.eval(b, uv, wi, self.wo[k, i], g)
                    else:  # delta lobe: its mass over the recorded (detached) probability
                        fb = self.bsdfs.eval_delta(b, uv, wi, self.wo[k, i], lobe, g)
                    Tn = Tk * fb * cf
            self.T[k + 1, i] = Tn
            if ti.static(forward):
                self.film.splat(self.img, i, c)
            else:
                self.loss[None] += c.dot(self.film.adj[i])

    # --- drivers -------------------------------------------------------------------------------

    def _trace(self, first, n, seed, max_depth, integ, film_w, rec=None):
        """Trace one pass, recording with ``rec`` (default: this replay's records)."""
        launch(self.trace, self if rec is None else rec, int(first), int(n), int(seed),
               int(max_depth), int(integ.rr_depth), int(bool(integ.hide_emitters)), int(film_w))

    def vjp(self, d_image: np.ndarray, spp: int, seed: int, max_depth: int, integ, film_w: int,
            progress=None):
        """Accumulate d(sum(d_image * I))/d(texture values) into the texture fields' grads."""
        self.film.load_adjoint(d_image)
        self.film.prepare(spp, seed, film_w)
        tex = self.textures
        tex.values.grad.fill(0.0)
        tex.texels.grad.fill(0.0)
        tex.mesh.values.grad.fill(0.0)
        for first, n in self.film.passes(spp):
            self._trace(first, n, seed, max_depth, integ, film_w)
            launch(self.film.gather_adjoint, int(n))
            self.T.grad.fill(0.0)
            with ti.ad.Tape(loss=self.loss, clear_gradients=False):
                for k in range(self.depth):
                    self.shade(k, self.film.count(n), False)
            if progress is not None:
                progress(first + n, spp)

    def jvp(self, param_field, seed_array, spp: int, seed: int, max_depth: int, integ, film_w: int):
        """The image tangent dI/d(param_field) . seed_array (numpy (H, W, 3))."""
        self.film.prepare(spp, seed, film_w)
        out = np.zeros((self.film.height, self.film.width, 3), np.float64)
        for first, n in self.film.passes(spp):
            self._trace(first, n, seed, max_depth, integ, film_w)
            self.img.fill(0.0)
            with ti.ad.FwdMode(loss=self.img, param=param_field, seed=seed_array):
                for k in range(self.depth):
                    self.shade(k, self.film.count(n), True)
            out += self.film.pixels(self.img.dual.to_numpy())
        return out.astype(np.float32)


@ti.data_oriented
class RadianceRecorder:
    """A recorder that writes ``inner``'s records (a :class:`DiffIntegrator` or a recorder that
    wraps one) and each sample's radiance, as the forward render's film stores it: a check that
    the replay traces the forward render's paths (``tests/core/test_path_replay.py``). Kept
    out of the replays themselves, which do not need the primal radiance."""

    RECORDS = True
    NEEDS_RADIANCE = True

    def __init__(self, inner, n_samples):
        self.inner = inner
        self.depth = inner.depth
        self.radiance = vec3.field(shape=n_samples)

    @ti.func
    def begin(self, i, pos, fpos):
        self.inner.begin(i, pos, fpos)

    @ti.func
    def finish(self, i, L):
        self.inner.finish(i, L)
        self.radiance[i] = finite_or_black(L)

    @ti.func
    def vertex(self, i, k, hit, si, ray_d):
        self.inner.vertex(i, k, hit, si, ray_d)

    @ti.func
    def emits(self, k, si, ray_d):
        return self.inner.emits(k, si, ray_d)

    @ti.func
    def emission(self, i, k, si, ray_d, w):
        self.inner.emission(i, k, si, ray_d, w)

    @ti.func
    def environment(self, i, k, w, tuv):
        self.inner.environment(i, k, w, tuv)

    @ti.func
    def surface(self, i, k, si, wi, g):
        self.inner.surface(i, k, si, wi, g)

    @ti.func
    def light(self, i, k, em, wo, w):
        self.inner.light(i, k, em, wo, w)

    @ti.func
    def scatter(self, i, k, bs, wo):
        self.inner.scatter(i, k, bs, wo)

    @ti.func
    def roulette(self, i, k, bs, inv_q, alive):
        self.inner.roulette(i, k, bs, inv_q, alive)


def replay_depth(max_depth: int) -> int:
    """Number of path vertices to replay for Mitsuba's ``max_depth`` (segments)."""
    if max_depth < 0:
        return UNBOUNDED_DEPTH
    if max_depth == 0:
        return 1
    return int(max_depth)


__all__ = ["DiffIntegrator", "GradientError", "RadianceRecorder", "UNBOUNDED_DEPTH", "replay_depth"]
