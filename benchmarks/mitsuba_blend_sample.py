"""What Mitsuba's ``blendbsdf.sample()`` returns, probed through its Python API (no rendering):
for many random numbers at one incident direction, the sample's pdf against ``pdf()`` of the
sampled direction, per sampled lobe type, and the expected sample weight (the directional
albedo) against the mixture of the components' albedos, ``(1 - w) A_0 + w A_1``.

    python benchmarks/mitsuba_blend_sample.py [--variant llvm_ad_rgb] [--samples 1048576]

docs/materials.md ("blendbsdf and Mitsuba 3.9.1") quotes its output.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DIFFUSE = {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.2, 0.5, 0.2]}}
COMPONENTS = {
    "Au conductor (delta)": {"type": "conductor", "material": "Au"},
    "rough Cu (GGX 0.2)": {"type": "roughconductor", "material": "Cu", "alpha": 0.2,
                           "distribution": "ggx"},
}
WEIGHT = 0.4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="llvm_ad_rgb")
    ap.add_argument("--samples", type=int, default=1 << 20)
    ap.add_argument("--cos", type=float, default=0.9486833, help="cos theta of wi")
    a = ap.parse_args()
    from peers import find_libllvm

    lib = find_libllvm()
    if lib and a.variant.startswith("llvm") and not os.environ.get("DRJIT_LIBLLVM_PATH"):
        os.environ["DRJIT_LIBLLVM_PATH"] = lib
    import drjit as dr
    import mitsuba as mi

    mi.set_variant(a.variant)
    dr.set_thread_count(2)
    wi = np.array([np.sqrt(1 - a.cos ** 2), 0.0, a.cos])
    u = np.random.default_rng(0).random((3, a.samples)).astype(np.float32)

    def probe(d):
        b = mi.load_dict(d)
        si = dr.zeros(mi.SurfaceInteraction3f)
        si.wi = mi.Vector3f(*[float(x) for x in wi])
        si.sh_frame = mi.Frame3f(mi.Vector3f(0, 0, 1))
        ctx = mi.BSDFContext()
        bs, w = b.sample(ctx, si, mi.Float(u[0]), mi.Point2f(u[1], u[2]))
        w = np.asarray(w, np.float64)
        return (w.mean(axis=1), w.std(axis=1) / np.sqrt(a.samples), np.asarray(bs.pdf),
                np.asarray(b.pdf(ctx, si, bs.wo)), np.asarray(bs.sampled_type), w[0])

    for name, comp in COMPONENTS.items():
        a0, *_ = probe(comp)
        a1, *_ = probe(DIFFUSE)
        ab, se, ps, pm, st, w0 = probe({"type": "blendbsdf", "weight": WEIGHT,
                                        "bsdf_0": comp, "bsdf_1": DIFFUSE})
        mix = (1 - WEIGHT) * a0 + WEIGHT * a1
        lobes = {}
        for t in np.unique(st[w0 > 0]):
            m = (w0 > 0) & (st == t)
            r = ps[m] / np.maximum(pm[m], 1e-30)
            lobes[str(mi.BSDFFlags(int(t)))] = {
                "count": int(m.sum()), "sample_pdf_over_pdf_min": float(r.min()),
                "sample_pdf_over_pdf_max": float(r.max())}
        print(json.dumps({"mitsuba": mi.__version__, "variant": a.variant,
                          "blend": f"blendbsdf(bsdf_0={name}, bsdf_1=diffuse, weight {WEIGHT})",
                          "cos_wi": a.cos, "samples": a.samples,
                          "albedo_over_mixture_rgb": [round(float(x), 4) for x in ab / mix],
                          "albedo_se_rgb": [float(f"{x:.2g}") for x in se],
                          "lobes": lobes}), flush=True)


if __name__ == "__main__":
    main()
