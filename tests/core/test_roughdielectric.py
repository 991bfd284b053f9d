"""roughdielectric (Mitsuba 3.9.1's rough glass): sampling against its pdf (chi-square, over
the whole sphere: reflection and transmission), sample / eval / pdf consistency, the
generalised reciprocity of the transmission, a white-furnace bound, and alpha / eta / alpha_u /
alpha_v gradients against central finite differences (reverse and forward mode). The render
against Mitsuba 3 is in test_materials_reference.py."""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.core.bsdfs import _eval_kernel, _uvg, eval_np, sample_np
from diffrender.scene import write_scene
from diffrender.scene.model import BSDF
from tests.core.test_bsdfs import Library, chi2_directions, f1, rgb
from tests.helpers.fd import assert_grad_close, render_fd

ETA = 1.5


def rd(**kw):
    params = {"eta": f1(ETA)}
    for k, v in kw.items():
        params[k] = f1(v) if isinstance(v, float) else v
    return lambda: BSDF("roughdielectric", params)


MATERIALS = {
    "ggx": rd(alpha=0.3, distribution="ggx"),
    "beckmann": rd(alpha=0.3, distribution="beckmann"),
    "beckmann_rough": rd(alpha=0.8, distribution="beckmann"),
    "ggx_aniso": rd(alpha_u=0.1, alpha_v=0.45, distribution="ggx"),
    "beckmann_aniso": rd(alpha_u=0.4, alpha_v=0.15, distribution="beckmann"),
    "ggx_all_normals": rd(alpha=0.3, distribution="ggx", sample_visible=False),
    "beckmann_all_normals": rd(alpha_u=0.2, alpha_v=0.35, distribution="beckmann",
                               sample_visible=False),
    "ggx_smooth": rd(alpha=0.05, distribution="ggx"),
    "tinted": rd(alpha=0.2, distribution="ggx", specular_reflectance=rgb(0.5, 0.7, 0.9),
                 specular_transmittance=rgb(0.9, 0.6, 0.3)),
}


@pytest.fixture(scope="module")
def lib():
    return Library(MATERIALS)


def _wi(z, phi=0.3):
    s = np.sqrt(1 - z * z)
    return np.array([s * np.cos(phi), s * np.sin(phi), z], np.float32)


