"""Plugins: sensor / film / rfilter / sampler / integrator / emitters / BSDFs / textures against
Mitsuba 3's parameters and defaults."""
import math

import numpy as np
import pytest
from PIL import Image

from diffrender.image import write_image
from diffrender.scene import load_scene
from diffrender.scene.plugins import SceneWarning


def sensor_of(xml_scene, body):
    return load_scene(xml_scene(f'<sensor type="perspective">{body}</sensor>')).sensors[0]


FILM_200x100 = ('<film type="hdrfilm"><integer name="width" value="200"/>'
                '<integer name="height" value="100"/></film>')


@pytest.mark.parametrize("axis, expected", [
    ("x", 90.0),
    ("y", 2 * math.degrees(math.atan(2.0))),  # tan(45) * aspect 2
    ("diagonal", 2 * math.degrees(math.atan(1 / math.sqrt(1.25)))),  # tan(45) / sqrt(1+1/4)
    ("smaller", 2 * math.degrees(math.atan(2.0))),  # aspect > 1: the smaller axis is y
    ("larger", 90.0),
    ("Y", 2 * math.degrees(math.atan(2.0))),  # case-insensitive, as Mitsuba
])
def test_fov_axis_conversions(xml_scene, axis, expected):
    s = sensor_of(xml_scene, f'<float name="fov" value="90"/><string name="fov_axis" '
                             f'value="{axis}"/>{FILM_200x100}')
    assert s.fov == 90.0
    assert s.fov_x() == pytest.approx(expected, abs=1e-9)


def test_focal_length_default_is_50mm_on_the_diagonal(xml_scene):
    # 36 x 24 mm film: fov_x = 2 atan(18 / 50) = 39.5978 degrees, as Mitsuba
    s = sensor_of(xml_scene, '<film type="hdrfilm"><integer name="width" value="360"/>'
                             '<integer name="height" value="240"/></film>')
    assert s.fov_axis == "diagonal"
    assert s.fov == pytest.approx(2 * math.degrees(math.atan(math.hypot(36, 24) / 100)))
    assert s.fov_x() == pytest.approx(2 * math.degrees(math.atan(0.36)), abs=1e-9)
    # a square film sees less horizontally than the model's 39.6 degree fallback
    s = sensor_of(xml_scene, '<string name="focal_length" value="35mm"/>' + FILM_200x100.replace(
        '"100"', '"200"'))
    t = math.hypot(36, 24) / 70 / math.sqrt(2)
    assert s.fov_x() == pytest.approx(2 * math.degrees(math.atan(t)), abs=1e-9)


def test_sensor_defaults_and_clip(xml_scene):
    s = sensor_of(xml_scene, '<float name="fov" value="30"/><float name="near_clip" value="0.5"/>'
                             '<float name="far_clip" value="50"/>')
    assert (s.near_clip, s.far_clip, s.fov_axis) == (0.5, 50.0, "x")
    np.testing.assert_array_equal(s.to_world, np.eye(4))
    f = s.film
    assert (f.width, f.height, f.pixel_format, f.component_format, f.sample_border, f.crop,
            f.file_format) == (768, 576, "rgb", "float16", False, None, "openexr")
    assert (f.rfilter.type, f.rfilter.stddev, f.rfilter.radius) == ("gaussian", 0.5, 2.0)
    assert (s.sampler.type, s.sampler.sample_count, s.sampler.seed) == ("independent", 4, 0)


def test_film_parameters_and_crop(xml_scene):
    s = sensor_of(xml_scene, """
        <film type="hdrfilm" name="film">
            <integer name="width" value="64"/>
            <integer name="height" value="48"/>
            <string name="pixel_format" value="rgba"/>
            <string name="component_format" value="float32"/>
            <boolean name="sample_border" value="true"/>
            <integer name="crop_offset_x" value="8"/>
            <integer name="crop_offset_y" value="4"/>
            <integer name="crop_width" value="16"/>
            <integer name="crop_height" value="40"/>
            <rfilter type="tent" name="rfilter"><float name="radius" value="1.5"/></rfilter>
        </film>""")
    f = s.film
    assert (f.width, f.height, f.pixel_format, f.component_format, f.sample_border) == (
        64, 48, "rgba", "float32", True)
    assert f.crop == (8, 4, 16, 40)
    assert (f.rfilter.type, f.rfilter.radius) == ("tent", 1.5)


