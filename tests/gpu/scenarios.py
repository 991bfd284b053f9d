"""Everything the GPU subset compares, computed on one device; saved as one ``.npz``.

Run as ``python -m tests.gpu.scenarios DEVICE OUT.npz`` (from the repository root): Taichi
starts one backend per process, so :mod:`tests.gpu.test_gpu_backend` runs this once with
``cpu`` and once with the GPU device under test, and compares the two files.

Keys (all float64 arrays unless noted):
- ``render``, ``aov.<name>``: the forward render and its AOVs;
- ``vjp.<param>``: reverse-mode gradients of <adj, render> for every parameter kind that is
  differentiated by path replay (constant reflectance, texture texels, area-light radiance,
  point-light intensity, a rough conductor's roughness);
- ``fd.<param>``: central finite differences of the same, at the indices in ``FD_INDEX``
  (all but the roughness, see ``VJP_ONLY``);
- ``jvp``: forward mode, the image tangent for random tangents of those parameters, and
  ``jvp_dot`` / ``vjp_dot``: <jvp, adj> and sum_k <vjp_k, t_k>;
- ``edges.<param>``: edge-sampled reverse mode for a shape's ``to_world``, the camera's
  ``to_world`` and ``fov`` in that scene;
- ``occ.{vjp,jvp,ref}.*``: edge sampling in an emissive-quad scene where the derivative is a
  pure boundary term, with its exact reference (vertex translation, camera zoom);
- ``filter.<case>.{out,gi,gp,fd}``: image filters in float32 and float64, their gradients
  (image and parameters), and finite differences of the float64 ones;
- ``opt.params``, ``opt.loss``: a short optimization (Adam, 8 iterations).
"""
from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

W, H = 12, 10
SPP = 2
SEED = 7
# (param, flat indices checked against finite differences)
FD_INDEX = {
    "wallmat.reflectance": [0, 2],
    "floor.bsdf.reflectance.data": [0, 31],
    "lamp.emitter.radiance": [1],
    "bulb.intensity": [2],
}
# Also differentiated and compared with the CPU, without a finite-difference check here: the
# rough metal ball reflects the area lamp, and changing alpha moves BSDF-sampled rays across the
# lamp's edge, a boundary term that common-random-number differences include and path replay
# does not (measured: replay 4.73, FD 6.15, the same on CPU and Vulkan).
# tests/core/test_material_gradients.py checks alpha against FD with delta lights.
VJP_ONLY = ["ball.bsdf.alpha"]
EDGE_PARAMS = ["wall.to_world", "sensor.to_world", "sensor.fov"]
EDGE_OPTS = {"spp": 16, "secondary": False, "interior": True}
OCC_EDGE_SPP = 64  # as tests/core/test_edges.py


def scene_dict(texture_path):
    return {
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 3},
        "sensor": {"type": "perspective", "fov": 50,
                   "to_world": {"type": "transform", "lookat": {"origin": [0, 1.2, -3.5],
                                                                "target": [0, 0.2, 0],
                                                                "up": [0, 1, 0]}},
                   "film": {"type": "hdrfilm", "width": W, "height": H,
                            "rfilter": {"type": "gaussian"}},
                   "sampler": {"type": "independent", "sample_count": SPP}},
        "floor": {"type": "rectangle",
                  "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": -90},
                               "scale": [2, 2, 2]},
                  "bsdf": {"type": "diffuse",
                           "reflectance": {"type": "bitmap", "filename": str(texture_path)}}},
        "wall": {"type": "rectangle",
                 "to_world": {"type": "transform", "translate": [0.3, 1, 1.5], "scale": [1.2, 0.8, 1]},
                 "bsdf": {"type": "twosided", "id": "wallmat",
                          "bsdf": {"type": "diffuse",
                                   "reflectance": {"type": "rgb", "value": [0.6, 0.3, 0.2]}}}},
        "ball": {"type": "sphere", "center": [-0.6, 0.4, 0.3], "radius": 0.4,
                 "bsdf": {"type": "roughconductor", "alpha": 0.3, "distribution": "ggx"}},
        "lamp": {"type": "rectangle",
                 "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": 90},
                              "translate": [0.5, 2.0, 0]},
                 "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [4.0, 3.5, 3.0]}}},
        "bulb": {"type": "point", "position": [-1.0, 1.5, -0.5],
                 "intensity": {"type": "rgb", "value": [2.0, 2.5, 3.0]}},
    }


def _dot(img, adj):
    return float((np.asarray(img, np.float64) * adj).sum())


