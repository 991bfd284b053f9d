"""`optimize --workers` and `render-many` on Ray (diffrender.distributed): the same parameters as
the single-process run, a killed actor's views run elsewhere, --resume, a batch with a sweep, and
the one-line error without Ray. One local Ray instance for the module; tiny scenes."""
import json
import logging
import sys

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import diffrender as dr
from diffrender.cli import main
from diffrender.distributed import INSTALL_HINT, RayCluster, ViewPool
from diffrender.inverse import load_config
from diffrender.inverse.run import Run

ray = pytest.importorskip("ray")

SCENE = """<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="3"/></integrator>
  <sensor type="perspective"><float name="fov" value="45"/>
    <transform name="to_world"><lookat origin="0, 0, 3" target="0, 0, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="16"/><integer name="height" value="16"/>
      <rfilter type="box"/></film>
  </sensor>
  <sensor type="perspective"><float name="fov" value="50"/>
    <transform name="to_world"><lookat origin="0.6, 0.3, 3" target="0, 0, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="16"/><integer name="height" value="16"/>
      <rfilter type="box"/></film>
  </sensor>
  <shape type="rectangle" id="board">
    <bsdf type="diffuse" id="paint"><rgb name="reflectance" value="$albedo"/></bsdf>
  </shape>
  <shape type="rectangle" id="lamp">
    <transform name="to_world"><scale value="0.3"/><translate x="0" y="0.6" z="1.5"/></transform>
    <boolean name="flip_normals" value="true"/>
    <bsdf type="diffuse"><rgb name="reflectance" value="0"/></bsdf>
    <emitter type="area"><rgb name="radiance" value="6, 6, 6"/></emitter>
  </shape>
  <default name="albedo" value="0.7, 0.4, 0.2"/>
</scene>"""

ITERATIONS = 4
#: the views' gradients are summed in target order on the driver as in one process; what
#: differs is the order of the kernels' float32 atomic adds (thread count per process)
RTOL = 1e-5


@pytest.fixture(scope="module")
def cluster():
    # 4 logical CPUs: the module's pool (2 actors) and the killed-worker test's pool (2 more) at
    # once; each actor runs one thread
    ray.init(num_cpus=4, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
             runtime_env=RayCluster._local_env())
    with RayCluster(2, threads=1) as c:  # joins the instance above
        yield c
    ray.shutdown()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    (d / "scene.xml").write_text(SCENE)
    scene = dr.load_scene(str(d / "scene.xml"))
    for s in (0, 1):
        dr.write_image(d / f"t{s}.exr", dr.render(scene, spp=16, seed=5, sensor=s))
    return d


def make_config(d, name, **over):
    # three views over two sensors: an uneven split over two actors
    cfg = {"scene": "scene.xml", "defines": {"albedo": "0.3, 0.3, 0.3"},
           "targets": [{"image": "t0.exr", "sensor": 0}, {"image": "t1.exr", "sensor": 1},
                       {"image": "t0.exr", "sensor": 0, "weight": 0.5}],
           "parameters": {"paint.reflectance": {"lr": 0.05}}, "iterations": ITERATIONS,
           "spp": 2, "spp_adjoint": 2, "seed": 3, "output": name, "video": "none",
           "checkpoint_every": 1}
    cfg.update(over)
    p = d / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return load_config(str(p))


@pytest.fixture(scope="module")
def reference(workdir):
    return Run(make_config(workdir, "single")).run()["paint.reflectance"]


@pytest.fixture(scope="module")
def pool(cluster, workdir):
    """Two actors for the config (the actors read the scene and targets; the output folder is
    the driver's, so one pool serves the runs below that differ only in it)."""
    cfg = make_config(workdir, "pool")
    p = ViewPool(cfg, len(cfg.targets), cluster)
    yield p
    p.close()


def test_workers_give_the_single_process_result(workdir, pool, reference):
    got = Run(make_config(workdir, "two")).run(views=pool)["paint.reflectance"]
    assert not np.allclose(got, [0.3, 0.3, 0.3])  # it moved
    np.testing.assert_allclose(got, reference, rtol=RTOL)
    assert pool.resubmitted == 0


def test_resume_after_interruption(workdir, pool, reference):
    cfg = make_config(workdir, "stopped")
    with pytest.raises(KeyboardInterrupt):
        Run(cfg).run(views=pool, stop_after=2)
    assert json.loads((workdir / "stopped" / "checkpoint.json").read_text())["iteration"] == 2
    got = Run(make_config(workdir, "stopped"), resume=True).run(views=pool)["paint.reflectance"]
    np.testing.assert_allclose(got, reference, rtol=RTOL)


def test_a_killed_worker_does_not_end_the_run(workdir, cluster, reference):
    cfg = make_config(workdir, "killed")
    pool = ViewPool(cfg, len(cfg.targets), cluster)
    try:
        def progress(it, total, loss):
            if it == 1:  # after the first iteration: actor 0 is gone for good
                ray.kill(pool.actors[0], no_restart=True)

        got = Run(cfg).run(views=pool, progress=progress)["paint.reflectance"]
    finally:
        pool.close()
    assert pool.resubmitted > 0  # actor 0's views ran on actor 1
    np.testing.assert_allclose(got, reference, rtol=RTOL)


def test_render_many_scenes_and_a_sweep(workdir, cluster, tmp_path):
    other = workdir / "other.xml"
    other.write_text(SCENE.replace('value="6, 6, 6"', 'value="3, 3, 3"'))
    broken = tmp_path / "broken.xml"
    broken.write_text("<scene version='3.0.0'><default name='albedo' value='0'/>"
                      "<shape type='nosuchshape'/></scene>")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["render-many", str(workdir / "scene.xml"), str(other), str(broken),
                                    "--sweep", "albedo=0.2,0.2,0.2;0.8,0.8,0.8", "--spp", "4",
                                    "--workers", "2", "--threads", "1", "-o", str(out)])
    assert res.exit_code == 1, res.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["other_albedo-0.2_0.2_0.2.exr", "other_albedo-0.8_0.8_0.8.exr",
                     "scene_albedo-0.2_0.2_0.2.exr", "scene_albedo-0.8_0.8_0.8.exr"]
    lines = res.output.strip().splitlines()
    summary = next(ln for ln in lines if ln.startswith("rendered "))
    assert "rendered 4 of 6 image(s)" in summary and "2 failed" in summary
    failures = [ln for ln in lines if ln.startswith("diffrender: error: ")]
    assert len(failures) == 2 and all("broken.xml" in ln and "nosuchshape" in ln for ln in failures)
    # the images are those of `render` with the same settings; the sweep reached the scene
    dark = dr.read_image(out / "scene_albedo-0.2_0.2_0.2.exr")
    bright = dr.read_image(out / "scene_albedo-0.8_0.8_0.8.exr")
    ref = dr.render(dr.load_scene(str(workdir / "scene.xml"), albedo="0.8,0.8,0.8"), spp=4, seed=0)
    np.testing.assert_allclose(bright, ref, rtol=1e-5, atol=1e-6)
    assert bright.mean() > 2 * dark.mean()


def test_workers_without_ray_is_one_line(workdir, monkeypatch):
    make_config(workdir, "noray")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    res = CliRunner().invoke(main, ["optimize", str(workdir / "noray.yaml"), "--workers", "2"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"diffrender: error: --workers needs Ray: {INSTALL_HINT}"]
    assert not (workdir / "noray").exists()  # refused before the output folder was made
