"""Visibility derivatives by edge sampling, against analytic boundary integrals.

The scenes are chosen so that the derivative is *only* a boundary term with an exact reference
(see tests/helpers/edges_ref.py): flat emissive polygons over an emissive background seen
directly (max_depth 1), and a hard point-light shadow on a diffuse floor from an occluder that
is out of view (max_depth 2, so no interior term). The references are deterministic quadratures
along the screen-space polygon, whose motion comes from central differences of
``camera.project`` -- nothing shared with the edge sampler but the camera convention.
Each estimate uses a fixed seed; tolerance 10% (the issue's bound), the measured errors are a
few percent at the stated sample counts.
"""
import copy

import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.core.camera import project
from diffrender.core.ad import GradientError
from diffrender.core.ad.topology import EdgeTopology
from tests.helpers.edges_ref import convex_hull, polygon_boundary_grad, unproject_to_plane_y

W = H = 16
EDGE_SPP = 64
OCC = np.array([1.0, 0.8, 0.5])
BG = np.array([0.2, 0.3, 0.4])


def smooth_adjoint(seed):
    """A low-frequency adjoint image (like the gradient of an image loss against a slightly
    different render): the derivative is then large compared with the estimator's noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W] + 0.5
    out = np.zeros((H, W, 3))
    for c in range(3):
        a, b, ph = rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5), rng.uniform(0, 6.3)
        out[..., c] = np.sin(2 * np.pi * (a * x / W + b * y / H) + ph) + 0.3 * rng.normal(size=(H, W))
    return out.astype(np.float32)


def rect(to_world, radiance=None, refl=None):
    d = {"type": "rectangle", "to_world": dict(type="transform", **to_world)}
    if radiance is not None:
        d["emitter"] = {"type": "area", "radiance": {"type": "rgb", "value": list(radiance)}}
    if refl is not None:
        d["bsdf"] = {"type": "diffuse", "reflectance": {"type": "rgb", "value": [refl] * 3}}
    return d


def sensor(origin, target, up, fov=40):
    return {"type": "perspective", "fov": fov,
            "to_world": {"type": "transform", "lookat": {"origin": origin, "target": target, "up": up}},
            "film": {"type": "hdrfilm", "width": W, "height": H, "rfilter": {"type": "gaussian"}},
            "sampler": {"type": "independent", "sample_count": 4}}


def occluder_scene():
    """An emissive quad (0.5 x 0.4) in front of a large emissive background, facing the camera."""
    face = {"rotate": {"axis": [0, 1, 0], "angle": 180}}
    return dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 1},
        "sensor": sensor([0, 0, -4], [0, 0, 0], [0, 1, 0]),
        "bg": rect({**face, "translate": [0, 0, 1], "scale": [3, 3, 1]}, BG),
        "occ": rect({**face, "scale": [0.5, 0.4, 1], "translate": [0.45, 0.3, 0]}, OCC),
    })


@pytest.fixture(scope="module")
def occ():
    sc = occluder_scene()
    r = Renderer(sc)
    adj = smooth_adjoint(1)
    return sc, r, adj


def occ_reference(sc, adj, V=None, dV=None, sensor_fn=None):
    """Boundary derivative of the occluder scene for vertex velocities dV, or for a camera
    change sensor_fn(h) -> Sensor."""
    V = np.asarray(sc.shapes[1].vertices if V is None else V, np.float64)
    h = 1e-6
    if sensor_fn is None:
        P = project(sc.sensor, V)
        dP = (project(sc.sensor, V + h * dV) - project(sc.sensor, V - h * dV)) / (2 * h)
    else:
        P = project(sensor_fn(0.0), V)
        dP = (project(sensor_fn(h), V) - project(sensor_fn(-h), V)) / (2 * h)
    return polygon_boundary_grad(P, dP, OCC, BG, adj)


def rel_err(a, b):
    return abs(a - b) / abs(b)


def test_edge_topology_unique_edges_and_coplanar_drop():
    # Two triangles of a flat quad + one folded triangle: 7 unique edges, the quad's diagonal
    # is interior and coplanar (dropped); the fold edge is kept.
    V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 1, 1]], float)
    F = np.array([[0, 1, 2], [0, 2, 3], [1, 4, 2]])
    t = EdgeTopology(F, 5)
    assert t.n_edges == 7
    pairs = {tuple(p) for p in t.v}
    assert (0, 2) in pairs
    cand = {tuple(t.v[i]) for i in t.candidates(V)}
    assert (0, 2) not in cand and (1, 2) in cand and len(cand) == 6
    inner = {tuple(t.v[i]): (t.f0[i], t.f1[i]) for i in range(t.n_edges)}
    assert sorted(inner[(0, 2)]) == [0, 1] and sorted(inner[(1, 2)]) == [0, 2]
    assert inner[(0, 1)][1] == -1
    # Silhouettes seen from above the fold's outer side vs from below.
    assert (1, 2) in {tuple(t.v[i]) for i in t.silhouettes(V, [3.0, 0.5, 0.5])}
    assert (1, 2) not in {tuple(t.v[i]) for i in t.silhouettes(V, [0.5, 0.5, 3.0])}
    # Moving a vertex out of the plane makes the diagonal a candidate: geometry is recomputed.
    V2 = V.copy()
    V2[3, 2] = 0.3
    assert (0, 2) in {tuple(t.v[i]) for i in t.candidates(V2)}


@pytest.mark.parametrize("axis", [0, 1])
def test_primary_translation(occ, axis):
    sc, r, adj = occ
    g = r.vjp(adj, ["occ.to_world"], edges=dict(interior=False, spp=EDGE_SPP, seed=3))["occ.to_world"]
    V = np.asarray(sc.shapes[1].vertices)
    dV = np.zeros_like(V)
    dV[:, axis] = 1.0
    ref = occ_reference(sc, adj, dV=dV)
    assert abs(ref) > 1.0
    assert rel_err(g[axis, 3], ref) < 0.1, (g[axis, 3], ref)


def test_primary_rotation(occ):
    sc, r, adj = occ
    M = sc.parameters()["occ.to_world"]
    c = M[:3, 3]
    K = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 0]], float)  # d/dalpha of a rotation about z
    dM = np.zeros((4, 4))
    dM[:3, :] = K @ (M[:3, :] - np.concatenate([np.zeros((3, 3)), c[:, None]], 1))
    g = r.vjp(adj, ["occ.to_world"], edges=dict(interior=False, spp=EDGE_SPP, seed=4))["occ.to_world"]
    V = np.asarray(sc.shapes[1].vertices)
    ref = occ_reference(sc, adj, dV=(V - c) @ K.T)
    assert abs(ref) > 0.3
    assert rel_err(float((g * dM).sum()), ref) < 0.1


def test_primary_vertex_positions(occ):
    sc, r, adj = occ
    g = r.vjp(adj, ["occ.vertex_positions"], edges=dict(interior=False, spp=128, seed=5))["occ.vertex_positions"]
    V = np.asarray(sc.shapes[1].vertices)
    assert g.shape == V.shape
    for i in range(4):
        dV = np.zeros_like(V)
        dV[i] = [1.0, -0.5, 0.0]
        ref = occ_reference(sc, adj, dV=dV)
        got = float((g * dV).sum())
        assert abs(got - ref) < 0.1 * max(abs(ref), 1.0), (i, got, ref)


def test_camera_translation_and_fov(occ):
    sc, r, adj = occ
    g = r.vjp(adj, ["sensor.to_world", "sensor.fov"], edges=dict(interior=False, spp=EDGE_SPP, seed=6))
    base = sc.sensor

    def moved(h):
        s = copy.deepcopy(base)
        s.to_world = np.array(base.to_world, float)
        s.to_world[0, 3] += h
        return s

    def zoomed(h):
        s = copy.deepcopy(base)
        s.fov = base.fov + h
        return s
    ref_t = occ_reference(sc, adj, sensor_fn=moved)
    ref_f = occ_reference(sc, adj, sensor_fn=zoomed)
    assert abs(ref_t) > 1.0 and abs(ref_f) > 0.1
    assert rel_err(g["sensor.to_world"][0, 3], ref_t) < 0.1
    assert rel_err(float(g["sensor.fov"]), ref_f) < 0.1
    # A camera rotation (about its own y axis): dM = M[:, :3] K, translation fixed.
    K = np.array([[0, 0, 1], [0, 0, 0], [-1, 0, 0]], float)
    dR = np.asarray(base.to_world)[:3, :3] @ K

    def turned(h):
        s = copy.deepcopy(base)
        s.to_world = np.array(base.to_world, float)
        s.to_world[:3, :3] = s.to_world[:3, :3] + h * dR
        return s
    ref_r = occ_reference(sc, adj, sensor_fn=turned)
    assert rel_err(float((g["sensor.to_world"][:3, :3] * dR).sum()), ref_r) < 0.1


def test_edge_sampling_off_gives_interior_only(occ):
    sc, r, adj = occ
    V = np.asarray(sc.shapes[1].vertices)
    dV = np.zeros_like(V)
    dV[:, 0] = 1.0
    ref = occ_reference(sc, adj, dV=dV)
    off = r.vjp(adj, ["occ.to_world"], edges=False)["occ.to_world"]
    no_primary = r.vjp(adj, ["occ.to_world"], edges=dict(interior=False, primary=False, spp=4))["occ.to_world"]
    # The scene's interior derivative is exactly 0 (constant emission): without edges the
    # gradient misses the whole (here: non-zero) derivative.
    assert np.all(off == 0.0) and abs(ref) > 1.0
    assert abs(no_primary[0, 3]) < 0.05 * abs(ref)


def test_jvp_matches_vjp(occ):
    sc, r, adj = occ
    opts = dict(spp=8, seed=9)
    g = r.vjp(adj, ["occ.to_world", "sensor.fov"], edges=opts)
    t = np.zeros((4, 4))
    t[0, 3], t[1, 3] = 1.0, -0.3
    img = r.jvp({"occ.to_world": t, "sensor.fov": 0.5}, edges=opts)
    lhs = float((img.astype(np.float64) * adj).sum())
    rhs = float((g["occ.to_world"] * t).sum() + 0.5 * g["sensor.fov"])
    assert abs(lhs - rhs) < 1e-3 * max(1.0, abs(rhs))


def test_edge_options_errors(occ):
    sc, r, adj = occ
    with pytest.raises(GradientError, match="unknown edge option 'sppp'"):
        r.vjp(adj, ["occ.to_world"], edges=dict(sppp=3))
    with pytest.raises(GradientError, match="edge spp must be a positive integer"):
        r.vjp(adj, ["occ.to_world"], edges=dict(interior=False, spp=0))
    with pytest.raises(GradientError, match="edges must be True, False, a dict or EdgeOptions"):
        r.vjp(adj, ["occ.to_world"], edges=3)
    sc2 = occluder_scene()
    sc2.integrator.type = "direct"
    with pytest.raises(GradientError, match="derivatives need the 'path' integrator, the scene uses 'direct'"):
        Renderer(sc2).vjp(adj, ["occ.to_world"])


# --- an object resting on a plane (contact edges) ---------------------------------------------

def test_contact_edges_box_on_plane():
    sc = dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 1},
        "sensor": sensor([0.6, 1.4, -2.5], [0, 0.2, 0], [0, 1, 0], fov=35),
        "floor": rect({"rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [5, 5, 5]}, BG),
        "box": {"type": "cube", "to_world": {"type": "transform", "scale": [0.3, 0.3, 0.3],
                                             "translate": [0, 0.3, 0]},
                "emitter": {"type": "area", "radiance": {"type": "rgb", "value": list(OCC)}}},
    })
    r = Renderer(sc)
    adj = smooth_adjoint(2)
    g = r.vjp(adj, ["box.to_world"], edges=dict(interior=False, spp=EDGE_SPP, seed=1))["box.to_world"]
    V = np.asarray(sc.shapes[1].vertices)
    P = project(sc.sensor, V)
    hull = convex_hull(P)
    for axis in (0, 2):  # sliding along the floor: the contact edges move with the box
        dV = np.zeros_like(V)
        dV[:, axis] = 1.0
        h = 1e-6
        dP = (project(sc.sensor, V + h * dV) - project(sc.sensor, V - h * dV)) / (2 * h)
        ref = polygon_boundary_grad(P[hull], dP[hull], OCC, BG, adj)
        assert abs(ref) > 1.0
        assert rel_err(g[axis, 3], ref) < 0.1, (axis, g[axis, 3], ref)


# --- a shadow cast on a plane by an occluder outside the view ----------------------------------

LIGHT = np.array([0.3, 6.0, 0.2])
INTENSITY = 30.0
ALBEDO = 0.8


def shadow_scene(lamp):
    """A floor seen from above with the shadow of an out-of-view occluder cast by ``lamp``."""
    return dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": sensor([0, 3, 0.01], [0, 0, 0], [0, 0, 1], fov=45),
        "floor": rect({"rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [4, 4, 4]}, refl=ALBEDO),
        # 0.6 x 0.6 quad at height 3.5, facing down: above the camera (out of view)
        "occ": rect({"rotate": {"axis": [1, 0, 0], "angle": 90}, "scale": [0.3, 1, 0.3],
                     "translate": [0, 3.5, 0]}, refl=0.5),
        "lamp": lamp,
    })


@pytest.fixture  # one test uses it: gone after it, so that a later scene of the same
# device-set key recycles its compiled kernels (core/pool.py) instead of compiling them again
def shadow():
    sc = shadow_scene({"type": "point", "position": list(LIGHT),
                       "intensity": {"type": "rgb", "value": [INTENSITY] * 3}})
    r = Renderer(sc)
    adj = smooth_adjoint(4)
    return sc, r, adj


def shadow_reference(sc, adj, dV=None, dlight=None, profile=None):
    """The boundary term of the occluder's shadow on the floor (y = 0) for vertex velocities
    ``dV`` and light velocity ``dlight``; ``profile(q)``: the light's angular factor at floor
    points q (a spot's falloff; default 1)."""
    V = np.asarray(sc.shapes[1].vertices, np.float64)
    dV = np.zeros_like(V) if dV is None else dV
    dlight = np.zeros(3) if dlight is None else dlight

    def polygon(h):
        lp = LIGHT + h * dlight
        Vh = V + h * dV
        return lp + ((0.0 - lp[1]) / (Vh[:, 1] - lp[1]))[:, None] * (Vh - lp)
    h = 1e-6
    P = project(sc.sensor, polygon(0.0))
    dP = (project(sc.sensor, polygon(h)) - project(sc.sensor, polygon(-h))) / (2 * h)

    def lit(x):
        q = unproject_to_plane_y(sc.sensor, x)
        v = LIGHT[None] - q
        r2 = (v * v).sum(1)
        e = INTENSITY * v[:, 1] / r2 ** 1.5 * ALBEDO / np.pi
        if profile is not None:
            e = e * profile(q)
        return np.repeat(e[:, None], 3, 1)
    return polygon_boundary_grad(P, dP, np.zeros(3), lit, adj)


def test_shadow_of_out_of_view_occluder(shadow):
    sc, r, adj = shadow
    img = r.render(spp=4)
    assert img.min() == 0.0 and img.max() > 0.1  # a shadow is in view
    P = project(sc.sensor, sc.shapes[1].vertices)  # the occluder is not (NaN: behind the camera)
    assert np.all(np.any(np.isnan(P) | (P < 0) | (P > W), axis=1))
    g = r.vjp(adj, ["occ.to_world", "lamp.position"], edges=dict(interior=False, spp=EDGE_SPP, seed=2))
    V = np.asarray(sc.shapes[1].vertices)
    for axis in (0, 1, 2):
        dV = np.zeros_like(V)
        dV[:, axis] = 1.0
        ref = shadow_reference(sc, adj, dV=dV)
        got = g["occ.to_world"][axis, 3]
        assert abs(got - ref) < 0.1 * max(abs(ref), 1.0), (axis, got, ref)
    # The light's position moves the shadow too (boundary term; its shading term is interior).
    ref_l = shadow_reference(sc, adj, dlight=np.array([1.0, 0.0, 0.0]))
    assert abs(ref_l) > 0.5
    assert rel_err(g["lamp.position"][0], ref_l) < 0.1
    # No primary edge is visible: primary sampling alone contributes nothing.
    g0 = r.vjp(adj, ["occ.to_world"], edges=dict(interior=False, secondary=False, spp=4))["occ.to_world"]
    assert np.all(g0 == 0.0)


# --- soft shadow of an area light (secondary edges at the first bounce) ------------------------

LAMP_H, OCC_H, HALF = 6.0, 3.5, 0.3
RADIANCE = 60.0


def area_shadow_scene():
    down = {"rotate": {"axis": [1, 0, 0], "angle": 90}, "scale": [HALF, 1, HALF]}
    return dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": sensor([0, 3, 0.01], [0, 0, 0], [0, 0, 1], fov=45),
        "floor": rect({"rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [4, 4, 4]}, refl=ALBEDO),
        "occ": rect({**down, "translate": [0.25, OCC_H, 0.1]}, refl=0.5),
        "lamp": rect({**down, "translate": [0, LAMP_H, 0]}, [RADIANCE] * 3),
    })


def area_shadow_radiance(sc, occ_centre):
    """Closed form: floor radiance = albedo * L * (form factor of the light minus the part of
    it hidden by the occluder, whose shadow on the light's plane is an axis-aligned square)."""
    from tests.helpers.edges_ref import rect_form_factor

    def fn(x):
        q = unproject_to_plane_y(sc.sensor, x)
        s = LAMP_H / OCC_H
        ox, oz = occ_centre[0], occ_centre[2]
        px1, px2 = q[:, 0] + s * (ox - HALF - q[:, 0]), q[:, 0] + s * (ox + HALF - q[:, 0])
        pz1, pz2 = q[:, 2] + s * (oz - HALF - q[:, 2]), q[:, 2] + s * (oz + HALF - q[:, 2])
        full = rect_form_factor(q, -HALF, HALF, -HALF, HALF, LAMP_H)
        hid = rect_form_factor(q, np.maximum(px1, -HALF), np.minimum(px2, HALF),
                               np.maximum(pz1, -HALF), np.minimum(pz2, HALF), LAMP_H)
        e = ALBEDO * RADIANCE * (full - hid)
        return np.repeat(e[:, None], 3, 1)
    return fn


def test_area_light_soft_shadow_secondary_edges():
    from tests.helpers.edges_ref import expected_image

    sc = area_shadow_scene()
    r = Renderer(sc)
    centre = np.array([0.25, OCC_H, 0.1])
    ref_img = expected_image(sc.sensor, area_shadow_radiance(sc, centre))
    img = r.render(spp=256, seed=1)
    # The closed form is the render: at 256 spp the per-pixel noise is ~1.1% of the maximum
    # (rms, measured over seeds), so the worst of 256 pixels stays below ~6 sigma, and a bias
    # shows in the rms.
    err = np.abs(img - ref_img)
    assert err.max() < 0.07 * ref_img.max()
    assert np.sqrt((err ** 2).mean()) < 0.02 * ref_img.max()
    adj = smooth_adjoint(6)
    # 256 edge samples per pixel: this estimator's standard deviation is ~5% at 64 (measured)
    g = r.vjp(adj, ["occ.to_world"], edges=dict(interior=False, spp=256, seed=3))["occ.to_world"]
    h = 1e-3
    for axis in (0, 2):
        e = np.zeros(3)
        e[axis] = h
        ref = float(((expected_image(sc.sensor, area_shadow_radiance(sc, centre + e))
                      - expected_image(sc.sensor, area_shadow_radiance(sc, centre - e))) * adj).sum() / (2 * h))
        assert abs(ref) > 0.5
        assert rel_err(g[axis, 3], ref) < 0.1, (axis, g[axis, 3], ref)


# --- creases: flat-shaded edges between two visible faces are image discontinuities -----------

def test_crease_edges_are_not_smooth_for_split_normals():
    from diffrender.core.ad.topology import EdgeTopology

    sc = dr.load_scene({"type": "scene",
                        "box": {"type": "cube"},
                        "ball": {"type": "sphere", "center": [3, 0, 0], "radius": 1.0}})
    r = Renderer(sc)
    g = r.geometry
    t = EdgeTopology(g._f, g.n_verts, g._v, g._s, g._n, [sh.normals is not None for sh in sc.shapes])
    V = g._v
    cand = t.candidates(V)
    box = g._s[t.f0[cand]] == 0
    # the cube: 12 creases (per-face normals), diagonals dropped as coplanar
    assert box.sum() == 12 and not t.smooth[cand[box]].any()
    # the sphere: vertex normals shared or equal across its seam: all smooth, no boundary
    ball = cand[~box]
    assert t.smooth[ball[t.f1[ball] >= 0]].all() and np.all(t.f1[ball] >= 0)
    # seen from outside, a crease with a face towards the viewer is sampled, a smooth one not
    creases = set(t.silhouettes(V, [0.5, 2.0, -3.0], creases=True)) - set(t.silhouettes(V, [0.5, 2.0, -3.0]))
    assert creases and all(g._s[t.f0[e]] == 0 for e in creases)


@pytest.mark.slow
def test_lit_box_on_floor_total_gradient_matches_finite_differences():
    """Everything at once: a flat-shaded box on a lit floor (silhouettes, creases, contact
    edges, its point-light shadow, the interior shading term), against central differences
    with common random numbers at high spp (4 seeds x 1024 spp)."""
    sc = dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": sensor([0.8, 1.6, -2.6], [0, 0.2, 0], [0, 1, 0]),
        "floor": rect({"rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [3, 3, 3]}, refl=0.7),
        "box": {"type": "cube", "to_world": {"type": "transform", "scale": [0.3, 0.3, 0.3], "translate": [0, 0.3, 0]},
                "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.8, 0.3, 0.2]}}},
        "lamp": {"type": "point", "position": [-1.0, 2.5, -0.8], "intensity": {"type": "rgb", "value": [15] * 3}},
    })
    r = Renderer(sc)
    adj = smooth_adjoint(7)
    g = r.vjp(adj, ["box.to_world"], spp=64, seed=0, edges=dict(spp=256))["box.to_world"]
    p = sc.parameters()
    M0 = p["box.to_world"].copy()
    for axis in (0, 2):
        fds = []
        for seed in range(4):
            vals = []
            for sg in (1, -1):
                M = M0.copy()
                M[axis, 3] += sg * 0.01
                p["box.to_world"] = M
                vals.append(float((r.render(spp=1024, seed=10 + seed).astype(np.float64) * adj).sum()))
            fds.append((vals[0] - vals[1]) / 0.02)
        p["box.to_world"] = M0
        r.update()
        ref = float(np.mean(fds))
        assert rel_err(g[axis, 3], ref) < 0.1, (axis, g[axis, 3], ref, np.std(fds))
