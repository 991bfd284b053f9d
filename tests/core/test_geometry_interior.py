"""Interior derivatives of geometry, camera and point-light parameters (core/ad/geometry.py)
against central finite differences with common random numbers.

The scene has no visibility change under these perturbations (a floor and a wall that fill
the view, lights out of view), so the derivative is all interior. With the same seed the
finite difference follows the same paths; the replay holds the sampled world directions fixed,
which is what the renders do too (hit points slide along their triangles), so the two agree
to float32 round-off for point lights (rtol 1e-2 here).
"""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from tests.helpers.fd import render_fd

W = H = 12
SPP = 4
SEED = 3


def floor_and_wall_scene(lamp):
    """A floor and a wall that fill the 12 x 12 view, lit by ``lamp`` (a light's dict) out of
    view: no visibility changes under small motions (max_depth 3)."""
    return dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 3},
        "sensor": {"type": "perspective", "fov": 45,
                   "to_world": {"type": "transform", "lookat": {"origin": [0.3, 3, 0.5], "target": [0, 0, 0], "up": [0, 0, 1]}},
                   "film": {"type": "hdrfilm", "width": W, "height": H}, "sampler": {"type": "independent", "sample_count": SPP}},
        "floor": {"type": "rectangle", "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [4, 4, 4]},
                  "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.8, 0.6, 0.4]}}},
        "wall": {"type": "rectangle", "to_world": {"type": "transform", "scale": [4, 4, 4], "translate": [0, 0, -2.5]},
                 "bsdf": {"type": "twosided", "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.5, 0.5, 0.5]}}}},
        "lamp": lamp,
    })


@pytest.fixture(scope="module")
def setup():
    sc = floor_and_wall_scene({"type": "point", "position": [0.5, 2, 0.3], "intensity": {"type": "rgb", "value": [10, 10, 10]}})
    r = Renderer(sc)
    adj = np.random.default_rng(1).normal(size=(H, W, 3)).astype(np.float32)
    return sc, r, adj


FD_STEP = 2e-3  # absolute finite-difference step (positions, angles)


CASES = [("floor.to_world", 7),        # floor moves up: distances and cosines to the light
         ("floor.vertex_positions", 1),  # one corner lifted: the floor bends (a crease)
         ("wall.to_world", 11),        # wall moves: indirect light on the floor
         ("sensor.to_world", 3), ("sensor.to_world", 11), ("sensor.to_world", 0),  # camera
         ("sensor.fov", 0),
         ("lamp.position", 0), ("lamp.position", 1)]


def test_interior_matches_finite_differences(setup):
    sc, r, adj = setup
    names = sorted({n for n, _ in CASES})
    g = r.vjp(adj, names, spp=SPP, seed=SEED, edges=False)  # interior only: no visibility here
    for name, idx in CASES:
        ref = render_fd(r, sc, adj, name, idx, SPP, SEED, eps=FD_STEP, reupload=True)
        got = float(np.asarray(g[name]).flat[idx])
        assert abs(got - ref) <= 1e-2 * abs(ref) + 1e-3, (name, idx, got, ref)


def test_interior_forward_matches_reverse(setup):
    sc, r, adj = setup
    names = ["floor.to_world", "sensor.to_world", "sensor.fov", "lamp.position"]
    g = r.vjp(adj, names, spp=SPP, seed=SEED, edges=False)
    t = {n: np.random.default_rng(5).normal(size=np.shape(g[n])) for n in names}
    t["floor.to_world"][3] = 0.0
    t["sensor.to_world"][3] = 0.0
    img = r.jvp(t, spp=SPP, seed=SEED, edges=False)
    lhs = float((img.astype(np.float64) * adj).sum())
    rhs = sum(float((np.asarray(g[n]) * t[n]).sum()) for n in names)
    assert abs(lhs - rhs) <= 1e-3 * max(1.0, abs(rhs))


def floor_scene(reflectance):
    """A floor with ``reflectance`` under a point light, seen from above (max_depth 2)."""
    return dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": {"type": "perspective", "fov": 45,
                   "to_world": {"type": "transform", "lookat": {"origin": [0.3, 3, 0.5], "target": [0, 0, 0], "up": [0, 0, 1]}},
                   "film": {"type": "hdrfilm", "width": W, "height": H}, "sampler": {"type": "independent", "sample_count": SPP}},
        "floor": {"type": "rectangle", "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [4, 4, 4]},
                  "bsdf": {"type": "diffuse", "reflectance": reflectance}},
        "lamp": {"type": "point", "position": [0.5, 2, 0.3], "intensity": {"type": "rgb", "value": [10, 10, 10]}},
    })