@pytest.mark.parametrize("name", [n for n in MATERIALS if n != "tinted"])
@pytest.mark.parametrize("wi_z", [0.85, 0.3, -0.6])
def test_sampling_chi_square(lib, name, wi_z):
    table, b = lib(name)
    wi = _wi(wi_z)
    n = 200000
    out = sample_np(table, b, wi, np.random.default_rng(7).random((n, 3)))
    ok = out["pdf"] > 0
    assert (out["lobe"] == 0).all()  # smooth lobes only
    np.testing.assert_allclose(out["pdf"][ok], out["eval_pdf"][ok], rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(out["weight"][ok] * out["pdf"][ok, None], out["eval"][ok],
                               rtol=2e-3, atol=1e-5)
    # both lobes are sampled (reflection and transmission), also from inside
    refl = out["wo"][ok, 2] * wi_z > 0
    assert 0.01 < refl.mean() < 0.99, refl.mean()
    # alpha 0.05: the transmitted peak spans a fraction of a bin, integrated on a finer grid
    sub = 64 if name == "ggx_smooth" else 16
    p, mass = chi2_directions(out["wo"][ok], n, lambda d: eval_np(table, b, wi, d)[1],
                              nb_t=16, nb_p=16, sub=sub)
    assert p > 1e-3, (name, wi_z, p)
    # the pdf integrates to the fraction of valid samples (those not lost to masking)
    assert ok.mean() == pytest.approx(mass, abs=0.01)


def _eval_pairs(table, b, wi, wo):
    out = np.zeros((wi.shape[0], 4), np.float32)
    _eval_kernel(table, b, np.ascontiguousarray(wi, np.float32),
                 np.ascontiguousarray(wo, np.float32), out, _uvg((0.5, 0.5), None))
    return out[:, :3].astype(np.float64)


@pytest.mark.parametrize("name", ["ggx", "beckmann", "ggx_aniso", "tinted"])
def test_reciprocity(lib, name):
    """Reflection: f(a, c) = f(c, a). Transmission (radiance form, Mitsuba's): f(c, a) =
    f(a, c) eta_a^2 with eta_a the relative index seen from a (eta outside, 1 / eta inside);
    the tinted material has the same transmittance both ways."""
    table, b = lib(name)
    rng = np.random.default_rng(4)
    a = rng.normal(size=(600, 3))
    c = rng.normal(size=(600, 3))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    f_ac = _eval_pairs(table, b, a, c) / np.abs(c[:, 2:3])
    f_ca = _eval_pairs(table, b, c, a) / np.abs(a[:, 2:3])
    eta_a = np.where(a[:, 2] > 0, ETA, 1 / ETA)[:, None]
    trans = (a[:, 2] * c[:, 2] < 0)[:, None]
    expected = np.where(trans, f_ac * eta_a ** 2, f_ac)
    assert (f_ac[trans[:, 0]] > 0).mean() > 0.1 and (f_ac[~trans[:, 0]] > 0).mean() > 0.3
    np.testing.assert_allclose(f_ca, expected, rtol=3e-3, atol=1e-5)


@pytest.mark.parametrize("name", ["ggx", "beckmann", "ggx_smooth", "beckmann_rough",
                                  "ggx_aniso"])
def test_white_furnace(lib, name):
    """Energy: the mean sample weight without the radiance factor eta_ti^2 of refraction (an
    importance-transport albedo) is at most 1 from both sides; at low roughness, near normal
    incidence, the interface loses < 3% (only to masking)."""
    table, b = lib(name)
    for wi_z in (0.95, 0.5, 0.15, -0.4, -0.9):
        wi = _wi(wi_z)
        out = sample_np(table, b, wi, np.random.default_rng(5).random((50000, 3)))
        eta_i = ETA if wi_z > 0 else 1 / ETA
        trans = out["wo"][:, 2] * wi_z < 0
        w = out["weight"].astype(np.float64)
        w[trans] *= eta_i ** 2
        alb = w.mean(axis=0)
        assert np.all(alb <= 1.0 + 0.01), (name, wi_z, alb)
        assert np.all(alb > 0.3), (name, wi_z, alb)
        if name == "ggx_smooth" and abs(wi_z) > 0.9:
            assert np.all(alb > 0.97), (wi_z, alb)


# --- gradients --------------------------------------------------------------------------------

SPP, SEED = 2, 5


def _pane_scene():
    """Two rough glass panes at normal-ish incidence, lit by a point light in front (reflection)
    and one behind (transmission); max_depth 2 with delta lights: every value is a light
    sample, whose paths do not depend on the parameters (exact common-random-number FD)."""
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
                 "bsdf": {"type": "roughdielectric", "id": "ggx", "distribution": "ggx",
                          "alpha": 0.25, "int_ior": 1.5, "ext_ior": 1.0}},
        "right": {"type": "rectangle",
                  "to_world": {"type": "transform", "rotate": {"axis": [0, 1, 0], "angle": 20},
                               "translate": [-1.05, 0, 0]},
                  "bsdf": {"type": "roughdielectric", "id": "beck", "alpha_u": 0.3,
                           "alpha_v": 0.15, "int_ior": 1.33, "ext_ior": 1.0,
                           "specular_transmittance": {"type": "rgb", "value": [0.9, 0.7, 0.5]}}},
        "front": {"type": "point", "position": [0.4, 1.2, -2.5],
                  "intensity": {"type": "rgb", "value": [8, 8, 8]}},
        "back": {"type": "point", "position": [-0.3, -0.4, 2.0],
                 "intensity": {"type": "rgb", "value": [6, 5, 4]}},
    }


@pytest.fixture(scope="module")
def panes():
    scene = dr.load_scene(_pane_scene())
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    assert img.mean() > 0.005
    adj = np.random.default_rng(13).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


