"""Cross-check against Mitsuba 3 itself (skipped when the ``mitsuba`` package is missing): the same
XML loaded by both gives the same cameras, films, samplers, meshes, uv conventions, normals,
emitters and colours."""
import os

import numpy as np
import pytest

from diffrender.image import srgb_to_linear
from diffrender.scene import load_scene

mi = pytest.importorskip("mitsuba")


@pytest.fixture(autouse=True)
def scalar_rgb():
    mi.set_variant("scalar_rgb")


def both(path, **defines):
    ours = load_scene(path, **defines)
    theirs = mi.load_file(str(path), optimize=False,  # no merging of shapes
                          **{k: str(v) for k, v in defines.items()})
    return ours, theirs


def mesh_arrays(shape):
    p = mi.traverse(shape)
    key = [k for k in p.keys() if k.endswith("vertex_positions")]
    if not key:
        return None
    pre = key[0][: -len("vertex_positions")]
    out = {"v": np.array(p[pre + "vertex_positions"]).reshape(-1, 3),
           "f": np.array(p[pre + "faces"]).reshape(-1, 3)}
    for name, k, d in (("n", "vertex_normals", 3), ("uv", "vertex_texcoords", 2)):
        if pre + k in p.keys() and len(p[pre + k]):
            out[name] = np.array(p[pre + k]).reshape(-1, d)
    return out


@pytest.mark.parametrize("name", ["cornell-box", "shadow", "textured-plane"])
def test_bundled_scenes_match_mitsuba(repo, name):
    ours, theirs = both(os.path.join(repo, "scenes", name, "scene.xml"), spp=4, res=96)
    s, t = ours.sensor, theirs.sensors()[0]
    assert s.fov_x() == pytest.approx(mi.traverse(t)["x_fov"], abs=1e-4)
    np.testing.assert_allclose(s.to_world, np.array(t.world_transform().matrix), atol=1e-5)
    film = t.film()
    assert (s.film.width, s.film.height) == tuple(film.size())
    assert s.film.rfilter.radius == pytest.approx(film.rfilter().radius())
    assert s.sampler.sample_count == t.sampler().sample_count()
    by_id = {sh.id(): sh for sh in theirs.shapes()}
    assert sorted(by_id) == sorted(sh.id for sh in ours.shapes)
    for sh in ours.shapes:
        m = mesh_arrays(by_id[sh.id])
        if m is not None and sh.type in ("obj", "ply", "cube"):
            np.testing.assert_allclose(sh.vertices, m["v"], atol=1e-4)
            np.testing.assert_array_equal(sh.faces, m["f"])
        bb = by_id[sh.id].bbox()
        np.testing.assert_allclose(sh.vertices.min(axis=0), np.array(bb.min), atol=2e-3)
        np.testing.assert_allclose(sh.vertices.max(axis=0), np.array(bb.max), atol=2e-3)


def test_obj_reader_matches_mitsuba(xml_scene, write):
    write("v 0 0 0\nv 2 0 0\nv 2 1 0\nv 0 1 0\nv 1 2 1\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
          "vt 0.5 0.25\nvn 0 0 1\nvn 0 0.6 0.8\n"
          "f 1/1/1 2/2/1 3/3/1 4/4/1\nf 3/3/2 5/5/2 4/4/2\nf 2/5/1 5/5/2 3/3/1\n", "m.obj")
    write("v 0 0 0\nv 1 0 0\nv 1 1 0.5\nv 0 1 0\nv 0.5 0.5 1\n"
          "f 1 2 5\nf 2 3 5\nf 3 4 5\nf 4 1 5\n", "pyramid.obj")
    path = xml_scene("""
        <shape type="obj" id="m">
            <string name="filename" value="m.obj"/>
            <transform name="to_world"><scale value="1, 2, 3"/><rotate z="1" angle="30"/>
            </transform>
        </shape>
        <shape type="obj" id="p"><string name="filename" value="pyramid.obj"/></shape>
        <shape type="obj" id="q">
            <string name="filename" value="m.obj"/>
            <boolean name="flip_tex_coords" value="false"/>
        </shape>""")
    ours, theirs = both(path)
    by_id = {sh.id(): mesh_arrays(sh) for sh in theirs.shapes()}
    for sh in ours.shapes:
        m = by_id[sh.id]
        np.testing.assert_allclose(sh.vertices, m["v"], atol=1e-5)
        np.testing.assert_array_equal(sh.faces, m["f"])
        np.testing.assert_allclose(sh.normals, m["n"], atol=1e-5)  # file or smooth normals
        if sh.uvs is not None:
            np.testing.assert_allclose(sh.uvs, m["uv"], atol=1e-6)


