"""Every error is a one-line SceneError naming the file and line (XML) or key path (dict
forms); messages are checked word for word."""
import json

import pytest

from diffrender.errors import DiffrenderError, SceneError
from diffrender.scene import load_scene


def error_of(source, **defines) -> str:
    with pytest.raises(SceneError) as e:
        load_scene(source, **defines)
    msg = str(e.value)
    assert "\n" not in msg
    assert isinstance(e.value, DiffrenderError)
    return msg


def test_malformed_xml_gives_parser_line(xml_scene):
    p = xml_scene('<shape type="cube">\n    </bsdf>')
    assert error_of(p) == f"{p}:3: malformed XML: mismatched tag (column 7)"


def test_missing_version(write):
    p = write('<scene>\n<shape type="cube"/>\n</scene>\n')
    assert error_of(p) == (f"{p}:1: missing version attribute in root element <scene> "
                           "(write <scene version=\"3.0.0\">)")


def test_missing_mesh_file(xml_scene, tmp_path):
    p = xml_scene("""
        <shape type="obj" id="m">
            <string name="filename" value="meshes/none.obj"/>
        </shape>""")
    assert error_of(p) == (f"{p}:3: shape 'obj' (id 'm'): mesh file not found: "
                           f"{tmp_path}/meshes/none.obj")


def test_missing_texture_file(xml_scene, tmp_path):
    p = xml_scene("""
        <shape type="cube"><bsdf type="diffuse">
            <texture type="bitmap" name="reflectance">
                <string name="filename" value="gone.png"/>
            </texture>
        </bsdf></shape>""")
    assert error_of(p) == (f"{p}:4: texture 'bitmap': texture file not found: "
                           f"{tmp_path}/gone.png")


def test_unknown_plugin(xml_scene):
    p = xml_scene('<shape type="bsplinecurve"/>')
    assert error_of(p) == (f"{p}:2: unsupported shape type 'bsplinecurve'; supported: cube, "
                           "cylinder, disk, instance, obj, ply, rectangle, serialized, "
                           "shapegroup, sphere")
    p = xml_scene('<shape type="sphere"><bsdf type="roughdiffuse"/></shape>')  # (unused: ignored)
    assert error_of(p) == (f"{p}:2: unsupported bsdf type 'roughdiffuse'; supported: blendbsdf, "
                           "bumpmap, conductor, dielectric, diffuse, mask, normalmap, null, plastic, "
                           "principled, principledthin, roughconductor, roughdielectric, "
                           "roughplastic, shader, thindielectric, twosided")
    p = xml_scene('<bsdf type="obj"/>')
    assert error_of(p) == (f"{p}:2: 'obj' is a shape plugin, not a bsdf; supported bsdf types: "
                           "blendbsdf, bumpmap, conductor, dielectric, diffuse, mask, normalmap, "
                           "null, plastic, principled, principledthin, roughconductor, roughdielectric, "
                           "roughplastic, shader, thindielectric, twosided")
    msg = error_of({"type": "scene", "a": {"type": "bsplinecurve"}})
    assert msg == ("<dict>: a.type: unsupported shape type 'bsplinecurve'; supported: cube, "
                   "cylinder, disk, instance, obj, ply, rectangle, serialized, shapegroup, sphere")
    msg = error_of({"type": "scene", "a": {"type": "foo"}})
    assert msg.startswith("<dict>: a.type: unknown plugin type 'foo'; supported: shape: cube, "
                          "cylinder, disk, instance, obj, ply, rectangle, serialized, "
                          "shapegroup, sphere; bsdf: "
                          "blendbsdf, bumpmap, "
                          "conductor, dielectric, diffuse, mask, normalmap, null, plastic, "
                          "principled, principledthin, roughconductor, roughdielectric, "
                          "roughplastic, shader, thindielectric, twosided;")


