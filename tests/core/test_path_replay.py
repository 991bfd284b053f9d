"""Path replay follows the forward render's paths exactly.

The forward integrator and the gradient replays run one bounce loop (``core/path.py``) with
different recorders. These tests check the part that is not shared by construction: that the
replay traces the same camera samples with the same settings, including Russian roulette
(``rr_depth = 1``: roulette from the first bounce) and unbounded paths (``max_depth = -1``).

- The replay's per-sample radiance (computed by its trace, recorded by a
  ``RadianceRecorder`` around the replay's own recorder) equals the forward render's
  per-sample radiance (the film's sample buffer) bit for bit.
- The records reproduce the paths: the replay's primal image, recomputed from the records by
  the differentiated kernels, matches the forward render to float32 round-off.
- One trace records both replays: the geometry replay's trace writes the same material
  records as the material replay's own trace.
"""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.core.ad.replay import RadianceRecorder
from diffrender.core.integrators import depth_limit

SPP = 4
SEED = 5
MAX_DEPTH = -1
RR_DEPTH = 1
RECORDS = ("uv", "bsdf", "wi", "em_slot", "em_w", "nee_wo", "nee_slot", "nee_uv", "nee_scale",
           "wo", "cont", "lobe")


def wall(bsdf, translate, rotate=None, scale=(1.5, 1.5, 1.0)):
    tf = {"type": "transform", "scale": list(scale)}
    if rotate is not None:
        tf["rotate"] = {"axis": rotate[0], "angle": rotate[1]}
    tf["translate"] = list(translate)
    return {"type": "rectangle", "to_world": tf, "bsdf": bsdf}


