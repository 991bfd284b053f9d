"""Batched views: one Renderer renders and differentiates several sensors (same film) with one
upload; equal to one Renderer per sensor; diffrender.torch's ``sensor=[...]`` stacks them."""
import numpy as np
import pytest

import diffrender as dr
from diffrender.errors import SceneError
from tests.helpers.room import room

W, H = 10, 8
SPP = 4
SEED = 5


@pytest.fixture(scope="module", autouse=True)
def _cpu_engine():
    from diffrender.engine import init

    init("cpu")


def two_view_room(second_width=W):
    return room(W, H, SPP, side_width=second_width)


@pytest.fixture(scope="module")
def scene():
    return two_view_room()


def test_render_views_equal_one_renderer_per_sensor(scene):
    r = dr.Renderer(scene)
    base = r.render(spp=SPP, seed=SEED)
    stack = r.render_views([0, 1], spp=SPP, seed=SEED)
    assert stack.shape == (2, H, W, 3)
    np.testing.assert_array_equal(stack[0], base)
    side = dr.Renderer(scene, sensor=1).render(spp=SPP, seed=dr.Renderer.view_seed(SEED, 1))
    np.testing.assert_array_equal(stack[1], side)
    assert np.abs(stack[1] - stack[0]).max() > 0.1  # another view indeed
    np.testing.assert_array_equal(r.render(spp=SPP, seed=SEED), base)  # camera restored
    assert r.sensor_index == 0


def test_vjp_views_is_the_sum_of_the_views(scene):
    """Colour and the second camera's pose: the batch gradient is the sum of per-sensor
    Renderer.vjp (the camera derivative only from its own view)."""
    names = ["floor_mat.reflectance", "side.to_world", "side.fov"]
    adj = np.random.default_rng(2).normal(size=(2, H, W, 3)).astype(np.float32)
    r = dr.Renderer(scene)
    g = r.vjp_views(adj, names, [0, 1], spp=SPP, seed=SEED, edges=False)
    g0 = dr.Renderer(scene, sensor=0).vjp(adj[0], names, spp=SPP, seed=SEED, edges=False)
    g1 = dr.Renderer(scene, sensor=1).vjp(adj[1], names, spp=SPP,
                                          seed=dr.Renderer.view_seed(SEED, 1), edges=False)
    for n in names:
        np.testing.assert_allclose(g[n], np.asarray(g0[n]) + np.asarray(g1[n]), rtol=1e-5,
                                   atol=1e-7, err_msg=n)
    assert np.abs(g1["side.to_world"]).max() > 0 and np.abs(g0["side.to_world"]).max() == 0


def test_views_need_the_same_film():
    sc = two_view_room(second_width=12)
    r = dr.Renderer(sc)
    with pytest.raises(SceneError, match="sensor 1 has another film"):
        r.render_views([0, 1], spp=1)
    with pytest.raises(SceneError, match="sensor 7 does not exist"):
        r.render_views([0, 7], spp=1)
    from diffrender.core.ad import GradientError

    with pytest.raises(GradientError, match=r"one adjoint image per sensor"):
        dr.Renderer(two_view_room()).vjp_views(np.zeros((1, H, W, 3)), ["floor_mat.reflectance"], [0, 1])


def test_torch_batch_of_views(scene):
    torch = pytest.importorskip("torch", reason="the 'torch' extra is not installed")
    import diffrender.torch as drt

    rho = torch.tensor([0.8, 0.6, 0.4], dtype=torch.float64, requires_grad=True)
    imgs = drt.render(scene, {"floor_mat.reflectance": rho}, spp=SPP, seed=SEED, sensor=[0, 1])
    assert imgs.shape == (2, H, W, 3)
    adj = np.random.default_rng(3).normal(size=(2, H, W, 3)).astype(np.float32)
    (imgs * torch.from_numpy(adj)).sum().backward()
    r = drt.renderer_of(scene)
    np.testing.assert_array_equal(imgs.detach().numpy(), r.render_views([0, 1], spp=SPP, seed=SEED))
    ref = r.vjp_views(adj, ["floor_mat.reflectance"], [0, 1], spp=SPP, seed=drt.adjoint_seed(SEED))
    np.testing.assert_allclose(rho.grad.numpy(), ref["floor_mat.reflectance"], rtol=1e-5)
