"""Scale-out on Ray: the views of one optimization over actors (``diffrender optimize --workers``)
and batches of renders over tasks (``diffrender render-many``).

Ray does the placement, the restarts, the retries and the data movement; this module only says
what runs where:

- :class:`ViewPool` holds ``N`` actors, each with its own :class:`~diffrender.inverse.run.Views`
  (the config's :class:`~diffrender.inverse.run.Problem` and its Renderers, built once). Each
  iteration sends the optimizer's variables to every actor, each renders and back-propagates its
  share of the targets, and the driver (:meth:`Run.evaluate`) sums the per-target parts in target
  order: the result equals the single-process run's up to float summation order inside the
  kernels. A call that fails because its actor died (:class:`ray.exceptions.RayActorError`) is
  sent again to the actors that answered; Ray restarts a dead actor up to
  :data:`MAX_ACTOR_RESTARTS` times, after which the pool goes on without it.
- :func:`render_many` sends one Ray task per render (retried by Ray if its worker process dies,
  :data:`MAX_TASK_RETRIES`); the driver writes each image atomically as it arrives.

Without an address Ray starts on this machine (:class:`RayCluster`); with one it joins that
cluster, whose nodes must have diffrender installed and see the same files (scenes, targets).
Needs the optional extra ``distributed`` (``pip install 'diffrender[distributed]'``).
"""
from __future__ import annotations

import contextlib
import glob
import itertools
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace

import click
import numpy as np

from .cli_common import (EXIT_ERROR, PREFIX, Progress, Stopwatch, address_option, define_option,
                         device_option, handle_errors, parse_defines, shaders_option,
                         threads_option, workers_option)
from .errors import ConfigError, DiffrenderError
from .image import write_image
from .inverse.run import Problem, Views, atomic_path
from .scene.loader import load_scene

INSTALL_HINT = "pip install 'diffrender[distributed]'"
#: how often Ray restarts an actor of a :class:`ViewPool` that died
MAX_ACTOR_RESTARTS = 3
#: seconds to wait when no actor answered a round (Ray is restarting them)
RESTART_WAIT_S = 1.0
#: rounds of sending an iteration's views again before the pool gives up
MAX_ROUNDS = 60
#: how often Ray re-runs a render-many task whose worker process died
MAX_TASK_RETRIES = 3
#: Ray's setting of its workers' niceness (default +15), read when the raylet starts a worker
WORKER_NICENESS_ENV = "RAY_worker_niceness"
#: how long :meth:`ViewPool.close` waits for the actors to write their compiled kernels
SAVE_KERNELS_TIMEOUT_S = 60.0
#: Ray's log level on the driver (the workers' output is not forwarded)
RAY_LOG_LEVEL = logging.ERROR
GLOB_CHARS = "*?["
#: Ray's environment variable that turns token authentication on for this process (a driver that
#: joins a cluster by its address needs it when the cluster was started with it)
AUTH_MODE_ENV = "RAY_AUTH_MODE"
#: where Ray reads the token from (highest precedence first)
AUTH_TOKEN_SOURCES = "RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token"
#: what Ray's refusal of a missing or wrong token says (somewhere in the exception chain)
AUTH_FAILURE_MARKS = ("AuthenticationError", "InvalidAuthToken", "Unauthenticated")
#: what Ray says when token authentication is on in this process but it found no token
AUTH_NO_TOKEN_MARK = "no authentication token was found"


def require_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise DiffrenderError(f"--workers needs Ray: {INSTALL_HINT}") from None
    return ray


