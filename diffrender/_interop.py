"""What ``diffrender.torch`` and ``diffrender.jax`` share: the Renderer kept per (scene, sensor),
writing parameter values into the scene, the decorrelated adjoint seed, and the render / vjp /
jvp calls in NumPy. Neither framework is imported here."""
from __future__ import annotations

import numpy as np

from .errors import SceneError
from .scene.model import Scene

# Attribute under which a Scene keeps its interop Renderers ({sensor: _Binding}). On the scene,
# not in a module dict: the Renderers live and die with their scene (and its parameters).
_CACHE_ATTR = "_interop_bindings"
# Mixing constants of the 32-bit hash that derives the adjoint seed (lowbias32, C. Wellons).
_MIX_XOR = 0x5BD1E995
_MIX_MUL1 = 0x7FEB352D
_MIX_MUL2 = 0x846CA68B
_U32 = 0xFFFFFFFF


def adjoint_seed(seed: int) -> int:
    """The seed of the adjoint (gradient) pass for a primal render with ``seed``: a 32-bit hash
    of it, never equal to it, so the gradient's random numbers are independent of the image's
    (Mitsuba's ``mi.render`` does the same when ``seed_grad`` is not given)."""
    x = (int(seed) ^ _MIX_XOR) & _U32
    x ^= x >> 16
    x = (x * _MIX_MUL1) & _U32
    x ^= x >> 15
    x = (x * _MIX_MUL2) & _U32
    x ^= x >> 16
    return x if x != (int(seed) & _U32) else (x + 1) & _U32


class _Binding:
    """One Renderer of a scene with a parameter map kept for it (built once: the map's
    constructor walks the whole scene)."""

    def __init__(self, renderer):
        self.renderer = renderer
        self.scene = renderer.scene
        self.params = self.scene.parameters()
        self._shapes: dict[str, tuple] = {}

    def image_shape(self, views=None) -> tuple:
        film = self.renderer.film
        hw = (int(film.height), int(film.width), 3)
        return hw if views is None else (len(views),) + hw

    def shape(self, name: str) -> tuple:
        """The shape the scene stores parameter ``name`` with."""
        if name not in self._shapes:
            self._shapes[name] = tuple(np.shape(self.params.resolve(name).get()))
        return self._shapes[name]

    def check(self, name: str, shape) -> None:
        """A one-line error unless a value of ``shape`` can be assigned to ``name``."""
        want = self.shape(name)  # raises SceneError for an unknown name (with suggestions)
        shape = tuple(shape)
        if shape != want and not (int(np.prod(shape)) == 1 and want == (3,)):
            raise SceneError(f"parameter '{name}' has shape {want}, got a value of shape {shape}")

    def assign(self, values: dict) -> None:
        """Write ``{name: ndarray}`` into the scene, skipping values it already holds (a write
        re-uploads; moving geometry rebuilds the BVH)."""
        for name, v in values.items():
            v = np.asarray(v)
            cur = np.asarray(self.params.resolve(name).get())
            if cur.shape == v.shape and np.array_equal(cur, v):
                continue
            if v.size == 1 and cur.shape == (3,) and np.all(cur == v.reshape(-1)[0]):
                continue
            self.params[name] = v

    def render(self, values: dict, spp, seed, max_depth, views=None, out=None) -> np.ndarray:
        """(H, W, 3), or (V, H, W, 3) for a list of sensor indices ``views``; developed into
        ``out`` in place when given (a device array: ``Renderer.render``)."""
        self.assign(values)
        if views is not None:
            return self.renderer.render_views(views, spp=spp, seed=seed, max_depth=max_depth,
                                              out=out)
        return self.renderer.render(spp=spp, seed=seed, max_depth=max_depth, out=out)

    def vjp(self, values: dict, d_image, names, spp, seed, max_depth, edges, views=None) -> dict:
        """``{name: gradient}`` reduced to the shape of each value in ``values``."""
        self.assign(values)  # (the Renderer takes d_image as NumPy or in place)
        if views is not None:
            g = self.renderer.vjp_views(d_image, list(names), views, spp=spp, seed=seed,
                                        max_depth=max_depth, edges=edges)
        else:
            g = self.renderer.vjp(d_image, list(names), spp=spp, seed=seed,
                                  max_depth=max_depth, edges=edges)
        return {n: reduce_to(g[n], np.shape(values[n])) for n in names}

    def jvp(self, values: dict, tangents: dict, spp, seed, max_depth, edges, views=None) -> np.ndarray:
        self.assign(values)
        full = {n: np.broadcast_to(np.asarray(t, np.float64), self.shape(n)) if np.size(t) == 1
                else np.asarray(t, np.float64) for n, t in tangents.items()}
        r = self.renderer
        if views is None:
            return r.jvp(full, spp=spp, seed=seed, max_depth=max_depth, edges=edges)
        out = []
        for k, i in enumerate(views):
            with r.viewing(i):
                out.append(r.jvp(full, spp=spp, seed=r.view_seed(seed, k), max_depth=max_depth,
                                 edges=edges))
        return np.stack(out)


