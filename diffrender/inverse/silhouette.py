"""The silhouette (alpha) of a scene as a differentiable render, for the silhouette loss.

The renderer's ``alpha`` AOV (1 where a camera ray hits a shape, filtered like the colour) has
no adjoint: ``Renderer.vjp`` differentiates the colour. The coverage is rendered as a colour
instead, in a copy of the scene that keeps only the geometry and the cameras: every shape black
(diffuse, reflectance 0, no emitter) inside a large sphere that emits radiance 1 inwards (edge
sampling supports area lights, not environment emitters), and the path integrator at
``max_depth = 1`` (only what the camera sees directly). Its render is ``1 - alpha`` (the same
samples through the same pixel filter), and its derivative with respect to shape poses, vertex
positions and camera parameters is the colour's: an interior term that is zero (nothing varies
on a black shape or on the uniform sphere) and the primary-edge term of edge sampling, which is
the whole derivative of the coverage.
"""
from __future__ import annotations

import copy

import numpy as np

from ..errors import ConfigError, SceneError
from ..scene.loader import load_scene
from ..scene.model import BSDF, Integrator, Scene, Texture

SILHOUETTE_DEPTH = 1       # camera rays only: the background sphere where no shape is hit
BACKGROUND_SCALE = 4.0     # the sphere's radius over the farthest shape vertex or camera
BACKGROUND_ID = "silhouette-background"


def _background(centre, radius):
    """A sphere that emits radiance 1 towards its centre, and its area emitter."""
    sc = load_scene({"type": "scene", BACKGROUND_ID: {
        "type": "sphere", "center": [float(x) for x in centre], "radius": float(radius),
        "flip_normals": True, "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0, 0, 0]}},
        "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [1, 1, 1]}}}})
    return sc.shapes[0]


def silhouette_scene(scene: Scene, where: str = "silhouette") -> Scene:
    """A copy of ``scene``'s shapes (same ids, meshes and transforms) and sensors in which the
    render of a sensor is ``1 - alpha``."""
    shapes = []
    for s in scene.shapes:
        c = copy.deepcopy(s)
        c.bsdf = BSDF("diffuse", {"reflectance": Texture.constant(0.0)}, twosided=True, id=s.bsdf.id)
        c.emitter = None
        shapes.append(c)
    lo, hi = scene.bbox()
    centre = 0.5 * (lo + hi)
    pts = [lo, hi] + [np.asarray(s.to_world, np.float64)[:3, 3] for s in scene.sensors]
    radius = BACKGROUND_SCALE * max(max(float(np.linalg.norm(p - centre)) for p in pts), 1e-3)
    for i, s in enumerate(scene.sensors):
        if s.far_clip < 2.0 * radius:
            raise ConfigError(f"sensor {i}: far_clip {s.far_clip:g} is too short for the silhouette's "
                              f"background sphere (radius {radius:g})", where)
    bg = _background(centre, radius)
    bg.emitter.shape = len(shapes)
    shapes.append(bg)
    return Scene(shapes=shapes, emitters=[bg.emitter], sensors=copy.deepcopy(scene.sensors),
                 integrator=Integrator("path", max_depth=SILHOUETTE_DEPTH, rr_depth=5),
                 source=scene.source, source_format=scene.source_format, defines=dict(scene.defines))


class Silhouette:
    """Keeps a silhouette scene in step with the optimized scene's geometry and cameras and
    renders / differentiates its alpha."""

    def __init__(self, scene: Scene, where: str = "silhouette"):
        self.scene = silhouette_scene(scene, where)
        self.pmap = self.scene.parameters()
        self._renderers = {}

    def has(self, name: str) -> bool:
        try:
            p = self.pmap.resolve(name)
        except SceneError:
            return False
        if p.name.startswith(BACKGROUND_ID + "."):
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
        return 1.0 - img.astype(np.float64).mean(axis=2)

    def vjp(self, sensor: int, d_alpha: np.ndarray, params: list[str], spp: int, seed: int,
            edges) -> dict:
        """``{name: d <d_alpha, alpha> / d name}`` for geometry / camera parameters."""
        d = -np.repeat(np.asarray(d_alpha, np.float32)[:, :, None], 3, axis=2) / 3.0
        return self.renderer(sensor).vjp(d, params, spp=spp, seed=seed, edges=edges)
