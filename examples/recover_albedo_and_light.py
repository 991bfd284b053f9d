"""Recover the Cornell box's red-wall albedo AND the light's radiance from a target rendered at
high spp, with the Python API of `diffrender optimize`.

    python examples/recover_albedo_and_light.py [--res 64] [--iterations 120]

Prints the parameter errors (about two minutes on 2 cores). The blue component of the red
wall is the weakly constrained one: the wall reflects little blue and the light emits little.
"""
import argparse
import os
import tempfile

import numpy as np

import diffrender as dr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENE = os.path.join(ROOT, "scenes", "cornell-box", "scene.xml")
TRUE = {"red.reflectance": np.array([0.63, 0.065, 0.05]), "light.emitter.radiance": np.array([17.0, 12.0, 4.0])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=160)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="diffrender-albedo-light-")
    target = dr.render(dr.load_scene(SCENE, res=a.res), spp=1024, seed=4242)
    dr.write_image(os.path.join(out, "target.exr"), target)
    params = dr.optimize({
        "scene": SCENE, "defines": {"res": a.res},
        "targets": [os.path.join(out, "target.exr")],
        "parameters": {"red.reflectance": {"init": [0.4, 0.4, 0.4], "lr": 0.03},
                       "light.emitter.radiance": {"init": [10.0, 10.0, 10.0], "lr": 0.4}},
        "optimizer": {"type": "adam", "schedule": {"kind": "exponential", "gamma": 0.985}},
        "loss": "l2", "iterations": a.iterations, "spp": 16, "spp_adjoint": 16,
        "output": os.path.join(out, "run"), "render_every": 20, "video": "none",
    }, overwrite=True)
    for name, true in TRUE.items():
        got = params[name]
        rel = np.abs(got - true) / np.abs(true)
        print(f"{name}: recovered {np.round(got, 4).tolist()} true {true.tolist()} "
              f"relative error {np.round(rel, 4).tolist()}")
    print(f"outputs in {out}")


if __name__ == "__main__":
    main()