class RayCluster:
    """A context that connects to Ray: joins ``address`` when given (or the Ray instance this
    process already started), else starts a local one (no dashboard, quiet logs) and shuts it
    down at exit.

    ``threads`` is each worker's CPU reservation and engine thread count; by default the
    cluster's CPUs divided by ``workers`` (a local start sizes itself to this machine's cores,
    at least ``workers``)."""

    def __init__(self, workers: int, address: str | None = None, threads: int | None = None):
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        self.ray = require_ray()
        self.workers, self.address, self.threads = workers, address, threads
        self.owned = False

    def __enter__(self):
        ray = self.ray
        if not ray.is_initialized():
            quiet = dict(logging_level=RAY_LOG_LEVEL, log_to_driver=False)
            try:
                if self.address:
                    self._join(quiet)
                else:
                    # "local": a new instance even when RAY_ADDRESS is set or `ray start` runs
                    # here (Ray would join that one, refusing num_cpus)
                    ray.init(address="local", num_cpus=max(self.workers, os.cpu_count() or 1),
                             include_dashboard=False, runtime_env=self._local_env(), **quiet)
            except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
                raise DiffrenderError(self._start_error(exc)) from None
            self.owned = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if self.threads is None:
            self.threads = max(1, cpus // self.workers)
        if self.workers * self.threads > cpus:
            self.__exit__()
            raise ConfigError(f"the Ray cluster has {cpus} CPU(s): {self.workers} worker(s) x "
                              f"{self.threads} thread(s) would wait for CPUs forever (use fewer "
                              "--workers or --threads)")
        return self

    def _join(self, quiet):
        """``ray.init`` with the address. The workers are the cluster's: they import the
        diffrender installed on its nodes (no runtime_env), and Ray's token authentication is
        Ray's (``RAY_AUTH_MODE=token`` and the token in the driver's environment)."""
        with _stderr_held():
            self.ray.init(address=self.address, **quiet)

    def _start_error(self, exc) -> str:
        """The one line for a failed ``ray.init``; a refused token says what Ray wants."""
        where = f"--address {self.address}" if self.address else "a local Ray instance"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self.address and _auth_refused(exc):
            mode = os.environ.get(AUTH_MODE_ENV)
            have = f"{AUTH_MODE_ENV} is '{mode}'" if mode else f"{AUTH_MODE_ENV} is not set"
            if _in_chain(exc, AUTH_NO_TOKEN_MARK):
                have += " but no token was found"
            return (f"cannot join the Ray cluster ({where}): Ray's token authentication "
                    f"refused the connection ({have}): run with {AUTH_MODE_ENV}=token and the "
                    f"cluster's token in {AUTH_TOKEN_SOURCES} (docs/interop.md)")
        return f"cannot start Ray ({where}): {first}"

    @staticmethod
    def _local_env():
        """Workers started here import this diffrender (the one the driver runs), at this
        process's scheduling priority: Ray starts its workers niced (+15) unless
        ``RAY_worker_niceness`` says otherwise, and a niced worker next to any normal process
        on a busy machine waits minutes for its imports and kernel compilation. Ray applies the
        setting when it starts the worker, so no privilege is needed."""
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        env = {"PYTHONPATH": path}
        niceness = _niceness()
        if niceness is not None:
            env[WORKER_NICENESS_ENV] = str(niceness)
        return {"env_vars": env}

    def __exit__(self, *exc):
        if self.owned:
            self.ray.shutdown()
        return False


@contextlib.contextmanager
def _stderr_held():
    """Hold back what is written on stderr (file descriptor 2, Ray's C++ core included) inside
    the block: written out afterwards when the block succeeds, dropped when it raises (Ray
    repeats a refused connection's warning once a second; the error line says it once)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd (captured by a test runner)
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        text = held.read().decode(errors="replace")
    if text:
        sys.stderr.write(text)


def _in_chain(exc, mark: str) -> bool:
    """Whether ``mark`` is in an exception's type name or message, or in those of its causes."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if mark in f"{type(exc).__name__}: {exc}":
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _auth_refused(exc) -> bool:
    """Whether a failed ``ray.init`` is Ray's token authentication refusing the connection."""
    return any(_in_chain(exc, mark) for mark in AUTH_FAILURE_MARKS)


def _niceness():
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (OSError, AttributeError):
        return None


def _first_line(exc) -> str:
    """One line for an error from Ray: the original exception of a task, else Ray's message."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, DiffrenderError):
        return str(cause)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}".splitlines()[0]
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _raise_task_error(ray, exc):
    """An error raised inside a task or actor method, as the DiffrenderError it was (or a
    one-line one)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, DiffrenderError):
        raise type(cause)(*cause.args) from None
    raise DiffrenderError(f"a Ray worker failed: {_first_line(exc)}") from None


def _start_engine(device, threads):
    """In a worker process: start the engine (once per process, or again after
    ``engine.save_kernels``), counting the kernels it compiles."""
    from . import engine  # lazy engine start, in the worker process

    engine.init(device, threads=threads)
    engine.count_compiles()


