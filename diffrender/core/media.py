"""Participating media: the per-scene table of homogeneous media and the ``ti.func``s the
bounce loop (``path.py``) calls when the scene has media under a volumetric integrator.

The estimator follows Mitsuba 3.9.1's ``volpath`` (``src/integrators/volpath.cpp``) in what it
computes, with lower-variance choices where the expected image is the same:

- **Medium tracking.** A ray starts in the sensor's medium; crossing a shape that has an
  ``interior`` or ``exterior`` medium, it enters the interior when it travels against the
  shape's geometric normal and the exterior (None: vacuum) when along it, whatever the shape's
  other media (Mitsuba's ``SurfaceInteraction::target_medium``).
- **Distance sampling** with spectral MIS on every segment: a channel c is picked uniformly, a
  free-flight distance ``t ~ sigma_t[c] exp(-sigma_t[c] t)``; the throughput is multiplied by
  ``sigma_s Tr(t) / mean_c(sigma_t Tr(t))`` at a scattering point and by
  ``Tr(t_s) / mean_c(Tr(t_s))`` when the surface at ``t_s`` comes first (Mitsuba's ``volpath``
  uses one channel per path, ``volpathmis`` MIS over channels: both have this expected value).
- **Null surfaces.** ``null`` BSDFs (a mask of opacity 0), a ``mask``'s pass-through and a
  ``thindielectric``'s transmission are *null* events: they do not count towards ``max_depth``,
  are not the origin of a MIS weight, and let shadow rays through with their transmission
  (``BSDFTable.null_transmission``: 1 - opacity, or the sheet's T').
- **Next-event estimation** from surface and medium points: the shadow ray's transmittance is
  computed exactly (``exp(-sigma_t d)`` per medium segment, times every null surface's
  transmission; Mitsuba estimates it by tracking); MIS (power heuristic) with the BSDF / phase
  function sample. A medium with ``sample_emitters`` false gets no emitter sampling.
- **Heterogeneous media** (``sigma_t`` / ``albedo`` from volumes: voxel grids looked up
  trilinearly, or constants) exist inside the bounding box of their ``sigma_t`` volume. Free
  flights are sampled by delta tracking against the majorant ``scale * max(sigma_t)`` (Mitsuba's):
  a tentative collision is real with probability ``mean(sigma_t) / majorant`` (then the path
  scatters, its throughput multiplied by ``sigma_s / mean(sigma_t)``: absorption is a weight, as
  in Mitsuba, not a termination) and null otherwise (throughput times
  ``sigma_n / mean(sigma_n)``): unbiased for chromatic media. Shadow rays use ratio tracking (the product of ``sigma_n / majorant`` over
  the tentative collisions). Their random numbers come from a counter-based stream keyed by
  (sample, path event, crossing).
- **Phase functions**: ``isotropic`` and Henyey–Greenstein ``hg`` (sampled exactly: weight 1).

Derivatives of scenes with media are refused (``Renderer.vjp`` / ``jvp``).
"""

import math

import numpy as np

from ..engine import ti
from .rng import pcg_hash, rand_medium
from .types import vec3
from .warp import coordinate_system

#: phase function codes
ISOTROPIC, HG = 0, 1
PHASES = {"isotropic": ISOTROPIC, "hg": HG}
#: the most surfaces a path or a shadow ray crosses before it is given up (null surfaces
#: nested without end, or numerical trouble at a grazing crossing)
MAX_CROSSINGS = 256
INV_FOUR_PI = 1.0 / (4.0 * math.pi)
#: |g| below this samples hg as isotropic (its inversion formula divides by g)
HG_ISOTROPIC_G = 1.0e-3
#: medium kinds
HOMOGENEOUS, HETEROGENEOUS = 0, 1
#: volume kinds, lookups and wrap modes
CONST_VOLUME, GRID_VOLUME = 0, 1
FILTERS = {"trilinear": 0, "nearest": 1}
WRAPS = {"clamp": 0, "repeat": 1, "mirror": 2}
#: the most tentative collisions one tracking walk takes (then it gives up: weight 0)
MAX_TRACKING_STEPS = 1 << 16
#: random streams of the tracking walks: dimensions far from every other use
DIM_TRACK = 1 << 24
DIM_SHADOW = 1 << 25
GOLDEN = 0x9E3779B9