def renders(dr, out, workdir):
    from diffrender.core import Renderer
    from tests.helpers.fd import render_fd

    tex = np.random.default_rng(3).uniform(0.2, 0.9, size=(4, 5, 3)).astype(np.float32)
    dr.write_image(os.path.join(workdir, "tex.exr"), tex)
    scene = dr.load_scene(scene_dict(os.path.join(workdir, "tex.exr")))
    r = Renderer(scene)
    res = r.render(spp=SPP, seed=SEED, aovs=("depth", "normal", "albedo", "alpha"))
    out["render"] = res["color"]
    for k in ("depth", "normal", "albedo", "alpha"):
        out[f"aov.{k}"] = res[k]
    adj = np.random.default_rng(11).normal(size=res["color"].shape).astype(np.float32)
    names = list(FD_INDEX) + VJP_ONLY
    grads = r.vjp(adj, names, spp=SPP, seed=SEED)
    for n in names:
        out[f"vjp.{n}"] = grads[n]
    for n in FD_INDEX:
        out[f"fd.{n}"] = np.array([render_fd(r, scene, adj, n, i, SPP, SEED) for i in FD_INDEX[n]])
    rng = np.random.default_rng(5)
    tangents = {n: rng.normal(size=np.shape(scene.parameters()[n])) for n in names}
    jv = r.jvp(tangents, spp=SPP, seed=SEED)
    out["jvp"] = jv
    out["jvp_dot"] = np.array(_dot(jv, adj))
    out["vjp_dot"] = np.array(sum(float((grads[n] * tangents[n]).sum()) for n in names))

    # geometry and camera in this scene: edge sampling (primary edges + interior), compared
    # with the CPU only (see ``occluder`` for the references)
    eg = r.vjp(adj, EDGE_PARAMS, spp=SPP, seed=SEED, edges=EDGE_OPTS)
    for n in EDGE_PARAMS:
        out[f"edges.{n}"] = eg[n]


def torch_interop(dr, out, workdir):
    """diffrender.torch on this device: tensors on the GPU for CUDA (the images cross in place,
    through DLPack), host tensors otherwise (in place on the CPU backend; through the host on
    Vulkan)."""
    try:
        import torch
    except ImportError:  # the 'torch' extra: the tests that need these keys skip
        return
    import diffrender.torch as drt
    from diffrender import engine

    scene = dr.load_scene(scene_dict(os.path.join(workdir, "tex.exr")))
    dev = "cuda" if engine.device() == "cuda" and torch.cuda.is_available() else "cpu"
    name = "wallmat.reflectance"
    value = torch.tensor(np.asarray(scene.parameters()[name], np.float32), device=dev,
                         requires_grad=True)
    img = drt.render(scene, {name: value}, spp=SPP, seed=SEED)
    adj = torch.from_numpy(np.random.default_rng(12).normal(size=tuple(img.shape)).astype(np.float32)).to(dev)
    (img * adj).sum().backward()
    probe = torch.empty(tuple(img.shape), dtype=torch.float32, device=dev)
    r = drt.renderer_of(scene)
    ptr = probe.data_ptr()
    in_place = engine.takes_in_place(probe)
    if in_place:
        r.render(spp=SPP, seed=SEED, out=probe)
    out["torch.device"] = np.array(str(img.device))
    out["torch.in_place"] = np.array(in_place and probe.data_ptr() == ptr)
    out["torch.render"] = img.detach().cpu().numpy()
    out["torch.out"] = probe.cpu().numpy() if in_place else r.render(spp=SPP, seed=SEED)
    out["torch.grad"] = value.grad.cpu().numpy()


def occluder(out):
    """Edge sampling against exact boundary integrals: tests/core/test_edges.py's emissive quad
    over an emissive background (the derivative is only a boundary term), moved, and the camera
    zoomed; the references are quadratures along the projected polygon (numpy)."""
    import copy

    from diffrender.core import Renderer
    from tests.core.test_edges import occ_reference, occluder_scene, smooth_adjoint

    sc = occluder_scene()
    r = Renderer(sc)
    adj = smooth_adjoint(1)
    g = r.vjp(adj, ["occ.vertex_positions", "sensor.fov"],
              edges=dict(interior=False, spp=OCC_EDGE_SPP, seed=6))
    V = np.asarray(sc.shapes[1].vertices, np.float64)
    dV = np.zeros_like(V)
    dV[:, 0] = 1.0
    out["occ.vjp.translate_x"] = np.array(float((g["occ.vertex_positions"] * dV).sum()))
    out["occ.ref.translate_x"] = np.array(occ_reference(sc, adj, dV=dV))
    out["occ.vjp.fov"] = np.array(float(g["sensor.fov"]))
    base = sc.sensor

    def zoomed(h):
        s = copy.deepcopy(base)
        s.fov = base.fov + h
        return s
    out["occ.ref.fov"] = np.array(occ_reference(sc, adj, sensor_fn=zoomed))
    jv = r.jvp({"sensor.fov": 1.0}, edges=dict(interior=False, spp=OCC_EDGE_SPP, seed=6))
    out["occ.jvp.fov"] = np.array(_dot(jv, adj))


