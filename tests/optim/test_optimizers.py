import numpy as np
import pytest

from diffrender.errors import ConfigError
from diffrender.optim import LBFGS, SGD, Adam, Schedule


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
