"""``normalmap`` and ``bumpmap`` (Mitsuba 3.9 semantics) in the renderer.

- BSDF level, against Mitsuba: ``tests/data/reference/normalmap_bsdf.npz`` holds Mitsuba 3.9.1's
  ``eval``, ``pdf`` and ``sample`` of both wrappers (around diffuse, rough and smooth conductors,
  a blendbsdf, a mask; flip / shadowing off; twosided outside and inside; a bump map through a ``to_uv`` transform and
  with nearest filtering) at random directions, uvs and random numbers
  (``benchmarks/make_normalmap_reference.py``). Values and pdfs agree to float32 round-off;
  where the wrapped BSDF samples as Mitsuba's does (diffuse, a mirror) under a normal map, so do
  the sampled directions and weights; otherwise Mitsuba's sample weights equal our eval / pdf at
  its directions, and our samples follow our pdf (chi-square).
- Geometry: the per-triangle uv tangents follow Mitsuba's mesh rules (values printed by
  Mitsuba 3.9.1 for one triangle with uvs, without, and with degenerate uvs).
- Energy: no sample weight of a normal-mapped white diffuse exceeds 1 (the shadowing term and
  the side masks only remove energy), so the directional albedo is at most Mitsuba's 1.
- Images: ``tests/core/test_reference_mitsuba.py`` compares ``tests/data/scenes/normalmap.xml``
  with Mitsuba's render (reference ``normalmap_32``) statistically.
- Derivatives: normal-map texels, bump-map texels and the bump ``scale`` against central
  finite differences with common random numbers (``max_depth = 2``, the directional light only:
  the estimator's paths do not depend on the parameters), and forward mode against reverse mode.
"""
import json
import os

import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.core.bsdfs import BSDFTable, RowBuilder, eval_np, sample_np
from diffrender.core.geometry import uv_tangents
from diffrender.core.textures import TextureTable
from diffrender.scene.model import BSDF, Texture
from tests.helpers.chi2 import chi2_directions
from tests.helpers.fd import assert_grad_close, render_fd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF = os.path.join(ROOT, "tests", "data", "reference", "normalmap_bsdf.npz")
SCENE = os.path.join(ROOT, "tests", "data", "scenes", "normalmap.xml")


# ------------------------------------------------------------------------------ BSDF vs Mitsuba

