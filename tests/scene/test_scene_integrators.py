"""Mitsuba's other integrator names (issue #13): ``moment`` and ``aov`` render their nested
integrator's image, the differentiable / volumetric / light-tracing names render as ``path``
with Mitsuba 3.9.1's defaults (checked against Mitsuba's own objects), each says once on stderr
what differs; ``stokes``, AOV types diffrender lacks and nesting errors are one-line errors."""
import warnings

import numpy as np
import pytest

from diffrender.core import Renderer
from diffrender.errors import SceneError
from diffrender.scene import load_scene
from diffrender.scene.spec import SceneWarning

ALIASES = ("prb", "prb_basic", "prb_projective", "direct_projective", "ptracer", "volpath",
           "volpathmis", "prbvolpath")

SCENE = """
<sensor type="perspective">
    <float name="fov" value="40"/>
    <transform name="to_world"><lookat origin="0, 0.5, 4" target="0, 0, 0" up="0, 1, 0"/>
    </transform>
    <film type="hdrfilm"><integer name="width" value="12"/><integer name="height" value="10"/>
        <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="4"/></sampler>
</sensor>
<shape type="sphere"><float name="radius" value="0.8"/>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.7, 0.5, 0.3"/></bsdf></shape>
<shape type="rectangle">
    <transform name="to_world"><scale value="3"/><rotate x="1" angle="-90"/>
        <translate y="-0.8"/></transform>
    <bsdf type="diffuse"/></shape>
<shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="90"/><translate y="2.5"/></transform>
    <emitter type="area"><rgb name="radiance" value="4"/></emitter></shape>
"""


def load_quiet(path):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        sc = load_scene(path)
    return sc, [x for x in w if issubclass(x.category, SceneWarning)]


def error_line(path):
    with pytest.raises(SceneError) as e:
        load_quiet(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}:")
    return msg


@pytest.mark.parametrize("name", ALIASES)
def test_alias_defaults_are_mitsubas(xml_scene, name):
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("llvm_ad_rgb")
    path = xml_scene(f'<integrator type="{name}"/>')
    it, notes = load_quiet(path)
    it = it.integrator
    theirs = mi.load_dict({"type": name})
    if hasattr(theirs, "max_depth"):  # the Python (differentiable) integrators
        md = int(theirs.max_depth)
    else:  # C++ ones: from their description
        text = str(theirs)
        md = int(text.split("max_depth = ")[1].split(",")[0].split()[0])
        md = -1 if md in (-1, 0xFFFFFFFF) else md
    assert it.type == "path" and it.max_depth == md
    assert it.hide_emitters is False and it.rr_depth == 5
    assert len(notes) == 1 and f"integrator '{name}'" in str(notes[0].message)
    assert str(notes[0].message).startswith(f"{path}:2:")


def test_alias_parameters_are_read(xml_scene):
    sc, _ = load_quiet(xml_scene(
        '<integrator type="prb_projective"><integer name="max_depth" value="3"/>'
        '<integer name="rr_depth" value="2"/><boolean name="hide_emitters" value="true"/>'
        '<integer name="sppc" value="8"/><string name="guiding" value="grid"/></integrator>'))
    it = sc.integrator
    assert (it.type, it.max_depth, it.rr_depth, it.hide_emitters) == ("path", 3, 2, True)
    # direct_projective is direct illumination whatever max_depth says (as in Mitsuba)
    sc, _ = load_quiet(xml_scene('<integrator type="direct_projective">'
                                 '<integer name="max_depth" value="9"/></integrator>'))
    assert sc.integrator.max_depth == 2
    p = xml_scene('<integrator type="prb"><integer name="max_depth" value="-3"/></integrator>')
    assert "max_depth must be -1" in error_line(p)
    p = xml_scene('<integrator type="prb_projective"><string name="guiding" value="x"/>'
                  '</integrator>')
    assert "must be one of none, grid, octree" in error_line(p)


def test_moment_renders_its_nested_integrator(xml_scene):
    sc, notes = load_quiet(xml_scene(
        '<integrator type="moment"><integrator type="path">'
        '<integer name="max_depth" value="3"/><boolean name="hide_emitters" value="true"/>'
        '</integrator><integrator type="direct" name="second"/></integrator>'))
    it = sc.integrator
    assert (it.type, it.max_depth, it.hide_emitters) == ("path", 3, True)
    assert len(notes) == 1
    msg = str(notes[0].message)
    assert "m2_" in msg and "1 further nested" in msg
    sc, _ = load_quiet(xml_scene('<integrator type="moment"><integrator type="direct">'
                                 '<integer name="emitter_samples" value="2"/></integrator>'
                                 '</integrator>'))
    assert sc.integrator.type == "direct" and sc.integrator.params["emitter_samples"] == 2


