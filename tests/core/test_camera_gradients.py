"""Derivatives with respect to camera intrinsics and distortion (``fx, fy, cx, cy, k1 ... p2``,
``principal_point_offset_x/y``): the interior term (every camera ray moves) against central
finite differences with common random numbers, the silhouette term (the occluder's outline, a
curve under distortion, moves on the film) against a boundary-integral reference, and forward
mode against reverse mode."""
import copy

import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.core.camera import project
from diffrender.errors import GradientError
from tests.core.test_edges import BG, OCC, rect, smooth_adjoint
from tests.helpers.edges_ref import polygon_boundary_grad
from tests.helpers.fd import render_fd

W = H = 16
SPP = 4
SEED = 3
INTRINSICS = dict(fx=17.0, fy=19.0, cx=8.6, cy=7.3, k1=-0.12, k2=0.02, k3=0.0, p1=0.004,
                  p2=-0.003)


def camera(origin, target, up, **extra):
    d = {"type": "perspective",
         "to_world": {"type": "transform", "lookat": {"origin": origin, "target": target, "up": up}},
         "film": {"type": "hdrfilm", "width": W, "height": H, "rfilter": {"type": "gaussian"}},
         "sampler": {"type": "independent", "sample_count": SPP}}
    d.update(extra)
    return d


@pytest.fixture(scope="module")
def lit_floor():
    """A diffuse floor filling the view under a point light: smooth shading, no silhouette on
    the film, so the derivative is the interior term only (every camera ray moves)."""
    sc = dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": camera([0.3, 2.5, -1.5], [0, 0, 0.3], [0, 1, 0], **INTRINSICS),
        "floor": rect({"rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [6, 6, 6]}, refl=0.7),
        "lamp": {"type": "point", "position": [0.6, 1.2, 0.1],
                 "intensity": {"type": "rgb", "value": [4, 4, 4]}},
    })
    return sc, Renderer(sc), smooth_adjoint(2)


FD_CASES = {"sensor.fx": 0.05, "sensor.cx": 0.05, "sensor.fy": 0.05, "sensor.k1": 2e-3,
            "sensor.p2": 2e-3}


def test_intrinsics_interior_matches_finite_differences(lit_floor):
    sc, r, adj = lit_floor
    g = r.vjp(adj, list(FD_CASES), spp=SPP, seed=SEED, edges=False)
    for name, eps in FD_CASES.items():
        ref = render_fd(r, sc, adj, name, 0, SPP, SEED, eps=eps, reupload=True)
        got = float(g[name])
        assert abs(got - ref) <= 1e-2 * abs(ref) + 1e-4, (name, got, ref)
        assert abs(ref) > 5e-3, (name, ref)  # the check can see a wrong derivative


def test_intrinsics_forward_matches_reverse(lit_floor):
    sc, r, adj = lit_floor
    names = ["sensor.cx", "sensor.fy", "sensor.k1", "sensor.to_world"]
    g = r.vjp(adj, names, spp=SPP, seed=SEED)
    rng = np.random.default_rng(4)
    t = {n: rng.normal(size=np.shape(g[n])) for n in names}
    t["sensor.to_world"][3] = 0.0
    img = r.jvp(t, spp=SPP, seed=SEED)
    lhs = float((img.astype(np.float64) * adj).sum())
    rhs = sum(float((np.asarray(g[n]) * t[n]).sum()) for n in names)
    assert abs(lhs - rhs) < 2e-3 * max(1.0, abs(rhs)), (lhs, rhs)


def occluder_scene(**intrinsics):
    face = {"rotate": {"axis": [0, 1, 0], "angle": 180}}
    return dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 1},
        "sensor": camera([0, 0, -4], [0, 0, 0], [0, 1, 0], **intrinsics),
        "bg": rect({**face, "translate": [0, 0, 1], "scale": [3, 3, 1]}, BG),
        "occ": rect({**face, "scale": [0.5, 0.4, 1], "translate": [0.45, 0.3, 0]}, OCC),
    })


def outline(sensor, corners, n=24):
    """The occluder's outline on the film: its 3D edges subdivided and projected (a polygon
    that follows the distortion's curves)."""
    pts = [corners[i] + t * (corners[(i + 1) % 4] - corners[i])
           for i in range(4) for t in np.arange(n) / n]
    return project(sensor, np.array(pts))


