"""`diffrender filter` / `diffrender tune` and a small recovery of a known pipeline."""
import csv

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from diffrender.cli import main as cli
from diffrender.filters import Pipeline
from diffrender.filters.tune import tune
from diffrender.image import read_image, write_image

START = {"stages": [
    {"name": "blur", "type": "gaussian_blur", "sigma": {"value": 1.0, "learnable": True, "bounds": [0.3, 3]}},
    {"name": "exposure", "type": "exposure", "ev": {"value": 0.0, "learnable": True, "bounds": [-2, 2]}},
    {"name": "sat", "type": "saturation", "saturation": {"value": 1.0, "learnable": True, "bounds": [0, 3]}},
]}
TRUE = {"blur.sigma": 1.4, "exposure.ev": 0.3, "sat.saturation": 1.25}


def _photo(size=64):
    from skimage import data

    img = data.coffee()[..., :3].astype(np.float32) / 255.0
    img = cv2.resize(img, (size * 3 // 2, size), interpolation=cv2.INTER_AREA)
    return (img ** 2.2).astype(np.float32)


def _target(x):
    y = cv2.GaussianBlur(x, (0, 0), 1.4) * 2 ** 0.3
    lum = (y @ np.array([0.2126, 0.7152, 0.0722], np.float32))[..., None]
    return (lum + 1.25 * (y - lum)).astype(np.float32)


@pytest.mark.parametrize("method", ["lbfgs", "lm"])
def test_tune_recovers_known_pipeline(method):
    x = _photo()
    pipe = Pipeline.from_config(START, dual=method == "lm")
    res = tune(pipe, [(x, _target(x))], method=method, iters=60)
    assert res.loss < 1e-9 < res.initial_loss
    for k, v in TRUE.items():
        assert abs(res.params[k] - v) < 2e-3, (k, res.params[k])


def test_tune_adam_with_crops_decreases_loss():
    x = _photo(96)
    pipe = Pipeline.from_config(START)
    res = tune(pipe, [(x, _target(x))], method="adam", iters=40, lr=0.03, crop=32, seed=1)
    assert res.history[-1][1] < 0.2 * res.history[0][1]


def test_filter_cli_image_and_folder(tmp_path):
    pf = tmp_path / "p.yaml"
    pf.write_text(yaml.safe_dump(START))
    x = _photo(32)
    write_image(tmp_path / "in.exr", x)
    r = CliRunner().invoke(cli, ["filter", str(pf), str(tmp_path / "in.exr"), "-o", str(tmp_path / "out.exr")])
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(read_image(tmp_path / "out.exr"), Pipeline.load(pf)(x), atol=1e-6)
    (tmp_path / "dir").mkdir()
    write_image(tmp_path / "dir" / "a.exr", x)
    write_image(tmp_path / "dir" / "b.png", x)
    r = CliRunner().invoke(cli, ["filter", str(pf), str(tmp_path / "dir"), "-o", str(tmp_path / "outdir")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == ["a.exr", "b.png"]


def test_cli_errors_are_one_line(tmp_path):
    pf = tmp_path / "p.yaml"
    pf.write_text("stages:\n  - {name: blur, type: gaussian_blur, sigma: -2}\n")
    write_image(tmp_path / "in.exr", np.zeros((8, 8, 3), np.float32))
    r = CliRunner().invoke(cli, ["filter", str(pf), str(tmp_path / "in.exr"), "-o", str(tmp_path / "o.exr")])
    assert r.exit_code == 1
    assert r.stderr.strip() == (f"diffrender: error: {pf}: stage 'blur': parameter 'sigma' must be > 0, "
                                "got -2")
    assert "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["tune", str(pf), "--input", str(tmp_path / "in.exr")])
    assert r.exit_code == 2  # a usage error, as click reports them
    assert r.stderr.strip().splitlines()[-1] == "Error: give --input and --target, or --pairs DIR"


def test_tune_cli_writes_outputs(tmp_path):
    pf = tmp_path / "p.yaml"
    pf.write_text(yaml.safe_dump(START))
    x = _photo(48)
    (tmp_path / "pairs" / "input").mkdir(parents=True)
    (tmp_path / "pairs" / "target").mkdir(parents=True)
    write_image(tmp_path / "pairs" / "input" / "a.exr", x)
    write_image(tmp_path / "pairs" / "target" / "a.exr", _target(x))
    r = CliRunner().invoke(cli, ["tune", str(pf), "--pairs", str(tmp_path / "pairs"), "-o",
                                 str(tmp_path / "out" / "tuned.yaml"), "--iters", "40", "--quiet"])
    assert r.exit_code == 0, r.output
    tuned = Pipeline.load(tmp_path / "out" / "tuned.yaml")
    for k, v in TRUE.items():
        assert abs(tuned.get(k) - v) < 5e-3
    rows = list(csv.reader(open(tmp_path / "out" / "report.csv")))
    assert rows[0] == ["iteration", "loss", "seconds", "blur.sigma", "exposure.ev", "sat.saturation"]
    assert float(rows[-1][1]) < float(rows[1][1])
    for name in ("before.png", "after.png", "target.png"):
        assert (tmp_path / "out" / name).exists()
