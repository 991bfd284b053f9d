"""Geometry parametrizations of ``diffrender optimize``: rigid poses (translate / rotate),
vertex positions with large-steps / Laplacian smoothing, their chain rules (against central
differences), config errors, and an end-to-end pose recovery with edge sampling."""
import numpy as np
import pytest
import yaml

from diffrender.errors import ConfigError
from diffrender.inverse import load_config
from diffrender.inverse.geometry import Mesh, Pose, rotation
from diffrender.inverse.run import Problem, Run
from tests.helpers.fd import central_difference


def test_rotation_is_rodrigues():
    R = rotation([0, 0, 90])
    assert np.allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    R = rotation([30, -20, 45])
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)
    assert np.allclose(rotation([0, 0, 0]), np.eye(3))


def assert_chain_matches_central_differences(pose, name, v, G):
    """The pose's chain rule for the linear loss sum(G * M) against central differences, for
    each of its variables."""
    def loss_of(var):
        def f(x):
            return float((G * pose.scene_values(dict(v, **{var: x}))[name]).sum())
        return f
    g = pose.chain(v, {name: G})
    for var in (name + ".translate", name + ".rotate"):
        ref = central_difference(loss_of(var), v[var], eps=1e-5)
        assert np.allclose(g[var], ref, rtol=1e-5, atol=1e-7), var
    return g


def test_pose_chain_rule_matches_finite_differences():
    rng = np.random.default_rng(0)
    M0 = np.eye(4)
    M0[:3, :3] = rotation([10, 20, 30]) * 1.5
    M0[:3, 3] = [1, 2, 3]
    pose = Pose("box.to_world", M0, centre=[0.5, -0.2, 1.0], translate=[0.1, 0.2, -0.3], rotate=[5, -7, 11])
    G = rng.normal(size=(4, 4))  # dL/dM of a linear loss L = sum(G * M)
    v = dict(pose.init)
    assert_chain_matches_central_differences(pose, "box.to_world", v, G)
    # The pose stays rigid on top of M0: rotation part is R(r) @ M0's.
    M = pose.scene_values(v)["box.to_world"]
    assert np.allclose(M[:3, :3], rotation([5, -7, 11]) @ M0[:3, :3])
    # The centre is fixed by the rotation (with no translation).
    p2 = Pose("s", np.eye(4), centre=[1, 2, 3], rotate=[40, 0, 0])
    M2 = p2.scene_values(p2.init)["s"]
    assert np.allclose(M2[:3, :3] @ [1, 2, 3] + M2[:3, 3], [1, 2, 3])


def test_pose_about_an_axis_with_masks_matches_finite_differences():
    """Mitsuba's pose tutorial: an angle about y through the origin, a translation in x / y only."""
    rng = np.random.default_rng(2)
    M0 = np.diag([6.5, 6.5, 6.5, 1.0])
    M0[:3, 3] = [0.3, -0.2, 0.1]
    pose = Pose("b.to_world", M0, centre=[0, 0, 0], translate=[0.1, -0.25, 0.4], rotate=[25.0],
                axis=[0, 2, 0], masks={"translate": [True, True, False]})
    v = dict(pose.init)
    assert v["b.to_world.rotate"].shape == (1,)
    M = pose.scene_values(v)["b.to_world"]
    T = np.eye(4)
    T[:3, 3] = [0.1, -0.25, 0.4]
    R = np.eye(4)
    R[:3, :3] = rotation([0, 25, 0])
    assert np.allclose(M, T @ R @ M0, atol=1e-12)  # T(t) R_y(25) M0: the tutorial's composition
    g = assert_chain_matches_central_differences(pose, "b.to_world", v, rng.normal(size=(4, 4)))
    assert g["b.to_world.translate"][2] == 0.0 and g["b.to_world.translate"][0] != 0.0
    # a masked component keeps its initial value whatever the optimizer writes there
    moved = dict(v, **{"b.to_world.translate": np.array([0.1, -0.25, 9.0])})
    assert np.allclose(pose.scene_values(moved)["b.to_world"], M)


def _grid_mesh(n=4):
    y, x = np.mgrid[0:n, 0:n]
    V = np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], 1).astype(float)
    F = []
    for j in range(n - 1):
        for i in range(n - 1):
            a = j * n + i
            F += [(a, a + 1, a + n + 1), (a, a + n + 1, a + n)]
    return V, np.array(F)


