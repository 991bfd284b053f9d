"""Renderer API: parameter updates without rebuilding, errors naming the element."""
import numpy as np
import pytest

from diffrender.errors import SceneError
from diffrender.core import Renderer, render
from diffrender.scene.model import BSDF, Emitter, Texture
from tests.helpers.scenes import diffuse, make_scene, point_light, quad, sensor


def lit_plane(rho=0.5):
    floor = quad((0, 0, 0), (5, 0, 0), (0, 0, -5), bsdf=diffuse(rho, id="mat"), id="floor")
    cam = sensor(origin=(0, 3, -2), target=(0, 0, 0), width=8, height=8, spp=2)
    return make_scene([floor], [point_light((0, 1, 0), 2.0, id="lamp")], sensors=[cam], max_depth=2)


def test_parameter_updates_are_uploaded():
    sc = lit_plane(0.5)
    r = Renderer(sc)
    base = r.render(seed=1)
    kernels = r.integrator.geometry  # the same objects after updates: nothing rebuilt
    params = sc.parameters()
    params["mat.reflectance"] = 0.25
    half = r.render(seed=1)
    np.testing.assert_allclose(half, base * 0.5, rtol=1e-5, atol=1e-8)
    params["lamp.intensity"] = 6.0
    np.testing.assert_allclose(r.render(seed=1), base * 1.5, rtol=1e-5, atol=1e-8)
    params["lamp.position"] = np.array([0.0, 2.0, 0.0])
    moved = r.render(seed=1)
    assert moved.mean() < base.mean()
    assert r.integrator.geometry is kernels
    # Moving the geometry rebuilds the BVH into the same fields.
    v = params["floor.vertex_positions"]
    params["floor.vertex_positions"] = v + np.array([0, -1.0, 0])
    lower = r.render(seed=1)
    assert 0 < lower.mean() < moved.mean()


def test_errors_name_the_element():
    sc = lit_plane()
    sc.shapes[0].bsdf = BSDF(type="roughdiffuse", params={})
    with pytest.raises(SceneError, match=r"shape 'floor'.*'roughdiffuse' is not supported"):
        Renderer(sc)
    sc = lit_plane()
    sc.emitters.append(Emitter(type="sunsky", params={}, id="sky1"))
    with pytest.raises(SceneError, match=r"emitter 'sky1'.*'sunsky' is not supported"):
        Renderer(sc)
    sc = lit_plane()
    sc.shapes[0].faces = np.array([[0, 1, 7]], np.int32)
    with pytest.raises(SceneError, match=r"shape 'floor'.*face indices must be in \[0, 4\)"):
        Renderer(sc)
    sc = lit_plane()
    with pytest.raises(SceneError, match="spp must be a positive integer"):
        render(sc, spp=0)
    with pytest.raises(SceneError, match="sensor 3 does not exist"):
        Renderer(sc, sensor=3)
    sc.shapes[0].bsdf.params["reflectance"] = Texture(type="bitmap", data=np.ones((2, 2, 3)),
                                                      wrap_mode="wobble")
    with pytest.raises(SceneError, match="unknown wrap_mode 'wobble'"):
        Renderer(sc)


def test_scene_without_shapes_sees_only_the_environment():
    """An emitters-only scene (empty BVH) renders the constant environment everywhere, and the
    radiance gradient of the image sum is the pixel count (Mitsuba renders such scenes too)."""
    import diffrender as dr

    scene = dr.load_scene({
        "type": "scene", "integrator": {"type": "path"},
        "sensor": {"type": "perspective", "film": {"type": "hdrfilm", "width": 8, "height": 6}},
        "env": {"type": "constant", "radiance": {"type": "rgb", "value": [0.5, 0.25, 1.0]}}})
    img = dr.render(scene, spp=2)
    np.testing.assert_allclose(img, np.broadcast_to([0.5, 0.25, 1.0], img.shape), rtol=1e-6)
    g = dr.render_vjp(scene, np.ones_like(img), params=["env.radiance"], spp=2)["env.radiance"]
    np.testing.assert_allclose(g, [48.0, 48.0, 48.0], rtol=1e-5)


def test_each_component_reacts_only_to_its_own_parameters(monkeypatch):
    """An update touches the component that owns the changed parameter, and redoes only that
    component's derived data (BVH refit, emitter areas, roughplastic coats)."""
    sc = lit_plane(0.5)
    r = Renderer(sc)
    calls = []
    for comp, method in (("geometry", "refit_vertices"), ("emitters", "update_areas"),
                         ("emitters", "update_env"), ("emitters", "set_position"),
                         ("bsdfs", "update_coats"), ("camera", "update"), ("textures", "upload")):
        obj = getattr(r, comp)
        monkeypatch.setattr(obj, method, lambda *a, _n=f"{comp}.{method}", **k: calls.append(_n))
    params = sc.parameters()

    def changed(name, value):
        calls.clear()
        params[name] = value
        assert r.update() == [name]
        return sorted(set(calls))

    assert changed("lamp.intensity", 3.0) == ["textures.upload"]
    assert changed("mat.reflectance", 0.25) == ["bsdfs.update_coats", "textures.upload"]
    assert changed("lamp.position", np.array([0.0, 2.0, 0.0])) == ["emitters.set_position"]
    assert changed("floor.vertex_positions", params["floor.vertex_positions"] + 0.1) == [
        "emitters.update_areas", "geometry.refit_vertices"]
    name = next(n for n in params if n.endswith(".fov"))
    assert changed(name, 50.0) == ["camera.update"]
    calls.clear()
    assert r.update() == [] and calls == []  # nothing changed: nothing uploaded
