"""Statistical comparison with stored Mitsuba 3.9.1 references (no Mitsuba needed): four
spheres (rough copper, glass, plastic, a 60%-opaque gold mask) on a floor under a constant
environment, a spot and a directional light; ``tests/data/reference/materials.exr`` is
Mitsuba's ``scalar_rgb`` render at 8192 spp (``python benchmarks/bench_materials.py
--write-reference``). Then z-tests that would see a 1% bias: two roughplastic spheres
(``roughplastic.exr``) and two blendbsdf spheres (``blendbsdf.exr``), 32768 spp each, and two
``mask(twosided(...))`` cards (``mask_twosided.exr``); a Beckmann copper and a Beckmann
roughplastic sphere (``beckmann.exr``); two principled spheres (``principled.exr``)."""
import warnings

import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from tests.helpers.reference import REF_DIR, assert_no_bias, load_image_reference

def test_matches_mitsuba_reference():
    ref = dr.read_image(str(REF_DIR / "materials.exr"))[:, :, :3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = dr.load_scene(str(REF_DIR / "materials.xml"))
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


def test_roughplastic_has_no_bias_against_mitsuba():
    """Two roughplastic spheres (alpha 0.1; alpha 0.4, int_ior 1.9, nonlinear) filling the view
    under a uniform environment, against Mitsuba at 32768 spp (``roughplastic.exr``). A z-test
    on 2x2-pixel block differences, per image half (one sphere each) and overall: the standard
    error is measured from the blocks, and the test checks that it is small enough that a 1%
    bias would give |z| > 6 (the smooth-coat approximation this replaced was +1.6%)."""
    ref, scene = load_image_reference("roughplastic")
    img = Renderer(scene).render(spp=512, seed=7).astype(np.float64)
    assert_no_bias(img, ref, "left (alpha 0.1)", "right (alpha 0.4)")


def test_blendbsdf_has_no_bias_against_mitsuba():
    """Two blendbsdf spheres with smooth components (diffuse + rough copper, weight 0.3;
    diffuse + rough gold, weight 0.65) filling the view under a uniform environment and a
    directional light, path traced to depth 4 (so environment hits combine BSDF and emitter
    sampling by MIS), against Mitsuba 3.9.1 at 32768 spp (``blendbsdf.exr``, written by
    ``python benchmarks/bench_materials.py --write-reference blendbsdf``). Mitsuba's estimator
    is unbiased here: for smooth components its blendbsdf.sample() returns the mixture pdf. The
    same z-test as for roughplastic: 2x2-block differences per sphere and overall, with a
    standard error small enough that a 1% bias gives |z| > 6."""
    ref, scene = load_image_reference("blendbsdf")
    img = Renderer(scene).render(spp=512, seed=11).astype(np.float64)
    # image left is world +x (the camera looks along +z with up +y)
    assert_no_bias(img, ref, "left (weight 0.65, rough Au)", "right (weight 0.3, rough Cu)")


def test_mask_over_twosided_matches_mitsuba():
    """Mitsuba's idiom for a two-sided cut-out, ``mask(twosided(...))`` (its twosided refuses a
    mask inside), on two cards in front of a wall: image right a diffuse card seen and lit by
    the directional light from the back of its geometry, image left a rough-gold card seen from
    the front; uniform environment, depth 4; against Mitsuba 3.9.1 at 32768 spp
    (``mask_twosided.exr``, ``python benchmarks/bench_materials.py --write-reference
    mask_twosided``). Same z-test as above. A one-sided back card makes the right half 43%
    darker (z ~ -15)."""
    ref, scene = load_image_reference("mask_twosided")
    assert [s.bsdf.type for s in scene.shapes[:2]] == ["mask", "mask"]
    assert all(s.bsdf.twosided and not s.bsdf.children[0].twosided for s in scene.shapes[:2])
    img = Renderer(scene).render(spp=512, seed=11).astype(np.float64)
    assert_no_bias(img, ref, "left (rough gold, front)", "right (diffuse, back)")


@pytest.mark.slow  # glass is noisy: 3072 spp for the resolution the z-test demands
def test_roughdielectric_has_no_bias_against_mitsuba():
    """Two roughdielectric spheres (GGX alpha 0.15 bk7 glass; Mitsuba's default Beckmann, alpha
    0.35, water, tinted transmittance) in front of a wall under a uniform environment, depth 4
    (reflection and refraction through both interfaces of each sphere, the floor and wall seen
    through them), against Mitsuba 3.9.1 at 32768 spp (``roughdielectric.exr``, ``python
    benchmarks/bench_materials.py --write-reference roughdielectric``). Same z-test as above;
    the surfaces seen through glass are lit by BSDF sampling only (shadow rays stop at glass),
    so it takes 3072 spp for a standard error below 1/6 % of the level per sphere (measured:
    0.11-0.14 %, mean ratios 0.9989-1.0012, |z| < 1.1 for seeds 11 and 12; ~100 s on a
    loaded 2-core machine)."""
    ref, scene = load_image_reference("roughdielectric")
    assert [s.bsdf.params["distribution"] for s in scene.shapes[:2]] == ["ggx", "beckmann"]
    img = Renderer(scene).render(spp=3072, seed=11).astype(np.float64)
    # image left is world +x
    assert_no_bias(img, ref, "left (Beckmann, water)", "right (GGX, glass)")


def test_beckmann_has_no_bias_against_mitsuba():
    """A rough copper sphere (alpha 0.3) and a roughplastic sphere (alpha 0.25, int_ior 1.7),
    both without 'distribution' (Mitsuba's default: Beckmann, and ours), under a uniform
    environment, against Mitsuba 3.9.1 at 32768 spp (``beckmann.exr``, ``python
    benchmarks/bench_materials.py --write-reference beckmann``). Same z-test as above."""
    ref, scene = load_image_reference("beckmann")
    assert [s.bsdf.params["distribution"] for s in scene.shapes[:2]] == ["beckmann"] * 2
    img = Renderer(scene).render(spp=512, seed=5).astype(np.float64)
    # image left is world +x
    assert_no_bias(img, ref, "left (roughplastic)", "right (roughconductor)")


def test_principled_has_no_bias_against_mitsuba():
    """Two principled spheres under a uniform environment and a directional light, depth 4,
    against Mitsuba 3.9.1 at 32768 spp (``principled.exr``, ``python
    benchmarks/bench_materials.py --write-reference principled``): image right (world -x) base
    colour, metallic 0.6, roughness 0.35, clearcoat 0.8 / gloss 0.5, spec_tint 0.3; image left
    specular 0.8, spec_tint 0.5, sheen 1 / sheen_tint 0.5, flatness 0.5, roughness 0.6. Same
    z-test as above."""
    ref, scene = load_image_reference("principled")
    assert [s.bsdf.type for s in scene.shapes[:2]] == ["principled"] * 2
    img = Renderer(scene).render(spp=512, seed=5).astype(np.float64)
    # image left is world +x
    assert_no_bias(img, ref, "left (sheen, spec_tint)", "right (metallic, clearcoat)")
