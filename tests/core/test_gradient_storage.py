"""The reverse-mode bookkeeping that makes gradients fast must not change them: the film weight
sums of the replay (gathered without atomics, cached per (spp, seed)) equal the forward film's,
the differentiated and the plain copy of the constant values agree, and differentiating only the
requested slots gives the same gradient as differentiating several."""
import os

import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer

SPP = 3


def scene_dict(rfilter, sample_border=False):
    return {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 3},
        "sensor": {"type": "perspective", "fov": 50,
                   "to_world": {"type": "transform", "lookat": {"origin": [0, 1.2, -3.5], "target": [0, 0.2, 0], "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": 11, "height": 9, "rfilter": rfilter,
                            "sample_border": sample_border},
                   "sampler": {"type": "independent", "sample_count": SPP}},
        "floor": {"type": "rectangle",
                  "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [2, 2, 2]},
                  "bsdf": {"type": "diffuse", "id": "floormat", "reflectance": {"type": "rgb", "value": [0.5, 0.4, 0.3]}}},
        "wall": {"type": "rectangle",
                 "to_world": {"type": "transform", "translate": [0, 1, 1.5], "scale": [2, 1, 1]},
                 "bsdf": {"type": "twosided", "id": "wallmat",
                          "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.6, 0.3, 0.2]}}}},
        "lamp": {"type": "rectangle",
                 "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": 90}, "translate": [0.5, 2.0, 0]},
                 "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [4.0, 3.5, 3.0]}}},
    }


@pytest.fixture(scope="module")
def setup():
    scene = dr.load_scene(scene_dict({"type": "gaussian"}))
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=5)
    adj = np.random.default_rng(2).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


@pytest.mark.parametrize("rfilter,border", [({"type": "gaussian"}, False),
                                            ({"type": "tent", "radius": 1.5}, True)])
def test_replay_weight_sums_equal_the_film_s(rfilter, border):
    """The replay's per-pixel filter weight sums (split into passes) are the forward film's
    for the same samples (same seed): same positions, same filter."""
    scene = dr.load_scene(scene_dict(rfilter, border))
    r = Renderer(scene)
    adj = np.ones((9, 11, 3), np.float32)
    for seed in (4, 9):
        r.render(spp=SPP, seed=seed)
        film_w = r.film.pixels(r.film.wsum.to_numpy())
        r.vjp(adj, ["wallmat.reflectance"], spp=SPP, seed=seed, spp_per_pass=2)
        w = r._diff.film.pixels(r._diff.film.wsum.to_numpy())
        assert r._diff.n == 2  # two passes: 2 + 1 samples per pixel
        assert film_w.min() > 0.5
        np.testing.assert_allclose(w, film_w, rtol=2e-6)


def test_weight_sums_are_cached_per_seed(setup):
    scene, r, adj = setup
    r.vjp(adj, ["wallmat.reflectance"], spp=SPP, seed=21)
    a = r._diff.film.pixels(r._diff.film.wsum.to_numpy())
    assert r._diff.film._wsum_key[0] == (SPP, 21, 11)
    r.vjp(adj, ["wallmat.reflectance"], spp=SPP, seed=22)
    b = r._diff.film.pixels(r._diff.film.wsum.to_numpy())
    assert r._diff.film._wsum_key[0] == (SPP, 22, 11)
    assert not np.allclose(a, b)  # other positions, other sums
    r.render(spp=SPP, seed=22)
    np.testing.assert_allclose(b, r.film.pixels(r.film.wsum.to_numpy()), rtol=2e-6)


def test_only_requested_slots_are_differentiated_and_the_answer_is_the_same(setup):
    scene, r, adj = setup
    names = ["wallmat.reflectance", "floormat.reflectance", "lamp.emitter.radiance"]
    together = r.vjp(adj, names, spp=SPP, seed=5)
    tex = r.textures
    assert tex.diff_slots.to_numpy().tolist() == [0] * tex.n_slots  # reset
    for n in names:
        alone = r.vjp(adj, [n], spp=SPP, seed=5)[n]
        assert np.abs(alone).max() > 1e-4
        np.testing.assert_allclose(alone, together[n], rtol=1e-5, atol=1e-9)
    # forward mode with one slot seeded: <adj, dI> = <grad, t>
    t = np.array([0.3, -1.0, 0.5])
    lhs = float((r.jvp({"floormat.reflectance": t}, spp=SPP, seed=5).astype(np.float64) * adj).sum())
    assert lhs == pytest.approx(float(together["floormat.reflectance"] @ t), rel=1e-3)
    assert tex.diff_slots.to_numpy().tolist() == [0] * tex.n_slots


