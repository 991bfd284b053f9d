"""The one module that imports the Taichi engine and calls ``ti.init``.

Everything else in the package does ``from diffrender.engine import ti`` and calls
:func:`ensure_init` (or uses :func:`kernel_scope`) before creating fields or launching kernels.
Nothing here runs ``ti.init`` at import time.

Distribution: ``taichi_forge`` 0.7.0 where it has wheels (Linux x86_64, Windows), else upstream
``taichi`` 1.7.4 (macOS, Linux aarch64). See ``../shared/taichi-autodiff.md`` for why, and for the
kernel layouts that differentiate correctly on both.

Device: ``cpu``, ``cuda``, ``vulkan`` or ``auto``, from :func:`init`'s argument, else the
``DIFFRENDER_DEVICE`` environment variable, else ``auto``. ``auto`` takes a real GPU (CUDA, then a
hardware Vulkan device) and otherwise the CPU: it never takes a software Vulkan device
(lavapipe/llvmpipe, SwiftShader: ``VK_PHYSICAL_DEVICE_TYPE_CPU``), which is many times slower
than the CPU backend. The devices are listed by ``_device_probe.py`` in a child process (ctypes
against the Vulkan loader and the CUDA driver), so a broken driver cannot take this process down.
``vulkan`` asked for explicitly runs on a software device too. :func:`device` and
:func:`device_info` say what was taken, and why a GPU was not (also logged on the
``diffrender.engine`` logger).
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")  # no network at import

import atexit
import contextlib
import importlib._bootstrap
import inspect
import json
from importlib import import_module
import logging
import re
import subprocess
import time
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

import numpy as np

from .errors import EngineError, ImageError


def _map_import_frames() -> None:
    """Let ``inspect.getmodule`` find the import machinery's frames in its cache.

    Taichi's ``@ti.func`` / ``@ti.kernel`` decorators look at their caller's caller frame
    (``inspect.getframeinfo``) to tell a method of a class from a module-level function. For a
    function defined at module level that frame is importlib's (file ``<frozen
    importlib._bootstrap>``), which ``inspect.getmodule`` cannot map to a file it knows: every
    such decoration scanned all of ``sys.modules`` (over 1,300 scans, about 0.5 s of every
    process that imports the renderer). Mapping that file name to its module gives the same
    answer (the frame has no source either way: not a class body) at once."""
    name = "<frozen importlib._bootstrap>"
    if name not in inspect.modulesbyfile:
        inspect.modulesbyfile[name] = importlib._bootstrap.__name__


_map_import_frames()

DEVICES = ("cpu", "cuda", "vulkan", "auto")
log = logging.getLogger("diffrender.engine")

PROBE_TIMEOUT_S = 30  # listing devices takes ~0.2 s; a hung driver must not hang us
# Vulkan device types that are real GPUs, best first; "cpu" (software) and "other" are never
# taken by auto.
HARDWARE_VULKAN_TYPES = ("discrete", "integrated", "virtual")
# Software rasterisers, by name: a second check behind the device type (some report "other").
SOFTWARE_VULKAN_NAMES = ("llvmpipe", "lavapipe", "swiftshader", "softpipe")
VISIBLE_DEVICE_ENV = "TI_VISIBLE_DEVICE"  # Taichi's choice of Vulkan physical device (index)
MEMORY_ENV = "DIFFRENDER_DEVICE_MEMORY_GB"  # CUDA: Taichi's preallocated device memory pool
COMPILE_LOG_ENV = "DIFFRENDER_COMPILE_LOG"  # append each process's kernel compile seconds here at exit
MIB = 2 ** 20
# taichi-forge keeps at most this many compiled kernel specializations per process and then
# refuses new ones (its default, 1024, is reached by a long session: many scenes, materials,
# derivative modes, filters; the test suite reaches it). Each one costs host memory only.
KERNEL_SPECIALIZATION_LIMIT = 16384
# taichi-forge's CPU backend hands out the iterations of a parallel range-for to its threads in
# chunks of this many (whatever ti.loop_config's block_dim): a loop of up to CPU_GRAIN heavy
# iterations (bands of an image, say) runs on one thread. Measured: 2, 16, 256 or 512 iterations
# of equal work take one thread's time, 1024 take half of it. See ``task_stride``.
CPU_GRAIN = 512

_state = {"initialized": False, "device": None, "threads": None, "name": None, "reason": None,
          "software": False, "limits": {}, "compile_s_before": 0.0, "counting": False}
_probe_cache: dict = {}
_reset_hooks: list = []  # called before the engine is re-initialised (fields become invalid)


def on_reset(fn) -> None:
    """Register ``fn()`` to run when :func:`init` resets the engine (caches of fields)."""
    _reset_hooks.append(fn)


def _arch_for(name: str):
    return {"cpu": ti.cpu, "cuda": ti.cuda, "vulkan": ti.vulkan}[name]


def _arch_name(arch) -> str:
    text = str(arch).split(".")[-1].lower()
    return {"x64": "cpu", "arm64": "cpu"}.get(text, text)


# --- which devices exist ---------------------------------------------------------------------


def probe(refresh: bool = False) -> dict:
    """The CUDA and Vulkan devices of this machine (see ``_device_probe.py`` for the format),
    listed once per process in a child process. A probe that fails reports an ``error``."""
    if _probe_cache and not refresh:
        return _probe_cache["info"]
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_device_probe.py")
    try:
        out = subprocess.run([sys.executable, "-I", script], capture_output=True, text=True,
                             timeout=PROBE_TIMEOUT_S, check=False)
        info = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else None
        if not isinstance(info, dict):
            raise ValueError(f"exit status {out.returncode}: {out.stderr.strip()[-200:]}")
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        err = f"the device probe failed ({type(exc).__name__}: {exc})"
        info = {"cuda": {"devices": [], "error": err}, "vulkan": {"devices": [], "error": err}}
    _probe_cache["info"] = info
    return info


def is_software(dev: dict) -> bool:
    """A Vulkan device that runs on the CPU: its type, or a known software rasteriser's name."""
    name = str(dev.get("name", "")).lower()
    return dev.get("type") == "cpu" or any(n in name for n in SOFTWARE_VULKAN_NAMES)


