"""The Renderer: uploads a Scene once, renders it many times."""
from __future__ import annotations

import gc
import weakref

import numpy as np

from ..engine import ensure_init, on_reset, recycle_fields
from ..errors import SceneError
from ..scene.model import Scene, Sensor, Texture
from .bsdfs import BSDFTable, RowBuilder, field_kinds
from .camera import Camera
from .emitters import TYPES as EMITTER_TYPES
from .emitters import EmitterTable
from .film import Film
from .geometry import Geometry, capacity_class
from .integrators import Integrator, depth_limit
from .shaders import reported
from .textures import TextureTable

AOV_NAMES = ("depth", "normal", "albedo", "alpha")
SAMPLE_BUFFER_BYTES = 32 * 2 ** 20  # per-pass sample buffer budget (colour + positions)


# --- pool of device sets ---------------------------------------------------------------------
#
# Taichi compiles a kernel for the fields (and the Python constants) it touches, and our kernels
# are methods of the component objects. A Renderer therefore takes its component objects from a
# pool: when a Renderer is garbage collected its objects (with their fields and compiled kernels)
# go back to the pool, and the next Renderer whose scene has the same *key* (field sizes: size
# classes of the geometry, counts of texture slots, BSDFs, emitters; the film's size and filter)
# re-runs their constructors in place, with ``engine.recycle_fields`` handing back the same
# fields. Nothing is recompiled. The replay is checked: any field allocated differently, or (for
# classes not marked ``RECYCLE_SAFE``) any plain attribute that differs, discards the set and
# builds a fresh one, so a recycled kernel can never see stale constants.


class _DeviceSet:
    def __init__(self, key):
        self.key = key
        self.gen = _POOL["gen"]
        self.objs: dict = {}
        self.logs: dict = {}


class _Mismatch(Exception):
    pass


_POOL = {"gen": 0, "free": {}, "live": {}}


def _reset_pool():
    _POOL["gen"] += 1
    _POOL["free"].clear()
    _POOL["live"].clear()


on_reset(_reset_pool)


def _acquire(key):
    free = _POOL["free"].get(key)
    if not free and _POOL["live"].get(key):
        gc.collect()  # a dropped Renderer of this key may be waiting in a reference cycle
        free = _POOL["free"].get(key)
    dset = free.pop() if free else _DeviceSet(key)
    _POOL["live"][key] = _POOL["live"].get(key, 0) + 1
    return dset


def _release(dset):
    if dset.gen != _POOL["gen"]:
        return  # the engine was reset: the fields are gone
    live = _POOL["live"]
    live[dset.key] = max(0, live.get(dset.key, 0) - 1)
    _POOL["free"].setdefault(dset.key, []).append(dset)


def _discard(dset):
    if dset.gen == _POOL["gen"]:
        live = _POOL["live"]
        live[dset.key] = max(0, live.get(dset.key, 0) - 1)


def _scalars(obj) -> dict:
    plain = (int, float, str, bool, type(None))
    proxies = (weakref.ProxyType, weakref.CallableProxyType)
    return {k: v for k, v in vars(obj).items() if type(v) not in proxies and (
        isinstance(v, plain) or (isinstance(v, tuple) and all(isinstance(x, plain) for x in v)))}


def _make(dset, name, cls, *args):
    """``cls(*args)``, re-using ``dset``'s object of that name (same fields) when it has one."""
    obj = dset.objs.get(name)
    if obj is None:
        with recycle_fields() as log:
            obj = cls(*args)
        dset.objs[name] = obj
    else:
        before = _scalars(obj)
        with recycle_fields(dset.logs[name]) as log:
            obj.__init__(*args)
        if not log.complete() or (not getattr(cls, "RECYCLE_SAFE", False)
                                  and _scalars(obj) != before):
            raise _Mismatch(name)
    dset.logs[name] = log
    return obj


def _where(scene, what):
    src = scene.source or "<scene>"
    return f"{src}: {what}"


