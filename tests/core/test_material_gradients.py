"""Derivatives with respect to the new material and light parameters, against central finite
differences with common random numbers (same seed, same paths).

Exact cases (per-sample identical estimators): ``max_depth = 2`` with delta lights only
(point, spot, directional), so the value is the light-sampling estimate, whose paths do not
depend on the parameters: roughness, complex indices, reflectances, blend weights, mask
opacities, light intensities; and delta-BSDF paths whose lobe is chosen with probability 1
(a conductor mirror) towards an environment map: conductor eta / k, envmap scale and texels.

The scene with every BSDF type is ``slow`` (its kernels, forward, replay and its reverse and
forward derivatives, take ~15 s to compile on a cold kernel cache; minutes before the texture
lookups were specialised to the kinds each parameter reads); ``test_rough_metal_and_light_gradients``
is the fast subset (on its own small scene, or on the every-BSDF one when the slow tests run in
the same session).

Statistical case: a dielectric's ``eta`` changes the probability of the lobe the replay picks
(the probability is detached, as in path replay); its derivative is checked in expectation
against the closed form on a pane seen at normal incidence.
"""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from tests.helpers.fd import assert_grad_close, render_fd

SPP = 2
SEED = 5


def _sensor(w=10, h=8, spp=SPP, origin=(0, 1.5, -4.5), target=(0, 0, 0), fov=45):
    return {"type": "perspective", "fov": fov,
            "to_world": {"type": "transform", "lookat": {"origin": list(origin),
                                                          "target": list(target), "up": [0, 1, 0]}},
            "film": {"type": "hdrfilm", "width": w, "height": h, "rfilter": {"type": "box"}},
            "sampler": {"type": "independent", "sample_count": spp}}


def delta_light_scene(roughness_map):
    ggx = {"distribution": "ggx"}
    return {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 2},
        "sensor": _sensor(),
        "metal_ball": {"type": "sphere", "center": [-0.9, 0, 0], "radius": 0.8,
                  "bsdf": {"type": "roughconductor", "id": "metal", "alpha": 0.3,
                           "eta": {"type": "rgb", "value": [0.2, 0.9, 1.1]},
                           "k": {"type": "rgb", "value": [3.9, 2.4, 2.1]}, **ggx}},
        "plastic_ball": {"type": "sphere", "center": [0.9, 0, 0], "radius": 0.8,
                    "bsdf": {"type": "roughplastic", "id": "plastic",
                             "alpha": {"type": "bitmap", "filename": str(roughness_map),
                                       "raw": True, "filter_type": "bilinear"},
                             "diffuse_reflectance": {"type": "rgb", "value": [0.6, 0.3, 0.2]},
                             **ggx}},
        "floor": {"type": "rectangle",
                  "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": -90},
                               "scale": [3, 3, 3], "translate": [0, -0.8, 0]},
                  "bsdf": {"type": "blendbsdf", "id": "blend", "weight": 0.4,
                           "a": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.3, 0.5, 0.7]}},
                           "b": {"type": "roughconductor", "alpha": 0.25, **ggx}}},
        "back": {"type": "rectangle",
                 "to_world": {"type": "transform", "scale": [3, 2, 1], "translate": [0, 0.5, 2]},
                 "bsdf": {"type": "mask", "id": "cutout", "opacity": 0.7,
                          "inner": {"type": "twosided", "bsdf": {"type": "plastic", "id": "coat",
                                    "diffuse_reflectance": {"type": "rgb", "value": [0.2, 0.6, 0.3]}}}}},
        "spot": {"type": "spot", "intensity": {"type": "rgb", "value": [30, 25, 20]},
                 "cutoff_angle": 40, "to_world": {"type": "transform", "lookat": {
                     "origin": [1.5, 3.5, -2.5], "target": [0, 0, 0], "up": [0, 1, 0]}}},
        "sun": {"type": "directional", "direction": [0.3, -1, 0.4],
                "irradiance": {"type": "rgb", "value": [1.5, 1.4, 1.2]}},
        "bulb": {"type": "point", "position": [-2, 2, -1.5],
                 "intensity": {"type": "rgb", "value": [6, 6, 6]}},
    }


@pytest.fixture(scope="module")
def delta_setup(tmp_path_factory):
    path = tmp_path_factory.mktemp("rough") / "roughness.exr"
    rough = np.random.default_rng(4).uniform(0.1, 0.4, size=(4, 8, 1)).astype(np.float32)
    dr.write_image(path, np.repeat(rough, 3, axis=2))
    scene = dr.load_scene(delta_light_scene(path))
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    assert img.mean() > 0.01
    adj = np.random.default_rng(11).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


DELTA_PARAMS = {
    "metal.alpha": [0],
    "metal.eta": [0, 2],
    "metal.k": [1],
    "metal.specular_reflectance": [0],
    "plastic.alpha.data": None,  # a roughness map: texel gradients of a float parameter
    "plastic.eta": [0],
    "plastic.diffuse_reflectance": [0, 2],
    "plastic.specular_reflectance": [1],
    "blend.weight": [0],
    "blend.bsdf_1.alpha": [0],
    "blend.bsdf_0.reflectance": [2],
    "cutout.opacity": [0],
    "coat.diffuse_reflectance": [1],
    "spot.intensity": [0],
    "sun.irradiance": [1],
}


@pytest.mark.slow  # every BSDF type in one scene: the largest replay kernels of the suite
@pytest.mark.parametrize("name", list(DELTA_PARAMS))
def test_reverse_mode_matches_finite_differences(delta_setup, name):
    scene, r, adj = delta_setup
    g = r.vjp(adj, [name], spp=SPP, seed=SEED)[name]
    assert g.shape == np.shape(scene.parameters()[name])
    idx = DELTA_PARAMS[name]
    if idx is None:
        idx = list(np.argsort(np.abs(g.ravel()))[-3:])
    expected = np.array([render_fd(r, scene, adj, name, i, SPP, SEED) for i in idx])
    assert np.all(np.abs(expected) > 1e-4), "test indices must have a visible effect"
    assert_grad_close(g.ravel()[idx], expected, rtol=5e-3, atol=2e-4, what=name)