def surface_points(sh):
    """Points on the analytic surface with our uv and normal there: vertices for curved
    shapes (they lie on the surface), triangle centroids for flat ones."""
    if sh.type == "sphere":
        keep = np.ones(len(sh.vertices), bool)
        keep &= (sh.uvs[:, 0] > 1e-6) & (sh.uvs[:, 0] < 1 - 1e-6)
        keep &= (sh.uvs[:, 1] > 1e-6) & (sh.uvs[:, 1] < 1 - 1e-6)
        idx = np.flatnonzero(keep)[::37]
        return sh.vertices[idx], sh.uvs[idx], sh.normals[idx]
    c = sh.vertices[sh.faces].mean(axis=1)
    uv = sh.uvs[sh.faces].mean(axis=1)
    n = sh.normals[sh.faces].mean(axis=1)
    return c, uv, n / np.linalg.norm(n, axis=1, keepdims=True)


@pytest.mark.parametrize("shape", [
    '<shape type="rectangle"/>',
    '<shape type="rectangle"><transform name="to_world"><scale x="2" y="0.5"/>'
    '<rotate x="1" angle="-70"/><translate value="1, 2, 3"/></transform></shape>',
    '<shape type="rectangle"><boolean name="flip_normals" value="true"/></shape>',
    '<shape type="cube"><transform name="to_world"><rotate value="0.6, 0.8, 0" angle="20"/>'
    '</transform></shape>',
    '<shape type="cube"><transform name="to_world"><scale value="1, 2, 0.5"/>'
    '<rotate value="0, 0.6, 0.8" angle="50"/></transform></shape>',
    '<shape type="sphere"><point name="center" value="1, -1, 2"/>'
    '<float name="radius" value="0.7"/></shape>',
    '<shape type="sphere"><transform name="to_world"><rotate x="1" angle="90"/></transform>'
    '<boolean name="flip_normals" value="true"/></shape>',
    '<shape type="disk"><transform name="to_world"><rotate y="1" angle="45"/>'
    '<scale value="2"/></transform></shape>',
])
@pytest.mark.filterwarnings("ignore::diffrender.scene.plugins.SceneWarning")
def test_analytic_shapes_uv_and_normals_match_mitsuba(xml_scene, shape):
    ours, theirs = both(xml_scene(shape))
    sh = ours.shapes[0]
    pts, uvs, ns = surface_points(sh)
    assert len(pts) > 0
    for p, uv, n in zip(pts, uvs, ns):
        o = p + 0.05 * n
        si = theirs.ray_intersect(mi.Ray3f(mi.Point3f(*o), mi.Vector3f(*(-n))))
        if not si.is_valid():  # grazing or flipped side: shoot from the other side
            o = p - 0.05 * n
            si = theirs.ray_intersect(mi.Ray3f(mi.Point3f(*o), mi.Vector3f(*n)))
        assert si.is_valid()
        np.testing.assert_allclose(np.array(si.p), p, atol=2e-4)
        # disk: uv = (r, phi/2pi) is not linear across a fan triangle: r at the centroid is
        # 2/3 cos(pi/128) instead of the interpolated 2/3
        np.testing.assert_allclose(np.array(si.uv), uv, atol=5e-4 if sh.type == "disk" else 2e-4)
        np.testing.assert_allclose(np.array(si.sh_frame.n), n, atol=2e-4)