@pytest.mark.parametrize("rf, expected", [
    ('<rfilter type="box"/>', ("box", 0.5)),
    ('<rfilter type="tent"/>', ("tent", 1.0)),
    ('<rfilter type="gaussian"><float name="stddev" value="1.25"/></rfilter>',
     ("gaussian", 5.0)),
])
def test_rfilters(xml_scene, rf, expected):
    s = sensor_of(xml_scene, f'<film type="hdrfilm">{rf}</film>')
    assert (s.film.rfilter.type, s.film.rfilter.radius) == expected


def test_sampler_seed_and_count(xml_scene):
    s = sensor_of(xml_scene, '<sampler type="independent"><integer name="sample_count" '
                             'value="16"/><integer name="seed" value="7"/></sampler>')
    assert (s.sampler.sample_count, s.sampler.seed) == (16, 7)


@pytest.mark.parametrize("kind", ["stratified", "multijitter", "orthogonal", "ldsampler"])
def test_other_samplers_map_to_independent_with_warning(xml_scene, kind):
    extra = '<boolean name="jitter" value="false"/>' if kind in ("stratified",
                                                                  "multijitter") else ""
    with pytest.warns(SceneWarning, match=f"sampler '{kind}' is rendered as 'independent'"):
        s = sensor_of(xml_scene, f'<sampler type="{kind}"><integer name="sample_count" '
                                 f'value="9"/>{extra}</sampler>')
    assert (s.sampler.type, s.sampler.sample_count) == ("independent", 9)


def test_integrators(xml_scene):
    it = load_scene(xml_scene('<integrator type="path"/>')).integrator
    assert (it.type, it.max_depth, it.rr_depth, it.hide_emitters) == ("path", -1, 5, False)
    it = load_scene(xml_scene('<integrator type="path"><integer name="max_depth" value="8"/>'
                              '<integer name="rr_depth" value="3"/><boolean name="hide_emitters"'
                              ' value="true"/></integrator>')).integrator
    assert (it.max_depth, it.rr_depth, it.hide_emitters) == (8, 3, True)
    it = load_scene(xml_scene('<integrator type="direct"><integer name="shading_samples" '
                              'value="4"/><integer name="bsdf_samples" value="2"/></integrator>'
                              )).integrator
    assert it.type == "direct"
    assert it.params == {"emitter_samples": 4, "bsdf_samples": 2}
    assert load_scene(xml_scene("")).integrator.type == "path"  # Mitsuba's default


def test_emitters(xml_scene):
    sc = load_scene(xml_scene("""
        <emitter type="point"/>
        <shape type="rectangle" id="lamp">
            <emitter type="area"><rgb name="radiance" value="1, 2, 3"/></emitter>
        </shape>
        <emitter type="point" id="key">
            <rgb name="intensity" value="5"/>
            <transform name="to_world"><translate value="1, 2, 3"/></transform>
        </emitter>"""))
    p0, area, key = sc.emitters
    assert p0.type == "point" and p0.id is None
    np.testing.assert_array_equal(p0.position, [0, 0, 0])  # Mitsuba's default position
    np.testing.assert_array_equal(p0.params["intensity"].value, [1, 1, 1])
    assert area.type == "area" and area.shape == 0 and sc.shapes[0].emitter is area
    np.testing.assert_array_equal(area.params["radiance"].value, [1, 2, 3])
    np.testing.assert_array_equal(key.position, [1, 2, 3])
    np.testing.assert_array_equal(key.params["intensity"].value, [5, 5, 5])


@pytest.mark.parametrize("elem, expected", [
    ('<rgb name="reflectance" value="0.2, 0.4, 0.6"/>', [0.2, 0.4, 0.6]),
    ('<rgb name="reflectance" value="0.3"/>', [0.3, 0.3, 0.3]),
    ('<float name="reflectance" value="0.25"/>', [0.25, 0.25, 0.25]),
    ('<spectrum name="reflectance" value="0.75"/>', [0.75, 0.75, 0.75]),
    # srgb is sRGB-encoded (Mitsuba 0.6 semantics): decoded with the exact curve
    ('<srgb name="reflectance" value="0.5, 0.5, 0.5"/>', [0.21404114048223255] * 3),
    ('<srgb name="reflectance" value="#ff0000"/>', [1.0, 0.0, 0.0]),
])
def test_diffuse_reflectance_forms(xml_scene, elem, expected):
    sc = load_scene(xml_scene(f'<shape type="cube"><bsdf type="diffuse">{elem}</bsdf></shape>'))
    v = sc.shapes[0].bsdf.params["reflectance"].value
    assert v.dtype == np.float32 and v.shape == (3,)
    np.testing.assert_allclose(v, expected, rtol=1e-6)


