"""The device choice on a machine with a real Vulkan driver (CI: Mesa's lavapipe): the CLI says
which device it took; ``auto`` does not take a software device, ``--device vulkan`` does; a
field larger than the device's largest buffer is a clear error."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from diffrender import engine

GPU = os.environ.get("DIFFRENDER_TEST_GPU", "").strip().lower()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORNELL = os.path.join(ROOT, "scenes", "cornell-box", "scene.xml")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(GPU != "vulkan", reason="set DIFFRENDER_TEST_GPU=vulkan to run on Vulkan"),
]


def _env():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("DIFFRENDER_DEVICE", None)
    return env


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "diffrender", *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def vulkan_devices():
    devs = engine.probe()["vulkan"]["devices"]
    if not devs:
        pytest.fail("DIFFRENDER_TEST_GPU=vulkan but the probe lists no Vulkan device: "
                    f"{engine.probe()['vulkan']['error']}")
    return devs


def test_cli_reports_the_device_auto_took_and_vulkan_runs_when_asked(vulkan_devices, tmp_path):
    only_software = all(engine.is_software(d) for d in vulkan_devices)
    small = ["-D", "res=16", "-D", "spp=2", "-D", "max_depth=3"]
    r = _cli("render", CORNELL, *small, "-o", str(tmp_path / "auto.png"))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("diffrender: device")]
    assert len(lines) == 1, r.stderr  # reported once
    if only_software:
        assert lines[0].startswith("diffrender: device cpu; no GPU taken")
        assert "software (CPU) device" in lines[0]
    else:
        assert lines[0].startswith("diffrender: device vulkan (")
    r = _cli("render", CORNELL, *small, "--device", "vulkan", "-o", str(tmp_path / "vk.png"))
    assert r.returncode == 0, r.stderr
    assert "diffrender: device vulkan (" in r.stderr
    assert (tmp_path / "vk.png").stat().st_size > 0


def test_field_over_the_buffer_limit_is_a_clear_error(vulkan_devices):
    code = (
        "import diffrender.engine as e\n"
        "e.init('vulkan')\n"
        "lim = e.device_info()['limits']['max_buffer_bytes']\n"
        "try:\n"
        "    e.ti.field(e.ti.f32, shape=lim // 4 + 1)\n"
        "except e.EngineError as exc:\n"
        "    print('ERR', exc)\n"
        "f = e.ti.field(e.ti.f32, shape=16)\n"  # the engine still works
        "f.fill(2.0)\n"
        "print('SUM', f.to_numpy().sum())\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "ERR a field of" in r.stdout and "maxStorageBufferRange" in r.stdout, r.stdout
    assert "SUM 32.0" in r.stdout