@pytest.mark.parametrize("method", ["large_steps", "laplacian", "none"])
def test_mesh_parametrization_chain_rule(method):
    V, F = _grid_mesh()
    V = np.concatenate([V, V[:2]])  # two duplicated vertices (a seam): they move together
    F = np.concatenate([F, [[16, 17, 5]]])
    m = Mesh("blob.vertex_positions", V, F, method=method, weight=3.0)
    v = dict(m.init)
    assert np.allclose(m.scene_values(v)["blob.vertex_positions"], V)
    G = np.random.default_rng(1).normal(size=V.shape)

    def f(u):
        vals = m.scene_values({"blob.vertex_positions": u})["blob.vertex_positions"]
        l, _ = m.regularizer({"blob.vertex_positions": u})
        return float((G * vals).sum()) + l
    g = m.chain(v, {"blob.vertex_positions": G})["blob.vertex_positions"]
    _, rg = m.regularizer(v)
    if rg:
        g = g + rg["blob.vertex_positions"]
    ref = central_difference(f, v["blob.vertex_positions"], eps=1e-6)
    assert np.allclose(g, ref, rtol=1e-5, atol=1e-6)
    out = m.scene_values(v)["blob.vertex_positions"]
    assert np.allclose(out[16], out[0]) and np.allclose(out[17], out[1])


def test_large_steps_smooths_the_step():
    V, F = _grid_mesh(6)
    m = Mesh("b", V, F, method="large_steps", weight=20.0)
    G = np.zeros_like(V)
    G[14, 2] = 1.0  # a spike on one vertex
    g = m.chain(m.init, {"b": G})["b"]
    # the step reaching the vertices, (I + lambda L)^-2 G, spreads over the neighbourhood
    step = m.scene_values({"b": m.init["b"] - g})["b"] - V
    assert step[14, 2] < 0 and np.count_nonzero(np.abs(step[:, 2]) > 1e-3 * abs(step[14, 2])) > 6