def _vulkan_rank(dev: dict):
    t = dev.get("type")
    kind = HARDWARE_VULKAN_TYPES.index(t) if t in HARDWARE_VULKAN_TYPES and not is_software(dev) \
        else len(HARDWARE_VULKAN_TYPES) + (1 if is_software(dev) else 0)
    return (kind, -int(dev.get("device_local_bytes", 0)), int(dev.get("index", 0)))


def _visible(devices: list) -> list:
    """The devices Taichi may take: only the ``TI_VISIBLE_DEVICE`` one when that is set."""
    want = os.environ.get(VISIBLE_DEVICE_ENV, "").strip()
    if want.isdigit():
        return [d for d in devices if int(d.get("index", -1)) == int(want)]
    return list(devices)


def _describe(dev: dict) -> str:
    return f"'{dev.get('name', '?')}' (type {dev.get('type', '?')})"


def plan_auto(info: dict) -> tuple[list, list]:
    """What ``auto`` tries, best first, as ``[(device, description dict), ...]``, and the
    reasons each GPU kind is not in the list (one string per kind left out)."""
    plan, reasons = [], []
    cuda = info.get("cuda") or {}
    if cuda.get("devices"):
        plan.append(("cuda", cuda["devices"][0]))
    else:
        reasons.append(f"CUDA: {cuda.get('error') or 'no device'}")
    vk = info.get("vulkan") or {}
    devices = _visible(vk.get("devices") or [])
    usable, skipped = [], []
    for d in sorted(devices, key=_vulkan_rank):
        if is_software(d):
            skipped.append(f"{_describe(d)} is a software (CPU) device, slower than the CPU "
                           "backend; --device vulkan uses it")
        elif d.get("type") not in HARDWARE_VULKAN_TYPES:
            skipped.append(f"{_describe(d)} is not a GPU")
        elif d.get("float64") is False:
            skipped.append(f"{_describe(d)} has no 64-bit floats (shaderFloat64), which the "
                           "film accumulators need")
        else:
            usable.append(d)
    if usable:
        plan.append(("vulkan", usable[0]))
    elif skipped:
        reasons.append("Vulkan: " + "; ".join(skipped))
    else:
        reasons.append(f"Vulkan: {vk.get('error') or 'no device'}")
    return plan, reasons


