"""Loader behaviour that Mitsuba 3.9.1 has and files written for it rely on: XML pugixml accepts
and expat does not, ``<default>`` in included files, ``wavelength:value`` spectra, dict refs by
key. Expected values are Mitsuba 3.9.1's (``scalar_rgb``, read back with ``mi.traverse``); where
Mitsuba is installed the tests also compare with it directly."""
import warnings

import numpy as np
import pytest

from diffrender.errors import SceneError
from diffrender.scene import load_scene
from diffrender.scene.spectra import pairs_to_rgb, uniform_emitter_rgb


def _load(source, **defines):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_scene(source, **defines)


def _ids(path):
    return sorted(_load(path).tree.ids)


def _reflectance(scene, bsdf_id):
    return np.asarray(scene.tree.ids[bsdf_id].props["reflectance"].value, np.float64)


def _mitsuba():
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    return mi


def _mitsuba_values(mi, path):
    params = mi.traverse(mi.load_file(str(path)))
    return {k: np.asarray(params[k], np.float64).reshape(-1) for k in params.keys()
            if k.endswith(("reflectance.value", "radiance.value", "intensity.value"))}


# --- XML that pugixml accepts --------------------------------------------------------------

SPHERE = '<scene version="3.0.0">\n  {extra}\n  <shape type="sphere" id="{id}"/>\n</scene>\n'

LENIENT = {
    "comment_with_double_dash": (SPHERE.format(
        extra="<!-- Copyright (c) 2024 -- NVIDIA -- SPDX-License-Identifier: Apache-2.0 -->",
        id="a").encode(), "a"),
    "comment_ending_in_three_dashes": (SPHERE.format(extra="<!-- end --->", id="a").encode(),
                                       "a"),
    "bare_ampersand_in_attribute": (SPHERE.format(extra="", id="a & b").encode(), "a & b"),
    "unknown_entity_kept_as_text": (SPHERE.format(extra="", id="a&nbsp;b").encode(),
                                    "a&nbsp;b"),
    "less_than_in_attribute": (SPHERE.format(extra="", id="a<b").encode(), "a<b"),
    "latin1_bytes_in_comment": (SPHERE.format(extra="<!-- caf\xe9 -->", id="a").encode(
        "latin-1"), "a"),
    "latin1_declared": (('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + SPHERE.format(
        extra="", id="caf\xe9")).encode("latin-1"), "caf\xe9"),
    "text_after_root": (SPHERE.format(extra="", id="a").encode() + b"trailing", "a"),
    "second_root_ignored": (SPHERE.format(extra="", id="a").encode()
                            + b'<scene version="3.0.0"/>', "a"),
    "repeated_attribute_first_wins": (b'<scene version="3.0.0">\n <shape type="sphere" id="a" '
                                      b'id="b"/>\n</scene>\n', "a"),
    "utf8_bom": (b"\xef\xbb\xbf" + SPHERE.format(extra="", id="a").encode(), "a"),
}


@pytest.mark.parametrize("case", sorted(LENIENT))
def test_xml_pugixml_accepts_loads(write, case):
    data, shape_id = LENIENT[case]
    p = write(data)
    assert _ids(p) == [shape_id]


@pytest.mark.parametrize("case", ["comment_with_double_dash", "bare_ampersand_in_attribute",
                                  "repeated_attribute_first_wins", "latin1_bytes_in_comment"])
def test_xml_pugixml_cases_match_mitsuba(write, case):
    mi = _mitsuba()
    data, shape_id = LENIENT[case]
    p = write(data)
    assert [s.id() for s in mi.load_file(p).shapes()] == [shape_id]


def test_real_syntax_errors_keep_file_and_line(write):
    # a comment with '--' (expat rejects it) before a real error: the error keeps its line
    p = write(b'<scene version="3.0.0">\n<!-- a -- b\n c -->\n <shape type="sphere">\n'
              b'</scene>\n')
    with pytest.raises(SceneError) as e:
        load_scene(p)
    assert str(e.value) == f"{p}:5: malformed XML: mismatched tag (column 3)"
    p = write(b'<scene version="3.0.0">\n <shape type="sphere" id="a"\n</scene>\n')
    with pytest.raises(SceneError) as e:
        load_scene(p)
    assert str(e.value) == f"{p}:3: malformed XML: not well-formed (invalid token) (column 1)"
    p = write(b'<scene version="3.0.0">\n<!-- never closed\n<shape type="sphere"/>\n</scene>\n')
    with pytest.raises(SceneError) as e:
        load_scene(p)
    assert str(e.value) == f"{p}:2: malformed XML: unclosed token (column 1)"


# --- <default> in included files ---------------------------------------------------------------

INCLUDED = """
<scene version="3.0.0">
    <default name="r" value="0.25"/>
    <bsdf type="diffuse" id="a"><rgb name="reflectance" value="$r"/></bsdf>
</scene>
"""


