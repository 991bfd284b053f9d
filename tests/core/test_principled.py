"""principled and principledthin (Mitsuba 3.9.1's Disney BSDFs): sampling against its pdf (chi-square over the
sphere, so the transmission lobe too), sample / eval / pdf consistency, white-furnace bounds,
the loader's eta / specular rule, and gradients of every continuous parameter against central
finite differences (reverse mode; forward mode as a cross-check). The per-parameter renders
against Mitsuba are in test_materials_reference.py and bench_materials.py."""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.core.bsdfs import eval_np, sample_np
from diffrender.scene.model import BSDF
from tests.core.test_bsdfs import Library, chi2_directions, f1, rgb
from tests.helpers.fd import assert_grad_close, render_fd


def pr(**kw):
    params = {k: (rgb(*v) if isinstance(v, tuple) else f1(v)) for k, v in kw.items()}
    return lambda: BSDF("principled", params)


def th(**kw):
    params = {k: (rgb(*v) if isinstance(v, tuple) else f1(v)) for k, v in kw.items()}
    return lambda: BSDF("principledthin", params)


MATERIALS = {
    "default": pr(),
    "everything": pr(base_color=(0.8, 0.4, 0.2), roughness=0.4, metallic=0.3, spec_tint=0.5,
                     sheen=0.6, sheen_tint=0.4, clearcoat=0.7, clearcoat_gloss=0.3,
                     flatness=0.5, specular=0.7, anisotropic=0.6),
    "glass": pr(base_color=(0.9, 0.8, 0.7), roughness=0.35, spec_trans=0.8, eta=1.45),
    "aniso_metal": pr(base_color=(0.9, 0.7, 0.3), roughness=0.4, metallic=1.0,
                      anisotropic=0.8),
    # white lossless-ish materials for the furnace bounds
    "white_metal": pr(base_color=(1.0, 1.0, 1.0), roughness=0.3, metallic=1.0),
    "white_glass": pr(base_color=(1.0, 1.0, 1.0), roughness=0.3, spec_trans=1.0, eta=1.5),
    "white_diffuse": pr(base_color=(1.0, 1.0, 1.0), roughness=0.0, specular=0.0),
    # principledthin
    "thin": th(base_color=(0.3, 0.6, 0.2), roughness=0.35, spec_trans=0.5, diff_trans=0.7,
               spec_tint=0.4, sheen=0.5, flatness=0.3, anisotropic=0.4, eta=1.4),
    "thin_default": th(),
    "white_thin": th(base_color=(1.0, 1.0, 1.0), roughness=0.0, diff_trans=1.0),
}


@pytest.fixture(scope="module")
def lib():
    return Library(MATERIALS)


def _wi(z, phi=0.4):
    s = np.sqrt(1 - z * z)
    return np.array([s * np.cos(phi), s * np.sin(phi), z], np.float32)


@pytest.mark.parametrize("name,wi_z", [("default", 0.8), ("everything", 0.9),
                                       ("everything", 0.3), ("glass", 0.7), ("glass", -0.6),
                                       ("aniso_metal", 0.5), ("thin", 0.8), ("thin", -0.4),
                                       ("thin_default", 0.6)])