def test_silhouette_moves_with_intrinsics_and_distortion():
    sc = occluder_scene(**INTRINSICS)
    r = Renderer(sc)
    adj = smooth_adjoint(1)
    V = np.asarray(sc.shapes[1].vertices, np.float64)
    c = V.mean(0)
    ang = np.arctan2(V[:, 1] - c[1], V[:, 0] - c[0])
    corners = V[np.argsort(ang)]
    names = ["sensor.cx", "sensor.fy", "sensor.k1"]
    opts = dict(interior=False, spp=64, seed=6)
    g = r.vjp(adj, names, edges=opts)
    # forward mode: the same edge samples contracted with the tangents
    t = {"sensor.cx": 0.7, "sensor.fy": -0.4, "sensor.k1": 2.0}
    lhs = float((r.jvp(t, edges=opts).astype(np.float64) * adj).sum())
    rhs = sum(float(g[n]) * v for n, v in t.items())
    assert abs(lhs - rhs) < 1e-3 * max(1.0, abs(rhs)), (lhs, rhs)
    h = 1e-6
    for name in names:
        key = name.split(".")[1]

        def with_(d):
            s = copy.deepcopy(sc.sensor)
            setattr(s, key, getattr(s, key) + d)
            return s
        P = outline(sc.sensor, corners)
        dP = (outline(with_(h), corners) - outline(with_(-h), corners)) / (2 * h)
        ref = polygon_boundary_grad(P, dP, OCC, BG, adj, nq=100)
        assert abs(ref) > 0.3, (name, ref)
        assert abs(float(g[name]) - ref) < 0.1 * abs(ref), (name, float(g[name]), ref)


def test_principal_point_offset_gradient_is_a_cx_gradient():
    """principal_point_offset_x = (0.5 W - cx) / W: its gradient is -W times cx's."""
    sc = occluder_scene(fov=40, principal_point_offset_x=0.05)
    sc2 = occluder_scene(fx=0.5 * W / np.tan(np.radians(20)), fy=0.5 * W / np.tan(np.radians(20)),
                         cx=0.45 * W, cy=0.5 * H)
    adj = smooth_adjoint(1)
    opts = dict(spp=8, seed=6)
    g1 = Renderer(sc).vjp(adj, ["sensor.principal_point_offset_x"], edges=opts)
    g2 = Renderer(sc2).vjp(adj, ["sensor.cx"], edges=opts)
    assert float(g1["sensor.principal_point_offset_x"]) == pytest.approx(
        -W * float(g2["sensor.cx"]), rel=1e-4)
    assert abs(float(g2["sensor.cx"])) > 0.1


def test_material_gradients_under_a_thinlens_camera():
    """The material replay draws the same aperture points as the render: exact against finite
    differences with common random numbers."""
    assert_floor_albedo_gradient_matches_fd(
        camera([0.3, 2.5, -1.5], [0, 0, 0.3], [0, 1, 0], type="thinlens", fov=50,
               aperture_radius=0.2, focus_distance=1.0))


def assert_floor_albedo_gradient_matches_fd(sensor):
    """A point-lit floor seen by ``sensor``: the floor albedo's reverse-mode gradient equals
    central finite differences with common random numbers (the material replay traces the
    camera rays the render traced)."""
    sc = dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 2}, "sensor": sensor,
        "floor": rect({"rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [6, 6, 6]}, refl=0.7),
        "lamp": {"type": "point", "position": [0.6, 1.2, 0.1],
                 "intensity": {"type": "rgb", "value": [4, 4, 4]}},
    })
    r = Renderer(sc)
    adj = smooth_adjoint(2)
    name = "floor.bsdf.reflectance"
    g = r.vjp(adj, [name], spp=SPP, seed=SEED)[name]
    for c in range(3):
        ref = render_fd(r, sc, adj, name, c, SPP, SEED, eps=0.05)
        assert abs(g[c] - ref) <= 1e-3 * abs(ref) + 1e-4 and abs(ref) > 0.1, (c, g[c], ref)


def test_thinlens_camera_gradients_are_refused():
    sc = dr.load_scene({"type": "scene", "integrator": {"type": "path", "max_depth": 1},
                        "sensor": camera([0, 0, -4], [0, 0, 0], [0, 1, 0], type="thinlens",
                                         aperture_radius=0.1, focus_distance=4.0),
                        "occ": rect({"scale": [0.5, 0.4, 1]}, OCC)})
    with pytest.raises(GradientError, match="not supported with the thinlens sensor"):
        Renderer(sc).vjp(np.ones((H, W, 3), np.float32), ["occ.to_world"])
