"""Recover the position of an object that the camera never sees, from its shadow alone.

A sphere between a point light and a floor casts a shadow into the view; the sphere itself is
outside the field of view (checked). The optimization starts with the sphere moved by
``--offset`` and optimizes a ``translate`` pose of ``occluder.to_world``; only the secondary
(shadow) edge sampler can produce a gradient here (``edges: {primary: false}``).

    python examples/edges_shadow_position.py --out runs/shadow-position
"""
import argparse
import os
import sys

import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import diffrender as dr  # noqa: E402

SCENE = """<scene version="3.0.0">
    <default name="res" value="64"/>
    <integrator type="path"><integer name="max_depth" value="2"/></integrator>
    <sensor type="perspective" id="sensor">
        <float name="fov" value="36"/>
        <transform name="to_world"><lookat origin="1.6, 1.4, 1.6" target="0.45, 0, 0.45" up="0, 1, 0"/></transform>
        <film type="hdrfilm"><integer name="width" value="$res"/><integer name="height" value="$res"/></film>
    </sensor>
    <shape type="rectangle" id="floor">
        <transform name="to_world"><rotate x="1" angle="-90"/><scale value="5"/></transform>
        <bsdf type="diffuse"><rgb name="reflectance" value="0.7, 0.7, 0.7"/></bsdf>
    </shape>
    <shape type="sphere" id="occluder">
        <point name="center" x="0" y="1" z="0"/>
        <float name="radius" value="0.4"/>
        <bsdf type="diffuse"><rgb name="reflectance" value="0.8, 0.3, 0.2"/></bsdf>
    </shape>
    <emitter type="point" id="light">
        <point name="position" x="-2" y="6" z="-2"/>
        <rgb name="intensity" value="100, 100, 100"/>
    </emitter>
</scene>
"""


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/shadow-position")
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--offset", type=float, nargs=3, default=[0.2, 0.1, -0.15])
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.abspath(os.path.join(a.out, "scene.xml"))
    with open(path, "w") as f:
        f.write(SCENE)
    scene = dr.load_scene(path, res=str(a.res))
    P = dr.project(scene.sensor, scene.shapes[1].vertices)
    W = scene.sensor.film.width
    assert np.all(np.any(np.isnan(P) | (P < 0) | (P > W), axis=1)), "the occluder must be out of view"
    target = dr.render(scene, spp=256, seed=1234)
    dr.write_image(os.path.join(a.out, "target.exr"), target)
    cfg = {
        "scene": path, "defines": {"res": a.res},
        "targets": [{"image": os.path.abspath(os.path.join(a.out, "target.exr"))}],
        "parameters": {"occluder.to_world": {"translate": {"init": list(a.offset), "lr": 0.03}}},
        "optimizer": {"type": "adam", "lr": 0.03, "schedule": {"kind": "cosine", "min_factor": 0.1}},
        "loss": "l2", "iterations": a.iterations, "spp": 8, "spp_adjoint": 8,
        "edges": {"primary": False, "spp": 4}, "output": os.path.abspath(a.out), "render_every": 10,
    }
    with open(os.path.join(a.out, "config.yaml"), "w") as f:
        yaml.safe_dump(cfg, f)
    res = dr.optimize(os.path.join(a.out, "config.yaml"), overwrite=True,
                      progress=lambda i, n, loss: print(f"iter {i}/{n} loss {loss:.6f}", flush=True)
                      if i % 10 == 0 else None)
    t = res["occluder.to_world.translate"]
    err = float(np.linalg.norm(t))
    print(f"initial offset {np.linalg.norm(a.offset):.3f} -> final offset {t.round(4)} "
          f"(|error| {err:.4f}, sphere radius 0.4)")
    return err


if __name__ == "__main__":
    main()
