"""``diffrender optimize CONFIG`` and ``diffrender grad SCENE --param NAME``."""
from __future__ import annotations

import contextlib
import os

import click
import matplotlib
import numpy as np

from ..cli_common import (EXIT_INTERRUPTED, Progress, Stopwatch, address_option, define_option,
                          device_option, handle_errors, parse_defines, shaders_option, start_engine,
                          threads_option, workers_option)
from ..distributed import RayCluster, ViewPool, require_ray
from ..errors import DiffrenderError
from ..image import srgb_to_linear, write_image
from ..scene.loader import load_scene
from .config import load_config
from .export import export_run
from .run import Run


@click.command("optimize")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--resume", is_flag=True, help="Continue the run in the output folder from its last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Start again even if the output folder holds a run.")
@shaders_option
@device_option
@threads_option
@workers_option
@address_option
@handle_errors
def optimize_cmd(config, resume, overwrite, allow_shaders, device, threads, workers, address):
    """Recover scene parameters from target images (see docs/optimize.md).

    With --workers N the targets (views) are rendered and back-propagated by N Ray actors
    (docs/interop.md); the result is the single-process one."""
    if address and not workers:
        raise click.BadParameter("--address needs --workers", param_hint="--address")
    cfg = load_config(config)
    if workers:
        require_ray()  # before the output folder is touched
    run = Run(cfg, resume=resume, overwrite=overwrite,  # validates before any compile
              allow_shaders=allow_shaders)
    with contextlib.ExitStack() as stack:
        views, where = None, ""
        if workers:
            cluster = stack.enter_context(RayCluster(workers, address, threads))
            views = ViewPool(cfg, len(run.problem.targets), cluster, allow_shaders, device)
            stack.callback(views.close)
            where = f" on {workers} Ray worker(s) x {cluster.threads} thread(s)"
        else:
            start_engine(device, threads)
        watch = Stopwatch()
        with Progress("optimize", cfg.iterations, "iterations") as prog:
            prog.update(run.start)

            def progress(it, total, loss):
                rate = (it - run.start) / max(watch.wall, 1e-9)
                prog.update(it, loss=f"{loss:.4g}", rate=f"{rate:.2f} it/s")

            try:
                params = run.run(progress=progress, views=views)
            except KeyboardInterrupt:
                click.echo(f"interrupted: state saved in {run.out} (continue with --resume)", err=True)
                raise SystemExit(EXIT_INTERRUPTED)
        if workers and views.resubmitted:
            click.echo(f"diffrender: note: {views.resubmitted} view render(s) were sent again after "
                       f"a Ray worker died", err=True)
    last = run.trajectory[-1]["loss"] if run.trajectory else float("nan")
    click.echo(f"optimized {len(params)} parameter(s) over {cfg.iterations - run.start} iteration(s){where} "
               f"in {watch.summary()}, final loss {last:.6g} -> {run.out}", err=True)


@click.command("grad")
@click.argument("scene", type=click.Path(dir_okay=False))
@click.option("--param", "param", required=True, help="Parameter name (see `diffrender info`).")
@click.option("--index", type=int, default=None,
              help="Differentiate w.r.t. one component (flat index) instead of all at once.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="grad.exr", show_default=True,
              help="EXR (signed float) or PNG/JPEG (diverging colour map, white = 0).")
@click.option("--spp", type=int, default=None, help="Samples per pixel (default: the scene's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--sensor", type=int, default=0, show_default=True)
@define_option
@shaders_option
@device_option
@threads_option
@handle_errors
def grad_cmd(scene, param, index, output, spp, seed, sensor, defines, allow_shaders, device, threads):
    """Write the gradient image dI/dPARAM (forward mode: the image's derivative along a tangent
    of ones, or along one component with --index)."""
    sc = load_scene(scene, allow_shaders=allow_shaders, **parse_defines(defines))
    value = sc.parameters()[param]
    t = np.ones_like(value, dtype=np.float32)
    if index is not None:
        if not 0 <= index < t.size:
            raise DiffrenderError(f"--index {index} is out of range for '{param}' ({t.size} components)")
        t = np.zeros(t.size, np.float32)
        t[index] = 1.0
        t = t.reshape(value.shape)
    from ..core import Renderer  # lazy engine start: only once the inputs are valid

    start_engine(device, threads)
    watch = Stopwatch()
    # forward mode runs as one launch per pass without a progress callback: the bar shows the
    # elapsed time (and, off a terminal, a line every few seconds)
    with Progress(f"grad d/d {param}"):
        g = Renderer(sc, sensor=sensor).jvp({param: t}, spp=spp, seed=seed)
    ext = os.path.splitext(output)[1].lower()
    if ext == ".exr":
        write_image(output, g)
    else:
        write_image(output, diverging(g))
    click.echo(f"d image / d {param}{'' if index is None else f'[{index}]'}: max |g| {np.abs(g).max():.4g}, "
               f"{watch.summary()} -> {output}", err=True)


def diverging(g, vmax=None):
    """Signed gradient image -> linear RGB through matplotlib's 'RdBu_r' map (white = 0),
    symmetric about zero, scaled to the 99th percentile of |g| (mean over channels)."""
    v = np.asarray(g, np.float64).mean(axis=2)
    if vmax is None:
        vmax = float(np.percentile(np.abs(v), 99)) or 1.0
    rgb = matplotlib.colormaps["RdBu_r"](np.clip(0.5 + 0.5 * v / vmax, 0, 1))[:, :, :3]
    return srgb_to_linear(rgb).astype(np.float32)




@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Folder to write into (default RUN_DIR/export).")
@click.option("--mesh-format", type=click.Choice(["ply", "obj"]), default="ply", show_default=True)
@click.option("--texture-format", type=click.Choice(["exr", "png"]), default="exr", show_default=True,
              help="exr: linear float; png: 8-bit sRGB.")
@click.option("--scene-format", type=click.Choice(["xml", "json", "yaml"]), default=None,
              help="Default: the input scene's format.")
@shaders_option
@handle_errors
def export_cmd(run_dir, output, mesh_format, texture_format, scene_format, allow_shaders):
    """Write what an optimize run recovered (scene, meshes, textures) as files other tools open."""
    watch = Stopwatch()
    with Progress("export"):
        written = export_run(run_dir, output, mesh_format=mesh_format, texture_format=texture_format,
                             scene_format=scene_format, allow_shaders=allow_shaders)
    for p in written:
        click.echo(p)
    click.echo(f"exported {len(written)} file(s) in {watch.summary()}", err=True)


commands = [optimize_cmd, grad_cmd, export_cmd]
