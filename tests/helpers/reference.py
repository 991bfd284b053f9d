"""Statistical comparisons with stored reference images (``tests/data/reference/``).

Two tests share the data: :func:`compare_with_reference`, the block z-test of
``tests/core/test_reference_mitsuba.py`` on K independent renders against a reference that stores
its own standard errors (made by ``benchmarks/make_references.py``), and :func:`assert_no_bias`,
the z-test of ``tests/core/test_materials_reference.py`` on one render against one stored Mitsuba
image (``load_image_reference``).

The block z-test in detail: diffrender renders the scene K times with different seeds; the images are averaged over ``block x block`` pixel blocks (the block size
stored with the reference), and for every block and channel

    z = (mean_ours - mean_ref) / sqrt(se_ours^2 + se_ref^2 + floor^2)

where ``se_ours`` is the standard error of the block mean over the K renders (Student t with K-1
degrees of freedom), ``se_ref`` the reference's own standard error (from its independent passes)
and ``floor`` a 1e-3 relative allowance for float rounding. The renderer passes when

1. no block has |z| above the Bonferroni-corrected t quantile (family-wise alpha 1e-4): catches a
   local error (a wrong shadow, a mis-oriented light, a flipped texture);
2. the mean of z^2 over the blocks stays below its expectation under the t distribution plus
   five standard errors: catches small errors spread over the image (a 3 % brightness bias);
3. each channel's image mean agrees within the t quantile: catches a global bias.

Blocks average the noise into something close to Gaussian and make neighbouring pixels'
correlation (tent/gaussian reconstruction filters) harmless, since the standard errors are
computed from block means of independent renders. The calibration tests of
``test_reference_mitsuba.py`` run the same test on Mitsuba's own renders (must pass) and on
perturbed ones (must fail).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

import diffrender as dr

ROOT = Path(__file__).resolve().parents[2]
REF_DIR = ROOT / "tests" / "data" / "reference"
ALPHA = 1e-4
REL_FLOOR = 1e-3
ABS_FLOOR = 1e-6

#: reference name -> (renders K, spp per render) for diffrender's side of the test
OURS = {
    "cornell_box_64": (16, 32),
    "shapes_textured": (16, 32),
}
DEFAULT_OURS = (16, 64)


def reference_names() -> list[str]:
    return sorted(p.stem for p in REF_DIR.glob("*.json"))


def load_reference(name: str) -> dict:
    meta = json.loads((REF_DIR / f"{name}.json").read_text())
    files = meta["files"]
    return {
        "meta": meta,
        "mean": dr.read_image(str(REF_DIR / files["mean"])).astype(np.float64)[:, :, :3],
        "se": dr.read_image(str(REF_DIR / files["se"])).astype(np.float64)[:, :, :3],
        "se_block": dr.read_image(str(REF_DIR / files["se_block"])).astype(np.float64)[:, :, :3],
        "block": int(meta["block"]),
    }


def block_mean(img: np.ndarray, b: int) -> np.ndarray:
    *lead, h, w, c = img.shape
    return img.reshape(*lead, h // b, b, w // b, b, c).mean(axis=(-4, -2))


def compare_with_reference(renders, ref: dict, alpha: float = ALPHA) -> dict:
    """The statistical test of the module docstring. ``renders``: K >= 6 independent renders
    (H, W, >=3) of the reference's scene. Returns the statistics, ``ok`` and a ``reason``."""
    x = np.stack([np.asarray(r, np.float64)[:, :, :3] for r in renders])
    k = x.shape[0]
    if k < 6:
        raise ValueError(f"need at least 6 independent renders, got {k}")
    if x.shape[1:] != ref["mean"].shape:
        raise ValueError(f"render size {x.shape[2]}x{x.shape[1]} differs from the reference's "
                         f"{ref['mean'].shape[1]}x{ref['mean'].shape[0]}")
    if not np.all(np.isfinite(x)):
        return {"ok": False, "reason": "the renders contain NaN or Inf"}
    b = ref["block"]
    xb = block_mean(x, b)
    m = xb.mean(axis=0)
    s = xb.std(axis=0, ddof=1) / np.sqrt(k)
    r = block_mean(ref["mean"], b)
    rs = ref["se_block"]
    floor = REL_FLOOR * np.abs(r) + ABS_FLOOR
    z = (m - r) / np.sqrt(s ** 2 + rs ** 2 + floor ** 2)

    nu = k - 1
    nblocks = z.shape[0] * z.shape[1]
    limit_max = float(stats.t.ppf(1 - alpha / (2 * z.size), nu))
    # z^2 of a t(nu) variable: mean nu/(nu-2), variance E[t^4] - mean^2 (nu > 4). Channels of one
    # block are correlated, so the mean over blocks of the per-block channel-mean of z^2 is used,
    # with the (conservative) variance of a single z^2 over the number of blocks.
    e_z2 = nu / (nu - 2)
    var_z2 = 3 * nu * nu / ((nu - 2) * (nu - 4)) - e_z2 ** 2
    mean_z2 = float(np.mean(np.mean(z ** 2, axis=2)))
    limit_mean = float(e_z2 + 5.0 * np.sqrt(var_z2 / nblocks))

    g = x.mean(axis=(1, 2))  # (K, 3) image means
    gm = g.mean(axis=0)
    gs = g.std(axis=0, ddof=1) / np.sqrt(k)
    rg = ref["mean"].mean(axis=(0, 1))
    rgs = np.sqrt(np.sum(rs ** 2, axis=(0, 1))) / nblocks
    gfloor = REL_FLOOR * np.abs(rg) + ABS_FLOOR
    zg = (gm - rg) / np.sqrt(gs ** 2 + rgs ** 2 + gfloor ** 2)
    limit_global = float(stats.t.ppf(1 - alpha / 6, nu))

    worst = np.unravel_index(int(np.argmax(np.abs(z))), z.shape)
    out = {
        "k": k, "block": b, "max_abs_z": float(np.abs(z).max()), "limit_max": limit_max,
        "mean_z2": mean_z2, "limit_mean": limit_mean, "global_z": [float(v) for v in zg],
        "limit_global": limit_global, "ours_mean_rgb": [float(v) for v in gm],
        "ref_mean_rgb": [float(v) for v in rg],
        "worst_block": {"row": int(worst[0]) * b, "col": int(worst[1]) * b, "channel": "RGB"[worst[2]],
                        "ours": float(m[worst]), "ref": float(r[worst]), "z": float(z[worst])},
    }
    reasons = []
    if out["max_abs_z"] > limit_max:
        wb = out["worst_block"]
        reasons.append(f"block at pixel (row {wb['row']}, col {wb['col']}) channel {wb['channel']}: "
                       f"{wb['ours']:.5g} vs reference {wb['ref']:.5g} (z = {wb['z']:.1f}, limit {limit_max:.1f})")
    if mean_z2 > limit_mean:
        reasons.append(f"mean z^2 over blocks {mean_z2:.2f} > {limit_mean:.2f}")
    bad = [c for c in range(3) if abs(zg[c]) > limit_global]
    if bad:
        reasons.append("image mean " + ", ".join(
            f"{'RGB'[c]} {gm[c]:.5g} vs {rg[c]:.5g} (z = {zg[c]:.1f})" for c in bad))
    out["ok"] = not reasons
    out["reason"] = "; ".join(reasons)
    return out