class _ViewWorker:
    """The actor of a :class:`ViewPool`: the config's targets and Renderers, built once."""

    def __init__(self, cfg, allow_shaders, device, threads):
        _start_engine(device, threads)
        self.views = Views(Problem(cfg, allow_shaders))

    def compile(self):
        self.views.compile()
        return os.getpid()

    def evaluate(self, values, it, indices):
        return self.views.evaluate(values, it, indices)

    def final_image(self, values):
        return self.views.final_image(values)

    def cpu_time(self):
        """CPU seconds of this actor's process (all its threads), for benchmarks."""
        return time.process_time()

    def save_kernels(self):
        """Write the kernels this actor compiled to the offline cache (``ray.kill`` ends the
        process without Taichi writing it), so the next run's actors load them."""
        from . import engine

        self.views = None
        engine.save_kernels()


class ViewPool:
    """The targets of an optimize config spread over ``cluster.workers`` Ray actors; the same
    interface as :class:`~diffrender.inverse.run.Views` (``Run.run(views=pool)``).

    Target ``i`` goes to actor ``i % N`` (while all are alive). The actors (``.actors``) are
    made here and killed by :meth:`close`."""

    def __init__(self, cfg, n_views: int, cluster: RayCluster, allow_shaders=False, device=None):
        ray = self.ray = cluster.ray
        remote = ray.remote(_ViewWorker).options(num_cpus=cluster.threads,
                                                 max_restarts=MAX_ACTOR_RESTARTS,
                                                 max_task_retries=0)
        self.n_views = n_views
        self.actors = [remote.remote(cfg, allow_shaders, device, cluster.threads)
                       for _ in range(cluster.workers)]
        self.deaths = [0] * len(self.actors)  # RayActorErrors seen per actor
        self.last_error = ""
        self.resubmitted = 0                  # views sent again after their actor died

    def _alive(self):
        return [i for i, d in enumerate(self.deaths) if d <= MAX_ACTOR_RESTARTS]

    def _call(self, jobs):
        """Run ``jobs`` ({actor index: (method, args)}); returns ({actor: result}, [failed
        actor indices])."""
        ray = self.ray
        refs = {i: getattr(self.actors[i], m).remote(*args) for i, (m, args) in jobs.items()}
        done, failed = {}, []
        for i, ref in refs.items():
            try:
                done[i] = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                # "unavailable": Ray is restarting the actor (counted when it died), not a death
                if not isinstance(exc, getattr(ray.exceptions, "ActorUnavailableError", ())):
                    self.deaths[i] += 1
                self.last_error = _first_line(exc)
                failed.append(i)
            except ray.exceptions.RayError as exc:
                _raise_task_error(ray, exc)
        return done, failed

    def _lost(self, why):
        raise DiffrenderError(f"all {len(self.actors)} Ray workers were lost {why}: "
                              f"{self.last_error}")

    def compile(self):
        """Wait until the actors have built their Renderers; an actor that cannot start is
        tried again (Ray restarts it) and then left out."""
        todo = self._alive()
        while todo:
            done, todo = self._call({i: ("compile", ()) for i in todo})
            if done:
                return
            todo = [i for i in todo if i in self._alive()]
        self._lost("while starting")

    def evaluate(self, values, it, indices=None):
        # one copy in Ray's object store for all the actors (a mesh's vertices can be large)
        values = self.ray.put({k: np.asarray(v) for k, v in values.items()})
        results = {}
        wanted = list(range(self.n_views)) if indices is None else list(indices)
        todo = list(wanted)
        first = True
        targets = self._alive()
        rounds = 0
        while todo:
            if not targets or rounds > MAX_ROUNDS:
                self._lost(f"at iteration {it}")
            rounds += 1
            share = {i: [] for i in targets}
            for k, v in enumerate(todo):
                share[targets[(v if first else k) % len(targets)]].append(v)
            jobs = {i: ("evaluate", (values, it, idx)) for i, idx in share.items() if idx}
            done, failed = self._call(jobs)
            for rs in done.values():
                for r in rs:
                    results[r.index] = r
            todo = sorted(v for i in failed for v in jobs[i][1][2])
            self.resubmitted += len(todo)
            # the views of a dead actor go to the actors that answered; when none did, to every
            # actor Ray may still restart, after a pause for the restart
            targets = sorted(done)
            if todo and not targets:
                time.sleep(RESTART_WAIT_S)
                targets = self._alive()
            first = False
        return [results[i] for i in wanted]

    def final_image(self, values):
        values = {k: np.asarray(v) for k, v in values.items()}
        while self._alive():
            done, _ = self._call({self._alive()[0]: ("final_image", (values,))})
            if done:
                return next(iter(done.values()))
        self._lost("for the final render")

    def close(self):
        """Save the actors' compiled kernels (waiting at most :data:`SAVE_KERNELS_TIMEOUT_S`),
        then kill the actors."""
        refs = []
        for a in self.actors:
            try:
                refs.append(a.save_kernels.remote())
            except self.ray.exceptions.RayError:
                pass
        with contextlib.suppress(self.ray.exceptions.RayError):
            self.ray.wait(refs, num_returns=len(refs), timeout=SAVE_KERNELS_TIMEOUT_S)
        for a in self.actors:
            try:
                self.ray.kill(a)
            except self.ray.exceptions.RayError:
                pass
        self.actors = []


