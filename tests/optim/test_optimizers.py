import numpy as np
import pytest

from diffrender.errors import ConfigError
from diffrender.inverse.config import parse_config
from diffrender.optim import LBFGS, SGD, Adam, LevenbergMarquardt, Schedule, UniformAdam, minimize


def quad(p, target):
    d = p["x"] - target
    return float(d @ d), {"x": 2 * d}


@pytest.mark.parametrize("cls,kw", [(Adam, {"lr": 0.05}), (SGD, {"lr": 0.1, "momentum": 0.5})])
def test_first_order_converges_and_respects_bounds(cls, kw):
    target = np.array([0.3, 2.0, -1.0])
    opt = cls({"x": np.zeros(3)}, bounds={"x": (0.0, 1.0)}, **kw)
    for _ in range(400):
        _, g = quad(opt.params, target)
        opt.step(g)
    # the constrained minimiser is the target clipped to the box
    np.testing.assert_allclose(opt.params["x"], [0.3, 1.0, 0.0], atol=2e-3)


def test_adam_resume_is_bit_identical():
    target = np.array([0.7, -0.2])
    a = Adam({"x": np.zeros(2)}, lr=0.05, schedule=Schedule("step", gamma=0.5, step_size=7))
    for _ in range(10):
        a.step(quad(a.params, target)[1])
    state = a.state_dict()
    for _ in range(10):
        a.step(quad(a.params, target)[1])
    b = Adam({"x": np.ones(2)}, lr=0.05, schedule=Schedule("step", gamma=0.5, step_size=7))
    b.load_state_dict(state)
    for _ in range(10):
        b.step(quad(b.params, target)[1])
    np.testing.assert_array_equal(a.params["x"], b.params["x"])


def test_uniform_adam_update_rule_by_hand():
    """Two steps of UniformAdam computed by hand: per-element moments, one normaliser per
    parameter (the largest bias-corrected second moment), per-parameter learning rates."""
    b1, b2, eps = 0.9, 0.99, 1e-8
    opt = UniformAdam({"a": np.array([1.0, 2.0, 3.0]), "b": np.array([[0.5]])}, lr={"a": 0.1, "b": 0.2},
                      beta1=b1, beta2=b2, eps=eps)
    g1 = {"a": np.array([1.0, -2.0, 0.5]), "b": np.array([[4.0]])}
    g2 = {"a": np.array([3.0, 1.0, -1.0]), "b": np.array([[-2.0]])}
    opt.step(g1)
    # step 1: m_hat = g, v_hat = g^2; a's normaliser is max|g| = 2, b's is 4
    np.testing.assert_allclose(opt.params["a"], [1.0, 2.0, 3.0] - 0.1 * g1["a"] / (2 + eps), rtol=1e-12)
    np.testing.assert_allclose(opt.params["b"], [[0.5 - 0.2 * 4.0 / (4 + eps)]], rtol=1e-12)
    a1 = opt.params["a"].copy()
    opt.step(g2)
    # step 2, element 0 of a: m = 0.9*0.1*1 + 0.1*3 = 0.39 (m_hat = 0.39 / 0.19); the second
    # moments v = 0.99*0.01*g1^2 + 0.01*g2^2 = (0.0999, 0.0496, 0.012475), largest 0.0999 (element 0)
    m_hat = np.array([0.09 * 1.0 + 0.1 * 3.0, 0.09 * -2.0 + 0.1 * 1.0, 0.09 * 0.5 + 0.1 * -1.0]) / (1 - b1 ** 2)
    v_max = (0.0099 * 1.0 + 0.01 * 9.0) / (1 - b2 ** 2)
    np.testing.assert_allclose(opt.params["a"], a1 - 0.1 * m_hat / (np.sqrt(v_max) + eps), rtol=1e-12)
    # the elements' steps are proportional to their first moments (plain Adam's are not)
    plain = Adam({"a": np.array([1.0, 2.0, 3.0])}, lr=0.1, beta1=b1, beta2=b2, eps=eps)
    plain.step({"a": g1["a"]})
    assert not np.allclose(plain.params["a"], [0.95, 2.1, 2.975])


def test_uniform_adam_in_optimize_configs_and_minimize():
    cfg = parse_config({"scene": "s.xml", "parameters": {"x.reflectance": {"lr": 0.1}},
                        "targets": [{"image": "t.exr"}], "optimizer": {"type": "uniform_adam", "lr": 0.1}})
    assert cfg.optimizer.type == "uniform_adam"
    x, _ = minimize(np.full(3, 0.5), "uniform_adam", loss_grad=_least_squares([0.3, 0.6, 0.2])[2], lr=0.01,
                    iters=3000, bounds=(np.zeros(3), np.ones(3)))
    np.testing.assert_allclose(x, [0.3, 0.6, 0.2], atol=2e-3)


def test_lbfgs_rosenbrock():
    def rosen(p):
        x, y = p["v"]
        f = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        g = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
        return f, {"v": g}

    opt = LBFGS({"v": np.array([-1.2, 1.0])})
    for _ in range(100):
        opt.step(rosen)
    np.testing.assert_allclose(opt.params["v"], [1.0, 1.0], atol=1e-4)