def test_default_bsdf_is_grey_but_black_on_emitters(xml_scene):
    """Mitsuba's Shape constructor: a shape without a BSDF gets a diffuse one of reflectance 0.5,
    or of reflectance 0 when the shape has an area emitter (a light without a BSDF reflects
    nothing); an explicit BSDF on an emitter is kept."""
    sc = load_scene(xml_scene("""
        <shape type="cube" id="plain"/>
        <shape type="rectangle" id="light"><emitter type="area"/></shape>
        <shape type="rectangle" id="lit_bsdf">
            <bsdf type="diffuse"><rgb name="reflectance" value="0.3"/></bsdf>
            <emitter type="area"/>
        </shape>"""))
    plain, light, lit = sc.shapes
    for sh, expected in ((plain, 0.5), (light, 0.0), (lit, 0.3)):
        assert sh.bsdf.type == "diffuse" and not sh.bsdf.twosided, sh.id
        v = sh.bsdf.params["reflectance"].value
        assert v.dtype == np.float32 and v.shape == (3,)
        np.testing.assert_array_equal(v, np.float32(expected), err_msg=sh.id)
    assert light.emitter is not None and plain.emitter is None


def test_twosided_and_shared_bsdfs(xml_scene):
    sc = load_scene(xml_scene("""
        <bsdf type="twosided" id="white">
            <bsdf type="diffuse"><rgb name="reflectance" value="0.8"/></bsdf>
        </bsdf>
        <shape type="cube" id="a"><ref id="white"/></shape>
        <shape type="cube" id="b"><ref name="bsdf" id="white"/></shape>
        <shape type="cube" id="c"><bsdf type="diffuse" name="bsdf" id="own"/></shape>"""))
    a, b, c = sc.shapes
    assert a.bsdf is b.bsdf
    assert a.bsdf.twosided and a.bsdf.type == "diffuse" and a.bsdf.id == "white"
    np.testing.assert_allclose(a.bsdf.params["reflectance"].value, 0.8)
    assert c.bsdf.id == "own" and not c.bsdf.twosided


def test_bitmap_texture_srgb_raw_and_options(xml_scene, tmp_path):
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 0] = 128
    img[0, :, 1] = 255  # top row green
    Image.fromarray(img).save(tmp_path / "t.png")
    Image.fromarray(np.full((2, 2), 64, np.uint8)).save(tmp_path / "g.png")
    write_image(tmp_path / "lin.exr", np.full((2, 3, 3), 0.125, np.float32))
    sc = load_scene(xml_scene("""
        <shape type="rectangle">
            <bsdf type="diffuse">
                <texture type="bitmap" name="reflectance">
                    <string name="filename" value="t.png"/>
                    <string name="filter_type" value="nearest"/>
                    <string name="wrap_mode" value="clamp"/>
                    <transform name="to_uv"><scale x="2" y="3"/></transform>
                </texture>
            </bsdf>
        </shape>
        <shape type="rectangle">
            <bsdf type="diffuse">
                <texture type="bitmap" name="reflectance">
                    <string name="filename" value="t.png"/>
                    <boolean name="raw" value="true"/>
                </texture>
            </bsdf>
        </shape>
        <shape type="rectangle">
            <bsdf type="diffuse">
                <texture type="bitmap" name="reflectance">
                    <string name="filename" value="g.png"/>
                </texture>
            </bsdf>
        </shape>
        <shape type="rectangle">
            <bsdf type="diffuse">
                <texture type="bitmap" name="reflectance">
                    <string name="filename" value="lin.exr"/>
                </texture>
            </bsdf>
        </shape>"""))
    t0, t1, t2, t3 = (s.bsdf.params["reflectance"] for s in sc.shapes)
    assert t0.type == "bitmap" and t0.data.shape == (4, 6, 3) and t0.data.dtype == np.float32
    lin128 = ((128 / 255 + 0.055) / 1.055) ** 2.4
    np.testing.assert_allclose(t0.data[..., 0], lin128, rtol=1e-6)
    np.testing.assert_allclose(t0.data[0, :, 1], 1.0)  # row 0 is the top of the image
    assert (t0.filter_type, t0.wrap_mode, t0.raw) == ("nearest", "clamp", False)
    np.testing.assert_array_equal(t0.to_uv, np.diag([2.0, 3.0, 1.0]))
    np.testing.assert_allclose(t1.data[..., 0], 128 / 255, rtol=1e-6)  # raw: no decoding
    assert (t1.filter_type, t1.wrap_mode, t1.raw) == ("bilinear", "repeat", True)
    assert t2.data.shape == (2, 2, 3)  # grey images become RGB
    np.testing.assert_allclose(t3.data, 0.125)  # EXR is linear already


