"""``diffrender`` command line: render, compare, info, and the filter / tune / optimize / grad
commands of the subsystems.

Every command follows one error convention (:mod:`diffrender.cli_common`): one line on stderr,
``diffrender: error: <file>: <what>``, exit status 1 (2 for a wrong command line); every command
that runs kernels takes ``--device cpu|cuda|vulkan|auto``.
"""
from __future__ import annotations

import json
import os
import time

import importlib

import click

from . import image as image_io
from . import metrics
from .cli_common import (shaders_option, Stopwatch, define_option, device_option, handle_errors, parse_defines,
                         progress_bar, start_engine, threads_option)
from .errors import DiffrenderError
from .scene.info import describe
from .scene.loader import load_scene


#: commands that live with their subsystems: name -> (module, attribute). Their modules are
#: imported when the command runs (or ``--help`` lists it), so that starting one command does
#: not import every subsystem's dependencies (optimizers, plotting, the filter stack).
SUBSYSTEM_COMMANDS = {
    "filter": ("diffrender.filters.cli", "filter_cmd"),
    "tune": ("diffrender.filters.cli", "tune_cmd"),
    "optimize": ("diffrender.inverse.cli", "optimize_cmd"),
    "grad": ("diffrender.inverse.cli", "grad_cmd"),
    "export": ("diffrender.inverse.cli", "export_cmd"),
    "dataset": ("diffrender.datasets.cli", "dataset_cmd"),
    "render-many": ("diffrender.distributed", "render_many_cmd"),
}


class _Commands(click.Group):
    """The command group; the subsystems' commands are loaded by name (click's lazy loading)."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(SUBSYSTEM_COMMANDS))

    def get_command(self, ctx, name):
        if name in SUBSYSTEM_COMMANDS and name not in self.commands:
            module, attr = SUBSYSTEM_COMMANDS[name]
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="diffrender")
def main():
    """diffrender: differentiable rendering and image processing."""


@main.command()
@click.argument("scene", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output image: .exr (linear) or .png/.jpg (sRGB). Default: <scene>.exr")
@click.option("--spp", type=int, default=None, help="Samples per pixel (default: the scene's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--sensor", type=int, default=0, show_default=True, help="Index of the sensor.")
@click.option("--aov", "aovs", multiple=True,
              type=click.Choice(["depth", "normal", "albedo", "alpha"]),
              help="Also write this AOV next to the output (<output>.<aov>.exr). Repeatable.")
@define_option
@shaders_option
@device_option
@threads_option
@click.option("-q", "--quiet", is_flag=True, help="No summary line.")
@handle_errors
def render(scene, output, spp, seed, sensor, aovs, defines, allow_shaders, device, threads, quiet):
    """Render SCENE (Mitsuba 3 XML, or its dict form as JSON/YAML)."""
    if spp is not None and spp <= 0:
        raise DiffrenderError(f"--spp must be a positive integer, got {spp}")
    defs = parse_defines(defines)
    t_load = time.perf_counter()
    sc = load_scene(scene, allow_shaders=allow_shaders, **defs)
    if not sc.sensors or sensor >= len(sc.sensors) or sensor < 0:
        raise DiffrenderError(f"{scene}: the scene has {len(sc.sensors)} sensor(s); --sensor {sensor} does not exist")
    sens = sc.sensors[sensor]
    total = spp or sens.sampler.sample_count
    w, h = sens.film.width, sens.film.height
    if output is None:
        stem = os.path.splitext(os.path.basename(scene))[0]
        output = f"{stem}.exr"
    ext = os.path.splitext(output)[1].lower()
    if ext not in image_io.LINEAR_EXTS | image_io.SRGB_EXTS:
        raise DiffrenderError(f"{output}: unsupported output extension '{ext}' (use .exr, .png or .jpg)")
    from .core import Renderer  # lazy engine start (~1 s): only once the inputs are valid

    dev = start_engine(device, threads, quiet)
    t0 = time.perf_counter()
    watch = Stopwatch()
    renderer = Renderer(sc, sensor=sensor)
    with progress_bar(total, "render", w * h, quiet=quiet) as update:
        result = renderer.render(spp=total, seed=seed, aovs=tuple(aovs),
                                 progress=lambda done, tot: update(done))
    dt = watch.wall
    img = result["color"] if aovs else result
    image_io.write_image(output, img)
    base = os.path.splitext(output)[0]
    for a in aovs:
        image_io.write_image(f"{base}.{a}.exr", result[a])
    if not quiet:
        rate = w * h * total / dt
        click.echo(f"rendered {w}x{h} at {total} spp on {dev} in {watch.summary()} "
                   f"({rate / 1e6:.2f} M samples/s, load {t0 - t_load:.2f} s) -> {output}", err=True)


@main.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.argument("reference", type=click.Path(dir_okay=False))
@click.option("--diff", type=click.Path(dir_okay=False), default=None,
              help="Write a false-colour absolute-error image here (its scale is printed).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@handle_errors
def compare(image, reference, diff, as_json):
    """Compare IMAGE with REFERENCE: RMSE, relative MSE, PSNR, SSIM."""
    a = image_io.read_image(image)
    b = image_io.read_image(reference)
    try:
        m = metrics.compare(a, b)
    except DiffrenderError as exc:
        raise DiffrenderError(f"{image} vs {reference}: {exc}") from None
    if diff:
        vmax = metrics.error_scale(a, b)
        image_io.write_image(diff, metrics.error_image(a, b, vmax=vmax))
        m["diff_scale"] = vmax
        click.echo(f"{diff}: absolute error, inferno colour map, black = 0, yellow = {vmax:.6g} "
                   f"(99.5th percentile) or more", err=True)
    if as_json:
        click.echo(json.dumps(m))
    else:
        click.echo(f"RMSE    {m['rmse']:.6g}")
        click.echo(f"relMSE  {m['relmse']:.6g}")
        click.echo(f"PSNR    {m['psnr']:.3f} dB")
        click.echo(f"SSIM    {m['ssim']:.5f}")
        if diff:
            click.echo(f"diff    {diff} (scale: yellow = {m['diff_scale']:.6g})")


@main.command()
@click.argument("scene", type=click.Path(dir_okay=False))
@define_option
@shaders_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def info(scene, defines, allow_shaders, as_json):
    """List the shapes, BSDFs, emitters, sensors and parameter names of SCENE."""
    d = describe(load_scene(scene, allow_shaders=allow_shaders, **parse_defines(defines)))
    if as_json:
        click.echo(json.dumps(d, indent=2, default=str))
        return
    for section, rows in d.items():
        if rows is None or isinstance(rows, (str, int, float)):
            click.echo(f"{section}: {rows}")
            continue
        click.echo(f"{section}:")
        if isinstance(rows, dict):
            rows = [f"{k}={v}" for k, v in rows.items()]
        for row in rows:
            if isinstance(row, dict):
                row = "  ".join(f"{k}={_fmt(v)}" for k, v in row.items() if v is not None and k not in ("bbox", "filename"))
            click.echo(f"  {row}")


def _fmt(v):
    """Compact display of info values: floats to 6 significant digits."""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


if __name__ == "__main__":  # pragma: no cover
    main()