@pytest.fixture(scope="module")
def textured(tmp_path_factory):
    """The floor carries a smooth bitmap texture: hit points sliding on it change the albedo."""
    tex = np.random.default_rng(7).uniform(0.2, 0.9, size=(4, 4, 3)).astype(np.float32)
    path = str(tmp_path_factory.mktemp("tex") / "albedo.exr")
    dr.write_image(path, tex)

    sc = floor_scene({"type": "bitmap", "filename": path})
    plain = floor_scene({"type": "rgb", "value": tex.reshape(-1, 3).mean(axis=0).tolist()})
    adj = np.random.default_rng(2).normal(size=(H, W, 3)).astype(np.float32)
    return sc, plain, adj


TEXTURE_CASES = [("sensor.fov", 0), ("sensor.to_world", 3), ("floor.to_world", 3)]


@pytest.mark.parametrize("name,idx", TEXTURE_CASES)
def test_texture_coordinates_slide_with_the_hit_point(textured, name, idx):
    """Camera and shape motion move the hit points across the texture: the interior term
    differentiates the uv interpolated from the moving barycentrics (with the recorded uv held
    fixed, these gradients were off by the texture's share, sign included)."""
    sc, plain, adj = textured
    r = Renderer(sc)
    got = float(np.asarray(r.vjp(adj, [name], spp=SPP, seed=SEED, edges=False)[name]).flat[idx])
    ref = render_fd(r, sc, adj, name, idx, SPP, SEED, eps=FD_STEP, reupload=True)
    assert abs(got - ref) <= 2e-2 * abs(ref) + 1e-3, (got, ref)
    # the texture's share is far above the tolerance: the same scene with the mean albedo
    untextured = render_fd(Renderer(plain), plain, adj, name, idx, SPP, SEED, eps=FD_STEP,
                           reupload=True)
    assert abs(untextured - ref) > 3 * (2e-2 * abs(ref) + 1e-3), (untextured, ref)



def test_discontinuous_textures_are_named_once(textured, capsys):
    """Texel edges of a nearest-filtered bitmap (and a checkerboard's) slide with the camera and
    no edge term covers them: the first geometry / camera derivative of a Renderer says which
    textures that concerns, once; a bilinear bitmap is continuous and gets no note."""
    sc, _, adj = textured
    Renderer(sc).vjp(adj, ["sensor.fov"], spp=1, seed=SEED, edges=False)
    assert "discontinuous texture" not in capsys.readouterr().err
    path = sc.shapes[0].bsdf.params["reflectance"].filename
    r = Renderer(floor_scene({"type": "bitmap", "filename": path, "filter_type": "nearest"}))
    for _ in range(2):
        r.vjp(adj, ["sensor.fov"], spp=1, seed=SEED, edges=False)
    note = ("diffrender: note: geometry / camera derivatives do not include the edges of the discontinuous "
            "texture floor.bsdf.reflectance (checkerboard, or bitmap with filter_type nearest: no edge term "
            "covers texture edges; a bilinear bitmap is continuous; see docs/edge-sampling.md)")
    assert capsys.readouterr().err.strip().splitlines() == [note]
    checker = floor_scene({"type": "checkerboard", "color0": {"type": "rgb", "value": [0.8, 0.8, 0.8]},
                           "color1": {"type": "rgb", "value": [0.2, 0.2, 0.2]}})
    Renderer(checker)._note_texture_edges(checker.parameters())   # what vjp / jvp call first
    assert capsys.readouterr().err.strip().splitlines() == [note]