def _volumes_of(media):
    """The distinct volumes of ``media`` (in order) and, per medium, (sigma_t, albedo) indices."""
    vols, index, pairs = [], {}, []
    for m in media:
        ids = []
        for v in (m.volume_sigma_t, m.volume_albedo):
            if v is None:
                ids.append(-1)
                continue
            if id(v) not in index:
                index[id(v)] = len(vols)
                vols.append(v)
            ids.append(index[id(v)])
        pairs.append(ids)
    return vols, pairs


def _bbox(to_world):
    """World bounding box of the unit cube through ``to_world``."""
    c = np.array([[x, y, z, 1.0] for x in (0, 1) for y in (0, 1) for z in (0, 1)])
    w = c @ np.asarray(to_world, np.float64).T
    return w[:, :3].min(axis=0), w[:, :3].max(axis=0)


@ti.func
def stream_next(state):
    """The next number of a counter-based stream: (state, uniform in [0, 1))."""
    s = pcg_hash(state)
    return s, ti.f32(s >> ti.u32(8)) * (1.0 / 16777216.0)


@ti.func
def stream(key, dim):
    """The state of the stream ``dim`` of the sample ``key``."""
    return pcg_hash(key + ti.u32(dim) * ti.u32(GOLDEN))


def uses_media(scene) -> bool:
    """Whether the renderer must track media: the scene (loaded under a volumetric integrator,
    the only case where the loader builds media) has a medium a shape or sensor uses."""
    return bool(scene.media) and (
        any(s.interior is not None or s.exterior is not None for s in scene.shapes)
        or any(getattr(s, "medium", None) is not None for s in scene.sensors))


