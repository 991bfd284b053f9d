"""Loading the material and light plugins: Mitsuba names and defaults, presets, parameter
names, and one-line errors naming the element."""
import warnings

import numpy as np
import pytest

from diffrender.errors import DiffrenderError, SceneError
from diffrender.scene import load_scene
from diffrender.scene.ior import CONDUCTORS, IOR
from diffrender.scene.plugins import SceneWarning


def error_of(source):
    with pytest.raises(SceneError) as e:
        load_scene(source)
    msg = str(e.value)
    assert "\n" not in msg
    assert isinstance(e.value, DiffrenderError)
    return msg


def shape(bsdf):
    return f'<shape type="rectangle">\n{bsdf}\n</shape>'


def test_defaults_match_mitsuba(xml_scene):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = load_scene(xml_scene("\n".join(shape(f'<bsdf type="{t}" id="{t}"/>') for t in
                                            ("conductor", "roughconductor", "plastic",
                                             "roughplastic", "dielectric", "thindielectric"))))
    p = sc.parameters()
    np.testing.assert_allclose(p["conductor.eta"], 0.0)
    np.testing.assert_allclose(p["conductor.k"], 1.0)
    np.testing.assert_allclose(p["roughconductor.alpha"], [0.1])
    np.testing.assert_allclose(p["plastic.eta"], [1.49 / 1.000277], rtol=1e-6)  # Mitsuba: 1.48958
    np.testing.assert_allclose(p["plastic.diffuse_reflectance"], 0.5)
    np.testing.assert_allclose(p["dielectric.eta"], [1.5046 / 1.000277], rtol=1e-6)  # 1.50418
    np.testing.assert_allclose(p["thindielectric.specular_transmittance"], 1.0)


def test_conductor_presets_and_ior_names(xml_scene):
    sc = load_scene(xml_scene(shape('<bsdf type="conductor" id="gold"><string name="material" value="Au"/></bsdf>')
                              + shape('<bsdf type="dielectric" id="water"><string name="int_ior" value="water"/>'
                                      '<float name="ext_ior" value="1.0"/></bsdf>')))
    p = sc.parameters()
    np.testing.assert_allclose(p["gold.eta"], CONDUCTORS["Au"][0], rtol=1e-6)
    np.testing.assert_allclose(p["gold.k"], CONDUCTORS["Au"][1], rtol=1e-6)
    np.testing.assert_allclose(p["water.eta"], [IOR["water"]], rtol=1e-6)
    assert {"Au", "Ag", "Cu", "Al", "Cr", "none"} <= set(CONDUCTORS)


def test_composite_parameter_names(xml_scene):
    sc = load_scene(xml_scene(shape(
        '<bsdf type="blendbsdf" id="b"><float name="weight" value="0.3"/>'
        '<bsdf type="diffuse"/><bsdf type="roughconductor"><string name="distribution" value="ggx"/></bsdf></bsdf>')
        + shape('<bsdf type="mask" id="m"><bsdf type="twosided"><bsdf type="plastic"/></bsdf></bsdf>')))
    names = set(sc.parameters())
    assert {"b.weight", "b.bsdf_0.reflectance", "b.bsdf_1.alpha", "m.opacity",
            "m.nested_bsdf.diffuse_reflectance", "m.nested_bsdf.eta"} <= names


def test_lights(xml_scene, write):
    import diffrender as dr

    env = str(write("", "sky.exr"))
    dr.write_image(env, np.ones((4, 8, 3), np.float32))
    sc = load_scene(xml_scene(
        f'<emitter type="envmap" id="sky"><string name="filename" value="{env}"/><float name="scale" value="2"/></emitter>\n'
        '<emitter type="spot" id="spot"><float name="cutoff_angle" value="30"/></emitter>\n'
        '<emitter type="directional" id="sun"><vector name="direction" x="0" y="-1" z="0"/></emitter>'))
    p = sc.parameters()
    np.testing.assert_allclose(p["sky.scale"], [2.0])
    assert p["sky.radiance.data"].shape == (4, 8, 3)
    spot = sc.emitters[1]
    assert spot.params["cutoff_angle"] == 30 and spot.params["beam_width"] == pytest.approx(22.5)
    sun = sc.emitters[2]
    np.testing.assert_allclose(sun.to_world[:3, 2], [0, -1, 0], atol=1e-12)  # travels along +Z


