import subprocess
import sys

import pytest

from diffrender import EngineError, engine


def _py(code, env=None):
    import os

    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                          timeout=120)


def test_import_does_not_init_and_keeps_stdout_clean():
    r = _py("import diffrender, diffrender.engine as e; print(e.device()); e.init('cpu'); print(e.device())")
    assert r.returncode == 0, r.stderr
    # Taichi's banners go to stderr, our stdout carries only what we print
    assert r.stdout.split() == ["None", "cpu"]


def test_device_from_environment():
    r = _py("import diffrender.engine as e; print(e.ensure_init())", env={"DIFFRENDER_DEVICE": "cpu"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "cpu"


def test_unknown_device_is_a_clear_error():
    with pytest.raises(EngineError, match="unknown device 'gpu': expected one of cpu, cuda, vulkan, auto"):
        engine.init("gpu")


def test_cpu_init_and_distribution():
    assert engine.init("cpu") == "cpu"
    assert engine.device() == "cpu"
    assert engine.DISTRIBUTION in ("taichi-forge", "taichi")
    if engine.DISTRIBUTION == "taichi-forge":
        assert engine.has_forward_mode()
        engine.require_forward_mode()


# --- device choice (issue #18): auto never takes a software Vulkan device ----------------------

LAVAPIPE = {"index": 0, "name": "llvmpipe (LLVM 15.0.6, 256 bits)", "type": "cpu", "float64": True,
            "max_storage_buffer_bytes": 2 ** 27, "device_local_bytes": 2 ** 31}
HARDWARE = {"index": 1, "name": "NVIDIA RTX A4000", "type": "discrete", "float64": True,
            "max_storage_buffer_bytes": 2 ** 32 - 1, "device_local_bytes": 16 * 2 ** 30}
NO_CUDA = {"devices": [], "error": "no CUDA driver (libcuda.so.1 not found)"}


def _info(vulkan=(), cuda=None):
    return {"cuda": cuda or NO_CUDA, "vulkan": {"devices": list(vulkan), "error": None}}


@pytest.fixture
def fake_engine(monkeypatch):
    """``engine.init`` with the probe and the backend start mocked: returns a function that
    runs ``init('auto')`` on a given probe result and gives (device, [(arch, vk_index), ...])."""
    monkeypatch.delenv("TI_VISIBLE_DEVICE", raising=False)
    monkeypatch.delenv("DIFFRENDER_DEVICE", raising=False)

    def run(info, works=("cpu", "cuda", "vulkan"), device="auto"):
        started = []

        def fake_try_init(arch, threads, cache=None, vk_index=None):
            name = engine._arch_name(arch)
            started.append((name, vk_index, cache))
            return name in works

        monkeypatch.setattr(engine, "_state", dict(engine._state, initialized=False, device=None))
        monkeypatch.setattr(engine, "_try_init", fake_try_init)
        monkeypatch.setattr(engine, "probe", lambda refresh=False: info)
        monkeypatch.setattr(engine.ti, "reset", lambda: None)
        return engine.init(device), started

    return run


def test_auto_takes_cpu_over_software_vulkan(fake_engine):
    dev, started = fake_engine(_info([LAVAPIPE]))
    assert dev == "cpu" and [s[0] for s in started] == ["cpu"]
    info = engine.device_info()
    assert info["name"] is None and not info["software"]
    assert "software (CPU) device" in info["reason"] and "llvmpipe" in info["reason"]
    assert "CUDA: no CUDA driver" in info["reason"]


def test_auto_software_by_name_even_when_type_is_other(fake_engine):
    swiftshader = dict(LAVAPIPE, name="SwiftShader Device (Subzero)", type="other")
    dev, _ = fake_engine(_info([swiftshader]))
    assert dev == "cpu" and "SwiftShader" in engine.device_info()["reason"]


def test_auto_takes_hardware_vulkan_and_points_taichi_at_it(fake_engine):
    # lavapipe listed first: the hardware device (index 1) is the one Taichi is told to use
    dev, started = fake_engine(_info([LAVAPIPE, HARDWARE]))
    assert dev == "vulkan"
    assert started[0][:2] == ("vulkan", 1)
    assert started[0][2].endswith("vulkan-nvidia-rtx-a4000")
    info = engine.device_info()
    assert info["name"] == "NVIDIA RTX A4000" and not info["software"] and info["reason"] is None
    assert info["limits"]["max_buffer_bytes"] == 2 ** 32 - 1


def test_auto_prefers_discrete_over_integrated(fake_engine):
    integrated = dict(HARDWARE, index=0, name="Intel(R) UHD Graphics", type="integrated")
    _, started = fake_engine(_info([integrated, HARDWARE]))
    assert started[0][:2] == ("vulkan", 1)


def test_auto_skips_vulkan_without_float64(fake_engine):
    no_f64 = dict(HARDWARE, float64=False)
    dev, _ = fake_engine(_info([no_f64]))
    assert dev == "cpu" and "shaderFloat64" in engine.device_info()["reason"]


def test_auto_takes_cuda_first(fake_engine):
    cuda = {"devices": [{"index": 0, "name": "NVIDIA H100", "memory_bytes": 80 * 2 ** 30}],
            "error": None}
    dev, started = fake_engine(_info([HARDWARE], cuda=cuda))
    assert dev == "cuda" and [s[0] for s in started] == ["cuda"]
    assert engine.device_info()["name"] == "NVIDIA H100"


def test_auto_falls_back_when_a_listed_gpu_does_not_start(fake_engine):
    dev, started = fake_engine(_info([HARDWARE]), works=("cpu",))
    assert dev == "cpu" and [s[0] for s in started] == ["vulkan", "cpu"]
    assert "did not start" in engine.device_info()["reason"]


def test_explicit_vulkan_allows_a_software_device(fake_engine):
    dev, started = fake_engine(_info([LAVAPIPE]), device="vulkan")
    assert dev == "vulkan" and started[0][:2] == ("vulkan", 0)
    assert engine.device_info()["software"]
    assert "software" in engine.describe()


def test_explicit_vulkan_without_float64_is_a_clear_error(fake_engine):
    with pytest.raises(EngineError, match=r"no 64-bit floats \(shaderFloat64\).*--device cpu"):
        fake_engine(_info([dict(HARDWARE, float64=False)]), device="vulkan")


def test_explicit_device_missing_names_the_probe_error(fake_engine):
    with pytest.raises(EngineError, match=r"device 'cuda' is not available on this machine "
                                          r"\(no CUDA driver"):
        fake_engine(_info([]), works=("cpu",), device="cuda")


def test_visible_device_restricts_auto(fake_engine, monkeypatch):
    monkeypatch.setenv("TI_VISIBLE_DEVICE", "0")  # the user pinned lavapipe: auto must not use it
    dev, _ = fake_engine(_info([LAVAPIPE, HARDWARE]))
    assert dev == "cpu"


def test_probe_failure_is_reported_not_raised(monkeypatch):
    def boom(*a, **k):
        raise subprocess.TimeoutExpired(cmd="probe", timeout=1)

    monkeypatch.setattr(engine, "_probe_cache", {})
    monkeypatch.setattr(engine.subprocess, "run", boom)
    info = engine.probe()
    assert info["vulkan"]["devices"] == [] and "probe failed" in info["vulkan"]["error"]
    plan, reasons = engine.plan_auto(info)
    assert plan == [] and any("probe failed" in r for r in reasons)


def test_cache_dir_is_per_device(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cpu = engine.cache_dir("cpu")
    vk = engine.cache_dir("vulkan", "llvmpipe (LLVM 15.0.6, 256 bits)")
    assert cpu == str(tmp_path / "diffrender" / "kernels" / "cpu")
    assert vk == str(tmp_path / "diffrender" / "kernels" / "vulkan-llvmpipe-llvm-15.0.6-256-bits")


def test_field_larger_than_vulkan_buffer_limit_is_a_clear_error(monkeypatch):
    engine.init("cpu")
    ti = engine.ti
    small = ti.Vector.field(3, ti.f32, shape=(4, 5))
    assert engine.field_bytes(small) == 4 * 5 * 3 * 4
    S = ti.types.struct(a=ti.f64, b=ti.types.vector(2, ti.i32))
    assert engine.field_bytes(S.field(shape=7)) == 7 * (8 + 2 * 4)
    # pretend the device is a Vulkan one with a 100-byte buffer limit: the check runs on the
    # field object, so no field of that size needs to exist
    monkeypatch.setitem(engine._state, "device", "vulkan")
    monkeypatch.setitem(engine._state, "name", "tiny")
    monkeypatch.setitem(engine._state, "limits", {"max_buffer_bytes": 100})
    assert engine._check_field(ti.field(ti.f32, shape=25)) is not None  # exactly 100 bytes
    with pytest.raises(EngineError, match=r"exceeds the largest buffer of Vulkan device 'tiny' "
                                          r"\(0 MiB, maxStorageBufferRange\)"):
        engine._check_field(small)


def _software_vulkan_present() -> bool:
    return any(engine.is_software(d) for d in engine.probe()["vulkan"]["devices"])


@pytest.mark.skipif(not _software_vulkan_present(), reason="no software Vulkan device installed")
def test_real_auto_with_lavapipe_installed_takes_the_cpu():
    r = _py("import diffrender.engine as e; print(e.init()); print(e.describe())",
            env={"DIFFRENDER_DEVICE": ""})
    assert r.returncode == 0, r.stderr
    dev, line = r.stdout.strip().splitlines()
    assert dev == "cpu"
    assert "software (CPU) device" in line


COUNT_SCRIPT = """
import numpy as np
import diffrender.engine as e
e.init("cpu")
e.count_compiles()
ti = e.ti
@ti.kernel
def k(x: ti.types.ndarray()):
    x[0] = {value}
a = np.zeros(1, np.float32)
before = e.compiled_kernels()
k(a)
k(a)
print(e.compiled_kernels() - before, a[0])
e.save_kernels()
print(e.compiled_kernels(), e.compile_seconds() > 0)
"""


def test_compiled_kernels_counts_compiles_not_cache_loads(tmp_path):
    """A kernel compiled once counts 1 (its second call 0); in the next process it comes from
    the offline cache that ``save_kernels`` wrote and counts 0. After ``save_kernels`` the
    engine is stopped (nothing counted) and the compile seconds are kept."""
    if engine.DISTRIBUTION != "taichi-forge":
        pytest.skip("compiles are counted with taichi-forge's kernel telemetry only")
    script = tmp_path / "count.py"  # Taichi reads a kernel's source: a file, not -c
    script.write_text(COUNT_SCRIPT.format(value=1234.5))
    code = f"import runpy; runpy.run_path({str(script)!r})"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first, second = _py(code, env), _py(code, env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.split() == ["1", "1234.5", "None", "True"]
    assert second.stdout.split()[:2] == ["0", "1234.5"]


def test_module_level_kernels_are_decorated_without_scanning_sys_modules():
    """Taichi's decorators inspect the frame that defines a function; for a module-level one
    that is importlib's frame. A fresh process that imports the renderer maps it from
    inspect's cache: no decoration scans ``sys.modules`` (it did about 1,300 times)."""
    code = (
        "import inspect, sys\n"
        "import diffrender.engine\n"
        "misses = []\n"
        "orig = inspect.getmodule\n"
        "def getmodule(obj, _filename=None):\n"
        "    m = orig(obj, _filename)\n"
        "    if m is None and _filename and _filename.startswith('<frozen'):\n"
        "        misses.append(_filename)\n"
        "    return m\n"
        "inspect.getmodule = getmodule\n"
        "import diffrender.core.renderer, diffrender.filters\n"
        "diffrender.filters.load_all()\n"
        "print(len(misses), inspect.modulesbyfile.get('<frozen importlib._bootstrap>'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["0", "importlib._bootstrap"]


# --- launch: Taichi's call without its per-call argument walk (issue #17, fixed costs) ---------

def _launch_kernels():
    ti = engine.ti

    @ti.kernel
    def axpy(x: ti.types.ndarray(dtype=ti.f32, ndim=1), y: ti.types.ndarray(dtype=ti.f32, ndim=2),
             a: ti.f32, k: ti.i32, s: ti.u32, taps: ti.template()):
        for i in range(x.shape[0]):
            v = a * x[i] + ti.cast(k, ti.f32) + ti.cast(s % 7, ti.f32)
            for t in ti.static(range(taps)):
                v += 1.0
            y[i // y.shape[1], i % y.shape[1]] = v

    @ti.kernel
    def total(x: ti.types.ndarray(dtype=ti.f32, ndim=1)) -> ti.f32:
        s = 0.0
        for i in range(x.shape[0]):
            s += x[i]
        return s

    @ti.data_oriented
    class Acc:
        def __init__(self):
            self.f = ti.field(ti.f32, shape=6)

        @ti.kernel
        def fill(self, base: ti.f32, out: ti.types.ndarray(dtype=ti.f32, ndim=1)):
            for i in self.f:
                self.f[i] = base + i
                out[i] = 2 * self.f[i]

    return axpy, total, Acc


def test_launch_matches_taichis_call_and_takes_the_shortcut():
    import numpy as np

    engine.init("cpu")
    axpy, total, Acc = _launch_kernels()
    x = np.arange(6, dtype=np.float32)
    want = np.empty((2, 3), np.float32)
    axpy(x, want, 1.5, 3, np.uint32(4_000_000_001), 2)
    got = np.zeros((2, 3), np.float32)
    before = engine.launch_stats()
    engine.launch(axpy, x, got, 1.5, 3, np.uint32(4_000_000_001), 2)
    engine.launch(axpy, x, got, 1.5, 3, np.uint32(4_000_000_001), 2)
    after = engine.launch_stats()
    np.testing.assert_array_equal(got, want)
    assert want[0, 0] == 3 + 4_000_000_001 % 7 + 2  # the unsigned value arrived whole
    if engine.DISTRIBUTION == "taichi-forge":
        assert after["fast"] - before["fast"] == 2
    # another template value: a new specialisation, compiled by Taichi's key
    engine.launch(axpy, x, got, 1.5, 3, np.uint32(4_000_000_001), 5)
    np.testing.assert_array_equal(got, want + 3)
    # a data-oriented object's kernel: the object is the template argument Taichi adds
    acc = Acc()
    out = np.zeros(6, np.float32)
    engine.launch(acc.fill, 10.0, out)
    np.testing.assert_array_equal(out, 2 * (10 + np.arange(6)))
    np.testing.assert_array_equal(acc.f.to_numpy(), 10 + np.arange(6))


def test_launch_falls_back_to_taichis_call_where_the_shortcut_does_not_apply():
    import numpy as np

    engine.init("cpu")
    axpy, total, _ = _launch_kernels()
    x = np.arange(12, dtype=np.float32)
    # a kernel with a return value
    assert engine.launch(total, x) == 66.0
    # a strided view (not C-contiguous): Taichi's call and its error
    y = np.zeros((2, 3), np.float32)
    before = engine.launch_stats()
    with pytest.raises(ValueError, match="Non contiguous numpy arrays are not supported"):
        engine.launch(axpy, x[::2], y, 1.0, 0, 0, 0)
    assert engine.launch_stats()["ordinary"] == before["ordinary"] + 1
    # a Fortran-ordered array: Taichi's call copies it in and back
    yf = np.asfortranarray(np.zeros((2, 3), np.float32))
    engine.launch(axpy, x[:6], yf, 1.0, 0, 0, 0)
    np.testing.assert_array_equal(yf, x[:6].reshape(2, 3))
    # a float where an integer is declared: Taichi's own error, not a silent truncation
    with pytest.raises(Exception, match="i32"):
        engine.launch(axpy, x[:6], y, 1.0, 2.5, 0, 0)


def test_launch_off_renders_and_filters_the_same(monkeypatch):
    """Rendering and a lane filter with the shortcut and with Taichi's call: identical outputs."""
    import numpy as np

    import diffrender
    from diffrender.filters import Pipeline

    engine.init("cpu")
    scene = diffrender.load_scene("scenes/shadow/scene.xml", res=16)
    r = diffrender.Renderer(scene)
    pipe = Pipeline.from_config({"stages": [{"name": "b", "type": "box_blur", "ksize": 5}]})
    x = np.random.default_rng(1).random((24, 20, 3), dtype=np.float32)
    before = engine.launch_stats()
    fast_img, fast_box = r.render(spp=2, seed=3), pipe(x)
    if engine.DISTRIBUTION == "taichi-forge":
        assert engine.launch_stats()["fast"] >= before["fast"] + 5
    monkeypatch.setattr(engine._launches, "enabled", False)
    slow = engine.launch_stats()["ordinary"]
    np.testing.assert_array_equal(r.render(spp=2, seed=3), fast_img)
    np.testing.assert_array_equal(pipe(x), fast_box)
    assert engine.launch_stats()["ordinary"] >= slow + 5
