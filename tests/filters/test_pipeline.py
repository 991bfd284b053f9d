"""Pipeline files, stable parameter names, crops with exact margins, and error messages."""
import json

import numpy as np
import pytest

from diffrender.errors import ConfigError, ImageError
from diffrender.filters import Pipeline

YAML = """
stages:
  - name: blur
    type: gaussian_blur
    sigma: {value: 1.5, learnable: true, bounds: [0.5, 3]}
  - {name: wb, type: white_balance, gains: {value: [1.1, 1.0, 0.9], learnable: true, bounds: [0.5, 2]}}
  - name: tone
    type: tone_curve
    knots: [0.0, 0.3, 0.6, 0.85, 1.0]
  - {name: smooth, type: bilateral, d: 5, sigma_space: 2.0, sigma_range: 0.2}
  - {name: vig, type: vignette, k1: -0.3}
  - {name: sharpen, type: unsharp_mask, sigma: 1.0, amount: {value: 0.5, learnable: true}}
"""


@pytest.fixture
def pipe_file(tmp_path):
    p = tmp_path / "pipe.yaml"
    p.write_text(YAML)
    return p


def test_load_names_bounds_and_roundtrip(pipe_file, tmp_path):
    p = Pipeline.load(pipe_file)
    assert p.learnable_names() == ["blur.sigma", "wb.gain_r", "wb.gain_g", "wb.gain_b", "sharpen.amount"]
    assert p.get("blur.sigma") == 1.5 and p.get("tone.d1") == pytest.approx(0.3)
    assert p.bounds_of(["blur.sigma", "wb.gain_b"]) == [(0.5, 3.0), (0.5, 2.0)]
    assert p.support() == (6 + 2 + 4, 6 + 2 + 4)  # blur r=6, bilateral r=2, unsharp r=4
    assert p.support(over_bounds=True) == (12 + 2 + 4, 12 + 2 + 4)  # blur sigma at its bound 3
    img = np.random.default_rng(0).random((20, 24, 3)).astype(np.float32)
    out = p(img)
    p.set("blur.sigma", 2.0)
    for ext in ("yaml", "json"):
        path = tmp_path / f"saved.{ext}"
        p.save(path)
        q = Pipeline.load(path)
        assert q.params() == pytest.approx(p.params())
        assert q.learnable_names() == p.learnable_names()
        np.testing.assert_allclose(q(img), p(img), atol=1e-6)
    assert json.loads((tmp_path / "saved.json").read_text())["stages"][0]["sigma"]["value"] == 2.0
    assert not np.allclose(out, p(img))


def test_crop_with_margin_equals_full_image(pipe_file):
    p = Pipeline.load(pipe_file)
    img = np.random.default_rng(1).random((60, 70, 3)).astype(np.float32)
    full = p(img)
    ry, rx = p.support()
    oy, ox, ch, cw = 24, 30, 10, 12  # crop; region = crop + margin, inside the image
    region = img[oy - ry:oy + ch + ry, ox - rx:ox + cw + rx]
    out = p(region, frame=(oy - ry, ox - rx, 60, 70))
    np.testing.assert_allclose(out[ry:ry + ch, rx:rx + cw], full[oy:oy + ch, ox:ox + cw], atol=2e-6)
    # at the image corner the margin is clipped and the border mode applies as in the full image
    region = img[0:10 + ry, 0:12 + rx]
    out = p(region, frame=(0, 0, 60, 70))
    np.testing.assert_allclose(out[:10, :12], full[:10, :12], atol=2e-6)


def _write(tmp_path, text):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    return str(p)


