"""Scenes: the data model and the loaders (Mitsuba 3 XML, dict, JSON, YAML).

``load_scene(path_or_dict, allow_shaders=False, **defines)`` -> :class:`Scene`; ``describe(scene)`` summarises it
(with the differentiable parameter names); ``write_scene(scene, path)`` writes it back. See
``docs/scene-format.md``.
"""
from .info import describe
from .loader import load_scene
from .model import (BSDF, Emitter, Film, Integrator, ReconstructionFilter, Sampler, Scene,
                    Sensor, Shape, Texture)
from .writer import write_scene

__all__ = ["BSDF", "Emitter", "Film", "Integrator", "ReconstructionFilter", "Sampler", "Scene",
           "Sensor", "Shape", "Texture", "load_scene", "describe", "write_scene"]
