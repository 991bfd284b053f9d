"""Mitsuba 3's ``normalmap`` / ``bumpmap`` BSDFs evaluated and sampled at fixed inputs, stored as
``tests/data/reference/normalmap_bsdf.npz`` for ``tests/core/test_normalmap.py`` (which needs
no Mitsuba): per case, the Mitsuba ``scalar_rgb`` values of ``eval``, ``pdf`` and ``sample``
(direction, weight, pdf) for random wi, wo, uv and (u1, u2).

Frames: diffrender evaluates BSDFs in ``coordinate_system(n_s)``, Mitsuba in its ``sh_frame``
whose tangent is dp/du projected on the tangent plane. The cases give dp/du, dp/dv and n_g in
diffrender's local frame (taken as the world frame here) and hand Mitsuba the rotated frame
``(s0, n x s0, n)``; directions are rotated accordingly.

    python benchmarks/make_normalmap_reference.py
"""
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "reference", "normalmap_bsdf.npz")

#: the wrapped BSDFs, in Mitsuba's dict form (diffrender's loader reads the same dicts)
NESTED = {
    "diffuse": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.5, 0.4, 0.3]}},
    "roughconductor": {"type": "roughconductor", "alpha": 0.25, "distribution": "ggx",
                       "eta": {"type": "rgb", "value": [0.2, 0.9, 1.1]},
                       "k": {"type": "rgb", "value": [3.9, 2.4, 2.2]}},
    "conductor": {"type": "conductor", "material": "Au"},
    "blend": {"type": "blendbsdf", "weight": 0.3,
              "a": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.2, 0.5, 0.7]}},
              "b": {"type": "roughconductor", "alpha": 0.3, "distribution": "ggx"}},
    "mask": {"type": "mask", "opacity": 0.6,
             "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.8, 0.3, 0.1]}}},
}

#: case name -> (wrapper, nested, options)
CASES = {
    "normal_diffuse": ("normalmap", "diffuse", {}),
    "normal_roughconductor": ("normalmap", "roughconductor", {}),
    "normal_conductor": ("normalmap", "conductor", {}),
    "normal_noflip_noshadow": ("normalmap", "diffuse", {"flip_invalid_normals": False,
                                                        "use_shadowing_function": False}),
    "normal_twosided_outer": ("normalmap", "diffuse", {"outer_twosided": True}),
    "normal_twosided_inner": ("normalmap", "diffuse", {"inner_twosided": True}),
    "bump_diffuse": ("bumpmap", "diffuse", {"scale": 0.3}),
    "bump_roughconductor": ("bumpmap", "roughconductor", {"scale": 0.15}),
    "bump_nearest": ("bumpmap", "diffuse", {"scale": 0.3, "filter_type": "nearest"}),
    "normal_blend": ("normalmap", "blend", {}),
    "bump_mask": ("bumpmap", "mask", {"scale": 0.3}),
}
TO_UV = [[2.0, 0.3, 0.1], [-0.2, 1.5, 0.4], [0.0, 0.0, 1.0]]
N = 24


def textures(rng):
    nm = rng.random((5, 7, 3)).astype(np.float32) * 0.8 + 0.1
    nm[..., 2] = 0.55 + 0.45 * nm[..., 2]
    h = rng.random((5, 7)).astype(np.float32)
    return nm, h


def inputs(rng, n=N):
    wi = rng.normal(size=(n, 3))
    wi[:, 2] = np.abs(wi[:, 2]) * np.where(rng.random(n) < 0.2, -1, 1)  # some from below
    wo = rng.normal(size=(n, 3))
    wo[:, 2] = np.abs(wo[:, 2]) * np.where(rng.random(n) < 0.2, -1, 1)
    wi /= np.linalg.norm(wi, axis=1, keepdims=True)
    wo /= np.linalg.norm(wo, axis=1, keepdims=True)
    return {"wi": wi, "wo": wo, "uv": rng.random((n, 2)), "u": rng.random((n, 3))}


