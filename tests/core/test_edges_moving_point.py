"""The shading point and the receiver move too (docs/edge-sampling.md): a body translated with
its own soft shadow on it, a point light's shadow on a receiver that moves, the camera, and the
area light itself.

Every shading point on the slab slides along its camera ray; the interior replay holds the area
light's point (next-event estimation in area measure), so the shadow boundary moves by
nh . (dm - (1 - |m - p| / |y - p|) dp) there, not by the edge's motion alone (p held) nor
relative to p (directions held).

The finite difference is a converged one, measured once (too slow for a test): central, h = 0.01
on the y translation of both shapes, common random numbers, 48 seeds x 4096 spp,
``tests/helpers/edge_scenes.fd_translation`` applied to both shapes.
"""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from tests.helpers import edge_scenes

RES = 16
FD, FD_SE = 24.455, 0.501  # d sum(image) / d y
SEEDS = (1, 2, 3, 4)
TOL = 0.15  # the 4-seed mean's standard deviation is about 9 % (4.5 per gradient)
SHAPES = ("slab.to_world", "block.to_world")


def test_a_body_moving_with_its_own_soft_shadow_matches_finite_differences():
    r = Renderer(dr.load_scene(edge_scenes.block_on_slab(RES)))
    adj = np.ones((RES, RES, 3), np.float32)
    gs = []
    for seed in SEEDS:
        g = r.vjp(adj, list(SHAPES), spp=256, seed=seed, edges=dict(spp=512, seed=seed))
        gs.append(sum(float(g[n][1, 3]) for n in SHAPES))
    mean = float(np.mean(gs))
    # the interior term alone is 33.1; with directions held at every side (the code before) 74.6
    assert abs(mean - FD) < TOL * FD, (mean, gs)


# A moving receiver of a point-light shadow, translated along its normal (y). The shadow's
# boundary moves along the light's rays: dq = dvec nq^T / (nq . dvec) per unit of the receiver's
# motion. Converged central FDs (h = 0.01, 48 seeds x 4096 spp, common random numbers):
# - seen directly: the slab under a block floating 0.1 above it (no contact, no intersection),
#   max_depth 2: 164.879 +- 0.394; with the receiver held fixed the estimate was 230.6 (+40 %);
# - seen only through a diffuse bounce (the floor of ``indirect_shadow``, whose shadow the camera
#   sees on the wall), max_depth 3: 54.698 +- 0.117; held fixed: 67.14 (+23 %).
RECEIVERS = {
    "direct": (lambda: edge_scenes.block_on_slab(RES, max_depth=2, light="point", gap=0.11), "slab.to_world",
               164.879),
    "through_a_bounce": (lambda: edge_scenes.indirect_shadow(RES), "floor.to_world", 54.698),
}


@pytest.mark.parametrize("case", sorted(RECEIVERS))
def test_a_moving_receiver_of_a_point_light_shadow_matches_finite_differences(case, monkeypatch):
    from diffrender.core.ad import samplers

    build, name, fd = RECEIVERS[case]
    r = Renderer(dr.load_scene(build()))
    adj = np.ones((RES, RES, 3), np.float32)

    def gradient():
        return float(np.mean([r.vjp(adj, [name], spp=64, seed=seed, edges=dict(spp=128, seed=seed))[name][1, 3]
                              for seed in (1, 2)]))
    g = gradient()
    assert abs(g - fd) < 0.05 * fd, g
    # the receiver (and shading point) terms off: the receiver held fixed
    monkeypatch.setattr(samplers, "_moving_surface_parts", lambda *a: [])
    held = gradient()
    assert abs(held - fd) > 0.15 * fd, held


# The slab alone moves under the area light, the block floating 0.1 above it stays
# (``block_on_slab(gap=0.11)``, max_depth 3): the block's edges do not move, but every shading
# point on the slab slides along its camera ray, so the block's shadow boundary moves relative to
# it. Converged central FD (h = 0.01, 48 seeds x 4096 spp): 154.733 +- 0.419 (max_depth 2:
# 144.932 +- 0.413). With only the moving shapes' edges sampled (the code before) the estimate was
# 174.6 (+13 %; max_depth 2: 166.1, +15 %).
STILL_OCCLUDER_FD = 154.733


