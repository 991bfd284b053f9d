"""Recover a roughness and an environment map's scale from a target render.

A rough gold sphere on a grey floor under the procedural sky of scenes/glossy-spheres: the
target is rendered with alpha = 0.25 and scale = 1.5 (32768 spp, so that its noise moves the
optimum by well under 0.1%); the optimisation starts from alpha = 0.06 and scale = 0.6 and
minimises the mean squared error with Adam, using reverse-mode derivatives of the renderer
(``Renderer.vjp``: path replay; the GGX sampling is detached, so the gradient of alpha is
unbiased rather than exact per sample). Every iteration draws fresh seeds, and the derivative
uses other samples than the image it multiplies, which keeps the MSE gradient unbiased: with
the same samples it would include the derivative of the image's variance.

Two phases:

1. ``--iters - --late`` iterations with ``--spp`` samples for both the image and the
   derivative and Adam's full learning rates: both parameters get near the target in ~60
   iterations but keep jittering by a few percent (a noisy gradient times a constant step).
2. ``--late`` iterations with a fresh Adam state (its second-moment estimate then reflects the
   gradient noise near the optimum, not the large early gradients), learning rates
   ``--lr-late`` times the first phase's decaying (cosine) to ``--lr-min`` of that (not lower:
   decaying to 0.03-0.1 of the first phase's rate froze the iterates ~1.5% low), and the
   result is the mean of the last ``--average`` iterates (Polyak-Ruppert averaging). Near
   the optimum the gradient's noise is the image's noise projected on the derivative, not the
   derivative's own noise (measured at the target values: 128 / 128 image / derivative spp
   gave a 2.7x larger standard deviation of d(loss)/d(alpha) than 1024 / 8, at 70% of the
   cost), so this phase renders the image with ``--spp-late`` samples and the derivative with
   only ``--vjp-spp-late``.

The printed errors are relative to the values the target was rendered with.

    python examples/recover_roughness_envmap.py [--iters 250] [--late 150] [--average 120]
        [--res 48] [--spp 8] [--spp-late 1024] [--vjp-spp-late 8] [--seed 0] [--threads N]
        [--out DIR]

Measured (docs/materials.md): seeds 0, 1, 2 give alpha +0.12%, +0.14%, -0.29% and scale
+0.01%, +0.02%, -0.03% from the targets, ~4.3 minutes each on 2 shared CPU cores.

Prints one line per iteration and the final values with their errors; with --out, writes
target.png, initial.png and final.png (the final render uses the averaged values).
"""
import argparse
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import diffrender as dr  # noqa: E402

SKY = os.path.join(ROOT, "scenes", "glossy-spheres", "textures", "sky.exr")
TARGET = {"gold.alpha": 0.25, "sky.scale": 1.5}
START = {"gold.alpha": 0.06, "sky.scale": 0.6}


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


def lr_factor(it, iters, late, lr_min):
    """1 for the first ``iters - late`` iterations, then a cosine decay to ``lr_min``."""
    start = iters - late
    if it < start or late <= 1:
        return 1.0
    t = (it - start) / (late - 1)
    return lr_min + (1.0 - lr_min) * 0.5 * (1.0 + math.cos(math.pi * t))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=250)
    ap.add_argument("--late", type=int, default=150,
                    help="last iterations with --spp-late samples and a decaying learning rate")
    ap.add_argument("--average", type=int, default=120,
                    help="the result is the mean of the iterates of the last AVERAGE iterations")
    ap.add_argument("--res", type=int, default=48)
    ap.add_argument("--spp", type=int, default=8)
    ap.add_argument("--spp-late", type=int, default=1024, help="spp of the image, late phase")
    ap.add_argument("--vjp-spp-late", type=int, default=8,
                    help="spp of the derivative, late phase")
    ap.add_argument("--lr-late", type=float, default=0.3,
                    help="learning rates of the late phase, relative to the first phase's")
    ap.add_argument("--lr-min", type=float, default=0.3)
    ap.add_argument("--target-spp", type=int, default=32768)
    ap.add_argument("--seed", type=int, default=0, help="offset of every seed (target and optimisation)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if not 0 <= a.late <= a.iters or not 1 <= a.average <= max(a.iters, 1):
        ap.error("need 0 <= --late <= --iters and 1 <= --average <= --iters")

    dr.init("cpu", threads=a.threads)
    t0 = time.time()
    target_scene = dr.load_scene(scene_dict(a.res, a.target_spp, TARGET["gold.alpha"],
                                            TARGET["sky.scale"]))
    target = dr.Renderer(target_scene).render(seed=1000 + 7919 * a.seed)

    scene = dr.load_scene(scene_dict(a.res, a.spp, START["gold.alpha"], START["sky.scale"]))
    r = dr.Renderer(scene)
    params = scene.parameters()
    names = list(TARGET)
    lr = {"gold.alpha": 0.02, "sky.scale": 0.05}
    opt = dr.Adam({n: params[n] for n in names}, lr=dict(lr),
               bounds={"gold.alpha": (0.01, 1.0), "sky.scale": (0.0, 10.0)})
    initial = r.render(seed=0)
    t_opt = time.time()
    history = []
    for it in range(a.iters):
        if it == a.iters - a.late:
            # Late phase: a fresh Adam state, so that its second-moment estimate reflects the
            # gradient noise near the optimum rather than the large gradients of the approach.
            opt = dr.Adam({n: params[n] for n in names}, lr=dict(lr), beta2=0.99,
                       bounds=opt.bounds)
        late = it >= a.iters - a.late
        f = lr_factor(it, a.iters, a.late, a.lr_min) * (a.lr_late if late else 1.0)
        opt.lr = {n: lr[n] * f for n in names}
        spp = a.spp_late if late else a.spp
        vspp = a.vjp_spp_late if late else a.spp
        img = r.render(spp=spp, seed=10007 * a.seed + it)
        diff = img.astype(np.float64) - target
        loss = float(np.mean(diff ** 2))
        # A different seed for the derivative than for the image: with the same samples, the
        # gradient of the MSE would include the derivative of the image's variance.
        grads = r.vjp((2.0 / diff.size) * diff, names, seed=10007 * a.seed + 5000 + it, spp=vspp)
        new = opt.step(grads)
        for n in names:
            params[n] = new[n]
        history.append([float(new[n][0]) for n in names])
        print(f"iter {it:3d}  spp {spp:3d}  lr x{f:.3f}  loss {loss:.6f}  "
              f"alpha {history[-1][0]:.4f}  scale {history[-1][1]:.4f}", flush=True)
    t_end = time.time()
    h = np.array(history[-a.average:])
    est = h.mean(axis=0)
    last = np.array(history[-1])
    for n, v in zip(names, est):
        params[n] = np.array([v], np.float32)
    for i, n in enumerate(names):
        tv = TARGET[n]
        print(f"{n}: {START[n]} -> {est[i]:.4f} (mean of the last {a.average} iterates; "
              f"target {tv}, error {100 * (est[i] - tv) / tv:+.2f}%; last iterate "
              f"{last[i]:.4f}, {100 * (last[i] - tv) / tv:+.2f}%; spread of the averaged "
              f"iterates {h[:, i].std():.4f})")
    print(f"optimisation {t_end - t_opt:.1f} s ({a.iters} iterations), total {t_end - t0:.1f} s")
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        for name, im in (("target", target), ("initial", initial), ("final", r.render(seed=9999))):
            dr.write_image(os.path.join(a.out, f"{name}.png"), im)


if __name__ == "__main__":
    main()
