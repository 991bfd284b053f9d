"""What every ``diffrender`` command shares: the error convention, the ``--device`` /
``--threads`` / ``-D`` options, the engine start and the progress bar.

Errors: a :class:`~diffrender.errors.DiffrenderError` (and any unexpected exception) becomes one
line on stderr, ``diffrender: error: <file>: <what>``, and exit status 1; a wrong command line is
click's usage error, exit status 2. ``DIFFRENDER_DEBUG=1`` shows the traceback of unexpected
errors.

Progress: every command that can take more than a second shows a progress bar on a terminal and,
when stderr is not a terminal, one plain line every few seconds (:class:`Progress`); summaries
give wall and CPU time (:class:`Stopwatch`).
"""
from __future__ import annotations

import functools
import os
import sys
import threading
import time

import click
from rich.console import Console
from rich.progress import BarColumn
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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
shaders_option = click.option(
    "--allow-shaders", is_flag=True,
    help="Let the scene run the shader programs it names (a shader is Python code: allow only "
         "scenes you trust; or list trusted folders in DIFFRENDER_SHADER_PATH).")
device_option = click.option("--device", type=click.Choice(DEVICE_CHOICES), default=None,
                             help="Compute device (default: $DIFFRENDER_DEVICE or auto).")
threads_option = click.option("--threads", type=click.IntRange(min=1), default=None,
                              help="CPU threads (default: all cores).")

workers_option = click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Run on N Ray workers (needs the 'distributed' extra); --threads is then per worker "
         "(default: the cores / N).")
address_option = click.option(
    "--address", default=None, metavar="ADDR",
    help="Join the Ray cluster at ADDR (HOST:PORT of its head node, or auto) instead of starting "
         "Ray on this machine; with Ray's token authentication set RAY_AUTH_MODE=token.")


def start_engine(device, threads, quiet=False) -> str:
    """Start the engine on ``device`` (``diffrender.engine.init``); returns the device used."""
    from . import engine  # lazy engine start: importing Taichi takes about a second

    return engine.init(device, threads=threads, verbose=not quiet)


#: seconds between the plain progress lines written when stderr is not a terminal
#: (``DIFFRENDER_PROGRESS_S`` overrides it)
PLAIN_PROGRESS_INTERVAL_S = 5.0
PROGRESS_INTERVAL_ENV = "DIFFRENDER_PROGRESS_S"


def _plain_interval() -> float:
    raw = os.environ.get(PROGRESS_INTERVAL_ENV)
    if raw is None:
        return PLAIN_PROGRESS_INTERVAL_S
    try:
        v = float(raw)
    except ValueError:
        v = float("nan")
    if not (v > 0 and v < float("inf")):
        fail(f"{PROGRESS_INTERVAL_ENV}: expected a positive number of seconds, got '{raw}'")
    return v


class Stopwatch:
    """Wall-clock and CPU time (all threads of this process) since it was made."""

    def __init__(self):
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    @property
    def cpu(self) -> float:
        return time.process_time() - self.cpu0

    def summary(self) -> str:
        """``wall 2.10 s, CPU 3.95 s``."""
        return f"wall {self.wall:.2f} s, CPU {self.cpu:.2f} s"


class Progress:
    """Progress of a long command, on stderr.

    On a terminal: a rich progress bar (a spinner with the elapsed time when ``total`` is None).
    Otherwise (a log file, a pipe): one plain line every ``PLAIN_PROGRESS_INTERVAL_S`` seconds,
    ``<label>: 12/64 <unit> (19%), 3.1 s elapsed[, <fields>]``, written by a timer thread so that
    a long step without updates still shows that the command is alive. ``quiet`` shows nothing.

    Use as a context manager; ``update(done, **fields)`` sets the count and the extra fields
    (e.g. ``loss="0.012"``).
    """

    def __init__(self, label: str, total: int | None = None, unit: str = "", quiet: bool = False,
                 tty: bool | None = None):
        self.label, self.total, self.unit, self.quiet = label, total, unit, quiet
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.done, self.fields = 0, {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._bar = None

    # -- rich bar on a terminal
    def _start_bar(self):
        cols = [TextColumn("[bold]{task.description}")]
        if self.total is None:
            cols.append(SpinnerColumn())
        else:
            cols += [BarColumn(), TextColumn("{task.completed}/{task.total}" + (f" {self.unit}" if self.unit else ""))]
        cols += [TextColumn("{task.fields[extra]}"), TimeElapsedColumn()]
        if self.total is not None:
            cols.append(TimeRemainingColumn())
        self._bar = RichProgress(*cols, console=Console(stderr=True), transient=True)
        self._bar.__enter__()
        self._task = self._bar.add_task(self.label, total=self.total, extra="")

    # -- plain lines elsewhere
    def line(self) -> str:
        with self._lock:
            done, fields = self.done, dict(self.fields)
        parts = [f"{self.label}:"]
        if self.total is not None:
            pct = 100.0 * done / self.total if self.total else 100.0
            parts.append(f"{done}/{self.total}" + (f" {self.unit}" if self.unit else "") + f" ({pct:.0f}%),")
        parts.append(f"{self.watch.wall:.1f} s elapsed")
        text = " ".join(parts)
        if fields:
            text += ", " + ", ".join(f"{k} {v}" for k, v in fields.items())
        return text

    def _ticker(self, interval):
        while not self._stop.wait(interval):
            click.echo(self.line(), err=True)

    def __enter__(self):
        self.watch = Stopwatch()
        if self.quiet:
            return self
        if self.tty:
            self._start_bar()
        else:
            self._thread = threading.Thread(target=self._ticker, args=(_plain_interval(),),
                                            name="diffrender-progress", daemon=True)
            self._thread.start()
        return self

    def update(self, done: int, **fields) -> None:
        with self._lock:
            self.done = int(done)
            self.fields.update({k: v for k, v in fields.items()})
        if self._bar is not None:
            extra = ", ".join(f"{k} {v}" for k, v in self.fields.items())
            self._bar.update(self._task, completed=self.done, extra=extra)

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


def progress_bar(total: int, label: str, unit_scale: float, quiet: bool = False):
    """A render progress: ``total`` samples per pixel of ``unit_scale`` pixels; the returned
    context gives ``update(done)``, which also shows the sample rate."""
    prog = Progress(label, total, "spp", quiet=quiet)

    class _Ctx:
        def __enter__(self):
            prog.__enter__()

            def update(done):
                dt = max(prog.watch.wall, 1e-9)
                prog.update(done, rate=f"{done * unit_scale / dt / 1e6:.2f} M samples/s")

            return update

        def __exit__(self, *exc):
            return prog.__exit__(*exc)

    return _Ctx()


__all__ = ["EXIT_ERROR", "DEVICE_CHOICES", "fail", "handle_errors", "parse_defines", "define_option",
           "device_option", "threads_option", "workers_option", "address_option", "start_engine", "progress_bar", "Progress", "Stopwatch",
           "PLAIN_PROGRESS_INTERVAL_S"]
