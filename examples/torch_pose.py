"""Recover an object's pose with PyTorch: the Cornell box's short block is moved by ``--offset``
(mm) and its translation is found again with ``torch.optim.Adam`` (cosine-decayed step) through
``diffrender.torch.render`` with edge sampling on (the block's silhouette, its contact with the
floor and its shadow carry the position; docs/edge-sampling.md).

The pose is a torch tensor ``t`` (3 numbers, mm); the parameter ``short_block.to_world`` is the
scene's matrix with ``t`` added to its translation column, built in torch, so autograd carries
``d loss / d to_world`` (from ``Renderer.vjp``) back to ``t``. Prints the loss and the distance
to the true position as it goes down.

    python examples/torch_pose.py [--res 48] [--iterations 30]
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import diffrender as dr  # noqa: E402
import diffrender.torch as drt  # noqa: E402

NAME = "short_block.to_world"
EDGES = {"spp": 4}  # edge samples per pixel: silhouettes and shadow boundaries


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=int, default=48)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--offset", type=float, nargs=3, default=[40.0, 0.0, -30.0])
    ap.add_argument("--lr", type=float, default=4.0, help="Adam step (mm)")
    a = ap.parse_args(argv)
    scene = dr.load_scene(os.path.join(os.path.dirname(HERE), "scenes", "cornell-box", "scene.xml"),
                          res=str(a.res), max_depth="3")
    m0 = torch.tensor(np.asarray(scene.parameters()[NAME], np.float64))
    target = drt.render(scene, {}, spp=256, seed=1234)  # the block where the scene puts it
    column = torch.zeros(4, 4, dtype=torch.float64)
    column[:3, 3] = 1.0

    def pose(t):  # the scene's matrix, translated by t (mm)
        return m0 + torch.nn.functional.pad(t, (0, 1)).unsqueeze(1) * column

    t = torch.tensor(a.offset, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([t], lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.iterations, eta_min=0.1 * a.lr)
    start = float(t.detach().norm())
    for it in range(a.iterations):
        opt.zero_grad()
        img = drt.render(scene, {NAME: pose(t)}, spp=8, seed=it, edges=EDGES)
        loss = (img - target).abs().mean()
        loss.backward()
        opt.step()
        sched.step()
        if it % 5 == 0 or it == a.iterations - 1:
            print(f"iter {it:3d}  loss {loss.item():.5f}  |offset| {t.detach().norm():6.2f} mm", flush=True)
    err = float(t.detach().norm())
    print(f"offset {start:.1f} mm -> {err:.2f} mm (t = {np.round(t.detach().numpy(), 2)})")
    return start, err


if __name__ == "__main__":
    main()