def test_a_still_occluder_seen_from_a_moving_receiver_matches_finite_differences(monkeypatch):
    from diffrender.core.ad import samplers

    r = Renderer(dr.load_scene(edge_scenes.block_on_slab(RES, gap=0.11)))
    adj = np.ones((RES, RES, 3), np.float32)

    def gradient():
        return float(np.mean([r.vjp(adj, ["slab.to_world"], spp=128, seed=seed,
                                    edges=dict(spp=512, seed=seed))["slab.to_world"][1, 3]
                              for seed in SEEDS]))
    g = gradient()
    assert abs(g - STILL_OCCLUDER_FD) < 0.05 * STILL_OCCLUDER_FD, g
    # only the edges of the moving shape
    monkeypatch.setattr(samplers.EdgeSampler, "_relatively_moving",
                        staticmethod(lambda moves, still, points_move, one_light: moves))
    old = gradient()
    assert abs(old - STILL_OCCLUDER_FD) > 0.08 * STILL_OCCLUDER_FD, old


# The camera moves (x translation, film position and lens sample held): every camera ray's hit
# slides on its surface, by (I - d n^T / (n . d)) u for the motion u of the camera-space point
# there, and the block's soft shadow boundary moves relative to it. The scene of the test above
# (nothing but the camera moves). Converged central FD (h = 0.01, 48 seeds x 4096 spp):
# -136.834 +- 0.446 (max_depth 2: -135.965 +- 0.453). Without the camera's term (and with no
# edge candidates, none of them moving) the estimate was -63.8 (-53 %).
# The field of view (degrees) moves each ray through its film position the same way: central FD
# (h = 0.05, 32 seeds x 4096 spp) -7.3591 +- 0.0398; without the intrinsics' part of the shading
# point's motion the estimate was -8.777 (+19 %).
CAMERA_FD = -136.834
FOV_FD = -7.3591


def test_a_soft_shadow_seen_from_a_moving_camera_matches_finite_differences(monkeypatch):
    from diffrender.core.ad import derivatives, samplers

    r = Renderer(dr.load_scene(edge_scenes.block_on_slab(RES, gap=0.11)))
    adj = np.ones((RES, RES, 3), np.float32)
    names = ["sensor.to_world", "sensor.fov"]

    def gradients():
        gs = [r.vjp(adj, names, spp=128, seed=seed, edges=dict(spp=512, seed=seed)) for seed in SEEDS]
        return (float(np.mean([g["sensor.to_world"][0, 3] for g in gs])),
                float(np.mean([np.asarray(g["sensor.fov"]) for g in gs])))
    g, fov = gradients()
    assert abs(g - CAMERA_FD) < 0.05 * abs(CAMERA_FD), g
    assert abs(fov - FOV_FD) < 0.05 * abs(FOV_FD), fov
    # the intrinsics' part off
    with monkeypatch.context() as m:
        m.setattr(samplers, "_intrinsics_slide", lambda cam, l, g: np.zeros((l.shape[0], 9)))
        assert abs(gradients()[1] - FOV_FD) > 0.12 * abs(FOV_FD)
    # the camera's motion of the shading points off
    samples = derivatives.GeometryDerivatives.samples
    monkeypatch.setattr(derivatives.GeometryDerivatives, "samples",
                        lambda self, *a, **k: samples(self, *a[:5], camera_moves=False))
    off = gradients()[0]
    assert abs(off - CAMERA_FD) > 0.3 * abs(CAMERA_FD), off


