"""Derivatives of the Beckmann lobes (Mitsuba's default distribution) of roughconductor
(anisotropic: alpha_u, alpha_v) and roughplastic (alpha, eta, through its Beckmann coat
tables) against central finite differences with common random numbers, and forward mode
against reverse mode. Exact case as in test_material_gradients.py: max_depth 2 with delta
lights only, so the paths do not depend on the parameters."""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from tests.helpers.fd import assert_grad_close, render_fd

SPP = 2
SEED = 9


def _scene():
    return {
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": {"type": "perspective", "fov": 45,
                   "to_world": {"type": "transform", "lookat": {
                       "origin": [0, 1.5, -4.5], "target": [0, 0, 0], "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": 10, "height": 8,
                            "rfilter": {"type": "box"}},
                   "sampler": {"type": "independent", "sample_count": SPP}},
        "metal_ball": {"type": "sphere", "center": [-0.9, 0, 0], "radius": 0.8,
                       "bsdf": {"type": "roughconductor", "id": "metal", "alpha_u": 0.2,
                                "alpha_v": 0.35, "material": "Cu"}},
        "plastic_ball": {"type": "sphere", "center": [0.9, 0, 0], "radius": 0.8,
                         "bsdf": {"type": "roughplastic", "id": "plastic", "alpha": 0.25,
                                  "diffuse_reflectance": {"type": "rgb",
                                                          "value": [0.6, 0.3, 0.2]}}},
        "spot": {"type": "spot", "intensity": {"type": "rgb", "value": [30, 25, 20]},
                 "cutoff_angle": 40, "to_world": {"type": "transform", "lookat": {
                     "origin": [1.5, 3.5, -2.5], "target": [0, 0, 0], "up": [0, 1, 0]}}},
        "bulb": {"type": "point", "position": [-2, 2, -1.5],
                 "intensity": {"type": "rgb", "value": [6, 6, 6]}},
    }


@pytest.fixture(scope="module")
def setup():
    scene = dr.load_scene(_scene())
    assert {s.bsdf.params["distribution"] for s in scene.shapes} == {"beckmann"}
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    assert img.mean() > 0.01
    adj = np.random.default_rng(21).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


@pytest.mark.parametrize("name", ["metal.alpha_u", "metal.alpha_v", "plastic.alpha",
                                  "plastic.eta"])
def test_reverse_mode_matches_finite_differences(setup, name):
    scene, r, adj = setup
    g = r.vjp(adj, [name], spp=SPP, seed=SEED)[name]
    expected = np.array([render_fd(r, scene, adj, name, 0, SPP, SEED, eps_rel=2e-3)])
    assert np.all(np.abs(expected) > 1e-4), "the parameter must have a visible effect"
    assert_grad_close(g.ravel()[[0]], expected, rtol=5e-3, atol=2e-4, what=name)


def test_forward_mode_matches_reverse_mode(setup):
    scene, r, adj = setup
    names = ["metal.alpha_u", "metal.alpha_v", "plastic.alpha", "plastic.eta"]
    rng = np.random.default_rng(8)
    tangents = {n: rng.normal(size=np.shape(scene.parameters()[n])) for n in names}
    grads = r.vjp(adj, names, spp=SPP, seed=SEED)
    lhs = float((r.jvp(tangents, spp=SPP, seed=SEED).astype(np.float64) * adj).sum())
    rhs = sum(float((grads[n] * tangents[n]).sum()) for n in names)
    assert abs(rhs) > 1e-4
    assert lhs == pytest.approx(rhs, rel=2e-3)
