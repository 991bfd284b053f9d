"""`optimize --workers` and `render-many` on Ray (diffrender.distributed): the same parameters as
the single-process run, a killed actor's views run elsewhere, --resume, a batch with a sweep, a
separately started head node joined by its address (with Ray's token authentication), and the
one-line errors. One local Ray instance for the module; tiny scenes."""
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import diffrender as dr
from diffrender.cli import main
from diffrender.distributed import INSTALL_HINT, RayCluster, RenderJob, ViewPool, _render_task, _ViewWorker
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
REPO = Path(__file__).resolve().parents[2]
#: bounds on the separately started head node (a slow start fails the test, never hangs it)
HEAD_START_S = 60
HEAD_STOP_S = 20
DRIVER_S = 180
#: how long a driver that is refused retries (Ray's RAY_gcs_server_port_wait_time_s; default 20)
REFUSED_WAIT_S = 2
#: the views' gradients are summed in target order on the driver as in one process; what
#: differs is the order of the kernels' float32 atomic adds (thread count per process)
RTOL = 1e-5


@pytest.fixture(scope="module")
def cluster():
    # 4 logical CPUs: the module's pool (2 actors) and the killed-worker test's pool (2 more) at
    # once; each actor runs one thread
    ray.init(address="local", num_cpus=4, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
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


def test_views_in_turn_give_the_single_process_result(workdir, pool):
    """``views_per_step: 2`` over three targets: iteration i evaluates targets 2i, 2i + 1 (mod
    3); the pool runs only those, with the same result as one process."""
    single = Run(make_config(workdir, "turn1", views_per_step=2)).run()["paint.reflectance"]
    got = Run(make_config(workdir, "turn2", views_per_step=2)).run(views=pool)["paint.reflectance"]
    np.testing.assert_allclose(got, single, rtol=RTOL)
    reference = Run(make_config(workdir, "turn3")).run()["paint.reflectance"]
    assert not np.allclose(single, reference, rtol=1e-3)   # not every target in every step


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


def test_workers_run_at_the_driver_priority(cluster):
    # Ray starts its workers at nice +15 unless told otherwise; next to any normal process such
    # a worker waited minutes for its imports (RayCluster._local_env passes the driver's)
    assert ray.get(ray.remote(lambda: os.getpriority(os.PRIO_PROCESS, 0)).remote()) == \
        os.getpriority(os.PRIO_PROCESS, 0)


def _kernel_files(cache_home: Path) -> list:
    return sorted(cache_home.rglob("*.tic"))


def test_render_tasks_and_actors_save_their_kernels(workdir, cluster, tmp_path):
    """A Ray worker is killed, never running Taichi's exit handler that writes the kernel cache:
    a render-many task and a view actor write it when they are done, so the next run loads the
    kernels instead of compiling them. Each gets a cache of its own (a runtime_env of its own
    starts new worker processes)."""
    job = RenderJob(str(workdir / "scene.xml"), str(tmp_path / "a.exr"))
    for name in ("task", "actor"):
        home = tmp_path / name
        env = {"env_vars": {**RayCluster._local_env()["env_vars"], "XDG_CACHE_HOME": str(home)}}
        if name == "task":
            task = ray.remote(_render_task).options(num_cpus=1, runtime_env=env)
            img = ray.get(task.remote(job, 2, 0, False, "cpu", 1))
            assert img.shape == (16, 16, 3)
        else:
            cfg = make_config(workdir, "save")
            actor = ray.remote(_ViewWorker).options(num_cpus=1, runtime_env=env).remote(cfg, False, "cpu", 1)
            ray.get(actor.compile.remote())
            assert _kernel_files(home) == []  # nothing written while the actor runs
            ray.get(actor.save_kernels.remote())
            ray.kill(actor)
        assert len(_kernel_files(home)) >= 5, name


def test_workers_without_ray_is_one_line(workdir, monkeypatch):
    make_config(workdir, "noray")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    res = CliRunner().invoke(main, ["optimize", str(workdir / "noray.yaml"), "--workers", "2"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"diffrender: error: --workers needs Ray: {INSTALL_HINT}"]
    assert not (workdir / "noray").exists()  # refused before the output folder was made


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_env() -> dict:
    """This environment without the Ray settings a developer's shell may hold."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RAY_AUTH_", "RAY_ADDRESS"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _group_alive(pgid) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def head_node(token):
    """`ray start --head --block` in its own process group: 2 CPUs, token authentication on with
    ``token``, workers that import this checkout; yields its address. Stopped by signalling its
    group (not `ray stop`, which stops every Ray instance of this user on the machine)."""
    tmp = tempfile.mkdtemp(prefix="rayh")  # short: Ray's socket paths live under it
    port = _free_port()
    env = dict(_base_env(), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token,
               RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
    log = open(os.path.join(tmp, "head.log"), "w+")
    proc = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                             "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
                             "--disable-usage-stats", "--temp-dir", tmp],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + HEAD_START_S
        while "Ray runtime started" not in Path(log.name).read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start --head did not start:\n{Path(log.name).read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        for sig, wait in ((signal.SIGTERM, HEAD_STOP_S), (signal.SIGKILL, HEAD_STOP_S)):
            if _group_alive(proc.pid):
                os.killpg(proc.pid, sig)
            deadline = time.monotonic() + wait
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                proc.poll()
                time.sleep(0.2)
        proc.poll()
        log.close()
        left = _group_alive(proc.pid)
        shutil.rmtree(tmp, ignore_errors=True)
        assert not left, "the head node's processes outlived it"


def _optimize(cfg_path, address, env):
    """`diffrender optimize CONFIG --workers 2 --address ADDRESS` started in a process."""
    return subprocess.Popen([sys.executable, "-m", "diffrender", "optimize", str(cfg_path),
                             "--workers", "2", "--threads", "1", "--address", address],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc) -> tuple[int, str]:
    """(exit status, stderr) of a driver, killed when it runs past DRIVER_S."""
    try:
        _, err = proc.communicate(timeout=DRIVER_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the driver ran past {DRIVER_S} s:\n{err[-2000:]}")
    return proc.returncode, err


def test_joining_a_separately_started_cluster(workdir, reference):
    """`--address host:port` of a head node started with `ray start --head`: refused in one line
    without the token, the single-process parameters with it (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN
    as docs/interop.md says)."""
    make_config(workdir, "refused")
    make_config(workdir, "joined")
    token = secrets.token_hex(32)
    with head_node(token) as address:
        # both at once (the refused one mostly waits for Ray's retries)
        procs = [_optimize(workdir / "refused.yaml", address,
                           dict(_base_env(), RAY_gcs_server_port_wait_time_s=str(REFUSED_WAIT_S))),
                 _optimize(workdir / "joined.yaml", address,
                           dict(_base_env(), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token))]
        try:
            (refused_rc, refused), (joined_rc, joined) = [_finish(p) for p in procs]
        finally:
            for p in procs:  # the other one when one ran past DRIVER_S
                if p.poll() is None:
                    p.kill()
                    p.communicate()
    assert refused_rc == 1, refused
    lines = refused.strip().splitlines()
    assert len(lines) == 1, refused  # Ray's retry warnings are held back
    assert lines[0].startswith(
        f"diffrender: error: cannot join the Ray cluster (--address {address}): Ray's token "
        "authentication refused the connection (RAY_AUTH_MODE is not set"), refused
    assert lines[0].endswith(
        ": run with RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN, "
        "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token (docs/interop.md)"), refused
    assert joined_rc == 0, joined
    assert "on 2 Ray worker(s) x 1 thread(s)" in joined
    got = json.loads((workdir / "joined" / "params.json").read_text())["paint.reflectance"]
    np.testing.assert_allclose(got, reference, rtol=RTOL)
