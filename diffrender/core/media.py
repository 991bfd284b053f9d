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
- **Phase functions**: ``isotropic`` and Henyey–Greenstein ``hg`` (sampled exactly: weight 1).

Derivatives of scenes with media are refused (``Renderer.vjp`` / ``jvp``).
"""
from __future__ import annotations

import math

import numpy as np

from ..engine import ti
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
    def transmittance(self, m, dist):
        """Tr = exp(-sigma_t dist) of medium ``m`` (RGB)."""
        st = self.sigma_t[m]
        tr = ti.Vector([0.0, 0.0, 0.0])
        for c in ti.static(range(3)):
            if st[c] <= 0.0:
                tr[c] = 1.0
            elif dist < ti.math.inf:
                tr[c] = ti.exp(-st[c] * dist)
        return tr

    @ti.func
    def sample_distance(self, m, t_max, u_channel, u_dist):
        """A free-flight distance in medium ``m`` before ``t_max`` (the next surface; inf when
        none). Returns (scattered, t, throughput factor) with spectral MIS over the three
        channels (hero channel ``u_channel``)."""
        st = self.sigma_t[m]
        c = ti.min(ti.cast(u_channel * 3.0, ti.i32), 2)
        stc = st[c]
        t = ti.math.inf
        if stc > 0.0:
            t = -ti.log(1.0 - u_dist) / stc
        scattered = t < t_max
        w = ti.Vector([0.0, 0.0, 0.0])
        if scattered:
            tr = self.transmittance(m, t)
            pdf = (st * tr).sum() / 3.0
            if pdf > 0.0:
                w = self.sigma_s[m] * tr / pdf
        else:
            t = t_max
            tr = self.transmittance(m, t_max)
            pdf = tr.sum() / 3.0
            if pdf > 0.0:
                w = tr / pdf
        return scattered, t, w

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


__all__ = ["MediumTable", "uses_media", "MAX_CROSSINGS", "ISOTROPIC", "HG", "vec3"]
