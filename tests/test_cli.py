"""CLI behaviour common to all commands (render/info tests live with the renderer and loader)."""
import subprocess
import sys

import numpy as np

from diffrender import write_image


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "diffrender", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_compare_prints_metrics_and_writes_diff(tmp_path):
    ref = np.full((16, 16, 3), 0.5, np.float32)
    write_image(tmp_path / "ref.exr", ref)
    write_image(tmp_path / "a.exr", ref + 0.1)
    r = run_cli("compare", tmp_path / "a.exr", tmp_path / "ref.exr", "--diff", tmp_path / "d.png")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(None, 1) for line in r.stdout.strip().splitlines())
    assert float(lines["RMSE"]) == np.float32(0.1).item() or abs(float(lines["RMSE"]) - 0.1) < 1e-6
    assert lines["PSNR"].startswith("20.000")
    assert (tmp_path / "d.png").exists()


def test_compare_size_mismatch_is_one_line(tmp_path):
    write_image(tmp_path / "a.exr", np.zeros((8, 8, 3)))
    write_image(tmp_path / "b.exr", np.zeros((8, 9, 3)))
    r = run_cli("compare", tmp_path / "a.exr", tmp_path / "b.exr")
    assert r.returncode == 1
    assert r.stderr.strip() == (f"diffrender: error: {tmp_path / 'a.exr'} vs {tmp_path / 'b.exr'}: "
                                "images differ in size: 8x8 vs 9x8")
    assert "Traceback" not in r.stderr


def test_missing_file_is_one_line(tmp_path):
    r = run_cli("compare", tmp_path / "x.exr", tmp_path / "y.exr")
    assert r.returncode == 1
    assert r.stderr.strip() == f"diffrender: error: {tmp_path / 'x.exr'}: no such image file"