@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Every reference case as a row of one BSDF table (one kernel compilation), built by the
    loader from the same Mitsuba dicts, plus a white diffuse under a random normal map."""
    ref = dict(np.load(REF))
    cases = json.loads(str(ref["cases"]))
    nested = json.loads(str(ref["nested"]))
    d = tmp_path_factory.mktemp("maps")
    dr.write_image(str(d / "n.exr"), ref["normalmap"])
    dr.write_image(str(d / "h.exr"), np.repeat(ref["height"][:, :, None], 3, axis=2))
    shapes = {}
    for name, (wrapper, inner_name, opt) in cases.items():
        inner = nested[inner_name]
        if opt.get("inner_twosided"):
            inner = {"type": "twosided", "bsdf": inner}
        b = {"type": wrapper, "bsdf": inner}
        for k in ("flip_invalid_normals", "use_shadowing_function"):
            if k in opt:
                b[k] = opt[k]
        tex = {"type": "bitmap", "raw": True, "filter_type": opt.get("filter_type", "bilinear")}
        if wrapper == "normalmap":
            b["normalmap"] = dict(tex, filename=str(d / "n.exr"))
        else:
            b["height"] = dict(tex, filename=str(d / "h.exr"))
            b["scale"] = opt["scale"]
        if opt.get("outer_twosided"):
            b = {"type": "twosided", "bsdf": b}
        shapes[name] = {"type": "rectangle", "bsdf": b}
    rng = np.random.default_rng(3)
    white_nm = rng.uniform(0.05, 0.95, size=(8, 8, 3)).astype(np.float32)
    white_nm[..., 2] = rng.uniform(0.3, 1.0, size=(8, 8))
    dr.write_image(str(d / "w.exr"), white_nm)
    shapes["white"] = {"type": "rectangle", "bsdf": {
        "type": "normalmap", "normalmap": {"type": "bitmap", "raw": True, "filename": str(d / "w.exr")},
        "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [1, 1, 1]}}}}
    scene = dr.load_scene({"type": "scene", **shapes})
    slots, ids = [], {}

    def slot(t, where):
        if id(t) not in ids:
            ids[id(t)] = len(slots)
            slots.append((t, where))
        return ids[id(t)]

    rows = RowBuilder(slot, [])
    index = {}
    for name, sh in zip(shapes, scene.shapes):
        b = sh.bsdf
        tex = b.params.get("normalmap") or b.params.get("nested_texture")
        if name != "white":
            tex.to_uv = np.asarray(ref["to_uv"], np.float64)  # Mitsuba's case used this to_uv
        index[name] = rows.add(b, name)
    table = BSDFTable(TextureTable(slots), rows.rows)
    return table, index, ref, cases


def _case_values(library, name):
    table, index, ref, _ = library
    b, geo = index[name], ref["geo"]
    f, pdf, wo, w, sp = [], [], [], [], []
    for i in range(ref[f"{name}/wi"].shape[0]):
        wi, uv = ref[f"{name}/wi"][i], ref[f"{name}/uv"][i]
        fe, pe = eval_np(table, b, wi, ref[f"{name}/wo"][i][None], uv=uv, geo=geo)
        s = sample_np(table, b, wi, ref[f"{name}/u"][i][None], uv=uv, geo=geo)
        f.append(fe[0])
        pdf.append(pe[0])
        wo.append(s["wo"][0])
        w.append(s["weight"][0])
        sp.append(s["pdf"][0])
    return tuple(np.array(x, np.float64) for x in (f, pdf, wo, w, sp))


CASE_NAMES = ["normal_diffuse", "normal_roughconductor", "normal_conductor",
              "normal_noflip_noshadow", "normal_twosided_outer", "normal_twosided_inner",
              "bump_diffuse", "bump_roughconductor", "bump_nearest", "normal_blend", "bump_mask"]


#: nested BSDFs whose sampling maps random numbers to directions exactly as Mitsuba's does
#: (our GGX visible-normal sampling maps them differently: same distribution). Under a bump map
#: Mitsuba 3.9.1 takes the perturbed tangent from the world-space dp/du (its frames mixed), ours
#: from the unperturbed tangent as its normalmap does: a rotation about the perturbed normal,
#: which changes the mapping of random numbers, not the distribution.
SAME_SAMPLER = ("diffuse", "conductor")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_eval_pdf_sample_match_mitsuba(library, name):
    f, pdf, wo, w, sp = _case_values(library, name)
    table, index, ref, cases = library
    tol = dict(rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(f, ref[f"{name}/f"], **tol, err_msg=f"{name}: eval")
    np.testing.assert_allclose(pdf, ref[f"{name}/pdf"], **tol, err_msg=f"{name}: pdf")
    if name != "normal_conductor":  # smooth: some directions are masked, some evaluated
        assert (f.max(axis=1) > 0).sum() >= 6 and (f.max(axis=1) == 0).sum() >= 2
    mw, mp, mwo = ref[f"{name}/s_weight"], ref[f"{name}/s_pdf"], ref[f"{name}/s_wo"]
    live = mw.max(axis=1) > 0
    assert live.sum() >= 8, "too few live samples to compare"
    if cases[name][0] == "normalmap" and cases[name][1] in SAME_SAMPLER:  # sample for sample
        np.testing.assert_allclose(w, mw, **tol, err_msg=f"{name}: sample weight")
        np.testing.assert_allclose(sp[live], mp[live], **tol, err_msg=f"{name}: sample pdf")
        np.testing.assert_allclose(wo[live], mwo[live], rtol=1e-4, atol=2e-5,
                                   err_msg=f"{name}: sampled direction")
    if name != "normal_conductor":
        # Mitsuba's sample weight (shadowing term, side masks) is our eval / pdf at its direction
        geo = ref["geo"]
        for i in np.flatnonzero(mp > 0):
            if np.allclose(mwo[i], -ref[f"{name}/wi"][i], atol=1e-5):
                continue  # a mask's null lobe (delta): no eval / pdf
            fe, pe = eval_np(table, index[name], ref[f"{name}/wi"][i], mwo[i][None],
                             uv=ref[f"{name}/uv"][i], geo=geo)
            mine = fe[0] / pe[0] if pe[0] > 0 else np.zeros(3)
            np.testing.assert_allclose(mine, mw[i], rtol=2e-3, atol=1e-5,
                                       err_msg=f"{name}: weight of Mitsuba's sample {i}")


@pytest.mark.parametrize("name", ["normal_roughconductor", "bump_roughconductor"])
def test_sampling_follows_the_pdf(library, name):
    """The sampled directions (perturbed frame, then masked) are distributed as the pdf, which
    equals Mitsuba's (above): chi-square over (cos theta, phi) bins."""
    table, index, ref, _ = library
    wi = np.array([0.5, -0.3, 0.81])
    wi /= np.linalg.norm(wi)
    uv, geo, n = (0.3, 0.7), ref["geo"], 100000
    out = sample_np(table, index[name], wi, np.random.default_rng(2).random((n, 3)), uv=uv,
                    geo=geo)
    ok = out["pdf"] > 0
    np.testing.assert_allclose(out["pdf"][ok], out["eval_pdf"][ok], rtol=2e-3, atol=1e-5)
    p, mass = chi2_directions(out["wo"][ok], n,
                              lambda d: eval_np(table, index[name], wi, d, uv=uv, geo=geo)[1])
    assert p > 1e-3, (name, p)
    assert 0.3 < mass <= 1.0 + 1e-2


