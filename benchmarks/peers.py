"""Peers the benchmarks compare diffrender with, set up so that a missing peer is skipped with a
reason instead of failing.

Mitsuba 3 (``pip install mitsuba``, the ``bench`` extra) is the rendering peer. Its ``llvm_ad_rgb``
variant JIT-compiles through Dr.Jit's LLVM backend, which loads ``libLLVM.so`` at run time
(Debian/Ubuntu: ``apt-get install libllvm19``); :func:`find_libllvm` locates the library and
:func:`get_mitsuba` exports ``DRJIT_LIBLLVM_PATH`` before Dr.Jit starts. ``scalar_rgb`` needs no
LLVM. Both variants run on Dr.Jit's nanothread pool, limited with ``dr.set_thread_count``.

Usage::

    from peers import get_mitsuba
    peer, why = get_mitsuba("llvm_ad_rgb", threads=2)
    if peer is None:
        print("skipping Mitsuba:", why)
    else:
        scene = peer.load("scenes/cornell-box/scene.xml", res=256)
        image = peer.render(scene, spp=64, seed=0)      # (H, W, 3) float32, linear
"""
from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field

import numpy as np

#: Where libLLVM is looked for when DRJIT_LIBLLVM_PATH is not set (newest first).
LLVM_GLOBS = (
    "/usr/lib/x86_64-linux-gnu/libLLVM.so.*",
    "/usr/lib/x86_64-linux-gnu/libLLVM-*.so",
    "/usr/lib/aarch64-linux-gnu/libLLVM.so.*",
    "/usr/lib/aarch64-linux-gnu/libLLVM-*.so",
    "/usr/lib/llvm-*/lib/libLLVM.so*",
    "/usr/lib/llvm-*/lib/libLLVM-*.so",
    "/usr/lib64/libLLVM.so*",
    "/usr/lib64/libLLVM-*.so",
    "/usr/local/lib/libLLVM.so*",
    "/opt/homebrew/opt/llvm/lib/libLLVM.dylib",
    "/usr/local/opt/llvm/lib/libLLVM.dylib",
)

#: Largest number of samples Mitsuba traces in one wavefront; larger renders are split into
#: passes of equal spp with different seeds and averaged (the llvm variant keeps per-sample state
#: for the whole wavefront: 256x256 at 1024 spp in one pass would need many GB).
MAX_SAMPLES_PER_PASS = 1 << 23


def _llvm_version(path: str) -> tuple[int, ...]:
    digits = []
    for part in os.path.basename(path).replace("-", ".").split("."):
        if part.isdigit():
            digits.append(int(part))
    return tuple(digits)


def find_libllvm() -> str | None:
    """Path of a libLLVM shared library Dr.Jit can load: ``$DRJIT_LIBLLVM_PATH`` when it names an
    existing file, else the newest match of :data:`LLVM_GLOBS`, else None."""
    env = os.environ.get("DRJIT_LIBLLVM_PATH")
    if env and os.path.isfile(env):
        return env
    found = []
    for pattern in LLVM_GLOBS:
        found.extend(p for p in glob.glob(pattern) if os.path.isfile(p))
    if not found:
        return None
    return max(found, key=_llvm_version)