SCENE = """<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="1"/></integrator>
  <sensor type="perspective" id="cam"><float name="fov" value="40"/>
    <transform name="to_world"><lookat origin="0, 0, -4" target="0, 0, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="16"/><integer name="height" value="16"/></film>
  </sensor>
  <shape type="rectangle" id="bg">
    <transform name="to_world"><rotate y="1" angle="180"/><scale x="3" y="3"/><translate z="1"/></transform>
    <emitter type="area"><rgb name="radiance" value="0.2, 0.3, 0.4"/></emitter>
  </shape>
  <shape type="rectangle" id="card">
    <transform name="to_world"><rotate y="1" angle="180"/><scale x="0.5" y="0.4"/><translate x="0.2" y="0.1"/></transform>
    <emitter type="area"><rgb name="radiance" value="1, 0.8, 0.5"/></emitter>
  </shape>
</scene>"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("geo")
    (tmp_path / "scene.xml").write_text(SCENE)
    from diffrender.core import Renderer
    from diffrender.scene.loader import load_scene
    from diffrender.image import write_image

    sc = load_scene(str(tmp_path / "scene.xml"))
    write_image(tmp_path / "target.exr", Renderer(sc).render(spp=64, seed=3))
    return tmp_path


def write_cfg(d, params, **over):
    cfg = {"scene": "scene.xml", "targets": [{"image": "target.exr", "sensor": "cam"}], "parameters": params,
           "optimizer": {"type": "adam", "lr": 0.02}, "iterations": 30, "spp": 4, "spp_adjoint": 4,
           "edges": {"spp": 4}, "output": "out", "render_every": 100, "video": "none", "loss": "l2"}
    cfg.update(over)
    p = d / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def test_pose_recovery_end_to_end(workdir):
    # a decaying learning rate: at a constant lr Adam hovers ~lr around the optimum
    cfg = load_config(write_cfg(workdir, {"card.to_world": {"translate": {"init": [0.15, -0.1, 0.0], "lr": 0.02}}},
                                optimizer={"type": "adam", "lr": 0.02,
                                           "schedule": {"kind": "exponential", "gamma": 0.93}},
                                iterations=40))
    res = Run(cfg, overwrite=True).run()
    t = res["card.to_world.translate"]
    assert np.all(np.abs(t[:2]) < 0.02), t  # from 0.18 off to within 2% of the card size (1.0)


@pytest.mark.parametrize("params, msg", [
    ({"card.to_world": {"lr": 0.1}}, "a to_world parameter is optimized as a rigid pose"),
    ({"card.to_world": {"init": 1.0, "translate": {}}}, "to_world takes no init/bounds of its own"),
    ({"card.bsdf.reflectance": {"translate": {"init": 0}}},
     "translate / rotate / pivot apply to a to_world parameter only"),
    ({"card.bsdf.reflectance": {"pivot": [0, 0, 0]}}, "translate / rotate / pivot apply to a to_world parameter only"),
    ({"card.to_world": {"translate": {"axis": [0, 1, 0]}}}, "translate.axis: an axis applies to rotate only"),
    ({"card.to_world": {"rotate": {"axis": [0, 1, 0], "mask": [0, 1, 0]}}}, "give either axis"),
    ({"card.to_world": {"rotate": {"axis": [0, 0, 0]}}}, "rotate.axis must not be zero"),
    ({"card.to_world": {"rotate": {"axis": [0, 1, 0], "init": [1, 2, 3]}}}, "rotate.init must be one angle"),
    ({"card.to_world": {"pivot": "middle", "rotate": {}}}, "pivot"),
    ({"card.to_world": {"smoothing": {"method": "laplacian"}, "translate": {}}}, "smoothing applies to vertex_positions only"),
    ({"card.to_world": {"translate": {"init": [1, 2]}}}, "translate.init must be a number or 3 numbers"),
    ({"card.to_world": {"translate": {}}, "card.vertex_positions": {}},
     "a shape's to_world and vertex_positions cannot both be optimized"),
])
def test_config_errors(workdir, params, msg):
    with pytest.raises(ConfigError, match=msg) as e:
        Run(load_config(write_cfg(workdir, params)), overwrite=True)
    assert "parameters." in str(e.value) and "\n" not in str(e.value)


def test_config_pivot_axis_and_mask_make_the_pose(workdir):
    cfg = load_config(write_cfg(workdir, {"card.to_world": {
        "pivot": [0, 0, 1], "rotate": {"axis": [0, 0, 1], "init": 30},
        "translate": {"init": [0.1, 0.2, 0.3], "mask": [1, 0, 1]}}}))
    run = Problem(cfg)
    pose = next(t for t in run.transforms if isinstance(t, Pose))
    assert np.allclose(pose.c, [0, 0, 1]) and np.allclose(pose.axis, [0, 0, 1])
    assert run.init["card.to_world.rotate"].tolist() == [30.0]
    assert pose.masks["translate"].tolist() == [True, False, True]
    M = pose.scene_values(run.init)["card.to_world"]
    # the pivot (0, 0, 1) + t is where the pivot goes: the turn is about the pivot
    pivot_img = (M @ np.linalg.inv(pose.M0) @ [0, 0, 1, 1])[:3]
    assert np.allclose(pivot_img, [0.1, 0.2, 1.3])
    default = Problem(load_config(write_cfg(workdir, {"card.to_world": {"rotate": {}}})))
    c = next(t for t in default.transforms if isinstance(t, Pose)).c
    assert np.allclose(c, [0.2, 0.1, 0.0], atol=1e-6)  # the card's bounding-box centre


def test_bunny_pose_config_starts_at_the_tutorials_pose():
    """examples/bunny_pose/optimize.yaml is pose.py's task: the same start matrix."""
    import importlib.util
    from pathlib import Path
    here = Path(__file__).resolve().parents[2] / "examples" / "bunny_pose"
    spec = importlib.util.spec_from_file_location("bunny_pose", here / "pose.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    problem = Problem(load_config(str(here / "optimize.yaml")))
    pose = next(t for t in problem.transforms if isinstance(t, Pose))
    got = pose.scene_values(problem.init)[mod.SHAPE]
    assert np.allclose(got, mod.pose_matrix(pose.M0, mod.START), atol=1e-12)
    assert problem.bounds[mod.SHAPE + ".rotate"] == (-mod.ANGLE_UNIT * mod.CLIP, mod.ANGLE_UNIT * mod.CLIP)
    assert problem.lrs[mod.SHAPE + ".rotate"] == mod.ANGLE_UNIT * mod.LEARNING_RATE


def test_config_unknown_edge_key(workdir):
    with pytest.raises(ConfigError, match="edges.sppx: unknown key"):
        load_config(write_cfg(workdir, {"card.to_world": {"translate": {}}}, edges={"sppx": 3}))
