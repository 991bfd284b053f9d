"""diffrender.fmath: float64 exp/log for SPIR-V backends, run here on the CPU through the same
software path (the Vulkan run is in tests/gpu), against numpy and in both autodiff modes."""
import numpy as np
import pytest

from diffrender import engine, fmath


@pytest.fixture(scope="module")
def soft_kernels():
    engine.init("cpu")
    ti = engine.ti
    n = 64
    x = ti.field(ti.f64, shape=n, needs_grad=True, needs_dual=True)
    ye = ti.field(ti.f64, shape=n, needs_grad=True, needs_dual=True)
    yl = ti.field(ti.f64, shape=n, needs_grad=True, needs_dual=True)
    loss = ti.field(ti.f64, shape=(), needs_grad=True, needs_dual=True)

    @ti.kernel
    def run():
        for i in x:
            ye[i] = fmath.exp(x[i])
            yl[i] = fmath.log(x[i])

    @ti.kernel
    def total():
        for i in x:
            loss[None] += ye[i] + yl[i]

    # on for the whole module: the gradient kernels are compiled at their first use
    fmath.force_software(True)
    try:
        yield x, ye, yl, loss, run, total
    finally:
        fmath.force_software(False)


def test_software_exp_log_match_numpy_to_a_few_ulp(soft_kernels):
    x, ye, yl, *_ , run, _total = soft_kernels
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(-700, 700, 20), rng.uniform(-3, 3, 20),
                         [0.0, 1e-300, 5e-310, 1.0, 2.0, 0.5, 1e300, np.log(2.0) / 2, 708.0,
                          -707.5, 1 - 1e-12, 1 + 1e-12]])
    xs = np.concatenate([xs, np.ones(x.shape[0] - xs.size)])
    x.from_numpy(xs)
    run()
    e, lg = ye.to_numpy(), yl.to_numpy()
    inside = (xs >= fmath.EXP_MIN) & (xs <= fmath.EXP_MAX)
    # Taichi compiles with fast math, which may fold the two-part ln 2 of the range reduction:
    # relative error ~ |x| * 1e-16 (measured 6e-14 at |x| ~ 650); a few ulp for small |x|
    small = np.abs(xs) <= 3
    np.testing.assert_allclose(e[inside & small], np.exp(xs[inside & small]), rtol=1e-15, atol=0)
    np.testing.assert_allclose(e[inside], np.exp(xs[inside]), rtol=2e-13, atol=0)
    assert e[xs > fmath.EXP_MAX].min() == pytest.approx(np.exp(fmath.EXP_MAX), rel=2e-13)  # clamped
    pos = xs > 0
    with np.errstate(divide="ignore"):
        ref = np.log(xs[pos])
    # log near 1 is checked in absolute terms (its relative error is that of x - 1)
    np.testing.assert_allclose(lg[pos], ref, rtol=1e-15, atol=1e-15)
    assert np.isneginf(lg[xs == 0]).all()


def test_software_exp_log_differentiate_in_both_modes(soft_kernels):
    x, ye, yl, loss, run, total = soft_kernels
    ti = engine.ti
    xs = np.linspace(0.05, 5.0, x.shape[0])
    x.from_numpy(xs)
    with ti.ad.Tape(loss=loss):
        run()
        total()
    np.testing.assert_allclose(x.grad.to_numpy(), np.exp(xs) + 1.0 / xs, rtol=1e-13)
    seed = np.zeros(x.shape[0])
    seed[7] = 1.0
    with ti.ad.FwdMode(loss=ye, param=x, seed=list(seed)):
        run()
    assert ye.dual.to_numpy()[7] == pytest.approx(np.exp(xs[7]), rel=1e-13)
    assert yl.dual.to_numpy()[7] == pytest.approx(1.0 / xs[7], rel=1e-13)