@pytest.mark.parametrize("main,want", [
    # the parent's default before the include wins
    ('<default name="r" value="0.75"/>\n<include filename="inc.xml"/>', {"a": 0.75}),
    # the included file's default applies to it and to what follows
    ('<include filename="inc.xml"/>\n<bsdf type="diffuse" id="b"><rgb name="reflectance" '
     'value="$r"/></bsdf>', {"a": 0.25, "b": 0.25}),
    # a parent default after the include comes too late (Mitsuba 3.9.1: the first one wins)
    ('<include filename="inc.xml"/>\n<default name="r" value="0.5"/>', {"a": 0.25}),
])
def test_default_in_included_file(write, xml_scene, main, want):
    write(INCLUDED, "inc.xml")
    p = xml_scene(main)
    scene = _load(p)
    for bsdf_id, v in want.items():
        np.testing.assert_array_equal(_reflectance(scene, bsdf_id), [v] * 3)


def test_default_in_included_file_define_beats_it(write, xml_scene):
    write(INCLUDED, "inc.xml")
    p = xml_scene('<include filename="inc.xml"/>')
    np.testing.assert_array_equal(_reflectance(_load(p, r=0.5), "a"), [0.5] * 3)


def test_default_in_included_file_matches_mitsuba(write, xml_scene):
    mi = _mitsuba()
    write(INCLUDED, "inc.xml")
    for main in ('<default name="r" value="0.75"/>\n<include filename="inc.xml"/>',
                 '<include filename="inc.xml"/>\n<default name="r" value="0.5"/>'):
        p = xml_scene(main)
        ours = _reflectance(_load(p), "a")
        np.testing.assert_allclose(_mitsuba_values(mi, p)["a.reflectance.value"], ours,
                                   rtol=1e-6)


def test_undefined_parameter_in_included_file(write, xml_scene):
    write('<scene version="3.0.0">\n<bsdf type="diffuse" id="a"><rgb name="reflectance" '
          'value="$q"/></bsdf>\n</scene>\n', "inc.xml")
    p = xml_scene('<include filename="inc.xml"/>')
    inc = p.replace("scene.xml", "inc.xml")
    with pytest.raises(SceneError) as e:
        load_scene(p)
    assert str(e.value) == (f"{inc}:2: undefined parameter $q in \"$q\": add <default "
                            "name=\"q\" value=\"...\"/> to the scene or pass q=... (-D q=...)")


# --- spectra as wavelength:value pairs ----------------------------------------------------------

#: Mitsuba 3.9.1 scalar_rgb, mi.traverse after mi.load_file
MITSUBA_SPECTRA = [
    ("400:0.1, 500:0.2, 600:0.8, 700:0.9", False, [0.958689, 0.446356, 0.10571]),
    ("400:0.5, 700:0.5", False, [0.497671, 0.499878, 0.497455]),
    ("300:0.1, 350:0.4, 800:0.6, 900:0.2", False, [0.529429, 0.48523, 0.439841]),
    ("360:0.0, 830:1.0", False, [0.600295, 0.388922, 0.17177]),
    ("400:0.9 500:0.1 600:0.1 700:0.1", False, [0.122281, 0.0691428, 0.511749]),
    ("400:1, 500:2, 600:3, 700:4", True, [4.02061, 2.31368, 1.24453]),
    ("400:1, 700:1", True, [1.19969, 0.94952, 0.903443]),
]


@pytest.mark.parametrize("text,emitter,want", MITSUBA_SPECTRA)
def test_spectrum_pairs_to_rgb_as_mitsuba(xml_scene, text, emitter, want):
    if emitter:
        p = xml_scene(f'<shape type="sphere" id="s"><emitter type="area"><spectrum '
                      f'name="radiance" value="{text}"/></emitter></shape>')
        prop = _load(p).tree.ids["s"].children[0].props["radiance"]
    else:
        p = xml_scene(f'<bsdf type="diffuse" id="a"><spectrum name="reflectance" '
                      f'value="{text}"/></bsdf>')
        prop = _load(p).tree.ids["a"].props["reflectance"]
    assert prop.kind == "rgb"
    np.testing.assert_allclose(prop.value, want, rtol=2e-5, atol=1e-6)


def test_spectrum_pairs_clipped_for_reflectance_not_for_emitters():
    bright_red = [(600, 5.0), (700, 5.0)]
    assert pairs_to_rgb(bright_red).max() == 1.0
    assert pairs_to_rgb(bright_red, emitter=True).max() > 1.0
    assert pairs_to_rgb(bright_red, unbounded=True).max() > 1.0
    assert pairs_to_rgb([(400, 0.0), (450, 1.0), (500, 0.0)]).min() == 0.0  # out of gamut


