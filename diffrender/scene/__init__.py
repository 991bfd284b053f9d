"""Scenes: the data model and the loaders (Mitsuba 3 XML, dict, JSON, YAML).

``load_scene(path_or_dict, allow_shaders=False, **defines)`` -> :class:`Scene`; ``describe(scene)`` summarises it
(with the differentiable parameter names); ``write_scene(scene, path)`` writes it back. See
``docs/scene-format.md``.
"""
from .model import (BSDF, Emitter, Film, Integrator, ReconstructionFilter, Sampler, Scene,
                    Sensor, Shape, Texture)

__all__ = ["BSDF", "Emitter", "Film", "Integrator", "ReconstructionFilter", "Sampler", "Scene",
           "Sensor", "Shape", "Texture", "load_scene", "describe", "write_scene"]


def load_scene(source, base_dir=None, allow_shaders=False, **defines):
    """Load a Mitsuba 3 XML / JSON / YAML file or a Mitsuba-style dict (see
    :func:`diffrender.scene.loader.load_scene`); ``allow_shaders=True`` lets it run the shader
    files it names."""
    from .loader import load_scene as _load

    return _load(source, base_dir=base_dir, allow_shaders=allow_shaders, **defines)


def describe(scene) -> dict:
    """Shapes, BSDFs, emitters, sensors, integrator and parameter names of a Scene."""
    from .info import describe as _describe

    return _describe(scene)


def write_scene(scene, path, format=None) -> list:
    """Write a loaded Scene back to XML / JSON / YAML with its current parameter values."""
    from .writer import write_scene as _write

    return _write(scene, path, format)
