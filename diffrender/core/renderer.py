"""The Renderer: uploads a Scene once, renders it many times.

The device-set pool lives in :mod:`.pool`, the scene upload (model -> table rows, parameter
changes -> components) in :mod:`.upload`; this module renders and routes derivatives."""
from __future__ import annotations

import contextlib
import sys
import weakref

import numpy as np

from ..engine import ensure_init, launch, takes_in_place
from ..errors import ImageError, SceneError
from ..scene.model import Scene, Sensor, Texture
from .ad import (DiffIntegrator, EdgeOptions, GeometryDerivatives, GradientError, geom_param,
                 replay_depth)
from .cache import cache_of, changed_values, drop_cached, remember
from .film import Film, host_image
from .integrators import depth_limit
from .pool import POOL
from .pool import Mismatch as _Mismatch
from .pool import make as _make
from .shaders import reported
from .upload import MESH_ATTRIBUTE, SceneUpload, where_in

AOV_NAMES = ("depth", "normal", "albedo", "alpha")
SUPPORTED_INTEGRATORS = ("path", "direct")
COMPONENTS = ("textures", "geometry", "bsdfs", "emitters", "camera", "film", "media",
              "integrator")


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
        # The one-call functions' Renderer of this scene goes back to the pool: this one can
        # take its device set (same fields, no recompilation) instead of compiling a new one.
        drop_cached(scene)
        self._geo_ad = None  # GeometryDerivatives, made by the first geometry derivative
        sensors = scene.sensors or [Sensor()]  # a hand-built scene without one: the default
        if not 0 <= sensor < len(sensors):
            raise SceneError(f"the scene has {len(sensors)} sensor(s); sensor {sensor} "
                             "does not exist", scene.source)
        self.sensor_index = sensor
        self.sensor = sensors[sensor]
        integ = scene.integrator
        if integ.type not in SUPPORTED_INTEGRATORS:
            raise SceneError(f"integrator '{integ.type}' is not supported (expected path or "
                             "direct)", where_in(scene, "integrator"))
        up = SceneUpload(scene, self.sensor, max_leaf)
        self._upload = up
        self._slots, self._slot_of, self._shaders = up.slots, up.slot_of, up.shaders
        self._emitter_index = up.emitter_index
        dset = POOL.acquire(up.key)
        try:
            self._build(dset)
        except _Mismatch:
            POOL.discard(dset)
            dset = POOL.fresh(up.key)
            try:
                self._build(dset)
            except BaseException:
                POOL.discard(dset)
                raise
        except BaseException:
            POOL.discard(dset)
            raise
        self._dset = dset
        weakref.finalize(self, POOL.release, dset)
        self._versions = dict(scene.param_versions())

    def _build(self, dset):
        for name, obj in self._upload.build(dset).items():
            setattr(self, name, obj)

    def shaders(self) -> list:
        """The user shaders (BSDF and texture) compiled into this renderer's kernels."""
        return list(self._shaders) + list(self.textures.shader_list)

    # --- parameters ----------------------------------------------------------------------

    def update(self, names=None) -> list[str]:
        """Upload the scene parameters changed since the last upload (assigned through
        ``traverse``; or ``names``, e.g. arrays edited in place); return their names."""
        versions = self.scene.param_versions()
        changed = [k for k, v in versions.items() if self._versions.get(k) != v]
        changed += [k for k in names or () if k not in changed]
        if not changed:
            return []
        self._upload.react(self, changed)
        self._versions = dict(versions)
        return changed

    # --- rendering -----------------------------------------------------------------------

    def nbytes(self) -> int:
        """Bytes of the per-render buffers (film sample buffers and accumulators)."""
        return self.film.nbytes()

    def render(self, spp=None, seed=0, aovs=(), spp_per_pass=None, progress=None,
               max_depth=None, out=None):
        """Render; returns (H, W, 3) float32 linear RGB, or a dict with 'color' and the
        requested AOVs ('depth', 'normal', 'albedo', 'alpha') when ``aovs`` is non-empty.

        ``out``: a writable float32 C-contiguous (H, W, 3) array of another framework on this
        device (a torch tensor on the CPU backend, a CUDA tensor on CUDA): the image is
        developed into it in place, through DLPack, and ``out`` is returned (no copy, no host
        round trip; anything else is a one-line ImageError)."""
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
            self.film = Film(self.sensor, per_pass, where_in(self.scene, "film"))
        film = self.film
        with_aovs = bool(aovs)
        if with_aovs:
            film.ensure_aovs()
            film.clear_aovs()
        launch(film.clear)
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
                launch(self.integrator.sample_pass, film, n, done, int(seed) & 0xFFFFFFFF,
                       integ.type, with_aovs, depth_limit(md), int(integ.rr_depth),
                       int(bool(integ.hide_emitters)), n_em, n_bsdf, cx, cy,
                       int(self.sensor.film.width))
            launch(film.gather, n, with_aovs)
            done += n
            if progress is not None:
                progress(done, spp)
        img = film.develop() if out is None else film.develop_into(out)
        if not aovs:
            return img
        out = {"color": img}
        maps = film.develop_aovs()
        for a in aovs:
            out[a] = maps[a]
        return out


    # --- several sensors in one call (batched views) -----------------------------------------

    VIEW_SEED_STRIDE = 0x9E3779B9  # seed offset between the views of a batch (golden-ratio step)

    @staticmethod
    def _film_key(sensor):
        f = sensor.film
        rf = f.rfilter
        return (f.width, f.height, tuple(f.crop) if f.crop else None, bool(f.sample_border),
                rf.type, getattr(rf, "radius", None), getattr(rf, "stddev", None))

    @contextlib.contextmanager
    def viewing(self, index):
        """Render sensor ``index`` with this Renderer's fields and kernels inside the ``with``
        block: only the camera is re-uploaded (its film must have the size and the pixel filter
        of this Renderer's sensor). ``render``, ``vjp`` and ``jvp`` then see that sensor (its
        ``to_world`` / ``fov`` derivatives included)."""
        sensors = self.scene.sensors
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < len(sensors):
            raise SceneError(f"the scene has {len(sensors)} sensor(s); sensor {index!r} does not "
                             "exist", self.scene.source)
        view = sensors[int(index)]
        where = f"{self.scene.source or '<scene>'}: sensor {index}"
        if view is self.sensor:
            yield self
            return
        if self._film_key(view) != self._film_key(self.sensor):
            raise SceneError(f"sensor {index} has another film (size, crop or pixel filter) than "
                             f"sensor {self.sensor_index}: views rendered by one Renderer share "
                             "the film", where)
        self.update()  # pending parameter changes, uploaded with the current camera
        home = (self.sensor_index, self.sensor)
        self.sensor_index, self.sensor = int(index), view
        self.camera.update(view, where)
        try:
            yield self
        finally:
            self.sensor_index, self.sensor = home
            self.camera.update(self.sensor)

    @staticmethod
    def view_seed(seed, k):
        """The seed of the ``k``-th view of a batch rendered with ``seed`` (view 0: ``seed``)."""
        return (int(seed) + int(k) * Renderer.VIEW_SEED_STRIDE) & 0xFFFFFFFF

    def render_views(self, sensors, spp=None, seed=0, out=None, **kwargs) -> np.ndarray:
        """Render the sensors ``sensors`` (indices) with one upload and one compilation; returns a
        ``(V, H, W, 3)`` stack. View ``k`` uses ``view_seed(seed, k)``; keyword arguments as
        :meth:`render` (no AOVs). ``out``: a (V, H, W, 3) device array to develop the views
        into in place (see :meth:`render`)."""
        sensors = list(sensors)
        if out is not None:
            want = (len(sensors), self.film.height, self.film.width, 3)
            got = tuple(int(n) for n in getattr(out, "shape", ()))
            if got != want:
                raise ImageError(f"output stack: expected shape {want}, got {got}")
        imgs = []
        for k, i in enumerate(sensors):
            with self.viewing(i):
                imgs.append(self.render(spp=spp, seed=self.view_seed(seed, k),
                                        out=None if out is None else out[k], **kwargs))
        if out is not None:
            return out
        return np.stack(imgs) if imgs else np.zeros((0, self.film.height, self.film.width, 3),
                                                    np.float32)

    def vjp_views(self, d_images, params, sensors, spp=None, seed=0, **kwargs) -> dict:
        """Reverse mode over a batch of views: ``{name: sum_k d<d_images[k], render_k>/dtheta}``
        for the adjoint stack ``d_images`` (V, H, W, 3) of :meth:`render_views`' output (view
        ``k`` replays ``view_seed(seed, k)``); keyword arguments as :meth:`vjp`."""
        self._refuse_media()
        sensors = list(sensors)
        if isinstance(params, str):
            params = [params]
        if not takes_in_place(d_images):
            d_images = np.asarray(d_images, np.float32)
        if len(d_images.shape) != 4 or d_images.shape[0] != len(sensors):
            raise GradientError(f"adjoint stack has shape {tuple(d_images.shape)}, expected "
                                f"({len(sensors)}, H, W, 3): one adjoint image per sensor")
        total = None
        for k, i in enumerate(sensors):
            with self.viewing(i):
                g = self.vjp(d_images[k], params, spp=spp, seed=self.view_seed(seed, k), **kwargs)
            total = g if total is None else {n: total[n] + g[n] for n in total}
        return total if total is not None else {}

    # --- derivatives -------------------------------------------------------------------------

    def _param_slot(self, name):
        """(canonical name, texture slot, 'value0' | 'value1' | 'texels') of a parameter."""
        info = self.scene.parameters().info(name)
        if info.discontinuous:  # vjp / jvp route these to ad.derivatives before calling this
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

    def _refuse_media(self):
        if self.media.enabled:
            raise GradientError(where_in(self.scene, "derivatives of scenes with participating "
                                         "media are not supported (the media are rendered, not "
                                         "differentiated); remove the medium references to "
                                         "differentiate the surfaces"))

    def _diff_integrator(self, max_depth, spp_per_pass=None):
        if self.scene.integrator.type != "path":
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
        get their visibility (boundary) derivative by edge sampling (``ad/samplers.py``) and
        their interior derivative by a replay with differentiable geometry (``ad/geometry.py``);
        ``edges`` is an :class:`~diffrender.core.ad.EdgeOptions`, a dict of its fields,
        or ``False`` (no edge sampling: the interior-only derivative). See docs/edge-sampling.md.
        """

        self._refuse_media()
        want = (self.film.height, self.film.width, 3)
        device_image = takes_in_place(d_image)  # read in place by the kernels (DLPack)
        if not device_image:
            d_image = np.asarray(d_image, np.float32)
            if d_image.ndim == 2:
                d_image = np.repeat(d_image[:, :, None], 3, axis=2)
        if tuple(d_image.shape) != want:
            raise GradientError(f"adjoint image has shape {tuple(d_image.shape)}, expected {want}")
        if isinstance(params, str):
            params = [params]
        pmap = self.scene.parameters()
        geo = [n for n in params if pmap.resolve(n) and pmap.info(n).discontinuous]
        if geo:
            self._note_texture_edges(pmap)
        tex_params = [n for n in params if n not in geo]
        geo_info = [self._geom_param(n) for n in geo]
        attrs = [n for n in tex_params if pmap.info(n).kind == MESH_ATTRIBUTE]
        slots = [self._param_slot(n) for n in tex_params if n not in attrs]
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
            if attrs:
                ag = tex.mesh.values.grad.to_numpy()
                for requested in attrs:
                    a = pmap.info(requested)
                    out[requested] = tex.mesh.gradient(ag, a.owner, a.key, pmap[requested])
            tg = None
            for requested, (name, slot, where) in zip([n for n in tex_params if n not in attrs],
                                                      slots):
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
            opts = EdgeOptions.of(edges)
            if device_image:  # edge samples weigh the adjoint image on the host
                d_image = host_image(d_image, want, "adjoint image")
            grads = self._geometry_derivatives().vjp(d_image, geo_info, opts, spp,
                                                     int(seed) & 0xFFFFFFFF, md, integ)
            for requested, g in zip(geo, grads):
                out[requested] = g
        return {n: out[n] for n in params}

    def _geom_param(self, name):
        return geom_param(self, name)

    def _geometry_derivatives(self):
        """The edge sampler and geometry replay of this Renderer (made on first use)."""
        if self._geo_ad is None:
            self._geo_ad = GeometryDerivatives(weakref.proxy(self))
        return self._geo_ad

    def _note_texture_edges(self, pmap) -> None:
        """Once per Renderer: say on stderr which textures are discontinuous in uv
        (``checkerboard``, ``nearest``-filtered bitmaps). Their edges slide when geometry or the
        camera moves, and no edge term covers them (docs/edge-sampling.md), so geometry and
        camera derivatives miss that part where they are seen."""
        if getattr(self, "_texture_edges_noted", False):
            return
        self._texture_edges_noted = True
        names = set()
        for n in pmap:
            p = pmap.resolve(n)
            parts = p.field.split(".")
            if parts[0] != "params":
                continue
            tex = p.owner.params.get(parts[1])
            if isinstance(tex, Texture) and (tex.type == "checkerboard" or (
                    tex.type == "bitmap" and tex.filter_type == "nearest")):
                names.add(n.rsplit(".", 1)[0] if len(parts) > 2 else n)
        if names:
            print("diffrender: note: geometry / camera derivatives do not include the edges of "
                  f"the discontinuous texture{'s' if len(names) > 1 else ''} {', '.join(sorted(names))} "
                  "(checkerboard, or bitmap with filter_type nearest: no edge term covers texture "
                  "edges; a bilinear bitmap is continuous; see docs/edge-sampling.md)", file=sys.stderr)

    def jvp(self, tangents: dict, spp=None, seed=0, max_depth=None, spp_per_pass=None,
            edges=None) -> np.ndarray:
        """Forward mode: the image tangent ``sum_k dI/d(theta_k) . t_k`` (H, W, 3) for
        ``tangents = {name: t_k}`` (t_k shaped like the parameter). Geometry / camera / light
        position tangents are handled by edge sampling (``edges``: see :meth:`vjp`)."""
        from ..engine import require_forward_mode

        self._refuse_media()
        pmap = self.scene.parameters()
        geo = {n: t for n, t in tangents.items() if pmap.info(n).discontinuous}
        if geo:
            self._note_texture_edges(pmap)
        tangents = {n: t for n, t in tangents.items() if n not in geo}
        spp, md, integ = self._diff_settings(spp, max_depth)
        self.update()
        out = np.zeros((self.film.height, self.film.width, 3), np.float32)
        if geo:
            infos = {n: self._geom_param(n) for n in geo}
            out += self._geometry_derivatives().jvp(
                {n: (infos[n], t) for n, t in geo.items()}, EdgeOptions.of(edges), spp,
                int(seed) & 0xFFFFFFFF, md, integ).astype(np.float32)
        if not tangents:
            return out
        require_forward_mode("render_jvp")
        tex = self.textures
        seed_values = np.zeros((tex.n_slots, 2, 3), np.float32)
        seed_texels = None
        seed_attrs = None
        for name, t in tangents.items():
            if pmap.info(name).kind == MESH_ATTRIBUTE:
                a = pmap.info(name)
                if seed_attrs is None:
                    seed_attrs = np.zeros(tex.mesh.values.shape + (3,), np.float32)
                shape = np.shape(pmap[name])
                try:
                    t = np.broadcast_to(np.asarray(t, np.float32), shape)
                except ValueError:
                    raise GradientError(f"tangent of '{name}' has shape {np.shape(t)}, expected "
                                        f"{shape}") from None
                tex.mesh.add_seed(seed_attrs, a.owner, a.key, t)
                continue
            cname, slot, where = self._param_slot(name)
            shape = np.shape(self.scene.parameters()[cname])
            t = np.asarray(t, np.float32)
            if t.shape != shape:
                try:
                    t = np.broadcast_to(t, shape)
                except ValueError:
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
            out += self._jvp_passes(dint, tex, seed_values, seed_texels, spp, seed, md, integ,
                                    seed_attrs)
        return out

    def _jvp_passes(self, dint, tex, seed_values, seed_texels, spp, seed, md, integ,
                    seed_attrs=None):

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
        if seed_attrs is not None and np.any(seed_attrs):
            out += dint.jvp(tex.mesh.values, seed_attrs, spp, int(seed) & 0xFFFFFFFF,
                            depth_limit(md), integ, fw)
        return out


def cached_renderer(scene, sensor=0) -> Renderer:
    """The Renderer of ``scene`` and ``sensor`` that the one-call functions share: built on
    first use and kept on the scene (:mod:`.cache`); parameters changed since its last use are
    uploaded in place, a changed structure builds a new one."""
    if not isinstance(scene, Scene):
        return Renderer(scene, sensor=sensor)  # its one-line error
    cache = cache_of(scene)
    digest, r, changed, tracked = changed_values(scene, cache, sensor)
    if r is None:
        r = Renderer(scene, sensor=sensor)
    else:
        r.update(changed)
    remember(cache, sensor, digest, r, tracked)
    return r


def render_vjp(scene, d_image, params, spp=None, seed=0, sensor=0, max_depth=None, edges=None):
    """Reverse mode: ``{name: gradient}`` of ``sum(d_image * render(scene))``; see
    :meth:`Renderer.vjp` (``edges``: edge-sampling options for geometry / camera parameters).
    The scene's Renderer is cached (:func:`cached_renderer`)."""
    return cached_renderer(scene, sensor).vjp(d_image, params, spp=spp, seed=seed, max_depth=max_depth,
                                              edges=edges)


def render_jvp(scene, tangents, spp=None, seed=0, sensor=0, max_depth=None, edges=None):
    """Forward mode: the gradient image ``dI/dtheta . t``; see :meth:`Renderer.jvp` (the
    scene's Renderer is cached)."""
    return cached_renderer(scene, sensor).jvp(tangents, spp=spp, seed=seed, max_depth=max_depth,
                                              edges=edges)


def render(scene, spp=None, seed=0, sensor=0, aovs=(), spp_per_pass=None, progress=None,
           max_depth=None):
    """Render ``scene``; see :meth:`Renderer.render`. The scene's Renderer is built on the first
    call and reused by later ones (:func:`cached_renderer`)."""
    return cached_renderer(scene, sensor).render(spp=spp, seed=seed, aovs=aovs,
                                                 spp_per_pass=spp_per_pass, progress=progress,
                                                 max_depth=max_depth)