def test_error_messages(tmp_path):
    f = _write(tmp_path, "stages:\n  - {name: blur, type: gaussian_blur, sigma: -1}\n")
    with pytest.raises(ConfigError) as e:
        Pipeline.load(f)
    assert str(e.value) == f"{f}: stage 'blur': parameter 'sigma' must be > 0, got -1"

    f = _write(tmp_path, "stages:\n  - {name: b, type: gausian_blur}\n")
    with pytest.raises(ConfigError) as e:
        Pipeline.load(f)
    assert str(e.value).startswith(f"{f}: stage 'b': unknown stage type 'gausian_blur' (did you mean "
                                   "'gaussian_blur'?) (expected one of "
                                   "bilateral, box_blur, color_matrix, demosaic, denoise, exposure, ")

    f = _write(tmp_path, "stages:\n  - {name: blur, type: gaussian_blur, sigmaa: 2}\n")
    with pytest.raises(ConfigError) as e:
        Pipeline.load(f)
    assert str(e.value) == (f"{f}: stage 'blur': unknown parameter 'sigmaa' (did you mean 'sigma'?) for stage type "
                            "'gaussian_blur' (expected one of sigma, border, ksize, cval)")

    f = _write(tmp_path, "stages:\n  - {name: blur, type: gaussian_blur, border: mirror}\n")
    with pytest.raises(ConfigError) as e:
        Pipeline.load(f)
    assert str(e.value) == (f"{f}: stage 'blur': unknown border mode 'mirror' (expected one of "
                            "reflect101, reflect, replicate, constant, wrap)")

    f = _write(tmp_path, "stages:\n  - {name: c, type: color_matrix}\n")
    p = Pipeline.load(f)
    with pytest.raises(ImageError) as e:
        p(np.zeros((4, 4, 1), np.float32), where="gray.png")
    assert str(e.value) == f"gray.png: 1-channel image, but stage 'c' (color_matrix) of {f} needs 3 channels"

    img = np.zeros((4, 5, 3), np.float32)
    img[2, 3, 1] = np.nan
    with pytest.raises(ImageError) as e:
        p(img, where="nan.exr")
    assert str(e.value) == "nan.exr: NaN at pixel (row 2, col 3, channel 1); 1 non-finite values"

    with pytest.raises(ConfigError) as e:
        p.set("c.m33", 1.0)
    assert str(e.value) == (f"{f}: stage 'c': unknown parameter 'm33' for stage type 'color_matrix' "
                            "(expected one of m00, m01, m02, m10, m11, m12, m20, m21, m22, o0, o1, o2)")

    f = _write(tmp_path, "stages:\n  - {name: t, type: tone_curve, knots: [0, 0.5, 0.4, 1]}\n")
    with pytest.raises(ConfigError) as e:
        Pipeline.load(f)
    assert str(e.value) == (f"{f}: stage 't': knots must be non-decreasing (monotone curve), "
                            "got [0.0, 0.5, 0.4, 1.0]")

    f = _write(tmp_path, "stages: [\n")
    with pytest.raises(ConfigError) as e:
        Pipeline.load(f)
    assert str(e.value) == (f"{f}:2: malformed pipeline YAML: expected the node content, but "
                            "found '<stream end>' (column 1)")


def test_tuner_crops_are_exact(pipe_file):
    """Loss and gradient on random crops (region = crop + margin, shifted at the edges) equal
    those of the full image's output restricted to the crops."""
    from diffrender.filters.tune import Tuner

    p = Pipeline.load(pipe_file, dtype="float64")
    rng = np.random.default_rng(3)
    x = rng.random((64, 72, 3))
    t = rng.random((64, 72, 3))
    tuner = Tuner(p, [(x, t)], crop=16, seed=0)
    v = tuner.vector()
    for seed in range(3):
        tuner.rng = np.random.default_rng(seed)
        tuner.crops = tuner.sample_crops()
        c = tuner.crops[0]
        assert (c.y1 - c.y0, c.x1 - c.x0) == (16 + 2 * 18, 16 + 2 * 18)  # margin at the bounds
        loss, grad = tuner.loss_grad(v)
        full = p(x)
        sl = (slice(c.y0 + c.cy, c.y0 + c.cy + 16), slice(c.x0 + c.cx, c.x0 + c.cx + 16))
        r = np.zeros_like(full)
        r[sl] = full[sl] - t[sl]
        assert loss == pytest.approx(float((r[sl] ** 2).mean()), rel=1e-12)
        _, g = p.vjp(x, 2 * r / r[sl].size)
        np.testing.assert_allclose(grad, [g[n] for n in tuner.names], rtol=1e-9, atol=1e-15)


FAST_STAGES = [
    {"type": "gaussian_blur", "sigma": 1.7, "border": "wrap"},
    {"type": "gaussian_blur", "sigma_x": 0.8, "sigma_y": 2.3, "border": "constant", "cval": 0.3},
    {"type": "gaussian_blur", "sigma": 2.0, "border": "reflect101"},
    {"type": "box_blur", "ksize": [5, 3], "border": "replicate"},
    {"type": "box_blur", "ksize": 5, "border": "reflect"},
    # the box sums its taps and scales once: a constant border's rows are sums too
    {"type": "box_blur", "ksize": [3, 5], "border": "constant", "cval": 0.4},
    {"type": "box_blur", "ksize": 3, "normalize": False, "border": "wrap"},
    {"type": "unsharp_mask", "sigma": 1.1, "amount": 0.7, "border": "reflect"},
    {"type": "bilateral", "d": 5, "sigma_space": 2.0, "sigma_range": 0.2, "border": "reflect"},
    {"type": "bilateral", "sigma_space": 1.2, "sigma_range": 0.3, "distance": "l2", "border": "constant",
     "cval": 0.3},
    {"type": "denoise", "strength": 0.6, "d": 3, "sigma_range": 0.4, "border": "wrap"},
]
# (13, 19, 3): 57 values a row (not whole lane blocks: the image is copied first) and the taps
# reach past the image; (40, 64, 3): read in place, with interior blocks and packed stores;
# (33, 61, 3), (21, 37, 1), (17, 30, 4): odd / partial rows, one and four channels
FAST_SHAPES = [(13, 19, 3), (40, 64, 3), (33, 61, 3), (21, 37, 1), (17, 30, 4)]


