"""Recover a bitmap texture (the texels of `scenes/textured-plane`) from a target render, with
the low-level API: Renderer.render + Renderer.vjp + Adam.

    python examples/recover_texture.py [--res 96] [--iterations 200]

Starts from a flat grey texture and prints the texel RMSE against the true texture (on texels
the camera sees) before and after.
"""
import argparse
import os

import numpy as np

import diffrender as dr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENE = os.path.join(ROOT, "scenes", "textured-plane", "scene.xml")
NAME = "plane_bsdf.reflectance.data"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=int, default=96)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--out", default="recover_texture.png")
    a = ap.parse_args()
    scene = dr.load_scene(SCENE, res=a.res)
    params = scene.parameters()
    true_tex = params[NAME].copy()
    r = dr.Renderer(scene)
    target = r.render(spp=512, seed=1)
    params[NAME] = np.full_like(true_tex, 0.5)
    loss_fn = dr.get_loss("l2")
    opt = dr.Adam({NAME: params[NAME]}, lr=0.02, bounds={NAME: (0.0, 1.0)})
    # texels that influence the image (a vjp of ones marks them)
    seen = np.abs(r.vjp(np.ones_like(target), [NAME], spp=4, seed=0)[NAME]).sum(axis=2) > 0

    def texel_rmse():
        d = params[NAME] - true_tex
        return float(np.sqrt(np.mean(d[seen] ** 2)))

    print(f"start: texel RMSE {texel_rmse():.4f} over {int(seen.sum())} visible texels")
    for it in range(a.iterations):
        img = r.render(spp=8, seed=2 * it + 10)
        loss, adj = loss_fn(img, target)
        g = r.vjp(adj, [NAME], spp=8, seed=2 * it + 11)
        params[NAME] = opt.step(g)[NAME]
        if it % 25 == 0 or it == a.iterations - 1:
            print(f"iteration {it:4d}: loss {loss:.3e}, texel RMSE {texel_rmse():.4f}")
    dr.write_image(a.out, np.concatenate([target, r.render(spp=64, seed=3)], axis=1))
    print(f"target | recovered render -> {a.out}")


if __name__ == "__main__":
    main()
