"""The scene model: plain Python/numpy data, produced by the loaders, consumed by the renderer.

This is the contract between ``diffrender.scene.loader`` (Mitsuba XML / dict / JSON / YAML) and
``diffrender.render``. Units, defaults and conventions are Mitsuba 3's:

- Right-handed world space. ``to_world`` matrices are 4x4 float64, column vectors
  (``p_world = M @ [p, 1]``).
- Camera space (Mitsuba's): the camera looks along +Z, +Y is up and +X is *left*; image x grows to
  the right (towards camera -X), image y grows downwards. Pixel (0, 0) is the top-left pixel.
- Triangle winding is counter-clockwise around the geometric normal
  ``n = normalize(cross(v1 - v0, v2 - v0))``. ``flip_normals`` is baked in by the loader (winding
  reversed, vertex normals negated), so the renderer never sees the flag.
- A one-sided BSDF reflects only on the side the shading normal points to; ``twosided`` wraps it.
  An area emitter emits only on the front side (where the geometric normal points).
- Colours are linear RGB float32. Bitmaps are already decoded to linear (unless ``raw``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .elements import (BSDF, Emitter, Film, Integrator, Medium,  # noqa: F401
                       ReconstructionFilter, Sampler, Sensor, Shape, Texture, Volume)  # (re-exported: the model's classes)
from .params import ParameterMap


@dataclass
class Scene:
    shapes: list[Shape] = field(default_factory=list)
    emitters: list[Emitter] = field(default_factory=list)  # all emitters, area ones included
    sensors: list[Sensor] = field(default_factory=list)
    integrator: Integrator = field(default_factory=Integrator)
    #: participating media that shapes / sensors use under a volumetric integrator
    media: list[Medium] = field(default_factory=list)
    source: str | None = None  # file it was loaded from
    source_format: str | None = None  # 'xml' | 'json' | 'yaml' | 'dict'
    tree: Any = None  # the parsed plugin tree, for writing the scene back
    defines: dict[str, str] = field(default_factory=dict)

    def parameters(self):
        """A dict-like view of the differentiable parameters (``diffrender.scene.params``)."""
        return ParameterMap(self)

    def param_versions(self) -> dict[str, int]:
        """How many times each parameter was assigned (renderers re-upload what changed)."""
        return dict(getattr(self, "_param_versions", {}))

    @property
    def sensor(self) -> Sensor:
        if not self.sensors:
            self.sensors.append(Sensor())
        return self.sensors[0]

    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.shapes:
            return np.zeros(3), np.zeros(3)
        v = np.concatenate([s.vertices for s in self.shapes])
        return v.min(axis=0), v.max(axis=0)