def reduce_to(g, shape) -> np.ndarray:
    """The gradient ``g`` of a parameter the caller passed with ``shape`` (a single number for an
    RGB parameter gets the sum of the three channels)."""
    g = np.asarray(g, np.float64)
    shape = tuple(shape)
    if g.shape == shape:
        return g
    if int(np.prod(shape)) == 1:
        return np.asarray(g.sum()).reshape(shape)
    return g.reshape(shape)


def views_of(sensor):
    """``(sensor index for the Renderer, list of views or None)`` for ``sensor``: an index, or
    a list / tuple of indices (a batch of views rendered by the Renderer of the first)."""
    if isinstance(sensor, (list, tuple)):
        views = [int(s) for s in sensor]
        if not views:
            raise SceneError("sensor=[]: a batch of views needs at least one sensor index")
        return views[0], views
    return sensor, None


def binding(scene_or_renderer, sensor: int = 0, batch: bool = False) -> _Binding:
    """The cached Renderer for ``scene_or_renderer``: a :class:`~diffrender.Renderer` is used as
    is; for a Scene, one Renderer per sensor is built on first use and kept on the scene, so a
    loop of calls uploads and compiles once (later parameter writes are uploaded by the
    Renderer). Structural edits of the scene (adding shapes, swapping a BSDF type) need a new
    Renderer: pass one explicitly."""
    from .core.renderer import Renderer

    if isinstance(scene_or_renderer, Renderer):
        b = getattr(scene_or_renderer, _CACHE_ATTR, None)
        if b is None:
            b = _Binding(scene_or_renderer)
            setattr(scene_or_renderer, _CACHE_ATTR, b)
        if not batch and sensor not in (0, b.renderer.sensor_index):
            raise SceneError(f"sensor={sensor} given with a Renderer of sensor "
                             f"{b.renderer.sensor_index}: build the Renderer with that sensor")
        return b
    if not isinstance(scene_or_renderer, Scene):
        raise SceneError("expected a diffrender Scene (diffrender.load_scene) or a Renderer, got "
                         f"{type(scene_or_renderer).__name__}")
    cache = scene_or_renderer.__dict__.setdefault(_CACHE_ATTR, {})
    if not isinstance(sensor, (int, np.integer)) or isinstance(sensor, bool):
        raise SceneError(f"sensor must be an integer index, got {sensor!r}")
    if int(sensor) not in cache:
        cache[int(sensor)] = _Binding(Renderer(scene_or_renderer, sensor=int(sensor)))
    return cache[int(sensor)]


def check_spp(spp, what="spp"):
    if spp is None:
        return None
    if isinstance(spp, bool) or not isinstance(spp, (int, np.integer)) or spp <= 0:
        raise SceneError(f"{what} must be a positive integer, got {spp!r}")
    return int(spp)
