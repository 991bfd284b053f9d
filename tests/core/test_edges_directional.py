"""Geometry derivatives under a directional light (a point light at infinity: parallel shadow
rays along its direction).

- The shadow of an out-of-view occluder on a floor (test_edges.py's point-light shadow scene,
  the lamp a directional light): every term on, against a deterministic boundary quadrature
  (tests/helpers/edges_ref.py) of the shadow polygon cast along the light's direction; without
  the shadow sampler (``secondary: False``) the gradient misses it.
- The shadow seen only through a diffuse bounce (tests/core/test_edges_indirect.py's scene,
  the lamp a directional light): against central differences with common random numbers,
  measured once and stored (as that test does); without the shadows through a bounce
  (``indirect: False``) the gradient is 13 % off.
- Interior only (a flat-shaded floor and a wall fill the view): against central differences
  with common random numbers, as tests/core/test_geometry_interior.py (the BSDF's cosine with
  the light's fixed direction follows the tilting normal), and forward mode against reverse
  mode.
"""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.core.ad import GradientError
from diffrender.core.camera import project
from tests.core.test_edges import ALBEDO, EDGE_SPP, W, shadow_scene, smooth_adjoint
from tests.core.test_edges_indirect import RES as INDIRECT_RES, TOL as INDIRECT_TOL, gradient
from tests.helpers import edge_scenes
from tests.helpers.edges_ref import polygon_boundary_grad, unproject_to_plane_y
from tests.helpers.fd import assert_interior_matches_fd

DIRECTION = np.array([0.3, -1.0, 0.15])  # the direction the light travels
IRRADIANCE = 3.0
TOL = 0.1


def directional(direction, irradiance):
    return {"type": "directional", "direction": list(map(float, direction)),
            "irradiance": {"type": "rgb", "value": [irradiance] * 3}}


@pytest.fixture  # one test uses it: gone after it, so that a later scene of the same
# device-set key recycles its compiled kernels (core/pool.py) instead of compiling them again
def sun_shadow():
    sc = shadow_scene(directional(DIRECTION, IRRADIANCE))
    return sc, Renderer(sc), smooth_adjoint(4)


def sun_shadow_reference(sc, adj, dV):
    """The boundary term of the occluder's shadow on the floor (y = 0), cast along
    ``DIRECTION``, for vertex velocities ``dV``: the lit side's radiance is
    E cos(theta) albedo / pi, the shadow black."""
    V = np.asarray(sc.shapes[1].vertices, np.float64)
    d = DIRECTION / np.linalg.norm(DIRECTION)

    def polygon(h):
        Vh = V + h * dV
        return Vh + (-Vh[:, 1] / d[1])[:, None] * d[None]
    h = 1e-6
    P = project(sc.sensor, polygon(0.0))
    dP = (project(sc.sensor, polygon(h)) - project(sc.sensor, polygon(-h))) / (2 * h)

    def lit(x):
        q = unproject_to_plane_y(sc.sensor, x)
        return np.full((len(q), 3), IRRADIANCE * -d[1] * ALBEDO / np.pi)
    return polygon_boundary_grad(P, dP, np.zeros(3), lit, adj)


def test_directional_shadow_of_out_of_view_occluder(sun_shadow):
    sc, r, adj = sun_shadow
    img = r.render(spp=4)
    assert img.max() > 0.1 and img.min() < 0.01 * img.max()  # a shadow is in view (0.6 x 0.6)
    P = project(sc.sensor, sc.shapes[1].vertices)  # the occluder is not (NaN: behind the camera)
    assert np.all(np.any(np.isnan(P) | (P < 0) | (P > img.shape[1]), axis=1))
    names = ["occ.to_world"]
    g = r.vjp(adj, names, edges=dict(spp=EDGE_SPP, seed=2))["occ.to_world"]
    off = r.vjp(adj, names, edges=dict(spp=EDGE_SPP, seed=2, secondary=False))["occ.to_world"]
    V = np.asarray(sc.shapes[1].vertices)
    for axis in (0, 1, 2):
        dV = np.zeros_like(V)
        dV[:, axis] = 1.0
        ref = sun_shadow_reference(sc, adj, dV)
        assert abs(ref) > 1.0, (axis, ref)
        assert abs(g[axis, 3] - ref) < TOL * abs(ref), (axis, g[axis, 3], ref)
        # without the directional shadow's samples (no primary edge, no interior term here)
        assert abs(off[axis, 3] - ref) > TOL * abs(ref), (axis, off[axis, 3], ref)


# The shadow through a bounce: the central difference of sum(render) in the occluder's z
# translation with common random numbers per seed (mean, standard error), 96 seeds x 4096 spp,
# h = 0.01: ``python benchmarks/bench_edges.py --suite depth3 --cases sun_through_a_bounce
# --res 16 --fd3-seeds 96`` (its ``fd`` line).
BOUNCE_FD, BOUNCE_FD_SE = -22.330, 0.106
BOUNCE_EDGE_SPP = 128


