"""benchmarks/peers.py and the helpers of benchmarks/bench_render.py (no peer needed)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        peers = importlib.import_module("peers")
        bench_render = importlib.import_module("bench_render")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return peers, bench_render


def test_find_libllvm_prefers_an_existing_env_path(bench, tmp_path, monkeypatch):
    peers, _ = bench
    lib = tmp_path / "libLLVM.so.99"
    lib.write_bytes(b"")
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", str(lib))
    assert peers.find_libllvm() == str(lib)
    monkeypatch.setenv("DRJIT_LIBLLVM_PATH", str(tmp_path / "missing.so"))
    found = peers.find_libllvm()
    assert found is None or (Path(found).is_file() and "LLVM" in Path(found).name)


def test_llvm_version_order(bench):
    peers, _ = bench
    names = ["/x/libLLVM-14.so", "/x/libLLVM.so.19.1", "/x/libLLVM-15.so"]
    assert max(names, key=peers._llvm_version) == "/x/libLLVM.so.19.1"


def test_unknown_variant_gives_a_reason_not_an_exception(bench):
    peers, _ = bench
    peer, why = peers.get_mitsuba("no_such_variant", threads=2)
    assert peer is None
    assert "no_such_variant" in why or "not installed" in why


def test_scene_defines_only_passes_declared_defaults(bench, tmp_path, capsys):
    _, br = bench
    cornell = str(ROOT / "scenes" / "cornell-box" / "scene.xml")
    assert br.scene_defaults(cornell) == {"spp": "64", "res": "256", "max_depth": "5"}
    assert br.scene_defines(cornell, 128) == {"res": 128}
    bare = tmp_path / "bare.xml"
    bare.write_text('<scene version="3.0.0"><default name="spp" value="4"/></scene>')
    assert br.scene_defines(str(bare), 128) == {}
    assert "has no <default name=\"res\">; --res ignored" in capsys.readouterr().err
    assert br.scene_name(cornell) == "cornell-box"
    assert br.scene_name(str(bare)) == "bare"


def test_scene_paths(bench):
    _, br = bench
    allp = br.scene_paths(None)
    assert str(ROOT / "scenes" / "cornell-box" / "scene.xml") in allp
    assert br.scene_paths(["cornell-box"]) == [str(ROOT / "scenes" / "cornell-box" / "scene.xml")]
    with pytest.raises(SystemExit, match="no scene 'nope' \\(expected scenes/nope/scene.xml or a file\\)"):
        br.scene_paths(["nope"])


def test_block8_and_digest(bench, tmp_path):
    _, br = bench
    img = np.arange(16 * 24 * 3, dtype=np.float32).reshape(16, 24, 3)
    b = br.block8(img)
    assert b.shape == (2, 3, 3)
    assert b[1, 2, 0] == pytest.approx(img[8:16, 16:24, 0].mean())
    d = tmp_path / "s"
    d.mkdir()
    (d / "scene.xml").write_text("<scene/>")
    h1 = br.scene_digest(str(d / "scene.xml"))
    (d / "mesh.obj").write_text("v 0 0 0\n")
    assert br.scene_digest(str(d / "scene.xml")) != h1  # a mesh edit invalidates the cache


def test_pass_split(bench):
    peers, _ = bench

    class FakeFilm:
        def crop_size(self):
            return (256, 256)

    class FakeSensor:
        def film(self):
            return FakeFilm()

    class FakeScene:
        def sensors(self):
            return [FakeSensor()]

    p = peers.MitsubaPeer(mi=None, dr=None, variant="x", threads=2, version="0", drjit_version="0")
    assert p.passes(FakeScene(), 64) == [64]
    assert p.passes(FakeScene(), 1024) == [128] * 8
    assert p.passes(FakeScene(), 300) == [128, 128, 44]


def test_bench_scene_end_to_end_with_a_stub_renderer(bench, tmp_path, monkeypatch):
    """bench_render's diffrender path against a stand-in renderer (a constant image), with the
    Mitsuba peer when installed: every field is produced and the numbers are consistent."""
    import argparse
    import types

    import diffrender

    peers, br = bench
    monkeypatch.setattr(br, "CACHE", str(tmp_path))

    class StubRenderer:
        def __init__(self, scene, sensor=0):
            self.calls = []

        def render(self, spp, seed):
            self.calls.append((spp, seed))
            return np.full((16, 16, 3), 0.1, np.float32)

    stub = types.ModuleType("diffrender.core")
    stub.Renderer = StubRenderer
    monkeypatch.setitem(sys.modules, "diffrender.core", stub)
    monkeypatch.setattr(diffrender, "load_scene", lambda path, **d: ("scene", path, d))
    from diffrender import engine

    # leave the engine of this test process alone (init with threads=2 would reset it)
    monkeypatch.setattr(engine, "init", lambda device=None, threads=None, verbose=False: "cpu")
    args = argparse.Namespace(res=16, spp=16, threads=2, reference_spp=256, repeats=2,
                              first_call=False, cold=False)
    peer, why = peers.get_mitsuba("llvm_ad_rgb", threads=2)
    out = br.bench_scene(str(ROOT / "scenes" / "cornell-box" / "scene.xml"), args, peer, why)
    assert out["defines"] == {"res": 16} and out["spp"] == 16
    assert out["diffrender_steady_s"] > 0
    assert out["diffrender_samples_per_s"] == pytest.approx(16 * 16 * 16 / out["diffrender_steady_s"])
    if peer is None:
        assert out["mitsuba_skip"] == why
        return
    assert out["width"] == 16 and out["height"] == 16
    assert out["ratio_vs_mitsuba"] == pytest.approx(out["diffrender_steady_s"] / out["mitsuba_steady_s"])
    # a flat grey image is far from the Cornell box: much worse than Mitsuba's noise floor
    assert out["relmse_diffrender"] > 10 * out["relmse_mitsuba"]
    assert out["relmse_block8_diffrender"] > 10 * out["relmse_block8_mitsuba"]
    assert len(list(tmp_path.glob("cornell-box_res16_spp256_*.exr"))) == 1


def test_reference_scene_hash_covers_named_files(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        mr = importlib.import_module("make_references")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    (tmp_path / "m.obj").write_text("v 0 0 0\n")
    xml = tmp_path / "s.xml"
    xml.write_text('<scene version="3.0.0"><shape type="obj">'
                   '<string name="filename" value="m.obj"/></shape></scene>')
    h1 = mr.scene_sha256(str(xml))
    (tmp_path / "m.obj").write_text("v 0 0 1\n")
    assert mr.scene_sha256(str(xml)) != h1
