"""The ``mesh_attribute`` texture (Mitsuba 3.9.1 semantics): PLY vertex / face properties become
shape attributes with Mitsuba's names, the texture interpolates vertex attributes with the hit's
barycentrics and holds face attributes constant per triangle, ``scale`` multiplies, and the
attribute values (``<shape>.<attribute>``) are differentiable: reverse mode against central
finite differences (common random numbers) and forward mode against reverse mode. Bad uses are
one-line errors naming the file, line and attribute."""
import os
import textwrap

import numpy as np
import pytest

import diffrender as dr
from diffrender import Renderer
from diffrender.errors import SceneError
from diffrender.scene import meshes
from diffrender.scene.writer import write_scene
from tests.helpers.fd import assert_vjp_matches_fd
from tests.helpers.reference import assert_no_bias, load_image_reference

SPP = 2
SEED = 5
#: a quad in the z = 0 plane (two triangles), seen by the camera from +z
QUAD_V = [(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)]
QUAD_F = [(0, 1, 2), (0, 2, 3)]
#: vertex colours of one linear function over the whole quad: R = 0.5 + 0.3 x, G = 0.5 + 0.2 y
VERTEX_COLOR = [(0.5 + 0.3 * x, 0.5 + 0.2 * y, 0.4) for x, y, _ in QUAD_V]
FACE_COLOR = [(0.2, 0.4, 0.6), (0.9, 0.1, 0.3)]
FACE_WEIGHT = [0.25, 0.75]


