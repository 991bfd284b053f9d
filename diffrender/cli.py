"""``diffrender`` command line: render, compare, info (and the filter / optimize commands that
register themselves here).

Every command turns a :class:`~diffrender.errors.DiffrenderError` into one line on stderr and a
non-zero exit; ``DIFFRENDER_DEBUG=1`` shows the traceback of unexpected errors.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time

import click

from .errors import DiffrenderError

EXIT_ERROR = 1


def _fail(message: str) -> None:
    click.echo(f"diffrender: error: {message}", err=True)
    raise SystemExit(EXIT_ERROR)


def handle_errors(fn):
    """Run a command body; turn our errors (and unexpected ones) into a one-line message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DiffrenderError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            click.echo("diffrender: interrupted", err=True)
            raise SystemExit(130)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - last resort: no traceback unless asked
            if os.environ.get("DIFFRENDER_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (set DIFFRENDER_DEBUG=1 for the traceback)")

    return wrapper


def parse_defines(values) -> dict[str, str]:
    out = {}
    for item in values or ():
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise click.BadParameter(f"expected name=value, got '{item}'", param_hint="-D")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


define_option = click.option("-D", "--define", "defines", multiple=True, metavar="NAME=VALUE",
                             help="Override a <default> of the scene (repeatable).")
device_option = click.option("--device", type=click.Choice(["cpu", "cuda", "vulkan", "auto"]),
                             default=None, help="Compute device (default: $DIFFRENDER_DEVICE or auto).")
threads_option = click.option("--threads", type=click.IntRange(min=1), default=None,
                              help="CPU threads (default: all cores).")


def start_engine(device, threads, quiet=False) -> str:
    from . import engine

    return engine.init(device, threads=threads, verbose=not quiet)


def progress_bar(total: int, label: str, unit_scale: float):
    """A rich progress bar on a terminal; a no-op when stderr is not a terminal."""
    if not sys.stderr.isatty():
        class _Null:
            def __enter__(self):
                return lambda done: None

            def __exit__(self, *exc):
                return False

        return _Null()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.console import Console

    class _Bar:
        def __enter__(self):
            self.t0 = time.perf_counter()
            self.p = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                              TextColumn("{task.completed}/{task.total} spp"),
                              TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                              TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self.p.__enter__()
            self.task = self.p.add_task(label, total=total, rate="")

            def update(done):
                dt = max(time.perf_counter() - self.t0, 1e-9)
                self.p.update(self.task, completed=done,
                              rate=f"{done * unit_scale / dt / 1e6:.2f} M samples/s")

            return update

        def __exit__(self, *exc):
            self.p.__exit__(*exc)
            return False

    return _Bar()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@device_option
@threads_option
@click.option("-q", "--quiet", is_flag=True, help="No summary line.")
@handle_errors
def render(scene, output, spp, seed, sensor, aovs, defines, device, threads, quiet):
    """Render SCENE (Mitsuba 3 XML, or its dict form as JSON/YAML)."""
    from . import image as image_io
    from .scene.loader import load_scene

    if spp is not None and spp <= 0:
        raise DiffrenderError(f"--spp must be a positive integer, got {spp}")
    defs = parse_defines(defines)
    t_load = time.perf_counter()
    sc = load_scene(scene, **defs)
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
    from .core import Renderer  # imports the engine (~1 s): only once the inputs are valid

    dev = start_engine(device, threads, quiet)
    t0 = time.perf_counter()
    renderer = Renderer(sc, sensor=sensor)
    with progress_bar(total, "rendering", w * h) as update:
        result = renderer.render(spp=total, seed=seed, aovs=tuple(aovs),
                                 progress=lambda done, tot: update(done))
    dt = time.perf_counter() - t0
    img = result["color"] if aovs else result
    image_io.write_image(output, img)
    base = os.path.splitext(output)[0]
    for a in aovs:
        image_io.write_image(f"{base}.{a}.exr", result[a])
    if not quiet:
        rate = w * h * total / dt
        click.echo(f"rendered {w}x{h} at {total} spp on {dev} in {dt:.2f} s "
                   f"({rate / 1e6:.2f} M samples/s, load {t0 - t_load:.2f} s) -> {output}", err=True)


@main.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.argument("reference", type=click.Path(dir_okay=False))
@click.option("--diff", type=click.Path(dir_okay=False), default=None,
              help="Write a false-colour absolute-error image here.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@handle_errors
def compare(image, reference, diff, as_json):
    """Compare IMAGE with REFERENCE: RMSE, relative MSE, PSNR, SSIM."""
    from . import metrics
    from .image import read_image, write_image

    a = read_image(image)
    b = read_image(reference)
    try:
        m = metrics.compare(a, b)
    except DiffrenderError as exc:
        raise DiffrenderError(f"{image} vs {reference}: {exc}") from None
    if diff:
        write_image(diff, metrics.error_image(a, b))
    if as_json:
        click.echo(json.dumps(m))
    else:
        click.echo(f"RMSE    {m['rmse']:.6g}")
        click.echo(f"relMSE  {m['relmse']:.6g}")
        click.echo(f"PSNR    {m['psnr']:.3f} dB")
        click.echo(f"SSIM    {m['ssim']:.5f}")


@main.command()
@click.argument("scene", type=click.Path(dir_okay=False))
@define_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def info(scene, defines, as_json):
    """List the shapes, BSDFs, emitters, sensors and parameter names of SCENE."""
    from .scene.info import describe
    from .scene.loader import load_scene

    d = describe(load_scene(scene, **parse_defines(defines)))
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


def _register_optional_commands():
    """Commands that live with their subsystems (filters, optimization)."""
    import importlib

    for mod in ("diffrender.filters.cli", "diffrender.inverse.cli", "diffrender.datasets.cli"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name and mod.startswith(exc.name):
                continue  # subsystem not present in this build
            raise
        for cmd in getattr(m, "commands", []):
            main.add_command(cmd)


_register_optional_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