@pytest.mark.slow
def test_forward_mode_matches_reverse_mode(delta_setup):
    scene, r, adj = delta_setup
    rng = np.random.default_rng(5)
    names = ["metal.alpha", "plastic.eta", "blend.weight", "cutout.opacity", "spot.intensity"]
    tangents = {n: rng.normal(size=np.shape(scene.parameters()[n])) for n in names}
    grads = r.vjp(adj, names, spp=SPP, seed=SEED)
    lhs = float((r.jvp(tangents, spp=SPP, seed=SEED).astype(np.float64) * adj).sum())
    rhs = sum(float((grads[n] * tangents[n]).sum()) for n in names)
    assert lhs == pytest.approx(rhs, rel=2e-3)


@pytest.fixture(scope="module")
def small_setup():
    """The fast subset: one rough metal, a spot and a directional light."""
    d = delta_light_scene("unused")
    for k in ("plastic_ball", "back", "bulb"):
        d.pop(k)
    d["floor"]["bsdf"] = {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.4, 0.5, 0.6]}}
    scene = dr.load_scene(d)
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    adj = np.random.default_rng(12).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


@pytest.fixture(scope="module")
def metal_setup(request):
    """The scene of the fast subset: the small one, unless this session also runs the slow
    every-BSDF tests, whose scene holds the same metal and lights and whose kernels are then
    compiled anyway (cold, the small scene's kernels cost ~6 s more for the same checks)."""
    slow = any(getattr(it, "originalname", "") == "test_reverse_mode_matches_finite_differences"
               and it.module is request.module for it in request.session.items)
    return request.getfixturevalue("delta_setup" if slow else "small_setup")


@pytest.mark.parametrize("name,idx", [("metal.alpha", [0]), ("metal.eta", [1]), ("metal.k", [2]),
                                      ("spot.intensity", [0]), ("sun.irradiance", [2])])
def test_rough_metal_and_light_gradients(metal_setup, name, idx):
    scene, r, adj = metal_setup
    g = r.vjp(adj, [name], spp=SPP, seed=SEED)[name]
    expected = np.array([render_fd(r, scene, adj, name, i, SPP, SEED) for i in idx])
    assert np.all(np.abs(expected) > 1e-4)
    assert_grad_close(g.ravel()[idx], expected, rtol=5e-3, atol=2e-4, what=name)


@pytest.fixture(scope="module")
def env_setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("env")
    env = np.random.default_rng(2).uniform(0.2, 2.0, size=(6, 12, 3)).astype(np.float32)
    dr.write_image(d / "env.exr", env)
    scene = dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": _sensor(w=12, h=9, fov=60),
        "ball": {"type": "sphere", "radius": 1.0,
                 "bsdf": {"type": "conductor", "id": "gold", "material": "Au"}},
        "sky": {"type": "envmap", "filename": str(d / "env.exr"), "scale": 1.3},
    })
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    adj = np.random.default_rng(3).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


@pytest.mark.parametrize("name,idx", [("sky.scale", [0]), ("sky.radiance.data", None),
                                      ("gold.eta", [0, 2]), ("gold.k", [1]),
                                      ("gold.specular_reflectance", [2])])
def test_envmap_and_conductor_gradients(env_setup, name, idx):
    scene, r, adj = env_setup
    g = r.vjp(adj, [name], spp=SPP, seed=SEED)[name]
    if idx is None:  # texels: some seen directly, some in the mirror, the largest effects
        idx = list(np.argsort(np.abs(g.ravel()))[-4:])
    expected = np.array([render_fd(r, scene, adj, name, i, SPP, SEED) for i in idx])
    assert np.all(np.abs(expected) > 1e-5)
    assert_grad_close(g.ravel()[idx], expected, rtol=5e-3, atol=1e-4, what=name)


def test_dielectric_eta_gradient_in_expectation():
    """A glass pane (one interface) filling the view at normal incidence, in a constant
    environment L: E[pixel] = L (F + (1 - F) / eta^2) (reflection, or refraction into the
    denser side with the radiance factor 1/eta^2), F = ((eta - 1) / (eta + 1))^2. The replay's
    d/d eta (lobe probability detached) must match d/d eta of that in expectation."""
    eta, L = 1.5, 2.0
    scene = dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 3},
        "sensor": _sensor(w=4, h=4, spp=1024, origin=(0, 0, -5), target=(0, 0, 0), fov=2),
        "pane": {"type": "rectangle", "to_world": {"type": "transform", "scale": [3, 3, 1],
                                                   "rotate": {"axis": [0, 1, 0], "angle": 180}},
                 "bsdf": {"type": "dielectric", "id": "glass", "int_ior": eta, "ext_ior": 1.0}},
        "env": {"type": "constant", "radiance": {"type": "rgb", "value": [L, L, L]}},
    })
    r = Renderer(scene)
    img = r.render(seed=1)

    def expected(e):
        F = ((e - 1) / (e + 1)) ** 2
        return L * (F + (1 - F) / e ** 2)

    assert img.mean() == pytest.approx(expected(eta), rel=0.03)
    g = r.vjp(np.ones_like(img) / img.size * 3, ["glass.eta"], seed=1)["glass.eta"]
    h = 1e-4
    d_exact = (expected(eta + h) - expected(eta - h)) / (2 * h)
    assert float(g.sum()) / 3 == pytest.approx(d_exact, rel=0.05)
