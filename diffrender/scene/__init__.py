"""Scenes: the data model and the loaders (Mitsuba 3 XML, dict, JSON, YAML)."""
from .model import (BSDF, Emitter, Film, Integrator, ReconstructionFilter, Sampler, Scene,
                    Sensor, Shape, Texture)

__all__ = ["BSDF", "Emitter", "Film", "Integrator", "ReconstructionFilter", "Sampler", "Scene",
           "Sensor", "Shape", "Texture", "load_scene"]


def load_scene(source, **defines):
    from .loader import load_scene as _load

    return _load(source, **defines)