@pytest.mark.parametrize("stage", FAST_STAGES)
@pytest.mark.parametrize("shape", FAST_SHAPES)
def test_forward_only_path_equals_differentiable_path(stage, shape):
    """``pipe(image)`` runs the forward-only band kernels (numpy in, numpy out); ``run_fields``
    the differentiable ones that vjp uses: the same image up to float32 rounding."""
    p = Pipeline.from_config({"stages": [{"name": "f", **stage}]})
    assert p.stages[0].lanes_ok()
    x = np.random.default_rng(4).random(shape).astype(np.float32)
    fast = p(x)
    slow = p.run_fields(x)["acts"][-1].to_numpy()
    assert fast.shape == x.shape and fast.dtype == np.float32 and fast.flags.c_contiguous
    assert np.abs(fast - slow).max() < 1e-6
    assert np.abs(fast - x).max() > 1e-2  # the filter did something


WIDE_CASES = [  # (stage, shape): 40 x 64 x 3 is read in place (192 values a row: 12 blocks of 16)
    ({"type": "gaussian_blur", "sigma": 4.0, "border": "reflect101"}, (40, 64, 3)),
    ({"type": "gaussian_blur", "sigma": 4.0, "border": "reflect101"}, (13, 32, 1)),  # taps past the image
    ({"type": "gaussian_blur", "sigma": 4.0, "border": "reflect101"}, (33, 61, 3)),  # stride 184: 8 lanes
    ({"type": "gaussian_blur", "sigma_x": 5.0, "sigma_y": 1.5, "border": "constant", "cval": 0.3}, (37, 80, 2)),
    ({"type": "box_blur", "ksize": 17, "border": "wrap"}, (40, 64, 3)),
    ({"type": "unsharp_mask", "sigma": 4.5, "amount": 0.7, "border": "replicate"}, (40, 64, 3)),
]


