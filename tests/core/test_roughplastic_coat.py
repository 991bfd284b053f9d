"""roughplastic's rough-coat tables (external transmittance T(mu), internal diffuse reflectance
F_int) against values read back from Mitsuba 3.9.1, their alpha / eta derivatives, and the BSDF's
eval / pdf against Mitsuba itself (when installed) and its reverse-mode derivatives against
central finite differences (a float64 check of the tabulated derivative path)."""
import numpy as np
import pytest

from diffrender.engine import ensure_init, ti
from diffrender.core.bsdfs import BSDFTable, RowBuilder, eval_np, roughplastic
from diffrender.core.bsdfs.common import BSDFParams
from diffrender.core.textures import TextureTable
from diffrender.core.types import LocalGeo
from diffrender.scene.model import BSDF, Texture

AIR = 1.000277
# (alpha, eta) -> {mu: T(mu)}, F_int: Mitsuba 3.9.1 scalar_rgb, recovered from its diffuse-only
# eval at cos_i = cos_o = mu with nonlinear=true and two reflectances (which separates F_int).
MITSUBA = {
    (0.1, 1.49 / AIR): ({8 / 63: 0.6386263, 32 / 63: 0.9106281, 1.0: 0.9608926}, 0.5455230),
    (0.4, 1.9): ({8 / 63: 0.6799383, 32 / 63: 0.8194867, 1.0: 0.8895513}, 0.5086787),
}


@pytest.mark.parametrize("key", list(MITSUBA))
def test_coat_tables_match_mitsuba(key):
    tab = roughplastic.coat_tables(*key)
    ts, f_int = MITSUBA[key]
    for mu, t in ts.items():
        assert tab[int(round(mu * 63)), 0] == pytest.approx(t, abs=3e-6)
    assert tab[roughplastic.RES, 0] == pytest.approx(f_int, abs=3e-6)


def test_beckmann_normals_on_a_grid_are_the_pointwise_ones():
    """The quadrature's (mu, u1) grid inverts the CDF once per distinct pair: the normals are the
    ones of the same points passed one by one (no grid to exploit)."""
    mu = np.linspace(0.0, 1.0, 9)[:, None]
    u1 = np.repeat(np.linspace(0.05, 0.95, 5), 4)[None, :]
    u2 = np.tile(np.linspace(0.1, 0.9, 4), 5)[None, :]
    sx, m = roughplastic._np_beckmann_visible_normals(0.4, mu, u1, u2)
    b = [a.ravel() for a in np.broadcast_arrays(mu, u1, u2)]
    one = [roughplastic._np_beckmann_visible_normals(0.4, *(a[i:i + 1] for a in b)) for i in range(b[0].size)]
    assert np.array_equal(np.broadcast_to(sx, m[0].shape).ravel(), [o[0][0] for o in one])
    for k in range(3):
        assert np.array_equal(m[k].ravel(), [o[1][k][0] for o in one])
    assert np.allclose(m[0] ** 2 + m[1] ** 2 + m[2] ** 2, 1.0) and np.all(m[2] > 0)


def test_smooth_limit_is_one_minus_fresnel():
    """As alpha -> 0 the rough coat's transmittance becomes the smooth interface's 1 - F."""
    eta = 1.5
    tab = roughplastic.coat_tables(1e-3, eta)[:roughplastic.RES, 0]
    mu = np.linspace(0, 1, roughplastic.RES)[16:]
    ct = np.sqrt(1 - (1 - mu ** 2) / eta ** 2)
    rs = ((mu - eta * ct) / (mu + eta * ct)) ** 2
    rp = ((ct - eta * mu) / (ct + eta * mu)) ** 2
    np.testing.assert_allclose(tab[16:], 1 - 0.5 * (rs + rp), atol=2e-3)


@pytest.mark.parametrize("wrt", [1, 2])
def test_tabulated_derivatives_match_finite_differences(wrt):
    """The derivative columns (central differences over +-1%) against differences at another
    step: T to 2e-4, F_int (whose quadrature has a total-internal-reflection kink) to 1.5%;
    the mixed alpha-eta column against differences of the alpha column."""
    a, e = 0.25, 1.6
    h = 4e-3
    hi = roughplastic.coat_tables(a + h * (wrt == 1), e + h * (wrt == 2))[:, 0]
    lo = roughplastic.coat_tables(a - h * (wrt == 1), e - h * (wrt == 2))[:, 0]
    d = roughplastic.coat_tables(a, e)[:, wrt]
    fd = (hi - lo) / (2 * h)
    res = roughplastic.RES
    np.testing.assert_allclose(d[:res], fd[:res], rtol=0, atol=2e-4)
    assert d[res] == pytest.approx(fd[res], rel=1.5e-2)
    assert np.abs(d[:res]).max() > 0.1 and abs(d[res]) > 0.1
    if wrt == 2:  # the mixed column: d/d eta of the d/d alpha column (tables cached above)
        dae = roughplastic.coat_tables(a, e)[:, 3]
        fd2 = (roughplastic.coat_tables(a, e + h)[:, 1] - roughplastic.coat_tables(a, e - h)[:, 1]) / (2 * h)
        # (F_int's mixed term is not checked: its alpha column is too rough at this step)
        np.testing.assert_allclose(dae[:res], fd2[:res], rtol=0, atol=2e-3)
        assert np.abs(dae[:res]).max() > 0.1


