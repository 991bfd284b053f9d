"""Gradient cases for plugins the other gradient tests leave out, as one table: each row is a
(parameter, components) of one small scene, checked in reverse mode against central finite
differences with common random numbers, and all rows together in forward mode against reverse
mode. Plus a thin dielectric's ``eta``, whose derivative is exact only in expectation (the
lobe choice depends on it).

``tests/test_registry_coverage.py`` fails when a registered BSDF, emitter, texture or filter has
no gradient case here or in the other gradient test files.
"""
import numpy as np
import pytest

import diffrender as dr
from diffrender import Renderer
from tests.helpers.fd import assert_vjp_matches_fd

SPP = 2
SEED = 9

#: (parameter, flat indices checked against finite differences); every row is linear or smooth
#: in its parameter along fixed paths, so the per-sample derivative is exact (rtol: round-off)
CASES = [
    ("paint.reflectance.color0", [0, 2]),   # checkerboard texture, first colour
    ("paint.reflectance.color1", [1]),      # checkerboard texture, second colour
    ("env.radiance", [0, 1]),               # constant environment emitter
    ("tint.specular_transmittance", [0]),   # thindielectric's transmittance (a delta lobe's mass)
    ("proj.irradiance", [0, 1]),            # projector's irradiance
    ("proj.scale", [0]),                    # projector's scale
]


def _scene():
    return {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 3},
        "sensor": {"type": "perspective", "fov": 45,
                   "to_world": {"type": "transform", "lookat": {"origin": [0, 1.5, -3.5],
                                                                "target": [0, 0, 0], "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": 10, "height": 8, "rfilter": {"type": "box"}},
                   "sampler": {"type": "independent", "sample_count": SPP}},
        "floor": {"type": "rectangle",
                  "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": -90},
                               "scale": [3, 3, 3]},
                  "bsdf": {"type": "diffuse", "id": "paint", "reflectance": {
                      "type": "checkerboard", "color0": {"type": "rgb", "value": [0.8, 0.3, 0.2]},
                      "color1": {"type": "rgb", "value": [0.1, 0.4, 0.6]},
                      "to_uv": {"type": "transform", "scale": [4, 4, 1]}}}},
        "pane": {"type": "rectangle",
                 "to_world": {"type": "transform", "scale": [0.8, 0.6, 1], "translate": [0.3, 0.6, -0.5]},
                 "bsdf": {"type": "thindielectric", "id": "tint", "int_ior": 1.5,
                          "specular_transmittance": {"type": "rgb", "value": [0.9, 0.7, 0.5]}}},
        # an invisible (null) veil in front of part of the floor: derivatives pass through it
        "veil": {"type": "rectangle", "bsdf": {"type": "null"},
                 "to_world": {"type": "transform", "scale": [0.7, 0.7, 1],
                              "translate": [-0.5, 0.3, -1.2]}},
        "env": {"type": "constant", "radiance": {"type": "rgb", "value": [0.6, 0.7, 0.9]}},
        "proj": {"type": "projector", "fov": 40, "scale": 1.5,
                 "irradiance": {"type": "rgb", "value": [0.9, 0.6, 0.3]},
                 "to_world": {"type": "transform", "lookat": {"origin": [-1, 2.5, -1],
                                                              "target": [0, 0, 0], "up": [0, 1, 0]}}},
        "bulb": {"type": "point", "position": [1, 2, -1], "intensity": {"type": "rgb", "value": [3, 3, 3]}},
    }


@pytest.fixture(scope="module")
def setup():
    scene = dr.load_scene(_scene())
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    adj = np.random.default_rng(17).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


@pytest.mark.parametrize("name,idx", CASES, ids=[c[0] for c in CASES])
def test_reverse_mode_matches_finite_differences(setup, name, idx):
    scene, r, adj = setup
    assert_vjp_matches_fd(r, scene, adj, name, idx, SPP, SEED)


def test_forward_mode_matches_reverse_mode(setup):
    scene, r, adj = setup
    rng = np.random.default_rng(23)
    names = [n for n, _ in CASES]
    tangents = {n: rng.normal(size=np.shape(scene.parameters()[n])) for n in names}
    grads = r.vjp(adj, names, spp=SPP, seed=SEED)
    lhs = float((r.jvp(tangents, spp=SPP, seed=SEED).astype(np.float64) * adj).sum())
    rhs = sum(float((grads[n] * tangents[n]).sum()) for n in names)
    assert lhs == pytest.approx(rhs, rel=1e-3)


def test_thindielectric_eta_gradient_in_expectation():
    """A thin pane at normal incidence in front of a lamp of radiance L that fills the view
    (nothing else lights the scene): E[pixel] = L T, with the thin slab's transmittance
    T = (1 - F) / (1 + F), F = ((eta - 1) / (eta + 1))^2 (all internal reflections summed). The
    replay's d/d eta (lobe probability detached) must match dT/d eta in expectation."""
    eta, L = 1.5, 2.0
    scene = dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 3},
        "sensor": {"type": "perspective", "fov": 2,
                   "to_world": {"type": "transform", "lookat": {"origin": [0, 0, -5],
                                                                "target": [0, 0, 0], "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": 4, "height": 4, "rfilter": {"type": "box"}},
                   "sampler": {"type": "independent", "sample_count": 1024}},
        "pane": {"type": "rectangle", "to_world": {"type": "transform", "scale": [3, 3, 1]},
                 "bsdf": {"type": "thindielectric", "id": "glass", "int_ior": eta, "ext_ior": 1.0}},
        "lamp": {"type": "rectangle",
                 "to_world": {"type": "transform", "scale": [5, 5, 1],
                              "rotate": {"axis": [0, 1, 0], "angle": 180}, "translate": [0, 0, 2]},
                 "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [L, L, L]}}},
    })
    r = Renderer(scene)
    img = r.render(seed=1)

    def expected(e):
        F = ((e - 1) / (e + 1)) ** 2
        return L * (1 - F) / (1 + F)

    assert img.mean() == pytest.approx(expected(eta), rel=0.03)
    g = r.vjp(np.ones_like(img) / img.size * 3, ["glass.eta"], seed=1)["glass.eta"]
    h = 1e-4
    d_exact = (expected(eta + h) - expected(eta - h)) / (2 * h)
    assert float(g.sum()) / 3 == pytest.approx(d_exact, rel=0.05)