def filters(out):
    from diffrender.filters import Bilateral, GaussianBlur, Pipeline, ToneCurve

    rng = np.random.default_rng(2)
    x = rng.random((9, 11, 3)) * 1.2 - 0.05
    d = rng.standard_normal(x.shape)
    cases = {"gauss": (GaussianBlur, dict(sigma=1.2, border="reflect")),
             "bilateral": (Bilateral, dict(d=5, sigma_space=1.5, sigma_range=0.3)),
             "tone": (ToneCurve, dict(knots=[0.0, 0.3, 0.5, 0.8, 1.1]))}
    eps = 1e-6
    for label, (cls, kw) in cases.items():
        for dt in ("float32", "float64"):
            p = Pipeline([cls(dtype=dt, dual=True, **kw)], dtype=dt, dual=True)
            xi = x.astype(dt)
            out[f"filter.{label}.{dt}.out"] = p(xi)
            gi, gp = p.vjp(xi, d.astype(dt), wrt="all")
            out[f"filter.{label}.{dt}.gi"] = gi
            names = p.param_names()
            out[f"filter.{label}.{dt}.gp"] = np.array([gp[n] for n in names], np.float64)
            if dt == "float64":
                fd = []
                for n in names:
                    v0 = p.get(n)
                    p.set(n, v0 + eps)
                    fp = float((p(xi) * d).sum())
                    p.set(n, v0 - eps)
                    fm = float((p(xi) * d).sum())
                    p.set(n, v0)
                    fd.append((fp - fm) / (2 * eps))
                out[f"filter.{label}.fd"] = np.array(fd)
                _, J = p.jacobian(xi, names)
                out[f"filter.{label}.jdot"] = np.array([float((J[k] * d).sum())
                                                        for k in range(len(names))])


OPT_SCENE = """<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="3"/></integrator>
  <sensor type="perspective"><float name="fov" value="45"/>
    <transform name="to_world"><lookat origin="0, 0, 3" target="0, 0, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="8"/><integer name="height" value="6"/>
      <rfilter type="box"/></film>
  </sensor>
  <shape type="rectangle" id="board">
    <bsdf type="diffuse" id="paint"><rgb name="reflectance" value="$albedo"/></bsdf>
  </shape>
  <shape type="rectangle" id="lamp">
    <transform name="to_world"><scale value="0.3"/><translate x="0" y="0.6" z="1.5"/></transform>
    <boolean name="flip_normals" value="true"/>
    <bsdf type="diffuse"><rgb name="reflectance" value="0"/></bsdf>
    <emitter type="area"><rgb name="radiance" value="6, 6, 6"/></emitter>
  </shape>
  <default name="albedo" value="0.7, 0.4, 0.2"/>
</scene>"""


def optimize(dr, out, workdir):
    import csv

    import yaml

    from diffrender.inverse import load_config
    from diffrender.inverse.run import Run

    with open(os.path.join(workdir, "scene.xml"), "w") as fh:
        fh.write(OPT_SCENE)
    target = dr.render(dr.load_scene(os.path.join(workdir, "scene.xml")), spp=16, seed=99)
    dr.write_image(os.path.join(workdir, "target.exr"), target)
    cfg = {"scene": "scene.xml", "defines": {"albedo": "0.3, 0.3, 0.3"}, "targets": ["target.exr"],
           "parameters": {"paint.reflectance": {"lr": 0.05}},
           "optimizer": {"type": "adam", "lr": 0.05}, "iterations": 8, "spp": 4,
           "spp_adjoint": 4, "seed": 1, "output": "run", "render_every": 100,
           "checkpoint_every": 100}
    path = os.path.join(workdir, "opt.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    params = Run(load_config(path)).run()
    out["opt.params"] = np.asarray(params["paint.reflectance"], np.float64)
    with open(os.path.join(workdir, "run", "trajectory.csv")) as fh:
        rows = list(csv.DictReader(fh))
    out["opt.loss"] = np.array([float(r["loss"]) for r in rows])


def main(argv):
    device, path = argv[1], argv[2]
    import diffrender as dr
    from diffrender import engine

    used = engine.init(device)
    out = {"device": np.array(used), "device_name": np.array(engine.device_info()["name"] or "")}
    with tempfile.TemporaryDirectory() as workdir:
        renders(dr, out, workdir)
        torch_interop(dr, out, workdir)
        occluder(out)
        filters(out)
        optimize(dr, out, workdir)
    out["cache_dir"] = np.array(engine.device_info()["cache_dir"])
    np.savez(path, **{k: np.asarray(v) for k, v in out.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