def _table(materials, dtype=None):
    slots, ids = [], {}

    def slot(tex, where):
        if id(tex) not in ids:
            ids[id(tex)] = len(slots)
            slots.append((tex, where))
        return ids[id(tex)]

    rb = RowBuilder(slot, [])
    rows = [rb.add(m, f"material {i}") for i, m in enumerate(materials)]
    return BSDFTable(TextureTable(slots), rb.rows), rows


CASES = [(0.1, 1.49, False, (0.7, 0.1, 0.1)), (0.3, 1.5, True, (0.5, 0.6, 0.2)),
         (0.6, 1.9, False, (0.2, 0.3, 0.9))]


def _material(alpha, ior, nonlinear, diffuse, dist="ggx"):
    return BSDF("roughplastic", {"alpha": Texture.constant(alpha),
                                 "eta": Texture.constant(np.float32(ior / AIR)),
                                 "diffuse_reflectance": Texture.constant(np.float32(diffuse)),
                                 "nonlinear": nonlinear, "distribution": dist})


def test_default_distribution_is_beckmann():
    """Mitsuba 3.9.1's default (the row flag of a material without 'distribution')."""
    ensure_init()
    m = _material(0.1, 1.49, False, (0.5, 0.5, 0.5))
    del m.params["distribution"]
    table, (row,) = _table([m])
    assert table.rows[row]["flag"] & roughplastic.FLAG_BECKMANN
    table, (row,) = _table([_material(0.1, 1.49, False, (0.5, 0.5, 0.5))])
    assert not table.rows[row]["flag"] & roughplastic.FLAG_BECKMANN


