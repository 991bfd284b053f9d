"""What every ``diffrender`` command shares: the error convention, the ``--device`` /
``--threads`` / ``-D`` options, the engine start and the progress bar.

Errors: a :class:`~diffrender.errors.DiffrenderError` (and any unexpected exception) becomes one
line on stderr, ``diffrender: error: <file>: <what>``, and exit status 1; a wrong command line is
click's usage error, exit status 2. ``DIFFRENDER_DEBUG=1`` shows the traceback of unexpected
errors.
"""
from __future__ import annotations

import functools
import os
import sys
import time

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .errors import DiffrenderError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
#: ``--device`` values (``diffrender.engine.DEVICES``, spelled out so that parsing a command
#: line does not import the engine)
DEVICE_CHOICES = ("cpu", "cuda", "vulkan", "auto")
PREFIX = "diffrender: error: "


def fail(message: str) -> None:
    """Print ``diffrender: error: <message>`` on stderr and exit with status 1."""
    click.echo(f"{PREFIX}{message}", err=True)
    raise SystemExit(EXIT_ERROR)


def handle_errors(fn):
    """Run a command body; turn our errors (and unexpected ones) into a one-line message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DiffrenderError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("diffrender: interrupted", err=True)
            raise SystemExit(EXIT_INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - last resort: no traceback unless asked
            if os.environ.get("DIFFRENDER_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (set DIFFRENDER_DEBUG=1 for the traceback)")

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
device_option = click.option("--device", type=click.Choice(DEVICE_CHOICES), default=None,
                             help="Compute device (default: $DIFFRENDER_DEVICE or auto).")
threads_option = click.option("--threads", type=click.IntRange(min=1), default=None,
                              help="CPU threads (default: all cores).")


def start_engine(device, threads, quiet=False) -> str:
    """Start the engine on ``device`` (``diffrender.engine.init``); returns the device used."""
    from . import engine  # lazy engine start: importing Taichi takes about a second

    return engine.init(device, threads=threads, verbose=not quiet)


class _NoBar:
    def __enter__(self):
        return lambda done: None

    def __exit__(self, *exc):
        return False


class _Bar:
    def __init__(self, total, label, unit_scale):
        self.total, self.label, self.unit_scale = total, label, unit_scale

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.p = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                          TextColumn("{task.completed}/{task.total} spp"),
                          TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                          TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self.p.__enter__()
        self.task = self.p.add_task(self.label, total=self.total, rate="")

        def update(done):
            dt = max(time.perf_counter() - self.t0, 1e-9)
            self.p.update(self.task, completed=done,
                          rate=f"{done * self.unit_scale / dt / 1e6:.2f} M samples/s")

        return update

    def __exit__(self, *exc):
        self.p.__exit__(*exc)
        return False


def progress_bar(total: int, label: str, unit_scale: float):
    """A rich progress bar on a terminal; a no-op when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return _NoBar()
    return _Bar(total, label, unit_scale)


__all__ = ["EXIT_ERROR", "DEVICE_CHOICES", "fail", "handle_errors", "parse_defines", "define_option",
           "device_option", "threads_option", "start_engine", "progress_bar"]