def test_uniform_spectrum_on_emitter_is_not_white(xml_scene):
    # Mitsuba's RGB variants: value * xyz_to_srgb(1, 1, 1) for a <spectrum> on an emitter,
    # but a <float> (or an <rgb>) stays grey, and a uniform reflectance stays grey
    p = xml_scene('<emitter type="point" id="l"><spectrum name="intensity" value="10"/></emitter>'
                  '\n<emitter type="point" id="g"><float name="intensity" value="10"/></emitter>'
                  '\n<bsdf type="diffuse" id="a"><spectrum name="reflectance" value="0.5"/>'
                  '</bsdf>')
    tree = _load(p).tree
    np.testing.assert_allclose(tree.ids["l"].props["intensity"].value,
                               [12.0479, 9.48291, 9.08916], rtol=2e-5)
    np.testing.assert_allclose(uniform_emitter_rgb(1.0), [1.204794, 0.948292, 0.908916],
                               rtol=1e-5)
    assert tree.ids["g"].props["intensity"].value == 10.0
    assert tree.ids["a"].props["reflectance"].value == ("constant", 0.5)


def test_spectra_match_mitsuba_directly(xml_scene):
    mi = _mitsuba()
    body = "\n".join(f'<bsdf type="diffuse" id="b{i}"><spectrum name="reflectance" '
                     f'value="{t}"/></bsdf>' for i, (t, e, _) in enumerate(MITSUBA_SPECTRA)
                     if not e)
    body += ('\n<shape type="sphere" id="s"><emitter type="area"><spectrum name="radiance" '
             'value="400:1, 500:2, 600:3, 700:4"/></emitter></shape>'
             '\n<emitter type="point" id="l"><spectrum name="intensity" value="3"/></emitter>')
    p = xml_scene(body)
    theirs = _mitsuba_values(mi, p)
    tree = _load(p).tree
    ours = {f"{i}.reflectance.value": tree.ids[i].props["reflectance"].value
            for i in tree.ids if i.startswith("b")}
    ours["s.emitter.radiance.value"] = tree.ids["s"].children[0].props["radiance"].value
    ours["l.intensity.value"] = tree.ids["l"].props["intensity"].value
    assert set(ours) <= set(theirs)
    for k, v in ours.items():
        np.testing.assert_allclose(v, theirs[k], rtol=2e-5, atol=1e-6, err_msg=k)


def test_spectrum_pairs_dict_form():
    scene = _load({"type": "scene",
                   "a": {"type": "diffuse", "reflectance": {
                       "type": "spectrum", "value": [[400, 0.1], [500, 0.2], [600, 0.8],
                                                     [700, 0.9]]}},
                   "l": {"type": "point", "intensity": {"type": "spectrum", "value": 10}}})
    np.testing.assert_allclose(_reflectance(scene, "a"), [0.958689, 0.446356, 0.10571],
                               rtol=2e-5)
    np.testing.assert_allclose(scene.tree.ids["l"].props["intensity"].value,
                               [12.0479, 9.48291, 9.08916], rtol=2e-5)
    with pytest.raises(SceneError) as e:
        load_scene({"type": "scene", "a": {"type": "diffuse", "reflectance": {
            "type": "spectrum", "value": [[500, 0.1], [400, 0.2]]}}})
    assert str(e.value) == ("<dict>: a.reflectance: spectrum 'reflectance': wavelengths must "
                            "increase (got \"{'type': 'spectrum', 'value': [[500, 0.1], "
                            "[400, 0.2]]}\")")


# --- dict form: refs resolved by the scene-level key ------------------------------------------

MAT = {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.1, 0.2, 0.3]}}


@pytest.mark.parametrize("mat,ref", [
    (dict(MAT), "mat"),                     # the key is the id
    (dict(MAT, id="other"), "mat"),         # an explicit id: the key still finds it
    (dict(MAT, id="other"), "other"),       # ... and so does the id
])
def test_dict_ref_by_key(mat, ref):
    scene = _load({"type": "scene", "mat": mat,
                   "s": {"type": "sphere", "bsdf": {"type": "ref", "id": ref}}})
    assert len(scene.shapes) == 1
    target = scene.tree.ids[mat.get("id", "mat")]
    assert target.used
    np.testing.assert_array_equal(target.props["reflectance"].value, [0.1, 0.2, 0.3])


def test_dict_ref_by_key_matches_mitsuba():
    mi = _mitsuba()
    d = {"type": "scene", "mat": dict(MAT, id="other"),
         "s": {"type": "sphere", "bsdf": {"type": "ref", "id": "mat"}}}
    params = mi.traverse(mi.load_dict(d))
    np.testing.assert_allclose(params["other.reflectance.value"], [0.1, 0.2, 0.3], rtol=1e-6)
    _load(d)


def test_dict_ref_unknown_and_nested_key():
    with pytest.raises(SceneError) as e:
        load_scene({"type": "scene", "s": {"type": "sphere", "bsdf": {"type": "ref",
                                                                      "id": "nope"}}})
    assert str(e.value) == "<dict>: s.bsdf: reference to unknown id 'nope' (known ids: s)"
    # a nested plugin's key is a parameter name, not an id (Mitsuba: unresolved reference)
    with pytest.raises(SceneError) as e:
        load_scene({"type": "scene", "s1": {"type": "sphere", "bsdf": dict(MAT)},
                    "s2": {"type": "sphere", "bsdf": {"type": "ref", "id": "bsdf"}}})
    assert str(e.value) == ("<dict>: s2.bsdf: reference to unknown id 'bsdf' (known ids: s1, "
                            "s2)")
