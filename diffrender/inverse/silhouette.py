"""The silhouette (alpha) of a scene as a differentiable render, for the silhouette loss.

The renderer's ``alpha`` AOV (1 where a camera ray hits a shape, filtered like the colour) has
no adjoint: ``Renderer.vjp`` differentiates the colour. The coverage is rendered as a colour
instead, in a copy of the scene that keeps only the geometry and the cameras: the selected
shapes (the object a mask outlines; default every shape) emit radiance 1, every shape is black
(diffuse, reflectance 0), nothing else emits, and the path integrator stops at ``max_depth = 1``
(only what the camera sees directly). Its render is the coverage of the selected shapes, with
the other shapes occluding them as in the photo, and its derivative with respect to shape poses,
vertex positions and camera parameters is the colour's: an interior term that is zero (the
emission is uniform) and the primary-edge term of edge sampling, which is the whole derivative
of the coverage. As in Mitsuba, an area emitter emits on its front side only: a selected open
surface seen from behind counts as not covered (closed meshes are always seen from outside).
"""
from __future__ import annotations

import copy

import numpy as np

from ..errors import ConfigError, SceneError
from ..scene.model import BSDF, Emitter, Integrator, Scene, Texture

SILHOUETTE_DEPTH = 1       # camera rays only


def shape_names(scene: Scene) -> list[str]:
    """Each shape's name as parameters name it: its id, else ``shape_<index>``."""
    return [s.id or f"shape_{i}" for i, s in enumerate(scene.shapes)]


def silhouette_scene(scene: Scene, shapes=None, where: str = "silhouette") -> Scene:
    """A copy of ``scene``'s shapes (same ids, meshes and transforms) and sensors whose render
    is the coverage of the shapes named in ``shapes`` (None: every shape)."""
    names = shape_names(scene)
    if shapes is not None:
        for i, n in enumerate(shapes):
            if n not in names:
                raise ConfigError(f"no shape named '{n}' (shapes: {', '.join(names)})", f"{where}[{i}]")
    out, emitters = [], []
    for name, s in zip(names, scene.shapes):
        c = copy.deepcopy(s)
        c.bsdf = BSDF("diffuse", {"reflectance": Texture.constant(0.0)}, id=s.bsdf.id)
        c.emitter = None
        if shapes is None or name in shapes:
            c.emitter = Emitter("area", {"radiance": Texture.constant(1.0)}, shape=len(out))
            emitters.append(c.emitter)
        out.append(c)
    return Scene(shapes=out, emitters=emitters, sensors=copy.deepcopy(scene.sensors),
                 integrator=Integrator("path", max_depth=SILHOUETTE_DEPTH, rr_depth=5),
                 source=scene.source, source_format=scene.source_format, defines=dict(scene.defines))


class Silhouette:
    """Keeps a silhouette scene in step with the optimized scene's geometry and cameras and
    renders / differentiates its alpha."""

    def __init__(self, scene: Scene, shapes=None, where: str = "silhouette"):
        self.scene = silhouette_scene(scene, shapes, where)
        self.pmap = self.scene.parameters()
        self._renderers = {}

    def has(self, name: str) -> bool:
        try:
            p = self.pmap.resolve(name)
        except SceneError:
            return False
        return bool(self.pmap.info(p.name).discontinuous)

    def set(self, values: dict) -> None:
        """Apply the scene values (``{name: value}``) that move geometry or cameras."""
        for k, v in values.items():
            if self.has(k):
                self.pmap[k] = v

    def renderer(self, sensor: int):
        from ..core import Renderer  # lazy engine start

        if sensor not in self._renderers:
            self._renderers[sensor] = Renderer(self.scene, sensor=sensor)
        return self._renderers[sensor]

    def alpha(self, sensor: int, spp: int, seed: int) -> np.ndarray:
        """(H, W) coverage of the sensor's pixels."""
        img = self.renderer(sensor).render(spp=spp, seed=seed)
        return img.astype(np.float64).mean(axis=2)

    def vjp(self, sensor: int, d_alpha: np.ndarray, params: list[str], spp: int, seed: int,
            edges) -> dict:
        """``{name: d <d_alpha, alpha> / d name}`` for geometry / camera parameters."""
        d = np.repeat(np.asarray(d_alpha, np.float32)[:, :, None], 3, axis=2) / 3.0
        return self.renderer(sensor).vjp(d, params, spp=spp, seed=seed, edges=edges)
