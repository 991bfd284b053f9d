"""Shapes: analytic tessellations against Mitsuba's geometry and uv conventions, OBJ and PLY
loading, normals, flip_normals, face_normals."""
import numpy as np
import pytest

from diffrender.scene import load_scene
from diffrender.scene import meshes
from diffrender.scene import transforms as tf


def geometric_normals(v, f):
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def one_shape(xml_scene, body):
    return load_scene(xml_scene(body)).shapes[0]


def test_rectangle_vertices_uvs_normals(xml_scene):
    s = one_shape(xml_scene, '<shape type="rectangle"/>')
    np.testing.assert_array_equal(s.vertices, [[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]])
    # Mitsuba: uv = (x + 1, y + 1) / 2
    np.testing.assert_array_equal(s.uvs, (s.vertices[:, :2] + 1) / 2)
    np.testing.assert_array_equal(s.normals, np.tile([0, 0, 1], (4, 1)))
    np.testing.assert_allclose(geometric_normals(s.vertices, s.faces), np.tile([0, 0, 1], (2, 1)))
    assert s.id == "shape_0" and s.type == "rectangle"


def test_rectangle_to_world(xml_scene):
    s = one_shape(xml_scene, """
        <shape type="rectangle">
            <transform name="to_world">
                <rotate x="1" angle="-90"/>
                <scale value="5"/>
                <translate y="2"/>
            </transform>
        </shape>""")
    # rotate -90 about x maps (x, y, 0) -> (x, 0, -y); normal +Z -> +Y
    np.testing.assert_allclose(s.vertices, [[-5, 2, 5], [5, 2, 5], [5, 2, -5], [-5, 2, -5]],
                               atol=1e-12)
    np.testing.assert_allclose(s.normals, np.tile([0, 1, 0], (4, 1)), atol=1e-12)
    np.testing.assert_allclose(geometric_normals(s.vertices, s.faces), np.tile([0, 1, 0], (2, 1)),
                               atol=1e-12)
    np.testing.assert_array_equal(s.local_vertices[:, 2], 0)


def test_cube_matches_mitsuba(xml_scene):
    s = one_shape(xml_scene, '<shape type="cube"/>')
    assert s.vertices.shape == (24, 3) and s.faces.shape == (12, 3)
    assert set(map(tuple, s.vertices.astype(int))) == {
        (x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)}
    gn = geometric_normals(s.vertices, s.faces)
    # winding is CCW around the outward normal, and equals the vertex normals
    centroids = s.vertices[s.faces].mean(axis=1)
    assert np.all(np.einsum("ij,ij->i", gn, centroids) > 0)
    np.testing.assert_allclose(gn, s.normals[s.faces[:, 0]])
    # every face maps onto [0, 1]^2
    for k in range(6):
        uv = s.uvs[4 * k:4 * k + 4]
        assert sorted(map(tuple, uv)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # Mitsuba's first vertex and triangle
    np.testing.assert_array_equal(s.vertices[0], [1, -1, -1])
    np.testing.assert_array_equal(s.faces[:2], [[0, 1, 2], [3, 0, 2]])


def test_cube_scaled_normals_use_inverse_transpose(xml_scene):
    s = one_shape(xml_scene, """
        <shape type="cube">
            <transform name="to_world"><scale value="1, 2, 3"/></transform>
        </shape>""")
    lo, hi = s.vertices.min(axis=0), s.vertices.max(axis=0)
    np.testing.assert_array_equal(lo, [-1, -2, -3])
    np.testing.assert_array_equal(hi, [1, 2, 3])
    np.testing.assert_allclose(geometric_normals(s.vertices, s.faces), s.normals[s.faces[:, 0]],
                               atol=1e-12)


def test_disk(xml_scene):
    s = one_shape(xml_scene, '<shape type="disk"/>')
    r = np.linalg.norm(s.vertices[:, :2], axis=1)
    np.testing.assert_array_equal(s.vertices[:, 2], 0)
    assert r.max() == pytest.approx(1.0)
    rim = r > 0.5
    np.testing.assert_allclose(r[rim], 1.0)
    # uv = (r, phi / 2pi)
    phi = np.mod(np.arctan2(s.vertices[rim, 1], s.vertices[rim, 0]), 2 * np.pi)
    np.testing.assert_allclose(s.uvs[rim, 0], 1.0)
    ok = s.uvs[rim, 1] < 1.0  # the seam column has v = 1 where phi wraps to 0
    np.testing.assert_allclose(s.uvs[rim, 1][ok], (phi / (2 * np.pi))[ok], atol=1e-12)
    np.testing.assert_array_equal(s.uvs[~rim, 0], 0)
    np.testing.assert_allclose(geometric_normals(s.vertices, s.faces),
                               np.tile([0, 0, 1], (len(s.faces), 1)), atol=1e-12)
    # area of the polygon approaches pi
    a = 0.5 * np.linalg.norm(np.cross(s.vertices[s.faces[:, 1]] - s.vertices[s.faces[:, 0]],
                                      s.vertices[s.faces[:, 2]] - s.vertices[s.faces[:, 0]]),
                             axis=1).sum()
    assert a == pytest.approx(np.pi, rel=1e-3)


def test_sphere_radius_center_normals_uvs(xml_scene):
    s = one_shape(xml_scene, """
        <shape type="sphere">
            <point name="center" x="1" y="2" z="3"/>
            <float name="radius" value="0.5"/>
        </shape>""")
    c = np.array([1.0, 2, 3])
    d = s.vertices - c
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 0.5, rtol=1e-12)
    np.testing.assert_allclose(s.normals, d / 0.5, atol=1e-12)
    gn = geometric_normals(s.vertices, s.faces)
    cent = s.vertices[s.faces].mean(axis=1) - c
    assert np.all(np.einsum("ij,ij->i", gn, cent) > 0)  # outward winding
    # silhouette accuracy: facets deviate from the sphere by < 1e-3 of the radius, i.e. less
    # than half a pixel for a sphere 512 px in radius
    assert (0.5 - np.linalg.norm(cent, axis=1)).max() / 0.5 < 1e-3
    # Mitsuba uv: u = phi / 2pi (phi = atan2(y, x) in [0, 2pi)), v = theta / pi from +Z
    loc = (s.vertices - c) / 0.5
    theta = np.arccos(np.clip(loc[:, 2], -1, 1))
    np.testing.assert_allclose(s.uvs[:, 1], theta / np.pi, atol=1e-12)
    body = (s.uvs[:, 1] > 0) & (s.uvs[:, 1] < 1) & (s.uvs[:, 0] < 1)
    phi = np.mod(np.arctan2(loc[body, 1], loc[body, 0]), 2 * np.pi)
    np.testing.assert_allclose(s.uvs[body, 0], phi / (2 * np.pi), atol=1e-9)
    # to_world = translate(center) @ scale(radius)
    np.testing.assert_allclose(s.to_world, tf.translate(c) @ tf.scale(0.5))