# --- starting the engine ---------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()[:64] or "device"


def cache_dir(device: str | None = None, name: str | None = None) -> str:
    """The offline kernel cache of one device: ``$XDG_CACHE_HOME/diffrender/kernels/<key>``,
    keyed by backend and device name, so that CPU and GPU runs (and two GPUs with other
    capabilities) never share compiled kernels."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    device = device or _state["device"] or "cpu"
    key = device if not name else f"{device}-{_slug(name)}"
    return os.path.join(base, "diffrender", "kernels", key)


@contextlib.contextmanager
def _visible_device(index):
    """Point Taichi's Vulkan backend at physical device ``index`` while it starts (unless the
    user chose one with ``TI_VISIBLE_DEVICE``)."""
    if index is None or VISIBLE_DEVICE_ENV in os.environ:
        yield
        return
    os.environ[VISIBLE_DEVICE_ENV] = str(int(index))
    try:
        yield
    finally:
        os.environ.pop(VISIBLE_DEVICE_ENV, None)


def _try_init(arch, threads: int | None, cache: str | None = None, vk_index=None) -> bool:
    kwargs = dict(
        arch=arch,
        offline_cache=True,
        offline_cache_file_path=cache or cache_dir(_arch_name(arch)),
        enable_fallback=False,
        log_level="error",
    )
    if DISTRIBUTION == "taichi-forge":
        kwargs["compile_tier"] = "full"  # the default tier makes backward kernels ~4x slower
        kwargs["kernel_specialization_limit"] = KERNEL_SPECIALIZATION_LIMIT
    if threads:
        kwargs["cpu_max_num_threads"] = int(threads)
    if _arch_name(arch) == "cuda" and os.environ.get(MEMORY_ENV):
        try:
            kwargs["device_memory_GB"] = float(os.environ[MEMORY_ENV])
        except ValueError:
            raise EngineError(f"{MEMORY_ENV}={os.environ[MEMORY_ENV]!r}: expected a number of "
                              "gigabytes") from None
    try:
        with _stdout_to_stderr(), _visible_device(vk_index):
            ti.init(**kwargs)
    except Exception:  # noqa: BLE001 - the backend could not start; caller decides
        return False
    return _arch_name(ti.cfg.arch) == _arch_name(arch)


def _limits(dev: dict | None) -> dict:
    if not dev:
        return {}
    out = {}
    if dev.get("max_storage_buffer_bytes"):
        out["max_buffer_bytes"] = int(dev["max_storage_buffer_bytes"])
    mem = dev.get("device_local_bytes") or dev.get("memory_bytes")
    if mem:
        out["memory_bytes"] = int(mem)
    return out


def _explicit_vulkan() -> dict | None:
    """The Vulkan device Taichi will take when ``vulkan`` is asked for (hardware first, then
    software), or None when the probe lists none; raises when it cannot run our kernels."""
    vk = probe().get("vulkan") or {}
    devices = sorted(_visible(vk.get("devices") or []), key=_vulkan_rank)
    if not devices:
        return None
    dev = devices[0]
    if dev.get("float64") is False:
        raise EngineError(f"Vulkan device {_describe(dev)} has no 64-bit floats (shaderFloat64), "
                          "which diffrender's film accumulators need: use --device cpu")
    return dev


def init(device: str | None = None, threads: int | None = None, verbose: bool = False) -> str:
    """Initialise the engine on ``device`` and return the device actually used.

    Calling it again with the same device is a no-op; with another device it re-initialises
    (fields created before are lost, as with ``ti.reset``). ``verbose`` prints the device (and
    for ``auto`` why no GPU was taken) on stderr.
    """
    device = (device or os.environ.get("DIFFRENDER_DEVICE") or "auto").lower()
    if device not in DEVICES:
        raise EngineError(f"unknown device '{device}': expected one of {', '.join(DEVICES)}")
    if threads is None and os.environ.get("DIFFRENDER_THREADS"):
        threads = int(os.environ["DIFFRENDER_THREADS"])
    if _state["initialized"]:
        if device in ("auto", _state["device"]) and (threads is None or threads == _state["threads"]):
            return _state["device"]
        _stop_program()
    chosen, dev, reason = None, None, None
    if device == "auto":
        plan, reasons = plan_auto(probe())
        for cand, d in plan:
            name = d.get("name")
            if _try_init(_arch_for(cand), threads, cache_dir(cand, name),
                         d.get("index") if cand == "vulkan" else None):
                chosen, dev = cand, d
                break
            ti.reset()
            reasons.append(f"{cand}: device '{name}' is listed but the backend did not start")
        if chosen is None:
            if not _try_init(ti.cpu, threads, cache_dir("cpu")):
                raise EngineError("could not start the Taichi CPU backend")
            chosen = "cpu"
            reason = "no GPU taken: " + "; ".join(reasons)
            log.info("device auto -> cpu, %s", reason)
    else:
        if device == "vulkan":
            dev = _explicit_vulkan()
        elif device == "cuda":
            cuda = probe().get("cuda") or {}
            dev = (cuda.get("devices") or [None])[0]
        name = dev.get("name") if dev else None
        if not _try_init(_arch_for(device), threads, cache_dir(device, name),
                         dev.get("index") if device == "vulkan" and dev else None):
            ti.reset()
            why = ""
            if device != "cpu" and not dev:
                why = f" ({(probe().get(device) or {}).get('error') or 'no device listed'})"
            raise EngineError(
                f"device '{device}' is not available on this machine{why} "
                "(use --device cpu, or auto to fall back to the CPU)"
            )
        chosen = device
    software = bool(chosen == "vulkan" and dev and is_software(dev))
    _state.update(initialized=True, device=chosen, threads=threads,
                  name=(dev or {}).get("name") if chosen != "cpu" else None, reason=reason,
                  software=software, limits=_limits(dev) if chosen != "cpu" else {})
    if _state["limits"].get("max_buffer_bytes"):
        _install_recycling()  # its allocation hook also checks the per-buffer limit
    if os.environ.get(COMPILE_LOG_ENV) and not _state.get("logging"):
        _state["logging"] = True
        _log_compile_time(os.environ[COMPILE_LOG_ENV])
    if verbose:
        print(f"diffrender: {describe()}", file=sys.stderr)
    return chosen


def compile_seconds() -> float:
    """Seconds this process has spent compiling kernels, over every engine start (resets and
    ``save_kernels`` included); 0 where the distribution does not count them."""
    if not _state["initialized"]:
        return _state["compile_s_before"]
    return _state["compile_s_before"] + _program_compile_seconds()


def _program_compile_seconds() -> float:
    """Compile seconds of the running Taichi program (a reset starts a new one at 0)."""
    prog = getattr(ti.lang.impl.get_runtime(), "prog", None)
    total = getattr(prog, "get_total_compilation_time", None)
    return float(total()) if total else 0.0


def _stop_program() -> None:
    """Drop every field and compiled kernel (the reset hooks first), keeping the compile count."""
    for fn in _reset_hooks:
        fn()
    _state["compile_s_before"] += _program_compile_seconds()
    ti.reset()
    _state["initialized"] = False
    _state["counting"] = False


def count_compiles() -> None:
    """Start counting the kernels this engine compiles (loads from the offline cache are not
    counted): :func:`compiled_kernels`. Needs taichi-forge's kernel telemetry; elsewhere
    nothing is counted."""
    if not _state["initialized"]:
        return
    prog = getattr(ti.lang.impl.get_runtime(), "prog", None)
    enable = getattr(prog, "_set_kernel_executable_lifecycle_telemetry_enabled", None)
    if enable is not None and not _state["counting"]:
        enable(True)
        _state["counting"] = True


def compiled_kernels() -> int | None:
    """Kernels compiled (not loaded from the offline cache) since :func:`count_compiles` in
    this engine's program; None when they are not being counted."""
    if not (_state["initialized"] and _state["counting"]):
        return None
    stats = ti.lang.impl.get_runtime().prog._debug_kernel_executable_lifecycle_stats()
    return int(stats.get("compiler_invocations", 0))