@dataclass
class MitsubaPeer:
    """A Mitsuba 3 variant set up for benchmarking (variant active, thread count limited)."""

    mi: object
    dr: object
    variant: str
    threads: int
    version: str
    drjit_version: str
    libllvm: str | None = None
    info: dict = field(default_factory=dict)

    def activate(self) -> None:
        """Make this peer's variant the active one again (Mitsuba has one active variant)."""
        if self.mi.variant() != self.variant:
            self.mi.set_variant(self.variant)
        self.dr.set_thread_count(self.threads)

    def load(self, path, **defines):
        """Load a scene file; keyword arguments override its ``<default>`` values (like -D)."""
        self.activate()
        return self.mi.load_file(str(path), **{k: str(v) for k, v in defines.items()})

    def film_size(self, scene) -> tuple[int, int]:
        w, h = scene.sensors()[0].film().crop_size()
        return int(w), int(h)

    def render_pass(self, scene, spp: int, seed: int = 0) -> np.ndarray:
        """One call of ``mi.render``, waited for; returns (H, W, 3) float32."""
        img = self.mi.render(scene, spp=int(spp), seed=int(seed) & 0xFFFFFFFF)
        self.dr.eval(img)
        self.dr.sync_thread()
        return np.asarray(img, dtype=np.float32)[:, :, :3]

    def passes(self, scene, spp: int, max_samples: int = MAX_SAMPLES_PER_PASS) -> list[int]:
        """How :meth:`render` splits ``spp`` into passes of equal spp (the last may be smaller)."""
        w, h = self.film_size(scene)
        per = max(1, min(int(spp), max_samples // max(1, w * h)))
        out = [per] * (int(spp) // per)
        if spp % per:
            out.append(int(spp) % per)
        return out

    def render(self, scene, spp: int, seed: int = 0,
               max_samples: int = MAX_SAMPLES_PER_PASS) -> np.ndarray:
        """Render at ``spp`` samples per pixel, in passes of at most ``max_samples`` samples
        (seeds ``(seed * 1000003 + pass) mod 2^32``), spp-weighted average; (H, W, 3) float32 linear."""
        plan = self.passes(scene, spp, max_samples)
        if len(plan) == 1:
            return self.render_pass(scene, spp, seed)
        acc = None
        for i, n in enumerate(plan):
            pass_seed = (seed * 1000003 + i) & 0xFFFFFFFF
            img = self.render_pass(scene, n, pass_seed).astype(np.float64) * n
            acc = img if acc is None else acc + img
        return (acc / float(spp)).astype(np.float32)

    def time_render(self, scene, spp: int, seed: int = 0, repeats: int = 2,
                    max_samples: int = MAX_SAMPLES_PER_PASS) -> dict:
        """Time :meth:`render`: the first call (includes JIT compilation, or the kernel-cache
        look-up in ``~/.drjit``) and the best of ``repeats`` later calls (steady state)."""
        t0 = time.perf_counter()
        img = self.render(scene, spp, seed, max_samples)
        first = time.perf_counter() - t0
        times = []
        for r in range(repeats):
            t0 = time.perf_counter()
            img = self.render(scene, spp, seed + 1 + r, max_samples)
            times.append(time.perf_counter() - t0)
        w, h = self.film_size(scene)
        steady = min(times)
        return {"image": img, "first_s": first, "steady_s": steady, "times_s": times,
                "samples_per_s": w * h * spp / steady, "passes": len(self.passes(scene, spp, max_samples))}

    def describe(self) -> dict:
        return {"peer": "mitsuba", "version": self.version, "drjit": self.drjit_version,
                "variant": self.variant, "threads": self.threads, "libllvm": self.libllvm}


_cache: dict = {}


def get_mitsuba(variant: str = "llvm_ad_rgb", threads: int = 2, log_level: str = "Warn"):
    """Set up the Mitsuba 3 peer. Returns ``(peer, None)``, or ``(None, reason)`` when Mitsuba is
    not installed, the variant does not exist, or (``llvm_*``) no libLLVM can be loaded.

    Call it before anything else imports Dr.Jit: ``DRJIT_LIBLLVM_PATH`` is read when the LLVM
    backend starts."""
    key = (variant, threads)
    if key in _cache:
        peer = _cache[key]
        if peer is not None:
            peer.activate()
        return peer, _cache.get(("why",) + key)

    def fail(reason):
        _cache[key] = None
        _cache[("why",) + key] = reason
        return None, reason

    libllvm = None
    if variant.startswith("llvm"):
        libllvm = find_libllvm()
        if libllvm is None:
            return fail("no libLLVM shared library found (apt-get install libllvm19, or set "
                        "DRJIT_LIBLLVM_PATH to libLLVM.so)")
        os.environ["DRJIT_LIBLLVM_PATH"] = libllvm  # an unusable value set by the user is replaced
    try:
        import drjit as dr
        import mitsuba as mi
    except ImportError as exc:
        return fail(f"mitsuba is not installed (pip install 'diffrender[bench]'): {exc}")
    if variant not in mi.variants():
        return fail(f"mitsuba {mi.__version__} has no variant '{variant}' (has {', '.join(mi.variants())})")
    has_backend = getattr(dr, "has_backend", None)
    if variant.startswith("llvm") and has_backend is not None and not has_backend(dr.JitBackend.LLVM):
        return fail(f"Dr.Jit could not start its LLVM backend with {libllvm} "
                    "(set DRJIT_LIBLLVM_PATH to a working libLLVM.so)")
    try:
        mi.set_variant(variant)
    except Exception as exc:  # noqa: BLE001 - any failure means: no peer
        return fail(f"mitsuba could not set variant '{variant}': {exc}")
    dr.set_thread_count(int(threads))
    mi.set_log_level(getattr(mi.LogLevel, log_level))
    peer = MitsubaPeer(mi=mi, dr=dr, variant=variant, threads=int(threads), version=mi.__version__,
                       drjit_version=dr.__version__, libllvm=libllvm)
    _cache[key] = peer
    return peer, None


if __name__ == "__main__":  # python benchmarks/peers.py: which peers work here
    import json

    for v in ("llvm_ad_rgb", "scalar_rgb"):
        p, why = get_mitsuba(v)
        print(json.dumps(p.describe() if p else {"peer": "mitsuba", "variant": v, "skip": why}))
