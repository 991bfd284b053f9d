import numpy as np
import pytest

from diffrender.errors import SceneError
from diffrender.scene import BSDF, Emitter, Scene, Sensor, Shape, Texture


def tiny_scene():
    tri = dict(vertices=np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float), faces=np.array([[0, 1, 2]], np.int32))
    shared = BSDF(params={"reflectance": Texture.constant([0.5, 0.5, 0.5])}, id="white")
    tex = Texture(type="bitmap", data=np.zeros((2, 3, 3), np.float32))
    return Scene(
        shapes=[Shape("obj", id="floor", bsdf=BSDF(params={"reflectance": tex}), **tri),
                Shape("obj", id="wall", bsdf=shared, **tri),
                Shape("obj", id="ceiling", bsdf=shared,
                      emitter=Emitter("area", params={"radiance": Texture.constant([1, 2, 3])}), **tri)],
        emitters=[Emitter("point", params={"intensity": Texture.constant([5, 5, 5])}, position=np.zeros(3), id="lamp")],
        sensors=[Sensor(id="cam")])


def test_names_and_values():
    sc = tiny_scene()
    p = sc.parameters()
    names = set(p)
    assert {"floor.bsdf.reflectance.data", "white.reflectance", "ceiling.emitter.radiance",
            "lamp.intensity", "lamp.position", "floor.vertex_positions", "floor.to_world",
            "cam.to_world", "cam.fov"} <= names
    assert "wall.bsdf.reflectance" not in names  # alias, not a separate parameter
    np.testing.assert_array_equal(p["wall.bsdf.reflectance"], [0.5, 0.5, 0.5])
    assert p["floor.bsdf.reflectance.data"].shape == (2, 3, 3)


def test_assignment_updates_model_and_versions():
    sc = tiny_scene()
    p = sc.parameters()
    p["wall.bsdf.reflectance"] = [0.1, 0.2, 0.3]  # shared BSDF through the alias
    np.testing.assert_allclose(sc.shapes[2].bsdf.params["reflectance"].value, [0.1, 0.2, 0.3])
    p["white.reflectance"] = 0.25  # a float broadcasts to RGB
    np.testing.assert_allclose(p["white.reflectance"], [0.25] * 3)
    assert sc.param_versions() == {"white.reflectance": 2}
    p["cam.fov"] = 30.0
    assert sc.sensors[0].fov == 30.0


def test_errors():
    p = tiny_scene().parameters()
    with pytest.raises(SceneError, match=r"unknown parameter 'white.reflectanse'; did you mean white.reflectance"):
        p["white.reflectanse"]
    with pytest.raises(SceneError, match=r"parameter 'floor.bsdf.reflectance.data' has shape \(2, 3, 3\), got \(3, 3, 3\)"):
        p["floor.bsdf.reflectance.data"] = np.zeros((3, 3, 3))
    with pytest.raises(SceneError, match="parameter 'lamp.intensity': value is not finite"):
        p["lamp.intensity"] = [np.nan, 1, 1]