def test_directional_albedo_is_at_most_one(library):
    table, index, _, _ = library
    geo = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1], np.float32)
    rng = np.random.default_rng(8)
    for cos in (1.0, 0.5, 0.1):
        wi = np.array([np.sqrt(1 - cos * cos), 0, cos])
        out = sample_np(table, index["white"], wi, rng.random((20000, 3)),
                        uv=(0.37, 0.61), geo=geo)
        assert out["weight"].max() <= 1.0 + 1e-6  # shadowing and masks only remove energy
        alb = out["weight"][:, 0].mean()
        assert 0.2 < alb <= 1.0, (cos, alb)
        # the same albedo from eval / pdf of the sampled directions (consistent sampling)
        ok = out["pdf"] > 0
        np.testing.assert_allclose(out["eval"][ok, 0] / out["eval_pdf"][ok], out["weight"][ok, 0],
                                   rtol=1e-3)


# ----------------------------------------------------------------------------- uv tangents

def test_uv_tangents_follow_mitsuba_mesh_rules():
    v0, v1, v2 = (np.array([[0.0, 0, 0]]), np.array([[2.0, 0.5, 0.3]]), np.array([[0.2, 1, -0.4]]))

    def uvs(*u):
        return [np.array([u[2 * k:2 * k + 2]], np.float64) for k in range(3)]

    # Mitsuba 3.9.1 (scalar_rgb, a ray at this triangle) printed these dp_du / dp_dv:
    du, dv = uv_tangents(v0, v1, v2, *uvs(0, 0, 0, 1, 1, 0))
    np.testing.assert_allclose(du[0], [0.2, 1, -0.4], atol=1e-6)
    np.testing.assert_allclose(dv[0], [2, 0.5, 0.3], atol=1e-6)
    du, dv = uv_tangents(v0, v1, v2)  # no uvs: the edges (uv = barycentrics)
    np.testing.assert_allclose(du[0], [2, 0.5, 0.3])
    np.testing.assert_allclose(dv[0], [0.2, 1, -0.4])
    for deg in ((0.5,) * 6, (0, 0, 1, 1, 2, 2)):  # degenerate uvs: coordinate_system(n_g)
        du, dv = uv_tangents(v0, v1, v2, *uvs(*deg))
        np.testing.assert_allclose(du[0], [0.97118, 0.0495708, 0.233136], atol=1e-5)
        np.testing.assert_allclose(dv[0], [0.0495708, 0.914738, -0.400994], atol=1e-5)
    # generic uvs: dp/du, dp/dv reproduce both edges
    rng = np.random.default_rng(1)
    a, b, c = (rng.normal(size=(50, 3)) for _ in range(3))
    ua, ub, uc = (rng.random((50, 2)) for _ in range(3))
    du, dv = uv_tangents(a, b, c, ua, ub, uc)
    np.testing.assert_allclose(du * (ub - ua)[:, :1] + dv * (ub - ua)[:, 1:], b - a, atol=1e-9)
    np.testing.assert_allclose(du * (uc - ua)[:, :1] + dv * (uc - ua)[:, 1:], c - a, atol=1e-9)


# ------------------------------------------------------------------------------- derivatives

SPP = 2
SEED = 5


@pytest.fixture(scope="module")
def grad_setup():
    """The reference scene (same kernels as its Mitsuba comparison), the environment turned
    off so that, at max_depth 2, only the directional light's samples contribute."""
    scene = dr.load_scene(SCENE, max_depth=2)
    scene.parameters()["emitter_1.radiance"] = [0.0, 0.0, 0.0]  # the constant environment
    r = Renderer(scene)
    img = r.render(spp=SPP, seed=SEED)
    assert img.mean() > 0.02
    adj = np.random.default_rng(11).normal(size=img.shape).astype(np.float32)
    return scene, r, adj


@pytest.mark.parametrize("name", ["tiles.normalmap.data", "ridges.nested_texture.data",
                                  "ridges.scale"])
def test_reverse_mode_matches_finite_differences(grad_setup, name):
    scene, r, adj = grad_setup
    g = r.vjp(adj, [name], spp=SPP, seed=SEED)[name]
    assert g.shape == np.shape(scene.parameters()[name])
    if name == "ridges.scale":
        idx = [0]
    else:
        idx = list(np.argsort(np.abs(g.ravel()))[-3:])
    expected = np.array([render_fd(r, scene, adj, name, i, SPP, SEED) for i in idx])
    assert np.all(np.abs(expected) > 1e-3), "test indices must have a visible effect"
    assert_grad_close(g.ravel()[idx], expected, rtol=1e-2, atol=2e-3, what=name)


def test_forward_mode_matches_reverse_mode(grad_setup):
    scene, r, adj = grad_setup
    rng = np.random.default_rng(5)
    names = ["tiles.normalmap.data", "ridges.nested_texture.data", "ridges.scale"]
    tangents = {n: rng.normal(size=np.shape(scene.parameters()[n])) for n in names}
    grads = r.vjp(adj, names, spp=SPP, seed=SEED)
    lhs = float((r.jvp(tangents, spp=SPP, seed=SEED).astype(np.float64) * adj).sum())
    rhs = sum(float((grads[n] * tangents[n]).sum()) for n in names)
    assert abs(rhs) > 1e-2
    assert lhs == pytest.approx(rhs, rel=2e-3)