def save_kernels() -> None:
    """Write the kernels this process compiled to the offline cache (``cache_dir``) now, and
    stop the engine: its next use starts it again on the same device and loads them from there.

    Taichi writes its cache when its program ends (``ti.reset`` or a normal exit). A process
    that is killed (a Ray actor after ``ray.kill``, a Ray worker at ``ray.shutdown``) never
    does, so every run would compile its kernels again: Ray workers call this when done."""
    if _state["initialized"]:
        _stop_program()


def _log_compile_time(path: str) -> None:
    """At exit, append this process's compile time to ``path`` (``DIFFRENDER_COMPILE_LOG``): one
    JSON line per process that started the engine (pytest workers, CLI and docs subprocesses, Ray
    actors), so a suite's compilation can be added up."""
    t0, c0 = time.perf_counter(), time.process_time()

    def write():
        if not _state["initialized"]:
            return
        row = {"pid": os.getpid(), "argv": " ".join(sys.argv)[:300],
               "compile_s": round(compile_seconds(), 3),
               "cpu_s": round(time.process_time() - c0, 3),
               "wall_s": round(time.perf_counter() - t0, 3)}
        with open(path, "a", encoding="utf-8") as f:  # one short append per process
            f.write(json.dumps(row) + "\n")

    atexit.register(write)


