"""Inputs found by the fuzz of issue #19: each is a one-line DiffrenderError naming the file
(and line or key) and what was expected, decided before anything large is allocated."""
import json
import os
import struct
import warnings
import zlib

import numpy as np
import pytest

from diffrender import limits
from diffrender.errors import ConfigError, DiffrenderError, ImageError, SceneError
from diffrender.scene import load_scene

CUBE = '<shape type="cube"/>'


def error_of(fn, *args, exc=SceneError, **kw) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # nothing may leak to stderr
        with pytest.raises(exc) as e:
            fn(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg and isinstance(e.value, DiffrenderError)
    return msg


# -- XML ---------------------------------------------------------------------------------------

def test_unknown_xml_encoding(write):
    p = write(b'<?xml version="1.0" encoding="klingon-8"?>\n<scene version="3.0.0"/>\n')
    assert error_of(load_scene, p) == (f"{p}:1: unknown encoding \"klingon-8\" in the XML "
                                       "declaration (expected UTF-8, UTF-16 or ISO-8859-1)")


def test_deep_xml_nesting(xml_scene):
    p = xml_scene('<bsdf type="twosided">' * 5000 + "</bsdf>" * 5000)
    assert error_of(load_scene, p) == f"{p}:2: elements nested more than 64 levels deep"


def test_include_bomb_is_refused_quickly(write):
    for lv in range(9):  # 10^9 inclusions if expanded
        inner = (f'<include filename="b{lv + 1}.xml"/>' * 10 if lv < 8 else CUBE)
        write(f'<scene version="3.0.0">{inner}</scene>', f"b{lv}.xml")
    p = write('<scene version="3.0.0">\n<include filename="b0.xml"/>\n</scene>')
    msg = error_of(load_scene, p)
    assert msg.endswith(f"more than {limits.MAX_INCLUDED_FILES} <include>s expanded in one "
                        "scene (files that include each other many times)")
    assert ".xml:1: " in msg


def test_self_include(write):
    p = write('<scene version="3.0.0">\n<include filename="scene.xml"/>\n</scene>')
    assert error_of(load_scene, p).endswith(":2: <include> nested more than 15 levels deep")


@pytest.mark.parametrize("value, expected", [
    ("9" * 5000, '"99999999999999999999..." (5000 characters) is not a 32-bit integer'),
    ("4294967296", "4294967296 is out of the 32-bit integer range [-2147483648, 2147483647]"),
])
def test_huge_integers(xml_scene, value, expected):
    p = xml_scene(f'<integrator type="path"><integer name="max_depth" value="{value}"/>'
                  "</integrator>")
    assert error_of(load_scene, p) == f"{p}:2: <integer name=\"max_depth\">: {expected}"


@pytest.mark.parametrize("value, expected", [
    ("nan", '"nan" is not a finite number'), ("1e400", '"1e400" is not a finite number'),
    ("3.5e38", "3.5e38 is out of the float32 range (|x| <= 3.403e+38)")])
def test_non_finite_and_float32_overflow(xml_scene, value, expected):
    p = xml_scene(f'<shape type="sphere"><float name="radius" value="{value}"/></shape>')
    assert error_of(load_scene, p) == f"{p}:2: <float name=\"radius\">: {expected}"


def test_overflowing_composed_transform(xml_scene):
    p = xml_scene('<shape type="cube"><transform name="to_world"><scale value="1e30"/>'
                  '<scale value="1e30"/></transform></shape>')
    assert error_of(load_scene, p) == (f"{p}:2: <transform name=\"to_world\">: the composed "
                                       "matrix overflows float32 (entries up to 1e+60)")


def test_vertices_overflowing_after_to_world(xml_scene, write):
    write("v 3e38 0 0\nv 0 3e38 0\nv 0 0 3e38\nf 1 2 3\n", "m.obj")
    p = xml_scene('<shape type="obj"><string name="filename" value="m.obj"/>'
                  '<transform name="to_world"><scale value="10"/></transform></shape>')
    assert error_of(load_scene, p) == (f"{p}:2: vertex positions overflow float32 after "
                                       "to_world (coordinates up to 3e+39)")


@pytest.mark.parametrize("define, expected", [
    ({"res": 100000}, "film width 100000 is above the limit of 65536 pixels"),
    ({"res": 20000}, f"film of 20000x20000 pixels is above the limit of "
                     f"{limits.MAX_FILM_PIXELS} pixels"),
    ({"spp": 10 ** 9}, f"sample_count 1000000000 is above the limit of {limits.MAX_SPP} "
                       "samples per pixel"),
    ({"max_depth": 5000}, "integrator max_depth 5000 is above the limit of 1024"),
])
def test_limits_on_film_samples_and_depth(repo, define, expected):
    p = os.path.join(repo, "scenes", "cornell-box", "scene.xml")
    msg = error_of(load_scene, p, **define)
    assert msg.startswith(p + ":") and msg.endswith(": " + expected)


def test_source_that_is_neither_a_path_nor_a_dict():
    for v in (None, 5, ["scene.xml"], b"scene.xml"):
        assert error_of(load_scene, v) == ("load_scene expects a scene file path or a dict, got "
                                           f"{type(v).__name__}")


def test_absurd_define_values(repo):
    p = os.path.join(repo, "scenes", "cornell-box", "scene.xml")
    assert error_of(load_scene, p, spp=10 ** 400) == \
        "define spp: the integer is out of the 64-bit range"
    assert error_of(load_scene, p, spp=float("nan")) == "define spp=nan: expected a finite number"


# -- JSON / YAML / dicts -------------------------------------------------------------------------

def test_undecodable_json_and_yaml(write):
    p = write(b'{"type": "scene",\n "a": "\xff\xfe"}', "s.json")
    assert error_of(load_scene, p) == f"{p}:2: the file is not UTF-8 text (byte 0xff at column 8)"
    p = write(b"type: scene\nx: \xc3(\n", "s.yaml")
    assert error_of(load_scene, p) == f"{p}:2: the file is not UTF-8 text (byte 0xc3 at column 4)"


@pytest.mark.parametrize("name, text", [
    ("s.json", "[" * 100000 + "]" * 100000),
    ("s.yaml", "[" * 100000 + "]" * 100000),
])
def test_nesting_beyond_the_parsers(write, name, text):
    p = write(text, name)
    fmt = name.split(".")[1].upper()
    assert error_of(load_scene, p) == (f"{p}: {fmt} nested too deeply (more than 64 levels are "
                                       "refused)")


def test_deep_dict_and_cycles(write):
    d = {"type": "diffuse"}
    for _ in range(100):
        d = {"type": "twosided", "bsdf": d}
    assert error_of(load_scene, {"type": "scene", "b": d}).startswith(
        "<dict>: b.bsdf.bsdf.bsdf.")
    cyc = {"type": "scene", "b": {"type": "diffuse"}}
    cyc["b"]["reflectance"] = cyc["b"]
    assert error_of(load_scene, cyc) == ("<dict>: b.reflectance: the document contains itself "
                                         "(a circular reference)")
    p = write("type: scene\nb: &a {type: diffuse, x: *a}\n", "s.yaml")
    assert error_of(load_scene, p) == f"{p}: b.x: the document contains itself (a circular reference)"


def test_yaml_alias_bomb(write):
    text = "type: scene\na: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        text += f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]\n"
    p = write(text, "s.yaml")
    assert error_of(load_scene, p) == (f"{p}: more than {limits.MAX_DOCUMENT_VALUES} values "
                                       "(YAML aliases that expand to a huge document?)")


def test_huge_integer_in_json_and_yaml(write):
    p = write('{"type": "scene", "s": {"type": "sphere", "radius": ' + "9" * 5000 + "}}",
              "s.json")
    assert error_of(load_scene, p).startswith(f"{p}: invalid JSON: Exceeds the limit (4300 "
                                              "digits) for integer string conversion")
    d = {"type": "scene", "s": {"type": "sphere", "radius": 10 ** 400}}
    assert error_of(load_scene, d).startswith("<dict>: s.radius: 'radius': ")


# -- meshes --------------------------------------------------------------------------------------

def test_obj_numbers_numpy_cannot_read(xml_scene, write):
    write("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99999999999999999999999\n", "m.obj")
    p = xml_scene('<shape type="obj" id="m"><string name="filename" value="m.obj"/></shape>')
    msg = error_of(load_scene, p)
    assert msg.startswith(f"{p}:2: ") and "m.obj:4: " in msg


def test_ply_header_counts_are_checked_before_reading(xml_scene, write, tmp_path):
    head = ("ply\nformat binary_little_endian 1.0\nelement vertex 99999999999\n"
            "property float x\nproperty float y\nproperty float z\nelement face 1\n"
            "property list uchar int vertex_indices\nend_header\n")
    write(head.encode() + b"\0" * 64, "m.ply")
    p = xml_scene('<shape type="ply"><string name="filename" value="m.ply"/></shape>')
    assert error_of(load_scene, p).endswith(
        f"m.ply: 99999999999 'vertex' elements is above the limit of {limits.MAX_MESH_ELEMENTS}")
    write(head.replace("99999999999", "1000000").encode() + b"\0" * 64, "m.ply")
    assert "the PLY header declares at least 12000001 bytes of data but the file holds" in \
        error_of(load_scene, p)


def test_truncated_ply(xml_scene, write, repo):
    with open(os.path.join(repo, "tests", "data", "scenes", "meshes", "pyramid.ply"), "rb") as f:
        data = f.read()
    write(data[:len(data) - 7], "m.ply")
    p = xml_scene('<shape type="ply"><string name="filename" value="m.ply"/></shape>')
    assert error_of(load_scene, p).endswith("m.ply: the header declares 6 'face' elements, the "
                                            "file holds 5 (truncated or corrupt)")


# -- images --------------------------------------------------------------------------------------

def test_image_header_claiming_a_huge_size(tmp_path, repo):
    from diffrender.image import read_image

    with open(os.path.join(repo, "tests", "data", "scenes", "textures", "quadrants.png"), "rb") as f:
        data = f.read()
    p = tmp_path / "big.png"
    ihdr = b"IHDR" + struct.pack(">II", 100000, 100000) + data[24:29]
    p.write_bytes(data[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:])
    assert error_of(read_image, str(p), exc=ImageError) == (
        f"{p}: a 100000x100000 image is above the limit of {limits.MAX_IMAGE_PIXELS} pixels "
        f"({limits.MAX_IMAGE_SIDE} per side)")


def test_non_finite_image(tmp_path):
    from diffrender.image import read_image, write_image

    img = np.zeros((4, 5, 3), np.float32)
    img[2, 3, 1] = np.nan
    p = str(tmp_path / "nan.pfm")
    write_image(p, img)
    assert error_of(read_image, p, exc=ImageError) == (
        f"{p}: non-finite value nan at pixel (row 2, col 3, channel 1) (1 such values); "
        "images must be finite")


# -- parameters ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (float("nan"), "value is not finite (nan); expected finite numbers"),
    ([1.0, float("inf"), 0.0], "value is not finite (inf); expected finite numbers"),
    ("red", "expected a number or an array of numbers, got str 'red'"),
    (None, "expected a number or an array of numbers, got None"),
    (1 + 2j, "expected a number or an array of numbers, got complex (1+2j)"),
])
def test_parameter_writes_are_checked(repo, value, expected):
    import diffrender

    scene = load_scene(os.path.join(repo, "scenes", "cornell-box", "scene.xml"))
    params = diffrender.traverse(scene)
    before = params["red.reflectance"].copy()
    assert error_of(params.__setitem__, "red.reflectance", value) == \
        f"parameter 'red.reflectance': {expected}"
    assert np.array_equal(params["red.reflectance"], before)