GEO = np.array([0.8, 0.3, 0.1, -0.2, 1.1, -0.15, 0.1, -0.05, 1.0])


def mitsuba_frame(geo):
    s0 = np.array([geo[0], geo[1], 0.0])
    s0 /= np.linalg.norm(s0)
    t0 = np.cross([0.0, 0.0, 1.0], s0)
    return np.stack([s0, t0, [0.0, 0.0, 1.0]])  # rows: our local -> Mitsuba local


def main():
    import mitsuba as mi

    mi.set_variant("scalar_rgb")
    rng = np.random.default_rng(20261122)
    nm, h = textures(rng)
    ng = GEO[6:9] / np.linalg.norm(GEO[6:9])
    geo = np.concatenate([GEO[:6], ng])
    R = mitsuba_frame(geo)
    tf = mi.ScalarTransform4f([[TO_UV[0][0], TO_UV[0][1], 0, TO_UV[0][2]],
                               [TO_UV[1][0], TO_UV[1][1], 0, TO_UV[1][2]],
                               [0, 0, 1, 0], [0, 0, 0, 1]])
    out = {"normalmap": nm, "height": h, "to_uv": np.array(TO_UV), "geo": geo}
    for name, (wrapper, nested, opt) in CASES.items():
        inner = NESTED[nested]
        if opt.get("inner_twosided"):
            inner = {"type": "twosided", "bsdf": inner}
        d = {"type": wrapper, "bsdf": inner}
        for k in ("flip_invalid_normals", "use_shadowing_function"):
            if k in opt:
                d[k] = opt[k]
        tex = {"type": "bitmap", "raw": True, "to_uv": tf,
               "filter_type": opt.get("filter_type", "bilinear")}
        if wrapper == "normalmap":
            d["normalmap"] = dict(tex, bitmap=mi.Bitmap(nm))
        else:
            d["height"] = dict(tex, bitmap=mi.Bitmap(h[:, :, None]))
            d["scale"] = opt["scale"]
        if opt.get("outer_twosided"):
            d = {"type": "twosided", "bsdf": d}
        b = mi.load_dict(d)
        x = inputs(rng)
        si = mi.SurfaceInteraction3f()
        si.p = [0, 0, 0]
        si.n = mi.Normal3f(ng)
        si.sh_frame = mi.Frame3f(mi.Vector3f(R[0]), mi.Vector3f(R[1]), mi.Vector3f(R[2]))
        si.dp_du = mi.Vector3f(geo[0:3])
        si.dp_dv = mi.Vector3f(geo[3:6])
        ctx = mi.BSDFContext()
        res = {k: [] for k in ("f", "pdf", "s_wo", "s_weight", "s_pdf")}
        for i in range(N):
            si.uv = mi.Point2f(x["uv"][i])
            si.wi = mi.Vector3f(R @ x["wi"][i])
            f, p = b.eval_pdf(ctx, si, mi.Vector3f(R @ x["wo"][i]))
            res["f"].append(np.array(f))
            res["pdf"].append(float(p))
            bs, w = b.sample(ctx, si, float(x["u"][i, 0]), mi.Point2f(x["u"][i, 1:]))
            res["s_wo"].append(R.T @ np.array(bs.wo))
            res["s_weight"].append(np.array(w))
            res["s_pdf"].append(float(bs.pdf))
        for k, v in x.items():
            out[f"{name}/{k}"] = np.asarray(v)
        for k, v in res.items():
            out[f"{name}/{k}"] = np.asarray(v, np.float64)
    out["cases"] = np.array(json.dumps(CASES))
    out["nested"] = np.array(json.dumps(NESTED))
    out["mitsuba_version"] = np.array(mi.__version__)
    np.savez_compressed(OUT, **out)
    print(json.dumps({"written": os.path.relpath(OUT, ROOT), "cases": len(CASES),
                      "mitsuba": mi.__version__}))


if __name__ == "__main__":
    main()