def test_dict_form_moment():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneWarning)
        sc = load_scene({"type": "scene", "integrator": {
            "type": "moment", "nested": {"type": "path", "max_depth": 4}}})
    assert (sc.integrator.type, sc.integrator.max_depth) == ("path", 4)


def test_aov_integrator(xml_scene):
    sc, notes = load_quiet(xml_scene(
        '<integrator type="aov"><string name="aovs" value="dd.y:depth, nn:sh_normal"/>'
        '<integrator type="path" name="my_image"><integer name="max_depth" value="5"/>'
        '</integrator></integrator>'))
    assert sc.integrator.type == "path" and sc.integrator.max_depth == 5
    assert sc.integrator.params["aovs"] == {"dd.y": "depth", "nn": "normal"}
    assert notes == []
    _, notes = load_quiet(xml_scene(
        '<integrator type="aov"><string name="aovs" value="a:albedo"/>'
        '<integrator type="path"/></integrator>'))
    assert len(notes) == 1 and "eval_diffuse_reflectance" in str(notes[0].message)


@pytest.mark.parametrize("body, expected", [
    ('<integrator type="stokes"><integrator type="path"/></integrator>',
     "integrator 'stokes' renders Stokes vectors"),
    ('<integrator type="aov"><string name="aovs" value="pp:position"/>'
     '<integrator type="path"/></integrator>', "AOV type 'position' is not supported"),
    ('<integrator type="aov"><string name="aovs" value="pp:bogus"/>'
     '<integrator type="path"/></integrator>', "unknown AOV type 'bogus'"),
    ('<integrator type="aov"><string name="aovs" value="depth"/>'
     '<integrator type="path"/></integrator>', "invalid AOV 'depth'; expected name:type"),
    ('<integrator type="aov"><integrator type="path"/></integrator>',
     "needs an 'aovs' string"),
    ('<integrator type="aov"><string name="aovs" value="d:depth"/></integrator>',
     "without a nested integrator"),
    ('<integrator type="aov"><string name="aovs" value="d:depth"/><integrator type="path"/>'
     '<integrator type="direct"/></integrator>', "keep one nested integrator"),
    ('<integrator type="moment"/>', "integrator 'moment' without a nested integrator"),
    ('<integrator type="moment"><integrator type="stokes"><integrator type="path"/>'
     '</integrator></integrator>', "integrator 'stokes'"),
    ('<integrator type="volpath"><float name="max_depth" value="3"/></integrator>',
     "expects an integer"),
])
def test_integrator_errors(xml_scene, body, expected):
    assert expected in error_line(xml_scene(body))


MEDIUM = ('<medium type="homogeneous" id="fog"><rgb name="albedo" value="0.5"/>\n'
          '<phase type="hg"><float name="g" value="0.3"/></phase></medium>\n')
MEDIUM_USE = ('<shape type="sphere"><float name="radius" value="0.3"/><bsdf type="dielectric"/>\n'
              '<ref id="fog" name="interior"/></shape>\n')


@pytest.mark.parametrize("integrator", ["path", "volpath"])
def test_unused_medium_loads(xml_scene, integrator):
    """A medium nothing references has no effect in Mitsuba: the scene loads and renders the
    very same pixels as without it."""
    integ = f'<integrator type="{integrator}"><integer name="max_depth" value="3"/></integrator>'
    with_medium = render(xml_scene(SCENE + MEDIUM + integ, "m.xml"))
    assert np.array_equal(with_medium, render(xml_scene(SCENE + integ, "plain.xml")))


@pytest.mark.parametrize("integrator", ["path", "direct"])
def test_used_medium_is_ignored_by_surface_integrators(xml_scene, integrator):
    """Mitsuba's path / direct integrators ignore media (measured: a dielectric sphere with a
    homogeneous interior renders as in vacuum under path): the scene loads."""
    p = xml_scene(SCENE + MEDIUM + MEDIUM_USE + f'<integrator type="{integrator}"/>')
    sc, _ = load_quiet(p)
    assert len(sc.shapes) == 4


