"""Participating media (``diffrender/core/media.py``, the medium branch of ``core/path.py``):
analytic results. The comparison with Mitsuba's ``volpath`` is the stored reference
``media_24`` (``tests/core/test_reference_mitsuba.py``: a glass cube, a thin-dielectric sphere
with an hg medium and a null cube with a chromatic absorber, block z-test against 65536 spp).

- White furnace: a medium of albedo 1 inside a uniform environment of radiance 1, seen through a
  null boundary or a thin dielectric (reflectance + transmittance = 1): every pixel is 1 in
  expectation whatever the scattering, which checks the distance sampling's weights, the phase
  function's density against its sampling (MIS with the environment's sampling), the medium
  tracking and the null events.
- Beer–Lambert: the camera sits in an absorbing medium (the sensor's medium) at the centre of an
  emitting sphere of radius R: every pixel is ``L exp(-sigma_t R)`` per channel.
"""
import warnings

import numpy as np
import pytest

import diffrender as dr
from diffrender.errors import GradientError
from diffrender.scene.spec import SceneWarning

RES = 8
LOOK = {"type": "transform", "lookat": {"origin": [0, 0, -3], "target": [0, 0, 0],
                                        "up": [0, 1, 0]}}


def _sensor(spp, to_world=LOOK, medium=None):
    s = {"type": "perspective", "fov": 40, "to_world": to_world,
         "film": {"type": "hdrfilm", "width": RES, "height": RES, "rfilter": {"type": "box"}},
         "sampler": {"type": "independent", "sample_count": spp}}
    if medium is not None:
        s["medium"] = {"type": "ref", "id": medium}
    return s


def _load(d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneWarning)
        return dr.load_scene(d)


def _furnace(boundary, phase, sigma_t):
    return {"type": "scene", "integrator": {"type": "volpath", "max_depth": -1},
            "sensor": _sensor(32),
            "env": {"type": "constant", "radiance": {"type": "rgb", "value": [1, 1, 1]}},
            "fog": {"type": "homogeneous", "albedo": 1.0,
                    "sigma_t": {"type": "rgb", "value": sigma_t}, "phase": phase},
            "ball": {"type": "sphere", "radius": 1.0, "bsdf": boundary,
                     "interior": {"type": "ref", "id": "fog"}}}


def _mean_and_se(renderer, n, spp):
    imgs = np.stack([renderer.render(spp=spp, seed=101 + i) for i in range(n)])
    means = imgs.reshape(n, -1, 3).mean(axis=1)  # per render, per channel
    return means.mean(axis=0), means.std(axis=0, ddof=1) / np.sqrt(n)


@pytest.mark.parametrize("boundary, phase, sigma_t", [
    ({"type": "null"}, {"type": "isotropic"}, [1.0, 0.5, 0.25]),
    ({"type": "thindielectric"}, {"type": "hg", "g": 0.7}, [0.8, 0.8, 0.8]),
])
def test_white_furnace(boundary, phase, sigma_t):
    r = dr.Renderer(_load(_furnace(boundary, phase, sigma_t)))
    mean, se = _mean_and_se(r, 6, 32)
    assert np.all(np.abs(mean - 1.0) < 4.0 * se + 1e-3), (mean, se)
    # the estimator is not trivially exact: paths through the medium do vary
    assert np.all(se > 0)


def test_furnace_detects_a_wrong_albedo():
    """The same furnace with albedo 0.9: the medium absorbs, the image is darker than 1 (the
    test above can fail)."""
    d = _furnace({"type": "null"}, {"type": "isotropic"}, [1.0, 1.0, 1.0])
    d["fog"]["albedo"] = 0.9
    mean, se = _mean_and_se(dr.Renderer(_load(d)), 4, 32)
    assert np.all(mean < 1.0 - 8.0 * se)


def test_beer_lambert_from_the_sensor_medium():
    sigma = np.array([0.6, 0.3, 0.1])
    radius, radiance = 2.0, np.array([2.0, 3.0, 4.0])
    d = {"type": "scene", "integrator": {"type": "volpath", "max_depth": -1},
         "sensor": _sensor(16, to_world={"type": "transform", "lookat": {
             "origin": [0, 0, 0], "target": [0, 0, 1], "up": [0, 1, 0]}}, medium="ink"),
         "ink": {"type": "homogeneous", "albedo": 0.0,
                 "sigma_t": {"type": "rgb", "value": sigma.tolist()}},
         "shell": {"type": "sphere", "radius": radius, "flip_normals": True,
                   "emitter": {"type": "area",
                               "radiance": {"type": "rgb", "value": radiance.tolist()}}}}
    sc = _load(d)
    assert sc.sensors[0].medium == 0
    mean, se = _mean_and_se(dr.Renderer(sc), 4, 16)
    expected = radiance * np.exp(-sigma * radius)
    assert np.all(np.abs(mean - expected) < 4.0 * se + 2e-3 * expected), (mean, expected, se)
    # without the medium the shell is seen at its radiance: the medium did absorb
    del d["sensor"]["medium"]
    plain = dr.Renderer(_load(d)).render(spp=4, seed=1).reshape(-1, 3).mean(axis=0)
    assert np.allclose(plain, radiance, rtol=2e-2)


def test_derivatives_are_refused_with_media():
    sc = _load(_furnace({"type": "null"}, {"type": "isotropic"}, [1.0, 1.0, 1.0]))
    r = dr.Renderer(sc)
    with pytest.raises(GradientError, match="participating media are not supported"):
        r.vjp(np.ones((RES, RES, 3), np.float32), ["env.radiance.value"], spp=1)
