"""A filter pipeline after the renderer inside `optimize`: the adjoint flows from the loss through
the filters into the render, and the filters' learnable parameters are optimized with the scene's."""
import numpy as np
import pytest
import yaml

import diffrender as dr
from diffrender.errors import ConfigError
from diffrender.filters import Pipeline
from diffrender.inverse import load_config
from diffrender.inverse.run import Run
from tests.inverse.test_run import SCENE as _SCENE

# a directly visible patch of known radiance (like a grey card in a photo) pins the tone curve;
# without it, albedo and gamma trade off along a valley of near-equal loss
SCENE = _SCENE.replace("</scene>", """  <shape type="rectangle" id="card">
    <transform name="to_world"><scale value="0.45"/><translate x="-0.6" y="-0.4" z="0.5"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0"/></bsdf>
    <emitter type="area"><rgb name="radiance" value="0.25, 0.5, 0.75"/></emitter>
  </shape>
</scene>""")

PIPE = {"stages": [{"name": "wb", "type": "white_balance", "gains": [1.0, 1.0, 1.0]},
                   {"name": "curve", "type": "gamma", "gamma": {"value": 1.0, "learnable": True, "bounds": [0.3, 3.0]}}]}
TRUE_GAMMA = 0.8
TRUE_ALBEDO = np.array([0.7, 0.4, 0.2])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("optf")
    (d / "scene.xml").write_text(SCENE)
    scene = dr.load_scene(str(d / "scene.xml"))
    true_pipe = {"stages": [PIPE["stages"][0], {"name": "curve", "type": "gamma", "gamma": TRUE_GAMMA}]}
    target = Pipeline.from_config(true_pipe)(dr.render(scene, spp=256, seed=5))
    dr.write_image(d / "target.exr", target)
    (d / "pipe.yaml").write_text(yaml.safe_dump(PIPE))
    return d


def config(d, name, **over):
    cfg = {"scene": "scene.xml", "defines": {"albedo": "0.3, 0.3, 0.3"}, "targets": ["target.exr"],
           "parameters": {"paint.reflectance": {"lr": 0.04}, "filters.curve.gamma": {"lr": 0.04}},
           "filters": "pipe.yaml", "iterations": 150, "spp": 64, "spp_adjoint": 8, "output": name,
           "render_every": 100, "video": "none"}
    cfg.update(over)
    p = d / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def test_gradient_through_filters_matches_finite_differences(workdir):
    """loss(pipeline(render(theta))): the adjoint through the pipeline (Pipeline.vjp) into the
    render (Renderer.vjp) against central differences with common random numbers (the same seed
    for the render, its finite differences and the replay), so the match is exact up to float32."""
    from diffrender.core import Renderer

    run = Run(load_config(config(workdir, "fd")))
    pipe, target = run.problem.pipeline, run.problem.targets[0].image
    r = Renderer(run.problem.scene)
    vals = {k: np.array(v, np.float64) for k, v in run.problem.init.items()}
    from diffrender.optim import get_loss

    loss_fn = get_loss("l2")
    SPP, SEED = 4, 77

    def loss_at(vv):
        run._apply(vv)
        return loss_fn(pipe(r.render(spp=SPP, seed=SEED)), target)[0]

    run._apply(vals)
    img = r.render(spp=SPP, seed=SEED)
    _, adj = loss_fn(pipe(img), target)
    d_img, pgrads = pipe.vjp(img, adj)
    g_albedo = r.vjp(d_img, ["paint.reflectance"], spp=SPP, seed=SEED)["paint.reflectance"]
    for name, analytic in (("filters.curve.gamma", pgrads["curve.gamma"]), ("paint.reflectance", g_albedo[0])):
        eps = 1e-3
        vp = {k: v.copy() for k, v in vals.items()}
        vm = {k: v.copy() for k, v in vals.items()}
        if vals[name].ndim == 0:
            vp[name] = vals[name] + eps
            vm[name] = vals[name] - eps
        else:
            vp[name][0] += eps
            vm[name][0] -= eps
        fd = (loss_at(vp) - loss_at(vm)) / (2 * eps)
        assert float(analytic) == pytest.approx(fd, rel=2e-2), name
    run._apply(vals)


def test_recovers_albedo_and_gamma_together(workdir):
    params = Run(load_config(config(workdir, "joint", optimizer={"type": "lbfgs"}, iterations=25,
                                    spp=64, spp_adjoint=64))).run()
    assert float(params["filters.curve.gamma"]) == pytest.approx(TRUE_GAMMA, abs=0.03)
    np.testing.assert_allclose(params["paint.reflectance"], TRUE_ALBEDO, atol=0.04)
    saved = yaml.safe_load((workdir / "joint" / "pipeline_optimized.yaml").read_text())
    assert saved["stages"][1]["gamma"]["value"] == pytest.approx(float(params["filters.curve.gamma"]))


def test_unknown_filter_parameter(workdir):
    path = config(workdir, "bad", parameters={"filters.wb.gains": {"lr": 0.1}})
    with pytest.raises(ConfigError) as e:
        Run(load_config(path))
    assert str(e.value) == (f"{path}: parameters.filters.wb.gains: 'filters.wb.gains' is not a learnable "
                            "parameter of the filter pipeline (learnable: filters.curve.gamma)")