@ti.data_oriented
class MediumTable:
    """The media of a scene and, per shape, its interior / exterior medium (-1: none).

    ``enabled`` (static): the scene tracks media; when False nothing is allocated and the
    bounce loop compiles without any medium code."""

    def __init__(self, scene, sensor):
        self.enabled = uses_media(scene)
        media = scene.media if self.enabled else []
        self.n = max(1, len(media))
        self.n_shapes = max(1, len(scene.shapes)) if self.enabled else 1
        self.has_hg = any(m.phase == "hg" for m in media)
        vols, pairs = _volumes_of(media)
        self.has_hetero = any(m.type == "heterogeneous" for m in media)
        self.n_vol = max(1, len(vols))
        grids = [v.data.reshape(-1) for v in vols if v.type == "gridvolume"]
        self.n_data = max(1, sum(g.size for g in grids))
        if not self.enabled:
            return
        self.sigma_t = ti.Vector.field(3, ti.f32, shape=self.n)
        self.sigma_s = ti.Vector.field(3, ti.f32, shape=self.n)
        self.g = ti.field(ti.f32, shape=self.n)
        self.phase = ti.field(ti.i32, shape=self.n)
        self.nee = ti.field(ti.i32, shape=self.n)
        self.sides = ti.Vector.field(2, ti.i32, shape=self.n_shapes)
        self.camera = ti.field(ti.i32, shape=())
        st = np.zeros((self.n, 3), np.float32)
        ss = np.zeros((self.n, 3), np.float32)
        for i, m in enumerate(media):
            st[i] = np.asarray(m.sigma_t, np.float32) * np.float32(m.scale)
            ss[i] = st[i] * np.asarray(m.albedo, np.float32)
        self.sigma_t.from_numpy(st)
        self.sigma_s.from_numpy(ss)
        self.g.from_numpy(np.array([m.g for m in media] or [0.0], np.float32))
        self.phase.from_numpy(np.array([PHASES[m.phase] for m in media] or [0], np.int32))
        self.nee.from_numpy(np.array([int(m.sample_emitters) for m in media] or [1], np.int32))
        sides = np.full((self.n_shapes, 2), -1, np.int32)
        for i, s in enumerate(scene.shapes):
            sides[i] = (-1 if s.interior is None else s.interior,
                        -1 if s.exterior is None else s.exterior)
        self.sides.from_numpy(sides)
        cam = getattr(sensor, "medium", None)
        self.camera[None] = -1 if cam is None else int(cam)
        if not self.has_hetero:
            return
        # Heterogeneous media: per medium its volumes, scale, majorant and bounding box; per
        # volume its lookup; the voxels of every grid in one array.
        self.kind = ti.field(ti.i32, shape=self.n)
        self.vols = ti.Vector.field(2, ti.i32, shape=self.n)
        self.scale = ti.field(ti.f32, shape=self.n)
        self.majorant = ti.field(ti.f32, shape=self.n)
        self.box_lo = ti.Vector.field(3, ti.f32, shape=self.n)
        self.box_hi = ti.Vector.field(3, ti.f32, shape=self.n)
        self.v_kind = ti.field(ti.i32, shape=self.n_vol)
        self.v_value = ti.Vector.field(3, ti.f32, shape=self.n_vol)
        self.v_to_local = ti.Matrix.field(3, 4, ti.f32, shape=self.n_vol)
        self.v_res = ti.Vector.field(3, ti.i32, shape=self.n_vol)
        self.v_info = ti.Vector.field(4, ti.i32, shape=self.n_vol)  # offset, channels, filter, wrap
        self.data = ti.field(ti.f32, shape=self.n_data)
        kind = np.array([HETEROGENEOUS if m.type == "heterogeneous" else HOMOGENEOUS
                         for m in media], np.int32)
        lo, hi = np.zeros((self.n, 3), np.float32), np.zeros((self.n, 3), np.float32)
        maj = np.zeros(self.n, np.float32)
        for i, m in enumerate(media):
            if kind[i] == HETEROGENEOUS:
                lo[i], hi[i] = _bbox(m.volume_sigma_t.to_world)
                maj[i] = m.scale * m.volume_sigma_t.max()
        self.kind.from_numpy(kind)
        self.vols.from_numpy(np.array(pairs, np.int32).reshape(-1, 2))
        self.scale.from_numpy(np.array([m.scale for m in media], np.float32))
        self.majorant.from_numpy(maj)
        self.box_lo.from_numpy(lo)
        self.box_hi.from_numpy(hi)
        vk = np.zeros(self.n_vol, np.int32)
        vv = np.zeros((self.n_vol, 3), np.float32)
        tl = np.zeros((self.n_vol, 3, 4), np.float32)
        vr = np.ones((self.n_vol, 3), np.int32)
        vi = np.zeros((self.n_vol, 4), np.int32)
        off = 0
        for j, v in enumerate(vols):
            tl[j] = np.linalg.inv(np.asarray(v.to_world, np.float64))[:3, :4]
            if v.type == "gridvolume":
                z, y, x, c = v.data.shape
                vk[j], vr[j] = GRID_VOLUME, (x, y, z)
                vi[j] = (off, c, FILTERS[v.filter_type], WRAPS[v.wrap_mode])
                off += v.data.size
            else:
                vv[j] = v.value
        self.v_kind.from_numpy(vk)
        self.v_value.from_numpy(vv)
        self.v_to_local.from_numpy(tl)
        self.v_res.from_numpy(vr)
        self.v_info.from_numpy(vi)
        if grids:
            self.data.from_numpy(np.concatenate(grids).astype(np.float32))

    # --- tracking ------------------------------------------------------------------------

    @ti.func
    def target(self, shape, ng, d, current):
        """The medium a ray along ``d`` is in after crossing (or leaving) ``shape`` at a point
        with geometric normal ``ng``: unchanged if the shape has no media."""
        res = current
        if shape >= 0:
            sd = self.sides[shape]
            if sd.x >= 0 or sd.y >= 0:
                res = sd.x
                if d.dot(ng) > 0.0:
                    res = sd.y
        return res

    @ti.func
    def _homogeneous_tr(self, m, dist):
        st = self.sigma_t[m]
        tr = ti.Vector([0.0, 0.0, 0.0])
        for c in ti.static(range(3)):
            if st[c] <= 0.0:
                tr[c] = 1.0
            elif dist < ti.math.inf:
                tr[c] = ti.exp(-st[c] * dist)
        return tr

    @ti.func
    def transmittance(self, m, o, d, dist, seed):
        """Transmittance (RGB) of medium ``m`` along the ray (o, d) over ``dist``: exact for a
        homogeneous medium, ratio tracking (random stream ``seed``) for a heterogeneous one."""
        tr = ti.Vector([1.0, 1.0, 1.0])
        if ti.static(self.has_hetero):
            if self.kind[m] == HETEROGENEOUS:
                _sc, _t, tr = self._track(m, o, d, dist, seed, True)
            else:
                tr = self._homogeneous_tr(m, dist)
        else:
            tr = self._homogeneous_tr(m, dist)
        return tr

    @ti.func
    def sample_distance(self, m, o, d, t_max, key, k):
        """A free-flight distance in medium ``m`` along the ray (o, d) before ``t_max`` (the
        next surface; inf when none), for path event ``k`` of the sample ``key``. Returns
        (scattered, t, throughput factor)."""
        sc, t, w = False, t_max, ti.Vector([1.0, 1.0, 1.0])
        if ti.static(self.has_hetero):
            if self.kind[m] == HETEROGENEOUS:
                sc, t, w = self._track(m, o, d, t_max, stream(key, DIM_TRACK + k), False)
            else:
                u = rand_medium(key, k)
                sc, t, w = self._homogeneous_distance(m, t_max, u.x, u.y)
        else:
            u = rand_medium(key, k)
            sc, t, w = self._homogeneous_distance(m, t_max, u.x, u.y)
        return sc, t, w

    @ti.func
    def _homogeneous_distance(self, m, t_max, u_channel, u_dist):
        """Spectral MIS over the three channels (hero channel ``u_channel``)."""
        st = self.sigma_t[m]
        c = ti.min(ti.cast(u_channel * 3.0, ti.i32), 2)
        stc = st[c]
        t = ti.math.inf
        if stc > 0.0:
            t = -ti.log(1.0 - u_dist) / stc
        scattered = t < t_max
        w = ti.Vector([0.0, 0.0, 0.0])
        if scattered:
            tr = self._homogeneous_tr(m, t)
            pdf = (st * tr).sum() / 3.0
            if pdf > 0.0:
                w = self.sigma_s[m] * tr / pdf
        else:
            t = t_max
            tr = self._homogeneous_tr(m, t_max)
            pdf = tr.sum() / 3.0
            if pdf > 0.0:
                w = tr / pdf
        return scattered, t, w

    # --- heterogeneous media ---------------------------------------------------------------

    @ti.func
    def _wrap(self, i, r, mode):
        j = ti.min(ti.max(i, 0), r - 1)
        if mode == 1:  # repeat
            j = i % r
            if j < 0:
                j += r
        elif mode == 2:  # mirror
            p = i % (2 * r)
            if p < 0:
                p += 2 * r
            j = p
            if p >= r:
                j = 2 * r - 1 - p
        return j

    @ti.func
    def _voxel(self, v, ix, iy, iz):
        info = self.v_info[v]
        res = self.v_res[v]
        mode = info[3]
        x = self._wrap(ix, res.x, mode)
        y = self._wrap(iy, res.y, mode)
        z = self._wrap(iz, res.z, mode)
        base = info[0] + ((z * res.y + y) * res.x + x) * info[1]
        val = ti.Vector([self.data[base], self.data[base], self.data[base]])
        if info[1] == 3:
            val = ti.Vector([self.data[base], self.data[base + 1], self.data[base + 2]])
        return val

    @ti.func
    def volume(self, v, p):
        """The value (RGB) of volume ``v`` at the world point ``p``."""
        val = self.v_value[v]
        if self.v_kind[v] == GRID_VOLUME:
            a = self.v_to_local[v]
            lp = ti.Vector([a[0, 0] * p.x + a[0, 1] * p.y + a[0, 2] * p.z + a[0, 3],
                            a[1, 0] * p.x + a[1, 1] * p.y + a[1, 2] * p.z + a[1, 3],
                            a[2, 0] * p.x + a[2, 1] * p.y + a[2, 2] * p.z + a[2, 3]])
            res = self.v_res[v]
            x = lp * ti.cast(res, ti.f32)
            if self.v_info[v][2] == 1:  # nearest
                i = ti.cast(ti.floor(x), ti.i32)
                val = self._voxel(v, i.x, i.y, i.z)
            else:  # trilinear, voxel centres at (i + 0.5) / res
                x = x - 0.5
                f0 = ti.floor(x)
                f = x - f0
                i = ti.cast(f0, ti.i32)
                val = ti.Vector([0.0, 0.0, 0.0])
                for dz, dy, dx in ti.static(ti.ndrange(2, 2, 2)):
                    w = ((f.x if dx else 1.0 - f.x) * (f.y if dy else 1.0 - f.y)
                         * (f.z if dz else 1.0 - f.z))
                    val += w * self._voxel(v, i.x + dx, i.y + dy, i.z + dz)
        return val

    @ti.func
    def _coefficients(self, m, p):
        """(sigma_t, sigma_s) of heterogeneous medium ``m`` at ``p``."""
        vs = self.vols[m]
        st = self.scale[m] * self.volume(vs.x, p)
        ss = st * self.volume(vs.y, p)
        return st, ss

    @ti.func
    def _clip(self, m, o, d, t_max):
        """The part [t0, t1] of the ray (o, d) up to t_max inside medium m's bounding box."""
        lo, hi = self.box_lo[m], self.box_hi[m]
        t0, t1 = 0.0, t_max
        for a in ti.static(range(3)):
            if d[a] != 0.0:
                inv = 1.0 / d[a]
                ta = (lo[a] - o[a]) * inv
                tb = (hi[a] - o[a]) * inv
                t0 = ti.max(t0, ti.min(ta, tb))
                t1 = ti.min(t1, ti.max(ta, tb))
            elif o[a] < lo[a] or o[a] > hi[a]:
                t1 = -1.0
        return t0, t1

    @ti.func
    def _track(self, m, o, d, t_max, state, ratio: ti.template()):
        """One tracking walk against the majorant inside the bounding box, up to ``t_max``:
        delta tracking (``ratio`` False: returns (scattered, t, throughput factor); see the
        module's doc) or ratio tracking (``ratio`` True: the factor is the transmittance, the
        product of sigma_n / majorant over the tentative collisions)."""
        scattered = False
        t_hit = t_max
        w = ti.Vector([1.0, 1.0, 1.0])
        t0, t1 = self._clip(m, o, d, t_max)
        maj = self.majorant[m]
        if t0 < t1 and maj > 0.0:
            t = t0
            steps = 0
            going = True
            while going:
                state, u = stream_next(state)
                t -= ti.log(1.0 - u) / maj
                steps += 1
                if t >= t1:
                    going = False
                elif steps > MAX_TRACKING_STEPS:
                    w = ti.Vector([0.0, 0.0, 0.0])
                    going = False
                else:
                    st, ss = self._coefficients(m, o + t * d)
                    sn = ti.max(maj - st, 0.0)
                    if ti.static(ratio):
                        w *= sn / maj
                        if w.max() <= 0.0:
                            going = False
                    else:
                        pt = st.sum() / (3.0 * maj)
                        pn = sn.sum() / (3.0 * maj)
                        state, u2 = stream_next(state)
                        if u2 >= pt and pn > 0.0:  # null collision
                            w *= sn / (maj * pn)
                        elif pt > 0.0:  # a real collision scatters, weighted by the albedo
                            w *= ss / (maj * pt)
                            scattered = True
                            t_hit = t
                            going = False
        return scattered, t_hit, w

    # --- phase functions ---------------------------------------------------------------------

    @ti.func
    def phase_eval(self, m, d, wo):
        """Phase function value (= its sampling density) for a ray along ``d`` scattered
        towards ``wo``."""
        res = INV_FOUR_PI
        if ti.static(self.has_hg):
            if self.phase[m] == HG:
                g = self.g[m]
                denom = 1.0 + g * g - 2.0 * g * d.dot(wo)
                res = INV_FOUR_PI * (1.0 - g * g) / (denom * ti.sqrt(ti.max(denom, 1e-20)))
        return res

    @ti.func
    def phase_sample(self, m, d, u):
        """A direction scattered from a ray along ``d`` (density: :meth:`phase_eval`)."""
        cos_t = 1.0 - 2.0 * u.x
        if ti.static(self.has_hg):
            if self.phase[m] == HG:
                g = self.g[m]
                if ti.abs(g) >= HG_ISOTROPIC_G:
                    sq = (1.0 - g * g) / (1.0 - g + 2.0 * g * u.x)
                    cos_t = ti.min(ti.max((1.0 + g * g - sq * sq) / (2.0 * g), -1.0), 1.0)
        sin_t = ti.sqrt(ti.max(1.0 - cos_t * cos_t, 0.0))
        phi = 2.0 * math.pi * u.y
        s, t = coordinate_system(d)
        wo = (s * (sin_t * ti.cos(phi)) + t * (sin_t * ti.sin(phi)) + d * cos_t).normalized()
        return wo, self.phase_eval(m, d, wo)


__all__ = ["MediumTable", "uses_media", "stream", "MAX_CROSSINGS", "DIM_SHADOW", "ISOTROPIC", "HG",
           "HOMOGENEOUS", "HETEROGENEOUS", "vec3"]
