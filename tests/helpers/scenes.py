"""Tiny scene builders for renderer tests and benchmarks (model dataclasses, no loader)."""
from __future__ import annotations

import os

import numpy as np

from diffrender.scene.model import (BSDF, Emitter, Film, Integrator, ReconstructionFilter,
                                    Sampler, Scene, Sensor, Shape, Texture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORNELL = os.path.join(ROOT, "scenes", "cornell-box")


def look_at(origin, target, up=(0, 1, 0)):
    """Mitsuba's lookat: columns (left, up, dir, origin)."""
    o = np.asarray(origin, np.float64)
    d = np.asarray(target, np.float64) - o
    d /= np.linalg.norm(d)
    left = np.cross(np.asarray(up, np.float64), d)
    left /= np.linalg.norm(left)
    new_up = np.cross(d, left)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = left, new_up, d, o
    return m


def rgb3(v):
    return Texture.constant(np.broadcast_to(np.asarray(v, np.float32), (3,)).copy())


def diffuse(rgb, twosided=False, id=None):
    return BSDF(type="diffuse", params={"reflectance": rgb3(rgb)}, twosided=twosided, id=id)


def quad(center, u, v, bsdf=None, id=None, uvs=True):
    """Parallelogram center +- u +- v; normal = normalize(cross(u, v)) (counter-clockwise)."""
    c, u, v = (np.asarray(a, np.float64) for a in (center, u, v))
    verts = np.array([c - u - v, c + u - v, c + u + v, c - u + v])
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64) if uvs else None
    return Shape(type="rectangle", vertices=verts, faces=faces, uvs=uv,
                 bsdf=bsdf or diffuse(0.5), id=id)


def sphere(center, radius, subdivisions=3, bsdf=None, inward=False, id=None, smooth=True):
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = np.asarray(m.vertices) * radius + np.asarray(center, np.float64)
    f = np.asarray(m.faces, np.int32)
    n = np.asarray(m.vertex_normals, np.float64)
    if inward:
        f = f[:, ::-1].copy()
        n = -n
    return Shape(type="sphere", vertices=v, faces=f, normals=n if smooth else None,
                 bsdf=bsdf or diffuse(0.5), id=id)


def sensor(origin=(0, 0, -5), target=(0, 0, 0), up=(0, 1, 0), fov=40.0, width=16, height=16,
           spp=4, rfilter="box", fov_axis="x"):
    rf = {"box": ReconstructionFilter("box", 0.5, 0.5),
          "tent": ReconstructionFilter("tent", 1.0, 0.5),
          "gaussian": ReconstructionFilter("gaussian", 2.0, 0.5)}[rfilter]
    return Sensor(to_world=look_at(origin, target, up), fov=fov, fov_axis=fov_axis,
                  film=Film(width=width, height=height, rfilter=rf),
                  sampler=Sampler(sample_count=spp))


def make_scene(shapes, emitters=(), sensors=None, max_depth=-1, rr_depth=5,
               integrator="path", hide_emitters=False, **integ_params):
    emitters = list(emitters)
    for i, s in enumerate(shapes):
        if s.emitter is not None and s.emitter not in emitters:
            s.emitter.shape = i
            emitters.append(s.emitter)
    return Scene(shapes=list(shapes), emitters=emitters, sensors=list(sensors or [sensor()]),
                 integrator=Integrator(type=integrator, max_depth=max_depth, rr_depth=rr_depth,
                                       hide_emitters=hide_emitters, params=dict(integ_params)))


def area_light(shape, radiance):
    shape.emitter = Emitter(type="area", params={"radiance": rgb3(radiance)})
    return shape


def point_light(position, intensity, id=None):
    return Emitter(type="point", params={"intensity": rgb3(intensity)},
                   position=np.asarray(position, np.float64), id=id)


def cornell_box(res=64, spp=16, max_depth=5, rfilter="gaussian"):
    """scenes/cornell-box built by hand (same meshes, BSDFs, light and camera as scene.xml)."""
    import trimesh

    white = diffuse((0.725, 0.71, 0.68), True, "white")
    red = diffuse((0.63, 0.065, 0.05), True, "red")
    green = diffuse((0.14, 0.45, 0.091), True, "green")
    parts = [("light", white), ("floor", white), ("ceiling", white), ("back", white),
             ("red_wall", red), ("green_wall", green), ("short_block", white),
             ("tall_block", white)]
    shapes = []
    for name, b in parts:
        m = trimesh.load(os.path.join(CORNELL, "meshes", name + ".obj"), process=False,
                         force="mesh")
        shapes.append(Shape(type="obj", vertices=np.asarray(m.vertices, np.float64),
                            faces=np.asarray(m.faces, np.int32), bsdf=b, id=name))
    area_light(shapes[0], (17.0, 12.0, 4.0))
    s = sensor(origin=(278, 273, -800), target=(278, 273, -799), fov=39.3077, width=res,
               height=res, spp=spp, rfilter=rfilter)
    return make_scene(shapes, sensors=[s], max_depth=max_depth)
