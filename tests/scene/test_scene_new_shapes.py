"""The ``serialized`` mesh format (versions 3 and 4, several meshes per file, float or double,
normals / uvs / colours) and the ``cylinder`` shape, against Mitsuba 3.9.1 loading the same file;
bad files are one-line errors."""
import struct
import zlib

import numpy as np
import pytest

from diffrender.errors import SceneError
from diffrender.scene import load_scene

V = np.array([[0, 0, 0], [2, 0, 0], [2, 1, 0.5], [0, 1, 0], [1, 2, 1]], np.float64)
F = np.array([[0, 1, 2], [0, 2, 3], [3, 2, 4]], np.uint32)
N = np.array([[0, 0, 1], [0, 0.6, 0.8], [0.6, 0, 0.8], [0, 0, 1], [0, 1, 0]], np.float64)
UV = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.25]], np.float64)


def mesh_stream(version, v, f, n=None, uv=None, colors=None, double=False, name="m"):
    flags = (1 if n is not None else 0) | (2 if uv is not None else 0) \
        | (8 if colors is not None else 0) | (0x2000 if double else 0x1000)
    dt = "<f8" if double else "<f4"
    body = struct.pack("<I", flags)
    if version == 4:
        body += name.encode() + b"\0"
    body += struct.pack("<QQ", len(v), len(f))
    for a in (v, n, uv, colors):
        if a is not None:
            body += np.asarray(a, dt).tobytes()
    body += np.asarray(f, "<u4").tobytes()
    return struct.pack("<HH", 0x041C, version) + zlib.compress(body)


def serialized_file(version, meshes):
    out, offsets = b"", []
    for m in meshes:
        offsets.append(len(out))
        out += mesh_stream(version, **m)
    fmt = "<Q" if version == 4 else "<I"
    return out + b"".join(struct.pack(fmt, o) for o in offsets) + struct.pack("<I", len(meshes))


def mitsuba_mesh(mi, path, **props):
    m = mi.load_dict({"type": "serialized", "filename": path, **props})
    p = mi.traverse(m)
    out = {"v": np.array(p["vertex_positions"]).reshape(-1, 3),
           "f": np.array(p["faces"]).reshape(-1, 3)}
    if len(p["vertex_normals"]):
        out["n"] = np.array(p["vertex_normals"]).reshape(-1, 3)
    if len(p["vertex_texcoords"]):
        out["uv"] = np.array(p["vertex_texcoords"]).reshape(-1, 2)
    return out


SECOND = dict(v=V[:4] * 3.0, f=F[:2], uv=UV[:4])


@pytest.mark.parametrize("version,double", [(3, False), (4, False), (4, True)])
@pytest.mark.parametrize("index", [0, 1])
def test_serialized_matches_mitsuba(xml_scene, write, version, double, index):
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    first = dict(v=V, f=F, n=N, uv=UV, colors=np.ones_like(V), double=double)
    path = write(serialized_file(version, [first, {**SECOND, "double": double}]), "m.serialized")
    sc = load_scene(xml_scene(f"""
        <shape type="serialized">
            <string name="filename" value="m.serialized"/>
            <integer name="shape_index" value="{index}"/>
            <transform name="to_world"><rotate z="1" angle="30"/><translate x="1"/></transform>
        </shape>"""))
    sh = sc.shapes[0]
    theirs = mitsuba_mesh(mi, path, shape_index=index, to_world=mi.ScalarTransform4f()
                          .translate([1, 0, 0]).rotate([0, 0, 1], 30))
    np.testing.assert_allclose(sh.vertices, theirs["v"], atol=1e-5)
    np.testing.assert_array_equal(sh.faces, theirs["f"])
    if "n" in theirs:
        np.testing.assert_allclose(sh.normals, theirs["n"], atol=1e-5)
    np.testing.assert_allclose(sh.uvs, theirs["uv"], atol=1e-6)
    assert len(sh.faces) == (3 if index == 0 else 2)


def test_serialized_without_normals_gets_mitsubas_vertex_normals(xml_scene, write):
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    path = write(serialized_file(4, [dict(v=V, f=F)]), "m.serialized")
    sh = load_scene(xml_scene('<shape type="serialized"><string name="filename" '
                              'value="m.serialized"/></shape>')).shapes[0]
    theirs = mitsuba_mesh(mi, path)
    np.testing.assert_allclose(sh.normals, theirs["n"], atol=1e-5)


@pytest.mark.parametrize("data,expected", [
    (b"\x1c\x04", "file too short"),
    (struct.pack("<HH", 0x1234, 4) + zlib.compress(b"x"), "format identifier 0x1234"),
    (struct.pack("<HH", 0x041C, 5) + zlib.compress(b"x"), "serialized version 5 is not"),
    (serialized_file(4, [dict(v=V, f=F)])[:30], "truncated file"),
    (struct.pack("<HH", 0x041C, 4) + b"not zlib at all", "corrupt compressed data"),
    (serialized_file(4, [dict(v=V, f=F + 3)]), "a face refers to vertex 7 of 5"),
])
def test_bad_serialized_files_are_one_line_errors(xml_scene, write, data, expected):
    write(data, "bad.serialized")
    p = xml_scene('<shape type="serialized">\n<string name="filename" value="bad.serialized"/>'
                  '\n</shape>')
    with pytest.raises(SceneError) as e:
        load_scene(p)
    msg = str(e.value)
    assert "\n" not in msg and expected in msg and msg.startswith(f"{p}:3:")


