"""diffrender.torch: gradients through torch autograd equal Renderer.vjp / jvp and central finite
differences; filter pipelines pass torch.autograd.gradcheck in float64."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the 'torch' extra is not installed "
                            "(pip install \"diffrender[torch]\")")

import diffrender as dr  # noqa: E402
import diffrender.torch as drt  # noqa: E402
from diffrender.errors import ConfigError, ImageError, SceneError  # noqa: E402
from diffrender.filters.pipeline import Pipeline  # noqa: E402
from tests.helpers.room import room as make_room  # noqa: E402

W = H = 10
SPP = 4
SEED = 3


@pytest.fixture(scope="module", autouse=True)
def _cpu_engine():
    from diffrender.engine import init

    init("cpu")


def room():
    """Floor + wall + point light (tests/helpers/room.py): inter-reflection, so the floor's
    gradient depends on its value; no visibility change under small geometry moves."""
    return make_room(W, H, SPP)


@pytest.fixture(scope="module")
def scene():
    return room()


@pytest.fixture(scope="module")
def adj():
    return np.random.default_rng(1).normal(size=(H, W, 3)).astype(np.float32)


def loss_of(img, adj):
    return (img * torch.from_numpy(adj)).sum()


def test_gradients_equal_renderer_vjp(scene, adj):
    """Reverse mode through torch = Renderer.vjp at the adjoint seed, for a colour, a geometry
    and a light-position parameter at once; the Renderer is built once per scene."""
    pm = scene.parameters()
    vals = {n: torch.tensor(pm[n], dtype=torch.float64, requires_grad=True)
            for n in ("floor_mat.reflectance", "floor.to_world", "lamp.position")}
    img = drt.render(scene, vals, spp=SPP, seed=SEED, edges=dict(spp=4))
    assert img.shape == (H, W, 3) and img.dtype == torch.float32
    loss_of(img, adj).backward()
    r = drt.renderer_of(scene)
    ref = r.vjp(adj, list(vals), spp=SPP, seed=drt.adjoint_seed(SEED), edges=dict(spp=4))
    for n, t in vals.items():
        assert t.grad is not None and t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad.numpy(), ref[n], rtol=1e-6, atol=1e-9, err_msg=n)
    assert np.abs(ref["floor.to_world"]).max() > 0 and np.abs(ref["lamp.position"]).max() > 0
    np.testing.assert_allclose(img.detach().numpy(), r.render(spp=SPP, seed=SEED), rtol=0, atol=0)
    # the same Renderer serves the next call (no rebuild, no recompile)
    drt.render(scene, {"floor_mat.reflectance": vals["floor_mat.reflectance"]}, spp=1)
    assert drt.renderer_of(scene) is r


def test_primal_and_adjoint_seeds_are_decorrelated(scene, adj):
    rho = torch.tensor([0.8, 0.6, 0.4], requires_grad=True)
    loss_of(drt.render(scene, {"floor_mat.reflectance": rho}, spp=SPP, seed=SEED), adj).backward()
    r = drt.renderer_of(scene)
    same = r.vjp(adj, ["floor_mat.reflectance"], spp=SPP, seed=SEED)["floor_mat.reflectance"]
    other = r.vjp(adj, ["floor_mat.reflectance"], spp=SPP,
                  seed=drt.adjoint_seed(SEED))["floor_mat.reflectance"]
    assert drt.adjoint_seed(SEED) != SEED
    np.testing.assert_allclose(rho.grad.numpy(), other, rtol=1e-5)
    assert np.abs(rho.grad.numpy() - same).max() > 1e-3 * np.abs(same).max()
    # explicit seed_grad = seed: common random numbers
    rho.grad = None
    loss_of(drt.render(scene, {"floor_mat.reflectance": rho}, spp=SPP, seed=SEED,
                       seed_grad=SEED), adj).backward()
    np.testing.assert_allclose(rho.grad.numpy(), same, rtol=1e-5)


def central_fd(scene, name, idx, adj, eps, **kw):
    pm = scene.parameters()
    v0 = torch.tensor(pm[name], dtype=torch.float64)
    out = []
    for s in (1, -1):
        v = v0.clone()
        v.view(-1)[idx] += s * eps
        with torch.no_grad():
            out.append(float(loss_of(drt.render(scene, {name: v}, spp=SPP, seed=SEED, **kw)
                                     .double(), adj)))
    drt.render(scene, {name: v0}, spp=1)  # restore
    return (out[0] - out[1]) / (2 * eps)


@pytest.mark.parametrize("name,idx,eps", [("floor_mat.reflectance", 0, 1e-2),
                                          ("floor_mat.reflectance", 2, 1e-2),
                                          ("floor.to_world", 7, 2e-3),     # floor moves up
                                          ("lamp.position", 1, 2e-3)])
def test_gradients_equal_finite_differences(name, idx, eps, adj):
    """torch autograd = Renderer.vjp = central differences (common random numbers, interior
    derivative: nothing changes visibility in this scene)."""
    sc = room()
    pm = sc.parameters()
    t = torch.tensor(pm[name], dtype=torch.float64, requires_grad=True)
    img = drt.render(sc, {name: t}, spp=SPP, seed=SEED, seed_grad=SEED, edges=False)
    loss_of(img, adj).backward()
    got = float(t.grad.view(-1)[idx])
    via_vjp = float(np.asarray(drt.renderer_of(sc).vjp(adj, [name], spp=SPP, seed=SEED,
                                                      edges=False)[name]).flat[idx])
    ref = central_fd(sc, name, idx, adj, eps, edges=False)
    assert got == pytest.approx(via_vjp, rel=1e-6, abs=1e-9)
    assert abs(got - ref) <= 1e-2 * abs(ref) + 1e-3, (got, ref)
    assert abs(ref) > 1e-2  # the case is not trivially zero


def test_single_number_for_an_rgb_parameter_gets_the_channel_sum(scene, adj):
    g3 = torch.tensor([0.7, 0.7, 0.7], requires_grad=True)
    loss_of(drt.render(scene, {"floor_mat.reflectance": g3}, spp=SPP, seed=SEED), adj).backward()
    g1 = torch.tensor(0.7, requires_grad=True)
    loss_of(drt.render(scene, {"floor_mat.reflectance": g1}, spp=SPP, seed=SEED), adj).backward()
    assert g1.grad.shape == ()
    assert float(g1.grad) == pytest.approx(float(g3.grad.sum()), rel=1e-5)


def test_torch_func_grad_equals_backward(scene, adj):
    rho = torch.tensor([0.5, 0.3, 0.6], dtype=torch.float64)

    def loss(x):
        return loss_of(drt.render(scene, {"floor_mat.reflectance": x}, spp=SPP, seed=SEED), adj)

    g = torch.func.grad(loss)(rho)
    x = rho.clone().requires_grad_(True)
    loss(x).backward()
    assert float(g.abs().max()) > 0
    np.testing.assert_allclose(g.numpy(), x.grad.numpy(), rtol=1e-6)


def test_two_renders_of_one_scene_in_one_graph(adj):
    """Each backward re-writes the values its forward used: two renders of the same scene with
    different light positions in one graph get each its own gradient (the gradient of a light
    position depends on the position)."""
    sc = room()
    name = "lamp.position"
    a = torch.tensor([0.5, 2.0, 0.3], requires_grad=True)
    b = torch.tensor([-0.4, 1.2, 0.8], requires_grad=True)
    kw = dict(spp=SPP, seed=SEED, seed_grad=SEED, edges=False)
    loss = loss_of(drt.render(sc, {name: a}, **kw), adj) + loss_of(drt.render(sc, {name: b}, **kw), adj)
    loss.backward()
    r = drt.renderer_of(sc)
    for t in (a, b):
        sc.parameters()[name] = t.detach().numpy()
        np.testing.assert_allclose(t.grad.numpy(), r.vjp(adj, [name], spp=SPP, seed=SEED, edges=False)[name],
                                   rtol=1e-5)
    assert np.abs(a.grad.numpy() - b.grad.numpy()).max() > 0.1 * np.abs(b.grad.numpy()).max()


def test_forward_mode_matches_reverse_mode(scene, adj):
    """torch.autograd.forward_ad and torch.func.jvp call Renderer.jvp: <u, J t> = <J^T u, t>."""
    import torch.autograd.forward_ad as fwAD

    names = ["floor_mat.reflectance", "lamp.position"]
    pm = scene.parameters()
    primal = {n: torch.tensor(pm[n], dtype=torch.float64) for n in names}
    tang = {n: torch.tensor(np.random.default_rng(5).normal(size=np.shape(pm[n])), dtype=torch.float64)
            for n in names}
    kw = dict(spp=SPP, seed=SEED, edges=False)
    with fwAD.dual_level():
        img = drt.render(scene, {n: fwAD.make_dual(primal[n], tang[n]) for n in names}, **kw)
        t_img = fwAD.unpack_dual(img).tangent
    g = drt.renderer_of(scene).vjp(adj, names, spp=SPP, seed=drt.adjoint_seed(SEED), edges=False)
    lhs = float((t_img.double() * torch.from_numpy(adj).double()).sum())
    rhs = sum(float((np.asarray(g[n]) * tang[n].numpy()).sum()) for n in names)
    assert abs(lhs) > 1e-3
    assert lhs == pytest.approx(rhs, rel=1e-3)

    def f(rho, pos):
        return drt.render(scene, {names[0]: rho, names[1]: pos}, **kw)

    _, t2 = torch.func.jvp(f, (primal[names[0]], primal[names[1]]), (tang[names[0]], tang[names[1]]))
    np.testing.assert_allclose(t2.numpy(), t_img.numpy(), rtol=1e-6, atol=1e-7)


def test_bad_input_is_a_one_line_error(scene):
    with pytest.raises(SceneError, match=r"unknown parameter 'floor_mat.reflectanse'; did you mean floor_mat.reflectance"):
        drt.render(scene, {"floor_mat.reflectanse": torch.ones(3)})
    with pytest.raises(SceneError, match=r"parameter 'floor_mat.reflectance' has shape \(3,\), got a value of shape \(2,\)"):
        drt.render(scene, {"floor_mat.reflectance": torch.ones(2)})
    with pytest.raises(SceneError, match=r"params\['floor_mat.reflectance'\] must be a torch.Tensor, got list"):
        drt.render(scene, {"floor_mat.reflectance": [1, 1, 1]})
    with pytest.raises(SceneError, match="spp must be a positive integer, got 0"):
        drt.render(scene, {}, spp=0)
    with pytest.raises(SceneError, match="expected a diffrender Scene"):
        drt.render("scene.xml", {})


# --- images in place (DLPack) -----------------------------------------------------------------

def test_images_cross_in_place_through_dlpack(scene, adj, monkeypatch):
    """On the CPU backend, CPU tensors are the film's output and the backward's input in place:
    the host develop and the adjoint's NumPy upload are never called, and the image and the
    gradient are those of the NumPy path, bit for bit."""
    from diffrender.core.film import Film, FilmAdjoint

    r = drt.renderer_of(scene)
    rho0 = np.asarray(scene.parameters()["floor_mat.reflectance"], np.float64)
    ref_img = r.render(spp=SPP, seed=SEED)
    ref_g = r.vjp(adj, ["floor_mat.reflectance"], spp=SPP, seed=drt.adjoint_seed(SEED))
    loaded = []
    load = FilmAdjoint.load_adjoint

    def spy(film, d_image):
        loaded.append(type(d_image))
        return load(film, d_image)

    def host_develop(film):
        raise AssertionError("developed on the host")

    monkeypatch.setattr(Film, "develop", host_develop)
    monkeypatch.setattr(FilmAdjoint, "load_adjoint", spy)
    rho = torch.tensor(rho0, requires_grad=True)
    img = drt.render(scene, {"floor_mat.reflectance": rho}, spp=SPP, seed=SEED)
    np.testing.assert_array_equal(img.detach().numpy(), ref_img)
    loss_of(img, adj).backward()
    assert loaded == [torch.Tensor]
    np.testing.assert_array_equal(rho.grad.numpy(), ref_g["floor_mat.reflectance"])


class _Foreign:
    """A DLPack producer that says it lives on ``device`` (DLPack's (type, id))."""

    def __init__(self, device):
        self.device, self.shape = device, (H, W, 3)

    def __dlpack__(self, **kwargs):
        raise AssertionError("never exported: the engine must not try to view it")

    def __dlpack_device__(self):
        return self.device


def test_only_arrays_where_the_kernels_run_are_taken_in_place(scene):
    from diffrender import engine

    assert engine.device() == "cpu"
    assert engine.takes_in_place(torch.zeros(3))
    assert not engine.takes_in_place(np.zeros(3, np.float32))  # NumPy: the host path as before
    for dev in [(2, 0), (2, 1), (13, 0), (8, 0)]:  # CUDA, another GPU, managed, Metal
        assert not engine.takes_in_place(_Foreign(dev)), dev
    with pytest.raises(ImageError, match=r"^output image: expected an array on "
                       r"the device 'cpu' that taichi-forge can view through DLPack, got _Foreign$"):
        drt.renderer_of(scene).render(spp=1, out=_Foreign((2, 0)))


def test_renderer_develops_into_a_given_tensor(scene):
    r = drt.renderer_of(scene)
    out = torch.full((H, W, 3), -1.0)
    ptr = out.data_ptr()
    assert r.render(spp=SPP, seed=SEED, out=out) is out and out.data_ptr() == ptr
    np.testing.assert_array_equal(out.numpy(), r.render(spp=SPP, seed=SEED))
    stack = torch.full((2, H, W, 3), -1.0)
    assert r.render_views([0, 0], spp=SPP, seed=SEED, out=stack) is stack
    np.testing.assert_array_equal(stack.numpy(), r.render_views([0, 0], spp=SPP, seed=SEED))


def test_output_tensors_that_cannot_be_used_in_place_are_one_line_errors(scene):
    r = drt.renderer_of(scene)
    with pytest.raises(ImageError, match=r"^output image: expected float32 values, got f64$"):
        r.render(spp=1, out=torch.zeros((H, W, 3), dtype=torch.float64))
    with pytest.raises(ImageError, match=r"^output image: expected shape \(10, 10, 3\), got \(10, 10, 4\)$"):
        r.render(spp=1, out=torch.zeros((H, W, 4)))
    with pytest.raises(ImageError, match=r"^output image: cannot be used in place \(.*\); pass a C-contiguous array$"):
        r.render(spp=1, out=torch.zeros((H, W, 4))[..., :3])
    with pytest.raises(ImageError, match=r"^output image: expected an array on the device 'cpu' that "
                       r"taichi-forge can view through DLPack, got ndarray$"):
        r.render(spp=1, out=np.zeros((H, W, 3), np.float32))
    with pytest.raises(ImageError, match=r"^output stack: expected shape \(2, 10, 10, 3\), got \(1, 10, 10, 3\)$"):
        r.render_views([0, 0], spp=1, out=torch.zeros((1, H, W, 3)))
    # last: skipped without the 'jax' extra
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(ImageError, match=r"^output image: a JAX array is immutable and cannot be "
                       r"written in place; pass a torch tensor$"):
        r.render(spp=1, out=jnp.zeros((H, W, 3), jnp.float32))


# --- filters ---------------------------------------------------------------------------------

PIPE = {"stages": [
    {"name": "blur", "type": "gaussian_blur", "sigma": {"value": 1.1, "learnable": True, "bounds": [0.3, 4]}},
    {"name": "gamma", "type": "gamma", "gamma": {"value": 1.3, "learnable": True, "bounds": [0.2, 5]}},
    {"name": "color", "type": "color_matrix",
     "matrix": {"value": [[1.1, 0.1, 0], [0, 0.9, 0.05], [0.02, 0, 1]], "learnable": True}},
]}


def test_filter_module_gradcheck_float64():
    mod = drt.PipelineModule(Pipeline.from_config(PIPE, dtype="float64"))
    named = [n for n, _ in mod.named_parameters()]
    assert len(named) == 11 and "params.blur.sigma" in named and "params.gamma.gamma" in named
    names = list(mod.values())
    img = torch.rand(7, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    img.requires_grad_(True)
    params = [p.detach().clone().requires_grad_(True) for p in mod.values().values()]

    def f(image, *ps):
        return drt.filter(mod.pipeline, image, dict(zip(names, ps)))

    assert torch.autograd.gradcheck(f, (img, *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_filter_module_in_a_torch_loop_after_the_renderer(adj):
    """render -> PipelineModule -> loss: gradients reach the scene and the filter parameters,
    and equal the chain rule done by hand with Pipeline.vjp and Renderer.vjp."""
    sc = room()
    mod = drt.PipelineModule(Pipeline.from_config(PIPE))
    rho = torch.tensor([0.8, 0.6, 0.4], requires_grad=True)
    img = drt.render(sc, {"floor_mat.reflectance": rho}, spp=SPP, seed=SEED)
    out = mod(img)
    loss_of(out, adj).backward()
    d_img, g_f = mod.pipeline.vjp(img.detach().numpy(), adj)
    g_r = drt.renderer_of(sc).vjp(d_img, ["floor_mat.reflectance"], spp=SPP,
                                 seed=drt.adjoint_seed(SEED))["floor_mat.reflectance"]
    np.testing.assert_allclose(rho.grad.numpy(), g_r, rtol=1e-4)
    for n, p in mod.values().items():
        assert float(p.grad) == pytest.approx(g_f[n], rel=1e-4, abs=1e-6)
    # an optimizer step, then the bounds
    with torch.no_grad():
        mod.values()["gamma.gamma"].fill_(9.0)
    mod.project_()
    assert float(mod.values()["gamma.gamma"].detach()) == 5.0
    mod.sync_()
    assert mod.pipeline.get("gamma.gamma") == 5.0


def test_filter_errors():
    p = Pipeline.from_config(PIPE)
    with pytest.raises(ConfigError, match="no stage named 'blurr'"):
        drt.filter(p, torch.zeros(4, 4, 3), {"blurr.sigma": torch.tensor(1.0)})
    with pytest.raises(ConfigError, match=r"params\['blur.sigma'\] must be a scalar torch.Tensor"):
        drt.filter(p, torch.zeros(4, 4, 3), {"blur.sigma": 1.0})


def test_benchmark_loops_agree():
    """benchmarks/bench_torch_loop.py compares like with like: its torch loop (torch.optim.Adam)
    and its NumPy loop (Renderer + diffrender.optim.Adam) end at the same albedo."""
    import importlib
    import sys
    from pathlib import Path

    bench_dir = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, bench_dir)
    try:
        bench = importlib.import_module("bench_torch_loop")
    finally:
        sys.path.remove(bench_dir)
    scenes = [dr.load_scene(bench.SCENE, res=16, max_depth=3) for _ in range(2)]
    r = dr.Renderer(scenes[0])
    target = r.render(spp=16, seed=7)
    x_np = bench.numpy_loop(scenes[0], r, target, 4, 2)
    x_t = bench.torch_loop(scenes[1], target, 4, 2)
    assert np.abs(x_np - bench.INIT).max() > 1e-3  # it moved
    np.testing.assert_allclose(x_t, x_np, rtol=0, atol=1e-6)