def test_sphere_to_world_composes_with_center_and_radius(xml_scene):
    s = one_shape(xml_scene, """
        <shape type="sphere">
            <point name="center" x="1" y="0" z="0"/>
            <float name="radius" value="2"/>
            <transform name="to_world"><translate z="10"/></transform>
        </shape>""")
    # Mitsuba: to_world * translate(center) * scale(radius)
    np.testing.assert_allclose(np.linalg.norm(s.vertices - [1, 0, 10], axis=1), 2.0)


def test_flip_normals_reverses_winding_and_negates(xml_scene):
    a = one_shape(xml_scene, '<shape type="sphere"/>')
    b = one_shape(xml_scene, '<shape type="sphere"><boolean name="flip_normals" '
                             'value="true"/></shape>')
    np.testing.assert_array_equal(b.faces, a.faces[:, [0, 2, 1]])
    np.testing.assert_array_equal(b.normals, -a.normals)
    gn = geometric_normals(b.vertices, b.faces)
    assert np.all(np.einsum("ij,ij->i", gn, b.vertices[b.faces].mean(axis=1)) < 0)


OBJ_QUAD = """\
# a unit quad with uvs and one normal
v 0 0 0
v 2 0 0
v 2 1 0
v 0 1 0
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 0 1
f 1/1/1 2/2/1 3/3/1 4/4/1
"""


