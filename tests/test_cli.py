"""CLI behaviour common to all commands (render/info tests live with the renderer and loader)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from diffrender import write_image


def run_cli(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "diffrender", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})


def test_compare_prints_metrics_and_writes_diff(tmp_path):
    ref = np.full((16, 16, 3), 0.5, np.float32)
    write_image(tmp_path / "ref.exr", ref)
    write_image(tmp_path / "a.exr", ref + 0.1)
    r = run_cli("compare", tmp_path / "a.exr", tmp_path / "ref.exr", "--diff", tmp_path / "d.png")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(None, 1) for line in r.stdout.strip().splitlines())
    assert float(lines["RMSE"]) == np.float32(0.1).item() or abs(float(lines["RMSE"]) - 0.1) < 1e-6
    assert lines["PSNR"].startswith("20.000")
    assert (tmp_path / "d.png").exists()


def test_compare_size_mismatch_is_one_line(tmp_path):
    write_image(tmp_path / "a.exr", np.zeros((8, 8, 3)))
    write_image(tmp_path / "b.exr", np.zeros((8, 9, 3)))
    r = run_cli("compare", tmp_path / "a.exr", tmp_path / "b.exr")
    assert r.returncode == 1
    assert r.stderr.strip() == (f"diffrender: error: {tmp_path / 'a.exr'} vs {tmp_path / 'b.exr'}: "
                                "images differ in size: 8x8 vs 9x8")
    assert "Traceback" not in r.stderr


def test_missing_file_is_one_line(tmp_path):
    r = run_cli("compare", tmp_path / "x.exr", tmp_path / "y.exr")
    assert r.returncode == 1
    assert r.stderr.strip() == f"diffrender: error: {tmp_path / 'x.exr'}: no such image file"


CORNELL = "scenes/cornell-box/scene.xml"


def test_render_writes_png_and_exr_of_the_right_size(tmp_path):
    from diffrender import read_image

    r = run_cli("render", CORNELL, "-o", tmp_path / "c.png", "--spp", 2, "-D", "res=24", "--aov", "depth")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert read_image(tmp_path / "c.png").shape == (24, 24, 3)
    assert read_image(tmp_path / "c.depth.exr").shape == (24, 24, 1)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("rendered 24x24 at 2 spp on ") and last.endswith(f"-> {tmp_path / 'c.png'}")
    assert " in wall " in last and " s, CPU " in last
    r = run_cli("render", CORNELL, "-o", tmp_path / "c.exr", "--spp", 1, "-D", "res=8", "-q")
    assert r.returncode == 0 and r.stderr.strip() in ("", "diffrender: device auto -> cpu")
    assert read_image(tmp_path / "c.exr").shape == (8, 8, 3)


def test_render_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text('<scene version="3.0.0"><shape type="teapot"/></scene>')
    stderr = {}
    for args in (("render", tmp_path / "nope.xml"), ("render", bad), ("render", CORNELL, "--spp", -3),
                 ("render", CORNELL, "-o", tmp_path / "x.tga")):
        r = run_cli(*args)
        assert r.returncode != 0, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("diffrender: error: "), (args, r.stderr)
        assert "Traceback" not in r.stderr
        stderr[args] = r.stderr
    assert "--spp must be a positive integer, got -3" in stderr[("render", CORNELL, "--spp", -3)]
    assert "'teapot'" in stderr[("render", bad)]


def test_info_lists_parameters():
    r = run_cli("info", CORNELL, "--json")
    assert r.returncode == 0, r.stderr
    import json

    d = json.loads(r.stdout)
    assert "red.reflectance" in d["parameters"] and "light.emitter.radiance" in d["parameters"]
    assert [s["name"] for s in d["shapes"]][:2] == ["light", "floor"]


def test_grad_writes_gradient_image(tmp_path):
    from diffrender import read_image

    r = run_cli("grad", CORNELL, "--param", "red.reflectance", "--index", 0, "--spp", 2, "-D", "res=16",
                "-o", tmp_path / "g.exr", env={"DIFFRENDER_PROGRESS_S": "0.05"})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    # off a terminal: plain progress lines while it works, then a summary with wall and CPU time
    assert any(ln.startswith("grad d/d red.reflectance: ") and ln.endswith(" s elapsed") for ln in lines), lines
    assert " wall " in lines[-1] and " s, CPU " in lines[-1] and lines[-1].endswith(f"-> {tmp_path / 'g.exr'}")
    g = read_image(tmp_path / "g.exr")
    assert g.shape == (16, 16, 3) and g[:, :, 0].max() > 0
    r = run_cli("grad", CORNELL, "--param", "red.reflectance", "--index", 9, "-D", "res=16")
    assert r.returncode == 1
    assert r.stderr.strip().endswith("--index 9 is out of range for 'red.reflectance' (3 components)")


def test_render_and_optimize_are_functions_in_any_import_order():
    code = ("import diffrender as dr, diffrender.core, diffrender.inverse, diffrender.engine as e;"
            "e.init('cpu'); s = dr.load_scene('scenes/cornell-box/scene.xml', res=4);"
            "a = dr.render(s, spp=1); b = dr.render(s, spp=1); r = dr.Renderer(s);"
            "print(a.shape, b.shape, type(r).__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["(4,", "4,", "3)", "(4,", "4,", "3)", "Renderer"]
    r = subprocess.run([sys.executable, "-c", "import diffrender as dr, diffrender.inverse.run, "
                        "types; print(isinstance(dr.optimize, types.FunctionType))"],
                       capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == "True", r.stderr


# --- one error convention and one --device option for every command ---------------------------

KERNEL_COMMANDS = ("render", "grad", "optimize", "filter", "tune")  # commands that run kernels
OTHER_COMMANDS = ("compare", "info")
PIPELINE = "stages:\n  - {name: exposure, type: exposure, ev: {value: 0.5, learnable: true}}\n"


def _inputs(tmp_path):
    """Valid inputs for every command: an image, a pipeline and an optimize config."""
    import yaml

    img = tmp_path / "img.exr"
    write_image(img, np.full((4, 4, 3), 0.25, np.float32))
    pipe = tmp_path / "pipe.yaml"
    pipe.write_text(PIPELINE)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "scene": os.path.abspath(CORNELL), "defines": {"res": 4}, "targets": [{"image": str(img)}],
        "parameters": {"red.reflectance": {"init": [0.3, 0.3, 0.3]}}, "iterations": 1,
        "output": str(tmp_path / "run")}))
    return img, pipe, cfg


def _argv(command, tmp_path, missing=None):
    """A command line of ``command`` (its main input replaced by ``missing`` when given)."""
    img, pipe, cfg = _inputs(tmp_path)
    out = str(tmp_path / "out.exr")
    scene = str(missing or CORNELL)
    return {
        "render": ["render", scene, "-D", "res=4", "--spp", "1", "-o", out],
        "grad": ["grad", scene, "--param", "red.reflectance", "-D", "res=4", "--spp", "1", "-o", out],
        "info": ["info", scene],
        "optimize": ["optimize", str(missing or cfg), "--overwrite"],
        "filter": ["filter", str(missing or pipe), str(img), "-o", out],
        "tune": ["tune", str(missing or pipe), "--input", str(img), "--target", str(img), "--quiet",
                 "-o", str(tmp_path / "tuned.yaml")],
        "compare": ["compare", str(missing or img), str(img)],
    }[command]


@pytest.mark.parametrize("command", KERNEL_COMMANDS + OTHER_COMMANDS)
def test_every_command_reports_a_missing_file_as_one_error_line(command, tmp_path):
    from click.testing import CliRunner

    from diffrender.cli import main

    ext = {"optimize": ".yaml", "filter": ".yaml", "tune": ".yaml", "compare": ".exr"}.get(command, ".xml")
    missing = tmp_path / f"missing{ext}"
    r = CliRunner().invoke(main, _argv(command, tmp_path, missing) + (
        ["--device", "cpu"] if command in KERNEL_COMMANDS else []))
    assert r.exit_code == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"diffrender: error: {missing}: "), r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("command", KERNEL_COMMANDS)
def test_every_kernel_command_takes_one_device_option(command):
    import click

    from diffrender.cli import main
    from diffrender.cli_common import DEVICE_CHOICES
    from diffrender.engine import DEVICES

    assert DEVICE_CHOICES == DEVICES
    opts = {p.name: p for p in main.get_command(None, command).params}
    assert isinstance(opts["device"].type, click.Choice)
    assert tuple(opts["device"].type.choices) == DEVICES
    assert opts["device"].opts == ["--device"]


@pytest.mark.parametrize("command", OTHER_COMMANDS)
def test_commands_without_kernels_have_no_device_option(command):
    from diffrender.cli import main

    assert "device" not in {p.name for p in main.get_command(None, command).params}


@pytest.mark.parametrize("command", KERNEL_COMMANDS)
def test_device_goes_to_engine_init_and_its_failure_is_one_line(command, tmp_path, monkeypatch):
    """``--device`` reaches ``engine.init``; a device that cannot start is an error line, exit 1;
    a device that does not exist is a usage error, exit 2."""
    from click.testing import CliRunner

    from diffrender import engine
    from diffrender.cli import main
    from diffrender.errors import EngineError

    calls = []

    def unavailable(device=None, threads=None, verbose=False):
        calls.append(device)
        raise EngineError(f"device '{device}' is not available on this machine")

    monkeypatch.setattr(engine, "init", unavailable)
    r = CliRunner().invoke(main, _argv(command, tmp_path) + ["--device", "vulkan"])
    assert calls == ["vulkan"], (r.stdout, r.stderr)
    assert r.exit_code == 1
    assert r.stderr.strip() == "diffrender: error: device 'vulkan' is not available on this machine"
    r = CliRunner().invoke(main, _argv(command, tmp_path) + ["--device", "tpu"])
    assert r.exit_code == 2 and "Invalid value for '--device'" in r.stderr
    assert calls == ["vulkan"]


def test_compare_diff_states_its_scale(tmp_path):
    import json

    ref = np.full((16, 16, 3), 0.5, np.float32)
    a = ref.copy()
    a[:, :8] += 0.25  # half the pixels off by 0.25: the 99.5th percentile of the error is 0.25
    write_image(tmp_path / "ref.exr", ref)
    write_image(tmp_path / "a.exr", a)
    r = run_cli("compare", tmp_path / "a.exr", tmp_path / "ref.exr", "--diff", tmp_path / "d.png")
    assert r.returncode == 0, r.stderr
    assert f"diff    {tmp_path / 'd.png'} (scale: yellow = 0.25)" in r.stdout.splitlines()
    assert r.stderr.strip() == (f"{tmp_path / 'd.png'}: absolute error, inferno colour map, black = 0, "
                                "yellow = 0.25 (99.5th percentile) or more")
    r = run_cli("compare", tmp_path / "a.exr", tmp_path / "ref.exr", "--diff", tmp_path / "d.png", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["diff_scale"] == pytest.approx(0.25)


def test_progress_off_a_terminal_prints_plain_lines(monkeypatch, capsys):
    import time

    from diffrender.cli_common import Progress

    monkeypatch.setenv("DIFFRENDER_PROGRESS_S", "0.02")
    with Progress("work", 10, "things", tty=False) as p:
        p.update(3, loss="0.5")
        time.sleep(0.3)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3
    assert all(ln.startswith("work: 3/10 things (30%), ") and ln.endswith(" s elapsed, loss 0.5")
               for ln in lines), lines
    with Progress("quiet", 10, tty=False, quiet=True) as p:
        p.update(5)
        time.sleep(0.1)
    assert capsys.readouterr().err == ""


def test_progress_interval_must_be_positive(monkeypatch, capsys):
    from diffrender.cli_common import Progress

    monkeypatch.setenv("DIFFRENDER_PROGRESS_S", "-1")
    with pytest.raises(SystemExit) as exc:
        with Progress("work", 1, tty=False):
            pass
    assert exc.value.code == 1
    assert capsys.readouterr().err.strip() == ("diffrender: error: DIFFRENDER_PROGRESS_S: expected a "
                                               "positive number of seconds, got '-1'")


def test_stopwatch_counts_cpu_time():
    from diffrender.cli_common import Stopwatch

    w = Stopwatch()
    x = 0
    for i in range(300000):
        x += i * i
    assert w.cpu > 0 and w.wall > 0
    assert w.summary().startswith("wall ") and ", CPU " in w.summary()


def test_a_scene_with_shaders_needs_allow_shaders(tmp_path):
    scene = "scenes/glossy-spheres/scene.xml"
    r = run_cli("info", scene)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "runs only with your consent: pass --allow-shaders" in lines[0], r.stderr
    r = run_cli("info", scene, "--allow-shaders")
    assert r.returncode == 0, r.stderr
