"""User shaders (shaders/*.py): loading and one-line errors naming the file and line, rendering,
sampling consistency (chi-square), and parameter gradients against finite differences.

The layered ``coated_metal`` shader is checked by its sampling test here (its kernels are the
most expensive to compile); its gradients go through the same generated glue as ``toon``'s."""
import os
import textwrap

import numpy as np
import pytest

import diffrender as dr
from diffrender.errors import SceneError
from diffrender.core import Renderer
from diffrender.core.bsdfs import BSDFTable, RowBuilder, eval_np, sample_np
from diffrender.core.shaders import load_shader
from diffrender.core.textures import TextureTable
from diffrender.scene.model import BSDF
from tests.helpers.fd import assert_grad_close, render_fd
from tests.helpers.chi2 import chi2_directions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHADERS = os.path.join(ROOT, "shaders")
SPP, SEED = 2, 3


def write(tmp_path, name, body):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return str(p)


GOOD = """\
from diffrender.shading import ti, INV_PI
KIND = "bsdf"
PARAMETERS = {"color": ("rgb", (0.5, 0.5, 0.5))}

@ti.func
def eval(p, wi, wo):
    return p.color * (INV_PI * wo.z)
"""


def scene_with(shader_path, extra=""):
    return f"""<scene version="3.0.0">
  <sensor type="perspective"><float name="fov" value="40"/>
    <film type="hdrfilm"><integer name="width" value="4"/><integer name="height" value="4"/></film>
  </sensor>
  <shape type="sphere"><transform name="to_world"><translate z="4"/></transform>
    <bsdf type="shader" id="mat"><string name="filename" value="{shader_path}"/>{extra}</bsdf>
  </shape>
  <emitter type="constant"/>
</scene>"""


def load_xml(tmp_path, xml):
    p = tmp_path / "scene.xml"
    p.write_text(xml)
    return dr.load_scene(str(p), allow_shaders=True)


@pytest.mark.parametrize("body,match", [
    ("KIND = 'bsdf'\ndef eval(p, wi wo):\n    pass\n", r"bad\.py:2: syntax error"),
    ("from diffrender.shading import ti\nKIND = 'bsdf'\n", r"bad\.py: a bsdf shader must define @ti.func eval\(p, wi, wo\)"),
    ("from diffrender.shading import ti\nKIND = 'bsdf'\n\n\n@ti.func\ndef eval(p, wi):\n    return wi\n",
     r"bad\.py:5: eval must have the signature eval\(p, wi, wo\), got eval\(p, wi\)"),
    ("KIND = 'bsdf'\ndef eval(p, wi, wo):\n    return wi\n", r"bad\.py:2: eval must be decorated with @ti.func"),
    ("KIND = 'bsdf'\nPARAMETERS = {'x': ('vector', 1.0)}\n", r"PARAMETERS\['x'\] must be \(\"float\" \| \"rgb\", default\)"),
    ("KIND = 'material'\n", r"KIND must be \"bsdf\" or \"texture\", got 'material'"),
    ("import math\nKIND = 'bsdf'\nx = 1 / 0\n", r"bad\.py:3: error while loading the shader: ZeroDivisionError"),
    ("from diffrender.shading import ti\nKIND = 'texture'\n@ti.func\ndef eval(p, uv):\n    return uv\n",
     r"KIND is 'texture', but it is used as a bsdf"),
])
def test_shader_file_errors_name_file_and_line(tmp_path, body, match):
    path = write(tmp_path, "bad.py", body)
    with pytest.raises(SceneError, match=match):
        load_xml(tmp_path, scene_with(path))


def test_unknown_shader_parameter_in_scene(tmp_path):
    path = write(tmp_path, "good.py", GOOD)
    with pytest.raises(SceneError, match=r"scene\.xml:6.*has no parameter 'colour'; its PARAMETERS: color"):
        load_xml(tmp_path, scene_with(path, '<rgb name="colour" value="0.3"/>'))


def test_missing_shader_file(tmp_path):
    with pytest.raises(SceneError, match=r"shader file not found: .*nope\.py"):
        load_xml(tmp_path, scene_with("nope.py"))


def test_taichi_compile_error_points_at_user_line(tmp_path):
    path = write(tmp_path, "broken.py", GOOD.replace("return p.color * (INV_PI * wo.z)",
                                                      "return p.color * undefined_name"))
    scene = load_xml(tmp_path, scene_with(path))
    with pytest.raises(SceneError, match=r"broken\.py:7: Taichi cannot compile the shader"):
        Renderer(scene).render(spp=1)


