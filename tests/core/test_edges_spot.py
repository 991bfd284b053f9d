"""Geometry derivatives under a spot light (a point light with an angular falloff), and under
a projector (a point light that projects an image through a frustum).

- The shadow of an out-of-view occluder on a floor (the scene of test_edges.py's point-light
  shadow, the lamp a spot aimed at the floor): all edge samplers and the interior term on,
  against the same deterministic boundary quadrature (tests/helpers/edges_ref.py), whose lit
  side includes the spot's falloff (the shadow lies in the falloff's ramp, inside the cone).
- A spot whose cone is the whole sphere is a point light: its shadow seen only through a
  diffuse bounce (tests/core/test_edges_indirect.py's scene) matches that test's finite-difference
  reference (without the spot's shadows through a bounce the gradient is 17 % off).
- Interior only (no visibility change: a floor and a wall fill the view, the spot out of
  view, its ramp across the floor): against central differences with common random numbers,
  as tests/core/test_geometry_interior.py; the falloff towards the moving hit points is
  differentiated.
- A spot with a projected texture (a ramp across the beam): the shadow against the boundary
  quadrature whose lit side carries the texture's value, and the interior term, the texture
  looked up along the direction to the moving lit point, against central differences.
- A projector of the same ramp image: the same two checks (its frustum covers the view: the
  frustum's border, where its light stops, is a discontinuity no sampler follows).
"""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from tests.core.test_edges import (ALBEDO, EDGE_SPP, INTENSITY, LIGHT, W, rect, sensor, shadow_reference,
                                   shadow_scene, smooth_adjoint)
from tests.core.test_edges_indirect import CASES as INDIRECT_CASES, TOL as INDIRECT_TOL, gradient
from tests.core.test_geometry_interior import floor_and_wall_scene
from tests.helpers.fd import assert_interior_matches_fd

AIM = np.array([1.8, 0.0, 0.5])
CUTOFF, BEAM = 40.0, 5.0  # degrees: the shadow's boundary lies in the ramp, well inside the cone


def spot(origin, target, cutoff, beam, intensity, **extra):
    return {"type": "spot", "intensity": {"type": "rgb", "value": [intensity] * 3},
            "cutoff_angle": cutoff, "beam_width": beam, **extra,
            "to_world": {"type": "transform", "lookat": {"origin": list(origin), "target": list(target), "up": [0, 0, 1]}}}


@pytest.fixture  # one test uses it: gone after it, so that a later scene of the same
# device-set key recycles its compiled kernels (core/pool.py) instead of compiling them again
def spot_shadow():
    sc = shadow_scene(spot(LIGHT, AIM, CUTOFF, BEAM, INTENSITY))
    return sc, Renderer(sc), smooth_adjoint(4)


def falloff(q):
    """The spot's falloff towards floor points q (Mitsuba's, linear in the angle)."""
    axis = (AIM - LIGHT) / np.linalg.norm(AIM - LIGHT)
    d = q - LIGHT[None]
    theta = np.arccos(np.clip(d @ axis / np.linalg.norm(d, axis=1), -1.0, 1.0))
    c, b = np.radians(CUTOFF), np.radians(BEAM)
    return np.clip((c - theta) / (c - b), 0.0, 1.0)


def test_spot_shadow_of_out_of_view_occluder(spot_shadow):
    sc, r, adj = spot_shadow
    # the shadow's corners lie in the ramp (the falloff matters), inside the cone
    V = np.asarray(sc.shapes[1].vertices, np.float64)
    corners = LIGHT + ((0.0 - LIGHT[1]) / (V[:, 1] - LIGHT[1]))[:, None] * (V - LIGHT)
    f = falloff(corners)
    assert np.all((f > 0.2) & (f < 0.9)), f
    img = r.render(spp=4)
    assert img.min() == 0.0 and img.max() > 0.1  # a shadow is in view
    assert_shadow_matches_quadrature(sc, r, adj, falloff)