def describe() -> str:
    """One line: the device in use, its name, and (auto on the CPU) why no GPU was taken."""
    dev = _state["device"]
    if dev is None:
        return "engine not started"
    text = f"device {dev}"
    if _state["name"]:
        text += f" ({_state['name']}{', software' if _state['software'] else ''})"
    if _state["reason"]:
        text += f"; {_state['reason']}"
    elif _state["software"]:
        text += "; a software Vulkan device is slower than --device cpu"
    return text


def device_info() -> dict:
    """``{"device", "name", "software", "reason", "limits", "cache_dir"}`` of the device in use
    (``reason``: why ``auto`` took no GPU; ``limits``: ``max_buffer_bytes`` (largest field on
    Vulkan), ``memory_bytes``)."""
    return {"device": _state["device"], "name": _state["name"], "software": _state["software"],
            "reason": _state["reason"], "limits": dict(_state["limits"]),
            "cache_dir": cache_dir(_state["device"], _state["name"]) if _state["device"] else None}


def reset() -> str:
    """Re-initialise the engine on the same device (every field and compiled kernel is dropped,
    the renderer pool with them); returns the device."""
    dev, threads = _state["device"], _state["threads"]
    if _state["initialized"]:
        _stop_program()
    return init(dev or None, threads=threads)


def ensure_init() -> str:
    """Initialise with the defaults unless already initialised; return the device."""
    if not _state["initialized"]:
        return init()
    return _state["device"]


def task_stride() -> int:
    """The stride that puts each iteration of a short parallel loop on a CPU task of its own:
    ``for t in range(n * stride)`` with the work at ``t % stride == 0`` (``CPU_GRAIN`` on the
    CPU, 1 on a GPU)."""
    ensure_init()
    return CPU_GRAIN if _arch_name(ti.cfg.arch) == "cpu" else 1


