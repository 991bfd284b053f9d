"""An ``area`` emitter declared at scene level with an id and referenced from a shape (as
Mitsuba allows): the same scene as the nested form, rendered pixel for pixel the same; one
shape per area emitter; an unreferenced one is an error naming it."""
import numpy as np
import pytest

from diffrender.core import Renderer
from diffrender.errors import SceneError
from diffrender.scene import load_scene
from diffrender.scene.spec import SceneWarning

BASE = """
<sensor type="perspective">
    <transform name="to_world"><lookat origin="0, 0, 4" target="0, 0, 0" up="0, 1, 0"/>
    </transform>
    <film type="hdrfilm"><integer name="width" value="8"/><integer name="height" value="6"/>
    </film>
</sensor>
<shape type="sphere"><float name="radius" value="0.7"/><bsdf type="diffuse"/></shape>
"""
NESTED = BASE + """
<shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="90"/><translate y="2"/></transform>
    <emitter type="area"><rgb name="radiance" value="3, 2, 1"/></emitter>
</shape>"""
REFERENCED = BASE + """
<emitter type="area" id="lamp"><rgb name="radiance" value="3, 2, 1"/></emitter>
<shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="90"/><translate y="2"/></transform>
    <ref id="lamp"/>
</shape>"""


def test_referenced_area_emitter_is_the_nested_one(xml_scene):
    a = load_scene(xml_scene(NESTED))
    b = load_scene(xml_scene(REFERENCED))
    (ea,), (eb,) = a.emitters, b.emitters
    assert eb.type == "area" and eb.id == "lamp" and eb.shape == 1
    np.testing.assert_array_equal(np.ravel(eb.params["radiance"].value), [3, 2, 1])
    np.testing.assert_array_equal(eb.to_world, ea.to_world)
    assert b.shapes[1].emitter is eb
    ia = Renderer(a).render(spp=4, seed=1)
    ib = Renderer(b).render(spp=4, seed=1)
    assert ia.mean() > 1e-3
    np.testing.assert_array_equal(ia, ib)


def test_referenced_area_emitter_in_dict_form():
    sc = load_scene({"type": "scene",
                     "lamp": {"type": "area", "radiance": {"type": "rgb", "value": [1, 2, 3]}},
                     "quad": {"type": "rectangle", "emitter": {"type": "ref", "id": "lamp"}}})
    assert sc.shapes[0].emitter is sc.emitters[0]


def test_area_emitter_reference_errors(xml_scene):
    p = xml_scene('<emitter type="area" id="lamp"/>')
    with pytest.raises(SceneError) as e:
        load_scene(p)
    assert str(e.value) == (f"{p}:2: area emitter 'lamp' is declared in the scene but no "
                            "shape references it; reference it from a shape with <ref "
                            "id=\"lamp\"/>")
    p = xml_scene('<emitter type="area" id="lamp"/>\n<shape type="rectangle"><ref id="lamp"/>'
                  '</shape>\n<shape type="disk"><ref id="lamp"/></shape>')
    with pytest.raises(SceneError) as e:
        load_scene(p)
    assert str(e.value) == (f"{p}:4: area emitter 'lamp' is already attached to the shape at "
                            f"{p}:3; an area emitter belongs to one shape (as in Mitsuba): "
                            "declare one per shape")


DIRECTIONAL_AREA = BASE + """
<integrator type="path"/>
<shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="90"/><translate y="2"/></transform>
    <emitter type="directionalarea"><rgb name="radiance" value="3, 2, 1"/></emitter>
</shape>
<emitter type="point"><point name="position" x="0" y="1" z="3"/>
    <rgb name="intensity" value="5"/></emitter>"""


def test_directionalarea_contributes_nothing_as_in_mitsuba(xml_scene):
    """Mitsuba 3.9.1's path tracer gets nothing from a directionalarea emitter (eval 0, no
    direction sampling): its image has the expectation of the one without it; ours loads it with a notice and
    renders the shape without an emitter (black default BSDF, as Mitsuba's for emitters)."""
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    p = xml_scene(DIRECTIONAL_AREA)
    with pytest.warns(SceneWarning, match="directionalarea' contributes nothing"):
        sc = load_scene(p)
    assert [e.type for e in sc.emitters] == ["point"] and sc.shapes[1].emitter is None
    np.testing.assert_array_equal(np.ravel(sc.shapes[1].bsdf.params["reflectance"].value), 0)
    with_it = np.array(mi.render(mi.load_file(p), spp=4096, seed=3))
    without = np.array(mi.render(mi.load_file(xml_scene(
        DIRECTIONAL_AREA.replace('<emitter type="directionalarea"><rgb name="radiance" '
                                 'value="3, 2, 1"/></emitter>', '<bsdf type="diffuse">'
                                 '<rgb name="reflectance" value="0"/></bsdf>'),
        "without.xml")), spp=4096, seed=4))
    assert with_it.mean() > 1e-3
    # the same expectation (Mitsuba's emitter choice makes half its light samples come back
    # empty, so only the noise differs): image means within 1%, pixels within 10%
    assert with_it.mean() == pytest.approx(without.mean(), rel=0.01)
    lit = without > 0.05 * without.max()
    np.testing.assert_allclose(with_it[lit], without[lit], rtol=0.1)


def test_directionalarea_errors(xml_scene):
    p = xml_scene('<emitter type="directionalarea"/>')
    with pytest.raises(SceneError, match="must be nested in a shape"):
        load_scene(p)
    p = xml_scene('<integrator type="ptracer"/>\n<shape type="rectangle">\n'
                  '<emitter type="directionalarea"/></shape>')
    with pytest.warns(SceneWarning):
        with pytest.raises(SceneError) as e:
            load_scene(p)
    assert str(e.value).startswith(f"{p}:4: emitter 'directionalarea' is rendered by "
                                   "Mitsuba's ptracer (light tracing) only")