def test_unknown_attribute_xml(xml_scene):
    p = xml_scene("""
        <shape type="sphere">
            <float name="radius" value="2"/>
            <float name="radiuss" value="2"/>
        </shape>""")
    assert error_of(p) == (f"{p}:4: shape 'sphere' has no parameter 'radiuss'; supported: bsdf, "
                           "center, emitter, flip_normals, radius, to_world")
    p = xml_scene('<shape type="cube" foo="1"/>')
    assert error_of(p) == (f"{p}:2: unexpected attribute \"foo\" in element <shape>; expected: "
                           "type, id, name")
    p = xml_scene('<sensor type="perspective"><shape type="cube"/></sensor>')
    assert error_of(p) == (f"{p}:2: sensor 'perspective' cannot contain a nested shape; "
                           "supported: cx, cy, far_clip, film, focal_length, focus_distance, "
                           "fov, fov_axis, fx, fy, k1, k2, k3, near_clip, p1, p2, "
                           "principal_point_offset_x, principal_point_offset_y, sampler, to_world")


def test_unknown_attribute_json_key_path(write):
    d = {"type": "scene",
         "shapes": {"floor": {"type": "rectangle",
                              "bsdf": {"type": "diffuse", "reflectanc": {"type": "rgb",
                                                                         "value": [1, 0, 0]}}}}}
    p = write(json.dumps(d), "scene.json")
    assert error_of(p) == (f"{p}: shapes.floor.bsdf.reflectanc: bsdf 'diffuse' has no "
                           "parameter 'reflectanc'; supported: reflectance")
    p = write("type: scene\nfloor:\n  type: rectangle\n  flip: true\n", "scene.yaml")
    assert error_of(p) == (f"{p}: floor.flip: shape 'rectangle' has no parameter 'flip'; "
                           "supported: bsdf, emitter, flip_normals, to_world")


