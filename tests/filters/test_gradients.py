"""Reverse-mode gradients (hand-written adjoints) against central finite differences in float64,
for the image and every continuous parameter, and against forward mode (ti.ad.FwdMode)."""
import numpy as np
import pytest

from diffrender.filters import (Bilateral, BoxBlur, ColorMatrix, Demosaic, Denoise, Exposure, Gamma,
                                GaussianBlur, Pipeline, Saturation, ToneCurve, UnsharpMask, Vignette,
                                WhiteBalance)
from tests.helpers.fd import central_difference
from tests.helpers.seeds import stable_seed

CASES = [
    ("gauss-wrap", GaussianBlur, dict(sigma=1.2, border="wrap"), 3),
    ("gauss-aniso-replicate", GaussianBlur, dict(sigma_x=0.9, sigma_y=1.6, border="replicate"), 3),
    ("gauss-constant", GaussianBlur, dict(sigma=0.7, border="constant"), 3),
    ("box-reflect", BoxBlur, dict(ksize=[3, 5], border="reflect"), 3),
    ("unsharp", UnsharpMask, dict(sigma=1.1, amount=0.7), 3),
    ("bilateral-l1", Bilateral, dict(d=5, sigma_space=1.5, sigma_range=0.3), 3),
    ("bilateral-l2-learnable-radius", Bilateral,
     dict(sigma_space=1.2, sigma_range=0.4, distance="l2", border="reflect"), 3),
    ("bilateral-gray", Bilateral, dict(d=3, sigma_space=1.0, sigma_range=0.2), 1),
    ("denoise", Denoise, dict(strength=0.6, sigma_space=1.1, sigma_range=0.5), 3),
    ("exposure", Exposure, dict(ev=0.3), 3),
    ("gamma", Gamma, dict(gamma=0.8), 3),
    ("white_balance", WhiteBalance, dict(gains=[1.1, 0.9, 1.3]), 3),
    ("color_matrix", ColorMatrix,
     dict(matrix=[[1.1, 0.1, 0], [0.05, 0.9, 0.1], [0, 0.2, 1.2]], offset=[0.01, 0.02, -0.01]), 3),
    ("saturation", Saturation, dict(saturation=1.3), 3),
    ("tone_curve", ToneCurve, dict(knots=[0.0, 0.3, 0.5, 0.8, 1.1]), 3),
    ("vignette", Vignette, dict(k1=-0.2, k2=0.1, k3=0.05), 3),
    ("demosaic-bilinear", Demosaic, dict(pattern="GRBG"), 1),
    ("demosaic-learnable", Demosaic, dict(pattern="RGGB", method="learnable"), 1),
]
EPS = 1e-6
TOL = 1e-6  # relative to max(1, |fd|); float64 FD error here is ~1e-9


def _fd_param(p, x, d, n):
    """Central difference of <d, p(x)> with respect to the pipeline parameter ``n``."""
    v0 = p.get(n)

    def f(v):
        p.set(n, float(v))
        return float((p(x) * d).sum())

    out = central_difference(f, v0, eps=EPS)
    p.set(n, v0)
    return float(out)


