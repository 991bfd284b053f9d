"""The GPU subset: the device named by ``DIFFRENDER_TEST_GPU`` (``vulkan``, or ``cuda``) against
the CPU, and against finite differences computed on that device.

Taichi starts one backend per process, so :mod:`tests.gpu.scenarios` runs twice, in child
processes (CPU and GPU side by side), and these tests compare the two result files. CI
(``.ci/run``) runs this on Mesa's software Vulkan driver (lavapipe): the SPIR-V code path
(no float64 transcendental functions, other atomics, buffer limits) without a GPU.

Tolerances, stated per comparison: the render is deterministic (counter-based random numbers,
the film's fixed-order gather), so the CPU and GPU images differ only by the rounding of
float32 arithmetic compiled by another compiler (LLVM x86 vs SPIR-V), a few ulp per pixel;
reverse-mode gradients are sums of float32 atomic adds in thread order (not deterministic on
any parallel backend), so they are compared at 1e-4 relative to the gradient's scale.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.gpu import scenarios

GPU = os.environ.get("DIFFRENDER_TEST_GPU", "").strip().lower()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_TIMEOUT_S = 1500  # both children together; compilation dominates (kernels are not cached)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(GPU not in ("vulkan", "cuda"),
                       reason="set DIFFRENDER_TEST_GPU=vulkan (or cuda) to compare that backend "
                              "with the CPU"),
]

# Relative tolerances (to the largest magnitude of the compared array) -- see the docstring.
IMAGE_RTOL = 1e-5        # forward render and AOVs: float32 rounding, another compiler
GRAD_RTOL = 1e-4         # float32 atomic sums in thread order
FD_RTOL = 2e-3           # replayed derivative vs central differences (common random numbers)
FILTER32_RTOL = 1e-4       # float32 filters: outputs measured 3e-7, parameter gradients 4e-6
FILTER64_RTOL = 1e-12    # float64 filters (the software exp/log on SPIR-V backends included)
FILTER_FD_TOL = 1e-6     # as tests/filters: relative to max(1, |fd|)
EDGE_RTOL = 0.1          # edge-sampled (64 spp) vs exact boundary integral, as tests/core
OPT_ATOL = 1e-3          # 8 Adam steps from the same start: the parameters


def _run(device, path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("DIFFRENDER_DEVICE", None)
    return subprocess.Popen([sys.executable, "-m", "tests.gpu.scenarios", device, str(path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpu")
    procs = {dev: _run(dev, d / f"{dev}.npz") for dev in ("cpu", GPU)}
    for dev, p in procs.items():
        try:
            _, err = p.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail(f"scenarios on {dev} did not finish in {RUN_TIMEOUT_S} s")
        if p.returncode != 0:
            pytest.fail(f"scenarios on {dev} failed:\n{err[-3000:]}")
    cpu, gpu = (dict(np.load(d / f"{dev}.npz")) for dev in ("cpu", GPU))
    return cpu, gpu


def _close(a, b, rtol, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, what
    scale = max(float(np.abs(a).max()), 1e-30)
    err = float(np.abs(a - b).max())
    assert err <= rtol * scale, f"{what}: max |gpu - cpu| = {err:.3g}, {err / scale:.3g} of its scale"


def test_ran_on_the_device_asked_for(res):
    cpu, gpu = res
    assert str(cpu["device"]) == "cpu"
    assert str(gpu["device"]) == GPU and str(gpu["device_name"])


def test_kernel_caches_are_per_device(res):
    cpu, gpu = res
    dirs = [str(cpu["cache_dir"]), str(gpu["cache_dir"])]
    assert dirs[0] != dirs[1] and os.path.basename(dirs[1]).startswith(GPU + "-")
    for d in dirs:  # both filled by their own run
        assert any(files for _, _, files in os.walk(d)), d


def test_forward_render_matches_cpu(res):
    cpu, gpu = res
    assert np.all(np.isfinite(gpu["render"])) and gpu["render"].max() > 0
    _close(gpu["render"], cpu["render"], IMAGE_RTOL, "render")


def test_torch_images_cross_in_place_where_the_device_allows(res):
    """diffrender.torch: CPU tensors on the CPU backend and CUDA tensors on CUDA are developed
    into and read in place (DLPack, no copy: the output tensor keeps its memory); Vulkan and
    host tensors on CUDA go through the host. Same image and gradient as the CPU either way."""
    cpu, gpu = res
    if "torch.render" not in gpu:
        pytest.skip("the 'torch' extra is not installed")
    assert bool(cpu["torch.in_place"]) and str(cpu["torch.device"]) == "cpu"
    on_gpu = str(gpu["torch.device"]).startswith("cuda")
    assert not on_gpu or GPU == "cuda"  # CUDA tensors on a CUDA run with a CUDA torch
    assert bool(gpu["torch.in_place"]) == on_gpu
    np.testing.assert_array_equal(gpu["torch.out"], gpu["torch.render"])
    _close(gpu["torch.render"], cpu["torch.render"], IMAGE_RTOL, "torch render")
    _close(gpu["torch.grad"], cpu["torch.grad"], GRAD_RTOL, "torch gradient")


@pytest.mark.parametrize("aov", ["depth", "normal", "albedo", "alpha"])
def test_aovs_match_cpu(res, aov):
    cpu, gpu = res
    _close(gpu[f"aov.{aov}"], cpu[f"aov.{aov}"], IMAGE_RTOL, aov)


@pytest.mark.parametrize("name", list(scenarios.FD_INDEX) + scenarios.VJP_ONLY)
def test_reverse_mode_matches_cpu_and_finite_differences(res, name):
    cpu, gpu = res
    _close(gpu[f"vjp.{name}"], cpu[f"vjp.{name}"], GRAD_RTOL, name)
    if name not in scenarios.FD_INDEX:
        return
    idx = scenarios.FD_INDEX[name]
    fd = gpu[f"fd.{name}"]
    assert np.all(np.abs(fd) > 1e-4), "indices must have a visible effect"
    g = gpu[f"vjp.{name}"].ravel()[idx]
    np.testing.assert_allclose(g, fd, rtol=FD_RTOL, atol=1e-5, err_msg=name)


def test_forward_mode_matches_cpu_and_reverse_mode(res):
    cpu, gpu = res
    _close(gpu["jvp"], cpu["jvp"], GRAD_RTOL, "jvp")
    assert float(gpu["jvp_dot"]) == pytest.approx(float(gpu["vjp_dot"]), rel=1e-3)


@pytest.mark.parametrize("name", scenarios.EDGE_PARAMS)
def test_edge_sampling_matches_cpu(res, name):
    cpu, gpu = res
    _close(gpu[f"edges.{name}"], cpu[f"edges.{name}"], GRAD_RTOL, name)


@pytest.mark.parametrize("what", ["translate_x", "fov"])
def test_edge_sampling_matches_cpu_and_the_exact_boundary_integral(res, what):
    cpu, gpu = res
    g = float(gpu[f"occ.vjp.{what}"])
    assert g == pytest.approx(float(cpu[f"occ.vjp.{what}"]), rel=GRAD_RTOL)
    assert g == pytest.approx(float(gpu[f"occ.ref.{what}"]), rel=EDGE_RTOL)
    if what == "fov":
        assert float(gpu["occ.jvp.fov"]) == pytest.approx(g, rel=1e-3)


@pytest.mark.parametrize("case", ["gauss", "bilateral", "tone"])
def test_filters_and_their_gradients(res, case):
    cpu, gpu = res
    for dt, rtol in (("float32", FILTER32_RTOL), ("float64", FILTER64_RTOL)):
        for part in ("out", "gi", "gp"):
            key = f"filter.{case}.{dt}.{part}"
            _close(gpu[key], cpu[key], rtol, key)
    gp, fd = gpu[f"filter.{case}.float64.gp"], gpu[f"filter.{case}.fd"]
    assert np.all(np.abs(gp - fd) < FILTER_FD_TOL * np.maximum(1.0, np.abs(fd))), (gp, fd)
    jd = gpu[f"filter.{case}.jdot"]
    assert np.all(np.abs(jd - gp) < 1e-9 * np.maximum(1.0, np.abs(gp))), (jd, gp)


def test_short_optimize_matches_cpu(res):
    cpu, gpu = res
    np.testing.assert_allclose(gpu["opt.params"], cpu["opt.params"], atol=OPT_ATOL)
    loss = gpu["opt.loss"]
    assert loss[-1] < 0.5 * loss[0], loss
