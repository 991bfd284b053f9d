"""Geometry derivatives under environment lights (``constant``, ``envmap``): an area light at
infinity. Its visibility discontinuities are the silhouettes seen from each shading point (the
occlusion of the sky: the secondary sampler, whose edge importance gives every silhouette its
full weight when the scene has an environment) and the silhouettes seen from the camera
against the background (the primary sampler); the interior term (``geometry.py``) includes the
environment's light samples and the rays that leave the scene.

- The sky's shadow of a box just outside the view on a floor (``edge_scenes.env_occlusion``:
  ambient occlusion under a ``constant`` sky; a soft shadow under an ``envmap`` with a bright
  patch), box translation, and a box's silhouette against a ``constant`` sky
  (``edge_scenes.env_silhouette``): against central differences with common random numbers,
  measured once and stored (too slow for a test); without the term that sees them the
  gradient is 0. The two sides of a secondary sample straddle the edge as seen from the ray's
  (offset) origin: the estimate does not depend on the angle between them.
- A flat-shaded box turned under the envmap (the environment's light samples on turning
  faces: the interior term) against stored central differences; forward against reverse mode.
- Interior only (the camera sees only an ``envmap``'s sky): the camera's rotation and fov move
  the lookup, against central differences with common random numbers, and forward mode
  against reverse mode.
"""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.core.ad import samplers
from tests.helpers import edge_scenes
from tests.helpers.fd import render_fd

RES = 16
TOL = 0.1
NAME = "box.to_world"

# Central differences of sum(smooth_adjoint(16) * render) in the box's translation (mean,
# standard error), common random numbers per seed, 96 seeds x 1024 spp, h = 0.02:
# ``python benchmarks/bench_edges.py --suite env --res 16`` (its ``fd`` lines).
CASES = {  # name: (scene builder, envmap?, axis, reference, its standard error, edge spp, the term)
    "sky_occlusion_x": ("env_occlusion", False, 0, -7.811, 0.102, 1024, "secondary"),
    "sky_occlusion_y": ("env_occlusion", False, 1, 3.653, 0.058, 1024, "secondary"),
    "envmap_shadow_x": ("env_occlusion", True, 0, -93.943, 0.337, 1024, "secondary"),
    "sky_silhouette_x": ("env_silhouette", False, 0, 20.680, 0.125, 64, "primary"),
}


@pytest.fixture(scope="module")
def sky_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("env") / "sky.exr"
    dr.write_image(path, edge_scenes.sky_patch())
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_environment_visibility_matches_finite_differences(case, sky_file):
    builder, envmap, axis, ref, ref_se, edge_spp, term = CASES[case]
    assert ref_se < 0.02 * abs(ref)
    sc = dr.load_scene(getattr(edge_scenes, builder)(RES, envmap=sky_file if envmap else None))
    r = Renderer(sc)
    adj = edge_scenes.smooth_adjoint(RES)
    g = r.vjp(adj, [NAME], spp=16, seed=1, edges=dict(spp=edge_spp, seed=1))[NAME][axis, 3]
    assert abs(g - ref) < TOL * abs(ref), (case, g, ref)
    # without the term that sees the moving discontinuity the gradient misses it
    off = r.vjp(adj, [NAME], spp=16, seed=1, edges={"spp": edge_spp, "seed": 1, term: False})[NAME][axis, 3]
    assert abs(off - ref) > 0.5 * abs(ref), (case, off, ref)


def test_secondary_sides_straddle_the_edge_from_the_ray_origin(monkeypatch):
    """The ray origin is offset from the floor by ~1e-4 (Mitsuba's rule): sides aimed from the
    shading point itself, 2e-5 rad apart, would mostly lie on one side of the box's top edges
    (measured: 0.05 instead of 3.55 for the y translation)."""
    sc = dr.load_scene(edge_scenes.env_occlusion(RES))
    r = Renderer(sc)
    adj = edge_scenes.smooth_adjoint(RES)
    opts = dict(spp=256, seed=1, primary=False, interior=False)
    g = r.vjp(adj, [NAME], spp=4, seed=1, edges=opts)[NAME][1, 3]
    monkeypatch.setattr(samplers, "ANGLE_EPS", 2e-5)
    narrow = r.vjp(adj, [NAME], spp=4, seed=1, edges=opts)[NAME][1, 3]
    assert abs(g) > 1.0
    assert abs(narrow - g) < 0.03 * abs(g), (narrow, g)


