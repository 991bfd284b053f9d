"""BSDF unit tests (no rendering): chi-square goodness of fit of every BSDF's sampling against
its pdf, sample/eval/pdf consistency, delta-lobe probabilities, energy conservation,
reciprocity, analytic values (Fresnel, GGX normalisation)."""
import numpy as np
import pytest

from diffrender.core.bsdfs import BSDFTable, RowBuilder, eval_np, sample_np
from diffrender.core.textures import TextureTable
from diffrender.scene.model import BSDF, Texture
from tests.helpers.chi2 import chi2_directions


def f1(v):
    return Texture.constant(np.full(1, v, np.float32))


def rgb(*v):
    return Texture.constant(np.asarray(v if len(v) == 3 else v * 3, np.float32))


class Library:
    """One BSDF table holding every test material (one kernel compilation for the module)."""

    def __init__(self, materials):
        slots, ids = [], {}

        def slot(tex, where):
            if id(tex) not in ids:
                ids[id(tex)] = len(slots)
                slots.append((tex, where))
            return ids[id(tex)]

        rb = RowBuilder(slot, [])
        self.rows = {name: rb.add(make(), name) for name, make in materials.items()}
        self.table = BSDFTable(TextureTable(slots), rb.rows)

    def __call__(self, name):
        return self.table, self.rows[name]


MATERIALS = {
    "diffuse": lambda: BSDF("diffuse", {"reflectance": rgb(0.7, 0.5, 0.3)}),
    "roughconductor": lambda: BSDF("roughconductor", {"alpha": f1(0.3), "eta": rgb(0.2, 0.9, 1.1),
                                                      "k": rgb(3.9, 2.4, 2.1)}),
    "roughconductor_low": lambda: BSDF("roughconductor", {"alpha": f1(0.05)}),
    "plastic": lambda: BSDF("plastic", {"diffuse_reflectance": rgb(0.5, 0.3, 0.2)}),
    "roughplastic": lambda: BSDF("roughplastic", {"alpha": f1(0.2),
                                                  "diffuse_reflectance": rgb(0.6, 0.4, 0.2)}),
    "blendbsdf": lambda: BSDF("blendbsdf", {"weight": f1(0.35)}, children=[
        BSDF("diffuse", {"reflectance": rgb(0.8)}), BSDF("roughconductor", {"alpha": f1(0.2)})]),
    "mask": lambda: BSDF("mask", {"opacity": f1(0.6)}, children=[
        BSDF("roughplastic", {"alpha": f1(0.3)})]),
    "blend_delta": lambda: BSDF("blendbsdf", {"weight": f1(0.5)}, children=[
        BSDF("conductor", {}), BSDF("diffuse", {"reflectance": rgb(0.5)})]),
}
EXTRA = {
    "dielectric": lambda: BSDF("dielectric", {"eta": f1(1.5), "specular_transmittance": rgb(0.9)}),
    "thindielectric": lambda: BSDF("thindielectric", {"eta": f1(1.5)}),
    "conductor": lambda: BSDF("conductor", {"eta": rgb(0.2, 0.9, 1.1), "k": rgb(3.9, 2.4, 2.1)}),
    "mirror_low": lambda: BSDF("roughconductor", {"alpha": f1(0.05), "distribution": "ggx"}),
    "mirror_high": lambda: BSDF("roughconductor", {"alpha": f1(0.8), "distribution": "ggx"}),
    "ggx04": lambda: BSDF("roughconductor", {"alpha": f1(0.4), "distribution": "ggx"}),
    "beckmann04": lambda: BSDF("roughconductor", {"alpha": f1(0.4)}),  # Mitsuba's default
    "beckmann04_all": lambda: BSDF("roughconductor", {"alpha": f1(0.4),
                                                      "sample_visible": False}),
    "beckmann_aniso": lambda: BSDF("roughconductor", {"alpha_u": f1(0.2), "alpha_v": f1(0.5)}),
    # blends and their components, for the mixture test (Au: Mitsuba 3.9 RGB eta / k)
    "blend_au": lambda: BSDF("blendbsdf", {"weight": f1(0.4)}, children=[
        BSDF("conductor", {"eta": rgb(0.143036, 0.375307, 1.442045),
                           "k": rgb(3.982997, 2.385556, 1.603359)}),
        BSDF("diffuse", {"reflectance": rgb(0.2, 0.5, 0.2)})]),
    "blend_au_c0": lambda: BSDF("conductor", {"eta": rgb(0.143036, 0.375307, 1.442045),
                                              "k": rgb(3.982997, 2.385556, 1.603359)}),
    "blend_au_c1": lambda: BSDF("diffuse", {"reflectance": rgb(0.2, 0.5, 0.2)}),
    "blendbsdf_c0": lambda: BSDF("diffuse", {"reflectance": rgb(0.8)}),
    "blendbsdf_c1": lambda: BSDF("roughconductor", {"alpha": f1(0.2)}),
}