def test_serialized_shape_index_out_of_range(xml_scene, write):
    write(serialized_file(3, [dict(v=V, f=F)]), "m.serialized")
    with pytest.raises(SceneError, match=r"shape_index 2 is out of range \(the file holds 1"):
        load_scene(xml_scene('<shape type="serialized"><string name="filename" '
                             'value="m.serialized"/><integer name="shape_index" value="2"/>'
                             '</shape>'))


CYL = """
<shape type="cylinder">
    <point name="p0" x="0.2" y="-0.3" z="0.1"/>
    <point name="p1" x="1.0" y="0.9" z="-0.6"/>
    <float name="radius" value="0.4"/>
    <transform name="to_world"><scale x="1.5" y="1" z="1"/></transform>
</shape>"""


def test_cylinder_matches_mitsuba(xml_scene):
    """Every vertex of the tessellation lies on Mitsuba's analytic cylinder, with Mitsuba's
    normal and uv there (rays shot at each vertex from outside along its normal)."""
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    p = xml_scene(CYL)
    sh = load_scene(p).shapes[0]
    theirs = mi.load_file(p)
    checked = 0
    for x, n, uv in zip(sh.vertices, sh.normals, sh.uvs):
        if not 1e-3 < uv[1] < 1 - 1e-3:  # the rims: a ray along the normal grazes the edge
            continue
        o = x + 0.05 * n
        si = theirs.ray_intersect(mi.Ray3f(mi.Point3f(o), mi.Vector3f(-n)))
        assert si.is_valid()
        assert si.t == pytest.approx(0.05, abs=2e-4)
        np.testing.assert_allclose(np.array(si.sh_frame.n), n, atol=2e-3)
        u = float(si.uv[0])
        if 1e-3 < uv[0] < 1 - 1e-3:  # the seam has both 0 and 1
            assert u == pytest.approx(uv[0], abs=1e-4)
        assert float(si.uv[1]) == pytest.approx(uv[1], abs=1e-4)
        checked += 1
    assert checked == len(sh.vertices) * 3 // 5 > 150  # 3 of the 5 rings


def test_cylinder_errors(xml_scene):
    with pytest.raises(SceneError, match="cylinder radius must be positive, got -1"):
        load_scene(xml_scene('<shape type="cylinder"><float name="radius" value="-1"/></shape>'))
    with pytest.raises(SceneError, match="cylinder p0 and p1 must differ"):
        load_scene(xml_scene('<shape type="cylinder"><point name="p1" x="0" y="0" z="0"/>'
                             '</shape>'))


def test_serialized_with_a_corrupt_directory_is_a_one_line_error(xml_scene, write):
    """A file whose end-of-file mesh directory does not fit (mitsuba-data's
    ``matpreview.serialized``, which Mitsuba 3.9.1 cannot read either)."""
    good = serialized_file(4, [dict(v=V, f=F)])
    write(good[:-4] + struct.pack("<I", 0xCB85_3CF7), "bad.serialized")
    p = xml_scene('<shape type="serialized"><string name="filename" value="bad.serialized"/>'
                  '<integer name="shape_index" value="2"/></shape>')
    with pytest.raises(SceneError) as e:
        load_scene(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{p}:2: shape 'serialized': ")
    assert "mesh directory at the end of the file is invalid" in msg


def test_shapegroup_instances_place_copies(xml_scene):
    """Mitsuba's ``shapegroup`` / ``instance``: the group is not rendered by itself; each
    instance adds its shapes with ``instance.to_world @ shape.to_world``, sharing the BSDFs."""
    p = xml_scene('''
        <shape type="shapegroup" id="g">
            <shape type="rectangle" id="r">
                <transform name="to_world"><scale value="2"/><translate x="1"/></transform>
                <bsdf type="diffuse" id="red"><rgb name="reflectance" value="0.8, 0.1, 0.1"/></bsdf>
            </shape>
            <shape type="sphere"><float name="radius" value="0.5"/></shape>
        </shape>
        <shape type="instance" id="a"><ref id="g"/></shape>
        <shape type="instance"><ref id="g"/>
            <transform name="to_world"><rotate z="1" angle="90"/><translate z="3"/></transform>
        </shape>''')
    sc = load_scene(p)
    assert [s.id for s in sc.shapes] == ["a.r", "a.shape_1", "instance_2.r", "instance_2.shape_3"]
    corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float64) * 2
    corners[:, 0] += 1
    np.testing.assert_allclose(np.sort(sc.shapes[0].vertices, 0), np.sort(corners, 0), atol=1e-6)
    turned = np.stack([-corners[:, 1], corners[:, 0], corners[:, 2] + 3], 1)
    np.testing.assert_allclose(np.sort(sc.shapes[2].vertices, 0), np.sort(turned, 0), atol=1e-6)
    assert sc.shapes[0].bsdf is sc.shapes[2].bsdf
    np.testing.assert_allclose(np.linalg.norm(sc.shapes[3].vertices - [0, 0, 3], axis=1), 0.5,
                               rtol=1e-6)


@pytest.mark.parametrize("body, expected", [
    ('<shape type="instance"><shape type="sphere"/></shape>',
     "an instance needs a reference to a shapegroup"),
    ('<shape type="shapegroup" id="g"><shape type="sphere"><emitter type="area"/></shape></shape>',
     "a shape in a shapegroup cannot have an emitter"),
    ('<shape type="shapegroup" id="g"><shape type="shapegroup"/></shape>',
     "a shapegroup cannot be nested in a shapegroup"),
])
def test_shapegroup_errors(xml_scene, body, expected):
    p = xml_scene(body)
    with pytest.raises(SceneError) as e:
        load_scene(p)
    assert str(e.value).startswith(f"{p}:2:") and expected in str(e.value)