# The same camera move seen only in the rough mirror (``block_on_slab(mirror=True, gap=0.11)``,
# max_depth 3): the shading points on the slab are at path vertex 1, the hits of rays of fixed
# direction from the mirror's points, which slide as the camera moves: dp_1 = A_1 A_0 u. Converged
# central FD (48 seeds x 4096 spp): -67.603 +- 0.443; the test's 8 seeds (32 spp, 512 edge spp):
# -65.75, standard deviation 9.6 per gradient (12 seeds: -65.96 +- 2.91, sd 10.1). With the
# camera's term at the first vertex only the estimate was -14.0 +- 5.0; with neither, -36.2.
# Edges seen from the mirror's points are chosen with regard to its narrow lobe (the lobe cone,
# ``EdgeTracer._lobe``); without it the standard deviation per gradient was about 20 (14.8 on
# these 8 seeds, mean -70.44), and the check was within 20 %: now 15 % (3 standard errors), and
# the spread of the 8 gradients below MIRROR_CAMERA_SD.
MIRROR_CAMERA_FD = -67.603
MIRROR_CAMERA_SD = 12.0


def test_a_soft_shadow_seen_in_a_mirror_from_a_moving_camera_matches_finite_differences(monkeypatch):
    from diffrender.core.ad import samplers

    r = Renderer(dr.load_scene(edge_scenes.block_on_slab(RES, mirror=True, gap=0.11)))
    adj = np.ones((RES, RES, 3), np.float32)

    def gradients(seeds):
        return np.array([r.vjp(adj, ["sensor.to_world"], spp=32, seed=seed,
                               edges=dict(spp=512, seed=seed))["sensor.to_world"][0, 3]
                         for seed in seeds], np.float64)
    gs = gradients(range(1, 9))
    assert abs(gs.mean() - MIRROR_CAMERA_FD) < 0.15 * abs(MIRROR_CAMERA_FD), gs
    assert gs.std(ddof=1) < MIRROR_CAMERA_SD, gs
    # the shading point's motion at the first vertex only (no chain through the mirror)
    chained = samplers._moving_path_parts
    monkeypatch.setattr(samplers, "_moving_path_parts",
                        lambda xs, dC, V, cov, geo, tri, chain, ctri, bounce, cam, moving=None:
                        chained(xs, dC, V, cov, geo, tri, chain, ctri, 0, cam if bounce == 0 else None, moving))
    first_only = gradients((1, 2)).mean()  # 8 seeds: -14.0
    assert abs(first_only - MIRROR_CAMERA_FD) > 0.5 * abs(MIRROR_CAMERA_FD), first_only


# A distorted camera (fx = fy = 29.9, cx = cy = 8, k1 = -0.2, p1 = 0.01; max_depth 2): the
# distortion coefficients move the ray through a held film position too. Central FDs (16 seeds x
# 4096 spp): k1 (h = 0.01) 12.149 +- 0.176, p1 (h = 0.005) 42.159 +- 0.703. Without the
# distortion's part of the shading point's motion: 13.76 (+13 %) and 51.39 (+22 %).
DISTORTED_FD = {"sensor.k1": 12.149, "sensor.p1": 42.159}


def test_a_soft_shadow_seen_through_a_distorting_lens_matches_finite_differences(monkeypatch):
    from diffrender.core.ad import samplers

    sd = edge_scenes.block_on_slab(RES, max_depth=2, gap=0.11)
    sd["sensor"].pop("fov")
    sd["sensor"].update(fx=29.9, fy=29.9, cx=8.0, cy=8.0, k1=-0.2, p1=0.01)
    r = Renderer(dr.load_scene(sd))
    adj = np.ones((RES, RES, 3), np.float32)
    names = sorted(DISTORTED_FD)

    def gradients():
        gs = [r.vjp(adj, names, spp=128, seed=seed, edges=dict(spp=512, seed=seed)) for seed in (1, 2)]
        return {n: float(np.mean([np.asarray(g[n]) for g in gs])) for n in names}
    got = gradients()
    for n in names:
        assert abs(got[n] - DISTORTED_FD[n]) < 0.05 * abs(DISTORTED_FD[n]), (n, got[n])
    slide = samplers._intrinsics_slide

    def without_distortion(cam, l, g):
        out = slide(cam, l, g)
        out[:, 4:] = 0.0
        return out
    monkeypatch.setattr(samplers, "_intrinsics_slide", without_distortion)
    off = gradients()
    for n in names:
        assert abs(off[n] - DISTORTED_FD[n]) > 0.08 * abs(DISTORTED_FD[n]), (n, off[n])