def device() -> str | None:
    """The device in use, or None before initialisation."""
    return _state["device"]


def on_gpu() -> bool:
    """Whether kernels run on a GPU (``cuda`` or ``vulkan``): buffers sized per pass are larger
    there, so that a launch has enough samples to fill the device."""
    return _state["device"] not in (None, "cpu")


# --- device arrays (DLPack) ------------------------------------------------------------------
#
# A tensor of PyTorch, JAX or CuPy that lives where the kernels run (host memory for the CPU
# backend, the same GPU for CUDA) is a kernel argument as it is: taichi-forge's
# ``ti.interop.from_dlpack`` views its memory, and refuses (never copies) what it cannot view.

DLPACK_CUDA = 2  # DLPack's device type of CUDA device memory
DLPACK_DEVICE_TYPES = {"cpu": (1, 3), "cuda": (DLPACK_CUDA, 13)}  # kCPU, kCUDAHost / kCUDA, kCUDAManaged
IMMUTABLE_ARRAY_MODULES = ("jax", "jaxlib")  # JAX arrays are values: never written in place


def is_device_array(a) -> bool:
    """True for an array of another framework that speaks DLPack (not a NumPy array)."""
    return hasattr(a, "__dlpack__") and hasattr(a, "__dlpack_device__") and not isinstance(a, np.ndarray)


def takes_in_place(a) -> bool:
    """True when kernels can read and write the DLPack array ``a`` in place: taichi-forge's
    interop, a CPU or CUDA backend, and ``a`` on that device (a Vulkan backend, upstream
    ``taichi`` or an array elsewhere: False, the caller goes through the host)."""
    if not is_device_array(a) or not hasattr(getattr(ti, "interop", None), "from_dlpack"):
        return False
    ensure_init()
    kinds = DLPACK_DEVICE_TYPES.get(_arch_name(ti.cfg.arch))
    try:
        dev = tuple(a.__dlpack_device__())
    except (TypeError, ValueError, RuntimeError, BufferError):
        return False
    if kinds is None or int(dev[0]) not in kinds:
        return False
    # Taichi's CUDA backend runs on the first visible GPU: an array on another one goes
    # through the host (torch moves it), rather than failing
    return int(dev[0]) != DLPACK_CUDA or int(dev[1]) == 0


def in_place(a, shape: tuple, what: str, write: bool = False):
    """A kernel argument (``ti.types.ndarray(dtype=ti.f32)``) that views the memory of ``a``, a
    float32 C-contiguous DLPack array of ``shape`` on this engine's device (see
    :func:`takes_in_place`): no copy. ``write``: the kernel writes it, so an immutable array
    (JAX's) is refused. Anything else is a one-line ImageError naming ``what``."""
    if write and type(a).__module__.split(".")[0] in IMMUTABLE_ARRAY_MODULES:
        raise ImageError(f"{what}: a JAX array is immutable and cannot be written in place; "
                         "pass a torch tensor")
    if not takes_in_place(a):
        raise ImageError(f"{what}: expected an array on the device '{_state['device']}' that "
                         f"taichi-forge can view through DLPack, got {type(a).__name__}")
    got = tuple(int(n) for n in getattr(a, "shape", ()))
    if got != tuple(shape):
        raise ImageError(f"{what}: expected shape {tuple(shape)}, got {got}")
    try:
        view = ti.interop.from_dlpack(a)
    except (BufferError, TypeError, ValueError) as exc:
        raise ImageError(f"{what}: cannot be used in place ({exc}); pass a C-contiguous array")
    if view._element_type != ti.f32:
        view.close()
        raise ImageError(f"{what}: expected float32 values, got {view._element_type}")
    return view


def sync() -> None:
    """Wait for the kernels launched so far (before another framework reads what they wrote
    into its arrays)."""
    if _state["initialized"]:
        ti.sync()


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


