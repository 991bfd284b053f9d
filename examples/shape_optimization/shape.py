"""Mitsuba 3's shape-optimization tutorial (``inverse_rendering/shape_optimization.ipynb``) with
diffrender: deform a 10k-vertex sphere into Blender's Suzanne from 8 views under an environment
map, with the "large steps" parametrization (Nicolet, Jacobson, Jakob 2021) and uniform Adam.

The tutorial's setup: 8 cameras on a Fibonacci lattice at distance 5 looking at the origin (fov
45, 256x256, gaussian pixel filter, ``sample_border``), a diffuse mesh lit by ``envmap2.exr``,
direct illumination (``path`` with ``max_depth`` 2 here, Mitsuba's ``direct_projective`` with
``sppi`` 0 there: silhouettes are differentiated, shadows on the mesh are not), target renders
of Suzanne, the mean absolute difference (L1) as the loss, ``lambda`` 25, uniform Adam with
learning rate 0.1, and in each of the 100 iterations one render, gradient and step per view.
The run is ``diffrender optimize`` on a config this script writes (``views_per_step: 1``: one
iteration of the config is one view, so the tutorial's 100 iterations are 800 of them).

The meshes and the environment map are the tutorial's own files, downloaded once from
mitsuba-renderer/mitsuba-tutorials (that repository states no licence, so they are not part of
diffrender) into ``--data`` and checked against their SHA-256.

Reported: the Chamfer distance between the result and Suzanne (the mean of both directions'
mean distance from points sampled on one surface to the other surface's samples), before and
after, and the time per iteration (8 views).

    python examples/shape_optimization/shape.py                        # the tutorial (slow)
    python examples/shape_optimization/shape.py --res 128 --iterations 50
"""
import argparse
import hashlib
import math
import os
import sys
import time
import urllib.request

import numpy as np
import yaml

import diffrender as dr

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")
OUT = os.path.join(ROOT, "runs", "shape-optimization")

TUTORIALS = ("https://raw.githubusercontent.com/mitsuba-renderer/mitsuba-tutorials/"
             "a8dbee7e81b1039a983770ce1042f2d78688d0ae/scenes/")
FILES = {  # name: (path in the tutorials repository, SHA-256)
    "suzanne.ply": ("meshes/suzanne.ply",
                    "52876a3b69f3a4472a910f32ad63c17b66e059840d5336229f9a975452175862"),
    "ico_10k.ply": ("meshes/ico_10k.ply",
                    "f7a38ad257e2c8d420d32f2a60e0a520b308c5ff5baa74bf2625dab653a2e6d0"),
    "envmap2.exr": ("textures/envmap2.exr",
                    "3fa54266bef1d4df15dc2ecec78488857514f34980e54b8078eb65e01dd7cf24"),
}
VIEWS = 8
DISTANCE = 5.0
FOV = 45.0
RES = 256
SPP = 16            # per view and iteration (primal and adjoint)
EDGE_SPP = 4        # primary-edge samples per pixel
TARGET_SPP = 256    # the tutorial renders its targets at 256 spp
ITERATIONS = 100    # each: every view once, a step after each
LAMBDA = 25.0       # large steps
LEARNING_RATE = 0.1
CHAMFER_POINTS = 200_000


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(data=DATA):
    """The tutorial's files in ``data`` (downloaded when missing); exits with one line when a
    file cannot be had."""
    os.makedirs(data, exist_ok=True)
    for name, (path, digest) in FILES.items():
        dest = os.path.join(data, name)
        if not os.path.exists(dest):
            url = TUTORIALS + path
            tmp = dest + ".part"
            try:
                with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
                    f.write(r.read())
            except OSError as exc:
                if os.path.exists(tmp):
                    os.remove(tmp)
                sys.exit(f"shape.py: cannot download {url} ({exc}); put {', '.join(FILES)} "
                         f"(mitsuba-tutorials/scenes) into {data}")
            os.replace(tmp, dest)
        if sha256(dest) != digest:
            sys.exit(f"shape.py: {dest}: SHA-256 differs from the tutorial's file (delete it to "
                     "download it again)")
    return data


def camera_origins(n=VIEWS, d=DISTANCE):
    """The tutorial's cameras: a Fibonacci lattice on the sphere of radius d."""
    golden = (1 + 5 ** 0.5) / 2
    out = []
    for i in range(n):
        theta = 2 * math.pi * i / golden
        phi = math.acos(1 - 2 * (i + 0.5) / n)
        out.append((d * math.cos(theta) * math.sin(phi), d * math.sin(theta) * math.sin(phi),
                    d * math.cos(phi)))
    return out


