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


WB = {"stages": [{"name": "wb", "type": "white_balance",
                  "gain_b": {"value": 1.0, "learnable": True, "bounds": [0.2, 2]}}]}


def test_tune_fits_png_edits_in_srgb_by_default(tmp_path):
    """A user edits sRGB PNGs (blue values x 0.82): tune fits on sRGB values and finds 0.82, says
    which space it used, saves it with the pipeline; --space linear fits linear light instead."""
    pf = tmp_path / "wb.yaml"
    pf.write_text(yaml.safe_dump(WB))
    rng = np.random.default_rng(0)
    srgb = rng.integers(20, 236, (24, 32, 3)).astype(np.uint8)
    edited = srgb.copy()
    edited[..., 2] = np.round(srgb[..., 2] * 0.82).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "in.png"), srgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "edited.png"), edited[..., ::-1])
    args = ["tune", str(pf), "--input", str(tmp_path / "in.png"), "--target", str(tmp_path / "edited.png"),
            "--iters", "30", "--quiet"]
    r = CliRunner().invoke(cli, args + ["-o", str(tmp_path / "s" / "t.yaml")])
    assert r.exit_code == 0, r.output
    assert "fitting in srgb space" in r.stderr
    tuned = Pipeline.load(tmp_path / "s" / "t.yaml")
    assert tuned.space == "srgb"
    assert abs(tuned.get("wb.gain_b") - 0.82) < 5e-3
    r = CliRunner().invoke(cli, args + ["--space", "linear", "-o", str(tmp_path / "l" / "t.yaml")])
    assert r.exit_code == 0, r.output
    assert "fitting in linear space (--space)" in r.stderr
    lin = Pipeline.load(tmp_path / "l" / "t.yaml")
    assert lin.space == "linear" and lin.get("wb.gain_b") < 0.75  # ~0.82^2.2 in linear light
    # filter applies the tuned pipeline in its space: reproduces the edit
    r = CliRunner().invoke(cli, ["filter", str(tmp_path / "s" / "t.yaml"), str(tmp_path / "in.png"),
                                 "-o", str(tmp_path / "out.png")])
    assert r.exit_code == 0, r.output
    out = cv2.imread(str(tmp_path / "out.png"))[..., ::-1].astype(int)
    assert np.abs(out - edited.astype(int)).max() <= 1


@pytest.mark.parametrize("opt,value", [("--iters", "0"), ("--iters", "-1"), ("--lr", "-1"),
                                       ("--lr", "nan"), ("--crop", "0")])
def test_tune_rejects_bad_options_in_one_line(tmp_path, opt, value):
    pf = tmp_path / "wb.yaml"
    pf.write_text(yaml.safe_dump(WB))
    write_image(tmp_path / "in.exr", np.full((8, 8, 3), 0.5, np.float32))
    r = CliRunner().invoke(cli, ["tune", str(pf), "--input", str(tmp_path / "in.exr"), "--target",
                                 str(tmp_path / "in.exr"), opt, value, "-o", str(tmp_path / "t.yaml")])
    assert r.exit_code == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"diffrender: error: {opt}: expected a positive")
    assert not (tmp_path / "t.yaml").exists()


def test_filter_folder_with_a_corrupt_png_is_an_error(tmp_path):
    pf = tmp_path / "wb.yaml"
    pf.write_text(yaml.safe_dump(WB))
    (tmp_path / "dir").mkdir()
    write_image(tmp_path / "dir" / "a.png", np.full((8, 8, 3), 0.5, np.float32))
    good = (tmp_path / "dir" / "a.png").read_bytes()
    (tmp_path / "dir" / "b.png").write_bytes(good[: len(good) // 2])  # truncated
    r = CliRunner().invoke(cli, ["filter", str(pf), str(tmp_path / "dir"), "-o", str(tmp_path / "out")])
    assert r.exit_code == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"diffrender: error: {tmp_path / 'dir' / 'b.png'}: cannot read image")
    assert not (tmp_path / "out").exists()  # nothing written, nothing skipped


def test_pipeline_reports_every_error_with_did_you_mean(tmp_path):
    pf = tmp_path / "bad.yaml"
    pf.write_text("stages:\n"
                  "  - {type: gaussian_blur, sigam: 1.0}\n"
                  "  - {type: gama, gamma: 1}\n"
                  "  - {name: g2, type: gamma, gamma: {value: 1.0, learnabel: true}}\n"
                  "  - {type: exposure, ev: .nan}\n")
    write_image(tmp_path / "in.exr", np.zeros((8, 8, 3), np.float32))
    r = CliRunner().invoke(cli, ["filter", str(pf), str(tmp_path / "in.exr"), "-o", str(tmp_path / "o.exr")])
    assert r.exit_code == 1
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"diffrender: error: {pf}: 4 errors: ")
    assert "stage 'gaussian_blur': unknown parameter 'sigam' (did you mean 'sigma'?)" in line
    assert "stage 'gama': unknown stage type 'gama' (did you mean 'gamma'?)" in line
    assert "stage 'g2': parameter 'gamma': unknown key 'learnabel' (did you mean 'learnable'?)" in line
    assert "stage 'exposure': parameter 'ev' must be finite" in line


def test_filter_folder_progress_lines_and_times_off_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFRENDER_PROGRESS_S", "0.01")
    pf = tmp_path / "wb.yaml"
    pf.write_text(yaml.safe_dump(WB))
    (tmp_path / "dir").mkdir()
    for n in "abc":
        write_image(tmp_path / "dir" / f"{n}.exr", np.full((8, 8, 3), 0.5, np.float32))
    r = CliRunner().invoke(cli, ["filter", str(pf), str(tmp_path / "dir"), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert any(ln.startswith("filter: ") and "images" in ln and "elapsed" in ln for ln in lines), lines
    assert "filtered 3 image(s) in linear space in wall " in lines[-1] and " s, CPU " in lines[-1]
