"""The plugin registry is built from the plugins' own declarations: the docs' parameter tables
are the generated ones, every BSDF / emitter module is discovered with a distinct compile-time
code, the dispatch tables and the loader's specs come from the same specs, and the loader (not
the renderer) fills the defaults."""
import os

import numpy as np
import pytest

import diffrender as dr
from diffrender.core import bsdfs, emitters
from diffrender.scene.plugins import PLUGINS, doc_tables

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_docs_tables_are_the_generated_ones():
    with open(os.path.join(REPO, "docs", "scene-format.md"), encoding="utf-8") as f:
        text = f.read()
    assert text.count("<!-- plugin-table ") == 12  # one per category (medium, phase, volume too)
    assert doc_tables.regenerate(text) == text, \
        "run python3 -m diffrender.scene.plugins.doc_tables --write"
    assert doc_tables.main(["--doc", os.path.join(REPO, "docs", "scene-format.md")]) == 0


def test_doc_check_fails_on_a_stale_table(tmp_path):
    p = tmp_path / "doc.md"
    p.write_text("x\n<!-- plugin-table bsdf -->\n| stale |\n<!-- /plugin-table -->\n")
    assert doc_tables.main(["--doc", str(p)]) == 1
    assert doc_tables.main(["--doc", str(p), "--write"]) == 0
    assert "`roughdielectric`" in p.read_text() and "stale" not in p.read_text()
    assert doc_tables.main(["--doc", str(p)]) == 0


def test_every_bsdf_and_emitter_module_is_registered_once():
    pkg = os.path.dirname(bsdfs.__file__)
    leaves = {f[:-3] for f in os.listdir(pkg) if f.endswith(".py")} - {
        "__init__", "common", "microfacet", "composites"}
    assert set(bsdfs.LEAVES) == leaves
    codes = [m.SPEC.code for m in bsdfs.LEAVES.values()]
    assert len(set(codes)) == len(codes) and all(c < bsdfs.SHADER_BASE for c in codes)
    assert bsdfs.TYPES == {n: m.SPEC.code for n, m in bsdfs.LEAVES.items()}
    epkg = os.path.dirname(emitters.__file__)
    assert set(emitters.MODULES) == {f[:-3] for f in os.listdir(epkg)
                                     if f.endswith(".py") and f != "__init__.py"}
    assert len(set(emitters.TYPES.values())) == len(emitters.TYPES)
    for cat, specs in (("bsdf", bsdfs.SPECS), ("emitter", emitters.SPECS)):
        assert {s.type: s for s in specs} == PLUGINS[cat]


def test_bundle_fields_come_from_the_specs():
    for name, mod in bsdfs.LEAVES.items():
        fields = {f for p in mod.SPEC.all_params().values() for f in p.fields()}
        assert set(bsdfs._FIELDS[mod.SPEC.code]) == fields, name
        assert (mod.SPEC.code in bsdfs._SMOOTH) == ("smooth" in mod.SPEC.lobes), name
        assert (mod.SPEC.code in bsdfs._DELTA) == ("delta" in mod.SPEC.lobes), name
        for p in mod.SPEC.all_params().values():
            if p.fields():
                assert p.diff, (name, p)


@pytest.mark.parametrize("name", sorted(bsdfs.LEAVES))
def test_loader_fills_every_default_from_the_spec(name):
    """A BSDF without parameters gets its spec's defaults (Mitsuba's) from the loader."""
    sc = dr.load_scene({"type": "scene", "s": {"type": "rectangle", "bsdf": {"type": name}}})
    b = sc.shapes[0].bsdf
    spec = bsdfs.LEAVES[name].SPEC
    for n, p in spec.all_params().items():
        if p.fields() and p.default is not None and n not in ("eta", "k"):
            assert n in b.params, (name, n)
            assert np.allclose(b.params[n].value, p.default), (name, n)
    if "eta" in spec.model:
        assert float(b.params["eta"].value[0]) == pytest.approx(spec.model["eta"].default,
                                                                rel=1e-6)


def test_renderer_does_not_write_into_the_scene():
    from diffrender.core import Renderer
    from diffrender.scene.model import BSDF, Scene, Shape

    v = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0]], np.float32)
    b = BSDF("roughdielectric", {})
    sc = Scene(shapes=[Shape(type="mesh", vertices=v, faces=np.array([[0, 1, 2]]), bsdf=b)])
    Renderer(sc)
    assert b.params == {} and sc.sensors == []
