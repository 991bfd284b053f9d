"""Recover a roughness and an environment map's scale from a target render.

A rough gold sphere on a grey floor under the procedural sky of scenes/glossy-spheres: the
target is rendered with alpha = 0.25 and scale = 1.5; the optimisation starts from alpha = 0.06
and scale = 0.6 and minimises the mean squared error with Adam, using reverse-mode derivatives
of the renderer (``Renderer.vjp``: path replay; the GGX sampling is detached, so the gradient
of alpha is unbiased rather than exact per sample — fresh seeds every iteration, and the
derivative uses other samples than the image it multiplies, which keeps the MSE gradient
unbiased).

    python examples/recover_roughness_envmap.py [--iters 60] [--res 48] [--spp 8] [--out DIR]

Prints one line per iteration and the final values; with --out, writes target.png,
initial.png and final.png.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SKY = os.path.join(ROOT, "scenes", "glossy-spheres", "textures", "sky.exr")


def scene_dict(res, spp, alpha, scale):
    return {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 3},
        "sensor": {"type": "perspective", "fov": 35,
                   "to_world": {"type": "transform", "lookat": {"origin": [0, 1.2, -4.5],
                                                                "target": [0, 0, 0], "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": res, "height": res * 3 // 4},
                   "sampler": {"type": "independent", "sample_count": spp}},
        "ball": {"type": "sphere", "radius": 1.0,
                 "bsdf": {"type": "roughconductor", "id": "gold", "material": "Au",
                          "distribution": "ggx", "alpha": alpha}},
        "floor": {"type": "rectangle",
                  "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": -90},
                               "scale": [4, 4, 4], "translate": [0, -1, 0]},
                  "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.4, 0.4, 0.4]}}},
        "sky": {"type": "envmap", "filename": SKY, "scale": scale},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--res", type=int, default=48)
    ap.add_argument("--spp", type=int, default=8)
    ap.add_argument("--target-spp", type=int, default=256)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    import diffrender as dr
    from diffrender.engine import init
    from diffrender.optim.optimizers import Adam
    from diffrender.render import Renderer

    init("cpu")
    target_scene = dr.load_scene(scene_dict(a.res, a.target_spp, 0.25, 1.5))
    target = Renderer(target_scene).render(seed=1000)

    scene = dr.load_scene(scene_dict(a.res, a.spp, 0.06, 0.6))
    r = Renderer(scene)
    params = scene.parameters()
    names = ["gold.alpha", "sky.scale"]
    opt = Adam({n: params[n] for n in names}, lr={"gold.alpha": 0.02, "sky.scale": 0.05},
               bounds={"gold.alpha": (0.01, 1.0), "sky.scale": (0.0, 10.0)})
    initial = r.render(seed=0)
    t0 = time.time()
    for it in range(a.iters):
        img = r.render(seed=it)
        diff = img.astype(np.float64) - target
        loss = float(np.mean(diff ** 2))
        # A different seed for the derivative than for the image: with the same samples, the
        # gradient of the MSE would include the derivative of the image's variance.
        grads = r.vjp((2.0 / diff.size) * diff, names, seed=100000 + it)
        new = opt.step(grads)
        for n in names:
            params[n] = new[n]
        print(f"iter {it:3d}  loss {loss:.5f}  alpha {float(new['gold.alpha'][0]):.4f}  "
              f"scale {float(new['sky.scale'][0]):.4f}", flush=True)
    print(f"final: alpha {float(params['gold.alpha'][0]):.4f} (target 0.25), "
          f"scale {float(params['sky.scale'][0]):.4f} (target 1.5), {time.time() - t0:.1f} s")
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        for name, im in (("target", target), ("initial", initial), ("final", r.render(seed=9999))):
            dr.write_image(os.path.join(a.out, f"{name}.png"), im)


if __name__ == "__main__":
    main()
