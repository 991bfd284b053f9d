"""The silhouette loss: the render's coverage (alpha) against a target mask, differentiated
through primary edges (diffrender/inverse/silhouette.py)."""
import numpy as np
import pytest
import yaml

import diffrender as dr
from diffrender.errors import ConfigError
from diffrender.inverse import load_config
from diffrender.inverse.run import SILHOUETTE_STREAM, Run, Views, _seed
from diffrender.inverse.silhouette import Silhouette
from diffrender.optim.losses import silhouette as silhouette_loss
from tests.inverse.test_run import SCENE as _SCENE

# the board's vertical edges sit at 9.3 and 15.7 pixels, away from pixel boundaries, where the
# box-filtered coverage (and so the loss) has kinks that finite differences would straddle
SCENE = _SCENE.replace('<shape type="rectangle" id="board">',
                       '<shape type="rectangle" id="board"><transform name="to_world"><scale value="0.5"/>'
                       '<translate x="0.1"/></transform>')
LAMP = SCENE[SCENE.index('  <shape type="rectangle" id="lamp">'):SCENE.index("  <default")]
BOARD_ONLY = SCENE.replace(LAMP, "")   # the alpha AOV is then the board's coverage
YY, XX = np.mgrid[0:12, 0:16]
MASK = ((XX - 7) ** 2 / 30 + (YY - 6) ** 2 / 12 < 1).astype(np.float64)   # an ellipse


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("sil")
    (d / "scene.xml").write_text(SCENE)
    (d / "board.xml").write_text(BOARD_ONLY)
    return d, dr.load_scene(str(d / "board.xml"))


def test_silhouette_render_is_the_alpha_aov(scene):
    from diffrender.core import Renderer

    d, sc = scene
    alpha = Renderer(sc).render(spp=16, seed=3, aovs=("alpha",))["alpha"][..., 0]
    sil = Silhouette(sc).alpha(0, 16, 3)
    assert 0 < alpha.mean() < 1
    np.testing.assert_allclose(sil, alpha, atol=1e-6)
    # silhouette_shapes: in the scene with the lamp, the board's coverage is still the board's
    # alone, while the alpha AOV also covers the lamp
    full = dr.load_scene(str(d / "scene.xml"))
    both = Renderer(full).render(spp=16, seed=3, aovs=("alpha",))["alpha"][..., 0]
    assert both.sum() > alpha.sum() + 1
    np.testing.assert_allclose(Silhouette(full, ["board"]).alpha(0, 16, 3), alpha, atol=1e-6)


def test_gradient_wrt_translation_matches_finite_differences(scene):
    """d silhouette_loss / d translation of the board (edge sampling on the silhouette render)
    against central differences of the loss of the renderer's own alpha AOV (16384 spp, common
    random numbers), within 10%."""
    from diffrender.core import Renderer

    _, sc = scene
    sil = Silhouette(sc)
    _, d_alpha = silhouette_loss(sil.alpha(0, 64, 3), MASK)
    g = sil.vjp(0, d_alpha, ["board.to_world"], spp=4, seed=4, edges=dict(spp=256))["board.to_world"]
    r = Renderer(sc)
    p = sc.parameters()
    M0 = p["board.to_world"].copy()
    eps = 0.01   # scene units: 0.06 pixel
    for axis in (0, 1):
        vals = []
        for sg in (1, -1):
            M = M0.copy()
            M[axis, 3] += sg * eps
            p["board.to_world"] = M
            vals.append(silhouette_loss(r.render(spp=16384, seed=11, aovs=("alpha",))["alpha"][..., 0], MASK)[0])
        p["board.to_world"] = M0
        fd = (vals[0] - vals[1]) / (2 * eps)
        assert abs(fd) > 0.05
        assert g[axis, 3] == pytest.approx(fd, rel=0.1), axis


def write_config(d, name, **over):
    cfg = {"scene": "scene.xml", "targets": [{"image": "target.exr", "mask": "mask.png"}],
           "parameters": {"board.to_world": {"translate": {"lr": 0.02}}}, "silhouette_weight": 1.0,
           "iterations": 2, "spp": 4, "spp_adjoint": 4, "output": name, "video": "none"}
    cfg.update(over)
    p = d / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def test_run_adds_the_weighted_silhouette_term(scene):
    """In `optimize` the silhouette term is silhouette_weight x the loss, and its gradient flows
    through the pose: evaluate() with weight 2 minus weight 1 is one silhouette term."""
    d, sc = scene
    dr.write_image(d / "target.exr", np.zeros((12, 16, 3), np.float32))
    dr.write_image(d / "mask.png", np.repeat(MASK[:, :, None], 3, axis=2).astype(np.float32))
    runs = [Run(load_config(write_config(d, f"w{w}", silhouette_weight=w, max_depth=1,
                                         edges={"secondary": False}))) for w in (1.0, 2.0)]
    out = []
    for run in runs:
        vals = {k: np.array(v) for k, v in run.problem.init.items()}
        out.append(run.evaluate(Views(run.problem), vals, 0))
        run.release()
    (l1, g1, _), (l2, g2, _) = out
    mask = runs[0].problem.targets[0].mask
    np.testing.assert_array_equal(mask, MASK)
    alpha = runs[0].problem.silhouette.alpha(0, 4, _seed(0, 0, 0) ^ SILHOUETTE_STREAM)
    assert 0 < alpha.mean() < 1
    assert l2 - l1 == pytest.approx(silhouette_loss(alpha, MASK)[0], rel=1e-9)
    name = "board.to_world.translate"
    assert np.linalg.norm(g2[name] - g1[name]) > 1e-3


def test_config_errors(scene):
    d, _ = scene
    dr.write_image(d / "target.exr", np.zeros((12, 16, 3), np.float32))
    p = write_config(d, "nomask", targets=["target.exr"])
    with pytest.raises(ConfigError) as e:
        Run(load_config(p))
    assert str(e.value) == (f"{p}: silhouette_weight: target 0 ('target.exr') has no mask for the "
                            "silhouette loss (give it an alpha channel, 'mask:', or the dataset's masks)")
    dr.write_image(d / "mask.png", np.ones((12, 16, 3), np.float32))
    p = write_config(d, "nogeo", parameters={"paint.reflectance": {}})
    with pytest.raises(ConfigError) as e:
        Run(load_config(p))
    assert str(e.value) == (f"{p}: silhouette_weight: the silhouette loss needs a parameter that moves "
                            "geometry or a camera (to_world, vertex_positions, fov)")
    p = write_config(d, "noshape", silhouette_shapes=["board", "bord"])
    with pytest.raises(ConfigError) as e:
        Run(load_config(p))
    assert str(e.value) == f"{p}: silhouette_shapes[1]: no shape named 'bord' (shapes: board, lamp)"
    with pytest.raises(ConfigError, match="silhouette_weight: input should be greater than or equal to 0"):
        load_config(write_config(d, "neg", silhouette_weight=-1))