# --- render-many -------------------------------------------------------------------------------

@dataclass
class RenderJob:
    """One render of a batch: a scene file with ``defines``, a sensor, and where it goes."""
    scene: str
    output: str
    defines: dict = field(default_factory=dict)
    sensor: int = 0

    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in self.defines.items()]
        if self.sensor:
            parts.append(f"sensor {self.sensor}")
        return self.scene + (f" [{', '.join(parts)}]" if parts else "")


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2,...`` (or ``KEY=V1;V2`` when values hold commas) -> (key, values)."""
    key, sep, vals = text.partition("=")
    if not sep or not key.strip() or not vals.strip():
        raise ConfigError(f"--sweep: expected KEY=V1,V2,... got '{text}'")
    sepc = ";" if ";" in vals else ","
    values = [v.strip() for v in vals.split(sepc) if v.strip()]
    return key.strip(), values


def expand_scenes(patterns) -> list[str]:
    """Scene files named by ``patterns`` (paths or globs), in order, without repeats."""
    out = []
    for p in patterns:
        if any(c in p for c in GLOB_CHARS):
            hits = sorted(glob.glob(p, recursive=True))
            if not hits:
                raise ConfigError(f"no scene file matches '{p}'")
        elif not os.path.isfile(p):
            raise ConfigError(f"no such scene file '{p}'")
        else:
            hits = [p]
        out += [h for h in hits if h not in out]
    return out


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-." else "_" for c in text)
    return keep.strip("_") or "_"


def plan_jobs(scenes, outdir, ext, defines=None, sweeps=(), sensors=(0,)) -> list[RenderJob]:
    """Every scene x every combination of the sweeps x every sensor; output names
    ``<stem>[_<key>-<value>...][_s<sensor>]<ext>`` in ``outdir``."""
    keys = [k for k, _ in sweeps]
    combos = list(itertools.product(*[v for _, v in sweeps])) if sweeps else [()]
    jobs, names = [], set()
    for sc in scenes:
        stem = os.path.splitext(os.path.basename(sc))[0]
        for combo in combos:
            for s in sensors:
                d = dict(defines or {})
                d.update(zip(keys, combo))
                name = stem + "".join(f"_{_slug(k)}-{_slug(v)}" for k, v in zip(keys, combo))
                if len(sensors) > 1:
                    name += f"_s{s}"
                if name in names:  # two scenes with one stem in different folders
                    name = f"{name}_{len(jobs)}"
                names.add(name)
                jobs.append(RenderJob(sc, os.path.join(outdir, name + ext), d, int(s)))
    return jobs


def _render_task(job: RenderJob, spp, seed, allow_shaders, device, threads):
    """Render one job in a Ray worker (the engine starts once per worker process)."""
    from . import engine  # lazy engine start
    from .core import Renderer

    _start_engine(device, threads)
    compiled, compile_s = engine.compiled_kernels(), engine.compile_seconds()
    sc = load_scene(job.scene, allow_shaders=allow_shaders, **job.defines)
    image = Renderer(sc, sensor=job.sensor).render(spp=spp, seed=seed)
    # where the kernels compiled are not counted, loading cached ones counts as compile time
    new = (engine.compiled_kernels() > compiled if compiled is not None
           else engine.compile_seconds() > compile_s)
    if new:
        # Ray ends its workers without Taichi writing its kernel cache: write it now (the next
        # task here restarts the engine and loads the kernels from it)
        engine.save_kernels()
    return image


@dataclass
class BatchResult:
    done: list = field(default_factory=list)      # output paths written
    failed: list = field(default_factory=list)    # (job label, one-line error)


def render_many(jobs, cluster: RayCluster, spp=None, seed=0, allow_shaders=False, device=None,
                progress=None) -> BatchResult:
    """Render ``jobs`` (:class:`RenderJob`) as Ray tasks; each image is written (atomically) as
    it arrives; ``progress(done, total)`` after each. A job's error is reported, not raised."""
    ray = cluster.ray
    task = ray.remote(_render_task).options(num_cpus=cluster.threads, max_retries=MAX_TASK_RETRIES,
                                            retry_exceptions=False)
    # the workers resolve the scene from their own working directory (a cluster node's is not
    # the driver's): they get the driver's absolute path
    refs = {task.remote(replace(j, scene=os.path.abspath(j.scene)), spp, seed,
                        allow_shaders, device, cluster.threads): j
            for j in jobs}
    out = BatchResult()
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        job = refs[ready[0]]
        try:
            img = ray.get(ready[0])
            os.makedirs(os.path.dirname(os.path.abspath(job.output)), exist_ok=True)
            with atomic_path(job.output) as tmp:
                write_image(tmp, img)
            out.done.append(job.output)
        except ray.exceptions.RayError as exc:
            out.failed.append((job.label(), _first_line(exc)))
        except DiffrenderError as exc:
            out.failed.append((job.label(), str(exc)))
        if progress is not None:
            progress(len(out.done) + len(out.failed), len(jobs))
    return out