def scene_dict():
    """A closed room (diffuse walls of albedo 0.6 and a mirror) with the camera inside: paths
    rarely escape, so roulette decides most path lengths."""
    grey = {"type": "twosided", "bsdf": {"type": "diffuse",
                                         "reflectance": {"type": "rgb", "value": [0.6, 0.55, 0.5]}}}
    mirror = {"type": "twosided", "bsdf": {"type": "conductor"}}
    return {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": MAX_DEPTH, "rr_depth": RR_DEPTH},
        "sensor": {"type": "perspective", "fov": 60,
                   "to_world": {"type": "transform", "lookat": {"origin": [0, 1.5, -1.3], "target": [0, 1.4, 1.5], "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": 16, "height": 12, "rfilter": {"type": "tent"}},
                   "sampler": {"type": "independent", "sample_count": SPP}},
        "floor": wall(grey, [0, 0, 0], ([1, 0, 0], -90)),
        "ceiling": wall(grey, [0, 3, 0], ([1, 0, 0], 90)),
        "back": wall(grey, [0, 1.5, 1.5]),
        "front": wall(grey, [0, 1.5, -1.5]),
        "left": wall(mirror, [-1.5, 1.5, 0], ([0, 1, 0], 90)),
        "right": wall(grey, [1.5, 1.5, 0], ([0, 1, 0], 90)),
        "lamp": {"type": "rectangle",
                 "to_world": {"type": "transform", "scale": [0.4, 0.4, 1], "rotate": {"axis": [1, 0, 0], "angle": 90},
                              "translate": [0, 2.95, 0.3]},
                 "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [6.0, 5.0, 4.0]}}},
        "bulb": {"type": "point", "position": [-0.6, 1.0, -0.5], "intensity": {"type": "rgb", "value": [2.0, 2.5, 3.0]}},
    }


@pytest.fixture(scope="module")
def traced():
    scene = dr.load_scene(scene_dict())
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    assert r.film.capacity >= SPP, "the test needs one forward pass"
    size = r.film.size  # the film's actual sample grid (its fields have the size class's)
    fwd = r.film.color.to_numpy()[:SPP, :size["sh"], :size["sw"]]
    integ = scene.integrator
    dint = r._diff_integrator(MAX_DEPTH)
    assert dint.n >= SPP, "the test needs one replay pass"
    film_w = int(r.sensor.film.width)
    rec = RadianceRecorder(dint, dint.N)
    dint._trace(0, SPP, SEED, depth_limit(MAX_DEPTH), integ, film_w, rec=rec)
    return r, img, fwd, dint, integ, film_w, rec


ROUNDOFF = 1e-5  # relative: float32 round-off of the camera ray, not a different path


def test_replay_radiance_equals_forward_to_round_off(traced):
    r, img, fwd, dint, integ, film_w, rec = traced
    n = SPP * dint.film.size['sw'] * dint.film.size['sh']
    rep = rec.radiance.to_numpy()[:n].reshape(fwd.shape)
    assert fwd.max() > 0.0
    # The camera ray is computed by the forward kernel and by the replay kernel, compiled
    # separately: the nine-intrinsics model may round differently in the two (measured: at
    # most 1.4e-6 relative, in 178 of 768 samples). A replay that drifts from the forward path
    # (another bounce, another random dimension) differs by far more: a deliberate rr_depth + 1
    # drift changed 691 of 768 samples by O(1).
    rel = np.abs(fwd - rep) / np.maximum(np.abs(fwd), 1e-6)
    mismatch = np.any(rel > ROUNDOFF, axis=-1)
    assert not mismatch.any(), (f"{int(mismatch.sum())} of {mismatch.size} samples differ; first "
                                f"at (sample, y, x) = {tuple(np.argwhere(mismatch)[0])}")


def test_roulette_and_long_paths_are_exercised(traced):
    r, img, fwd, dint, integ, film_w, rec = traced
    n = SPP * dint.film.size['sw'] * dint.film.size['sh']
    bsdf = dint.bsdf.to_numpy()[:, :n]
    cont = dint.cont.to_numpy()[:, :n]
    # A vertex the path went on from (bsdf >= 0) whose continuation factor is 0 was killed by
    # roulette (no BSDF here has a zero-weight sample); a factor other than 1/pdf was rescaled.
    killed = (bsdf >= 0) & (cont == 0.0)
    assert killed.sum() > 0.05 * n
    length = (bsdf >= 0).sum(0)
    assert length.max() >= 6, "unbounded paths must get past a few bounces"


def test_records_reproduce_the_forward_image(traced):
    """The differentiated kernels, fed with the records, recompute the forward image (up to
    float32 round-off: they multiply f / pdf where the forward render multiplies the BSDF
    sample's weight). Pixels that a path longer than the replayed depth reaches are left out
    (the replay differentiates its first ``depth`` vertices)."""
    r, img, fwd, dint, integ, film_w, rec = traced
    tex = r.textures
    zero = np.zeros((tex.n_slots, 2, 3), np.float32)
    dint.jvp(tex.values, zero, SPP, SEED, depth_limit(MAX_DEPTH), integ, film_w)
    primal = dint.film.pixels(dint.img.to_numpy())
    n = SPP * dint.film.size['sw'] * dint.film.size['sh']
    longer = np.flatnonzero(dint.cont.to_numpy()[dint.depth - 1, :n] > 0.0)
    ok = np.ones(img.shape[:2], bool)
    gy, gx = np.divmod(longer % (dint.film.size['sw'] * dint.film.size['sh']), dint.film.size['sw'])
    for y, x in zip(gy - dint.border, gx - dint.border):
        ok[max(0, y - dint.radius):y + dint.radius + 1, max(0, x - dint.radius):x + dint.radius + 1] = False
    assert ok.mean() > 0.8
    np.testing.assert_allclose(primal[ok], img[ok], rtol=2e-4, atol=2e-5 * float(img.max()))


def test_one_trace_records_both_replays(traced):
    r, img, fwd, dint, integ, film_w, rec = traced
    from diffrender.core.ad import GeoReplay

    n = SPP * dint.film.size['sw'] * dint.film.size['sh']
    dint._trace(0, SPP, SEED, depth_limit(MAX_DEPTH), integ, film_w)
    alone = {k: getattr(dint, k).to_numpy()[:, :n] for k in RECORDS}
    geo = GeoReplay(r, dint)
    dint._trace(0, SPP, SEED, depth_limit(MAX_DEPTH), integ, film_w, rec=geo)
    for k in RECORDS:
        assert np.array_equal(alone[k], getattr(dint, k).to_numpy()[:, :n]), k
    rtri = geo.rtri.to_numpy()[:, :n]
    assert np.all(rtri[alone["bsdf"] >= 0] >= 0), "a vertex with a BSDF lies on a triangle"
    kind = geo.nee_kind.to_numpy()[:, :n]
    # area and point lights only: every light sample of the material replay has its geometry
    assert np.array_equal(kind >= 0, alone["nee_slot"] >= 0)
    assert (kind >= 0).sum() > 0