# -- optimize configs and filter pipelines --------------------------------------------------------

def test_config_errors(write):
    from diffrender.inverse.config import load_config

    p = write(b"scene: s.xml\ntargets: [t.exr]\nparameters: {x: {lr: \xff}}\n", "c.yaml")
    assert error_of(load_config, p, exc=ConfigError) == \
        f"{p}:3: the file is not UTF-8 text (byte 0xff at column 22)"
    p = write("scene: s.xml\ntargets: [t.exr]\nparameters: {x: {lr: .inf, bounds: [2, 1]}}\n"
              "iterations: 1e12\noptimizer: {schedule: {gamma: -1}}\n", "c.yaml")
    assert error_of(load_config, p, exc=ConfigError) == (
        f"{p}: 4 errors: parameters.x.lr: input should be a finite number; parameters.x.bounds: "
        "value error, bounds must be [min, max] with min <= max, got [2.0, 1.0]; "
        "optimizer.schedule.gamma: input should be greater than 0; iterations: input should be "
        "a valid integer, unable to parse string as an integer")
    p = write("scene: s.xml\ntargets: [t.exr]\nparameters: {x: {lr: 1}}\n"
              "iterations: 100000000000\nspp: 10000000000\n", "c.yaml")
    assert error_of(load_config, p, exc=ConfigError) == (
        f"{p}: 2 errors: iterations: input should be less than or equal to 10000000; spp: "
        "input should be less than or equal to 1048576")
    p = write("[" * 5000 + "]" * 5000, "c.json")
    assert error_of(load_config, p, exc=ConfigError) == \
        f"{p}: config JSON nested too deeply (more than 64 levels are refused)"


def test_pipeline_file_errors(write):
    from diffrender.filters.pipeline import Pipeline

    p = write(b"stages:\n  - type: gamma\n    gamma: \xfe\n", "p.yaml")
    assert error_of(Pipeline.load, p, exc=ConfigError) == \
        f"{p}:3: the file is not UTF-8 text (byte 0xfe at column 12)"
    p = write("stages:\n  - {type: gamma, gamma: {value: 1, learnable: true, "
              "bounds: [.nan, 2]}}\n", "p.yaml")
    assert error_of(Pipeline.load, p, exc=ConfigError) == (
        f"{p}: stage 'gamma': parameter 'gamma': bounds must be two numbers (or null), got "
        "[nan, 2]")
