"""Geometry / camera / light-position derivatives of a Renderer: options, the per-Renderer
state (:class:`GeometryDerivatives`: the edge sampler and the geometry replay) and the mapping
from per-vertex, camera and point-light derivatives to the scene's parameters."""
from __future__ import annotations

from dataclasses import dataclass, fields
from types import SimpleNamespace

import numpy as np

from ...errors import GradientError
from ..camera import CameraModel
from ..integrators import depth_limit
from ..pool import Mismatch, make
from .contraction import contract_jvp, contract_vjp
from .geometry import GeoReplay
from .samplers import EdgeSampler, EdgeSamples, EdgeTracer, ShadowLight


#: Path vertices 0 .. FULL_EDGE_BOUNCES take the edge options' spp each; every later vertex
#: (up to the depth limit) half the spp of the one before, while that is at least one sample
#: per pixel: the boundary terms of every bounce at a bounded cost (a vertex b pass walks b
#: bounces; an unbounded path is sampled at vertices 0 .. 5 with the default 4 edge spp, 0 .. 8
#: with 32).
FULL_EDGE_BOUNCES = 3


def edge_spp_at(spp: int, bounce: int) -> int:
    """Edge samples per pixel of the secondary passes at path vertex ``bounce``."""
    return int(spp) >> max(0, int(bounce) - FULL_EDGE_BOUNCES)


# lights at a point (point, spot, projector): their shadows are cast by the silhouettes seen
# from it
DELTA_POSITION_LIGHTS = ("point", "spot", "projector")
# lights at infinity in one direction (directional): their shadows are cast by the
# silhouettes seen along it
DELTA_DIRECTION_LIGHTS = ("directional",)
# lights at infinity in every direction (an area light at infinity): their shadows are the
# silhouettes seen from each shading point (the secondary sampler), their background the
# silhouettes seen from the camera (the primary sampler)
ENVIRONMENT_LIGHTS = ("constant", "envmap")
#: the emitters geometry derivatives support
GEOMETRY_LIGHTS = ("area", *DELTA_POSITION_LIGHTS, *DELTA_DIRECTION_LIGHTS, *ENVIRONMENT_LIGHTS)


@dataclass
class EdgeOptions:
    """Edge-sampling switches.

    - ``enabled``: master switch (``False``: interior-only derivative, zero for geometry);
    - ``primary``: silhouettes seen from the camera;
    - ``secondary``: shadow boundaries (point, spot and directional lights on directly visible surfaces; area and
      environment lights and occluded indirect light at the first bounce);
    - ``indirect``: the boundary terms at later path vertices: silhouettes seen from the
      second and every later vertex (``spp`` each up to vertex ``FULL_EDGE_BOUNCES``, then half
      as many per vertex: :func:`edge_spp_at`) and point-light shadows seen through a bounce
      (``False``: those of the camera ray's hit only);
    - ``spp``: edge samples per pixel (per sampler);
    - ``seed``: extra seed of the edge samplers (``None``: the render seed);
    - ``interior``: also the interior term (path replay with differentiable geometry,
      ``geometry.py``); ``False``: the boundary term only.
    """
    enabled: bool = True
    primary: bool = True
    secondary: bool = True
    spp: int = 4
    seed: int | None = None
    interior: bool = True
    indirect: bool = True

    @staticmethod
    def of(v) -> "EdgeOptions":
        if v is None or v is True:
            return EdgeOptions()
        if v is False:
            return EdgeOptions(enabled=False)
        if isinstance(v, EdgeOptions):
            return v
        if isinstance(v, dict):
            names = {f.name for f in fields(EdgeOptions)}
            bad = [k for k in v if k not in names]
            if bad:
                raise GradientError(f"unknown edge option '{bad[0]}' (expected {', '.join(sorted(names))})")
            o = EdgeOptions(**v)
            if int(o.spp) < 1:
                raise GradientError(f"edge spp must be a positive integer, got {o.spp}")
            return o
        raise GradientError(f"edges must be True, False, a dict or EdgeOptions, got {type(v).__name__}")


def geom_param(r, name):
    """(kind, owner index) of a parameter that moves visibility."""
    info = r.scene.parameters().info(name)
    owner, kind = info.owner, info.kind
    if r.sensor.type == "thinlens" or (r.sensor.type == "orthographic"
                                        and any(owner is s for s in r.scene.sensors)):
        what = ("derivatives that move geometry or the camera are" if r.sensor.type == "thinlens"
                else "derivatives of the camera's own parameters are")
        raise GradientError(f"parameter '{info.name}': {what} not supported with the "
                            f"{r.sensor.type} sensor yet")
    other = sorted({row["type"] for row in r.emitters.rows} - set(GEOMETRY_LIGHTS))
    if other:
        raise GradientError(f"parameter '{info.name}': geometry derivatives support area, point, "
                            f"spot and projector lights, directional lights and environment "
                            f"(constant, envmap) lights only; the scene has {', '.join(other)}")
    if r.bsdfs.has_delta:
        raise GradientError(f"parameter '{info.name}': geometry derivatives support smooth BSDFs "
                            "only; the scene has a delta BSDF (conductor, plastic, dielectric, "
                            "thindielectric or mask)")
    shapes, sensors = r.scene.shapes, r.scene.sensors
    for i, sh in enumerate(shapes):
        if owner is sh:
            if kind == "to_world" and sh.local_vertices is None:
                raise GradientError(f"parameter '{info.name}': the shape has no object-space "
                                    "vertices to differentiate its to_world through")
            return SimpleNamespace(name=info.name, kind="shape_" + kind, index=i)
    for i, s in enumerate(sensors):
        if owner is s:
            return SimpleNamespace(name=info.name, kind="sensor_" + kind, index=i)
    if kind == "position" and id(owner) in r._emitter_index:
        return SimpleNamespace(name=info.name, kind="light_position", index=r._emitter_index[id(owner)])
    raise GradientError(f"parameter '{info.name}' ({kind}) is not differentiable by the renderer yet")


