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


__all__ = ["ti", "DISTRIBUTION", "DEVICES", "init", "ensure_init", "device",
           "has_forward_mode", "require_forward_mode"]
