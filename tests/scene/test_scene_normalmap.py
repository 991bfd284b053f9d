"""Loading ``normalmap`` and ``bumpmap`` (Mitsuba 3.9 plugins): parameter names as Mitsuba's
traverse gives them, defaults, one-line errors naming the element word for word, the raw-bitmap
warning, the dict form, and the written scene loading back with changed values."""
import os
import warnings

import numpy as np
import pytest

from diffrender.errors import SceneError
from diffrender.image import write_image
from diffrender.scene import load_scene, write_scene
from diffrender.scene.plugins import SceneWarning


@pytest.fixture
def maps(tmp_path):
    from PIL import Image

    n = np.zeros((4, 4, 3), np.uint8)
    n[:] = (150, 110, 240)
    Image.fromarray(n).save(tmp_path / "n.png")
    Image.fromarray((np.arange(16).reshape(4, 4) * 15).astype(np.uint8)).save(tmp_path / "h.png")
    return tmp_path


NM = ('<texture type="bitmap" name="normalmap"><string name="filename" value="n.png"/>'
      '<boolean name="raw" value="true"/></texture>')
H = '<texture type="bitmap" name="height"><string name="filename" value="h.png"/></texture>'


def load_body(xml_scene, body):
    return load_scene(xml_scene('<shape type="rectangle" id="plane">\n' + body + "\n</shape>"))


def test_parameter_names_and_defaults(xml_scene, maps):
    sc = load_body(xml_scene, f'<bsdf type="normalmap" id="tiles">{NM}<bsdf type="diffuse"/></bsdf>'
                   '\n</shape>\n<shape type="sphere" id="ball">\n'
                   f'<bsdf type="bumpmap">{H}<float name="scale" value="0.25"/>'
                   '<bsdf type="roughconductor"><string name="distribution" value="ggx"/></bsdf></bsdf>')
    p = sc.parameters()
    names = set(p.keys())
    assert {"tiles.normalmap.data", "tiles.nested_bsdf.reflectance", "ball.bsdf.nested_texture.data",
            "ball.bsdf.scale", "ball.bsdf.nested_bsdf.alpha"} <= names
    assert p["tiles.normalmap.data"].shape == (4, 4, 3)
    np.testing.assert_allclose(p["tiles.normalmap.data"][0, 0], np.array([150, 110, 240]) / 255,
                               rtol=1e-6)  # raw: no sRGB decoding
    np.testing.assert_allclose(p["ball.bsdf.scale"], [0.25])
    b = sc.shapes[0].bsdf
    assert b.type == "normalmap" and b.children[0].type == "diffuse"
    assert b.params["flip_invalid_normals"] is True and b.params["use_shadowing_function"] is True
    bump = sc.shapes[1].bsdf
    assert bump.type == "bumpmap" and not bump.params["nested_texture"].raw  # Mitsuba's default
    d = sc.describe() if hasattr(sc, "describe") else None
    assert d is None or any(x["type"] == "bumpmap" for x in d["bsdfs"])


def test_twosided_wrapping_both_ways(xml_scene, maps):
    sc = load_body(xml_scene, f'<bsdf type="twosided"><bsdf type="normalmap">{NM}<bsdf type="diffuse"/>'
                   '</bsdf></bsdf>\n</shape>\n<shape type="rectangle">\n'
                   f'<bsdf type="normalmap">{NM}<bsdf type="twosided"><bsdf type="diffuse"/></bsdf></bsdf>')
    outer, inner = sc.shapes[0].bsdf, sc.shapes[1].bsdf
    assert outer.type == "normalmap" and outer.twosided and not outer.children[0].twosided
    assert inner.type == "normalmap" and not inner.twosided and inner.children[0].twosided


