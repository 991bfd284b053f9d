"""Per-view camera-pipeline stages (``filters_per_view``): each target has its own exposure."""
import json

import numpy as np
import pytest
import yaml

import diffrender as dr
from diffrender.errors import ConfigError
from diffrender.inverse import load_config, parse_config
from diffrender.inverse.run import Run, Views, _seed
from diffrender.optim.losses import get_loss
from tests.inverse.test_run import SCENE

TRUE_EV = (0.5, -1.0)   # stops: the two photos differ by 1.5 stops
PIPE = [{"name": "exposure", "type": "exposure", "ev": {"value": 0.0, "learnable": True, "bounds": [-4, 4]}},
        {"name": "wb", "type": "white_balance", "gains": [1.0, 1.0, 1.0]}]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("perview")
    (d / "scene.xml").write_text(SCENE)
    img = dr.render(dr.load_scene(str(d / "scene.xml")), spp=256, seed=3)
    for i, ev in enumerate(TRUE_EV):
        dr.write_image(d / f"view{i}.exr", img * np.float32(2.0 ** ev))
    return d


def config(d, name, **over):
    cfg = {"scene": "scene.xml", "targets": ["view0.exr", "view1.exr"], "filters": PIPE,
           "filters_per_view": ["exposure"], "parameters": {"filters.exposure.ev": {"lr": 0.1}},
           "iterations": 60, "spp": 16, "spp_adjoint": 4, "output": name, "render_every": 100,
           "video": "none"}
    cfg.update(over)
    p = d / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def test_per_view_exposure_gradient_matches_finite_differences(workdir):
    """d loss / d ev_k of the summed two-view loss (run.evaluate) against central differences of
    the crossed l2 loss of the render's two halves (common random numbers), for each view's
    entry; a view's entry only moves its own term."""
    run = Run(load_config(config(workdir, "fd", parameters={"filters.exposure.ev": {"init": [0.2, -0.3]}})))
    renderer = Views(run.problem)

    vals = {k: np.array(v, np.float64) for k, v in run.problem.init.items()}
    assert vals["filters.exposure.ev"].shape == (2,)
    _, grads, _ = run.evaluate(renderer, vals, 7)
    p = run.problem
    halves = []
    for k, tg in enumerate(p.targets):   # the two independent halves each target render is made of
        with renderer.renderer(tg.sensor) as r:
            halves.append(Views._render_halves(r, 16, _seed(0, 7, 2 * k), None)[:2])

    def cross_loss(v):
        """The l2 loss with the residuals of the two halves multiplied: its expectation is the
        loss of the noise-free render, and its derivative is the crossed filter gradient."""
        total = 0.0
        for k, tg in enumerate(p.targets):
            p.set_filters(v, k)
            a, b = (p.pipeline(h) - tg.image for h in halves[k])
            total += float(np.mean(a.astype(np.float64) * b))
        return total

    eps = 1e-3
    for k in range(2):
        vp = {n: v.copy() for n, v in vals.items()}
        vm = {n: v.copy() for n, v in vals.items()}
        vp["filters.exposure.ev"][k] += eps
        vm["filters.exposure.ev"][k] -= eps
        fd = (cross_loss(vp) - cross_loss(vm)) / (2 * eps)
        assert grads["filters.exposure.ev"][k] == pytest.approx(fd, rel=1e-3), k
    # at ev = 0.2 view 0 is too dark (pull up), at -0.3 view 1 too bright (pull down)
    assert grads["filters.exposure.ev"][0] < 0 < grads["filters.exposure.ev"][1]
    run.release()


def test_two_views_recover_their_exposures(workdir):
    params = Run(load_config(config(workdir, "fit", iterations=120, average_from=80))).run()
    np.testing.assert_allclose(params["filters.exposure.ev"], TRUE_EV, atol=0.03)
    views = json.loads((workdir / "fit" / "views.json").read_text())
    assert [v["image"] for v in views] == ["view0.exr", "view1.exr"]
    assert [v["filters"]["exposure.ev"] for v in views] == pytest.approx(list(params["filters.exposure.ev"]))
    ck = json.loads((workdir / "fit" / "checkpoint.json").read_text())
    assert len(ck["optimizer"]["params"]["filters.exposure.ev"]) == 2
    header = (workdir / "fit" / "trajectory.csv").read_text().splitlines()[0]
    assert "filters.exposure.ev[0]" in header and "filters.exposure.ev[1]" in header


def test_resume_keeps_per_view_values(workdir):
    full = Run(load_config(config(workdir, "whole", iterations=12))).run()
    run = Run(load_config(config(workdir, "parts", iterations=12)))
    with pytest.raises(KeyboardInterrupt):
        run.run(stop_after=5)
    resumed = Run(load_config(config(workdir, "parts", iterations=12)), resume=True).run()
    np.testing.assert_allclose(resumed["filters.exposure.ev"], full["filters.exposure.ev"], rtol=1e-12)


def test_reference_view_stays_at_its_initial_value(workdir):
    params = Run(load_config(config(workdir, "ref", iterations=20, filters_reference_view=1,
                                    parameters={"filters.exposure.ev": {"init": [0.0, -0.8], "lr": 0.1}}))).run()
    ev = params["filters.exposure.ev"]
    assert ev[1] == -0.8 and ev[0] > 0.3   # view 0 moves toward its 0.5


