"""A Radiance ``.hdr`` environment map renders like the same map stored as EXR (it used to be
read as 8-bit values: 65-90x too bright)."""
import numpy as np
import pytest

import diffrender as dr

H, W = 16, 32
#: RGBE keeps 8 mantissa bits per pixel (shared exponent): texels agree within 1/128 of their
#: brightest channel, renders (averages of many texels) within that too
RGBE_REL = 1.0 / 128


def sky():
    v = (np.arange(H)[:, None] + 0.5) / H
    u = (np.arange(W)[None, :] + 0.5) / W
    img = np.zeros((H, W, 3), np.float32)
    img[..., 0] = 0.2 + 0.8 * (1 - v) + 0 * u
    img[..., 1] = 0.3 + 0.3 * np.cos(2 * np.pi * u) ** 2
    img[..., 2] = 0.5 + 0 * u * v
    img[4, 9] = (300.0, 280.0, 250.0)  # a sun far above 8-bit range
    return img


def scene_with(path):
    return dr.load_scene({
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 3},
        "sensor": {"type": "perspective", "fov": 30,
                   "to_world": {"type": "transform", "lookat": {
                       "origin": [0, 0, -5], "target": [0, 0, 0], "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": 8, "height": 8}},
        "ball": {"type": "sphere", "bsdf": {"type": "diffuse"}},
        "sky": {"type": "envmap", "filename": str(path)},
    })


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    d = tmp_path_factory.mktemp("hdrenv")
    dr.write_image(d / "sky.exr", sky())
    dr.write_image(d / "sky.hdr", sky())
    return d / "sky.exr", d / "sky.hdr"


def test_hdr_map_reads_as_the_exr_map(maps):
    exr, hdr = (dr.read_image(p) for p in maps)
    assert hdr.max() == pytest.approx(300.0, rel=RGBE_REL)
    peak = exr.max(axis=2, keepdims=True)
    assert np.all(np.abs(hdr - exr) <= RGBE_REL * peak)


def test_hdr_envmap_renders_like_exr_envmap(maps):
    exr_img = np.asarray(dr.render(scene_with(maps[0]), spp=64, seed=3), np.float64)
    hdr_img = np.asarray(dr.render(scene_with(maps[1]), spp=64, seed=3), np.float64)
    assert exr_img.mean() > 0.1
    assert hdr_img.mean() / exr_img.mean() == pytest.approx(1.0, abs=2 * RGBE_REL)
    rel = np.abs(hdr_img - exr_img) / np.maximum(exr_img, 1e-3)
    assert np.median(rel) < 2 * RGBE_REL