def assert_shadow_matches_quadrature(sc, r, adj, profile):
    """Every term on (primary: none visible; interior: the occluder is not seen, even by a
    bounce): the occluder's translation in x, y and z within 10 % of the boundary quadrature
    whose lit side carries the light's angular factor ``profile``."""
    V = np.asarray(sc.shapes[1].vertices, np.float64)
    g = r.vjp(adj, ["occ.to_world"], edges=dict(spp=EDGE_SPP, seed=2))["occ.to_world"]
    for axis in (0, 1, 2):
        dV = np.zeros_like(V)
        dV[:, axis] = 1.0
        ref = shadow_reference(sc, adj, dV, profile=profile)
        assert abs(g[axis, 3] - ref) < 0.1 * max(abs(ref), 1.0), (axis, g[axis, 3], ref)


IW = IH = 12
SPP, SEED = 4, 3
FD_STEP = 2e-3


@pytest.fixture(scope="module")
def spot_interior():
    sc = floor_and_wall_scene(spot([0.5, 2, 0.3], [0.2, 0, 0], 70, 10, 10))
    r = Renderer(sc)
    adj = np.random.default_rng(1).normal(size=(IH, IW, 3)).astype(np.float32)
    return sc, r, adj


SPOT_CASES = [("floor.to_world", 7),          # floor moves up: distances, cosines, the falloff
              ("wall.to_world", 11)]          # wall moves: indirect light on the floor


def test_spot_interior_matches_finite_differences(spot_interior):
    sc, r, adj = spot_interior
    assert_interior_matches_fd(r, sc, adj, SPOT_CASES, SPP, SEED, FD_STEP)


#: the projected texture: TEX_N x TEX_N texels, a ramp from TEX_LO to TEX_HI across the columns
#: (along the spot's local x), the same in every row and channel
TEX_LO, TEX_HI, TEX_N = 0.2, 1.0, 16


def slide(tmp_path):
    path = str(tmp_path / "slide.exr")
    ramp = TEX_LO + (TEX_HI - TEX_LO) * np.arange(TEX_N) / (TEX_N - 1)
    dr.write_image(path, np.repeat(np.tile(ramp[None, :, None], (TEX_N, 1, 1)), 3, 2).astype(np.float32))
    return {"type": "bitmap", "filename": path}


def slide_value(q):
    """The texture's value towards floor points q (Mitsuba's projection: the local direction d
    of the spot's look-at frame gives u = 1/2 + d.x / (2 d.z tan(cutoff)); bilinear texels)."""
    axis = (AIM - LIGHT) / np.linalg.norm(AIM - LIGHT)
    left = np.cross([0.0, 0.0, 1.0], axis)
    left /= np.linalg.norm(left)
    d = q - LIGHT[None]
    u = 0.5 + 0.5 * (d @ left) / ((d @ axis) * np.tan(np.radians(CUTOFF)))
    x = np.clip(u * TEX_N - 0.5, 0.0, TEX_N - 1)
    return TEX_LO + (TEX_HI - TEX_LO) * x / (TEX_N - 1)


def test_textured_spot_shadow_matches_the_boundary_integral(tmp_path):
    """Without the texture in the reference's lit side, the reference is 2.4 to 2.7 times larger."""
    sc = shadow_scene(spot(LIGHT, AIM, CUTOFF, BEAM, INTENSITY, texture=slide(tmp_path)))
    assert_shadow_matches_quadrature(sc, Renderer(sc), smooth_adjoint(4), lambda q: falloff(q) * slide_value(q))


def test_textured_spot_interior_matches_finite_differences(tmp_path):
    """The lit points move across the texture's ramp. With the texture's recorded value (before
    it was looked up along the moving direction) the wall's case was 11 % off. Forward mode
    agrees with reverse mode."""
    interior_and_forward(floor_and_wall_scene(spot([0.5, 2, 0.3], [0.2, 0, 0], 70, 10, 10, texture=slide(tmp_path))))