def shadow_lights(rows):
    """The delta lights of the emitter table's ``rows`` whose hard shadows the point-light
    shadow samplers follow: point, spot and projector lights at their position, directional
    lights along the direction their light travels (the rotation's local +Z)."""
    out = []
    for i, row in enumerate(rows):
        if row["type"] in DELTA_POSITION_LIGHTS:
            out.append(ShadowLight(i, np.asarray(row["position"], np.float64)))
        elif row["type"] in DELTA_DIRECTION_LIGHTS:
            d = np.asarray(row["rotation"], np.float64)[:, 2]
            out.append(ShadowLight(i, d / np.linalg.norm(d), at_infinity=True))
    return out


def _vertex_offsets(r):
    off = [0]
    for sh in r.scene.shapes:
        off.append(off[-1] + np.asarray(sh.vertices).reshape(-1, 3).shape[0])
    return off


class GeometryDerivatives:
    """The state of one Renderer's geometry derivatives, made on first use and kept while the
    Renderer lives: its edge sampler (mesh topology, tracer kernels) and its geometry replay
    (paired with the Renderer's material replay of the same depth). ``renderer`` should be a
    weak proxy (the Renderer owns this object)."""

    def __init__(self, renderer):
        self.r = renderer
        self._sampler = None
        self._replay = None

    def _pooled(self, name, cls, *args):
        """``cls(*args)`` from the Renderer's device set (``core/pool.py``): a Renderer of the
        same scene shape re-uses a dropped one's object, its fields and compiled kernels."""
        dset = self.r._dset
        try:
            return make(dset, name, cls, *args)
        except Mismatch:
            return make(dset, name, cls, *args)  # make() dropped the misfit: a fresh one

    def sampler(self) -> EdgeSampler:
        if self._sampler is None:
            r = self.r
            self._sampler = EdgeSampler(r, lambda n: self._pooled(("edge_tracer", id(r.film)),
                                                                  EdgeTracer, r, n))
        return self._sampler

    def replay(self, md, spp_per_pass=None) -> GeoReplay:
        dint = self.r._diff_integrator(md, spp_per_pass)
        if self._replay is None or self._replay.d is not dint:
            self._replay = self._pooled(("geo_replay", id(dint)), GeoReplay, self.r, dint)
        return self._replay

    def vertices_of(self, shapes):
        """Mask of the vertices of the shapes ``shapes`` (indices): e.g. the differentiated
        shapes' (the edges that move) or the area emitters'."""
        off = _vertex_offsets(self.r)
        mask = np.zeros(max(1, off[-1]), bool)
        for i in shapes:
            mask[off[i]:off[i + 1]] = True
        return mask

    def samples(self, opts: EdgeOptions, seed, md, integ, moving=None, camera_moves=True):
        """(edge sampler, camera model, the edge samples or None). ``moving``: mask of the
        vertices that move (None: all); ``camera_moves``: whether the camera does (then every
        camera ray's hit slides on its surface)."""
        r = self.r
        if integ.type != "path":
            raise GradientError(f"derivatives need the 'path' integrator, the scene uses '{integ.type}'")
        es = self.sampler()
        cam = CameraModel.of(r.sensor)
        V = r.geometry._v
        seed = int(seed if opts.seed is None else opts.seed) & 0xFFFFFFFF
        mdl = depth_limit(md)
        if not opts.enabled:
            return es, cam, None
        n = int(opts.spp) * r.film.width * r.film.height
        emitters = self.vertices_of({row["shape"] for row in r.emitters.rows if row["type"] == "area"})
        parts = []
        if opts.primary:
            parts.append(es.primary(V, cam, n, seed, integ, mdl))
        if opts.secondary:
            lights = shadow_lights(r.emitters.rows)
            parts.append(es.point_shadows(V, cam, lights, n, seed, integ, mdl))
            # lights that a BSDF-sampled ray can reach: area lights, the environment
            area = any(row["type"] in ("area", *ENVIRONMENT_LIGHTS) for row in r.emitters.rows)
            last = mdl - 2 if opts.indirect else 0
            for b in range(last + 1):
                spp_b = edge_spp_at(int(opts.spp), b)
                if spp_b < 1:
                    break
                # path vertex b: silhouettes seen from it (its BSDF-sampled rays: area lights
                # hit at vertex b + 1, and the light arriving from later vertices) ...
                if (area and mdl >= b + 2) or mdl > b + 2:
                    parts.append(es.secondary(V, spp_b, seed, integ, mdl, bounce=b, moving=moving,
                                              emitters=emitters, cam=cam if camera_moves else None))
                # ... and point-light shadows on the surfaces it sees (NEE at vertex b + 1)
                if opts.indirect and lights and mdl >= b + 3:
                    parts.append(es.indirect_point_shadows(V, lights, spp_b, seed, integ, mdl, bounce=b,
                                                           moving=moving, cam=cam if camera_moves else None))
        return es, cam, EdgeSamples.concat(parts)

    def vjp(self, d_image, infos, opts, spp, seed, md, integ):
        """Gradients of ``sum(d_image * I)`` for the parameters ``infos`` (:func:`geom_param`)."""
        r = self.r
        moving = self.vertices_of({p.index for p in infos if p.kind.startswith("shape_")})
        es, cam, samples = self.samples(opts, seed, md, integ, moving,
                                        any(p.kind.startswith("sensor_") for p in infos))
        gV, (gR, go, gK), gL = contract_vjp(samples, es.film, d_image, cam, r.geometry.n_verts,
                                            len(r.emitters.rows))
        if opts.interior:
            vs = {p.index for p in infos if p.kind == "shape_vertex_positions"}
            iV, (iR, io, iK), iL = self.replay(md).vjp(d_image, spp, seed, depth_limit(md), integ,
                                                       int(r.sensor.film.width), vs)
            gV, gR, go, gK, gL = gV + iV, gR + iR, go + io, gK + iK, gL + iL
        off = _vertex_offsets(r)
        out = []
        for p in infos:
            if p.kind == "shape_vertex_positions":
                g = gV[off[p.index]:off[p.index + 1]].copy()
            elif p.kind == "shape_to_world":
                sh = r.scene.shapes[p.index]
                gv = gV[off[p.index]:off[p.index + 1]]
                lv = np.asarray(sh.local_vertices, np.float64).reshape(-1, 3)
                g = np.zeros((4, 4))
                g[:3, :3] = gv.T @ lv
                g[:3, 3] = gv.sum(0)
            elif p.kind == "sensor_to_world":
                g = np.zeros((4, 4))
                if p.index == r.sensor_index:
                    g[:3, :3] = gR
                    g[:3, 3] = go
            elif p.kind.startswith("sensor_"):  # an intrinsic: fov, fx, ..., k1, ...
                g = np.asarray(gK @ cam.dK[p.kind[7:]] if p.index == r.sensor_index else 0.0,
                               np.float64)
            else:  # light_position
                g = gL[p.index].copy()
            out.append(g)
        return out

    def jvp(self, items, opts, spp, seed, md, integ):
        """The image tangent for ``items``: {name: (info, tangent)}."""
        r = self.r
        moving = self.vertices_of({p.index for p, _ in items.values() if p.kind.startswith("shape_")})
        es, cam, samples = self.samples(opts, seed, md, integ, moving,
                                        any(p.kind.startswith("sensor_") for p, _ in items.values()))
        off = _vertex_offsets(r)
        dV = np.zeros((max(1, r.geometry.n_verts), 3))
        dR, do, dK = np.zeros((3, 3)), np.zeros(3), np.zeros(9)
        dL = np.zeros((max(1, len(r.emitters.rows)), 3))
        pmap = r.scene.parameters()
        for name, (p, t) in items.items():
            shape = np.shape(pmap[p.name])
            t = np.asarray(t, np.float64)
            try:
                t = np.broadcast_to(t, shape)
            except ValueError:
                raise GradientError(f"tangent of '{name}' has shape {t.shape}, expected {shape}") from None
            if p.kind == "shape_vertex_positions":
                dV[off[p.index]:off[p.index + 1]] += t
            elif p.kind == "shape_to_world":
                lv = np.asarray(r.scene.shapes[p.index].local_vertices, np.float64).reshape(-1, 3)
                dV[off[p.index]:off[p.index + 1]] += lv @ t[:3, :3].T + t[:3, 3]
            elif p.kind == "sensor_to_world":
                if p.index == r.sensor_index:
                    dR += t[:3, :3]
                    do += t[:3, 3]
            elif p.kind.startswith("sensor_"):  # an intrinsic
                if p.index == r.sensor_index:
                    dK += float(t) * cam.dK[p.kind[7:]]
            else:
                dL[p.index] += t
        out = contract_jvp(samples, es.film, cam, dV, dR, do, dK, dL)
        if opts.interior:
            seeds = {"vpos": dV[:r.geometry.n_verts], "lpos": dL[:r.emitters.n], "cam_R": dR, "cam_o": do,
                     "cam_K": dK.astype(np.float32)}
            vs = {p.index for p, _ in items.values() if p.kind == "shape_vertex_positions"}
            out = out + self.replay(md).jvp(seeds, spp, seed, depth_limit(md), integ,
                                            int(r.sensor.film.width), vs)
        return out