def bumps_scene(tmp_path, normals_in_file=False):
    """A bumpy 7 x 7 grid (an OBJ with or without ``vn`` lines) filling the view from above,
    lit by a high point light: its smooth normals shade it, no visibility changes."""
    n = 7
    xs = np.linspace(-2.5, 2.5, n)
    X, Y = np.meshgrid(xs, xs)
    Z = 0.12 * np.sin(1.3 * X) * np.cos(1.1 * Y)
    V = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])
    F = [(i * n + j, i * n + j + 1, (i + 1) * n + j + 1) for i in range(n - 1) for j in range(n - 1)]
    F += [(i * n + j, (i + 1) * n + j + 1, (i + 1) * n + j) for i in range(n - 1) for j in range(n - 1)]
    lines = [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in V]
    if normals_in_file:
        lines += ["vn 0 0 1"] * len(V)
        lines += [f"f {a + 1}//{a + 1} {b + 1}//{b + 1} {c + 1}//{c + 1}" for a, b, c in F]
    else:
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in F]
    path = tmp_path / ("bumps_vn.obj" if normals_in_file else "bumps.obj")
    path.write_text("\n".join(lines) + "\n")
    return dr.load_scene({
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": {"type": "perspective", "fov": 40,
                   "to_world": {"type": "transform", "lookat": {"origin": [0.2, 0.1, 4], "target": [0, 0, 0], "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": W, "height": H}, "sampler": {"type": "independent", "sample_count": SPP}},
        "bumps": {"type": "obj", "filename": str(path),
                  "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.7, 0.6, 0.5]}}},
        "lamp": {"type": "point", "position": [1.0, 0.5, 3.0], "intensity": {"type": "rgb", "value": [20, 20, 20]}},
    })


def test_setting_vertices_recomputes_smooth_normals_as_mitsuba(tmp_path):
    """Mitsuba's ``Mesh::parameters_changed`` recomputes a mesh's vertex normals (angle
    weighted) from new positions, whether the file had normals or not; a ``to_world`` change
    of a mesh whose normals were derived from its positions derives them again."""
    from diffrender.scene.meshes import vertex_normals

    for in_file in (False, True):
        sc = bumps_scene(tmp_path, in_file)
        sh = sc.shapes[0]
        assert sh.derived_normals is (not in_file)
        p = sc.parameters()
        V = np.array(p["bumps.vertex_positions"])
        before = np.array(sh.normals)
        V[24, 2] += 0.5
        p["bumps.vertex_positions"] = V
        assert sh.derived_normals
        np.testing.assert_allclose(sh.normals, vertex_normals(V, sh.faces), atol=1e-12)
        assert np.abs(sh.normals[25] - before[25]).max() > 0.1   # its neighbours' tilted
    M = np.diag([2.0, 1.0, 1.0, 1.0])
    p["bumps.to_world"] = M
    np.testing.assert_allclose(sh.normals, vertex_normals(sh.vertices, sh.faces), atol=1e-12)


def test_derived_normals_turn_with_moving_vertices(tmp_path, monkeypatch):
    """Moving one vertex of a smooth mesh tilts the normals of its neighbours and so the
    shading around it: the interior derivative recomputes the normals from the differentiable
    vertices. Against central differences (common random numbers), reverse and forward mode;
    with the normals held fixed (the stored ones) the derivative is far off."""
    from diffrender.core.ad.geometry import GeoReplay

    sc = bumps_scene(tmp_path)
    r = Renderer(sc)
    adj = np.random.default_rng(4).normal(size=(H, W, 3)).astype(np.float32)
    name = "bumps.vertex_positions"
    cases = [3 * 24 + 2, 3 * 24 + 0, 3 * 17 + 2, 3 * 31 + 1]  # centre z, x; neighbours z, y
    g = np.asarray(r.vjp(adj, [name], spp=SPP, seed=SEED, edges=False)[name]).ravel()
    refs = [render_fd(r, sc, adj, name, i, SPP, SEED, eps=FD_STEP, reupload=True) for i in cases]
    for i, ref in zip(cases, refs):
        assert abs(g[i] - ref) <= 2e-2 * abs(ref) + 2e-3, (i, g[i], ref)
    t = np.zeros(g.size)
    t[cases] = [1.0, -0.5, 0.7, 0.3]
    img = r.jvp({name: t.reshape(-1, 3)}, spp=SPP, seed=SEED, edges=False)
    assert float((img.astype(np.float64) * adj).sum()) == pytest.approx(float(g @ t), rel=1e-3, abs=1e-4)

    upload = GeoReplay.upload

    def stored_normals(self):
        upload(self)
        self.shape_derived.fill(0)

    monkeypatch.setattr(GeoReplay, "upload", stored_normals)
    off = np.asarray(r.vjp(adj, [name], spp=SPP, seed=SEED, edges=False)[name]).ravel()
    assert max(abs(off[i] - ref) / abs(ref) for i, ref in zip(cases, refs)) > 0.3