@pytest.mark.parametrize("name,idx", [("ggx.alpha", [0]), ("ggx.eta", [0]),
                                      ("beck.alpha_u", [0]), ("beck.alpha_v", [0]),
                                      ("beck.eta", [0]),
                                      ("beck.specular_transmittance", [1])])
def test_gradients_match_finite_differences(panes, name, idx):
    scene, r, adj = panes
    g = r.vjp(adj, [name], spp=SPP, seed=SEED)[name]
    # eps 0.2%: the Beckmann lobe of the right pane is sharp in eta (through the half vector):
    # at the default 1% the central difference is off by 2.7% (truncation), at 0.1% by 0.03%
    expected = np.array([render_fd(r, scene, adj, name, i, SPP, SEED, eps_rel=2e-3)
                         for i in idx])
    assert np.all(np.abs(expected) > 1e-4), "the parameter must have a visible effect"
    assert_grad_close(g.ravel()[idx], expected, rtol=5e-3, atol=2e-4, what=name)


def test_forward_mode_matches_reverse_mode(panes):
    scene, r, adj = panes
    names = ["ggx.alpha", "ggx.eta", "beck.alpha_v", "beck.eta"]
    rng = np.random.default_rng(6)
    tangents = {n: rng.normal(size=np.shape(scene.parameters()[n])) for n in names}
    grads = r.vjp(adj, names, spp=SPP, seed=SEED)
    lhs = float((r.jvp(tangents, spp=SPP, seed=SEED).astype(np.float64) * adj).sum())
    rhs = sum(float((grads[n] * tangents[n]).sum()) for n in names)
    assert abs(rhs) > 1e-4
    assert lhs == pytest.approx(rhs, rel=2e-3)


def test_loader_reads_mitsuba_parameters_and_defaults():
    sc = dr.load_scene({"type": "scene", "s": {"type": "rectangle",
                                               "bsdf": {"type": "roughdielectric"}}})
    p = sc.shapes[0].bsdf.params
    assert p["distribution"] == "beckmann" and p["sample_visible"] is True
    assert float(p["alpha"].value[0]) == pytest.approx(0.1)
    assert float(p["eta"].value[0]) == pytest.approx(1.5046 / 1.000277, rel=1e-6)
    with pytest.raises(dr.SceneError, match="alpha_u"):
        dr.load_scene({"type": "scene", "s": {"type": "rectangle", "bsdf": {
            "type": "roughdielectric", "alpha_u": 0.2}}})
    with pytest.raises(dr.SceneError, match="either 'alpha' or 'alpha_u'"):
        dr.load_scene({"type": "scene", "s": {"type": "rectangle", "bsdf": {
            "type": "roughdielectric", "alpha": 0.1, "alpha_u": 0.2, "alpha_v": 0.3}}})
    with pytest.raises(dr.SceneError, match="distribution"):
        dr.load_scene({"type": "scene", "s": {"type": "rectangle", "bsdf": {
            "type": "roughdielectric", "distribution": "phong"}}})


def test_written_scene_keeps_a_changed_eta_and_alpha(tmp_path):
    """Writing the scene back turns a changed eta into int_ior (ext_ior kept), as for the other
    dielectrics, and keeps alpha_u / alpha_v."""
    sc = dr.load_scene(_pane_scene())
    p = sc.parameters()
    p["beck.eta"] = np.array([1.4], np.float32)
    p["beck.alpha_v"] = np.array([0.25], np.float32)
    write_scene(sc, tmp_path / "out.xml")
    back = dr.load_scene(str(tmp_path / "out.xml"))
    b = next(s.bsdf for s in back.shapes if s.bsdf.id == "beck")
    assert float(b.params["eta"].value[0]) == pytest.approx(1.4, rel=1e-6)
    assert float(b.params["alpha_v"].value[0]) == pytest.approx(0.25, rel=1e-6)
    assert float(b.params["alpha_u"].value[0]) == pytest.approx(0.3, rel=1e-6)
    assert b.params["distribution"] == "beckmann"