def field_bytes(f) -> int:
    """Bytes of a Taichi field (scalar, vector/matrix or struct field)."""
    keys = getattr(f, "keys", None)
    if keys is not None and hasattr(f, "get_member_field"):
        return sum(field_bytes(f.get_member_field(k)) for k in keys)
    to_np = import_module(ti.__name__ + ".lang.util").to_numpy_type
    count = int(np.prod(tuple(f.shape), dtype=np.int64)) * int(getattr(f, "n", 1) or 1) \
        * int(getattr(f, "m", 1) or 1)
    return count * np.dtype(to_np(f.dtype)).itemsize


def _check_field(f):
    """On Vulkan a field is one storage buffer: one larger than the device's
    ``maxStorageBufferRange`` fails at the first launch with an opaque dispatch error."""
    limit = _state["limits"].get("max_buffer_bytes")
    if not limit or _state["device"] != "vulkan":
        return f
    try:
        n = field_bytes(f)
    except Exception:  # noqa: BLE001 - an unknown field kind: not ours to judge
        return f
    if n > limit:
        raise EngineError(
            f"a field of {n / MIB:.1f} MiB (shape {tuple(f.shape)}) exceeds the largest buffer of "
            f"Vulkan device '{_state['name']}' ({limit / MIB:.0f} MiB, maxStorageBufferRange): "
            "render a smaller image or fewer samples per pass (spp_per_pass), or use --device cpu")
    return f


def _wrap_alloc(fn, name, bound_cls=None):
    def alloc(*args, **kwargs):
        log = _recycle["log"]
        if _recycle["depth"]:
            return fn(*args, **kwargs) if bound_cls is None else fn(bound_cls, *args, **kwargs)
        _recycle["depth"] += 1
        try:
            if log is None:
                f = fn(*args, **kwargs) if bound_cls is None else fn(bound_cls, *args, **kwargs)
                return _check_field(f)
            call = (name, args, tuple(sorted(kwargs.items())))
            if bound_cls is None:
                return _check_field(log._take(call, lambda: fn(*args, **kwargs)))
            return _check_field(log._take(call, lambda: fn(bound_cls, *args, **kwargs)))
        finally:
            _recycle["depth"] -= 1
    return alloc


def _install_recycling():
    if _recycle.get("installed"):
        return
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


__all__ = ["ti", "DISTRIBUTION", "DEVICES", "init", "reset", "ensure_init", "device", "on_gpu",
           "device_info", "describe", "probe", "plan_auto", "is_software", "cache_dir", "save_kernels", "count_compiles", "compiled_kernels",
           "field_bytes", "has_forward_mode", "require_forward_mode", "recycle_fields", "FieldLog", "on_reset",
           "launch", "launch_stats", "FAST_LAUNCH_ENV"]


# --- launching a compiled kernel -------------------------------------------------------------
#
# A Taichi launch from Python costs 0.1-0.3 ms before the kernel runs: the template key, then a
# generic walk over the arguments that handles every kind Taichi accepts. For the kernels that
# run once per render pass or filter call with NumPy arrays and scalars, ``launch`` keeps
# Taichi's own key (``ensure_compiled``: it compiles a new specialisation when a template
# argument differs, and checks each array's dtype and ndim with Taichi's errors) and replaces the
# rest with a plan computed once per compiled kernel: which argument goes to which slot, as what.
# Anything the plan does not cover (autodiff scopes, another device, arrays that are not
# C-contiguous NumPy, kernels that return or print) takes Taichi's ordinary call.
# ``DIFFRENDER_FAST_LAUNCH=0`` turns the shortcut off.

FAST_LAUNCH_ENV = "DIFFRENDER_FAST_LAUNCH"
_ARRAY, _FLOAT, _INT, _UINT = range(4)


