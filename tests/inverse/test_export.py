"""`diffrender export RUN_DIR`: the optimized scene, meshes and textures as files other tools
open, which load back with the optimized values."""
import json
import subprocess
import sys

import numpy as np
import pytest
import trimesh
import yaml

import diffrender as dr
from diffrender.errors import ConfigError
from diffrender.image import linear_to_srgb
from diffrender.inverse import load_config
from diffrender.inverse.export import export_run
from diffrender.inverse.run import save_run_config

SCENE = """<scene version="3.0.0">
  <sensor type="perspective"><float name="fov" value="45"/>
    <transform name="to_world"><lookat origin="0, 0, 3" target="0, 0, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="8"/><integer name="height" value="6"/></film>
  </sensor>
  <shape type="rectangle" id="board">
    <bsdf type="diffuse" id="paint"><texture type="bitmap" name="reflectance">
      <string name="filename" value="tex.exr"/></texture></bsdf>
  </shape>
  <emitter type="point"><rgb name="intensity" value="1, 1, 1"/><point name="position" x="0" y="0" z="2"/></emitter>
</scene>"""


@pytest.fixture
def run_dir(tmp_path):
    rng = np.random.default_rng(11)
    dr.write_image(tmp_path / "tex.exr", rng.random((4, 4, 3)).astype(np.float32))
    dr.write_image(tmp_path / "target.exr", np.zeros((6, 8, 3), np.float32))
    (tmp_path / "scene.xml").write_text(SCENE)
    cfg = {"scene": "scene.xml", "targets": ["target.exr"], "output": "run",
           "parameters": {"board.vertex_positions": {"lr": 0.01},
                          "paint.reflectance.data": {"lr": 0.01}}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    out.mkdir()
    save_run_config(load_config(str(tmp_path / "cfg.yaml")), str(out))
    verts = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float64)
    verts[2] += [0.25, -0.5, 0.3]
    tex = rng.random((4, 4, 3))
    (out / "params.json").write_text(json.dumps({"board.vertex_positions": verts.tolist(),
                                                 "paint.reflectance.data": tex.tolist()}))
    return out, verts, tex


def _board_vertices(scene):
    return np.asarray(scene.parameters()["board.vertex_positions"], np.float64)


@pytest.mark.parametrize("mesh_format,texture_format", [("ply", "exr"), ("obj", "png")])
def test_export_writes_files_that_load_back_with_the_optimized_values(run_dir, mesh_format,
                                                                      texture_format):
    out, verts, tex = run_dir
    before = _board_vertices(dr.load_scene(str(out.parent / "scene.xml")))
    paths = export_run(out, mesh_format=mesh_format, texture_format=texture_format)
    names = sorted(p.rsplit("/", 1)[1] for p in paths)
    assert names == sorted(["scene.xml", f"scene.board.{mesh_format}",
                            f"scene.paint.reflectance.data.{texture_format}"])
    scene = dr.load_scene(str(out / "export" / "scene.xml"))
    got = _board_vertices(scene)
    # the same vertices as a set (a mesh file may order them as it likes), and a moved one
    assert not np.allclose(np.sort(before, axis=0), np.sort(verts, axis=0))
    np.testing.assert_allclose(np.sort(got, axis=0), np.sort(verts, axis=0), atol=1e-6)
    m = trimesh.load(out / "export" / f"scene.board.{mesh_format}", process=False)
    assert len(m.faces) == 2 and m.visual.uv is not None and len(m.visual.uv) == len(m.vertices)
    t = np.asarray(scene.parameters()["paint.reflectance.data"], np.float64)
    if texture_format == "exr":
        np.testing.assert_allclose(t, tex, rtol=1e-6)
    else:  # 8-bit sRGB: equal after quantisation
        np.testing.assert_allclose(linear_to_srgb(t), linear_to_srgb(tex), atol=0.5 / 255 + 1e-6)


def test_export_command_and_its_errors(run_dir, tmp_path):
    out, _, _ = run_dir
    r = subprocess.run([sys.executable, "-m", "diffrender", "export", str(out), "-o",
                        str(tmp_path / "x"), "--scene-format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == str(tmp_path / "x" / "scene.json")
    assert dr.load_scene(str(tmp_path / "x" / "scene.json")) is not None
    r = subprocess.run([sys.executable, "-m", "diffrender", "export", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"diffrender: error: {tmp_path / 'config.json'}: no run config "
                                "(config.json) here: is this the output folder of `diffrender optimize`?")
    (out / "params.json").write_text(json.dumps({"paint.roughness": 0.1}))
    with pytest.raises(ConfigError, match="parameter 'paint.roughness' is not one of the run's"):
        export_run(out)