@pytest.mark.parametrize("integrator", ["volpath", "volpathmis", "prbvolpath"])
def test_used_medium_under_volpath_is_built(xml_scene, integrator):
    """Under a volumetric integrator the medium is read with Mitsuba's defaults (sigma_t 1,
    scale 1, sample_emitters true) and the shape's interior points at it."""
    sc, _ = load_quiet(xml_scene(MEDIUM + MEDIUM_USE + f'<integrator type="{integrator}"/>'))
    assert len(sc.media) == 1
    m = sc.media[0]
    assert (m.type, m.phase, m.g, m.scale, m.sample_emitters, m.id) == (
        "homogeneous", "hg", pytest.approx(0.3), 1.0, True, "fog")
    assert m.sigma_t.tolist() == [1.0, 1.0, 1.0] and m.albedo.tolist() == [0.5, 0.5, 0.5]
    assert (sc.shapes[0].interior, sc.shapes[0].exterior) == (0, None)


def test_medium_nested_in_moment_volpath_is_built(xml_scene):
    sc, _ = load_quiet(xml_scene(MEDIUM + MEDIUM_USE + '<integrator type="moment"><integrator '
                                 'type="volpath"/></integrator>'))
    assert len(sc.media) == 1 and sc.shapes[0].interior == 0


@pytest.mark.parametrize("body, expected", [
    ('<medium type="homogeneous" id="fog"><volume type="gridvolume" name="sigma_t"><string '
     'name="filename" value="missing.vol"/></volume></medium>' + MEDIUM_USE,
     "volume file not found: "),
    ('<medium type="heterogeneous" id="fog"><volume type="constvolume" name="density"/>'
     '</medium>' + MEDIUM_USE, "a nested volume must be named 'sigma_t' or 'albedo', got "
                               "'density'"),
    (MEDIUM.replace('<phase type="hg"><float name="g" value="0.3"/></phase>',
                    '<phase type="rayleigh"/>') + MEDIUM_USE, "unsupported phase type 'rayleigh'"),
    (MEDIUM.replace('value="0.3"', 'value="1.0"') + MEDIUM_USE,
     "hg parameter g must lie in (-1, 1), got 1.0"),
    (MEDIUM.replace('<rgb name="albedo" value="0.5"/>', '<rgb name="albedo" value="1.5"/>')
     + MEDIUM_USE, "albedo must lie in [0, 1], got [1.5, 1.5, 1.5]"),
    (MEDIUM + MEDIUM_USE.replace('name="interior"', 'name="inside"'),
     "a medium reference must be named 'interior' or 'exterior', got 'inside'"),
])
def test_medium_errors(xml_scene, body, expected):
    msg = error_line(xml_scene(body + '<integrator type="volpath"/>'))
    assert expected in msg


def test_medium_in_dict_scene():
    sc = load_scene({"type": "scene", "fog": {"type": "homogeneous", "albedo": 0.5},
                     "ball": {"type": "sphere"}})
    assert len(sc.shapes) == 1 and sc.media == []
    sc = load_quiet_dict({"type": "scene", "integrator": {"type": "volpath"},
                          "fog": {"type": "homogeneous", "albedo": 0.5},
                          "ball": {"type": "sphere", "interior": {"type": "ref", "id": "fog"}}})
    assert sc.shapes[0].interior == 0 and sc.media[0].albedo.tolist() == [0.5] * 3


def load_quiet_dict(d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneWarning)
        return load_scene(d)


def test_unused_bsdf_with_volume_texture_loads(xml_scene):
    """The lego tutorial scene's shape: a BSDF with a volume texture that nothing references
    (Mitsuba builds it; it has no effect). Referenced, it is an error naming the texture."""
    bsdf = ('<bsdf type="diffuse" id="vol"><texture type="volume" name="reflectance">\n'
            '<volume type="gridvolume" name="volume"><string name="filename" value="x.vol"/>'
            '</volume></texture></bsdf>\n')
    with pytest.warns(SceneWarning, match="texture 'volume'.*not support"):
        sc = load_scene(xml_scene(SCENE + bsdf, "unused.xml"))
    assert len(sc.shapes) == 3
    p = xml_scene(bsdf + '<shape type="sphere"><ref id="vol"/></shape>', "used.xml")
    msg = error_line(p)
    assert msg.startswith(f"{p}:2:") and "unsupported texture type 'volume'" in msg


def render(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneWarning)
        sc = load_scene(path)
    return Renderer(sc).render(spp=4, seed=7, **kw)


