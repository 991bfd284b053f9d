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


# ----------------------------------------------------------------------- heterogeneous media

from diffrender.core.media import MediumTable  # noqa: E402
from diffrender.engine import ti  # noqa: E402
from diffrender.errors import SceneError  # noqa: E402
from diffrender.scene.volumes import read_vol, write_vol  # noqa: E402


def test_vol_files_round_trip_and_bad_files_are_one_line_errors(tmp_path):
    data = np.arange(2 * 3 * 4 * 3, dtype=np.float32).reshape(2, 3, 4, 3)
    p = tmp_path / "g.vol"
    write_vol(str(p), data, ((0, 0, 0), (1, 2, 3)))
    back, bbox = read_vol(str(p), "scene.xml:3")
    assert np.array_equal(back, data) and bbox.tolist() == [[0, 0, 0], [1, 2, 3]]
    raw = p.read_bytes()
    (tmp_path / "short.vol").write_bytes(raw[:-8])
    with pytest.raises(SceneError, match=r"^scene.xml:3: .*short.vol: not a Mitsuba grid volume "
                                         r"\(.vol\): the header announces 72 float32 values, "
                                         r"the file holds 70$"):
        read_vol(str(tmp_path / "short.vol"), "scene.xml:3")
    (tmp_path / "magic.vol").write_bytes(b"XYZ" + raw[3:])
    with pytest.raises(SceneError, match="it does not start with 'VOL'"):
        read_vol(str(tmp_path / "magic.vol"), "scene.xml:3")


def _grid_scene(tmp_path, grid, albedo=0.0, emitter=True):
    """A null cube [0, 1]^3 holding a heterogeneous medium whose sigma_t is ``grid`` (Z, Y, X, C)
    on the unit cube, seen by an orthographic camera looking along +z at an emitting plane."""
    write_vol(str(tmp_path / "sigma.vol"), grid)
    d = {"type": "scene", "integrator": {"type": "volpath", "max_depth": -1},
         "sensor": {"type": "orthographic",
                    "to_world": {"type": "transform", "matrix": [  # sees x, y in [0.25, 0.75]
                        [0.25, 0, 0, 0.5], [0, 0.25, 0, 0.5], [0, 0, 1, -1], [0, 0, 0, 1]]},
                    "film": {"type": "hdrfilm", "width": 4, "height": 4,
                             "rfilter": {"type": "box"}},
                    "sampler": {"type": "independent", "sample_count": 16}},
         "fog": {"type": "heterogeneous", "albedo": albedo,
                 "sigma_t": {"type": "gridvolume", "filename": str(tmp_path / "sigma.vol")}},
         "box": {"type": "cube", "bsdf": {"type": "null"},
                 "to_world": {"type": "transform", "matrix": [[0.5, 0, 0, 0.5], [0, 0.5, 0, 0.5],
                                                              [0, 0, 0.5, 0.5], [0, 0, 0, 1]]},
                 "interior": {"type": "ref", "id": "fog"}}}
    if emitter:
        d["wall"] = {"type": "rectangle", "emitter": {"type": "area", "radiance": {
            "type": "rgb", "value": [1, 1, 1]}}, "to_world": {"type": "transform", "matrix": [
                [-3, 0, 0, 0.5], [0, 3, 0, 0.5], [0, 0, -1, 2], [0, 0, 0, 1]]}}
    return _load(d)


def _trilinear_z_integral(profile):
    """∫_0^1 of the piecewise-linear (clamped at the end voxel centres) profile along z."""
    from scipy.integrate import trapezoid

    n = len(profile)
    z = np.linspace(0, 1, 200001)
    return trapezoid(np.interp(z, (np.arange(n) + 0.5) / n, profile), z)


def test_grid_medium_beer_lambert(tmp_path):
    """Ratio / delta tracking through a grid that varies along the rays (z) only, 3 channels:
    every pixel sees L exp(-∫ sigma_t dz) of the trilinear profile."""
    prof = np.array([[0.5, 2.0, 0.1], [3.0, 1.0, 0.2], [1.0, 0.5, 0.0], [0.2, 4.0, 0.4]],
                    np.float32)  # (Z, C)
    grid = np.broadcast_to(prof[:, None, None, :], (4, 2, 2, 3)).copy()
    sc = _grid_scene(tmp_path, grid)
    mean, se = _mean_and_se(dr.Renderer(sc), 4, 32)
    expected = np.exp(-np.array([_trilinear_z_integral(prof[:, c]) for c in range(3)]))
    assert np.all(np.abs(mean - expected) < 4.0 * se + 2e-3), (mean, expected, se)


def test_grid_furnace(tmp_path):
    """Albedo 1 in a uniform environment: 1 everywhere, for any sigma_t field (delta tracking
    of the camera rays and phase-function samples, ratio tracking of the shadow rays)."""
    rng = np.random.default_rng(3)
    grid = rng.uniform(0.0, 4.0, (5, 4, 3, 1)).astype(np.float32)
    sc = _grid_scene(tmp_path, grid, albedo=1.0, emitter=False)
    sc2 = _load({**_furnace({"type": "null"}, {"type": "isotropic"}, [1, 1, 1])})
    sc.emitters, sc.shapes[0].bsdf = sc2.emitters, sc.shapes[0].bsdf
    mean, se = _mean_and_se(dr.Renderer(sc), 6, 32)
    assert np.all(np.abs(mean - 1.0) < 4.0 * se + 1e-3), (mean, se)
    assert np.all(se > 0)


@ti.kernel
def _lookup(t: ti.template(), v: ti.i32, p: ti.types.ndarray(), out: ti.types.ndarray()):
    for i in range(p.shape[0]):
        val = t.volume(v, ti.Vector([p[i, 0], p[i, 1], p[i, 2]]))
        for c in ti.static(range(3)):
            out[i, c] = val[c]


@pytest.mark.parametrize("wrap", ["clamp", "repeat"])
def test_grid_lookup_is_trilinear_at_voxel_centres(tmp_path, wrap):
    """The lookup against scipy's trilinear interpolation (voxel centres at (i + 0.5) / res,
    Mitsuba's convention), through the volume's to_world, 3 channels."""
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(5)
    grid = rng.uniform(0, 2, (3, 4, 5, 3)).astype(np.float32)  # Z, Y, X, C
    sc = _grid_scene(tmp_path, grid)
    vol = sc.media[0].volume_sigma_t
    vol.wrap_mode = wrap
    vol.to_world = np.diag([2.0, 1.0, 1.0, 1.0])  # the grid spans x in [0, 2]
    table = MediumTable(sc, sc.sensors[0])
    pts = rng.uniform(-0.3, 1.3, (64, 3)).astype(np.float32)
    pts[:, 0] *= 2.0
    out = np.zeros((64, 3), np.float32)
    _lookup(table, 0, pts, out)
    local = pts / np.array([2.0, 1.0, 1.0], np.float32)
    coords = (local * np.array([5, 4, 3]) - 0.5)[:, ::-1].T  # (z, y, x) voxel coordinates
    mode = {"clamp": "nearest", "repeat": "grid-wrap"}[wrap]
    want = np.stack([map_coordinates(grid[..., c], coords, order=1, mode=mode)
                     for c in range(3)], axis=1)
    assert np.allclose(out, want, atol=1e-5)