@pytest.mark.parametrize("stage,shape", WIDE_CASES)
def test_wide_stencils_forward_only_path_equals_differentiable_path(stage, shape, monkeypatch):
    """Wide stencils (radii >= 8) run 16 values per step on AVX-512 CPUs (``base.wide_lanes``);
    forced here, whatever this CPU: the same image as the differentiable path, taps reaching past
    the image (13 x 32), and Inf still refused. Rows whose stride is no multiple of 16
    (33 x 61 x 3) keep 8 values per step."""
    from diffrender.filters import base

    monkeypatch.setattr(base, "_wide_lanes_available", lambda: True)
    h, w, c = shape
    xs = -(-(w * c) // base.LANES) * base.LANES
    assert base.wide_lanes(8, 8, xs) == (16 if xs % 16 == 0 else 8)
    assert base.wide_lanes(4, 16, xs) == 8 and base.wide_lanes(16, 4, xs) == 8
    p = Pipeline.from_config({"stages": [{"name": "f", **stage}]})
    x = np.random.default_rng(6).random(shape).astype(np.float32)
    fast = p(x)
    slow = p.run_fields(x)["acts"][-1].to_numpy()
    assert np.abs(fast - slow).max() < 2e-6
    assert np.abs(fast - x).max() > 1e-2
    y = x.copy()
    y[h // 2, w - 1, c - 1] = np.inf
    with pytest.raises(ImageError, match=f"Inf at pixel \\(row {h // 2}, col {w - 1}, channel {c - 1}\\)"):
        p(y)


def test_wide_lanes_need_an_avx512_cpu_and_the_cpu_backend(monkeypatch):
    from diffrender import engine
    from diffrender.filters import base

    monkeypatch.setattr(base, "_wide_lanes_available", lambda: False)
    assert base.wide_lanes(32, 32, 3072) == base.LANES
    monkeypatch.setattr(base, "_wide_lanes_available", lambda: True)
    assert base.wide_lanes(32, 32, 3072) == base.WIDE_LANES
    for dev in ("cuda", "vulkan"):
        monkeypatch.setitem(engine._state, "device", dev)
        assert base.wide_lanes(32, 32, 3072) == base.LANES


@pytest.mark.parametrize("shape", [(40, 64, 3), (33, 61, 3)])
def test_forward_only_chain_and_input_kinds(shape):
    """Three forward-only stages (the middle ones through padded buffers) equal the
    differentiable path; float64 and non-contiguous inputs give the float32 result."""
    p = Pipeline.from_config({"stages": [
        {"name": "a", "type": "gaussian_blur", "sigma": 1.2},
        {"name": "b", "type": "box_blur", "ksize": 3, "border": "wrap"},
        {"name": "c", "type": "unsharp_mask", "sigma": 0.9, "amount": 0.5}]})
    x = np.random.default_rng(5).random(shape)
    ref = p.run_fields(x)["acts"][-1].to_numpy()
    assert np.abs(p(x.astype(np.float32)) - ref).max() < 1e-6
    assert np.abs(p(x) - ref).max() < 1e-6  # float64 in
    xt = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)  # not C-contiguous
    assert np.abs(p(xt) - ref).max() < 1e-6


def test_forward_only_bilateral_follows_parameters_and_rejects_non_finite():
    p = Pipeline.from_config({"stages": [{"name": "b", "type": "bilateral", "sigma_space": 1.0}]})
    x = np.random.default_rng(8).random((19, 48, 3)).astype(np.float32)  # read in place: checked by forward_lanes
    first = p(x)
    p.set("b.sigma_space", 2.2)  # a larger window (radius 3)
    p.set("b.sigma_range", 0.05)
    out = p(x)
    assert np.abs(out - p.run_fields(x)["acts"][-1].to_numpy()).max() < 1e-6
    assert np.abs(out - first).max() > 1e-2
    y = x.copy()
    y[7, 47, 2] = np.nan
    with pytest.raises(ImageError, match="pixel \\(row 7, col 47, channel 2\\)"):
        p(y)


def test_forward_only_path_follows_parameter_changes():
    """The forward-only path keeps its tap weights between calls: a new sigma (and amount)
    must still reach it."""
    p = Pipeline.from_config({"stages": [{"name": "g", "type": "gaussian_blur", "sigma": 1.0},
                                         {"name": "u", "type": "unsharp_mask", "sigma": 0.8}]})
    x = np.random.default_rng(7).random((40, 64, 3)).astype(np.float32)
    first = p(x)
    p.set("g.sigma", 2.5)
    p.set("u.sigma", 1.4)
    p.set("u.amount", 0.9)
    out = p(x)
    assert np.abs(out - p.run_fields(x)["acts"][-1].to_numpy()).max() < 1e-6
    assert np.abs(out - first).max() > 1e-2


@pytest.mark.parametrize("shape", [(40, 64, 3), (13, 19, 3)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_forward_only_path_rejects_non_finite(shape, bad):
    """The forward-only kernel checks the image it reads in place (and numpy the copied ones):
    a NaN or Inf anywhere, also in the last value, is an error naming the pixel."""
    p = Pipeline.from_config({"stages": [{"name": "f", "type": "box_blur", "ksize": 3}]})
    x = np.random.default_rng(6).random(shape).astype(np.float32)
    for pos in [(0, 0, 0), (shape[0] // 3, shape[1] // 2, 1), (shape[0] // 2, shape[1] - 1, 1),
                (shape[0] - 1, shape[1] - 1, 2)]:
        y = x.copy()
        y[pos] = bad
        where = f"pixel \\(row {pos[0]}, col {pos[1]}, channel {pos[2]}\\)"
        with pytest.raises(ImageError, match=where):
            p(y)
    assert np.isfinite(p(x)).all()


def test_tune_converges_to_float32_accuracy():
    """L-BFGS-B runs until its line search stalls on the loss's own noise floor: a blur + gamma
    fit of a dark image (loss ~1e-5 at the start) from sigma 1, gamma 1 recovers both to ~3e-7.
    With scipy's ftol 1e-12, an absolute test below a loss of 1, it stopped at a sigma error of
    1.4e-5."""
    from diffrender.filters.tune import tune

    cfg = {"stages": [{"name": "blur", "type": "gaussian_blur",
                       "sigma": {"value": 1.6, "learnable": True, "bounds": [0.5, 3.0]}},
                      {"name": "gamma", "type": "gamma", "gamma": {"value": 0.7, "learnable": True,
                                                                   "bounds": [0.3, 3.0]}}]}
    p = Pipeline.from_config(cfg)
    x = (np.random.default_rng(5).random((32, 32, 3)) * 0.03 + 0.01).astype(np.float32)
    t = p(x)
    p.set("blur.sigma", 1.0)
    p.set("gamma.gamma", 1.0)
    res = tune(p, [(x, t)], method="lbfgs", iters=100)
    assert abs(res.params["blur.sigma"] - 1.6) < 3e-6
    assert abs(res.params["gamma.gamma"] - 0.7) < 3e-6