def test_both_copies_of_the_values_follow_updates(setup):
    """Renders read ``values_const``, differentiated reads ``values``: an update writes both."""
    scene, r, adj = setup
    scene.parameters()["wallmat.reflectance"] = [0.25, 0.5, 0.75]
    r.update()
    tex = r.textures
    slot = r._param_slot("wallmat.reflectance")[1]
    want = np.array([0.25, 0.5, 0.75], np.float32)
    np.testing.assert_array_equal(tex.values.to_numpy()[slot, 0], want)
    np.testing.assert_array_equal(tex.values_const.to_numpy()[slot, 0], want)
    uv = np.array([[0.3, 0.2], [0.1, 0.9]])
    np.testing.assert_array_equal(tex.evaluate(slot, uv), np.tile(want, (2, 1)))
    tex.differentiate([slot])
    try:
        np.testing.assert_array_equal(tex.evaluate(slot, uv), np.tile(want, (2, 1)))
    finally:
        tex.differentiate()
    scene.parameters()["wallmat.reflectance"] = [0.6, 0.3, 0.2]


@pytest.mark.parametrize("rfilter", [{"type": "gaussian"}, {"type": "box"}])
def test_a_film_replayed_in_bands_of_rows_gives_the_same_derivatives(rfilter, monkeypatch):
    """A film whose one sample per pixel exceeds the record budget is replayed in bands of rows
    (``FilmAdjoint.passes``): every sample is replayed once, with its own random numbers, so
    the texture and geometry gradients and the forward-mode tangent are those of whole passes
    (up to the order of float32 sums)."""
    from diffrender.core.ad import replay

    def derivatives(budget):
        monkeypatch.setattr(replay, "RECORD_BUDGET_BYTES", budget)
        scene = dr.load_scene(scene_dict(rfilter, sample_border=True))
        r = Renderer(scene)
        adj = np.random.default_rng(3).random((9, 11, 3)).astype(np.float32)
        g = r.vjp(adj, ["floormat.reflectance", "wall.to_world"], spp=SPP, seed=7, edges=False)
        t = r.jvp({"floormat.reflectance": np.array([1.0, 0.5, 0.25])}, spp=SPP, seed=7)
        d = r._diff  # (the pool re-initialises it for the next Renderer: read it now)
        return g, t, (d.film.rows, d.n, d.N, d.film.size["sw"] * d.film.size["sh"])

    whole, t_whole, (rows, n, _, _) = derivatives(replay.RECORD_BUDGET_BYTES)
    assert rows is None and n >= SPP
    bands, t_bands, (rows, n, capacity, grid) = derivatives(2000)  # one or two rows per pass
    assert rows is not None and n == 1 and capacity < grid
    for name in whole:
        assert np.abs(whole[name]).max() > 0.0, name
        np.testing.assert_allclose(bands[name], whole[name], rtol=2e-5, atol=1e-6 * np.abs(whole[name]).max())
    assert np.abs(t_whole).max() > 0.0
    np.testing.assert_allclose(t_bands, t_whole, rtol=2e-5, atol=1e-6 * np.abs(t_whole).max())


def test_pass_budgets_follow_the_device(monkeypatch):
    """Small passes on the CPU (a gradient process's memory), large ones on a GPU (samples per
    launch): the replay's record budget and the film's sample buffer follow the device in use."""
    from diffrender import engine
    from diffrender.core import upload
    from diffrender.core.ad import replay

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # 512x512: one sample per pixel of the film's buffers is ~14 MB, between the two budgets
    scene = dr.load_scene(os.path.join(root, "scenes", "cornell-box", "scene.xml"), res=512)
    for dev, records, samples in (("cpu", replay.RECORD_BUDGET_BYTES, upload.SAMPLE_BUFFER_BYTES),
                                  ("cuda", replay.GPU_RECORD_BUDGET_BYTES, upload.GPU_SAMPLE_BUFFER_BYTES),
                                  ("vulkan", replay.GPU_RECORD_BUDGET_BYTES, upload.GPU_SAMPLE_BUFFER_BYTES)):
        monkeypatch.setitem(engine._state, "device", dev)
        assert replay.record_budget() == records
        up = upload.SceneUpload.__new__(upload.SceneUpload)  # only the film's size is read
        up.scene, up.sensor = scene, scene.sensors[0]
        w, h = up.film_class()
        per_spp = (w + upload.FILM_MARGIN) * (h + upload.FILM_MARGIN) * upload.SAMPLE_RECORD_BYTES
        assert up._pass_capacity() == max(1, min(upload.MAX_SAMPLES_PER_PASS, samples // per_spp))
        assert up._pass_capacity() == (1 if dev == "cpu" else 2)
    assert replay.RECORD_BUDGET_BYTES < replay.GPU_RECORD_BUDGET_BYTES
    assert upload.SAMPLE_BUFFER_BYTES < upload.GPU_SAMPLE_BUFFER_BYTES