def test_emitters_and_colours_match_mitsuba(xml_scene, tmp_path):
    from PIL import Image

    Image.fromarray(np.random.default_rng(3).integers(0, 256, (4, 5, 3), dtype=np.uint8)).save(
        tmp_path / "t.png")
    path = xml_scene("""
        <emitter type="point" id="p"><point name="position" value="1, 2, 3"/>
            <rgb name="intensity" value="4, 5, 6"/></emitter>
        <shape type="cube" id="c">
            <bsdf type="diffuse"><rgb name="reflectance" value="0.2, 0.4, 0.6"/></bsdf>
            <emitter type="area"><rgb name="radiance" value="7, 8, 9"/></emitter>
        </shape>
        <shape type="cube" id="t">
            <bsdf type="diffuse"><texture type="bitmap" name="reflectance">
                <string name="filename" value="t.png"/></texture></bsdf>
        </shape>""")
    ours, theirs = both(path)
    p = mi.traverse(theirs)
    np.testing.assert_allclose(ours.emitters[0].position, np.array(p["p.position"]), atol=1e-6)
    np.testing.assert_allclose(ours.emitters[0].params["intensity"].value,
                               np.array(p["p.intensity.value"]), rtol=1e-6)
    np.testing.assert_allclose(ours.shapes[0].emitter.params["radiance"].value,
                               np.array(p["c.emitter.radiance.value"]), rtol=1e-6)
    np.testing.assert_allclose(ours.shapes[0].bsdf.params["reflectance"].value,
                               np.array(p["c.bsdf.reflectance.value"]), rtol=1e-6)
    data = np.array(p["t.bsdf.reflectance.data"])
    if data.dtype == np.uint8:  # Mitsuba >= 3.6 keeps 8-bit sRGB texels and decodes on lookup
        data = srgb_to_linear(data / 255.0)
    np.testing.assert_allclose(ours.shapes[1].bsdf.params["reflectance"].data, data, atol=1e-3)


def test_default_bsdfs_match_mitsuba(xml_scene):
    """Shapes without a BSDF: grey 0.5 diffuse, black on an emitting shape (Mitsuba's Shape
    constructor); the reflectances Mitsuba traverses equal ours."""
    ours, theirs = both(xml_scene("""
        <shape type="cube" id="plain"/>
        <shape type="rectangle" id="light"><emitter type="area"/></shape>
        <shape type="sphere" id="lit_bsdf"><bsdf type="diffuse"/><emitter type="area"/></shape>
    """))
    p = mi.traverse(theirs)
    for sh in ours.shapes:
        np.testing.assert_allclose(sh.bsdf.params["reflectance"].value,
                                   np.broadcast_to(np.array(p[f"{sh.id}.bsdf.reflectance.value"]),
                                                   (3,)), rtol=0, atol=0, err_msg=sh.id)
    assert [float(np.max(sh.bsdf.params["reflectance"].value)) for sh in ours.shapes] == \
        [0.5, 0.0, 0.5]


@pytest.mark.parametrize("body", [
    '<float name="fov" value="60"/><string name="fov_axis" value="y"/>',
    '<float name="fov" value="60"/><string name="fov_axis" value="diagonal"/>',
    '<float name="fov" value="60"/><string name="fov_axis" value="smaller"/>',
    '<float name="fov" value="60"/><string name="fov_axis" value="larger"/>',
    '<string name="focal_length" value="28mm"/>',
    "",
])
def test_fov_matches_mitsuba(xml_scene, body):
    path = xml_scene(f'<sensor type="perspective">{body}<film type="hdrfilm">'
                     '<integer name="width" value="300"/><integer name="height" value="200"/>'
                     '</film></sensor>')
    ours, theirs = both(path)
    assert ours.sensor.fov_x() == pytest.approx(mi.traverse(theirs.sensors()[0])["x_fov"],
                                                abs=1e-4)


@pytest.mark.parametrize("ops", [
    '<translate value="1, 2, 3"/><rotate z="1" angle="90"/><scale value="2, 1, 0.5"/>',
    '<scale x="3"/><rotate value="0, 0.6, 0.8" angle="-33"/><translate y="-4"/>',
    '<matrix value="1 0.5 0 1  0 1 0 2  0.25 0 1 3  0 0 0 1"/><rotate x="1" angle="15"/>',
    '<matrix value="0 1 0  -1 0 0  0 0 2"/><translate value="5"/>',
    '<lookat origin="1, 2, 3" target="0, 0, 0" up="0, 0, 1"/><scale value="0.5"/>',
])
def test_transform_composition_matches_mitsuba(xml_scene, write, ops):
    write("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 3 4\n", "t.obj")
    path = xml_scene(f'<shape type="obj" id="t"><string name="filename" value="t.obj"/>'
                     f'<transform name="to_world">{ops}</transform></shape>')
    ours, theirs = both(path)
    m = mesh_arrays(theirs.shapes()[0])
    np.testing.assert_allclose(ours.shapes[0].vertices, m["v"], atol=1e-5)
    np.testing.assert_allclose(ours.shapes[0].normals, m["n"], atol=1e-5)
