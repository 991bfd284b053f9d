"""describe() and the differentiable parameter naming convention."""
import json
import os

import numpy as np
import pytest

from diffrender.scene import load_scene
from diffrender.scene import transforms as tf
from diffrender.scene.info import describe, parameters


def test_parameter_names_textured_plane(repo):
    sc = load_scene(os.path.join(repo, "scenes/textured-plane/scene.xml"))
    assert describe(sc)["parameters"] == [
        "plane_bsdf.reflectance.data",  # BSDF with an id, bitmap adds .data
        "plane.vertex_positions", "plane.to_world",
        "light.bsdf.reflectance",  # unnamed BSDF: <shape>.bsdf.<param>
        "light.emitter.radiance",
        "light.vertex_positions", "light.to_world",
        "sensor.to_world", "sensor.fov",
    ]


def test_parameter_names_shadow_and_unnamed(repo, xml_scene):
    sc = load_scene(os.path.join(repo, "scenes/shadow/scene.xml"))
    assert describe(sc)["parameters"] == [
        "floor_bsdf.reflectance", "floor.vertex_positions", "floor.to_world",
        "occluder.bsdf.reflectance", "occluder.vertex_positions", "occluder.to_world",
        "light.intensity", "light.position", "sensor.to_world", "sensor.fov"]
    sc = load_scene(xml_scene("""
        <sensor type="perspective"/>
        <sensor type="perspective" id="top"/>
        <sensor type="perspective"/>
        <emitter type="point"/>
        <shape type="cube"><emitter type="area"/></shape>
        <shape type="disk">
            <bsdf type="diffuse"><texture type="checkerboard" name="reflectance"/></bsdf>
        </shape>"""))
    assert describe(sc)["parameters"] == [
        "shape_0.bsdf.reflectance", "shape_0.emitter.radiance", "shape_0.vertex_positions",
        "shape_0.to_world",
        "shape_1.bsdf.reflectance.color0", "shape_1.bsdf.reflectance.color1",
        "shape_1.vertex_positions", "shape_1.to_world",
        "emitter_0.intensity", "emitter_0.position",
        "sensor.to_world", "sensor.fov", "top.to_world", "top.fov", "sensor_2.to_world",
        "sensor_2.fov"]


def test_describe_cornell_box(repo):
    sc = load_scene(os.path.join(repo, "scenes/cornell-box/scene.xml"))
    d = describe(sc)
    json.dumps(d)  # JSON-able
    assert [(s["name"], s["triangles"], s["bsdf"], s["emitter"]) for s in d["shapes"]][:2] == [
        ("light", 2, "white", "light.emitter"), ("floor", 2, "white", None)]
    assert [b["name"] for b in d["bsdfs"]] == ["white", "red", "green"]
    assert d["bsdfs"][0]["twosided"] is True
    assert d["emitters"] == [{"name": "light.emitter", "id": None, "type": "area",
                              "params": {"radiance": [17.0, 12.0, 4.0]}, "shape": "light"}]
    s = d["sensors"][0]
    assert (s["name"], s["width"], s["spp"], s["fov_x"]) == ("sensor", 256, 64,
                                                             pytest.approx(39.3077))
    assert d["integrator"]["max_depth"] == 5
    assert "white.reflectance" in d["parameters"] and "red.reflectance" in d["parameters"]
    assert "sensor.fov" in d["parameters"]


def test_parameter_get_set(repo):
    sc = load_scene(os.path.join(repo, "scenes/shadow/scene.xml"))
    ps = parameters(sc)
    np.testing.assert_allclose(ps["floor_bsdf.reflectance"].get(), 0.7)
    ps["floor_bsdf.reflectance"].set([0.1, 0.2, 0.3])
    np.testing.assert_allclose(sc.shapes[0].bsdf.params["reflectance"].value, [0.1, 0.2, 0.3])
    occ = sc.shapes[1]
    m = ps["occluder.to_world"].get().copy()
    ps["occluder.to_world"].set(tf.translate([0, 1, 0]) @ m)
    np.testing.assert_allclose(np.linalg.norm(occ.vertices - [0, 2, 0], axis=1), 0.75)
    np.testing.assert_allclose(occ.normals, (occ.vertices - [0, 2, 0]) / 0.75, atol=1e-12)
    ps["light.intensity"].set([1, 2, 3])
    np.testing.assert_allclose(sc.emitters[0].params["intensity"].value, [1, 2, 3])
    ps["light.position"].set([4, 5, 6])
    np.testing.assert_array_equal(sc.emitters[0].position, [4, 5, 6])
    np.testing.assert_array_equal(sc.emitters[0].to_world, tf.translate([4, 5, 6]))
    ps["sensor.fov"].set(30)
    assert sc.sensor.fov == 30.0
    assert ps["occluder.vertex_positions"].get() is occ.vertices


def test_tree_keeps_sources(repo):
    sc = load_scene(os.path.join(repo, "scenes/cornell-box/scene.xml"))
    tree = sc.tree
    assert tree.format == "xml" and tree.defaults == {"spp": "64", "res": "256",
                                                      "max_depth": "5"}
    node, prop = tree.params["white.reflectance"]
    assert prop == "reflectance" and node.props[prop].text == "0.725, 0.71, 0.68"
    assert str(node.props[prop].loc).endswith("scene.xml:30")
    node, prop = tree.params["sensor.fov"]
    assert node.props[prop].text == "39.3077"
    node, prop = tree.params["light.emitter.radiance"]
    assert node.category == "emitter" and node.props[prop].text == "17, 12, 4"


def test_docs_cover_every_plugin_and_parameter_and_example_loads(repo):
    from diffrender.scene.plugins import PLUGINS

    text = open(os.path.join(repo, "docs/scene-format.md")).read()
    for cat, specs in PLUGINS.items():
        for t, spec in specs.items():
            assert f"`{t}`" in text, t
            for p in spec.params:
                assert f"`{p}`" in text or f"`{p}/" in text or f"{p}`" in text, (t, p)
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    sc = load_scene(json.loads(block), base_dir=os.path.join(repo, "scenes/cornell-box"))
    assert [s.id for s in sc.shapes] == ["floor", "light"]
    assert sc.sensor.sampler.sample_count == 64
    assert sc.shapes[1].vertices.max(axis=0)[1] == pytest.approx(548)
