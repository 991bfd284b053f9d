"""The one-call functions share a cached Renderer per scene (diffrender/core/cache.py): each
call renders what a fresh Renderer of the scene as it is now renders, bit for bit, whether the
scene changed through ``traverse``, by an in-place edit or in its structure."""
import copy
import pickle

import numpy as np

from diffrender.core import Renderer, render, render_jvp, render_vjp
from diffrender.core.cache import CACHE_ATTR, structure_digest
from tests.helpers.scenes import diffuse, make_scene, point_light, quad, sensor

SPP = 2


def scene():
    floor = quad((0, 0, 0), (5, 0, 0), (0, 0, -5), bsdf=diffuse(0.5, id="mat"), id="floor")
    box = quad((0, 0.5, 0), (0.5, 0, 0), (0, 0, -0.5), bsdf=diffuse(0.8, id="top"), id="card")
    box.local_vertices = box.vertices.copy()  # a pose parameter moves these
    cam = sensor(origin=(0, 3, -2), target=(0, 0, 0), width=8, height=8, spp=SPP)
    return make_scene([floor, box], [point_light((0, 2, 0), 4.0, id="lamp")], sensors=[cam],
                      max_depth=3)


def cached(sc):
    return sc.__dict__[CACHE_ATTR].entries[0][1]


def fresh(sc):
    """What a new Renderer renders (of a copy: a Renderer of the scene itself takes the cached
    one's place, see test_a_renderer_of_the_scene_takes_the_cached_ones_place)."""
    return Renderer(copy.deepcopy(sc)).render(spp=SPP, seed=3)


def test_cached_render_follows_every_kind_of_change():
    sc = scene()
    images = [render(sc, spp=SPP, seed=3)]
    first = cached(sc)
    np.testing.assert_array_equal(images[-1], fresh(sc))

    def step(same_renderer):
        images.append(render(sc, spp=SPP, seed=3))
        np.testing.assert_array_equal(images[-1], fresh(sc))
        assert not np.array_equal(images[-1], images[-2])
        assert (cached(sc) is first) == same_renderer

    params = sc.parameters()
    params["mat.reflectance"] = [0.2, 0.7, 0.1]  # through traverse: uploaded in place
    step(True)
    sc.shapes[1].vertices[:, 1] += 0.2  # an array edited in place: seen, uploaded in place
    step(True)
    sc.shapes[0].bsdf.params["reflectance"].value[:] = 0.9  # a texture value edited in place
    step(True)
    m = np.array(params["card.to_world"])
    m[0, 3] += 0.3  # a pose: vertices and normals move with it
    params["card.to_world"] = m
    step(True)
    sc.sensors[0].film.height = 6  # structure: a new Renderer
    step(False)
    sc.shapes.pop()
    step(False)


def test_cached_derivatives_equal_a_fresh_renderer():
    sc = scene()
    d_image = np.ones((8, 8, 3), np.float32)
    render(sc, spp=SPP, seed=3)
    sc.parameters()["mat.reflectance"] = 0.3
    g = render_vjp(sc, d_image, ["mat.reflectance"], spp=SPP, seed=5)
    want = Renderer(copy.deepcopy(sc)).vjp(d_image, ["mat.reflectance"], spp=SPP, seed=5)
    np.testing.assert_array_equal(g["mat.reflectance"], want["mat.reflectance"])
    t = render_jvp(sc, {"lamp.intensity": 1.0}, spp=SPP, seed=5)
    np.testing.assert_array_equal(t, Renderer(copy.deepcopy(sc)).jvp({"lamp.intensity": 1.0}, spp=SPP, seed=5))


def test_digest_ignores_values_but_not_structure():
    sc = scene()
    d = structure_digest(sc)
    sc.parameters()["mat.reflectance"] = 0.1
    sc.shapes[0].vertices[0, 0] += 1.0
    assert structure_digest(sc) == d
    sc.shapes[0].faces = sc.shapes[0].faces[:, ::-1].copy()  # topology is structure
    assert structure_digest(sc) != d


def test_copies_leave_the_cache_behind():
    sc = scene()
    render(sc, spp=1)
    assert cached(sc) is not None
    for other in (copy.deepcopy(sc), pickle.loads(pickle.dumps(sc))):
        assert other.__dict__[CACHE_ATTR].entries == {}
        np.testing.assert_array_equal(render(other, spp=SPP, seed=3), render(sc, spp=SPP, seed=3))


def test_a_renderer_of_the_scene_takes_the_cached_ones_place():
    sc = scene()
    render(sc, spp=1)
    dset = cached(sc)._dset
    r = Renderer(sc)  # the cached Renderer is dropped: its device set is reused, not duplicated
    assert sc.__dict__[CACHE_ATTR].entries == {}
    assert r._dset is dset
