"""Camera conventions, reconstruction filters, border normalisation, AOVs."""
import numpy as np
import pytest

from diffrender.engine import ti
from diffrender.core import Renderer, render
from diffrender.core.camera import project
from diffrender.core.film import FilterInfo, filter_eval, filter_eval_np, filter_params
from diffrender.scene.model import ReconstructionFilter
from tests.helpers.scenes import area_light, diffuse, make_scene, quad, sensor


def test_point_lands_in_predicted_pixel_and_left_is_left():
    """Camera at the origin looking +z, up +y: world +x is image LEFT (Mitsuba)."""
    cam = sensor(origin=(0, 0, 0), target=(0, 0, 1), fov=60, width=32, height=24, spp=256)
    target = np.array([1.0, 0.6, 5.0])  # left and up in the image
    px = project(cam, [target])[0]
    assert px[0] < 16 and px[1] < 12
    tile = quad(target, (0.05, 0, 0), (0, 0.05, 0), bsdf=diffuse(0.0))  # normal +z ...
    tile.faces = tile.faces[:, ::-1].copy()  # ... flipped to face the camera (-z)
    area_light(tile, 1.0)
    img = render(make_scene([tile], sensors=[cam], max_depth=1))
    ys, xs = np.nonzero(img[..., 0] > 0)
    assert len(xs) > 0
    assert set(xs) <= {int(px[0]) - 1, int(px[0]), int(px[0]) + 1}
    assert set(ys) <= {int(px[1]) - 1, int(px[1]), int(px[1]) + 1}
    iy, ix = np.unravel_index(np.argmax(img[..., 0]), img.shape[:2])
    assert (ix, iy) == (int(px[0]), int(px[1]))


def test_fov_axis_y_and_aspect():
    cam_x = sensor(origin=(0, 0, 0), target=(0, 0, 1), fov=50, width=40, height=20, fov_axis="x")
    tx = np.tan(np.radians(25))
    # A point on the right edge of the field of view lands on the right film edge.
    p = project(cam_x, [[-tx * 3.0, 0, 3.0]])[0]
    assert p[0] == pytest.approx(40.0, abs=1e-9) and p[1] == pytest.approx(10.0, abs=1e-9)
    cam_y = sensor(origin=(0, 0, 0), target=(0, 0, 1), fov=50, width=40, height=20, fov_axis="y")
    p = project(cam_y, [[0, tx * 2.0, 2.0]])[0]  # top edge for a vertical fov of 50 degrees
    assert p[1] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("kind,radius,values", [
    ("box", 0.5, {0.0: 1.0, 0.49: 1.0, 0.51: 0.0}),
    ("tent", 1.0, {0.0: 1.0, 0.5: 0.5, 1.0: 0.0, 1.5: 0.0}),
    ("gaussian", 2.0, {0.0: 1 - np.exp(-8.0), 1.0: np.exp(-2.0) - np.exp(-8.0), 2.0: 0.0}),
])
def test_filter_weights(kind, radius, values):
    fp = filter_params(ReconstructionFilter(kind, radius=radius, stddev=0.5))
    assert fp["radius"] == radius
    xs = np.array(list(values))
    np.testing.assert_allclose(filter_eval_np(fp, xs), list(values.values()), atol=1e-12)
    np.testing.assert_allclose(filter_eval_np(fp, -xs), list(values.values()), atol=1e-12)
    # The Taichi version agrees.
    f = FilterInfo.field(shape=())
    f[None] = FilterInfo(**fp)
    out = ti.field(ti.f32, shape=xs.size)

    @ti.kernel
    def k(x: ti.types.ndarray()):
        for i in range(x.shape[0]):
            out[i] = filter_eval(f[None], x[i])

    k(xs.astype(np.float32))
    np.testing.assert_allclose(out.to_numpy(), list(values.values()), atol=1e-6)


@pytest.mark.parametrize("rfilter", ["box", "tent", "gaussian"])
def test_constant_image_stays_constant_at_the_border(rfilter):
    """Weights are normalised per pixel, also at the film border (no sample_border)."""
    wall = quad((0, 0, 2), (10, 0, 0), (0, 10, 0), bsdf=diffuse(0.0))
    wall.faces = wall.faces[:, ::-1].copy()
    area_light(wall, 0.7)
    cam = sensor(origin=(0, 0, 0), target=(0, 0, 1), width=12, height=10, spp=3, rfilter=rfilter)
    img = render(make_scene([wall], sensors=[cam], max_depth=1))
    np.testing.assert_allclose(img, 0.7, rtol=1e-6)