def test_directional_shadow_through_a_bounce():
    sd = edge_scenes.indirect_shadow(INDIRECT_RES, light="directional")
    adj = np.ones((INDIRECT_RES, INDIRECT_RES, 3), np.float32)
    assert BOUNCE_FD_SE < 0.01 * abs(BOUNCE_FD)
    g = gradient(sd, "occ.to_world", 2, adj, BOUNCE_EDGE_SPP)
    assert abs(g - BOUNCE_FD) < INDIRECT_TOL * abs(BOUNCE_FD), (g, BOUNCE_FD)
    off = gradient(sd, "occ.to_world", 2, adj, BOUNCE_EDGE_SPP, indirect=False)
    assert abs(off - BOUNCE_FD) > INDIRECT_TOL * abs(BOUNCE_FD), (off, BOUNCE_FD)


IW = IH = 12
SPP, SEED = 4, 3
FD_STEP = 2e-3
LIFTED = 7  # a corner of the floor's top face off its diagonal: lifting it tilts one triangle


def sun_floor_scene():
    """A flat-shaded floor (a thin box without vertex normals: a moved vertex tilts its faces'
    normals) and a wall filling the 12 x 12 view, under a directional light. Direct light only
    (max_depth 2): a tilting normal rotates the forward's BSDF-sampled directions (drawn in
    the local frame), which the replay holds fixed in world space -- both unbiased, but equal
    only in expectation, not with common random numbers."""
    return dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": {"type": "perspective", "fov": 45,
                   "to_world": {"type": "transform", "lookat": {"origin": [0.3, 3, 0.5], "target": [0, 0, 0], "up": [0, 0, 1]}},
                   "film": {"type": "hdrfilm", "width": IW, "height": IH}, "sampler": {"type": "independent", "sample_count": SPP}},
        "floor": {"type": "cube", "face_normals": True,
                  "to_world": {"type": "transform", "scale": [4, 0.05, 4], "translate": [0, -0.05, 0]},
                  "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.8, 0.6, 0.4]}}},
        "wall": {"type": "rectangle", "to_world": {"type": "transform", "scale": [4, 4, 4], "translate": [0, 0, -2.5]},
                 "bsdf": {"type": "twosided", "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.5, 0.5, 0.5]}}}},
        "sun": directional([0.4, -1.0, -0.6], 2.0),
    })


@pytest.fixture(scope="module")
def sun_interior():
    sc = sun_floor_scene()
    V = np.asarray(sc.shapes[0].vertices)
    assert V[LIFTED, 1] == 0.0 and sc.shapes[0].normals is None  # on the top face, flat shaded
    r = Renderer(sc)
    adj = np.random.default_rng(1).normal(size=(IH, IW, 3)).astype(np.float32)
    return sc, r, adj


# tilting normals: the cosine with the light's fixed direction (the only change: the floor is
# diffuse, the light's irradiance the same everywhere)
SUN_CASES = [("floor.vertex_positions", 3 * LIFTED + 1),  # a corner lifted: one triangle tilts
             ("floor.to_world", 4), ("floor.to_world", 6)]  # the floor tilts about z, about x


def test_directional_interior_matches_finite_differences(sun_interior):
    sc, r, adj = sun_interior
    assert_interior_matches_fd(r, sc, adj, SUN_CASES, SPP, SEED, FD_STEP)


def test_directional_interior_forward_matches_reverse(sun_interior):
    sc, r, adj = sun_interior
    g = r.vjp(adj, ["floor.vertex_positions"], spp=SPP, seed=SEED, edges=False)["floor.vertex_positions"]
    t = np.zeros_like(g)
    t[LIFTED] = [0.3, 1.0, -0.5]
    t[5] = [0.0, -0.4, 0.2]
    img = r.jvp({"floor.vertex_positions": t}, spp=SPP, seed=SEED, edges=False)
    lhs = float((img.astype(np.float64) * adj).sum())
    rhs = float((g * t).sum())
    assert abs(rhs) > 0.1
    assert abs(lhs - rhs) <= 1e-3 * max(1.0, abs(rhs)), (lhs, rhs)


def test_an_emitter_without_geometry_derivatives_is_refused(monkeypatch):
    """Every emitter that renders has geometry derivatives (the projector since 2026-12-08); one
    taken off the list (a new plugin not yet handled) is refused with one line."""
    from diffrender.core.ad import derivatives
    monkeypatch.setattr(derivatives, "GEOMETRY_LIGHTS",
                        tuple(t for t in derivatives.GEOMETRY_LIGHTS if t != "projector"))
    sc = shadow_scene({"type": "projector", "fov": 40, "irradiance": {"type": "rgb", "value": [0.5] * 3},
                       "to_world": {"type": "transform", "lookat": {"origin": [0, 3, 0], "target": [0, 0, 0],
                                                                    "up": [0, 0, 1]}}})
    with pytest.raises(GradientError, match="environment .constant, envmap. lights only; the scene has projector"):
        Renderer(sc).vjp(np.ones((W, W, 3), np.float32), ["occ.to_world"], spp=1, seed=0)