def test_nan_in_mesh(xml_scene, write):
    obj = write("v 0 0 0\nv 1 nan 0\nv 0 1 0\nf 1 2 3\n", "nan.obj")
    p = xml_scene('<shape type="obj">\n<string name="filename" value="nan.obj"/>\n</shape>')
    assert error_of(p) == f"{p}:3: shape 'obj': {obj}:2: non-finite vertex position \"v 1 nan 0\""
    ply = write("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                "end_header\n0 0 0\n1 0 inf\n0 1 0\n3 0 1 2\n", "inf.ply")
    p = xml_scene('<shape type="ply">\n<string name="filename" value="inf.ply"/>\n</shape>')
    assert error_of(p) == (f"{p}:3: shape 'ply': {ply}: non-finite vertex position at vertex 1 "
                           "[1.0, 0.0, inf]")


def test_bad_mesh_file(xml_scene, write):
    obj = write("v 0 0 0\nv 1 0 0\nf 1 2 7\n", "bad.obj")
    p = xml_scene('<shape type="obj"><string name="filename" value="bad.obj"/></shape>')
    assert error_of(p) == (f"{p}:2: shape 'obj': {obj}:3: reference to invalid vertex 7 (the file has 2 so "
                           "far)")


@pytest.mark.parametrize("spp", ["-4", "0"])
def test_non_positive_spp(xml_scene, spp):
    p = xml_scene(f"""
        <sensor type="perspective">
            <sampler type="independent">
                <integer name="sample_count" value="{spp}"/>
            </sampler>
        </sensor>""")
    assert error_of(p) == (f"{p}:4: sampler 'independent': sample_count must be a positive "
                           f"integer, got {spp}")


def test_negative_spp_from_define(xml_scene):
    p = xml_scene("""
        <default name="spp" value="4"/>
        <sensor type="perspective">
            <sampler type="independent"><integer name="sample_count" value="$spp"/></sampler>
        </sensor>""")
    assert error_of(p, spp=-1) == (f"{p}:4: sampler 'independent': sample_count must be a "
                                   "positive integer, got -1")


def test_undefined_parameter(xml_scene, write):
    p = xml_scene("""
        <sensor type="perspective">
            <sampler type="independent"><integer name="sample_count" value="$spp"/></sampler>
        </sensor>""")
    assert error_of(p) == (f"{p}:3: undefined parameter $spp in \"$spp\": add <default "
                           "name=\"spp\" value=\"...\"/> to the scene or pass spp=... "
                           "(-D spp=...)")
    load_scene(p, spp=3)  # fine once defined
    d = {"type": "scene", "cam": {"type": "perspective", "fov": "$fov"}}
    assert error_of(d) == ("<dict>: cam.fov: undefined parameter $fov in \"$fov\": add "
                           "{\"type\": \"default\", \"name\": \"fov\", \"value\": ...} to the "
                           "scene or pass fov=... (-D fov=...)")


def test_wrong_value_types(xml_scene):
    p = xml_scene('<sensor type="perspective">\n<float name="fov" value="abc"/>\n</sensor>')
    assert error_of(p) == f"{p}:3: <float name=\"fov\">: could not parse \"abc\" as a float"
    p = xml_scene('<sensor type="perspective"><string name="fov" value="abc"/></sensor>')
    assert error_of(p) == (f"{p}:2: sensor 'perspective' parameter 'fov' expects a float, got "
                           "string \"abc\"")
    p = xml_scene('<integrator type="path"><integer name="max_depth" value="1.5"/></integrator>')
    assert error_of(p) == f"{p}:2: <integer name=\"max_depth\">: could not parse \"1.5\" as an integer"
    p = xml_scene('<integrator type="path"><float name="max_depth" value="3"/></integrator>')
    assert error_of(p) == (f"{p}:2: integrator 'path' parameter 'max_depth' expects an integer, "
                           "got float \"3\"")
    p = xml_scene('<shape type="cube"><boolean name="flip_normals" value="yes"/></shape>')
    assert error_of(p) == (f"{p}:2: <boolean name=\"flip_normals\">: could not parse \"yes\" as "
                           "a boolean (must be \"true\" or \"false\")")
    assert error_of({"type": "scene", "cam": {"type": "perspective", "fov": "abc"}}) == (
        "<dict>: cam.fov: sensor 'perspective' parameter 'fov' expects a float, got string "
        "\"abc\"")
    assert error_of({"type": "scene", "s": {"type": "sphere", "radius": True}}) == (
        "<dict>: s.radius: shape 'sphere' parameter 'radius' expects a float, got boolean True")
    assert error_of({"type": "scene", "s": {"type": "cube", "bsdf": {
        "type": "diffuse", "reflectance": {"type": "rgb", "value": "abc"}}}}) == (
        "<dict>: s.bsdf.reflectance.value: rgb 'reflectance': expected a number, got 'abc'")
    p = xml_scene('<sensor type="perspective"><float name="fov" value="30"/>'
                  '<string name="fov_axis" value="z"/></sensor>')
    assert error_of(p) == (f"{p}:2: sensor 'perspective' parameter 'fov_axis' must be one of x, "
                           "y, diagonal, smaller, larger; got \"z\"")


@pytest.mark.parametrize("ops, message", [
    ('<rotate value="0,0,0" angle="30"/>',
     "<rotate>: rotation axis must be a non-zero vector (got axis [0.0, 0.0, 0.0])"),
    ('<matrix value="1 0 0 0 1 0 0 0 1 0 0 0"/>', "<matrix>: expected 16 or 9 values, got 12"),
    ('<matrix value="1 0 0 0 0 1 0 0 0 0 1 0 1 0 0 1"/>',
     "<matrix>: projective matrices are not supported (last row must be 0 0 0 1)"),
    ('<rotate x="1"/>', "missing attribute \"angle\" in element <rotate>"),
    ('<translate value="1, 2"/>', "<translate>: value=\"1, 2\" must have 1 or 3 elements"),
    ('<rotat angle="3"/>',
     "<transform> can only contain translate, rotate, scale, matrix, lookat; found <rotat>"),
    ('<lookat origin="0,0,0" target="0,1,0" up="0,1,0"/>',
     "invalid <lookat>: lookat 'up' is parallel to the viewing direction"),
    ('<lookat origin="1,1,1" target="1,1,1"/>', "invalid <lookat>: lookat origin and target coincide"),
])
def test_bad_transforms(xml_scene, ops, message):
    p = xml_scene(f'<emitter type="point">\n<transform name="to_world">\n{ops}\n</transform>\n'
                  '</emitter>')
    assert error_of(p) == f"{p}:4: {message}"


def test_bad_transforms_in_dicts():
    d = {"type": "scene", "e": {"type": "point", "to_world": [{"rotate": {"axis": [0, 0, 0],
                                                                          "angle": 3}}]}}
    assert error_of(d) == "<dict>: e.to_world[0].rotate: rotate: rotation axis must be a non-zero vector"
    d = {"type": "scene", "e": {"type": "point", "to_world": {"type": "transform",
                                                              "shear": [1, 2, 3]}}}
    assert error_of(d) == ("<dict>: e.to_world.shear: unknown transform operation 'shear'; "
                           "supported: translate, rotate, scale, matrix, lookat")
    d = {"type": "scene", "c": {"type": "cube", "to_world": {"type": "transform", "scale": 0}}}
    assert error_of(d) == "<dict>: c.to_world: shape 'cube' to_world is singular (zero scale?)"


def test_structural_errors(xml_scene):
    p = xml_scene('<bsdf type="diffuse" id="a"/>\n<bsdf type="diffuse" id="a"/>')
    assert error_of(p) == f"{p}:3: duplicate id 'a' (first at {p}:2)"
    p = xml_scene('<bsdf type="diffuse" id="w"/>\n<shape type="cube"><ref id="nope"/></shape>')
    assert error_of(p) == f"{p}:3: reference to unknown id 'nope' (known ids: w)"
    p = xml_scene('<emitter type="area"/>')
    assert error_of(p) == (f"{p}:2: an area emitter must be nested in a shape or declared "
                           "with an id and referenced from one (<ref id=\"...\"/>)")
    p = xml_scene('<shape type="cube"><emitter type="point"/></shape>')
    assert error_of(p) == (f"{p}:2: a point emitter cannot be nested in a shape; only 'area' "
                           "emitters can")
    p = xml_scene('<sensor type="perspective"><transform name="to_world"><scale value="2"/>'
                  '</transform></sensor>')
    assert error_of(p) == (f"{p}:2: sensor to_world must not contain scaling (column lengths "
                           "[2.0, 2.0, 2.0])")
    p = xml_scene('<shape type="cube">hello</shape>')
    assert error_of(p) == (f"{p}:2: unexpected text \"hello\" inside <shape>; values go in "
                           "value=\"...\" attributes")
    p = xml_scene('<shape type="cube"><bsdf type="diffuse"><spectrum name="reflectance" '
                  'value="400:0.5"/></bsdf></shape>')
    assert error_of(p) == (f"{p}:2: spectrum 'reflectance': a spectrum needs at least two "
                           "wavelength:value pairs (or one value) (got \"400:0.5\")")
    p = xml_scene('<shape type="cube"><bsdf type="diffuse"><spectrum name="reflectance" '
                  'value="500:0.5, 400:0.6"/></bsdf></shape>')
    assert error_of(p) == (f"{p}:2: spectrum 'reflectance': wavelengths must increase "
                           "(got \"500:0.5, 400:0.6\")")
    p = xml_scene('<sensor type="perspective"><float name="fov" value="30"/>'
                  '<string name="focal_length" value="50mm"/></sensor>')
    assert error_of(p) == f"{p}:2: give either 'fov' or 'focal_length', not both"


def test_file_level_errors(write, tmp_path):
    p = write('{"type": "scene",\n "a": {"type": "cube",}\n}', "scene.json")
    assert error_of(p) == (f"{p}:2: malformed JSON: Expecting property name enclosed in double "
                           "quotes (column 23)")
    p = write("type: scene\na: {type: cube\n", "scene.yaml")
    assert error_of(p) == (f"{p}:3: malformed YAML: expected ',' or '}}', but got '<stream end>' "
                           "(column 1)")
    p = str(tmp_path / "none.xml")
    assert error_of(p) == f"{p}: scene file not found: {p}"
    p = write("x", "scene.txt")
    assert error_of(p) == f"{p}: unknown scene format '.txt'; expected one of .xml, .json, .yaml, .yml"
    assert error_of({"type": "shape"}) == "<dict>: type: the top-level dict needs \"type\": \"scene\" (got \"shape\")"