class _LaunchPlans:
    """Per process: the argument plan of each compiled kernel (None: take the ordinary call),
    and how many launches took each road (``stats``)."""

    def __init__(self):
        self.plans = {}
        self.stats = {"fast": 0, "ordinary": 0}
        self.enabled = None  # decided at the first launch
        self.no_ad = None
        self.ki = None  # Taichi's kernel module (its argument annotations)

    def usable(self) -> bool:
        if self.enabled is None:
            self.enabled = (DISTRIBUTION == "taichi-forge"
                            and os.environ.get(FAST_LAUNCH_ENV, "1") != "0"
                            and _arch_name(ti.cfg.arch) == "cpu")
            if self.enabled:
                self.ki = import_module(ti.__name__ + ".lang.kernel_impl")
                self.no_ad = self.ki.AutodiffMode.NONE
        return self.enabled

    def plan(self, prim, key):
        hit = self.plans.get(key, False)
        if hit is not False:
            return hit
        ki = self.ki
        slots, plan = [], None
        prim_types, ndarray_type = ki.primitive_types, ki.ndarray_type
        ok = prim.return_type is None and not getattr(prim, "has_print", True)
        for i, a in enumerate(prim.arguments):
            ann = a.annotation
            if isinstance(ann, ki.template):
                continue
            if isinstance(ann, ndarray_type.NdarrayType):
                if ann.layout == ki.Layout.SOA or not (ann.dtype is None or id(ann.dtype) in
                                                       prim_types.type_ids):
                    ok = False
                slots.append((i, _ARRAY))
            elif id(ann) in prim_types.real_type_ids:
                slots.append((i, _FLOAT))
            elif id(ann) in prim_types.integer_type_ids:
                slots.append((i, _INT if ki.is_signed(ki.cook_dtype(ann)) else _UINT))
            else:
                ok = False
        if ok:
            plan = tuple(slots)
        self.plans[key] = plan
        return plan


_launches = _LaunchPlans()
on_reset(lambda: (_launches.plans.clear(), setattr(_launches, "enabled", None)))


def launch_stats() -> dict:
    """How many ``launch`` calls took the shortcut ("fast") and Taichi's call ("ordinary")."""
    return dict(_launches.stats)


def launch(kern, *args):
    """``kern(*args)`` for a ``@ti.kernel`` function or a data-oriented object's kernel method,
    without Taichi's per-call argument walk where that is safe (see above). Same results, same
    errors: whatever the shortcut does not cover goes through ``kern(*args)``."""
    prim = getattr(kern, "_primal", None)
    if prim is None or not _launches.usable():
        _launches.stats["ordinary"] += 1
        return kern(*args)
    owner = getattr(kern, "_kernel_owner", None)
    full = args if owner is None or kern._is_staticmethod else (owner,) + args
    rt = prim.runtime
    if (prim.autodiff_mode != _launches.no_ad or rt.target_tape is not None
            or rt.fwd_mode_manager is not None or rt.grad_replaced
            or len(full) != len(prim.arguments)):
        _launches.stats["ordinary"] += 1
        return kern(*args)
    key = prim.ensure_compiled(*full)
    plan = _launches.plan(prim, key)
    if plan is None:
        _launches.stats["ordinary"] += 1
        return kern(*args)
    kc = prim.compiled_kernels[key]
    ctx = kc.make_launch_context()
    for j, (i, kind) in enumerate(plan):
        v = full[i]
        if kind == _ARRAY:
            if type(v) is not np.ndarray or not v.flags.c_contiguous:
                _launches.stats["ordinary"] += 1
                return kern(*args)
            ctx.set_arg_external_array_with_shape((j,), v.ctypes.data, v.nbytes, v.shape, 0)
        elif kind == _FLOAT and isinstance(v, (float, int, np.floating, np.integer)):
            ctx.set_arg_float((j,), float(v))
        elif kind != _FLOAT and isinstance(v, (int, np.integer)):
            if kind == _INT:
                ctx.set_arg_int((j,), int(v))
            else:
                ctx.set_arg_uint((j,), int(v))
        else:  # Taichi's call raises its own error
            _launches.stats["ordinary"] += 1
            return kern(*args)
    prog = rt.prog
    prog.compile_and_launch_kernel(prog.config(), prog.get_device_caps(), kc, ctx)
    _launches.stats["fast"] += 1
    return None
