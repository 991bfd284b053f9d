"""writer.write_scene: a loaded scene written back (XML / JSON / YAML) reloads to the same
Scene; changed parameter values are written and reload to the new values."""
import os

import numpy as np
import pytest

from diffrender.errors import SceneError
from diffrender.scene import load_scene
from diffrender.scene import transforms as tf
from diffrender.scene.info import diff_scenes, parameters
from diffrender.scene.writer import write_scene

FORMATS = ["xml", "json", "yaml"]


@pytest.mark.parametrize("name", ["cornell-box", "shadow", "textured-plane"])
def test_unchanged_round_trip(repo, tmp_path, name):
    a = load_scene(os.path.join(repo, "scenes", name, "scene.xml"), spp=16)
    for ext in FORMATS:
        files = write_scene(a, tmp_path / f"out.{ext}")
        assert files == [f"out.{ext}"]
        b = load_scene(tmp_path / f"out.{ext}")
        assert diff_scenes(a, b) == [], ext
        assert b.defines == a.defines  # the -D override became the written default
    text = (tmp_path / "out.xml").read_text()
    assert '<integer name="sample_count" value="$spp"/>' in text  # $name uses are kept
    assert '<default name="spp" value="16"/>' in text


def test_changed_parameters_are_written(repo, tmp_path):
    a = load_scene(os.path.join(repo, "scenes/cornell-box/scene.xml"))
    ps = parameters(a)
    ps["white.reflectance"].set([0.1, 0.2, 0.3])
    ps["light.emitter.radiance"].set([1, 2, 3])
    ps["tall_block.to_world"].set(tf.translate([10, 0, 0]) @ tf.rotate([0, 1, 0], 5))
    ps["sensor.fov"].set(45.5)
    ps["sensor.to_world"].set(tf.lookat([278, 273, -700], [278, 273, 0], [0, 1, 0]))
    for ext in FORMATS:
        write_scene(a, tmp_path / f"cb.{ext}")
        b = load_scene(tmp_path / f"cb.{ext}")
        # smooth normals are recomputed from the moved vertices: equal to rounding
        assert diff_scenes(a, b, atol=1e-12) == [], ext
        np.testing.assert_array_equal(b.shapes[0].bsdf.params["reflectance"].value,
                                      np.float32([0.1, 0.2, 0.3]))
        assert b.sensor.fov == 45.5


def test_sphere_point_light_and_fov_from_focal_length(tmp_path, xml_scene):
    a = load_scene(xml_scene("""
        <sensor type="perspective"><string name="focal_length" value="35mm"/></sensor>
        <shape type="sphere" id="ball">
            <point name="center" value="1, 2, 3"/><float name="radius" value="0.5"/>
        </shape>
        <emitter type="point" id="lamp"><point name="position" value="0, 5, 0"/></emitter>"""))
    ps = parameters(a)
    ps["ball.to_world"].set(tf.translate([0, 1, 0]) @ ps["ball.to_world"].get())
    ps["lamp.position"].set([1, 1, 1])
    ps["sensor.fov"].set(30.0)
    for ext in FORMATS:
        write_scene(a, tmp_path / "out" / f"s.{ext}")
        b = load_scene(tmp_path / "out" / f"s.{ext}")
        assert diff_scenes(a, b, atol=1e-12) == [], ext
        np.testing.assert_allclose(np.linalg.norm(b.shapes[0].vertices - [1, 3, 3], axis=1), 0.5)
        np.testing.assert_array_equal(b.emitters[0].position, [1, 1, 1])
        assert (b.sensor.fov, b.sensor.fov_axis) == (30.0, "diagonal")


def test_changed_vertices_and_texture_data_write_files(repo, tmp_path):
    a = load_scene(os.path.join(repo, "scenes/textured-plane/scene.xml"))
    ps = parameters(a)
    v = ps["plane.vertex_positions"].get().copy()
    v[2, 1] += 0.25
    ps["plane.vertex_positions"].set(v)
    data = ps["plane_bsdf.reflectance.data"].get().copy()
    data[:8, :8] = [0.9, 0.1, 0.4]
    ps["plane_bsdf.reflectance.data"].set(data)
    files = write_scene(a, tmp_path / "tp.json")
    assert sorted(files) == ["tp.json", "tp.plane.ply", "tp.plane_bsdf.reflectance.data.exr"]
    b = load_scene(tmp_path / "tp.json")
    sh = b.shapes[0]
    assert sh.type == "ply"
    np.testing.assert_allclose(sh.vertices, v, atol=1e-6)  # PLY stores float32
    np.testing.assert_array_equal(sh.faces, a.shapes[0].faces)
    np.testing.assert_allclose(sh.uvs, a.shapes[0].uvs, atol=1e-7)
    np.testing.assert_array_equal(b.shapes[0].bsdf.params["reflectance"].data, data)
    assert diff_scenes(a.shapes[1], b.shapes[1]) == []  # the light is unchanged


def test_dict_origin_scene_written_as_xml(tmp_path):
    d = {"type": "scene",
         "__elm__0": {"type": "cube", "to_world": {"type": "transform", "scale": 2},
                      "bsdf": {"type": "diffuse", "reflectance": {"type": "srgb",
                                                                  "value": "#808080"}}},
         "key": {"type": "point", "position": [0, 4, 0]},
         "cam": {"type": "perspective", "fov": 40,
                 "film": {"type": "hdrfilm", "width": 64, "height": 48,
                          "rfilter": {"type": "box"}}}}
    a = load_scene(d)
    assert a.shapes[0].id == "shape_0"  # '__elm__' keys are not ids
    write_scene(a, tmp_path / "d.xml")
    b = load_scene(tmp_path / "d.xml")
    assert diff_scenes(a, b) == []


def test_write_errors(tmp_path, xml_scene):
    a = load_scene(xml_scene('<shape type="cube"/>'))
    with pytest.raises(SceneError) as e:
        write_scene(a, tmp_path / "x.obj")
    assert str(e.value) == (f"{tmp_path}/x.obj: cannot write scene format '.obj'; expected "
                            ".xml, .json, .yaml or .yml")
