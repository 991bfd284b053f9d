"""``diffrender optimize CONFIG`` and ``diffrender grad SCENE --param NAME``."""
from __future__ import annotations

import sys
import time

import click

from ..cli import define_option, device_option, handle_errors, parse_defines, start_engine, threads_option


@click.command("optimize")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--resume", is_flag=True, help="Continue the run in the output folder from its last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Start again even if the output folder holds a run.")
@device_option
@threads_option
@handle_errors
def optimize_cmd(config, resume, overwrite, device, threads):
    """Recover scene parameters from target images (see docs/optimize.md)."""
    from .config import load_config
    from .run import Run

    cfg = load_config(config)
    run = Run(cfg, resume=resume, overwrite=overwrite)  # validates before any compile
    start_engine(device, threads)
    t0 = time.perf_counter()
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("[bold]optimize"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]}"),
                      TimeRemainingColumn(), console=Console(stderr=True), transient=True) as p:
            task = p.add_task("optimize", total=cfg.iterations, completed=run.start, loss="-", rate="")

            def progress(it, total, loss):
                dt = time.perf_counter() - t0
                p.update(task, completed=it, loss=f"{loss:.4g}",
                         rate=f"{(it - run.start) / max(dt, 1e-9):.2f} it/s")

            try:
                params = run.run(progress=progress)
            except KeyboardInterrupt:
                click.echo(f"interrupted: state saved in {run.out} (continue with --resume)", err=True)
                raise SystemExit(130)
    else:
        try:
            params = run.run()
        except KeyboardInterrupt:
            click.echo(f"interrupted: state saved in {run.out} (continue with --resume)", err=True)
            raise SystemExit(130)
    dt = time.perf_counter() - t0
    last = run.trajectory[-1]["loss"] if run.trajectory else float("nan")
    click.echo(f"optimized {len(params)} parameter(s) over {cfg.iterations - run.start} iteration(s) in "
               f"{dt:.1f} s, final loss {last:.6g} -> {run.out}", err=True)


commands = [optimize_cmd]