def test_aliases_render_the_path_image(xml_scene):
    """The same kernel with the same parameters and seed: the very same pixels (moment's nested
    path with max_depth 3; prb and volpath with max_depth 3 given)."""
    ref = render(xml_scene(SCENE + '<integrator type="path"><integer name="max_depth" '
                                   'value="3"/></integrator>'))
    assert ref.mean() > 0.01
    for wrapped in ('<integrator type="moment"><integrator type="path"><integer '
                    'name="max_depth" value="3"/></integrator></integrator>',
                    '<integrator type="prb"><integer name="max_depth" value="3"/></integrator>',
                    '<integrator type="volpath"><integer name="max_depth" value="3"/>'
                    '</integrator>'):
        np.testing.assert_array_equal(render(xml_scene(SCENE + wrapped)), ref)
    other = render(xml_scene(SCENE + '<integrator type="path"><integer name="max_depth" '
                                     'value="2"/></integrator>'))
    assert np.abs(other - ref).max() > 1e-3  # max_depth is honoured, the check can fail


def test_aov_depth_and_normal_match_mitsuba(xml_scene):
    """The scene's AOVs against Mitsuba's aov integrator on the same file (box filter, 64 spp:
    pixel means of depth and shading normal; edge pixels mix surfaces, so compared where
    both are converged: interior pixels of each surface)."""
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    p = xml_scene(SCENE.replace('value="4"/></sampler>', 'value="64"/></sampler>')
                  .replace('"width" value="12"', '"width" value="36"')
                  .replace('"height" value="10"', '"height" value="30"')
                  + '<integrator type="aov"><string name="aovs" value="dd.y:depth,nn:sh_normal"/>'
                  '<integrator type="path" name="img"/></integrator>')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneWarning)
        sc = load_scene(p)
    names = sc.integrator.params["aovs"]
    out = Renderer(sc).render(spp=64, seed=3, aovs=tuple(names.values()))
    theirs = np.array(mi.render(mi.load_file(p), spp=64))
    # channels: img.R G B A, dd.y.T, nn.X Y Z (Mitsuba's order: nested images, then AOVs)
    t_depth, t_n = theirs[..., -4], theirs[..., -3:]
    o_depth, o_n = out["depth"][..., 0], out["normal"]
    # interior pixels: depth and normal of all 3x3 neighbours close in Mitsuba's image
    pad = np.pad(t_depth, 1, mode="edge")
    nb = np.stack([pad[1 + dy:1 + dy + t_depth.shape[0], 1 + dx:1 + dx + t_depth.shape[1]]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    padn = np.pad(t_n, ((1, 1), (1, 1), (0, 0)), mode="edge")
    nbn = np.stack([padn[1 + dy:1 + dy + t_n.shape[0], 1 + dx:1 + dx + t_n.shape[1]]
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    inner = ((t_depth > 0) & (np.abs(nb - t_depth).max(axis=0) < 0.2 * t_depth)
             & (np.abs(nbn - t_n).max(axis=(0, 3)) < 0.3))
    assert inner.sum() > 300
    np.testing.assert_allclose(o_depth[inner], t_depth[inner], rtol=0.03)
    np.testing.assert_allclose(o_n[inner], t_n[inner], atol=0.08)


def test_heterogeneous_medium_reads_its_volumes(xml_scene, tmp_path):
    """gridvolume (a .vol file, use_grid_bbox placing it at the file's box, then to_world) and
    constvolume; a grid in a homogeneous medium is refused (it is not constant)."""
    from diffrender.scene.volumes import write_vol

    write_vol(str(tmp_path / "d.vol"), np.full((2, 2, 2, 1), 3.0, np.float32),
              ((1, 1, 1), (2, 3, 5)))
    grid = ('<volume type="gridvolume" name="sigma_t"><string name="filename" value="'
            + str(tmp_path / "d.vol") + '"/><boolean name="use_grid_bbox" value="true"/>'
            '<transform name="to_world"><translate x="1"/></transform></volume>')
    body = ('<medium type="heterogeneous" id="fog">' + grid + '<volume type="constvolume" '
            'name="albedo"><rgb name="value" value="0.2, 0.4, 0.6"/></volume></medium>\n'
            + MEDIUM_USE + '<integrator type="volpath"/>')
    sc, _ = load_quiet(xml_scene(body))
    m = sc.media[0]
    assert m.type == "heterogeneous" and m.volume_sigma_t.max() == 3.0
    corner = m.volume_sigma_t.to_world @ np.array([1.0, 1.0, 1.0, 1.0])
    assert corner[:3].tolist() == [3.0, 3.0, 5.0]  # the file's box (1..2, 1..3, 1..5), moved
    assert m.volume_albedo.value.tolist() == pytest.approx([0.2, 0.4, 0.6])
    msg = error_line(xml_scene(body.replace("heterogeneous", "homogeneous", 1)))
    assert "medium 'homogeneous' parameter 'sigma_t': a gridvolume is not constant" in msg