def load_image_reference(stem):
    """(stored Mitsuba image ``<stem>.exr`` as float64, the scene loaded from ``<stem>.xml``)."""
    ref = dr.read_image(str(REF_DIR / (stem + ".exr")))[:, :, :3].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = dr.load_scene(str(REF_DIR / (stem + ".xml")))
    return ref, scene


def assert_no_bias(img, ref, left, right):
    """z-test on 2x2-pixel block differences of two 24 x 18 images, per image half and overall:
    the standard error is measured from the blocks and must be small enough that a 1% bias
    would give |z| > 6; then |z| < 4. ``left`` / ``right`` name the halves in messages."""
    assert img.shape == ref.shape == (18, 24, 3)
    d = (img - ref).mean(axis=2).reshape(9, 2, 12, 2).mean(axis=(1, 3))
    r = ref.mean(axis=2).reshape(9, 2, 12, 2).mean(axis=(1, 3))
    for name, cols in ((left, slice(0, 6)), (right, slice(6, 12)), ("whole image", slice(0, 12))):
        db = d[:, cols].ravel()
        se = db.std(ddof=1) / np.sqrt(db.size)
        level = r[:, cols].mean()
        assert 6 * se < 0.01 * level, (name, se / level)  # the test can see a 1% bias
        z = db.mean() / se
        assert abs(z) < 4, (name, z, db.mean() / level)


__all__ = ["ROOT", "REF_DIR", "ALPHA", "OURS", "DEFAULT_OURS", "reference_names", "load_reference",
           "block_mean", "compare_with_reference", "load_image_reference", "assert_no_bias"]