def write_quad_ply(path):
    """An ASCII PLY of the quad with vertex_color (``color_0..2``), face_color and
    face_weight (``weight_0``), the naming Mitsuba's ``write_ply`` uses."""
    lines = ["ply", "format ascii 1.0", f"element vertex {len(QUAD_V)}",
             "property float x", "property float y", "property float z",
             "property float color_0", "property float color_1", "property float color_2",
             f"element face {len(QUAD_F)}", "property list uchar int vertex_indices",
             "property float color_0", "property float color_1", "property float color_2",
             "property float weight_0", "end_header"]
    lines += [" ".join(map(str, v + c)) for v, c in zip(QUAD_V, VERTEX_COLOR)]
    lines += [f"3 {' '.join(map(str, f))} {' '.join(map(str, c))} {w}"
              for f, c, w in zip(QUAD_F, FACE_COLOR, FACE_WEIGHT)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def quad_scene(ply, bsdf, integrator="direct", res=8):
    return {"type": "scene", "integrator": {"type": integrator, **({"max_depth": 2}
                                                                    if integrator == "path" else {})},
            "sensor": {"type": "perspective", "fov": 45,
                       "to_world": {"type": "transform", "lookat": {
                           "origin": [0, 0, 2], "target": [0, 0, 0], "up": [0, 1, 0]}},
                       "film": {"type": "hdrfilm", "width": res, "height": res,
                                "rfilter": {"type": "box"}},
                       "sampler": {"type": "independent", "sample_count": SPP}},
            "quad": {"type": "ply", "filename": ply, "bsdf": bsdf},
            "env": {"type": "constant", "radiance": {"type": "rgb", "value": [1.0, 1.0, 1.0]}}}


def attr(name, **kw):
    return {"type": "mesh_attribute", "name": name, **kw}


def test_ply_properties_become_mitsubas_attributes(tmp_path):
    """Naming and values as Mitsuba 3.9.1's PLY loader (measured): r g b (8-bit, kept as
    stored) -> vertex_color, <p>_0 -> vertex_<p>, <p>_r/g/b -> vertex_<p>_color, two fields or
    no postfix: ignored; face properties -> face_*."""
    p = tmp_path / "a.ply"
    p.write_text("\n".join([
        "ply", "format ascii 1.0", "element vertex 3", "property float x", "property float y",
        "property float z", "property uchar red", "property uchar green", "property uchar blue",
        "property float temp_0", "property float alb_r", "property float alb_g",
        "property float alb_b", "property float two_0", "property float two_1",
        "property float nopost", "element face 1", "property list uchar int vertex_indices",
        "property float w_x", "end_header",
        "0 0 0 255 0 0 1 .1 .2 .3 5 6 7", "1 0 0 0 255 0 2 .1 .2 .3 5 6 7",
        "0 1 0 0 0 255 3 .1 .2 .3 5 6 7", "3 0 1 2 0.5"]) + "\n")
    a = {}
    meshes.load_ply(str(p), False, a)
    assert sorted(a) == ["face_w", "vertex_alb_color", "vertex_color", "vertex_temp"]
    np.testing.assert_array_equal(a["vertex_color"], 255 * np.eye(3))
    np.testing.assert_allclose(a["vertex_temp"], [[1], [2], [3]])
    np.testing.assert_allclose(a["vertex_alb_color"], [[0.1, 0.2, 0.3]] * 3, rtol=1e-6)
    np.testing.assert_allclose(a["face_w"], [[0.5]])


def test_lookup_interpolates_vertex_values_and_holds_face_values(tmp_path):
    ply = write_quad_ply(tmp_path / "q.ply")
    bsdf = {"type": "blendbsdf", "weight": attr("face_weight"),
            "bsdf_0": {"type": "diffuse", "reflectance": attr("vertex_color", scale=2.0)},
            "bsdf_1": {"type": "diffuse", "reflectance": attr("face_color")}}
    scene = dr.load_scene(quad_scene(ply, bsdf))
    r = Renderer(scene)
    b = scene.shapes[0].bsdf
    slot = {n: r._slot_of[id(t)] for n, t in (("weight", b.params["weight"]),
                                               ("vertex", b.children[0].params["reflectance"]),
                                               ("face", b.children[1].params["reflectance"]))}
    bary = np.array([[0.2, 0.3], [0.0, 0.0], [0.6, 0.1], [0.2, 0.3]])
    tri = np.array([0, 0, 1, 1])
    vc, f = np.array(VERTEX_COLOR), np.array(QUAD_F)
    want = np.array([(1 - b1 - b2) * vc[f[t, 0]] + b1 * vc[f[t, 1]] + b2 * vc[f[t, 2]]
                     for (b1, b2), t in zip(bary, tri)])
    got = r.textures.evaluate(slot["vertex"], np.zeros((4, 2)), bary, tri)
    np.testing.assert_allclose(got, 2.0 * want, rtol=1e-6, atol=1e-6)
    got = r.textures.evaluate(slot["face"], np.zeros((4, 2)), bary, tri)
    np.testing.assert_allclose(got, np.array(FACE_COLOR)[tri], rtol=1e-6)
    got = r.textures.evaluate(slot["weight"], np.zeros((4, 2)), bary, tri)  # 1 channel: on all 3
    np.testing.assert_allclose(got, np.repeat(np.array(FACE_WEIGHT)[tri, None], 3, 1), rtol=1e-6)


def test_rendered_albedo_follows_the_attributes(tmp_path):
    """The albedo AOV of a diffuse quad filling the film: a vertex colour that is one linear
    function over the quad renders as that function of the pixel position (mean at the centre,
    slopes of 0.3 / 0.2 per unit across the view), a face colour as the two triangles' colours."""
    ply = write_quad_ply(tmp_path / "q.ply")
    res = 8
    scene = dr.load_scene(quad_scene(ply, {"type": "diffuse", "reflectance": attr("vertex_color")},
                                     res=res))
    alb = Renderer(scene).render(spp=32, seed=1, aovs=("albedo",))["albedo"].astype(np.float64)
    half = 2.0 * np.tan(np.radians(22.5))  # half the visible width at the quad
    step = 2.0 * half / res
    cols, rows = np.meshgrid(np.arange(res), np.arange(res))
    A = np.stack([np.ones(res * res), cols.ravel(), rows.ravel()], 1)
    for c, (mean, slope, axis) in enumerate(((0.5, 0.3, 1), (0.5, 0.2, 2))):
        coef, *_ = np.linalg.lstsq(A, alb[:, :, c].ravel(), rcond=None)
        assert abs(coef[0] + coef[1] * (res - 1) / 2 + coef[2] * (res - 1) / 2 - mean) < 0.01
        assert abs(abs(coef[axis]) - slope * step) < 0.05 * slope * step, (c, coef)
        assert abs(coef[3 - axis]) < 0.05 * slope * step, (c, coef)
    np.testing.assert_allclose(alb[:, :, 2], 0.4, atol=1e-5)

    scene = dr.load_scene(quad_scene(ply, {"type": "diffuse", "reflectance": attr("face_color")},
                                     res=res))
    alb = Renderer(scene).render(spp=8, seed=1, aovs=("albedo",))["albedo"].reshape(-1, 3)
    on = [np.all(np.abs(alb - c) < 1e-5, axis=1) for c in FACE_COLOR]
    assert on[0].sum() >= res * res // 3 and on[1].sum() >= res * res // 3
    # the pixels on the diagonal mix the two colours (between them, channel by channel)
    lo, hi = np.minimum(*FACE_COLOR), np.maximum(*FACE_COLOR)
    assert np.all(alb >= lo - 1e-5) and np.all(alb <= hi + 1e-5)


def test_no_bias_against_mitsuba():
    """Two spheres whose materials read mesh attributes of a binary PLY (image right: a diffuse
    vertex colour; image left: a blend of a diffuse face colour times 0.8 and rough gold with a
    per-face weight) on a floor, uniform environment and a directional light, depth 4, against
    Mitsuba 3.9.1 at 32768 spp (``tests/data/reference/mesh_attribute.exr``, written by
    ``python benchmarks/bench_materials.py --write-reference mesh_attribute``). The z-test of
    the material references: 2x2-block differences per sphere and overall, with a standard
    error small enough that a 1% bias gives |z| > 6."""
    ref, scene = load_image_reference("mesh_attribute")
    img = Renderer(scene).render(spp=512, seed=11).astype(np.float64)
    assert_no_bias(img, ref, "left (face attributes, blend)", "right (vertex colour)")


@pytest.fixture(scope="module")
def grad_setup(tmp_path_factory):
    ply = write_quad_ply(tmp_path_factory.mktemp("ma") / "q.ply")
    bsdf = {"type": "blendbsdf", "weight": attr("face_weight"),
            "bsdf_0": {"type": "diffuse", "reflectance": attr("vertex_color")},
            "bsdf_1": {"type": "diffuse", "reflectance": attr("face_color", scale=0.5)}}
    scene = dr.load_scene(quad_scene(ply, bsdf, integrator="path", res=6))
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    adj = np.random.default_rng(3).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


#: (parameter, flat indices checked): the render is linear in each along fixed paths
GRAD_CASES = [("quad.vertex_color", [0, 4, 8, 10]), ("quad.face_color", [0, 5]),
              ("quad.face_weight", [0, 1])]


@pytest.mark.parametrize("name,idx", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_attribute_gradients_match_finite_differences(grad_setup, name, idx):
    scene, r, adj = grad_setup
    assert scene.parameters().kind(name) == "mesh_attribute"
    assert_vjp_matches_fd(r, scene, adj, name, idx, SPP, SEED)


def test_forward_mode_matches_reverse_mode(grad_setup):
    scene, r, adj = grad_setup
    names = [n for n, _ in GRAD_CASES]
    rng = np.random.default_rng(4)
    tangents = {n: rng.normal(size=np.shape(scene.parameters()[n])) for n in names}
    g = r.vjp(adj, names, spp=SPP, seed=SEED)
    dimg = r.jvp(tangents, spp=SPP, seed=SEED)
    lhs = float((dimg.astype(np.float64) * adj).sum())
    rhs = sum(float((g[n] * tangents[n]).sum()) for n in names)
    assert abs(lhs - rhs) <= 1e-3 * max(1.0, abs(rhs)), (lhs, rhs)


def test_a_changed_attribute_is_uploaded(grad_setup):
    scene, r, _ = grad_setup
    p = scene.parameters()
    before = r.render(spp=SPP, seed=SEED)
    old = np.array(p["quad.face_color"])
    p["quad.face_color"] = old * 0.0
    try:
        after = r.render(spp=SPP, seed=SEED)
    finally:
        p["quad.face_color"] = old
    assert after.mean() < before.mean() - 1e-3


@pytest.mark.parametrize("body,what", [
    ('<string name="name" value="vertex_nothere"/>', "vertex_nothere"),
    ('<string name="name" value="colour"/>', "'colour'"),
])
def test_bad_attribute_is_a_one_line_error(xml_scene_here, tmp_path, body, what):
    write_quad_ply(tmp_path / "q.ply")
    path = xml_scene_here(f"""
        <shape type="ply">
            <string name="filename" value="q.ply"/>
            <bsdf type="diffuse">
                <texture type="mesh_attribute" name="reflectance">
                    {body}
                </texture>
            </bsdf>
        </shape>""")
    with pytest.raises(SceneError) as e:
        dr.load_scene(path)
    msg = str(e.value)
    assert "\n" not in msg and what in msg
    assert msg.startswith(f"{path}:6:"), msg  # the line of the attribute's name


def test_a_colour_attribute_as_a_float_parameter_is_an_error(xml_scene_here, tmp_path):
    write_quad_ply(tmp_path / "q.ply")
    path = xml_scene_here("""
        <shape type="ply">
            <string name="filename" value="q.ply"/>
            <bsdf type="blendbsdf">
                <texture type="mesh_attribute" name="weight">
                    <string name="name" value="face_color"/>
                </texture>
                <bsdf type="diffuse"/>
                <bsdf type="conductor"/>
            </bsdf>
        </shape>""")
    with pytest.raises(SceneError, match="face_color.*3 channels.*1-channel"):
        dr.load_scene(path)


@pytest.fixture
def xml_scene_here(tmp_path):
    def make(body):
        p = tmp_path / "scene.xml"
        p.write_text('<scene version="3.0.0">\n' + textwrap.dedent(body).strip("\n") + "\n</scene>\n")
        return str(p)
    return make


CORPUS_DIR = os.path.join(os.environ.get("DIFFRENDER_CORPUS_SOURCES", ""),
                          "mitsuba-renderer+mitsuba-data", "tests", "scenes", "mesh_attributes")


@pytest.mark.skipif(not os.path.isdir(CORPUS_DIR), reason="mitsuba-data is not stored here "
                    "(no licence): set DIFFRENDER_CORPUS_SOURCES to a folder of checkouts")
@pytest.mark.parametrize("name", ["1_face", "3_face", "3_vertex"])
def test_mitsuba_data_mesh_attribute_scenes_load(name):
    scene = dr.load_scene(os.path.join(CORPUS_DIR, f"test_mesh_attributes_{name}_direct.xml"))
    want = {"1_face": "face_weight", "3_face": "face_color", "3_vertex": "vertex_color"}[name]
    assert f"shape_0.{want}" in scene.parameters()


def test_written_scene_keeps_changed_attributes(tmp_path):
    """``write_scene`` writes a shape whose attribute changed as a PLY with its attributes
    (Mitsuba's names), and the written scene reloads with the new values."""
    ply = write_quad_ply(tmp_path / "q.ply")
    bsdf = {"type": "diffuse", "reflectance": attr("vertex_color")}
    scene = dr.load_scene(quad_scene(ply, bsdf))
    p = scene.parameters()
    new = np.array(p["quad.vertex_color"]) * 0.5
    p["quad.vertex_color"] = new
    write_scene(scene, tmp_path / "out" / "s.xml")
    again = dr.load_scene(str(tmp_path / "out" / "s.xml"))
    q = again.parameters()
    np.testing.assert_allclose(q["quad.vertex_color"], new, rtol=1e-6)
    np.testing.assert_allclose(q["quad.face_color"], FACE_COLOR, rtol=1e-6)
    np.testing.assert_allclose(q["quad.face_weight"], np.array(FACE_WEIGHT)[:, None], rtol=1e-6)


def test_an_emitter_reading_an_attribute_is_refused(tmp_path):
    ply = write_quad_ply(tmp_path / "q.ply")
    sc = quad_scene(ply, {"type": "diffuse"})
    sc["quad"]["emitter"] = {"type": "area", "radiance": attr("vertex_color")}
    scene = dr.load_scene(sc)
    with pytest.raises(SceneError, match="mesh_attribute.*emitter.*not supported yet"):
        Renderer(scene)