@pytest.fixture(scope="module")
def lib():
    return Library({**MATERIALS, **EXTRA})


@pytest.mark.parametrize("name", list(MATERIALS))
@pytest.mark.parametrize("wi_z", [0.9, 0.35])
def test_sampling_chi_square(lib, name, wi_z):
    table, b = lib(name)
    wi = np.array([np.sqrt(1 - wi_z ** 2), 0.0, wi_z], np.float32)
    n = 100000
    out = sample_np(table, b, wi, np.random.default_rng(1).random((n, 3)))
    smooth = (out["lobe"] == 0) & (out["pdf"] > 0)
    wo = out["wo"][smooth]
    # consistency: reported pdf == pdf(); weight == f / pdf for smooth samples
    np.testing.assert_allclose(out["pdf"][smooth], out["eval_pdf"][smooth], rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(out["weight"][smooth] * out["pdf"][smooth, None],
                               out["eval"][smooth], rtol=2e-3, atol=1e-5)
    p, mass = chi2_directions(wo, n, lambda d: eval_np(table, b, wi, d)[1])
    assert p > 1e-3, (name, p)
    # the smooth pdf integrates to the probability of choosing a smooth lobe
    assert smooth.mean() == pytest.approx(mass, abs=0.01)
    # delta samples: weight = mass / probability
    dl = out["lobe"] > 0
    if dl.any():
        np.testing.assert_allclose(out["weight"][dl] * out["pdf"][dl, None], out["delta"][dl],
                                   rtol=1e-4, atol=1e-6)


def fresnel_np(ci, eta):
    ci = np.asarray(ci, np.float64)
    eta_ti = np.where(ci >= 0, 1 / eta, eta)
    ct2 = 1 - eta_ti ** 2 * (1 - ci ** 2)
    ct = np.sqrt(np.maximum(ct2, 0))
    a = np.abs(ci)
    eta_it = 1 / eta_ti
    rs = (a - eta_it * ct) / (a + eta_it * ct)
    rp = (ct - eta_it * a) / (ct + eta_it * a)
    return np.where(ct2 <= 0, 1.0, 0.5 * (rs ** 2 + rp ** 2))


@pytest.mark.parametrize("wi_z", [0.8, 0.2, -0.5, -0.9])
def test_dielectric_lobes_and_fresnel(lib, wi_z):
    """Reflection is chosen with probability F (Fresnel, incl. total internal reflection from
    inside), refraction obeys Snell's law, weights are R_s and T_s eta_ti^2."""
    eta = 1.5
    table, b = lib("dielectric")
    wi = np.array([np.sqrt(1 - wi_z ** 2), 0, wi_z], np.float32)
    n = 40000
    out = sample_np(table, b, wi, np.random.default_rng(2).random((n, 3)))
    F = fresnel_np(wi_z, eta)
    refl = out["lobe"] == 1
    assert refl.mean() == pytest.approx(F, abs=4 * np.sqrt(F * (1 - F) / n) + 1e-6)
    np.testing.assert_allclose(out["pdf"][refl], F, rtol=1e-4)
    np.testing.assert_allclose(out["wo"][refl], np.tile([-wi[0], 0, wi_z], (refl.sum(), 1)), atol=1e-6)
    np.testing.assert_allclose(out["weight"][refl], 1.0, rtol=1e-6)
    tr = ~refl
    if F < 1:
        eta_i, eta_t = (1.0, eta) if wi_z > 0 else (eta, 1.0)
        wo = out["wo"][tr]
        # Snell: eta_i sin_i = eta_t sin_t, opposite hemisphere
        np.testing.assert_allclose(eta_t * np.abs(wo[:, 0]), eta_i * wi[0], rtol=1e-5)
        assert np.all(np.sign(wo[:, 2]) == -np.sign(wi_z))
        np.testing.assert_allclose(np.linalg.norm(wo, axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(out["weight"][tr], 0.9 * (eta_i / eta_t) ** 2, rtol=1e-5)
    else:
        assert not tr.any()


def test_thindielectric_energy_and_directions(lib):
    table, b = lib("thindielectric")
    for wi_z in (0.9, -0.3):
        wi = np.array([np.sqrt(1 - wi_z ** 2), 0, wi_z], np.float32)
        out = sample_np(table, b, wi, np.random.default_rng(3).random((20000, 3)))
        r = fresnel_np(abs(wi_z), 1.5)
        r2 = r + (1 - r) ** 2 * r / (1 - r * r)
        assert (out["lobe"] == 1).mean() == pytest.approx(r2, abs=0.015)
        tr = out["lobe"] == 2
        np.testing.assert_allclose(out["wo"][tr], -np.tile(wi, (tr.sum(), 1)), atol=1e-7)
        np.testing.assert_allclose(out["weight"], 1.0, rtol=1e-6)  # R_s = T_s = 1: lossless


def test_conductor_fresnel_matches_reference_values(lib):
    """Normal incidence: F = ((n-1)^2 + k^2) / ((n+1)^2 + k^2); grazing: F -> 1."""
    eta, k = np.array([0.2, 0.9, 1.1]), np.array([3.9, 2.4, 2.1])
    table, b = lib("conductor")
    out = sample_np(table, b, [0, 0, 1.0], np.random.default_rng(0).random((4, 3)))
    expected = ((eta - 1) ** 2 + k ** 2) / ((eta + 1) ** 2 + k ** 2)
    np.testing.assert_allclose(out["weight"][0], expected, rtol=1e-4)
    np.testing.assert_allclose(out["wo"][0], [0, 0, 1], atol=1e-7)
    graz = sample_np(table, b, [np.sqrt(1 - 1e-6), 0, 1e-3], np.zeros((1, 3)))
    assert np.all(graz["weight"] > 0.99)


@pytest.mark.parametrize("name", ["diffuse", "roughconductor", "roughplastic", "blendbsdf", "mask"])
def test_reciprocity(lib, name):
    table, b = lib(name)
    rng = np.random.default_rng(4)
    a = rng.normal(size=(500, 3))
    a[:, 2] = np.abs(a[:, 2]) + 0.05
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    c = rng.normal(size=(500, 3))
    c[:, 2] = np.abs(c[:, 2]) + 0.05
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    f_ab = _eval_pairs(table, b, a, c)
    f_ba = _eval_pairs(table, b, c, a)
    # f(a, c) cos_c / cos_c == f(c, a) cos_a / cos_a
    np.testing.assert_allclose(f_ab / c[:, 2:3], f_ba / a[:, 2:3], rtol=2e-3, atol=1e-5)


def _eval_pairs(table, b, wi, wo):
    from diffrender.core.bsdfs import _eval_kernel, _uvg

    out = np.zeros((wi.shape[0], 4), np.float32)
    _eval_kernel(table, b, np.ascontiguousarray(wi, np.float32), np.ascontiguousarray(wo, np.float32), out,
                 _uvg((0.5, 0.5), None))
    return out[:, :3]


@pytest.mark.parametrize("name", ["diffuse", "roughconductor_low", "plastic", "roughplastic",
                                  "blendbsdf", "blend_delta"])
def test_energy_conservation(lib, name):
    """Directional albedo E[weight] <= 1 for every incident angle (Monte Carlo)."""
    table, b = lib(name)
    for wi_z in (1.0, 0.6, 0.2, 0.05):
        wi = np.array([np.sqrt(1 - wi_z ** 2), 0, wi_z], np.float32)
        out = sample_np(table, b, wi, np.random.default_rng(5).random((40000, 3)))
        alb = out["weight"].mean(axis=0)
        assert np.all(alb <= 1.0 + 0.01), (name, wi_z, alb)
        assert np.all(alb > 0.0)


@pytest.mark.parametrize("name,w", [("blend_au", 0.4), ("blendbsdf", 0.35)])
def test_blend_albedo_is_the_mixture_of_its_components(lib, name, w):
    """blend(a, b, w) = (1 - w) a + w b, so its directional albedo E[weight] must be the same
    mixture of the components' albedos, at every incident angle. This is what the sampling
    weight of a blend that picks a delta lobe gets wrong in Mitsuba 3.9.1 (measured there for
    blend(Au, diffuse, 0.4) at cos 0.95: 0.884 / 0.956 / 0.955 of the mixture); the test's
    standard error is checked to be small enough that a 1% bias fails it."""
    table, b = lib(name)
    _, b0 = lib(name + "_c0")
    _, b1 = lib(name + "_c1")
    n = 200000
    for wi_z in (0.95, 0.5, 0.15):
        wi = np.array([np.sqrt(1 - wi_z ** 2), 0, wi_z], np.float32)
        m, se = [], []
        for k, row in enumerate((b, b0, b1)):
            wgt = sample_np(table, row, wi, np.random.default_rng(40 + k).random((n, 3)))["weight"]
            m.append(wgt.astype(np.float64).mean(axis=0))
            se.append(wgt.astype(np.float64).std(axis=0) / np.sqrt(n))
        expect = (1 - w) * m[1] + w * m[2]
        se_d = np.sqrt(se[0] ** 2 + ((1 - w) * se[1]) ** 2 + (w * se[2]) ** 2)
        assert np.all(5 * se_d < 0.01 * expect), (name, wi_z, se_d / expect)
        z = (m[0] - expect) / np.maximum(se_d, 1e-12)
        # a delta component's albedo is exact (no noise): allow float32 round-off there
        assert np.all((np.abs(z) < 5) | (np.abs(m[0] - expect) < 1e-5 * expect)), \
            (name, wi_z, m[0], expect, z)


def test_perfect_mirror_roughconductor_loses_energy_only_to_shadowing(lib):
    """eta=0, k=1 (Mitsuba's 'none'): F = 1, so the albedo is E[G1(wo)] <= 1. At normal
    incidence G1 ~ 1 and the loss is the microfacets tilted more than 45 degrees, which reflect
    below the horizon: P(tan^2 theta_m > 1) = alpha^2 / (1 + alpha^2) for GGX."""
    table, b = lib("mirror_low")
    out = sample_np(table, b, [0, 0, 1.0], np.random.default_rng(6).random((200000, 3)))
    a2 = 0.05 ** 2
    assert out["weight"].mean() == pytest.approx(1.0 - a2 / (1 + a2), abs=5e-4)
    table, b = lib("mirror_high")
    w = sample_np(table, b, [0.995, 0, 0.0998], np.random.default_rng(6).random((20000, 3)))["weight"]
    assert 0.3 < w.mean() < 0.95


@pytest.mark.parametrize("name", ["ggx04", "beckmann04", "beckmann04_all", "beckmann_aniso"])
def test_roughconductor_pdf_integrates_to_one(lib, name):
    """The sampling density of roughconductor over the hemisphere integrates to 1 minus the
    mass sampled below the horizon (numerical quadrature), for both distributions, visible or
    all normals, isotropic or not: pdf and sampling agree."""
    table, b = lib(name)
    wi = np.array([0.6, 0.0, 0.8], np.float32)
    n = 400
    ct = (np.arange(n) + 0.5) / n
    ph = (np.arange(2 * n) + 0.5) / (2 * n) * 2 * np.pi
    C, P = np.meshgrid(ct, ph, indexing="ij")
    s = np.sqrt(1 - C ** 2)
    d = np.stack([s * np.cos(P), s * np.sin(P), C], -1).reshape(-1, 3)
    _, pdf = eval_np(table, b, wi, d)
    integral = pdf.sum() * (1.0 / n) * (2 * np.pi / (2 * n))
    out = sample_np(table, b, wi, np.random.default_rng(7).random((50000, 3)))
    valid = (out["pdf"] > 0).mean()
    assert integral == pytest.approx(valid, abs=5e-3)
    assert 0.5 < integral <= 1.0 + 5e-3
