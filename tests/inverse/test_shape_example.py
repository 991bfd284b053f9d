"""examples/shape_optimization/shape.py (Mitsuba's shape-optimization tutorial): its cameras, its
download checks, and its pipeline end to end on stand-in files (a coarse sphere deformed toward
an ellipsoid under a synthetic sky), since the tutorial's own files are not in the repository."""
import importlib.util
import io
import math
import os
from pathlib import Path

import numpy as np
import pytest

import diffrender as dr

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shape_optimization" / "shape.py"


@pytest.fixture(scope="module")
def S():
    spec = importlib.util.spec_from_file_location("shape_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_ply(path, V, F):
    import trimesh

    trimesh.Trimesh(V, F, process=False).export(path)


def test_cameras_are_the_tutorials_fibonacci_lattice(S):
    o = np.array(S.camera_origins())
    assert o.shape == (8, 3)
    np.testing.assert_allclose(np.linalg.norm(o, axis=1), 5.0, rtol=1e-12)
    # z = d (1 - 2 (i + 1/2) / n): evenly spaced heights; azimuths step by 2 pi / golden ratio
    np.testing.assert_allclose(o[:, 2], 5.0 * (1 - 2 * (np.arange(8) + 0.5) / 8), atol=1e-12)
    az = np.arctan2(o[:, 1], o[:, 0])
    step = 2 * math.pi / ((1 + 5 ** 0.5) / 2)
    np.testing.assert_allclose(np.cos(np.diff(az)), math.cos(step), atol=1e-12)


def test_fetch_reports_a_failed_download_and_a_wrong_file(S, tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise OSError("no network")

    monkeypatch.setattr(S.urllib.request, "urlopen", offline)
    with pytest.raises(SystemExit) as e:
        S.fetch(str(tmp_path))
    assert str(e.value) == (f"shape.py: cannot download {S.TUTORIALS}meshes/suzanne.ply (no network); "
                            f"put suzanne.ply, ico_10k.ply, envmap2.exr (mitsuba-tutorials/scenes) "
                            f"into {tmp_path}")
    assert not list(tmp_path.iterdir())   # nothing half-written left behind

    monkeypatch.setattr(S.urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(b"not a mesh"))
    with pytest.raises(SystemExit) as e:
        S.fetch(str(tmp_path))
    assert str(e.value) == (f"shape.py: {tmp_path / 'suzanne.ply'}: SHA-256 differs from the "
                            "tutorial's file (delete it to download it again)")


def test_the_pipeline_deforms_a_sphere_toward_the_target(S, tmp_path):
    """Stand-ins for the tutorial's files: an icosphere (the start) and an ellipsoid (the target)
    under a sky brighter at the top. 3 tutorial iterations (24 steps of one view) at 24x24 bring
    the Chamfer distance below half (0.152 -> 0.040 when written); the run's outputs are those
    of ``diffrender optimize``."""
    import trimesh

    data = tmp_path / "data"
    data.mkdir()
    ico = trimesh.creation.icosphere(subdivisions=3)
    write_ply(data / "ico_10k.ply", ico.vertices, ico.faces)
    ell = trimesh.creation.icosphere(subdivisions=3)
    V = ell.vertices * np.array([1.45, 0.75, 1.1])
    write_ply(data / "suzanne.ply", V, ell.faces)
    h, w = 16, 32
    sky = np.broadcast_to(np.linspace(2.0, 0.3, h, dtype=np.float32)[:, None, None], (h, w, 3)).copy()
    dr.write_image(data / "envmap2.exr", sky)

    out = tmp_path / "out"
    config = S.prepare(str(out), str(data), res=24, spp=4, target_spp=32, iterations=3, edge_spp=4)
    assert sorted(p.name for p in out.glob("target*.exr")) == [f"target{i}.exr" for i in range(8)]
    target = (np.asarray(V), np.asarray(ell.faces))
    start = S.chamfer((ico.vertices, ico.faces), target, n=20000)
    dr.optimize(config, overwrite=True)
    result = S.read_mesh(str(out / "run" / "scene_optimized.shape.ply"))
    assert result[0].shape == ico.vertices.shape
    final = S.chamfer(result, target, n=20000)
    assert final < 0.5 * start, (start, final)
    rows = (out / "run" / "trajectory.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 8   # one row per step (one view each)