def test_shader_parameters_are_scene_parameters(tmp_path):
    path = write(tmp_path, "good.py", GOOD)
    scene = load_xml(tmp_path, scene_with(path, '<rgb name="color" value="0.2, 0.4, 0.6"/>'))
    p = scene.parameters()
    np.testing.assert_allclose(p["mat.color"], [0.2, 0.4, 0.6], rtol=1e-6)
    assert p.kind("mat.color") == "float"  # not a reflectance by name; still differentiable


def test_lambertian_shader_renders_like_diffuse(tmp_path):
    """A shader written as R cos / pi, sampled by the default cosine hemisphere, gives the same
    image as the built-in diffuse (same random numbers, same paths)."""
    path = write(tmp_path, "good.py", GOOD)
    xml = scene_with(path, '<rgb name="color" value="0.2, 0.4, 0.6"/>')
    a = Renderer(load_xml(tmp_path, xml)).render(spp=4)
    ref = xml.replace(f'<bsdf type="shader" id="mat"><string name="filename" value="{path}"/>'
                      '<rgb name="color" value="0.2, 0.4, 0.6"/></bsdf>',
                      '<bsdf type="diffuse"><rgb name="reflectance" value="0.2, 0.4, 0.6"/></bsdf>')
    b = Renderer(load_xml(tmp_path, ref)).render(spp=4)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # the layered shader's kernels: the largest BSDF-table kernels of the suite
def test_coated_metal_sampling_chi_square():
    sh = load_shader(os.path.join(SHADERS, "coated_metal.py"), "bsdf")
    b = BSDF("shader", sh.defaults())
    b.shader = sh
    slots, ids = [], {}

    def slot(tex, where):
        if id(tex) not in ids:
            ids[id(tex)] = len(slots)
            slots.append((tex, where))
        return ids[id(tex)]

    shaders = []
    rb = RowBuilder(slot, shaders)
    row = rb.add(b, "test")
    table = BSDFTable(TextureTable(slots), rb.rows, shaders)
    wi = np.array([0.6, 0.0, 0.8], np.float32)
    n = 100000
    out = sample_np(table, row, wi, np.random.default_rng(0).random((n, 3)))
    ok = out["pdf"] > 0
    np.testing.assert_allclose(out["pdf"][ok], out["eval_pdf"][ok], rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(out["weight"][ok] * out["pdf"][ok, None], out["eval"][ok],
                               rtol=2e-3, atol=1e-5)
    p, mass = chi2_directions(out["wo"][ok], n, lambda d: eval_np(table, row, wi, d)[1])
    assert p > 1e-3
    assert ok.mean() == pytest.approx(mass, abs=0.01)


@pytest.fixture(scope="module")
def shader_scene(tmp_path_factory):
    xml = f"""<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="2"/></integrator>
  <sensor type="perspective"><float name="fov" value="50"/>
    <transform name="to_world"><lookat origin="0, 1.5, -4" target="0, 0, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="10"/><integer name="height" value="8"/>
      <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="{SPP}"/></sampler>
  </sensor>
  <shape type="sphere"><transform name="to_world"><translate x="-0.9"/><scale value="0.8"/></transform>
    <bsdf type="shader" id="toon"><string name="filename" value="{SHADERS}/toon.py"/>
      <float name="softness" value="0.3"/></bsdf></shape>
  <shape type="rectangle" id="floor">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="3"/><translate y="-0.8"/></transform>
    <bsdf type="diffuse" id="wood"><texture type="shader" name="reflectance">
      <string name="filename" value="{SHADERS}/rings.py"/><float name="frequency" value="3"/>
    </texture></bsdf></shape>
  <emitter type="point"><point name="position" x="-1" y="3" z="-2"/><rgb name="intensity" value="15"/></emitter>
  <emitter type="directional"><vector name="direction" x="0.5" y="-1" z="0.3"/></emitter>
</scene>"""
    path = tmp_path_factory.mktemp("shaders") / "scene.xml"
    path.write_text(xml)
    scene = dr.load_scene(str(path), allow_shaders=True)
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    assert np.isfinite(img).all() and img.mean() > 0.01
    adj = np.random.default_rng(1).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


@pytest.mark.slow  # two user shaders in the replay kernels (~8 s to compile cold)
@pytest.mark.parametrize("name,idx", [
    ("toon.base_color", [0, 1]), ("toon.softness", [0]), ("toon.rim", [0]),
    ("wood.reflectance.frequency", [0]), ("wood.reflectance.color1", [0]),
])
def test_shader_parameter_gradients(shader_scene, name, idx):
    scene, r, adj = shader_scene
    g = r.vjp(adj, [name], spp=SPP, seed=SEED)[name]
    expected = np.array([render_fd(r, scene, adj, name, i, SPP, SEED) for i in idx])
    assert np.all(np.abs(expected) > 1e-4)
    assert_grad_close(g.ravel()[idx], expected, rtol=5e-3, atol=2e-4, what=name)