@click.command("render-many")
@click.argument("scenes", nargs=-1, required=True)
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default="renders",
              show_default=True, help="Folder for the images (<stem>[_<key>-<value>...][_s<sensor>].<ext>).")
@click.option("--format", "fmt", type=click.Choice(["exr", "png", "jpg"]), default="exr",
              show_default=True, help="exr: linear float; png/jpg: 8-bit sRGB.")
@click.option("--sweep", "sweeps", multiple=True, metavar="NAME=V1,V2,...",
              help="Render every value of a <default> (values separated by ';' instead when they "
                   "hold commas). Repeatable: every combination.")
@click.option("--sensors", default="0", show_default=True, metavar="I,J,...",
              help="Sensor indices to render, comma-separated.")
@click.option("--spp", type=int, default=None, help="Samples per pixel (default: the scene's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@define_option
@shaders_option
@device_option
@threads_option
@workers_option
@address_option
@handle_errors
def render_many_cmd(scenes, output_dir, fmt, sweeps, sensors, spp, seed, defines, allow_shaders, device,
                threads, workers, address):
    """Render a batch on Ray: SCENES (files or globs) x the --sweep values x the --sensors."""
    if spp is not None and spp <= 0:
        raise DiffrenderError(f"--spp must be a positive integer, got {spp}")
    try:
        sensor_list = [int(x) for x in sensors.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got '{sensors}'",
                                 param_hint="--sensors") from None
    if not sensor_list or min(sensor_list) < 0:
        raise click.BadParameter(f"expected sensor indices >= 0, got '{sensors}'", param_hint="--sensors")
    files = expand_scenes(scenes)
    jobs = plan_jobs(files, output_dir, f".{fmt}", parse_defines(defines),
                                 [parse_sweep(s) for s in sweeps], sensor_list)
    watch = Stopwatch()
    with RayCluster(workers or 1, address, threads) as cluster, \
            Progress("render-many", len(jobs), "renders") as prog:
        result = render_many(jobs, cluster, spp=spp, seed=seed, allow_shaders=allow_shaders,
                                         device=device, progress=lambda done, total: prog.update(done))
    click.echo(f"rendered {len(result.done)} of {len(jobs)} image(s) on {cluster.workers} Ray "
               f"worker(s), {len(result.failed)} failed, in {watch.summary()} -> {output_dir}", err=True)
    for label, err in result.failed:
        click.echo(f"{PREFIX}{label}: {err}", err=True)
    if result.failed:
        raise SystemExit(EXIT_ERROR)


__all__ = ["RayCluster", "ViewPool", "RenderJob", "BatchResult", "render_many", "plan_jobs",
           "expand_scenes", "parse_sweep", "require_ray", "render_many_cmd", "INSTALL_HINT"]