@pytest.mark.parametrize("body,message", [
    (f'<bsdf type="normalmap">{NM}</bsdf>', "normalmap needs exactly 1 nested bsdf, got 0"),
    (f'<bsdf type="normalmap">{NM}<bsdf type="diffuse"/><bsdf type="diffuse"/></bsdf>',
     "normalmap needs exactly 1 nested bsdf, got 2"),
    ('<bsdf type="normalmap"><bsdf type="diffuse"/></bsdf>',
     "normalmap needs a texture named 'normalmap' (a raw RGB bitmap of tangent-space normals)"),
    ('<bsdf type="bumpmap"><bsdf type="diffuse"/></bsdf>',
     "bumpmap needs exactly 1 nested texture (the height map), got 0"),
    (f'<bsdf type="bumpmap">{H}{H}<bsdf type="diffuse"/></bsdf>',
     "bumpmap needs exactly 1 nested texture (the height map), got 2"),
    ('<bsdf type="bumpmap"><texture type="checkerboard"/><bsdf type="diffuse"/></bsdf>',
     "bumpmap height texture must be a bitmap, got a checkerboard (its uv gradient is not "
     "defined)"),
    ('<bsdf type="blendbsdf"><bsdf type="normalmap"><rgb name="normalmap" value="0.5, 0.5, 1"/>'
     '<bsdf type="diffuse"/></bsdf><bsdf type="diffuse"/></bsdf>',
     "a normalmap cannot be nested in a blendbsdf (composites nest plain BSDFs only)"),
    (f'<bsdf type="normalmap">{NM}<bsdf type="bumpmap">{H}<bsdf type="diffuse"/></bsdf></bsdf>',
     "a bumpmap cannot be nested in a normalmap (one perturbation per BSDF)"),
    (f'<bsdf type="bumpmap"><float name="strength" value="2"/>{H}<bsdf type="diffuse"/></bsdf>',
     "bsdf 'bumpmap' has no parameter 'strength'; supported: bsdf, flip_invalid_normals, scale, "
     "texture, use_shadowing_function"),
    (f'<bsdf type="bumpmap"><string name="scale" value="big"/>{H}<bsdf type="diffuse"/></bsdf>',
     "bsdf 'bumpmap' parameter 'scale' expects a float, got string \"big\""),
])
def test_errors_word_for_word(xml_scene, maps, body, message):
    path = xml_scene('<shape type="rectangle">\n' + body + "\n</shape>")
    with pytest.raises(SceneError) as e:
        load_scene(path)
    assert str(e.value) == f"{path}:3: {message}"


def test_non_raw_png_normal_map_warns(xml_scene, maps):
    with pytest.warns(SceneWarning, match=r"normalmap bitmap without raw=true: its values are "
                                          r"sRGB-decoded \(as in Mitsuba\)"):
        sc = load_body(xml_scene, '<bsdf type="normalmap"><texture type="bitmap" name="normalmap">'
                       '<string name="filename" value="n.png"/></texture><bsdf type="diffuse"/></bsdf>')
    assert sc.parameters()["plane.bsdf.normalmap.data"][0, 0, 2] < 240 / 255  # decoded


def test_dict_form(maps):
    sc = load_scene({"type": "scene", "floor": {
        "type": "rectangle", "bsdf": {
            "type": "bumpmap", "id": "b", "scale": 0.5, "use_shadowing_function": False,
            "arbitrary": {"type": "bitmap", "filename": str(maps / "h.png"), "raw": True},
            "bsdf": {"type": "diffuse"}}}})
    b = sc.shapes[0].bsdf
    assert b.params["use_shadowing_function"] is False and b.params["flip_invalid_normals"] is True
    np.testing.assert_allclose(sc.parameters()["b.scale"], [0.5])
    assert sc.parameters()["b.nested_texture.data"].shape == (4, 4, 3)