# The area light moves (``lamp.to_world``, translations; ``block_on_slab(gap=0.11)``, max_depth 3;
# block and slab still). The interior replay holds the light's next-event points on it (area
# measure: they move with it), so on a side of an edge sample that sees the light the boundary
# moves by -|m - p| / |y - p| of the light point's motion (``samplers._moving_light_parts``):
# the block's shadow boundary sweeps the light's samples, and the light's own edges move by
# about nothing there. Converged central FD (h = 0.01, 32 seeds x 4096 spp): LAMP_FD. Without
# that term (the light's edges with their full radiance difference, as before 2026-12-07) the
# light's motion was counted twice: 117.7 / -219.2 / -178.6 in x / y / z at max_depth 2
# against FDs of 52.9 / -102.4 / -100.6.
LAMP_FD = {0: 50.688, 1: -105.497, 2: -103.759}  # +- 0.172, 0.061, 0.218


def test_a_moving_area_light_matches_finite_differences(monkeypatch):
    from diffrender.core.ad import samplers

    r = Renderer(dr.load_scene(edge_scenes.block_on_slab(RES, gap=0.11)))
    adj = np.ones((RES, RES, 3), np.float32)
    name = ["lamp.to_world"]

    def gradients():
        return [np.asarray(r.vjp(adj, name, spp=128, seed=seed, edges=dict(spp=512, seed=seed))[name[0]])
                for seed in SEEDS]
    gs = gradients()
    for axis, fd in LAMP_FD.items():
        g = float(np.mean([m[axis, 3] for m in gs]))
        assert abs(g - fd) < 0.05 * abs(fd), (axis, g, fd)
    # forward mode (the same samples) agrees with reverse mode
    t = np.zeros((4, 4))
    t[0, 3], t[1, 3], t[2, 3] = 0.3, 1.0, -0.5
    img = r.jvp({name[0]: t}, spp=128, seed=1, edges=dict(spp=512, seed=1))
    fwd = float((img.astype(np.float64) * adj).sum())
    rev = float((gs[0] * t).sum())
    assert abs(fwd - rev) <= 1e-3 * abs(rev), (fwd, rev)
    # without the light's motion on the sides that see it: counted twice
    monkeypatch.setattr(samplers, "_moving_light_parts", lambda *a: [])
    off = float(np.mean([m[1, 3] for m in gradients()]))
    assert abs(off - LAMP_FD[1]) > 0.5 * abs(LAMP_FD[1]), off


# Moving the camera by +t is moving every shape and light by -t. The samplers and the replay
# use relative motion only, so the identity holds sample by sample (same seeds), not only in
# expectation: with a point light (the moving receiver's scene, ``direct``) and with the area
# light (the moving lamp's scene). Each case names the term without which it breaks.
SCENE_MOVES = {
    "point": (dict(max_depth=2, light="point"), "lamp.position", "_moving_surface_parts", 1),
    "area": (dict(max_depth=3), "lamp.to_world", "_moving_light_parts", 1),
}


@pytest.mark.parametrize("case", sorted(SCENE_MOVES))
def test_moving_the_camera_is_moving_the_scene_the_other_way(case, monkeypatch):
    from diffrender.core.ad import samplers

    kw, lamp, term, axis = SCENE_MOVES[case]
    r = Renderer(dr.load_scene(edge_scenes.block_on_slab(RES, gap=0.11, **kw)))
    adj = np.ones((RES, RES, 3), np.float32)
    names = ["slab.to_world", "block.to_world", lamp]

    def translation(g):
        g = np.asarray(g)
        return g[:3, 3] if g.ndim == 2 else g

    def residual():
        g = r.vjp(adj, ["sensor.to_world", *names], spp=32, seed=1, edges=dict(spp=64, seed=1))
        cam = translation(g["sensor.to_world"])
        parts = [translation(g[n]) for n in names]
        assert np.all(np.abs(cam) > 1.0), cam
        return np.abs(cam + sum(parts)) / (np.abs(cam) + sum(np.abs(p) for p in parts))
    np.testing.assert_array_less(residual(), 1e-3)
    monkeypatch.setattr(samplers, term, lambda *a: [])
    assert residual()[axis] > 0.05