def interior_and_forward(sc):
    """The interior term against central differences (SPOT_CASES), and forward mode against
    reverse mode."""
    r = Renderer(sc)
    adj = np.random.default_rng(1).normal(size=(IH, IW, 3)).astype(np.float32)
    assert_interior_matches_fd(r, sc, adj, SPOT_CASES, SPP, SEED, FD_STEP)
    forward_matches_reverse(r, adj)


def test_spot_interior_forward_matches_reverse(spot_interior):
    sc, r, adj = spot_interior
    forward_matches_reverse(r, adj)


def forward_matches_reverse(r, adj):
    g = r.vjp(adj, ["floor.to_world"], spp=SPP, seed=SEED, edges=False)["floor.to_world"]
    t = np.zeros((4, 4))
    t[:3, 3] = [0.3, 1.0, -0.5]
    img = r.jvp({"floor.to_world": t}, spp=SPP, seed=SEED, edges=False)
    lhs = float((img.astype(np.float64) * adj).sum())
    rhs = float((g * t).sum())
    assert abs(rhs) > 0.1
    assert abs(lhs - rhs) <= 1e-3 * max(1.0, abs(rhs)), (lhs, rhs)


def test_full_sphere_spot_shadow_through_a_bounce():
    sd, name, axis, adj, ref, _, edge_spp = INDIRECT_CASES["shadow_through_a_bounce"]
    pos = sd["lamp"]["position"]
    sd = {**sd, "lamp": spot(pos, [pos[0], 0, pos[2]], 180.0, 180.0, sd["lamp"]["intensity"]["value"][0])}
    g = gradient(sd, name, axis, adj, edge_spp)
    assert abs(g - ref) < INDIRECT_TOL * abs(ref), (g, ref)


PROJECTOR_FOV, PROJECTOR_SCALE = 90.0, 2.0


def projector(origin, target, fov, irradiance):
    return {"type": "projector", "fov": fov, "irradiance": irradiance, "scale": PROJECTOR_SCALE,
            "to_world": {"type": "transform", "lookat": {"origin": list(origin), "target": list(target), "up": [0, 0, 1]}}}


def projector_profile(q):
    """The projector's irradiance towards floor points q relative to a point light of
    INTENSITY: pi scale irradiance(uv) / cos^3 (Mitsuba's: u = 1/2 - x / (2 z tan(fov / 2))
    in the look-at frame; the ramp runs across the image's columns)."""
    axis = (AIM - LIGHT) / np.linalg.norm(AIM - LIGHT)
    left = np.cross([0.0, 0.0, 1.0], axis)
    left /= np.linalg.norm(left)
    d = q - LIGHT[None]
    z = d @ axis
    u = 0.5 - 0.5 * (d @ left) / (z * np.tan(np.radians(PROJECTOR_FOV) / 2))
    x = np.clip(u * TEX_N - 0.5, 0.0, TEX_N - 1)
    irradiance = TEX_LO + (TEX_HI - TEX_LO) * x / (TEX_N - 1)
    return np.pi * PROJECTOR_SCALE * irradiance / (z / np.linalg.norm(d, axis=1)) ** 3 / INTENSITY


def test_projector_shadow_matches_the_boundary_integral(tmp_path):
    """With the image's mean value (0.6) everywhere instead, the reference is 30-50 % smaller."""
    sc = shadow_scene(projector(LIGHT, AIM, PROJECTOR_FOV, slide(tmp_path)))
    assert_shadow_matches_quadrature(sc, Renderer(sc), smooth_adjoint(4), projector_profile)


def test_projector_interior_matches_finite_differences(tmp_path):
    """The lit points move across the projected image; forward mode agrees with reverse mode."""
    interior_and_forward(floor_and_wall_scene(projector([0.5, 2, 0.3], [0.2, 0, 0], 120, slide(tmp_path))))
