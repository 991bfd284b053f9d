"""Render a scene, compare it with a reference and report metrics (the Python API of
`diffrender render` + `diffrender compare`).

    python examples/render_and_compare.py [SCENE] [--spp 64] [--reference REF.exr]

Without --reference, the reference is a 16x-spp render of the same scene (another seed), so the
numbers show Monte Carlo noise at the chosen spp; the false-colour error image is written next to
the render.
"""
import argparse
import os
import time

import diffrender as dr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scene", nargs="?", default=os.path.join(ROOT, "scenes", "cornell-box", "scene.xml"))
    ap.add_argument("--spp", type=int, default=64)
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--reference", default=None)
    ap.add_argument("--out", default="render_and_compare")
    a = ap.parse_args()
    scene = dr.load_scene(a.scene, res=a.res)
    r = dr.Renderer(scene)
    t0 = time.perf_counter()
    img = r.render(spp=a.spp, seed=0)
    dt = time.perf_counter() - t0
    ref = dr.read_image(a.reference) if a.reference else r.render(spp=16 * a.spp, seed=1)
    m = dr.compare(img, ref)
    os.makedirs(a.out, exist_ok=True)
    dr.write_image(os.path.join(a.out, "render.png"), img)
    dr.write_image(os.path.join(a.out, "error.png"), dr.error_image(img, ref))
    print(f"{os.path.basename(os.path.dirname(a.scene))}: {a.res}x{a.res} at {a.spp} spp in {dt:.2f} s")
    for k, v in m.items():
        print(f"  {k:7s} {v:.6g}")


if __name__ == "__main__":
    main()