@pytest.mark.parametrize("over, message", [
    ({"filters_reference_view": 0, "filters_per_view": []}, "filters_reference_view: needs filters_per_view"),
    ({"filters_per_view": ["exposur"]},
     "filters_per_view[0]: no stage named 'exposur' in filters (did you mean 'exposure'?) (stages: exposure, wb)"),
    ({"filters_per_view": ["exposure", "exposure"]}, "filters_per_view[1]: stage 'exposure' is listed twice"),
    ({"filters": None}, "filters_per_view: needs a filter pipeline (the 'filters' key)"),
    ({"filters_per_view": "exposure"}, "filters_per_view: input should be a valid list"),
])
def test_config_errors(over, message):
    cfg = {"scene": "s.xml", "targets": ["t.exr"], "filters": PIPE, "filters_per_view": ["exposure"],
           "parameters": {"filters.exposure.ev": {}}}
    cfg.update(over)
    with pytest.raises(ConfigError) as e:
        parse_config(cfg, where="c.yaml")
    assert str(e.value) == f"c.yaml: {message}"


@pytest.mark.parametrize("over, message", [
    ({"filters_per_view": ["wb"]}, "filters_per_view[0]: stage 'wb' has no learnable parameter"),
    ({"filters_reference_view": 2}, "filters_reference_view: view 2 does not exist (there are 2 targets)"),
    ({"parameters": {"filters.exposure.ev": {"init": [0, 1, 2]}}},
     "parameters.filters.exposure.ev.init: expected a number or 2 numbers (one per view), got shape (3,)"),
])
def test_problem_errors(workdir, over, message):
    path = config(workdir, "bad", **over)
    with pytest.raises(ConfigError) as e:
        Run(load_config(path))
    assert str(e.value) == f"{path}: {message}"


def test_exposure_gradient_is_unbiased_at_the_truth(workdir):
    """At the true exposures, the mean of the exposure gradient over independent seeds is zero
    within its error (2 spp: very noisy renders). With the loss's residual and the stage's
    derivative taken from the same samples, the mean is the render's variance and pushes every
    view darker: that estimator, computed here as a contrast, is far from zero."""
    run = Run(load_config(config(workdir, "unbiased", spp=2, parameters={
        "filters.exposure.ev": {"init": list(TRUE_EV)}})))
    views = Views(run.problem)
    p = run.problem
    vals = {k: np.array(v, np.float64) for k, v in p.init.items()}
    crossed, same = [], []
    for it in range(40):
        crossed.append(run.evaluate(views, vals, it)[1]["filters.exposure.ev"][1])
        tg = p.targets[1]
        with views.renderer(tg.sensor) as r:
            img = r.render(spp=2, seed=_seed(0, it, 2))
        p.set_filters(vals, 1)
        _, d = get_loss("l2")(p.pipeline(img), tg.image)
        same.append(p.pipeline.vjp(img, d)[1]["exposure.ev"])
    crossed, same = np.array(crossed), np.array(same)
    sem = lambda x: x.std(ddof=1) / np.sqrt(len(x))
    assert abs(crossed.mean()) < 3 * sem(crossed), (crossed.mean(), sem(crossed))
    assert same.mean() > 10 * sem(same), (same.mean(), sem(same))
    run.release()


def test_views_per_step_evaluates_the_targets_in_turn(workdir):
    """``views_per_step: 1``: iteration i renders target i mod 2 only, with the seeds that
    target has in an all-targets iteration i: the loss and the gradient are that target's part
    of the full evaluation, and the other view's own exposure gets no gradient."""
    init = {"filters.exposure.ev": {"init": [0.2, -0.3]}}
    turn = Run(load_config(config(workdir, "turn", views_per_step=1, parameters=init)))
    full = Run(load_config(config(workdir, "full", parameters=init)))
    assert [turn.step_views(i) for i in range(3)] == [[0], [1], [0]]
    assert full.step_views(1) is None
    views = Views(turn.problem)
    vals = {k: np.array(v, np.float64) for k, v in turn.problem.init.items()}
    parts = views.evaluate(vals, 1)                  # every target at iteration 1
    loss, grads, images = turn.evaluate(views, vals, 1)
    assert loss == parts[1].loss and len(images) == 1
    np.testing.assert_array_equal(images[0], parts[1].image)
    g = grads["filters.exposure.ev"]
    assert g[0] == 0.0 and g[1] == parts[1].filter_grads["filters.exposure.ev"] != 0.0
    loss_all, grads_all, _ = full.evaluate(views, vals, 1)
    assert loss_all == pytest.approx(parts[0].loss + parts[1].loss, rel=1e-12)
    assert grads_all["filters.exposure.ev"][1] == g[1]
    turn.release()
    full.release()


def test_views_per_step_recovers_both_exposures(workdir):
    params = Run(load_config(config(workdir, "turns", views_per_step=1, iterations=240,
                                    average_from=160))).run()
    np.testing.assert_allclose(params["filters.exposure.ev"], TRUE_EV, atol=0.03)


def test_views_per_step_errors(workdir):
    with pytest.raises(ConfigError) as e:
        parse_config({"scene": "s.xml", "targets": ["t.exr"], "parameters": {"a.b": {}},
                      "views_per_step": 1, "optimizer": {"type": "lbfgs"}}, where="c.yaml")
    assert str(e.value) == ("c.yaml: views_per_step: L-BFGS needs the same loss in every step "
                            "(every target); use adam, uniform_adam or sgd")
    with pytest.raises(ConfigError) as e:
        parse_config({"scene": "s.xml", "targets": ["t.exr"], "parameters": {"a.b": {}},
                      "views_per_step": 0}, where="c.yaml")
    assert str(e.value) == "c.yaml: views_per_step: input should be greater than or equal to 1"
