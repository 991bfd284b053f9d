"""roughconductor's eval and pdf against Mitsuba 3.9.1 itself (Beckmann, its default, and GGX;
isotropic and anisotropic; visible or all normals). Its gradients (Beckmann, the default) are
checked in test_material_gradients.py."""
import numpy as np
import pytest

from diffrender.core.bsdfs import BSDFTable, RowBuilder, eval_np, roughconductor
from diffrender.core.bsdfs.common import MF_BECKMANN
from diffrender.core.textures import TextureTable
from diffrender.engine import ensure_init
from diffrender.scene.model import BSDF, Texture

ETA, K = (0.2, 0.9, 1.1), (3.9, 2.4, 2.1)
CASES = [  # distribution, alpha_u, alpha_v, sample_visible
    ("beckmann", 0.3, 0.3, True), ("beckmann", 0.15, 0.5, True), ("beckmann", 0.4, 0.4, False),
    ("ggx", 0.3, 0.3, True), ("ggx", 0.5, 0.1, False)]


def _table(materials):
    slots, ids = [], {}

    def slot(tex, where):
        if id(tex) not in ids:
            ids[id(tex)] = len(slots)
            slots.append((tex, where))
        return ids[id(tex)]

    rb = RowBuilder(slot, [])
    rows = [rb.add(m, f"material {i}") for i, m in enumerate(materials)]
    return BSDFTable(TextureTable(slots), rb.rows), rows


def _material(dist, au, av, vis):
    c = Texture.constant
    return BSDF("roughconductor", {"alpha_u": c(np.float32(au)), "alpha_v": c(np.float32(av)),
                                   "eta": c(np.float32(ETA)), "k": c(np.float32(K)),
                                   "distribution": dist, "sample_visible": vis})


def _directions(n, seed):
    rng = np.random.default_rng(seed)
    ci, co = rng.uniform(0.05, 1, n), rng.uniform(0.05, 1, n)
    pi, po = rng.uniform(0, 6.28, n), rng.uniform(0, 6.28, n)
    wi = np.stack([np.sqrt(1 - ci ** 2) * np.cos(pi), np.sqrt(1 - ci ** 2) * np.sin(pi), ci], 1)
    # half of the outgoing directions near the mirror direction (where the lobe is)
    wo = np.stack([np.sqrt(1 - co ** 2) * np.cos(po), np.sqrt(1 - co ** 2) * np.sin(po), co], 1)
    near = np.stack([-wi[:, 0], -wi[:, 1], wi[:, 2]], 1) + 0.2 * rng.normal(size=(n, 3))
    near[:, 2] = np.abs(near[:, 2]) + 0.05
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    wo[: n // 2] = near[: n // 2]
    return wi, wo


def test_default_distribution_is_beckmann():
    assert roughconductor.SPEC.params["distribution"].default == "beckmann"
    ensure_init()
    b = BSDF("roughconductor", {"alpha": Texture.constant(np.float32(0.2))})
    table, (row,) = _table([b])
    assert table.rows[row]["flag"] == MF_BECKMANN


def test_eval_and_pdf_match_mitsuba():
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    ensure_init()
    table, rows = _table([_material(*c) for c in CASES])
    ctx = mi.BSDFContext()
    n = 200
    for (dist, au, av, vis), row in zip(CASES, rows):
        b = mi.load_dict({"type": "roughconductor", "distribution": dist, "alpha_u": au,
                          "alpha_v": av, "sample_visible": vis,
                          "eta": {"type": "rgb", "value": list(ETA)},
                          "k": {"type": "rgb", "value": list(K)}})
        wi, wo = _directions(n, 11)
        f, p = eval_np(table, row, wi, wo)
        fm, pm = np.zeros((n, 3)), np.zeros(n)
        for k in range(n):
            si = mi.SurfaceInteraction3f()
            si.wi = mi.Vector3f(wi[k])
            si.sh_frame = mi.Frame3f(mi.Vector3f(0, 0, 1))
            fm[k] = np.array(b.eval(ctx, si, mi.Vector3f(wo[k])))
            pm[k] = b.pdf(ctx, si, mi.Vector3f(wo[k]))
        assert fm.max() > 1.0  # the lobe is hit: the comparison can fail
        np.testing.assert_allclose(f, fm, rtol=2e-4, atol=1e-6, err_msg=str((dist, au, av, vis)))
        np.testing.assert_allclose(p, pm, rtol=2e-4, atol=1e-6, err_msg=str((dist, au, av, vis)))
