"""diffrender.jax: jax.grad (eager and under jax.jit) equals Renderer.vjp; jax.vmap renders a
batch; the seeds may be traced."""
import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the 'jax' extra is not installed "
                          "(pip install \"diffrender[jax]\")")

import jax.numpy as jnp  # noqa: E402

import diffrender.jax as drj  # noqa: E402
from diffrender.errors import SceneError  # noqa: E402
from tests.helpers.room import room  # noqa: E402

W = H = 10
SPP = 4
SEED = 3
NAMES = ("floor_mat.reflectance", "lamp.position")


@pytest.fixture(scope="module", autouse=True)
def _cpu_engine():
    from diffrender.engine import init

    init("cpu")


@pytest.fixture(scope="module")
def scene():
    return room(W, H, SPP)


@pytest.fixture(scope="module")
def adj():
    return np.random.default_rng(1).normal(size=(H, W, 3)).astype(np.float32)


def test_grad_equals_numpy_vjp_eager_and_jit(scene, adj):
    pm = scene.parameters()
    x0 = {n: jnp.asarray(pm[n], jnp.float32) for n in NAMES}
    a = jnp.asarray(adj)

    def loss(p, seed):
        return jnp.sum(drj.render(scene, p, spp=SPP, seed=seed, edges=False) * a)

    g_eager = jax.grad(loss)(x0, SEED)
    g_jit = jax.jit(jax.grad(loss))(x0, SEED)  # the seed is traced under jit
    r = drj.renderer_of(scene)
    ref = r.vjp(adj, list(NAMES), spp=SPP, seed=drj.adjoint_seed(SEED), edges=False)
    for n in NAMES:
        assert g_eager[n].shape == x0[n].shape and g_eager[n].dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(g_eager[n]), ref[n], rtol=1e-5, atol=1e-6, err_msg=n)
        np.testing.assert_allclose(np.asarray(g_jit[n]), ref[n], rtol=1e-5, atol=1e-6, err_msg=n)
        assert np.abs(ref[n]).max() > 0
    # the primal is Renderer.render with the primal seed
    img = jax.jit(lambda p: drj.render(scene, p, spp=SPP, seed=SEED))(x0)
    np.testing.assert_array_equal(np.asarray(img), r.render(spp=SPP, seed=SEED))
    # a different primal seed in the same jitted function gives another image (not baked in)
    f = jax.jit(lambda p, s: drj.render(scene, p, spp=SPP, seed=s))
    assert np.abs(np.asarray(f(x0, 7)) - np.asarray(f(x0, SEED))).max() > 0


def test_seed_grad_and_value_and_grad(scene, adj):
    pm = scene.parameters()
    rho = jnp.asarray(pm["floor_mat.reflectance"], jnp.float32)
    a = jnp.asarray(adj)

    def loss(x):
        return jnp.sum(drj.render(scene, {"floor_mat.reflectance": x}, spp=SPP, seed=SEED,
                                  seed_grad=SEED) * a)

    val, g = jax.value_and_grad(loss)(rho)
    r = drj.renderer_of(scene)
    ref = r.vjp(adj, ["floor_mat.reflectance"], spp=SPP, seed=SEED)["floor_mat.reflectance"]
    np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-5)
    assert float(val) == pytest.approx(float((r.render(spp=SPP, seed=SEED) * adj).sum()), rel=1e-5)


def test_vmap_renders_each_value(scene):
    rhos = jnp.asarray([[0.2, 0.2, 0.2], [0.9, 0.5, 0.1]], jnp.float32)
    imgs = jax.vmap(lambda x: drj.render(scene, {"floor_mat.reflectance": x}, spp=SPP, seed=SEED))(rhos)
    assert imgs.shape == (2, H, W, 3)
    r = drj.renderer_of(scene)
    for i in range(2):
        scene.parameters()["floor_mat.reflectance"] = np.asarray(rhos[i])
        np.testing.assert_array_equal(np.asarray(imgs[i]), r.render(spp=SPP, seed=SEED))


def test_unknown_parameter_is_a_one_line_error(scene):
    with pytest.raises(SceneError, match="unknown parameter 'floor_mat.reflectanse'"):
        drj.render(scene, {"floor_mat.reflectanse": jnp.ones(3)})