def test_bundled_scene_round_trips_with_changed_values(tmp_path, repo):
    src = os.path.join(repo, "scenes", "normal-map", "scene.xml")
    sc = load_scene(src)
    p = sc.parameters()
    nm = p["tiles.normalmap.data"].copy()
    nm[3, 5] = [0.9, 0.5, 0.7]
    p["tiles.normalmap.data"] = nm
    p["ridges.scale"] = [0.05]
    h = p["ridges.nested_texture.data"] * 0.5
    p["ridges.nested_texture.data"] = h
    out = tmp_path / "out.xml"
    write_scene(sc, str(out))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the written scene keeps raw=true: no warning
        q = load_scene(str(out))
    qp = q.parameters()
    np.testing.assert_allclose(qp["tiles.normalmap.data"], nm, atol=1e-3)
    np.testing.assert_allclose(qp["ridges.scale"], [0.05])
    np.testing.assert_allclose(qp["ridges.nested_texture.data"], h, atol=1e-3)
    assert q.shapes[2].bsdf.type == "normalmap" and q.shapes[2].bsdf.children[0].type == "conductor"
    # unchanged scene: written back identical
    write_scene(load_scene(src), str(tmp_path / "same.xml"))
    from diffrender.scene.info import diff_scenes

    assert diff_scenes(load_scene(src), load_scene(str(tmp_path / "same.xml"))) == []


@pytest.mark.parametrize("ext", ["json", "yaml"])
def test_bundled_scene_round_trips_through_dict_formats(tmp_path, repo, ext):
    from diffrender.scene.info import diff_scenes

    sc = load_scene(os.path.join(repo, "scenes", "normal-map", "scene.xml"))
    write_scene(sc, str(tmp_path / f"out.{ext}"))
    q = load_scene(str(tmp_path / f"out.{ext}"))
    assert diff_scenes(sc, q) == []
    assert q.shapes[1].bsdf.type == "bumpmap"


@pytest.mark.parametrize("value, expected", [
    ('<vector name="value" value="0.5, 0.5, 1.0"/>', [0.5, 0.5, 1.0]),
    ('<float name="value" value="0.25"/>', [0.25, 0.25, 0.25])])
def test_rawconstant_normal_map(xml_scene, value, expected):
    """Mitsuba's test scenes give a normal map as ``rawconstant`` (a value used as is)."""
    sc = load_body(xml_scene, f'<bsdf type="normalmap"><texture name="normalmap" '
                              f'type="rawconstant">{value}</texture><bsdf type="diffuse"/></bsdf>')
    t = sc.shapes[0].bsdf.params["normalmap"]
    assert t.type == "constant"
    np.testing.assert_array_equal(t.value, np.asarray(expected, np.float32))


def test_rawconstant_needs_a_value(xml_scene):
    p = xml_scene('<shape type="rectangle"><bsdf type="normalmap"><texture name="normalmap" '
                  'type="rawconstant"/><bsdf type="diffuse"/></bsdf></shape>')
    with pytest.raises(SceneError, match=r"scene.xml:2: texture 'rawconstant' needs a 'value'"):
        load_scene(p)


def test_bitmap_storage_format(xml_scene, tmp_path):
    """``format``: Mitsuba's texel storage. float16 rounds texels to half precision, uint8 (raw)
    to 1/255 steps; unknown names are an error listing Mitsuba's."""
    img = np.full((2, 2, 3), 0.1234567, np.float32)
    write_image(str(tmp_path / "t.exr"), img)

    def data(fmt, raw="true"):
        sc = load_body(xml_scene, f'<bsdf type="diffuse"><texture type="bitmap" name="reflectance">'
                                  f'<string name="filename" value="t.exr"/><boolean name="raw" '
                                  f'value="{raw}"/><string name="format" value="{fmt}"/>'
                                  '</texture></bsdf>')
        return sc.shapes[0].bsdf.params["reflectance"].data[0, 0, 0]

    assert data("variant") == data("auto") == np.float32(0.1234567)
    assert data("float16") == np.float32(np.float16(0.1234567)) != np.float32(0.1234567)
    assert data("uint8") == np.float32(31 / 255)
    with pytest.raises(SceneError, match="'uint8' is supported with raw=true only"):
        data("uint8", raw="false")
    with pytest.raises(SceneError, match="must be one of variant, auto, float16, uint8"):
        data("fp32")
