"""The one module that imports the Taichi engine and calls ``ti.init``.

Everything else in the package does ``from diffrender.engine import ti`` and calls
:func:`ensure_init` (or uses :func:`kernel_scope`) before creating fields or launching kernels.
Nothing here runs ``ti.init`` at import time.

Distribution: ``taichi_forge`` 0.7.0 where it has wheels (Linux x86_64, Windows), else upstream
``taichi`` 1.7.4 (macOS, Linux aarch64). See ``../shared/taichi-autodiff.md`` for why, and for the
kernel layouts that differentiate correctly on both.

Device: ``cpu``, ``cuda``, ``vulkan`` or ``auto`` (a GPU when one works, else the CPU), from
:func:`init`'s argument, else the ``DIFFRENDER_DEVICE`` environment variable, else ``auto``.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")  # no network at import

import contextlib
import warnings

# taichi-forge warns (SyntaxWarning, pointing at our source) when a kernel's ti.static unrolling
# exceeds its threshold. Our kernels unroll bounces and filter taps on purpose (the layout that
# differentiates correctly), so the note is noise for users; DIFFRENDER_VERBOSE=1 keeps it.
if not os.environ.get("DIFFRENDER_VERBOSE"):
    warnings.filterwarnings("ignore", message=r"Compiling '.*': source expansion exceeded",
                            category=SyntaxWarning)


@contextlib.contextmanager
def _stdout_to_stderr():
    """Taichi prints version/arch banners on stdout at import and init: drop them, so that
    stdout carries only our output (JSON lines of the benchmarks, piped data). Taichi's
    warnings and errors go to stderr and are kept; ``DIFFRENDER_VERBOSE=1`` keeps the banners
    (on stderr)."""
    target = 2 if os.environ.get("DIFFRENDER_VERBOSE") else os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no real fd (captured by a test runner)
        if target != 2:
            os.close(target)
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    try:
        os.dup2(target, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        if target != 2:
            os.close(target)


with _stdout_to_stderr():
    try:  # pragma: no cover - which branch runs depends on the platform
        import taichi_forge as ti  # type: ignore

        DISTRIBUTION = "taichi-forge"
    except ImportError:  # pragma: no cover
        try:
            import taichi as ti  # type: ignore

            DISTRIBUTION = "taichi"
        except ImportError as exc:
            raise ImportError(
                "diffrender needs the Taichi engine: `pip install taichi-forge==0.7.0` "
                "(Linux x86_64, Windows) or `pip install taichi==1.7.4` (macOS, Linux aarch64)"
            ) from exc

from .errors import EngineError

DEVICES = ("cpu", "cuda", "vulkan", "auto")

_state = {"initialized": False, "device": None, "threads": None}
_reset_hooks: list = []  # called before the engine is re-initialised (fields become invalid)


def on_reset(fn) -> None:
    """Register ``fn()`` to run when :func:`init` resets the engine (caches of fields)."""
    _reset_hooks.append(fn)


def _arch_for(name: str):
    return {"cpu": ti.cpu, "cuda": ti.cuda, "vulkan": ti.vulkan}[name]


def _arch_name(arch) -> str:
    text = str(arch).split(".")[-1].lower()
    return {"x64": "cpu", "arm64": "cpu"}.get(text, text)


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "diffrender", "kernels")


def _try_init(arch, threads: int | None) -> bool:
    kwargs = dict(
        arch=arch,
        offline_cache=True,
        offline_cache_file_path=_cache_dir(),
        enable_fallback=False,
        log_level="error",
    )
    if DISTRIBUTION == "taichi-forge":
        kwargs["compile_tier"] = "full"  # the default tier makes backward kernels ~4x slower
    if threads:
        kwargs["cpu_max_num_threads"] = int(threads)
    try:
        with _stdout_to_stderr():
            ti.init(**kwargs)
    except Exception:  # noqa: BLE001 - the backend could not start; caller decides
        return False
    return _arch_name(ti.cfg.arch) == _arch_name(arch)


def init(device: str | None = None, threads: int | None = None, verbose: bool = False) -> str:
    """Initialise the engine on ``device`` and return the device actually used.

    Calling it again with the same device is a no-op; with another device it re-initialises
    (fields created before are lost, as with ``ti.reset``).
    """
    device = (device or os.environ.get("DIFFRENDER_DEVICE") or "auto").lower()
    if device not in DEVICES:
        raise EngineError(f"unknown device '{device}': expected one of {', '.join(DEVICES)}")
    if threads is None and os.environ.get("DIFFRENDER_THREADS"):
        threads = int(os.environ["DIFFRENDER_THREADS"])
    if _state["initialized"]:
        if device in ("auto", _state["device"]) and (threads is None or threads == _state["threads"]):
            return _state["device"]
        for fn in _reset_hooks:
            fn()
        ti.reset()
        _state["initialized"] = False
    if device == "auto":
        chosen = None
        for cand in ("cuda", "vulkan"):
            if _try_init(_arch_for(cand), threads):
                chosen = cand
                break
            ti.reset()
        if chosen is None:
            if not _try_init(ti.cpu, threads):
                raise EngineError("could not start the Taichi CPU backend")
            chosen = "cpu"
        if verbose:
            print(f"diffrender: device auto -> {chosen}", file=sys.stderr)
    else:
        if not _try_init(_arch_for(device), threads):
            ti.reset()
            raise EngineError(
                f"device '{device}' is not available on this machine "
                "(use --device cpu, or auto to fall back to the CPU)"
            )
        chosen = device
    _state.update(initialized=True, device=chosen, threads=threads)
    return chosen


def reset() -> str:
    """Re-initialise the engine on the same device (every field and compiled kernel is dropped,
    the renderer pool with them); returns the device."""
    dev, threads = _state["device"], _state["threads"]
    if _state["initialized"]:
        for fn in _reset_hooks:
            fn()
        ti.reset()
        _state["initialized"] = False
    return init(dev or None, threads=threads)


def ensure_init() -> str:
    """Initialise with the defaults unless already initialised; return the device."""
    if not _state["initialized"]:
        return init()
    return _state["device"]


def device() -> str | None:
    """The device in use, or None before initialisation."""
    return _state["device"]


def has_forward_mode() -> bool:
    """Upstream taichi 1.7.4 crashes in forward mode on kernels with vector locals."""
    return DISTRIBUTION == "taichi-forge"


def require_forward_mode(what: str = "forward-mode differentiation") -> None:
    if not has_forward_mode():
        raise EngineError(
            f"{what} needs taichi-forge; upstream taichi {getattr(ti, '__version__', '')} "
            "fails in forward mode on kernels with vector locals (see docs/engine.md)"
        )


# --- field recycling -------------------------------------------------------------------------
#
# Taichi compiles a kernel for the fields it touches: a new object holding new fields means a new
# compilation. ``recycle_fields`` lets a constructor run again on an existing object while every
# field allocation (``ti.field``, ``ti.Vector.field``, ``ti.Matrix.field``, ``Struct.field`` and
# the typed ``vec3.field(...)`` forms, which go through them) returns, in order, the field that the
# same call returned last time: the object keeps its fields, so its kernels stay compiled. Any call
# that differs (another dtype, shape, gradient flag) allocates a new field and marks the replay as
# a mismatch; the caller must then discard the object.


class FieldLog:
    """The field allocations of one constructor run: ``entries`` = [(call, field), ...]."""

    def __init__(self, replay=None):
        self.replay = replay  # the FieldLog of the previous run, or None
        self.entries: list = []
        self.mismatch = False

    def _take(self, call, alloc):
        old = self.replay.entries if self.replay is not None else ()
        i = len(self.entries)
        if i < len(old) and _same_call(old[i][0], call):
            f = old[i][1]
        else:
            if self.replay is not None:
                self.mismatch = True
            f = alloc()
        self.entries.append((call, f))
        return f

    def complete(self) -> bool:
        """True when the replay re-used exactly the fields of the previous run."""
        return (self.replay is not None and not self.mismatch
                and len(self.entries) == len(self.replay.entries))


def _same_call(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable arguments: not the same call
        return False


_recycle = {"log": None, "depth": 0}


def _wrap_alloc(fn, name, bound_cls=None):
    def alloc(*args, **kwargs):
        log = _recycle["log"]
        if log is None or _recycle["depth"]:
            return fn(*args, **kwargs) if bound_cls is None else fn(bound_cls, *args, **kwargs)
        _recycle["depth"] += 1
        try:
            call = (name, args, tuple(sorted(kwargs.items())))
            if bound_cls is None:
                return log._take(call, lambda: fn(*args, **kwargs))
            return log._take(call, lambda: fn(bound_cls, *args, **kwargs))
        finally:
            _recycle["depth"] -= 1
    return alloc


def _install_recycling():
    if _recycle.get("installed"):
        return
    from importlib import import_module

    root = ti.__name__
    impl = import_module(root + ".lang.impl")
    matrix = import_module(root + ".lang.matrix")
    struct = import_module(root + ".lang.struct")
    wrapped = _wrap_alloc(impl.field, "field")
    impl.field = wrapped
    ti.field = wrapped
    for cls in (matrix.Matrix, matrix.Vector, struct.Struct):
        cm = cls.__dict__.get("field")
        if isinstance(cm, classmethod):
            func = cm.__func__

            def make(func=func, cls=cls):
                def f(klass, *args, **kwargs):
                    return _wrap_alloc(func, cls.__name__ + ".field", klass)(*args, **kwargs)
                return classmethod(f)
            setattr(cls, "field", make())
    _recycle["installed"] = True


@contextlib.contextmanager
def recycle_fields(replay: "FieldLog | None" = None):
    """Record (``replay=None``) or replay the field allocations made inside the block; yields
    the new :class:`FieldLog`. Not re-entrant."""
    _install_recycling()
    if _recycle["log"] is not None:
        raise EngineError("recycle_fields is not re-entrant")
    log = FieldLog(replay)
    _recycle["log"] = log
    try:
        yield log
    finally:
        _recycle["log"] = None


__all__ = ["ti", "DISTRIBUTION", "DEVICES", "init", "reset", "ensure_init", "device",
           "has_forward_mode", "require_forward_mode", "recycle_fields", "FieldLog", "on_reset"]