def scene_xml(mesh, envmap, res=RES, spp=SPP):
    """The tutorial's scene as Mitsuba XML: ``mesh`` (id ``shape``), the envmap, 8 sensors
    ``view0`` ... ``view7``."""
    sensors = "".join(f"""
    <sensor type="perspective" id="view{i}">
        <float name="fov" value="{FOV}"/>
        <transform name="to_world">
            <lookat origin="{o[0]:.9g}, {o[1]:.9g}, {o[2]:.9g}" target="0, 0, 0" up="0, 1, 0"/>
        </transform>
        <sampler type="independent"><integer name="sample_count" value="$spp"/></sampler>
        <film type="hdrfilm">
            <integer name="width" value="$res"/><integer name="height" value="$res"/>
            <rfilter type="gaussian"/>
            <boolean name="sample_border" value="true"/>
        </film>
    </sensor>""" for i, o in enumerate(camera_origins()))
    return f"""<scene version="3.0.0">
    <default name="res" value="{res}"/>
    <default name="spp" value="{spp}"/>
    <integrator type="path"><integer name="max_depth" value="2"/></integrator>
    <emitter type="envmap"><string name="filename" value="{envmap}"/></emitter>
    <shape type="ply" id="shape">
        <string name="filename" value="{mesh}"/>
        <bsdf type="diffuse"/>
    </shape>{sensors}
</scene>
"""


def read_mesh(path):
    """(vertices, faces) of a PLY file, as stored (no merging)."""
    import trimesh

    m = trimesh.load(path, process=False)
    return np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)


def chamfer(a, b, n=CHAMFER_POINTS, seed=0):
    """Chamfer distance of two meshes (vertices, faces): n points uniformly on each surface, the
    mean of both directions' mean nearest-point distance."""
    import trimesh
    from scipy.spatial import cKDTree

    pa, _ = trimesh.sample.sample_surface(trimesh.Trimesh(*a, process=False), n, seed=seed)
    pb, _ = trimesh.sample.sample_surface(trimesh.Trimesh(*b, process=False), n, seed=seed + 1)
    return 0.5 * (float(cKDTree(pb).query(pa)[0].mean()) + float(cKDTree(pa).query(pb)[0].mean()))


def prepare(out, data, res=RES, spp=SPP, target_spp=TARGET_SPP, iterations=ITERATIONS,
            edge_spp=EDGE_SPP, seed=0):
    """Scenes, target renders and the optimize config in ``out``; returns the config's path."""
    os.makedirs(out, exist_ok=True)
    for name, mesh in (("target.xml", "suzanne.ply"), ("source.xml", "ico_10k.ply")):
        with open(os.path.join(out, name), "w") as f:
            f.write(scene_xml(os.path.join(data, mesh), os.path.join(data, "envmap2.exr"), res, spp))
    target = dr.load_scene(os.path.join(out, "target.xml"))
    images = dr.Renderer(target).render_views(range(VIEWS), spp=target_spp, seed=seed + 1)
    targets = []
    for i, img in enumerate(images):
        dr.write_image(os.path.join(out, f"target{i}.exr"), img)
        targets.append({"image": f"target{i}.exr", "sensor": f"view{i}"})
    cfg = {
        "scene": "source.xml",
        "targets": targets,
        "parameters": {"shape.vertex_positions": {
            "smoothing": {"method": "large_steps", "weight": LAMBDA}}},
        "optimizer": {"type": "uniform_adam", "lr": LEARNING_RATE},
        "loss": "l1",
        "views_per_step": 1,
        "iterations": iterations * VIEWS,
        "spp": spp,
        "spp_adjoint": spp,
        "edges": {"primary": True, "secondary": False, "spp": edge_spp},
        "seed": seed,
        "output": "run",
        "render_every": 10 * VIEWS,
        "checkpoint_every": VIEWS,
        "video": "none",
    }
    path = os.path.join(out, "config.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--res", type=int, default=RES)
    ap.add_argument("--spp", type=int, default=SPP)
    ap.add_argument("--edge-spp", type=int, default=EDGE_SPP)
    ap.add_argument("--target-spp", type=int, default=TARGET_SPP)
    ap.add_argument("--iterations", type=int, default=ITERATIONS, help="each: all 8 views")
    ap.add_argument("--data", default=DATA, help="where the tutorial's files are (or go)")
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args(argv)
    data = fetch(a.data)
    config = prepare(a.out, data, a.res, a.spp, a.target_spp, a.iterations, a.edge_spp)
    suzanne = read_mesh(os.path.join(data, "suzanne.ply"))
    start = chamfer(read_mesh(os.path.join(data, "ico_10k.ply")), suzanne)
    cpu, wall = time.process_time(), time.perf_counter()

    def progress(step, total, loss):
        if step % VIEWS == 0:  # a tutorial iteration: every view once
            print(f"iteration {step // VIEWS}/{total // VIEWS}: loss of the last view {loss:.4g}, "
                  f"{time.perf_counter() - wall:.0f} s", flush=True)
    dr.optimize(config, overwrite=True, progress=progress)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    final = chamfer(read_mesh(os.path.join(a.out, "run", "scene_optimized.shape.ply")), suzanne)
    print(f"Chamfer distance to Suzanne: start {start:.4f}, after {a.iterations} iterations "
          f"{final:.4f}")
    print(f"time per iteration ({VIEWS} views): {cpu / a.iterations:.2f} s CPU, "
          f"{wall / a.iterations:.2f} s wall (the first includes kernel compilation); "
          f"outputs in {os.path.join(a.out, 'run')}")


if __name__ == "__main__":
    main()