def test_mitsuba_export_attributes_are_accepted(xml_scene):
    """What mi.xml.dict_to_xml and the Blender exporter write: version 2.1.0, $resx/$resy/$spp
    defaults, space-separated values, x/y/z points, name= on nested plugins, ref name=, film
    formats, sample_border, sampler seed, comments."""
    sc = load_scene(xml_scene.__call__("""
        <!-- Defaults, these can be set via the command line: -Darg=value -->
        <default name="spp" value="32"/>
        <default name="resx" value="320"/>
        <default name="resy" value="240"/>
        <integrator type="path" id="integrator"><integer name="max_depth" value="12"/></integrator>
        <sensor type="perspective" id="elm__1" name="elm__1">
            <string name="fov_axis" value="x"/>
            <float name="fov" value="39.597755"/>
            <float name="near_clip" value="0.100000"/>
            <float name="far_clip" value="100.000000"/>
            <transform name="to_world">
                <rotate x="1" angle="-153.5592908827048"/>
                <rotate y="1" angle="-46.691938147394204"/>
                <rotate z="1" angle="-179.99999991348578"/>
                <translate value="7.358891 4.958309 6.925791"/>
            </transform>
            <sampler type="independent" name="sampler">
                <integer name="sample_count" value="$spp"/>
                <integer name="seed" value="0"/>
            </sampler>
            <film type="hdrfilm" name="film">
                <integer name="width" value="$resx"/>
                <integer name="height" value="$resy"/>
                <string name="file_format" value="openexr"/>
                <string name="pixel_format" value="rgb"/>
                <string name="component_format" value="float16"/>
                <boolean name="sample_border" value="false"/>
                <rfilter type="gaussian" name="rfilter"/>
            </film>
        </sensor>
        <bsdf type="twosided" id="mat-Material">
            <bsdf type="diffuse" name="bsdf">
                <rgb value="0.800000 0.800000 0.800000" name="reflectance"/>
            </bsdf>
        </bsdf>
        <emitter type="point" id="elm__4" name="elm__4">
            <point name="position" x="4.076245307922363" y="5.903861999511719" z="-1.0054539442062378"/>
            <rgb value="79.577469 79.577469 79.577469" name="intensity"/>
        </emitter>
        <shape type="cube" id="elm__5" name="elm__5">
            <boolean name="face_normals" value="true"/>
            <ref id="mat-Material" name="bsdf"/>
        </shape>""".replace('<scene version="3.0.0">', ""), "export.xml"))
    s = sc.sensors[0]
    assert (s.film.width, s.film.height, s.sampler.sample_count) == (320, 240, 32)
    assert sc.shapes[0].bsdf.id == "mat-Material" and sc.shapes[0].id == "elm__5"
    np.testing.assert_allclose(s.to_world[:3, 3], [7.358891, 4.958309, 6.925791])
    np.testing.assert_allclose(s.to_world[:3, :3].T @ s.to_world[:3, :3], np.eye(3), atol=1e-12)


def test_version_0_6_scene_is_upgraded(write):
    path = write("""
        <scene version="0.6.0">
            <integrator type="path"><integer name="maxDepth" value="4"/></integrator>
            <sensor type="perspective">
                <string name="fovAxis" value="y"/>
                <float name="fov" value="45"/>
                <transform name="toWorld">
                    <lookAt origin="0, 0, 5" target="0, 0, 0" up="0, 1, 0"/>
                </transform>
            </sensor>
            <shape type="cube">
                <bsdf type="diffuse"><rgb name="diffuseReflectance" value="0.1"/></bsdf>
            </shape>
        </scene>""")
    sc = load_scene(path)
    assert sc.integrator.max_depth == 4
    assert sc.sensors[0].fov_axis == "y"
    np.testing.assert_allclose(sc.sensors[0].to_world[:3, 2], [0, 0, -1])
    np.testing.assert_allclose(sc.shapes[0].bsdf.params["reflectance"].value, 0.1)


def test_include_and_path(xml_scene, write):
    write('<scene version="3.0.0"><shape type="cube" id="inc"/></scene>', "parts/extra.xml")
    write("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "meshes/tri.obj")
    sc = load_scene(xml_scene("""
        <path value="meshes"/>
        <include filename="parts/extra.xml"/>
        <shape type="obj" id="tri"><string name="filename" value="tri.obj"/></shape>"""))
    assert [s.id for s in sc.shapes] == ["inc", "tri"]