@pytest.mark.parametrize("dist", ["ggx", "beckmann"])
def test_eval_and_pdf_match_mitsuba(dist):
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    ensure_init()
    table, rows = _table([_material(*c, dist) for c in CASES])
    rng = np.random.default_rng(1)
    n = 200
    ctx = mi.BSDFContext()
    for (alpha, ior, nonlinear, diffuse), row in zip(CASES, rows):
        b = mi.load_dict({"type": "roughplastic", "alpha": alpha, "distribution": dist,
                          "int_ior": ior, "nonlinear": nonlinear,
                          "diffuse_reflectance": {"type": "rgb", "value": list(diffuse)}})
        ci, co, ph = rng.uniform(0.02, 1, n), rng.uniform(0.02, 1, n), rng.uniform(0, 6.28, n)
        wi = np.stack([np.sqrt(1 - ci ** 2), 0 * ci, ci], 1)
        wo = np.stack([np.sqrt(1 - co ** 2) * np.cos(ph), np.sqrt(1 - co ** 2) * np.sin(ph), co], 1)
        f, p = eval_np(table, row, wi, wo)
        fm, pm = np.zeros((n, 3)), np.zeros(n)
        for k in range(n):
            si = mi.SurfaceInteraction3f()
            si.wi = mi.Vector3f(wi[k])
            si.sh_frame = mi.Frame3f(mi.Vector3f(0, 0, 1))
            fm[k] = np.array(b.eval(ctx, si, mi.Vector3f(wo[k])))
            pm[k] = b.pdf(ctx, si, mi.Vector3f(wo[k]))
        # the smooth-coat approximation this replaces was off by up to ~10% in the diffuse part
        np.testing.assert_allclose(f, fm, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(p, pm, rtol=1e-4, atol=1e-6)


@ti.kernel
def _loss(table: ti.template(), b: ti.i32, wi: ti.template(), wo: ti.template(),
          w: ti.template(), out: ti.template()):
    for i in range(wi.shape[0]):
        g = LocalGeo(dpdu=ti.Vector([1.0, 0.0, 0.0]), dpdv=ti.Vector([0.0, 1.0, 0.0]),
                     ng=ti.Vector([0.0, 0.0, 1.0]))
        f = table.eval(b, ti.Vector([0.5, 0.5]), wi[i], wo[i], g)
        out[None] += w[i].dot(ti.cast(f, ti.f64))


@pytest.mark.parametrize("dist", ["ggx", "beckmann"])
def test_alpha_and_eta_gradients_match_finite_differences(dist):
    """Reverse mode through eval (specular lobe and tabulated coat) vs central differences
    of eval with the tables re-tabulated at alpha +- h, eta +- h (BSDFTable.update_coats)."""
    ensure_init()
    mat = _material(0.3, 1.5, False, (0.6, 0.4, 0.2), dist)
    table, (row,) = _table([mat])
    n = 64
    rng = np.random.default_rng(3)
    ci, co, ph = rng.uniform(0.05, 1, n), rng.uniform(0.05, 1, n), rng.uniform(0, 6.28, n)
    wi_np = np.stack([np.sqrt(1 - ci ** 2), 0 * ci, ci], 1)
    wo_np = np.stack([np.sqrt(1 - co ** 2) * np.cos(ph), np.sqrt(1 - co ** 2) * np.sin(ph), co], 1)
    wi = ti.Vector.field(3, ti.f32, shape=n)
    wo = ti.Vector.field(3, ti.f32, shape=n)
    w = ti.Vector.field(3, ti.f64, shape=n)
    out = ti.field(ti.f64, shape=(), needs_grad=True)
    wi.from_numpy(wi_np.astype(np.float32))
    wo.from_numpy(wo_np.astype(np.float32))
    w.from_numpy(rng.normal(size=(n, 3)))
    vals = table.textures.values

    def loss():
        out[None] = 0.0
        _loss(table, row, wi, wo, w, out)
        return out[None]

    for name in ("alpha", "eta"):
        s = table.rows[row][name]
        vals.grad.fill(0)
        table.textures.differentiate([s])  # reads of slot s go through the differentiated copy
        with ti.ad.Tape(loss=out):
            loss()
        table.textures.differentiate()
        g = float(vals.grad[s, 0][0])
        tex = mat.params[name]
        v0 = np.array(tex.value)
        h = 1e-2 * float(v0[0])
        fd = []
        for sgn in (1, -1):
            tex.value = (v0 + sgn * h).astype(np.float32)
            table.textures.upload(s)
            assert table.update_coats()
            fd.append(loss())
        tex.value = v0
        table.textures.upload(s)
        table.update_coats()
        expected = (fd[0] - fd[1]) / (2 * h)
        assert abs(expected) > 1e-2
        assert g == pytest.approx(expected, rel=5e-3), name


@ti.kernel
def _builtin_eval(wi: ti.types.ndarray(), wo: ti.types.ndarray(), out: ti.types.ndarray()):
    for i in range(wi.shape[0]):
        p = BSDFParams(a=ti.Vector([0.5, 0.5, 0.5]), b=ti.Vector([1.0, 1.0, 1.0]),
                       c=ti.Vector([0.0, 0.0, 0.0]), alpha=0.2, eta=1.5, w=0.5, flag=0)
        a = ti.Vector([wi[i, 0], wi[i, 1], wi[i, 2]])
        o = ti.Vector([wo[i, 0], wo[i, 1], wo[i, 2]])
        out[i, 0] = roughplastic.eval(p, a, o).x
        out[i, 1] = roughplastic.pdf(p, a, o)
        out[i, 2] = roughplastic.eval(p, a, o).x - roughplastic.eval_coat(
            p, a, o, roughplastic.SMOOTH, 0).x


def test_builtin_for_shaders_uses_the_smooth_coat():
    """``builtins.roughplastic.eval(p, wi, wo)`` (no table: user shaders) is the smooth-coat
    model: its diffuse part at normal incidence is R_d / (1 - F_dr) / eta^2 (1 - F0)^2 / pi."""
    ensure_init()
    wi = np.array([[0.0, 0.0, 1.0], [0.6, 0.0, 0.8]], np.float32)
    wo = np.array([[0.0, 0.8, 0.6], [0.0, -0.6, 0.8]], np.float32)
    out = np.zeros((2, 3), np.float32)
    _builtin_eval(wi, wo, out)
    f0 = (0.5 / 2.5) ** 2
    inv = 1 / 1.5
    # fresnel_diffuse_reflectance(1 / 1.5): the eta < 1 fit (Egan & Hilgeman)
    fdr = 0.0636 * 1.5 + inv * (inv * -1.4399 + 0.7099) + 0.6681
    ct = np.sqrt(1 - 0.64 / 1.5 ** 2)
    f_o = 0.5 * (((0.6 - 1.5 * ct) / (0.6 + 1.5 * ct)) ** 2 + ((ct - 1.5 * 0.6) / (ct + 1.5 * 0.6)) ** 2)
    diffuse = 0.5 / (1 - fdr) / 1.5 ** 2 * (1 - f0) * (1 - f_o) * 0.6 / np.pi
    # + the GGX lobe: h = normalize(wi + wo), F(wi.h), D(h), Smith G (alpha 0.2)
    h = (wi[0] + wo[0]) / np.linalg.norm(wi[0] + wo[0])
    c = float(h[2])
    cth = np.sqrt(1 - (1 - c * c) / 1.5 ** 2)
    f_h = 0.5 * (((c - 1.5 * cth) / (c + 1.5 * cth)) ** 2 + ((cth - 1.5 * c) / (cth + 1.5 * c)) ** 2)
    d = 0.04 / (np.pi * (c * c * (0.04 - 1) + 1) ** 2)
    g = 2 / (1 + np.sqrt(1 + 0.04 * 0.64 / 0.36))  # G1(wi) = 1 at normal incidence
    assert out[0, 0] == pytest.approx(diffuse + f_h * d * g / 4, rel=1e-4)
    assert out[0, 1] > 0 and out[1, 1] > 0 and np.all(out[:, 2] == 0)