@pytest.mark.parametrize("label,cls,kw,c", CASES, ids=[c[0] for c in CASES])
def test_gradients_fd_and_forward_mode(label, cls, kw, c):
    rng = np.random.default_rng(stable_seed(label))
    stage = cls(dtype="float64", dual=True, **kw)
    p = Pipeline([stage], dtype="float64", dual=True)
    x = rng.random((9, 11, c)) * 1.2 - 0.05
    if cls is Gamma:
        x = np.abs(x) + 0.05
    out = p(x)
    d = rng.standard_normal(out.shape)
    gi, gp = p.vjp(x, d, wrt="all")
    assert gi.shape == x.shape
    f = lambda im: float((p(im) * d).sum())  # noqa: E731
    # image: corners, borders, interior
    for (yy, xx, ch) in [(0, 0, 0), (4, 5, c - 1), (8, 10, 0), (1, 9, c - 1), (8, 0, 0)]:
        e = np.zeros_like(x)
        e[yy, xx, ch] = EPS
        fd = (f(x + e) - f(x - e)) / (2 * EPS)
        assert abs(fd - gi[yy, xx, ch]) < TOL * max(1.0, abs(fd)), (yy, xx, ch, fd, gi[yy, xx, ch])
    names = p.param_names()
    check = names if len(names) <= 20 else names[::17]  # learnable demosaic: a sample of its 300
    for n in check:
        fd = _fd_param(p, x, d, n)
        assert abs(fd - gp[n]) < TOL * max(1.0, abs(fd)), (n, fd, gp[n])
    # forward mode: <J e_k, d> == reverse-mode gradient, and <J_x v, d> == <v, J_x^T d>
    if check:
        _, J = p.jacobian(x, check)
        for k, n in enumerate(check):
            assert abs(float((J[k] * d).sum()) - gp[n]) < 1e-9 * max(1.0, abs(gp[n]))
    v = rng.standard_normal(x.shape)
    jv = p.jvp_image(x, v)
    assert abs(float((jv * d).sum()) - float((gi * v).sum())) < 1e-9 * max(1.0, abs(float((gi * v).sum())))


def test_pipeline_chain_gradients():
    """A four-stage chain (the tuning example) differentiated end to end."""
    rng = np.random.default_rng(5)
    cfg = {"stages": [
        {"name": "blur", "type": "gaussian_blur", "sigma": {"value": 1.3, "learnable": True}},
        {"name": "gamma", "type": "gamma", "gamma": {"value": 0.8, "learnable": True}},
        {"name": "color", "type": "color_matrix",
         "matrix": {"value": [[1.1, 0.1, 0], [0.05, 0.9, 0.1], [0, 0.2, 1.2]], "learnable": True}},
        {"name": "sharpen", "type": "unsharp_mask", "sigma": 1.0, "amount": {"value": 0.6, "learnable": True}},
        {"name": "vig", "type": "vignette", "k1": {"value": -0.2, "learnable": True}},
    ]}
    p = Pipeline.from_config(cfg, dtype="float64", dual=True)
    x = rng.random((12, 10, 3)) + 0.05
    d = rng.standard_normal((12, 10, 3))
    gi, gp = p.vjp(x, d)
    assert list(gp) == p.learnable_names()
    for n in p.learnable_names():
        fd = _fd_param(p, x, d, n)
        assert abs(fd - gp[n]) < TOL * max(1.0, abs(fd)), n
    f = lambda im: float((p(im) * d).sum())  # noqa: E731
    for (yy, xx, ch) in [(0, 0, 0), (6, 4, 2), (11, 9, 1)]:
        e = np.zeros_like(x)
        e[yy, xx, ch] = EPS
        fd = (f(x + e) - f(x - e)) / (2 * EPS)
        assert abs(fd - gi[yy, xx, ch]) < TOL * max(1.0, abs(fd))
    _, J = p.jacobian(x)
    for k, n in enumerate(p.learnable_names()):
        assert abs(float((J[k] * d).sum()) - gp[n]) < 1e-9 * max(1.0, abs(gp[n]))


def test_vjp_wrt_options():
    p = Pipeline([GaussianBlur(sigma=1.0, border="wrap", dtype="float64")], dtype="float64")
    x = np.random.default_rng(0).random((8, 8, 3))
    gi, gp = p.vjp(x, np.ones_like(x), wrt="none")
    assert gp == {}
    # with wrap the blur is circulant: the adjoint of the all-ones direction is all ones
    np.testing.assert_allclose(gi, 1.0, atol=1e-12)
    _, gp = p.vjp(x, np.ones_like(x), wrt="all")
    assert set(gp) == {"gaussian_blur.sigma"} and abs(gp["gaussian_blur.sigma"]) < 1e-9