def test_lbfgs_bounds():
    opt = LBFGS({"x": np.zeros(3)}, bounds={"x": (0.0, 1.0)})
    for _ in range(30):
        opt.step(lambda p: quad(p, np.array([0.3, 2.0, -1.0])))
    np.testing.assert_allclose(opt.params["x"], [0.3, 1.0, 0.0], atol=1e-6)


def test_schedules():
    assert Schedule("step", gamma=0.1, step_size=10).factor(25) == pytest.approx(0.01)
    assert Schedule("exponential", gamma=0.5).factor(3) == pytest.approx(0.125)
    c = Schedule("cosine", total=10, min_factor=0.1)
    assert c.factor(0) == pytest.approx(1.0) and c.factor(10) == pytest.approx(0.1)
    assert c.factor(5) == pytest.approx(0.55)
    with pytest.raises(ConfigError, match="unknown schedule 'linear'"):
        Schedule("linear")


def test_bad_learning_rates():
    with pytest.raises(ConfigError, match="no learning rate for parameter\\(s\\) b"):
        Adam({"a": 1.0, "b": 2.0}, lr={"a": 0.1})
    with pytest.raises(ConfigError, match="learning rate of 'a' must be positive, got -0.1"):
        SGD({"a": 1.0}, lr=-0.1)


def _least_squares(free):
    """Residuals A x - b whose unconstrained minimiser is ``free``."""
    A = np.array([[2.0, 0.3, 0.0], [0.1, 1.5, 0.2], [0.0, 0.4, 1.0], [0.5, 0.0, 0.3]])
    b = A @ np.asarray(free, np.float64)

    def residuals(x):
        return A @ x - b, A

    def loss(x):
        r = A @ x - b
        return float(r @ r)

    def loss_grad(x):
        r = A @ x - b
        return float(r @ r), 2 * A.T @ r

    return residuals, loss, loss_grad


FIRST_ORDER = {"adam": {"lr": 0.02}, "sgd": {"lr": 0.05}}


@pytest.mark.parametrize("method", ["lbfgs-b", "lbfgs", "lm", "adam", "sgd"])
def test_minimize_every_method_reaches_an_interior_minimiser(method):
    free = np.array([0.3, 0.6, 0.2])
    residuals, loss, loss_grad = _least_squares(free)
    seen = []
    x, f = minimize(np.full(3, 0.5), method, loss_grad=loss_grad, residuals=residuals, loss=loss,
                    bounds=(np.zeros(3), np.ones(3)), iters=2000 if method in FIRST_ORDER else 100,
                    callback=lambda it, fl, xx: seen.append(it), **FIRST_ORDER.get(method, {}))
    np.testing.assert_allclose(x, free, atol=2e-3 if method in FIRST_ORDER else 1e-6)
    if method not in FIRST_ORDER:  # first-order methods report the loss before their last step
        assert f == pytest.approx(loss(x), abs=1e-12)
    assert seen and seen == list(range(1, len(seen) + 1))


@pytest.mark.parametrize("method", ["lbfgs-b", "adam", "sgd"])
def test_minimize_respects_bounds_at_the_constrained_minimiser(method):
    from scipy.optimize import lsq_linear

    residuals, loss, loss_grad = _least_squares([0.3, 1.6, -0.8])
    A, r0 = residuals(np.zeros(3))[1], residuals(np.zeros(3))[0]
    ref = lsq_linear(A, -r0, bounds=(0, 1)).x  # the box-constrained least-squares solution
    assert ref[1] == pytest.approx(1.0) and ref[2] == pytest.approx(0.0, abs=1e-12)
    x, _ = minimize(np.full(3, 0.5), method, loss_grad=loss_grad, bounds=(np.zeros(3), np.ones(3)),
                    iters=2000 if method in FIRST_ORDER else 100, **FIRST_ORDER.get(method, {}))
    assert np.all((x >= 0) & (x <= 1))
    np.testing.assert_allclose(x, ref, atol=2e-3 if method in FIRST_ORDER else 1e-6)


def test_levenberg_marquardt_stops_when_nothing_improves():
    residuals, loss, _ = _least_squares([0.3, 0.6, 0.2])
    opt = LevenbergMarquardt(np.full(3, 0.5), (np.zeros(3), np.ones(3)))
    for _ in range(200):
        opt.step(residuals, loss)
        if opt.converged:
            break
    assert opt.converged
    np.testing.assert_allclose(opt.x, [0.3, 0.6, 0.2], atol=1e-8)
    assert opt.loss == pytest.approx(loss(opt.x))


def test_minimize_rejects_unknown_methods_and_missing_rates():
    _, _, loss_grad = _least_squares([0.3, 0.6, 0.2])
    with pytest.raises(ConfigError, match="unknown method 'newton'"):
        minimize(np.zeros(3), "newton", loss_grad=loss_grad)
    with pytest.raises(ConfigError, match="method 'adam' needs a learning rate"):
        minimize(np.zeros(3), "adam", loss_grad=loss_grad)
