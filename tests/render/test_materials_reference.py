"""Statistical comparison with a stored Mitsuba 3.9.1 reference (no Mitsuba needed): four
spheres (rough copper, glass, plastic, a 60%-opaque gold mask) on a floor under a constant
environment, a spot and a directional light; ``tests/data/reference/materials.exr`` is
Mitsuba's ``scalar_rgb`` render at 8192 spp (``python benchmarks/bench_materials.py
--write-reference``)."""
import os
import warnings

import numpy as np

import diffrender as dr
from diffrender.render import Renderer

REF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                   "reference")


def test_matches_mitsuba_reference():
    ref = dr.read_image(os.path.join(REF, "materials.exr"))[:, :, :3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = dr.load_scene(os.path.join(REF, "materials.xml"))
    spp = 256
    img = Renderer(scene).render(spp=spp, seed=3)
    assert img.shape == ref.shape
    # whole image: bias well under 1%
    assert abs(img.mean() / ref.mean() - 1) < 0.01, (img.mean(), ref.mean())
    # 4x4-pixel blocks (4096 samples each): every block within 6% (+ a small absolute floor)
    b = img.reshape(6, 4, 8, 4, 3).mean(axis=(1, 3))
    r = ref.reshape(6, 4, 8, 4, 3).mean(axis=(1, 3))
    err = np.abs(b - r) / (r + 0.02)
    assert err.max() < 0.06, (err.max(), np.unravel_index(err.argmax(), err.shape))
    rel_mse = np.mean((img - ref) ** 2) / np.mean(ref ** 2)
    assert rel_mse < 0.01
