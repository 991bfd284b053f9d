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