def test_filter_splats_an_edge_like_the_filter():
    """A vertical emitter edge on the pixel boundary: the tent filter blurs it into the
    neighbouring pixels (box does not)."""
    wall = quad((-5, 0, 2), (5, 0, 0), (0, 10, 0), bsdf=diffuse(0.0))  # covers x < 0: image right
    wall.faces = wall.faces[:, ::-1].copy()
    area_light(wall, 1.0)
    res = {}
    for rf in ("box", "tent"):
        cam = sensor(origin=(0, 0, 0), target=(0, 0, 1), width=8, height=4, spp=64, rfilter=rf)
        res[rf] = render(make_scene([wall], sensors=[cam], max_depth=1))[..., 0].mean(0)
    np.testing.assert_array_equal(res["box"], [0, 0, 0, 0, 1, 1, 1, 1])
    t = res["tent"]
    assert t[2] == 0 and t[5] == 1 and 0 < t[3] < 0.5 < t[4] < 1
    # Tent radius 1: pixel 3's share = int_0^1 (1-(1-u)... ) / total weight -> 1/8 exactly
    # for uniform samples: E[w from the right] / (E[w left] + E[w own] + E[w right]) = 1/8.
    assert t[3] == pytest.approx(0.125, abs=0.03)


def test_aovs():
    floor = quad((0, 0, 0), (20, 0, 0), (0, 0, -20), bsdf=diffuse((0.2, 0.4, 0.6)))
    cam = sensor(origin=(0, 2, 0), target=(0, 0, 0), up=(0, 0, 1), fov=30, width=8, height=8, spp=4)
    out = render(make_scene([floor], sensors=[cam], max_depth=2), aovs=("depth", "normal", "albedo", "alpha"))
    assert out["color"].shape == (8, 8, 3)
    np.testing.assert_allclose(out["alpha"], 1.0)
    np.testing.assert_allclose(out["normal"], np.broadcast_to([0, 1, 0], (8, 8, 3)), atol=1e-6)
    np.testing.assert_allclose(out["albedo"], np.broadcast_to([0.2, 0.4, 0.6], (8, 8, 3)), atol=1e-6)
    # Depth from the near plane (0.01) along the ray: about 2 / cos - 0.01 at the centre.
    assert out["depth"][3:5, 3:5].mean() == pytest.approx(2.0 - 0.01, rel=2e-3)
    with pytest.raises(Exception, match="unknown AOV 'z'"):
        render(make_scene([floor], sensors=[cam]), aovs=("z",))


@pytest.mark.parametrize("rfilter", ["gaussian", "tent", "box"])
@pytest.mark.parametrize("border", [True, False])
def test_film_adjoint_density_of_edge_samples(rfilter, border):
    """``FilmWeights`` (the film's adjoint for edge samples at arbitrary film positions):
    ``adjoint(adj, x) = sum_p adj_p k(X_p + 1/2 - x) k(Y_p + 1/2 - y) / K_p`` over every pixel
    (brute force), 0 outside the sampled region (the film, or the film plus the filter's border
    with ``sample_border``); ``splat`` is its transpose."""
    from diffrender.core.film import FilmWeights
    from diffrender.scene.loader import load_scene

    w, h = 13, 9
    sc = load_scene({"type": "scene", "cam": {"type": "perspective", "film": {
        "type": "hdrfilm", "width": w, "height": h, "rfilter": {"type": rfilter},
        "sample_border": border}}})

    class Film:
        width, height, crop_offset = w, h, (0, 0)

    fw = FilmWeights(sc.sensors[0], Film())
    rng = np.random.default_rng(1)
    x = rng.uniform([-3, -3], [w + 3, h + 3], size=(400, 2))
    adj = rng.normal(size=(h, w, 3))
    fp = filter_params(sc.sensors[0].film.rfilter)
    px = np.arange(w) + 0.5
    py = np.arange(h) + 0.5
    kx = filter_eval_np(fp, px[None, :] - x[:, :1]) / fw.kx            # (N, W)
    ky = filter_eval_np(fp, py[None, :] - x[:, 1:]) / fw.ky            # (N, H)
    pad = fw.r if border else 0
    inside = np.all((x >= -pad) & (x <= [w + pad, h + pad]), axis=1)
    want = np.einsum("ny,nx,yxc->nc", ky, kx, adj) * inside[:, None]
    got = fw.adjoint(adj, x)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.any(got[inside] != 0) and np.all(got[~inside] == 0)
    v = rng.normal(size=(400, 3))
    assert np.sum(fw.splat(x, v) * adj) == pytest.approx(np.sum(v * got), rel=1e-12)
