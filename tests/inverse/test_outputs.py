"""optimize's output folder: never someone else's, one run at a time, and a run killed at any
moment (SIGKILL, also while it writes a checkpoint) resumes to the uninterrupted result."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

import diffrender as dr
from diffrender.errors import ConfigError
from diffrender.inverse import load_config
from diffrender.inverse.run import RUN_MARKER, Run

SCENE = """<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="2"/></integrator>
  <sensor type="perspective"><float name="fov" value="45"/>
    <transform name="to_world"><lookat origin="0, 0, 3" target="0, 0, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="8"/><integer name="height" value="6"/>
      <rfilter type="box"/></film>
  </sensor>
  <shape type="rectangle" id="board">
    <bsdf type="diffuse" id="paint"><rgb name="reflectance" value="0.6, 0.4, 0.2"/></bsdf>
  </shape>
  <emitter type="point"><rgb name="intensity" value="4, 4, 4"/><point name="position" x="0" y="0.5" z="2"/></emitter>
</scene>"""
# kills in a row (the bar is 20; CI runs a few unless DIFFRENDER_KILL_TESTS says more)
KILLS = int(os.environ.get("DIFFRENDER_KILL_TESTS", "3"))


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "scene.xml").write_text(SCENE)
    dr.write_image(tmp_path / "target.exr", np.full((6, 8, 3), 0.1, np.float32))
    return tmp_path


def write_cfg(d, name="cfg.yaml", **over):
    cfg = {"scene": "scene.xml", "targets": ["target.exr"], "output": "run",
           "parameters": {"paint.reflectance": {"init": 0.5, "lr": 0.05}}, "iterations": 12,
           "spp": 2, "spp_adjoint": 2, "checkpoint_every": 1, "render_every": 3, "video": "none"}
    cfg.update(over)
    (d / name).write_text(yaml.safe_dump(cfg))
    return str(d / name)


def test_a_folder_with_other_files_is_refused(workdir):
    (workdir / "mine").mkdir()
    (workdir / "mine" / "thesis.tex").write_text("precious")
    path = write_cfg(workdir, output="mine")
    with pytest.raises(ConfigError) as e:
        Run(load_config(path))
    assert str(e.value) == (f"{path}: output folder '{workdir / 'mine'}' holds other files and was "
                            "not made by `diffrender optimize`: choose a new or empty folder")
    assert os.listdir(workdir / "mine") == ["thesis.tex"]
    (workdir / "afile").write_text("x")
    with pytest.raises(ConfigError, match="output '.*afile' exists and is not a folder"):
        Run(load_config(write_cfg(workdir, output="afile")))
    with pytest.raises(ConfigError, match="cannot write the output folder '.*afile/sub'"):
        Run(load_config(write_cfg(workdir, output="afile/sub")))


def test_an_empty_folder_is_taken_and_marked_and_two_runs_are_refused(workdir):
    (workdir / "empty").mkdir()
    path = write_cfg(workdir, output="empty")
    first = Run(load_config(path))
    assert (workdir / "empty" / RUN_MARKER).exists()
    with pytest.raises(ConfigError, match=f"output folder '{workdir / 'empty'}' is in use by another optimize run"):
        Run(load_config(path), overwrite=True)
    first.release()
    Run(load_config(path), overwrite=True).release()


def test_what_a_killed_write_left_is_removed_when_the_next_run_takes_the_folder(workdir):
    path = write_cfg(workdir)
    Run(load_config(path)).release()
    run = workdir / "run"
    left = ["config.json.tmp-19975", "checkpoint.json.tmp-7", "loss.tmp-31.png",
            "renders/iter_00003.tmp-31.png"]
    for name in left:
        (run / name).write_text("half")
    (run / "notes.txt").write_text("kept")  # not a temporary name: kept
    (run / "checkpoint.json").write_text("{}")
    with pytest.raises(ConfigError):  # refused (no --overwrite): nothing is touched
        Run(load_config(path))
    assert all((run / name).exists() for name in left)
    Run(load_config(path), overwrite=True).release()
    assert not [n for n in left if (run / n).exists()]
    assert (run / "notes.txt").read_text() == "kept"


def test_a_folder_killed_while_being_marked_is_still_ours(workdir):
    (workdir / "run").mkdir()
    (workdir / "run" / f"{RUN_MARKER}.tmp-4242").write_text("half")
    Run(load_config(write_cfg(workdir))).release()
    assert sorted(os.listdir(workdir / "run")) == sorted([RUN_MARKER, ".lock", "config.json", "renders"])


def _cli(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "diffrender", "optimize", *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, DIFFRENDER_DEVICE="cpu"))


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_loses_nothing(workdir):
    ref_cfg = write_cfg(workdir, name="ref.yaml", output="ref")
    p = _cli([ref_cfg], workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    ref = json.loads((workdir / "ref" / "params.json").read_text())
    # time of a whole run, to spread the kills over it
    t_run = None
    cfg = write_cfg(workdir)
    rng = random.Random(20261205)
    kills = 0
    while kills < KILLS:
        ck = workdir / "run" / "checkpoint.json"
        args = [cfg, "--resume"] if ck.exists() else [cfg, "--overwrite"]
        t0 = time.perf_counter()
        p = _cli(args, workdir)
        delay = rng.uniform(0.2, t_run or 6.0)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            # what a kill leaves is always complete: the checkpoint parses
            if ck.exists():
                state = json.loads(ck.read_text())
                assert len(state["trajectory"]) == state["iteration"]
            continue
        assert p.returncode == 0, p.stderr.read()
        t_run = max(1.0, time.perf_counter() - t0)
        (workdir / "run" / "checkpoint.json").unlink()  # finished early: start again
    while True:  # finish
        ck = workdir / "run" / "checkpoint.json"
        p = _cli([cfg, "--resume"] if ck.exists() else [cfg, "--overwrite"], workdir)
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        state = json.loads(ck.read_text())
        if state["iteration"] == 12:
            break
    got = json.loads((workdir / "run" / "params.json").read_text())
    np.testing.assert_allclose(got["paint.reflectance"], ref["paint.reflectance"], rtol=1e-6)
    assert not [f for f in os.listdir(workdir / "run") if ".tmp-" in f]