def test_sampling_chi_square(lib, name, wi_z):
    table, b = lib(name)
    wi = _wi(wi_z)
    n = 100000
    out = sample_np(table, b, wi, np.random.default_rng(3).random((n, 3)))
    ok = out["pdf"] > 0
    assert (out["lobe"] == 0).all()
    np.testing.assert_allclose(out["pdf"][ok], out["eval_pdf"][ok], rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(out["weight"][ok] * out["pdf"][ok, None], out["eval"][ok],
                               rtol=2e-3, atol=1e-5)
    if name in ("glass", "thin"):  # both sides are sampled, also from inside
        refl = out["wo"][ok, 2] * wi_z > 0
        assert 0.01 < refl.mean() < 0.99, refl.mean()
    p, mass = chi2_directions(out["wo"][ok], n, lambda d: eval_np(table, b, wi, d)[1],
                              nb_t=16, nb_p=16, sub=16)
    assert p > 1e-3, (name, wi_z, p)
    assert ok.mean() == pytest.approx(mass, abs=0.01)


@pytest.mark.parametrize("name", ["white_metal", "white_glass", "white_diffuse", "white_thin"])
def test_white_furnace_bounds(lib, name):
    """Directional albedo E[weight] of white, lossless-ish settings: at most 1 (GGX loses
    energy to masking only; the Burley diffuse at roughness 0 has f_diff <= 1), and not far
    below it at normal incidence. Transmitted radiance is scaled by 1 / eta_path^2 (solid
    angle compression, as Mitsuba's radiance mode): the energy albedo undoes it."""
    table, b = lib(name)
    eta = 1.5
    for wi_z in (1.0, 0.7, 0.3, -0.8):
        if wi_z < 0 and name not in ("white_glass", "white_thin"):
            continue
        out = sample_np(table, b, _wi(wi_z), np.random.default_rng(5).random((60000, 3)))
        w = out["weight"].astype(np.float64)
        trans = out["wo"][:, 2] * wi_z < 0
        if name == "white_glass":
            w[trans] *= (eta if wi_z > 0 else 1.0 / eta) ** 2
        alb = w.mean(axis=0)
        assert np.all(alb <= 1.0 + 0.01), (name, wi_z, alb)
        if abs(wi_z) >= 0.7:
            lo = 0.75 if name == "white_diffuse" else 0.9
            assert np.all(alb > lo), (name, wi_z, alb)


def test_loader_reads_eta_or_specular():
    def load(**bsdf):
        return dr.load_scene({"type": "scene", "s": {"type": "rectangle", "bsdf": {
            "type": "principled", **bsdf}}}).shapes[0].bsdf.params

    p = load()
    assert "eta" not in p and float(p["specular"].value[0]) == pytest.approx(0.5)
    assert float(p["roughness"].value[0]) == pytest.approx(0.5)
    p = load(eta=1.33)
    assert "specular" not in p and float(p["eta"].value[0]) == pytest.approx(1.33)
    with pytest.raises(dr.SceneError, match="either 'eta' or 'specular'"):
        load(eta=1.33, specular=0.4)


# --- gradients --------------------------------------------------------------------------------

SPP, SEED = 2, 5


def _scene():
    """Two principled panes, lit by a point light in front (reflection) and one behind
    (transmission through the right pane and the thin centre sheet) and two at grazing
    incidence; max_depth 2 with delta lights: every value is a
    light sample, whose paths do not depend on the parameters (exact common-random-number FD).
    The left pane has every reflection lobe on (anisotropic: its frame follows dp/du)."""
    look = {"origin": [0, 0.3, -4], "target": [0, 0, 0], "up": [0, 1, 0]}
    return {
        "type": "scene", "integrator": {"type": "path", "max_depth": 2},
        "sensor": {"type": "perspective", "fov": 40,
                   "to_world": {"type": "transform", "lookat": look},
                   "film": {"type": "hdrfilm", "width": 10, "height": 6,
                            "rfilter": {"type": "box"}},
                   "sampler": {"type": "independent", "sample_count": SPP}},
        "left": {"type": "rectangle",
                 "to_world": {"type": "transform", "rotate": {"axis": [0, 1, 0], "angle": 160},
                              "translate": [1.05, 0, 0]},
                 "bsdf": {"type": "principled", "id": "disney",
                          "base_color": {"type": "rgb", "value": [0.8, 0.4, 0.2]},
                          "roughness": 0.45, "metallic": 0.3, "specular": 0.6,
                          "spec_tint": 0.4, "sheen": 0.5, "sheen_tint": 0.5, "clearcoat": 0.6,
                          "clearcoat_gloss": 0.4, "flatness": 0.3, "anisotropic": 0.5}},
        "right": {"type": "rectangle",
                  "to_world": {"type": "transform", "rotate": {"axis": [0, 1, 0], "angle": 20},
                               "translate": [-1.05, 0, 0]},
                  "bsdf": {"type": "principled", "id": "glassy",
                           "base_color": {"type": "rgb", "value": [0.9, 0.7, 0.5]},
                           "roughness": 0.3, "spec_trans": 0.6, "eta": 1.45}},
        "front": {"type": "point", "position": [0.4, 1.2, -2.5],
                  "intensity": {"type": "rgb", "value": [8, 8, 8]}},
        "back": {"type": "point", "position": [-0.3, -0.4, 2.0],
                 "intensity": {"type": "rgb", "value": [6, 5, 4]}},
        "thin": {"type": "rectangle",
                 "to_world": {"type": "transform", "rotate": {"axis": [0, 1, 0], "angle": 200},
                              "scale": [0.35, 0.35, 1], "translate": [0, 0.1, -1]},
                 "bsdf": {"type": "principledthin", "id": "sheet",
                          "base_color": {"type": "rgb", "value": [0.3, 0.6, 0.2]},
                          "roughness": 0.4, "spec_trans": 0.4, "diff_trans": 0.8, "eta": 1.4,
                          "spec_tint": 0.5, "sheen": 0.8, "sheen_tint": 0.5, "flatness": 0.4,
                          "anisotropic": 0.5}},
        # grazing on the centre pane, on the camera's side
        "side2": {"type": "point", "position": [-4.0, 0.3, -0.4],
                  "intensity": {"type": "rgb", "value": [30, 30, 30]}},
        # grazing on the left pane, far from the view direction: the sheen (which grows with
        # the angle between wi and wo) is visible
        "side": {"type": "point", "position": [4.0, 0.3, 0.6],
                 "intensity": {"type": "rgb", "value": [30, 30, 30]}},
    }


@pytest.fixture(scope="module")
def panes():
    scene = dr.load_scene(_scene())
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    assert img.mean() > 0.005
    adj = np.random.default_rng(13).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


GRAD_CASES = [("disney.base_color", [0, 2]), ("disney.roughness", [0]),
              ("disney.metallic", [0]), ("disney.specular", [0]), ("disney.spec_tint", [0]),
              ("disney.sheen", [0]), ("disney.sheen_tint", [0]), ("disney.clearcoat", [0]),
              ("disney.clearcoat_gloss", [0]), ("disney.flatness", [0]),
              ("disney.anisotropic", [0]), ("glassy.spec_trans", [0]), ("glassy.eta", [0]),
              ("glassy.roughness", [0]), ("glassy.base_color", [1]),
              ("sheet.base_color", [1]), ("sheet.roughness", [0]), ("sheet.spec_trans", [0]),
              ("sheet.diff_trans", [0]), ("sheet.eta", [0]), ("sheet.spec_tint", [0]),
              ("sheet.sheen", [0]), ("sheet.sheen_tint", [0]), ("sheet.flatness", [0]),
              ("sheet.anisotropic", [0])]


@pytest.mark.parametrize("name,idx", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_finite_differences(panes, name, idx):
    scene, r, adj = panes
    g = r.vjp(adj, [name], spp=SPP, seed=SEED)[name]
    expected = np.array([render_fd(r, scene, adj, name, i, SPP, SEED, eps_rel=2e-3)
                         for i in idx])
    assert np.all(np.abs(expected) > 1e-4), "the parameter must have a visible effect"
    assert_grad_close(g.ravel()[idx], expected, rtol=5e-3, atol=2e-4, what=name)


def test_forward_mode_matches_reverse_mode(panes):
    scene, r, adj = panes
    names = ["disney.roughness", "disney.clearcoat", "disney.anisotropic", "glassy.eta",
             "glassy.spec_trans", "sheet.diff_trans", "sheet.eta"]
    rng = np.random.default_rng(6)
    tangents = {n: rng.normal(size=np.shape(scene.parameters()[n])) for n in names}
    grads = r.vjp(adj, names, spp=SPP, seed=SEED)
    lhs = float((r.jvp(tangents, spp=SPP, seed=SEED).astype(np.float64) * adj).sum())
    rhs = sum(float((grads[n] * tangents[n]).sum()) for n in names)
    assert abs(rhs) > 1e-4
    assert lhs == pytest.approx(rhs, rel=2e-3)


def test_twosided_refuses_the_transmissive_ones_as_mitsuba():
    """Mitsuba's twosided refuses a principled with spec_trans (a transmission lobe) and any
    principledthin; a principled without spec_trans (the Blender add-on's usual export) is
    accepted."""
    def load(inner):
        return dr.load_scene({"type": "scene", "s": {"type": "rectangle", "bsdf": {
            "type": "twosided", "b": inner}}})

    assert load({"type": "principled", "spec_trans": 0.0}).shapes[0].bsdf.twosided
    for inner in ({"type": "principled", "spec_trans": 0.5}, {"type": "principledthin"}):
        with pytest.raises(dr.SceneError, match="twosided can only wrap"):
            load(inner)
