"""``scene.parameters()``: a dict-like view of the differentiable parameters, like Mitsuba's
``traverse``. The names and their get/set live in :mod:`diffrender.scene.info` (see its
docstring for the convention); this module adds

- aliases: ``<shape>.bsdf.<param>`` also names the parameter of a shared BSDF that has an id
  (``red_wall.bsdf.reflectance`` -> ``red.reflectance``; assigning it changes every shape that
  uses that BSDF);
- each parameter's kind (reflectance, texture, radiance, intensity, vertex_positions, to_world,
  position, fov and the other sensor intrinsics, mesh_attribute) and whether it moves visibility edges (needs edge sampling);
- validation of assigned values (shape, finiteness) with errors naming the parameter;
- per-parameter versions: a renderer holding the scene uploads only what changed before its next
  render (no re-load, no re-compile).
"""
from __future__ import annotations

import difflib
from collections.abc import MutableMapping
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import SceneError
from . import info
from .elements import SENSOR_SCALARS, Emitter

if TYPE_CHECKING:  # the Scene builds this view; imported for annotations only
    from .model import Scene

_DISCONTINUOUS = {"vertex_positions", "to_world", "position", *SENSOR_SCALARS}


def _kind(p: info.Parameter) -> str:
    f = p.field
    if f == "vertices":
        return "vertex_positions"
    if f.startswith("attributes."):
        return "mesh_attribute"
    if not f.startswith("params."):
        return f
    parts = f.split(".")
    if len(parts) > 2 and parts[2] == "data":
        return "texture"
    if isinstance(p.owner, Emitter):
        return parts[1] if parts[1] in ("radiance", "intensity", "irradiance") else "float"
    if parts[1].endswith("reflectance") or parts[1].endswith("transmittance") or len(parts) > 2:
        return "reflectance"
    return "float"


def _short(x) -> str:
    if isinstance(x, int) and x.bit_length() > 100:
        return f"(an integer of {x.bit_length()} bits)"
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


class ParameterMap(MutableMapping):
    """Read parameters as numpy arrays, assign new values (see the module docstring)."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self._params = info.parameters(scene)
        self._aliases: dict[str, str] = {}
        for i, sh in enumerate(scene.shapes):
            b = sh.bsdf
            if b is None or not b.id:
                continue
            sname = sh.id or f"shape_{i}"
            for name in self._params:
                if name.startswith(b.id + "."):
                    self._aliases.setdefault(f"{sname}.bsdf.{name[len(b.id) + 1:]}", name)
        if not hasattr(scene, "_param_versions"):
            scene._param_versions = {}

    def resolve(self, name: str) -> info.Parameter:
        name = self._aliases.get(name, name)
        try:
            return self._params[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._params) + list(self._aliases), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SceneError(f"unknown parameter '{name}'{hint} (`diffrender info SCENE` lists them)") from None

    def canonical(self, name: str) -> str:
        return self.resolve(name).name

    def info(self, name: str) -> SimpleNamespace:
        """name, kind, owner (model object), key (its parameter or attribute), field, get, set."""
        p = self.resolve(name)
        key = p.field
        if p.field.startswith("params."):
            key = p.field.split(".")[1]
        elif p.field.startswith("attributes."):
            key = p.field[len("attributes."):]
        return SimpleNamespace(name=p.name, kind=_kind(p), owner=p.owner, key=key, field=p.field,
                               get=p.get, set=p.set, discontinuous=_kind(p) in _DISCONTINUOUS)

    def kind(self, name: str) -> str:
        return _kind(self.resolve(name))

    def is_discontinuous(self, name: str) -> bool:
        return self.kind(name) in _DISCONTINUOUS

    def __getitem__(self, name):
        return np.array(self.resolve(name).get(), dtype=np.float64 if self.kind(name) in _DISCONTINUOUS else None)

    def __setitem__(self, name, value):
        p = self.resolve(name)
        old = np.asarray(p.get())
        if value is None:
            raise SceneError(f"parameter '{p.name}': expected a number or an array of numbers, "
                             "got None")
        try:
            v = np.asarray(value, np.float64)
        except (TypeError, ValueError, OverflowError):
            raise SceneError(f"parameter '{p.name}': expected a number or an array of numbers, "
                             f"got {type(value).__name__} {_short(value)}") from None
        if not np.all(np.isfinite(v)):
            bad = v[~np.isfinite(v)].reshape(-1)[0]
            raise SceneError(f"parameter '{p.name}': value is not finite ({bad}); expected "
                             "finite numbers")
        if v.shape != old.shape:
            if v.size == 1 and old.shape == (3,):
                v = np.repeat(v.reshape(1), 3)
            else:
                raise SceneError(f"parameter '{p.name}' has shape {old.shape}, got {v.shape}")
        p.set(v)
        versions = self.scene._param_versions
        versions[p.name] = versions.get(p.name, 0) + 1

    def __delitem__(self, name):
        raise SceneError("scene parameters cannot be deleted")

    def __iter__(self):
        return iter(self._params)

    def __len__(self):
        return len(self._params)

    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)

    def __repr__(self):
        rows = [f"  {k}: {self.kind(k)} {np.shape(self._params[k].get())}" for k in self._params]
        return "ParameterMap(\n" + "\n".join(rows) + "\n)"
