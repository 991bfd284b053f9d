"""One cached :class:`~diffrender.Renderer` per scene and sensor, for the one-call functions
``diffrender.render`` / ``render_vjp`` / ``render_jvp``.

A loop of one-call renders costs what a loop over one Renderer costs: the scene is uploaded
(BVH, textures, tables) on the first call only. Each later call checks the scene against what
was uploaded:

- its *structure* (shapes and their topology, plugin types, films, integrator, every setting
  that is not a parameter value) is summarised by a digest; a different digest builds a new
  Renderer (kernels still come from the device-set pool, so this is an upload, not a compile);
- its *parameter values* (``diffrender.traverse(scene)``, plus what a shape's pose moves with
  them: normals and an area emitter's ``to_world``) are compared with a copy kept at the last
  upload; the changed ones are uploaded in place. Writes through ``traverse`` and direct
  edits of the model's arrays are both seen.

The cache lives on the scene object (never in a module global); copying or pickling a scene
leaves it behind.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import fields, is_dataclass

import numpy as np

from ..scene.model import Scene, Shape

#: Attribute of a Scene that holds its cache.
CACHE_ATTR = "_renderer_cache"
#: Scene attributes that are bookkeeping, not what is rendered.
IGNORED_SCENE_FIELDS = ("tree", "source", "source_format", "defines")
#: Model fields a shape's pose rewrites along with its parameters (compared by value).
POSE_DERIVED = ("normals",)


class RendererCache:
    """Renderers of one scene by sensor index, with what each was uploaded from."""

    def __init__(self):
        self.entries: dict[int, tuple] = {}  # sensor -> (digest, renderer, {name: copy})

    def __deepcopy__(self, memo):
        return RendererCache()

    def __reduce__(self):
        return (RendererCache, ())


def _tracked(scene: Scene) -> list[tuple]:
    """``(container, key, parameter name)`` of every value uploaded in place: the parameters'
    storage, and the values a shape's pose rewrites with them."""
    pm = scene.parameters()
    out = []
    for name in pm:
        p = pm.resolve(name)
        owner, f = p.owner, p.field
        if f.startswith("params."):
            parts = f.split(".")
            tex = owner.params[parts[1]]
            if len(parts) == 2:
                out.append((tex, "value", name))
            elif parts[2] == "data":
                out.append((tex, "data", name))
            else:
                out.append((tex.extra, parts[2], name))
            continue
        out.append((owner, f, name))
        if isinstance(owner, Shape) and f in ("vertices", "to_world"):
            out += [(owner, k, name) for k in POSE_DERIVED]
            if f == "to_world" and owner.emitter is not None:
                out.append((owner.emitter, "to_world", name))
    return out


def _value(container, key):
    return container.get(key) if isinstance(container, dict) else getattr(container, key, None)


def _copy(v):
    return None if v is None else np.array(v, copy=True)


@functools.cache
def names_of(cls) -> tuple:
    """The field names of a dataclass type."""
    return tuple(f.name for f in fields(cls))


def structure_digest(scene: Scene, tracked=None) -> str:
    """A digest of everything in ``scene`` a Renderer depends on except the values of
    ``tracked`` entries (whose shapes and types still count)."""
    tracked = _tracked(scene) if tracked is None else tracked
    masked = {(id(c), k) for c, k, _ in tracked}
    containers = {id(c) for c, _, _ in tracked}  # uploaded in place: the same object
    h = hashlib.blake2b(digest_size=16)
    out: list[str] = []  # the structure as text; array contents go straight into the hash
    seen: set[int] = set()
    scalars = (bool, int, float, str, np.generic)

    def walk(x):
        if x is None or isinstance(x, scalars):
            out.append(repr(x))
            return
        if isinstance(x, np.ndarray):
            out.append(f"a{x.shape}{x.dtype.char}")
            h.update(np.ascontiguousarray(x).data)
            return
        if id(x) in seen:  # a shared object (a BSDF used by several shapes): by reference
            out.append(f"@{id(x)}")
            return
        seen.add(id(x))
        if id(x) in containers:
            out.append(f"#{id(x)}")
        if isinstance(x, dict):
            items = x.items()
        elif isinstance(x, (list, tuple)):
            items = enumerate(x)
        elif is_dataclass(x):
            items = [(n, getattr(x, n)) for n in names_of(type(x))]
        else:  # compiled shaders and other handles: the same object, the same structure
            out.append(f"<{type(x).__qualname__}@{id(x)}>")
            return
        out.append(type(x).__qualname__)
        for k, v in items:
            out.append(k if isinstance(k, str) else repr(k))
            if (id(x), k) in masked:  # a value uploaded in place: its kind counts, not its data
                out.append(f"m{np.shape(v)}{None if v is None else np.asarray(v).dtype.char}")
            else:
                walk(v)
        out.append("}")

    for f in fields(scene):
        if f.name not in IGNORED_SCENE_FIELDS:
            out.append(f.name)
            walk(getattr(scene, f.name))
    h.update("\x1f".join(out).encode())
    return h.hexdigest()


def changed_values(scene: Scene, cache: RendererCache, sensor: int):
    """``(digest, renderer, changed names, tracked)`` for ``sensor``'s cached Renderer:
    ``renderer`` is None when there is none or the structure changed."""
    tracked = _tracked(scene)
    digest = structure_digest(scene, tracked)
    entry = cache.entries.get(int(sensor))
    if entry is None or entry[0] != digest:
        return digest, None, [], tracked
    _, r, uploaded = entry
    changed = []
    for c, k, name in tracked:
        v, old = _value(c, k), uploaded.get((id(c), k))
        if (v is None) != (old is None) or (v is not None and not np.array_equal(v, old)):
            if name not in changed:
                changed.append(name)
    return digest, r, changed, tracked


def remember(cache: RendererCache, sensor: int, digest: str, renderer, tracked) -> None:
    """Keep ``renderer`` with copies of the values it was uploaded from."""
    cache.entries[int(sensor)] = (digest, renderer, {(id(c), k): _copy(_value(c, k))
                                                     for c, k, _ in tracked})


def drop_cached(scene) -> None:
    """Forget ``scene``'s cached Renderers (their device sets return to the pool)."""
    cache = getattr(scene, "__dict__", {}).get(CACHE_ATTR)
    if isinstance(cache, RendererCache):
        cache.entries.clear()


def cache_of(scene: Scene) -> RendererCache:
    cache = scene.__dict__.get(CACHE_ATTR)
    if not isinstance(cache, RendererCache):
        cache = scene.__dict__[CACHE_ATTR] = RendererCache()
    return cache


__all__ = ["cache_of", "drop_cached", "changed_values", "remember", "structure_digest", "RendererCache", "CACHE_ATTR"]
