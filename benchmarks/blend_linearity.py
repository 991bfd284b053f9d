"""Is blendbsdf rendered as the mixture it defines? With ``max_depth = 2`` under a uniform
environment a pixel is linear in the BSDF, so ``render(blend(a, b, w))`` must equal
``(1 - w) render(a) + w render(b)``; the components are rendered as the same blend with weight
0 and 1. Both estimators use BSDF sampling and environment sampling combined by MIS, so the
check sees a blend whose sampled pdf / weight disagrees with its eval / pdf.

Two spheres (the scene of tests/core/test_blendbsdf.py): left ``blend(Au conductor, diffuse,
0.4)`` (a delta and a smooth component), right ``blend(diffuse, rough Cu, 0.3)`` (two smooth
ones). Prints, per sphere and renderer, blend / mixture per channel over the sphere's pixels and
the standard error of the grey ratio.

    python benchmarks/blend_linearity.py [--spp 8192] [--renderers diffrender,mitsuba]
        [--variant llvm_ad_rgb] [--threads 2]
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

WEIGHTS = (0.4, 0.3)  # left, right
ENV = np.array([0.9, 1.0, 1.1])


def xml(wl, wr):
    return f"""<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="2"/></integrator>
  <sensor type="perspective"><float name="fov" value="40"/>
    <transform name="to_world"><lookat origin="0, 0.4, -4.2" target="0, 0, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="24"/><integer name="height" value="18"/>
      <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="64"/></sampler>
  </sensor>
  <shape type="sphere"><point name="center" x="0.9" y="0" z="0"/><float name="radius" value="0.85"/>
    <bsdf type="blendbsdf" id="left"><float name="weight" value="{wl}"/>
      <bsdf type="conductor"><string name="material" value="Au"/></bsdf>
      <bsdf type="diffuse"><rgb name="reflectance" value="0.2, 0.5, 0.2"/></bsdf></bsdf></shape>
  <shape type="sphere"><point name="center" x="-0.9" y="0" z="0"/><float name="radius" value="0.85"/>
    <bsdf type="blendbsdf" id="right"><float name="weight" value="{wr}"/>
      <bsdf type="diffuse"><rgb name="reflectance" value="0.8, 0.6, 0.3"/></bsdf>
      <bsdf type="roughconductor"><string name="material" value="Cu"/><float name="alpha" value="0.2"/>
        <string name="distribution" value="ggx"/></bsdf></bsdf></shape>
  <emitter type="constant"><rgb name="radiance" value="0.9, 1.0, 1.1"/></emitter>
</scene>"""


def renders_ours(spp, threads):
    import warnings

    from diffrender.engine import init
    from diffrender.core import Renderer
    from diffrender.scene.loader import load_scene

    init("cpu", threads=threads)
    path = os.path.join(tempfile.mkdtemp(), "blend.xml")
    with open(path, "w") as f:
        f.write(xml(*WEIGHTS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = load_scene(path)
    r = Renderer(scene)
    params = scene.parameters()
    out = []
    for k, (wl, wr) in enumerate((WEIGHTS, (0.0, 0.0), (1.0, 1.0))):
        params["left.weight"] = np.array([wl], np.float32)
        params["right.weight"] = np.array([wr], np.float32)
        out.append(r.render(spp=spp, seed=1 + k).astype(np.float64))
    return out


def renders_mitsuba(spp, variant, threads):
    from peers import find_libllvm

    lib = find_libllvm()
    if lib and variant.startswith("llvm") and not os.environ.get("DRJIT_LIBLLVM_PATH"):
        os.environ["DRJIT_LIBLLVM_PATH"] = lib
    import drjit as dr
    import mitsuba as mi

    mi.set_variant(variant)
    dr.set_thread_count(threads)
    return [np.asarray(mi.render(mi.load_string(xml(wl, wr)), spp=spp, seed=1 + k))[..., :3]
            .astype(np.float64)
            for k, (wl, wr) in enumerate((WEIGHTS, (0.0, 0.0), (1.0, 1.0)))]


def compare(blend, c0, c1):
    res = {}
    for name, cols, w in (("left blend(Au, diffuse, 0.4)", slice(0, 12), WEIGHTS[0]),
                          ("right blend(diffuse, rough Cu, 0.3)", slice(12, 24), WEIGHTS[1])):
        on = np.abs(c0[:, cols] - ENV).max(axis=2) > 1e-4  # the sphere, not the background
        b = blend[:, cols][on]
        mix = (1 - w) * c0[:, cols][on] + w * c1[:, cols][on]
        d = (b - mix).mean(axis=1)
        res[name] = {"ratio_rgb": [round(float(b[:, c].mean() / mix[:, c].mean()), 4)
                                   for c in range(3)],
                     "se_grey": round(float(d.std(ddof=1) / np.sqrt(d.size) / mix.mean()), 4),
                     "pixels": int(on.sum())}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spp", type=int, default=8192)
    ap.add_argument("--renderers", default="diffrender,mitsuba")
    ap.add_argument("--variant", default="llvm_ad_rgb")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    for who in a.renderers.split(","):
        if who == "diffrender":
            imgs = renders_ours(a.spp, a.threads)
        elif who == "mitsuba":
            imgs = renders_mitsuba(a.spp, a.variant, a.threads)
            who = f"mitsuba {a.variant}"
        else:
            raise SystemExit(f"blend_linearity: unknown renderer '{who}' (diffrender, mitsuba)")
        print(json.dumps({"bench": "blend_linearity", "renderer": who, "spp": a.spp,
                          **compare(*imgs)}), flush=True)


if __name__ == "__main__":
    main()