class Renderer:
    """Upload ``scene`` (geometry, BVH, textures, materials, emitters, camera) into Taichi
    fields, then :meth:`render` it as often as needed.

    Steady state: repeated renders re-use the fields and the compiled kernels. Parameter
    changes made through ``scene.parameters()`` are uploaded before the next render (field
    writes; moving geometry rebuilds the BVH on the CPU into the same fields), never a
    recompilation.
    """

    def __init__(self, scene: Scene, sensor: int = 0, max_leaf: int = 4):
        ensure_init()
        if not isinstance(scene, Scene):
            raise SceneError(f"expected a diffrender.scene.Scene, got {type(scene).__name__}")
        self.scene = scene
        sensors = scene.sensors or [Sensor()]  # a hand-built scene without one: the default
        if not 0 <= sensor < len(sensors):
            raise SceneError(f"the scene has {len(sensors)} sensor(s); sensor {sensor} "
                             "does not exist", scene.source)
        self.sensor_index = sensor
        self.sensor = sensors[sensor]
        integ = scene.integrator
        if integ.type not in ("path", "direct"):
            raise SceneError(f"integrator '{integ.type}' is not supported (expected path or "
                             "direct)", _where(scene, "integrator"))

        # Texture slots: every colour parameter of every BSDF / emitter.
        self._slots: list[tuple[Texture, str]] = []
        self._slot_of: dict[int, int] = {}

        def slot(tex, where):
            if not isinstance(tex, Texture):
                tex = Texture.constant(tex)
            if tex.type == "shader":  # its parameters first: constant slots it reads
                for n, t in tex.extra["holder"].params.items():
                    slot(t, f"{where} {n}")
            if id(tex) not in self._slot_of:
                self._slot_of[id(tex)] = len(self._slots)
                self._slots.append((tex, where))
            return self._slot_of[id(tex)]

        self._shaders: list = []
        rows = RowBuilder(slot, self._shaders)
        shape_bsdf, shape_emitter = [], []
        emitter_rows = []
        for i, sh in enumerate(scene.shapes):
            where = _where(scene, f"shape '{sh.id or i}'")
            b = sh.bsdf
            if b is None:
                from ..scene.model import BSDF
                b = BSDF()
            BSDFTable.check(b, where + " bsdf")
            shape_bsdf.append(rows.add(b, where + " bsdf"))
            shape_emitter.append(-1)
            faces = np.asarray(sh.faces)
            if faces.ndim != 2 or faces.shape[1] != 3:
                raise SceneError(f"faces must be an (M, 3) array, got shape {faces.shape}", where)
            nv = np.asarray(sh.vertices).reshape(-1, 3).shape[0]
            if faces.size and (faces.min() < 0 or faces.max() >= nv):
                raise SceneError(f"face indices must be in [0, {nv}), got "
                                 f"[{faces.min()}, {faces.max()}]", where)
        self._emitter_index = {}
        for j, em in enumerate(scene.emitters):
            where = _where(scene, f"emitter '{em.id or j}'")
            if em.type not in EMITTER_TYPES:
                raise SceneError(f"emitter '{em.type}' is not supported by the renderer yet "
                                 f"(supported: {', '.join(EMITTER_TYPES)})", where)
            if em.type == "area":
                if em.shape is None or not 0 <= em.shape < len(scene.shapes):
                    raise SceneError("area emitter is not attached to a shape", where)
                rad = em.params.get("radiance", Texture.constant(1.0))
                shape_emitter[em.shape] = len(emitter_rows)
                emitter_rows.append(dict(type="area", slot=slot(rad, where + " radiance"),
                                         shape=em.shape, where=where))
            else:
                emitter_rows.append(self._emitter_row(em, slot, where))
            self._emitter_index[id(em)] = len(emitter_rows) - 1
        # Shapes whose emitter is set on the shape but not listed in scene.emitters.
        for i, sh in enumerate(scene.shapes):
            if sh.emitter is not None and shape_emitter[i] < 0 and id(sh.emitter) not in self._emitter_index:
                where = _where(scene, f"shape '{sh.id or i}' emitter")
                rad = sh.emitter.params.get("radiance", Texture.constant(1.0))
                shape_emitter[i] = len(emitter_rows)
                self._emitter_index[id(sh.emitter)] = len(emitter_rows)
                emitter_rows.append(dict(type="area", slot=slot(rad, where + " radiance"),
                                         shape=i, where=where))

        bsdf_rows = rows.rows
        film = self.sensor.film
        w = film.crop[2] if film.crop else film.width
        h = film.crop[3] if film.crop else film.height
        cap = max(1, min(64, SAMPLE_BUFFER_BYTES // max(1, (w + 8) * (h + 8) * 52)))
        n_tris = sum(int(np.asarray(sh.faces).reshape(-1, 3).shape[0]) for sh in scene.shapes)
        n_verts = sum(int(np.asarray(sh.vertices).reshape(-1, 3).shape[0]) for sh in scene.shapes)
        em_tris = sum(int(np.asarray(scene.shapes[r["shape"]].faces).reshape(-1, 3).shape[0])
                      for r in emitter_rows if r["type"] == "area")
        rf = film.rfilter

        def types_of(slots):  # the texture kinds compiled into the lookups (as type names)
            return tuple(sorted({self._slots[s][0].type for s in slots if 0 <= s < len(self._slots)}))

        kinds = (types_of(range(len(self._slots))),
                 tuple(sorted(field_kinds(bsdf_rows, types_of).items())),
                 types_of([r["slot"] for r in emitter_rows]),
                 types_of([r.get("scale_slot", -1) for r in emitter_rows]),
                 tuple(sorted({bsdf_rows[r["comp1"]]["type"] for r in bsdf_rows
                               if r["kind"] == 1 and r["comp1"] >= 0})))
        key = (len(self._slots),
               tuple(np.shape(t.data)[:2] for t, _ in self._slots if t.type == "bitmap"),
               len(bsdf_rows), len(emitter_rows), em_tris, capacity_class(n_tris),
               capacity_class(n_verts), capacity_class(len(scene.shapes)), int(max_leaf),
               film.width, film.height, tuple(film.crop) if film.crop else None,
               bool(film.sample_border), rf.type, getattr(rf, "radius", None),
               getattr(rf, "stddev", None), cap,
               # the kernels' static configuration (types compiled in, shaders, environment)
               tuple(sorted({(r["type"], r["kind"], r.get("pert", 0)) for r in bsdf_rows})),
               tuple(id(sh) for sh in self._shaders),
               tuple(id(t.extra["shader"]) for t, _ in self._slots if t.type == "shader"),
               tuple(r["type"] for r in emitter_rows),
               tuple(tuple(r["size"]) for r in emitter_rows if r["type"] == "envmap"), kinds)
        dset = _acquire(key)
        try:
            self._build(dset, scene, shape_bsdf, shape_emitter, bsdf_rows, emitter_rows,
                        max_leaf, cap)
        except _Mismatch:
            _discard(dset)
            dset = _DeviceSet(key)
            _POOL["live"][key] = _POOL["live"].get(key, 0) + 1
            self._build(dset, scene, shape_bsdf, shape_emitter, bsdf_rows, emitter_rows,
                        max_leaf, cap)
        except BaseException:
            _discard(dset)
            raise
        self._dset = dset
        weakref.finalize(self, _release, dset)
        self._versions = dict(scene.param_versions())

    def _build(self, dset, scene, shape_bsdf, shape_emitter, bsdf_rows, emitter_rows, max_leaf,
               cap):
        self.textures = _make(dset, "textures", TextureTable, self._slots)
        self.geometry = _make(dset, "geometry", Geometry, scene.shapes, shape_bsdf,
                              shape_emitter, max_leaf)
        self.bsdfs = _make(dset, "bsdfs", BSDFTable, self.textures, bsdf_rows, self._shaders)
        self.emitters = _make(dset, "emitters", EmitterTable, self.geometry, self.textures,
                              emitter_rows)
        self.camera = _make(dset, "camera", Camera, self.sensor, _where(scene, "sensor"))
        self.film = _make(dset, "film", Film, self.sensor, cap, _where(scene, "film"))
        self.integrator = _make(dset, "integrator", Integrator, self.geometry, self.bsdfs,
                                self.emitters, self.camera)

    @staticmethod
    def _emitter_row(em, slot, where):
        """Table row of a non-area emitter."""
        m = np.asarray(em.to_world, np.float64)
        rot = m[:3, :3] / np.maximum(np.linalg.norm(m[:3, :3], axis=0, keepdims=True), 1e-30)

        def const(name, default=1.0):
            t = em.params.get(name, Texture.constant(default))
            if isinstance(t, Texture) and t.type != "constant":
                raise SceneError(f"{em.type} light {name} must be a constant colour", where)
            return slot(t, f"{where} {name}")

        if em.type == "point":
            pos = em.position if em.position is not None else m[:3, 3]
            return dict(type="point", slot=const("intensity"), position=pos, shape=-1,
                        where=where)
        if em.type == "spot":
            cut = float(em.params.get("cutoff_angle", 20.0))
            beam = float(em.params.get("beam_width", cut * 0.75))
            if not 0 < cut <= 180 or not 0 <= beam <= cut:
                raise SceneError(f"spot light needs 0 < beam_width <= cutoff_angle <= 180 "
                                 f"degrees, got beam_width={beam}, cutoff_angle={cut}", where)
            tex = em.params.get("texture")  # projected texture: the row's scale slot
            return dict(type="spot", slot=const("intensity"), position=m[:3, 3], rotation=rot,
                        cutoff=np.radians(cut), beam=np.radians(beam), shape=-1, where=where,
                        **({} if tex is None else {"scale_slot": slot(tex, f"{where} texture")}))
        if em.type == "directional":
            return dict(type="directional", slot=const("irradiance"), rotation=rot, shape=-1,
                        where=where)
        if em.type == "constant":
            return dict(type="constant", slot=const("radiance"), shape=-1, where=where)
        if em.type == "envmap":
            tex = em.params.get("radiance")
            if not isinstance(tex, Texture) or tex.type != "bitmap":
                raise SceneError("envmap needs an image (its 'radiance' bitmap)", where)
            sc = em.params.get("scale") or Texture.constant(np.ones(1, np.float32))
            return dict(type="envmap", slot=slot(tex, f"{where} radiance"),
                        scale_slot=slot(sc, f"{where} scale"), rotation=rot, shape=-1,
                        texture=tex, size=tex.data.shape[:2], where=where)
        raise SceneError(f"emitter '{em.type}' is not supported by the renderer", where)

    def shaders(self) -> list:
        """The user shaders (BSDF and texture) compiled into this renderer's kernels."""
        return list(self._shaders) + list(self.textures.shader_list)

    # --- parameters ----------------------------------------------------------------------

    def update(self) -> list[str]:
        """Upload the scene parameters changed since the last upload; return their names."""
        versions = self.scene.param_versions()
        changed = [k for k, v in versions.items() if self._versions.get(k) != v]
        if not changed:
            return []
        pmap = self.scene.parameters()
        geometry_changed = False
        for name in changed:
            p = pmap.info(name)
            owner, kind = p.owner, p.kind
            if kind in ("vertex_positions", "to_world") and any(owner is s for s in self.scene.shapes):
                if kind == "to_world":
                    _apply_shape_to_world(owner)
                geometry_changed = True
            elif kind in ("to_world", "fov") and any(owner is s for s in self.scene.sensors):
                if owner is self.sensor:
                    self.camera.update(self.sensor)
            elif kind == "position":
                self.emitters.set_position(self._emitter_index[id(owner)], owner.position)
            else:
                tex = owner.params.get(p.key) if hasattr(owner, "params") else None
                if isinstance(tex, Texture) and id(tex) in self._slot_of:
                    self.textures.upload(self._slot_of[id(tex)])
                    if getattr(owner, "type", None) == "envmap" and p.key == "radiance":
                        self.emitters.update_env()
                else:
                    raise SceneError(f"parameter '{name}' cannot be updated by the renderer")
        if geometry_changed:
            self.geometry.refit_vertices(self.scene.shapes)
            self.emitters.update_areas()
        self.bsdfs.update_coats()  # roughplastic: re-tabulate the coat at a new alpha / eta
        self._versions = dict(versions)
        return changed

    # --- rendering -----------------------------------------------------------------------

    def nbytes(self) -> int:
        """Bytes of the per-render buffers (film sample buffers and accumulators)."""
        return self.film.nbytes()

    def render(self, spp=None, seed=0, aovs=(), spp_per_pass=None, progress=None,
               max_depth=None):
        """Render; returns (H, W, 3) float32 linear RGB, or a dict with 'color' and the
        requested AOVs ('depth', 'normal', 'albedo', 'alpha') when ``aovs`` is non-empty."""
        aovs = tuple(aovs)
        for a in aovs:
            if a not in AOV_NAMES:
                raise SceneError(f"unknown AOV '{a}' (expected {', '.join(AOV_NAMES)})")
        spp = int(spp if spp is not None else self.sensor.sampler.sample_count)
        if spp <= 0:
            raise SceneError(f"spp must be a positive integer, got {spp}")
        self.update()
        integ = self.scene.integrator
        md = integ.max_depth if max_depth is None else int(max_depth)
        if md < -1:
            raise SceneError(f"max_depth must be -1 (unbounded) or >= 0, got {md}")
        if integ.rr_depth <= 0:
            raise SceneError(f"rr_depth must be positive, got {integ.rr_depth}")
        per_pass = int(spp_per_pass) if spp_per_pass else min(self.film.capacity, spp)
        if per_pass <= 0:
            raise SceneError(f"spp_per_pass must be positive, got {spp_per_pass}")
        if per_pass > self.film.capacity:
            self.film = Film(self.sensor, per_pass, _where(self.scene, "film"))
        film = self.film
        with_aovs = bool(aovs)
        if with_aovs:
            film.ensure_aovs()
            film.clear_aovs()
        film.clear()
        n_em = int(integ.params.get("emitter_samples", integ.params.get("shading_samples", 1)))
        n_bsdf = int(integ.params.get("bsdf_samples", integ.params.get("shading_samples", 1)))
        if integ.type == "direct" and (n_em < 0 or n_bsdf < 0 or n_em + n_bsdf == 0):
            raise SceneError("direct integrator: emitter_samples and bsdf_samples must be >= 0, "
                             "not both 0")
        cx, cy = film.crop_offset
        done = 0
        while done < spp:
            n = min(per_pass, spp - done)
            with reported(self.shaders()):
                self.integrator.sample_pass(film, n, done, int(seed) & 0xFFFFFFFF, integ.type,
                                            with_aovs, depth_limit(md), int(integ.rr_depth),
                                            int(bool(integ.hide_emitters)), n_em, n_bsdf, cx,
                                            cy, int(self.sensor.film.width))
            film.gather(n, with_aovs)
            done += n
            if progress is not None:
                progress(done, spp)
        img = film.develop()
        if not aovs:
            return img
        out = {"color": img}
        maps = film.develop_aovs()
        for a in aovs:
            out[a] = maps[a]
        return out


    # --- derivatives -------------------------------------------------------------------------

    def _param_slot(self, name):
        """(canonical name, texture slot, 'value0' | 'value1' | 'texels') of a parameter."""
        from .differentiable import GradientError

        info = self.scene.parameters().info(name)
        if info.discontinuous:  # vjp / jvp route these to edges_api before calling this
            raise GradientError(f"parameter '{info.name}' moves geometry or the camera: it is "
                                "differentiated by edge sampling, not through a texture slot")
        tex = info.owner.params.get(info.key) if hasattr(info.owner, "params") else None
        if not isinstance(tex, Texture) or id(tex) not in self._slot_of:
            raise GradientError(f"parameter '{info.name}' is not differentiable by the renderer yet")
        slot = self._slot_of[id(tex)]
        parts = info.field.split(".")
        if len(parts) > 2 and parts[2] == "data":
            return info.name, slot, "texels"
        if len(parts) > 2 and parts[2] == "color1":
            return info.name, slot, "value1"
        return info.name, slot, "value0"

    def _diff_integrator(self, max_depth, spp_per_pass=None):
        from .differentiable import DiffIntegrator, replay_depth

        if self.scene.integrator.type != "path":
            from .differentiable import GradientError

            raise GradientError(f"derivatives need the 'path' integrator, the scene uses "
                                f"'{self.scene.integrator.type}'")
        depth = replay_depth(max_depth)
        d = getattr(self, "_diff", None)
        if d is None or d.depth != depth or (spp_per_pass and d.n != spp_per_pass):
            name = ("diff", depth, spp_per_pass, id(self.film))
            # A weak proxy: the device set (kept by this Renderer's finalizer until it runs)
            # must not reference the Renderer, or the Renderer would never be collected.
            me = weakref.proxy(self)
            try:
                d = _make(self._dset, name, DiffIntegrator, me, depth, spp_per_pass)
            except _Mismatch:
                self._dset.objs.pop(name, None)
                d = _make(self._dset, name, DiffIntegrator, me, depth, spp_per_pass)
            self._diff = d
        return d

    def _diff_settings(self, spp, max_depth):
        spp = int(spp if spp is not None else self.sensor.sampler.sample_count)
        if spp <= 0:
            raise SceneError(f"spp must be a positive integer, got {spp}")
        integ = self.scene.integrator
        md = integ.max_depth if max_depth is None else int(max_depth)
        return spp, md, integ

    def vjp(self, d_image, params, spp=None, seed=0, max_depth=None, spp_per_pass=None,
            progress=None, edges=None) -> dict:
        """Reverse mode: ``{name: d(sum(d_image * render)) / d(parameter)}`` for the adjoint
        image ``d_image`` (H, W, 3), replaying ``spp`` samples per pixel with ``seed``.

        Parameters that move geometry, a point light or the camera (``*.vertex_positions``,
        ``<shape>.to_world``, ``<sensor>.to_world``, ``<sensor>.fov``, ``<light>.position``)
        get their visibility (boundary) derivative by edge sampling (``edges.py``) and their
        interior derivative by a replay with differentiable geometry (``diff_geometry.py``);
        ``edges`` is an :class:`~diffrender.core.edges_api.EdgeOptions`, a dict of its fields,
        or ``False`` (no edge sampling: the interior-only derivative). See docs/edge-sampling.md.
        """
        from .differentiable import GradientError
        from .integrators import depth_limit

        d_image = np.asarray(d_image, np.float32)
        if d_image.ndim == 2:
            d_image = np.repeat(d_image[:, :, None], 3, axis=2)
        want = (self.film.height, self.film.width, 3)
        if d_image.shape != want:
            raise GradientError(f"adjoint image has shape {d_image.shape}, expected {want}")
        if isinstance(params, str):
            params = [params]
        pmap = self.scene.parameters()
        geo = [n for n in params if pmap.resolve(n) and pmap.info(n).discontinuous]
        tex_params = [n for n in params if n not in geo]
        geo_info = [self._geom_param(n) for n in geo]
        slots = [self._param_slot(n) for n in tex_params]
        spp, md, integ = self._diff_settings(spp, max_depth)
        self.update()
        out = {}
        if tex_params:
            dint = self._diff_integrator(md, spp_per_pass)
            tex = self.textures
            # Only the requested constant slots are differentiated (no adjoint atomics for
            # the others); bitmaps are always differentiated.
            tex.differentiate({slot for _, slot, where in slots if where != "texels"})
            try:
                with reported(self.shaders()):
                    dint.vjp(d_image, spp, int(seed) & 0xFFFFFFFF, depth_limit(md), integ,
                             int(self.sensor.film.width), progress)
            finally:
                tex.differentiate()
            vg = tex.values.grad.to_numpy()
            tg = None
            for requested, (name, slot, where) in zip(tex_params, slots):
                if where == "texels":
                    if tg is None:
                        tg = tex.texels.grad.to_numpy()
                    _, off, h, w = tex._slot_bitmap[slot]
                    g = tg[off:off + h * w].reshape(h, w, 3)
                    shape = np.shape(self.scene.parameters()[name])
                    g = g[:, :, :shape[2]] if len(shape) == 3 and shape[2] < 3 else g
                else:
                    g = vg[slot, 0 if where == "value0" else 1].copy()
                    shape = np.shape(self.scene.parameters()[name])
                    if shape != (3,):
                        g = np.asarray(g.sum()).reshape(shape)
                out[requested] = g.astype(np.float64)
        if geo:
            from .edges_api import EdgeOptions, geometry_vjp

            opts = EdgeOptions.of(edges)
            grads = geometry_vjp(self, d_image, geo_info, opts, spp, int(seed) & 0xFFFFFFFF, md, integ)
            for requested, g in zip(geo, grads):
                out[requested] = g
        return {n: out[n] for n in params}

    def _geom_param(self, name):
        from .edges_api import geom_param

        return geom_param(self, name)

    def jvp(self, tangents: dict, spp=None, seed=0, max_depth=None, spp_per_pass=None,
            edges=None) -> np.ndarray:
        """Forward mode: the image tangent ``sum_k dI/d(theta_k) . t_k`` (H, W, 3) for
        ``tangents = {name: t_k}`` (t_k shaped like the parameter). Geometry / camera / light
        position tangents are handled by edge sampling (``edges``: see :meth:`vjp`)."""
        from ..engine import require_forward_mode
        from .integrators import depth_limit

        pmap = self.scene.parameters()
        geo = {n: t for n, t in tangents.items() if pmap.info(n).discontinuous}
        tangents = {n: t for n, t in tangents.items() if n not in geo}
        spp, md, integ = self._diff_settings(spp, max_depth)
        self.update()
        out = np.zeros((self.film.height, self.film.width, 3), np.float32)
        if geo:
            from .edges_api import EdgeOptions, geometry_jvp

            infos = {n: self._geom_param(n) for n in geo}
            out += geometry_jvp(self, {n: (infos[n], t) for n, t in geo.items()}, EdgeOptions.of(edges),
                                spp, int(seed) & 0xFFFFFFFF, md, integ).astype(np.float32)
        if not tangents:
            return out
        require_forward_mode("render_jvp")
        tex = self.textures
        seed_values = np.zeros((tex.n_slots, 2, 3), np.float32)
        seed_texels = None
        for name, t in tangents.items():
            cname, slot, where = self._param_slot(name)
            shape = np.shape(self.scene.parameters()[cname])
            t = np.asarray(t, np.float32)
            if t.shape != shape:
                try:
                    t = np.broadcast_to(t, shape)
                except ValueError:
                    from .differentiable import GradientError

                    raise GradientError(f"tangent of '{name}' has shape {t.shape}, expected {shape}") from None
            if where == "texels":
                if seed_texels is None:
                    seed_texels = np.zeros(tex.texels.shape + (3,), np.float32)
                _, off, h, w = tex._slot_bitmap[slot]
                tt = t if t.ndim == 3 and t.shape[2] == 3 else np.broadcast_to(t.reshape(h, w, -1), (h, w, 3))
                seed_texels[off:off + h * w] += tt.reshape(-1, 3)
            else:
                seed_values[slot, 0 if where == "value0" else 1] += np.broadcast_to(t, (3,))
        dint = self._diff_integrator(md, spp_per_pass)
        fw = int(self.sensor.film.width)
        with reported(self.shaders()):
            out += self._jvp_passes(dint, tex, seed_values, seed_texels, spp, seed, md, integ)
        return out

    def _jvp_passes(self, dint, tex, seed_values, seed_texels, spp, seed, md, integ):
        from .integrators import depth_limit

        out = np.zeros((self.film.height, self.film.width, 3), np.float32)
        fw = int(self.sensor.film.width)
        if np.any(seed_values):
            tex.differentiate(np.flatnonzero(np.any(seed_values != 0, axis=(1, 2))))
            try:
                out += dint.jvp(tex.values, seed_values, spp,
                                int(seed) & 0xFFFFFFFF, depth_limit(md), integ, fw)
            finally:
                tex.differentiate()
        if seed_texels is not None and np.any(seed_texels):
            out += dint.jvp(tex.texels, seed_texels, spp, int(seed) & 0xFFFFFFFF, depth_limit(md), integ, fw)
        return out


def _apply_shape_to_world(shape):
    if shape.local_vertices is None:
        raise SceneError(f"shape '{shape.id}': to_world changed but the shape has no "
                         "object-space vertices")
    m = np.asarray(shape.to_world, np.float64)
    lv = np.asarray(shape.local_vertices, np.float64)
    shape.vertices = lv @ m[:3, :3].T + m[:3, 3]
    if shape.local_normals is not None:
        n = np.asarray(shape.local_normals, np.float64) @ np.linalg.inv(m[:3, :3])
        shape.normals = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)


def render_vjp(scene, d_image, params, spp=None, seed=0, sensor=0, max_depth=None, edges=None):
    """Reverse mode: ``{name: gradient}`` of ``sum(d_image * render(scene))``; see
    :meth:`Renderer.vjp` (``edges``: edge-sampling options for geometry / camera parameters)."""
    return Renderer(scene, sensor=sensor).vjp(d_image, params, spp=spp, seed=seed, max_depth=max_depth,
                                              edges=edges)


def render_jvp(scene, tangents, spp=None, seed=0, sensor=0, max_depth=None, edges=None):
    """Forward mode: the gradient image ``dI/dtheta . t``; see :meth:`Renderer.jvp`."""
    return Renderer(scene, sensor=sensor).jvp(tangents, spp=spp, seed=seed, max_depth=max_depth,
                                              edges=edges)


def render(scene, spp=None, seed=0, sensor=0, aovs=(), spp_per_pass=None, progress=None,
           max_depth=None):
    """Render ``scene`` once (builds a :class:`Renderer`); see :meth:`Renderer.render`."""
    return Renderer(scene, sensor=sensor).render(spp=spp, seed=seed, aovs=aovs,
                                                 spp_per_pass=spp_per_pass, progress=progress,
                                                 max_depth=max_depth)