def test_obj_fan_triangulation_uvs_and_flip_tex_coords(xml_scene, write):
    write(OBJ_QUAD, "quad.obj")
    s = one_shape(xml_scene, '<shape type="obj"><string name="filename" value="quad.obj"/>'
                             '</shape>')
    np.testing.assert_array_equal(s.faces, [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_array_equal(s.vertices, [[0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0]])
    # flip_tex_coords defaults to true for OBJ: v -> 1 - v
    np.testing.assert_array_equal(s.uvs, [[0, 1], [1, 1], [1, 0], [0, 0]])
    np.testing.assert_array_equal(s.normals, np.tile([0, 0, 1], (4, 1)))
    s = one_shape(xml_scene, '<shape type="obj"><string name="filename" value="quad.obj"/>'
                             '<boolean name="flip_tex_coords" value="false"/></shape>')
    np.testing.assert_array_equal(s.uvs, [[0, 0], [1, 0], [1, 1], [0, 1]])
    assert s.filename.endswith("quad.obj")


CUBE_OBJ = """\
v -1 -1 -1
v 1 -1 -1
v 1 1 -1
v -1 1 -1
v -1 -1 1
v 1 -1 1
v 1 1 1
v -1 1 1
f 1 4 3 2
f 5 6 7 8
f 1 2 6 5
f 3 4 8 7
f 2 3 7 6
f -4 -1 -5 -8
"""


def test_obj_smooth_normals_negative_indices_and_face_normals(xml_scene, write):
    write(CUBE_OBJ, "cube.obj")
    s = one_shape(xml_scene, '<shape type="obj"><string name="filename" value="cube.obj"/>'
                             '</shape>')
    assert s.vertices.shape == (8, 3) and s.faces.shape == (12, 3)
    # angle-weighted normals at a cube corner: every face contributes pi/2 -> (1,1,1)/sqrt(3)
    np.testing.assert_allclose(s.normals, s.vertices / np.sqrt(3), atol=1e-12)
    assert s.uvs is None
    gn = geometric_normals(s.vertices, s.faces)
    assert np.all(np.einsum("ij,ij->i", gn, s.vertices[s.faces].mean(axis=1)) > 0)
    s = one_shape(xml_scene, '<shape type="obj"><string name="filename" value="cube.obj"/>'
                             '<boolean name="face_normals" value="true"/></shape>')
    assert s.normals is None and s.local_normals is None


def test_obj_distinct_vt_split_vertices(write):
    path = write("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvt 0.5 0.5\n"
                 "f 1/1 2/2 3/3\nf 1/4 3/3 2/2\n", "split.obj")
    v, f, n, uv = meshes.load_obj(path, flip_tex_coords=False)
    assert len(v) == 4  # vertex 1 appears with two different uvs
    np.testing.assert_array_equal(f, [[0, 1, 2], [3, 2, 1]])
    np.testing.assert_array_equal(uv[3], [0.5, 0.5])


def test_obj_to_world_and_normal_transform(xml_scene, write):
    # a plane tilted 45 degrees: normal (0, -1, 1)/sqrt2; after scale (1, 2, 1) the normal is
    # inverse-transpose transformed: (0, -1/2, 1) normalised
    write("v 0 0 0\nv 1 0 0\nv 1 1 1\nv 0 1 1\nf 1 2 3 4\n", "tilt.obj")
    s = one_shape(xml_scene, """
        <shape type="obj">
            <string name="filename" value="tilt.obj"/>
            <transform name="to_world"><scale value="1, 2, 1"/></transform>
        </shape>""")
    np.testing.assert_allclose(s.vertices[2], [1, 2, 1])
    expected = np.array([0, -0.5, 1]) / np.linalg.norm([0, -0.5, 1])
    np.testing.assert_allclose(s.normals, np.tile(expected, (4, 1)), atol=1e-12)
    np.testing.assert_allclose(s.local_normals, np.tile([0, -1, 1], (4, 1)) / np.sqrt(2),
                               atol=1e-12)
    np.testing.assert_allclose(geometric_normals(s.vertices, s.faces)[0], expected, atol=1e-12)


def test_ply_keeps_normals_and_uvs(xml_scene, tmp_path):
    import trimesh

    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    m = trimesh.Trimesh(v, f, process=False)
    m.vertex_normals = np.tile([0.0, 0.6, 0.8], (4, 1))  # deliberately not the face normal
    m.visual = trimesh.visual.TextureVisuals(uv=np.array([[0, 0], [1, 0], [1, 1], [0, 1.0]]))
    (tmp_path / "q.ply").write_bytes(trimesh.exchange.ply.export_ply(m, vertex_normal=True))
    s = one_shape(xml_scene, '<shape type="ply"><string name="filename" value="q.ply"/></shape>')
    np.testing.assert_allclose(s.vertices, v)
    np.testing.assert_array_equal(s.faces, f)
    np.testing.assert_allclose(s.normals, np.tile([0.0, 0.6, 0.8], (4, 1)), atol=1e-6)
    np.testing.assert_allclose(s.uvs, [[0, 0], [1, 0], [1, 1], [0, 1]])  # PLY: no flip
    plain = trimesh.exchange.ply.export_ply(m, vertex_normal=False, include_attributes=False)
    (tmp_path / "p.ply").write_bytes(plain)
    s = one_shape(xml_scene, '<shape type="ply"><string name="filename" value="p.ply"/></shape>')
    np.testing.assert_allclose(s.normals, np.tile([0, 0, 1], (4, 1)))  # recomputed


def test_shape_names_and_default_bsdf(xml_scene):
    sc = load_scene(xml_scene("""
        <shape type="cube" id="box"/>
        <shape type="disk"/>"""))
    assert [s.id for s in sc.shapes] == ["box", "shape_1"]
    b = sc.shapes[1].bsdf
    assert b.type == "diffuse" and not b.twosided
    np.testing.assert_array_equal(b.params["reflectance"].value, [0.5, 0.5, 0.5])