SPP, SEED = 4, 3
FD_STEP = 2e-3
SKY_CASES = [("sensor.to_world", 0), ("sensor.to_world", 1), ("sensor.fov", 0)]


# A flat-shaded box (face normals: they turn with its faces) turned about its vertical axis
# under the envmap: its faces' light samples and BSDF samples of the sky (the interior term,
# 16 % of the gradient) and its silhouettes against the sky. Central differences in the angle
# (radians), as above (96 seeds x 1024 spp, h = 0.02): ``python benchmarks/bench_edges.py
# --suite env --res 16 --cases envmap_turn``.
TURN_FD, TURN_FD_SE = -12.727, 0.099


def test_envmap_turning_box_matches_finite_differences(sky_file):
    assert TURN_FD_SE < 0.02 * abs(TURN_FD)
    sd = edge_scenes.env_silhouette(RES, envmap=sky_file)
    sd["box"]["face_normals"] = True
    sc = dr.load_scene(sd)
    r = Renderer(sc)
    adj = edge_scenes.smooth_adjoint(RES)
    M0 = sc.parameters()[NAME]
    h = 1e-4
    dM = (edge_scenes.turned(M0, h, edge_scenes.ENV_BOX_CENTRE)
          - edge_scenes.turned(M0, -h, edge_scenes.ENV_BOX_CENTRE)) / (2 * h)

    def turn_gradient(**opts):
        return float((r.vjp(adj, [NAME], spp=64, seed=1, edges=dict(spp=64, seed=1, **opts))[NAME] * dM).sum())
    g = turn_gradient()
    assert abs(g - TURN_FD) < TOL * abs(TURN_FD), (g, TURN_FD)
    # the silhouettes alone (no interior term) are 14 % off
    off = turn_gradient(interior=False)
    assert abs(off - TURN_FD) > TOL * abs(TURN_FD), (off, TURN_FD)
    # forward mode (the same edge samples and paths) agrees with reverse mode
    img = r.jvp({NAME: dM}, spp=64, seed=1, edges=dict(spp=64, seed=1))
    fwd = float((img.astype(np.float64) * adj).sum())
    assert abs(fwd - g) <= 1e-3 * abs(g), (fwd, g)


# (after the test above: its Renderer is gone by then, and this fixture's scene, of the same
# device-set key, recycles its compiled kernels)
@pytest.fixture(scope="module")
def sky_view(sky_file):
    """The camera sees only the envmap's sky (the bright patch in view; the box below it)."""
    sd = edge_scenes.env_silhouette(12, envmap=sky_file)
    sd["sensor"]["fov"] = 60
    sd["sensor"]["to_world"]["lookat"] = {"origin": [0, 2, 0], "target": [0.6, 2.8, 0.1], "up": [0, 0, 1]}
    sc = dr.load_scene(sd)
    adj = np.random.default_rng(1).normal(size=(12, 12, 3)).astype(np.float32)
    return sc, Renderer(sc), adj


def test_envmap_lookup_of_camera_rays_matches_finite_differences(sky_view):
    sc, r, adj = sky_view
    img = r.render(spp=SPP, seed=SEED)
    assert img.max() > 5.0 * img.min() > 0.0  # the patch and the dim sky are in view
    names = sorted({n for n, _ in SKY_CASES})
    g = r.vjp(adj, names, spp=SPP, seed=SEED, edges=False)
    for name, idx in SKY_CASES:
        ref = render_fd(r, sc, adj, name, idx, SPP, SEED, eps=FD_STEP, reupload=True)
        got = float(np.asarray(g[name]).flat[idx])
        assert abs(ref) > 1.0, (name, idx, ref)
        assert abs(got - ref) <= 2e-2 * abs(ref), (name, idx, got, ref)


def test_envmap_lookup_forward_matches_reverse(sky_view):
    sc, r, adj = sky_view
    g = r.vjp(adj, ["sensor.to_world"], spp=SPP, seed=SEED, edges=False)["sensor.to_world"]
    t = np.zeros((4, 4))
    t[0, 0], t[1, 2], t[2, 1] = 0.3, -0.5, 0.2
    img = r.jvp({"sensor.to_world": t}, spp=SPP, seed=SEED, edges=False)
    lhs = float((img.astype(np.float64) * adj).sum())
    rhs = float((g * t).sum())
    assert abs(rhs) > 0.1
    assert abs(lhs - rhs) <= 1e-3 * max(1.0, abs(rhs)), (lhs, rhs)