@pytest.mark.parametrize("body,match", [
    ('<bsdf type="conductor"><string name="material" value="Unobtainium"/></bsdf>',
     r"scene\.xml:4: .*conductor: unknown material 'Unobtainium' \(known: none, a-C, Ag"),
    ('<bsdf type="conductor"><string name="material" value="Au"/><rgb name="eta" value="1"/></bsdf>',
     r"scene\.xml:4: .*give either 'material' or 'eta'/'k', not both"),
    ('<bsdf type="roughconductor"><string name="distribution" value="phong"/></bsdf>',
     r"scene\.xml:4: .*'distribution' must be one of ggx, beckmann; got \"phong\""),
    ('<bsdf type="dielectric"><string name="int_ior" value="glassy"/></bsdf>',
     r"scene\.xml:4: .*unknown index of refraction 'glassy' \(known: vacuum, helium"),
    ('<bsdf type="dielectric"><float name="int_ior" value="-1"/></bsdf>',
     r"dielectric int_ior must be a positive number, got -1"),
    ('<bsdf type="roughplastic"><float name="alpha" value="0"/><string name="distribution" value="ggx"/></bsdf>',
     r"roughplastic alpha must be positive, got 0"),
    ('<bsdf type="blendbsdf"><bsdf type="diffuse"/></bsdf>',
     r"blendbsdf needs exactly 2 nested bsdfs, got 1"),
    ('<bsdf type="mask"><bsdf type="mask"><bsdf type="diffuse"/></bsdf></bsdf>',
     r"a mask cannot be nested in a mask"),
    ('<bsdf type="roughconductor"><float name="alpha_u" value="0.1"/></bsdf>',
     r"roughconductor: give both 'alpha_u' and 'alpha_v' \(or 'alpha'\)"),
    ('<bsdf type="roughplastic"><float name="alpha_u" value="0.1"/></bsdf>',
     r"bsdf 'roughplastic' has no parameter 'alpha_u'"),
    # Mitsuba's twosided refuses BSDFs with transmission, and so do we
    ('<bsdf type="twosided"><bsdf type="mask"><bsdf type="diffuse"/></bsdf></bsdf>',
     r"scene\.xml:3: twosided can only wrap a BSDF without transmission \(as in Mitsuba 3\), "
     r"got a mask; put the twosided inside the mask instead: "
     r'<bsdf type="mask"><bsdf type="twosided">\.\.\.</bsdf></bsdf>$'),
    ('<bsdf type="twosided"><bsdf type="dielectric"/></bsdf>',
     r"twosided can only wrap a BSDF without transmission \(as in Mitsuba 3\), got a "
     r"dielectric; a dielectric is two-sided by itself: use it without twosided$"),
    ('<bsdf type="twosided"><bsdf type="blendbsdf"><bsdf type="diffuse"/>'
     '<bsdf type="thindielectric"/></bsdf></bsdf>',
     r"got a blendbsdf containing a thindielectric; a thindielectric is two-sided by itself"),
    ('<bsdf type="blendbsdf"><bsdf type="twosided"><bsdf type="diffuse"/></bsdf>'
     '<bsdf type="diffuse"/></bsdf>',
     r"scene\.xml:3: a blendbsdf mixing twosided and one-sided BSDFs is not supported; make "
     r"both twosided or neither$"),
])
def test_bsdf_errors(xml_scene, body, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert pytest.raises(SceneError, load_scene, xml_scene("<shape type=\"rectangle\">\n" + body.replace("><", ">\n<", 1) + "\n</shape>")) \
            .match(match)


@pytest.mark.parametrize("body,match", [
    ('<emitter type="spot"><float name="cutoff_angle" value="20"/><float name="beam_width" value="30"/></emitter>',
     r"spot beam_width must be in \[0, cutoff_angle=20.0\] degrees, got 30"),
    ('<emitter type="envmap"><string name="filename" value="missing.exr"/></emitter>',
     r"environment map file not found: .*missing\.exr"),
    ('<emitter type="directional"><vector name="direction" x="0" y="0" z="0"/></emitter>',
     r"directional: direction must be non-zero"),
])
def test_emitter_errors(xml_scene, body, match):
    assert match and pytest.raises(SceneError, load_scene, xml_scene(body)).match(match)


@pytest.mark.parametrize("t", ["roughconductor", "roughplastic"])
def test_missing_distribution_is_beckmann(xml_scene, t):
    """Mitsuba 3.9.1's default, rendered as such (no warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SceneWarning)
        sc = load_scene(xml_scene(shape(f'<bsdf type="{t}"/>')))
    assert sc.shapes[0].bsdf.params["distribution"] == "beckmann"
    sc = load_scene(xml_scene(shape(f'<bsdf type="{t}"><string name="distribution" '
                                    'value="GGX"/></bsdf>')))
    assert sc.shapes[0].bsdf.params["distribution"] == "ggx"


def test_write_scene_round_trip_of_material_parameters(tmp_path, repo):
    """eta goes back as int_ior (ext_ior kept), floats as <float>, envmap texels as an EXR,
    texture-shader parameters on their texture node."""
    import os

    from diffrender.scene import write_scene

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = load_scene(os.path.join(repo, "scenes", "glass", "scene.xml"))
        p = sc.parameters()
        p["glass.eta"] = [1.7]
        p["cutout.opacity"] = [0.3]
        p["sky.scale"] = [2.5]
        p["sky.radiance.data"] = p["sky.radiance.data"] * 2
        write_scene(sc, str(tmp_path / "out.xml"))
        q = load_scene(str(tmp_path / "out.xml")).parameters()
        sc2 = load_scene(os.path.join(repo, "scenes", "textured-object", "scene.xml"),
                         allow_shaders=True)
        sc2.parameters()["wood.reflectance.frequency"] = [5.0]
        write_scene(sc2, str(tmp_path / "out2.xml"))
        q2 = load_scene(str(tmp_path / "out2.xml"), allow_shaders=True).parameters()
    np.testing.assert_allclose(q["glass.eta"], [1.7], rtol=1e-6)
    np.testing.assert_allclose(q["cutout.opacity"], [0.3], rtol=1e-6)
    np.testing.assert_allclose(q["sky.scale"], [2.5], rtol=1e-6)
    np.testing.assert_allclose(q["sky.radiance.data"], p["sky.radiance.data"], rtol=1e-3)
    np.testing.assert_allclose(q2["wood.reflectance.frequency"], [5.0])
