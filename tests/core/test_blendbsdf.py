"""blendbsdf renders as the mixture it defines: with ``max_depth = 2`` under a uniform
environment a pixel is linear in the BSDF, so ``render(blend(a, b, w))`` must equal
``(1 - w) render(a) + w render(b)``. The estimator of each image uses BSDF sampling and
environment sampling combined by MIS, so a blend whose sampled pdf or weight disagrees with its
``eval`` / ``pdf`` fails this (Mitsuba 3.9.1 does, for a blend with a delta component:
docs/materials.md). The components are rendered as the same blend with weight 0 and 1 (one
compiled renderer for all images)."""
import numpy as np

import diffrender as dr
from diffrender.core import Renderer

GGX = {"distribution": "ggx"}


def scene(w_left, w_right):
    return {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 2},
        "sensor": {"type": "perspective", "fov": 40,
                   "to_world": {"type": "transform", "lookat": {"origin": [0, 0.4, -4.2],
                                                                "target": [0, 0, 0], "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": 24, "height": 18,
                            "rfilter": {"type": "box"}},
                   "sampler": {"type": "independent", "sample_count": 64}},
        # image left = world +x (lookat along +z with up +y)
        "a": {"type": "sphere", "center": [0.9, 0, 0], "radius": 0.85,
              "bsdf": {"type": "blendbsdf", "id": "left", "weight": w_left,
                       "bsdf_0": {"type": "conductor", "material": "Au"},
                       "bsdf_1": {"type": "diffuse",
                                  "reflectance": {"type": "rgb", "value": [0.2, 0.5, 0.2]}}}},
        "b": {"type": "sphere", "center": [-0.9, 0, 0], "radius": 0.85,
              "bsdf": {"type": "blendbsdf", "id": "right", "weight": w_right,
                       "bsdf_0": {"type": "diffuse",
                                  "reflectance": {"type": "rgb", "value": [0.8, 0.6, 0.3]}},
                       "bsdf_1": {"type": "roughconductor", "material": "Cu", "alpha": 0.2,
                                  **GGX}}},
        "env": {"type": "constant", "radiance": {"type": "rgb", "value": [0.9, 1.0, 1.1]}},
    }


def test_blend_render_is_the_mixture_of_its_components():
    w = {"left": 0.4, "right": 0.3}
    sc = dr.load_scene(scene(w["left"], w["right"]))
    r = Renderer(sc)
    params = sc.parameters()
    spp = 2048

    def render(wl, wr, seed):
        params["left.weight"] = np.array([wl], np.float32)
        params["right.weight"] = np.array([wr], np.float32)
        return r.render(spp=spp, seed=seed).astype(np.float64)

    blend = render(w["left"], w["right"], 1)
    c0 = render(0.0, 0.0, 2)
    c1 = render(1.0, 1.0, 3)
    mix = np.empty_like(blend)
    mix[:, :12] = (1 - w["left"]) * c0[:, :12] + w["left"] * c1[:, :12]
    mix[:, 12:] = (1 - w["right"]) * c0[:, 12:] + w["right"] * c1[:, 12:]
    # the components differ from each other, so the test is not comparing equal images
    assert abs(c0[4:14, 2:10].mean() / c1[4:14, 2:10].mean() - 1) > 0.2
    # per-pixel differences over each sphere (pixels are independent; the background, the
    # environment seen directly, is the same constant in every image and left out)
    env = np.array([0.9, 1.0, 1.1])
    on = np.abs(c0 - env).max(axis=2) > 1e-4
    d = (blend - mix).mean(axis=2)
    level = mix.mean(axis=2)
    for name, cols in (("left: blend(Au, diffuse, 0.4)", slice(0, 12)),
                       ("right: blend(diffuse, rough Cu, 0.3)", slice(12, 24))):
        m = on[:, cols]
        assert m.sum() > 100, (name, m.sum())
        dp = d[:, cols][m]
        se = dp.std(ddof=1) / np.sqrt(dp.size)
        lv = level[:, cols][m].mean()
        z = dp.mean() / se
        assert abs(z) < 4, (name, z, dp.mean() / lv)
        assert 6 * se < 0.01 * lv, (name, se / lv)  # a 1% bias would show (|z| > 6)
