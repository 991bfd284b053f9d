"""Differentiable scene parameters under stable names, like Mitsuba's ``traverse``.

Names:

- BSDF parameters: ``<bsdf_id>.<param>`` when the BSDF has an id (shared BSDFs), else
  ``<shape>.bsdf.<param>``; ``<shape>.bsdf.<param>`` is also accepted as an alias for a shared
  BSDF (assigning it changes every shape that uses that BSDF). Bitmap textures add ``.data``
  (``floor.bsdf.reflectance.data``: the texels, H x W x C).
- Area emitters: ``<shape>.emitter.radiance``; other emitters ``<id or emitter_<i>>.<param>``
  (``intensity``, ``radiance``, ``position``...).
- Shapes: ``<shape>.vertex_positions`` (N x 3, world space) and ``<shape>.to_world``.
- Sensors: ``<sensor id or sensor_<i>>.to_world`` and ``.fov``.

``Scene.parameters()`` returns a :class:`ParameterMap`: read values as numpy arrays, assign new
values; each assignment bumps the scene's version for that parameter, and a renderer holding the
scene uploads just the changed values before its next render (no re-load, no re-compile).
"""
from __future__ import annotations

import difflib
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import SceneError
from .model import Scene, Texture


@dataclass
class Parameter:
    name: str
    kind: str  # 'reflectance', 'texture', 'radiance', 'intensity', 'vertex_positions', 'to_world', 'fov', 'float'
    get: Callable[[], np.ndarray]
    set: Callable[[np.ndarray], None]
    owner: Any  # the model object (BSDF, Emitter, Shape, Sensor)
    key: str  # attribute / parameter name on the owner
    discontinuous: bool = False  # moves visibility edges (needs edge sampling)

    @property
    def shape(self):
        return np.shape(self.get())


def _texture_param(name, tex: Texture, owner, key, kind):
    if tex.type == "bitmap":
        def get():
            return tex.data

        def set_(v):
            v = np.asarray(v, np.float32)
            if v.shape != tex.data.shape:
                raise SceneError(f"parameter '{name}.data' has shape {tex.data.shape}, got {v.shape}")
            tex.data = np.ascontiguousarray(v)

        return Parameter(name + ".data", "texture", get, set_, owner, key)

    def get():
        return tex.value

    def set_(v):
        v = np.asarray(v, np.float32)
        if v.size == 1 and tex.value.size == 3:
            v = np.repeat(v.reshape(1), 3)
        if v.shape != tex.value.shape:
            raise SceneError(f"parameter '{name}' has shape {tex.value.shape}, got {v.shape}")
        tex.value = v.copy()

    return Parameter(name, kind, get, set_, owner, key)


def _attr_param(name, obj, attr, kind, discontinuous=False, dtype=np.float64):
    def get():
        return np.asarray(getattr(obj, attr))

    def set_(v):
        old = np.asarray(getattr(obj, attr))
        v = np.asarray(v, dtype)
        if v.shape != old.shape:
            raise SceneError(f"parameter '{name}' has shape {old.shape}, got {v.shape}")
        setattr(obj, attr, v.copy() if v.ndim else float(v))

    return Parameter(name, kind, get, set_, obj, attr, discontinuous)


def enumerate_parameters(scene: Scene) -> tuple[dict[str, Parameter], dict[str, str]]:
    """All parameters by canonical name, and the aliases (alias -> canonical name)."""
    params: dict[str, Parameter] = {}
    aliases: dict[str, str] = {}
    seen_bsdfs: dict[int, str] = {}

    def add(p: Parameter):
        params[p.name] = p

    def bsdf_params(bsdf, prefix):
        for key, val in bsdf.params.items():
            if isinstance(val, Texture):
                kind = "reflectance" if key in ("reflectance", "diffuse_reflectance", "specular_reflectance") else "float"
                add(_texture_param(f"{prefix}.{key}", val, bsdf, key, kind))
            elif isinstance(val, (int, float)) and not isinstance(val, bool):
                def get(b=bsdf, k=key):
                    return np.asarray(b.params[k], np.float64)

                def set_(v, b=bsdf, k=key):
                    b.params[k] = float(np.asarray(v).reshape(()))

                add(Parameter(f"{prefix}.{key}", "float", get, set_, bsdf, key))
        for j, child in enumerate(bsdf.children):
            bsdf_params(child, f"{prefix}.bsdf_{j}")

    for i, shape in enumerate(scene.shapes):
        sname = shape.id or f"shape_{i}"
        b = shape.bsdf
        if b is not None:
            if b.id:
                prefix = b.id
                if id(b) not in seen_bsdfs:
                    seen_bsdfs[id(b)] = prefix
                    bsdf_params(b, prefix)
                for p in [p for p in list(params.values()) if p.name.startswith(prefix + ".")]:
                    aliases[f"{sname}.bsdf." + p.name[len(prefix) + 1:]] = p.name
            else:
                bsdf_params(b, f"{sname}.bsdf")
        if shape.emitter is not None:
            rad = shape.emitter.params.get("radiance")
            if isinstance(rad, Texture):
                add(_texture_param(f"{sname}.emitter.radiance", rad, shape.emitter, "radiance", "radiance"))
        add(_attr_param(f"{sname}.vertex_positions", shape, "vertices", "vertex_positions", True))
        add(_attr_param(f"{sname}.to_world", shape, "to_world", "to_world", True))

    for i, em in enumerate(scene.emitters):
        if em.type == "area":
            continue
        ename = em.id or f"emitter_{i}"
        for key, val in em.params.items():
            if isinstance(val, Texture):
                add(_texture_param(f"{ename}.{key}", val, em, key, key if key in ("intensity", "radiance") else "float"))
        if em.position is not None:
            add(_attr_param(f"{ename}.position", em, "position", "position", False))

    for i, s in enumerate(scene.sensors):
        sname = s.id or ("sensor" if i == 0 else f"sensor_{i}")
        add(_attr_param(f"{sname}.to_world", s, "to_world", "to_world", True))
        add(_attr_param(f"{sname}.fov", s, "fov", "fov", True))
    return params, aliases


class ParameterMap(MutableMapping):
    """A dict-like view of a scene's parameters (see the module docstring)."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self._params, self._aliases = enumerate_parameters(scene)
        if not hasattr(scene, "_param_versions"):
            scene._param_versions = {}

    def resolve(self, name: str) -> Parameter:
        name = self._aliases.get(name, name)
        try:
            return self._params[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._params) + list(self._aliases), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SceneError(f"unknown parameter '{name}'{hint} (`diffrender info SCENE` lists them)") from None

    def __getitem__(self, name):
        return np.array(self.resolve(name).get())

    def __setitem__(self, name, value):
        p = self.resolve(name)
        if not np.all(np.isfinite(np.asarray(value, np.float64))):
            raise SceneError(f"parameter '{p.name}': value is not finite")
        p.set(value)
        v = self.scene._param_versions
        v[p.name] = v.get(p.name, 0) + 1

    def __delitem__(self, name):
        raise SceneError("scene parameters cannot be deleted")

    def __iter__(self):
        return iter(self._params)

    def __len__(self):
        return len(self._params)

    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)

    def info(self, name) -> Parameter:
        return self.resolve(name)

    def __repr__(self):
        rows = [f"  {k}: {self._params[k].kind} {self._params[k].shape}" for k in self._params]
        return "ParameterMap(\n" + "\n".join(rows) + "\n)"


def parameters(scene: Scene) -> ParameterMap:
    return ParameterMap(scene)
