"""Scene load + BVH build + upload against Mitsuba 3's scene load (issue #17, item 2).

Two scenes are written into a temporary folder: one binary-PLY mesh of ``--tris`` triangles (a
UV sphere, no vertex normals: both loaders compute them) and a many-mesh "export" of
``--meshes`` PLY files of about ``--mesh-tris`` triangles each (spheres of different sizes on a
grid, positions baked into the files). Each is loaded ``--pairs`` times by diffrender and by
Mitsuba (``llvm_ad_rgb``, 2 threads), alternating, every load in a FRESH Python process (no
imports, caches or allocations carry over). Inside the process:

- import: ``import diffrender`` (with the modules it imports lazily: the scene loader, the
  renderer) + engine start (``diffrender.init('cpu')``) / ``import mitsuba`` + ``set_variant``
  (reported, not part of the ratio);
- diffrender ``load`` (``load_scene``: parse, read the meshes, normals), ``bvh`` (the BVH build
  and its collapse into the wide tree) and ``upload`` (the rest of ``Renderer(scene)``: merging
  the shapes, per-triangle data, the field writes); ``total`` = load + Renderer;
- Mitsuba ``load`` (``mi.load_file``, which builds its BVH, then ``dr.sync_thread()``).

Times are CPU seconds of the process (``time.process_time``, all threads) and wall seconds; the
ratio is diffrender total / Mitsuba load per pair, summarised as median and min-max. Memory is
the process's peak RSS (``ru_maxrss``, imports included): ``load_peak_rss_mb`` once the scene is
loaded (diffrender: after ``Renderer(scene)``), ``peak_rss_mb`` at the end (after the renders,
with ``--render-spp``). ``--render-spp N`` also times a warm render (after one untimed render at
the same settings) of each scene in both processes: the BVH's quality for rendering.

Kernel caches: by default both sides use their usual caches (diffrender's Taichi kernels under
``$XDG_CACHE_HOME``, Dr.Jit's under ``~/.drjit``), warm after the first run. ``--cold`` gives
every process an empty ``XDG_CACHE_HOME`` and ``HOME`` of its own: every load then includes
compiling the kernels it launches (diffrender: the BVH build and collapse kernels; Mitsuba: its
Dr.Jit kernels).

    python benchmarks/bench_load.py [--tris 1000000] [--meshes 400] [--mesh-tris 2000] \
        [--pairs 3] [--cases big,many] [--render-spp 0] [--res 64] [--cold]

One JSON line per process run, and one summary line per case.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASES = ("big", "many")
MITSUBA_VARIANT = "llvm_ad_rgb"
THREADS = 2
GRID_SPACING = 2.5  # distance between the many-mesh scene's spheres

SCENE_XML = """<scene version="3.0.0">
    <default name="res" value="{res}"/>
    <integrator type="path"><integer name="max_depth" value="3"/></integrator>
    <sensor type="perspective">
        <float name="fov" value="40"/>
        <transform name="to_world"><lookat origin="{eye}" target="{target}" up="0, 1, 0"/></transform>
        <sampler type="independent"><integer name="sample_count" value="4"/></sampler>
        <film type="hdrfilm">
            <integer name="width" value="$res"/><integer name="height" value="$res"/>
            <rfilter type="box"/>
        </film>
    </sensor>
    <bsdf type="diffuse" id="grey"><rgb name="reflectance" value="0.6"/></bsdf>
    <emitter type="constant"><rgb name="radiance" value="1.0"/></emitter>
{shapes}
</scene>
"""
SHAPE_XML = '    <shape type="ply"><string name="filename" value="{file}"/><ref id="grey"/></shape>'


# --- scenes ------------------------------------------------------------------------------------

def sphere(n_tris, radius=1.0, centre=(0.0, 0.0, 0.0), seed=0):
    """A UV sphere of about ``n_tris`` triangles (vertices, faces), slightly jittered."""
    import trimesh

    seg = max(8, int(round(np.sqrt(n_tris / 2.0))))
    rings = max(4, seg // 2)
    m = trimesh.creation.uv_sphere(radius=radius, count=[rings, seg])
    v = np.asarray(m.vertices, np.float64)
    rng = np.random.default_rng(seed)
    v = v * (1.0 + 0.002 * rng.standard_normal((len(v), 1))) + np.asarray(centre)
    return v, np.asarray(m.faces, np.int64)


def write_ply(path, v, f):
    """Binary little-endian PLY: float x y z, uchar-int vertex_indices (what exporters write)."""
    vd = np.asarray(v, "<f4")
    fd = np.zeros(len(f), [("n", "u1"), ("i", "<i4", (3,))])
    fd["n"] = 3
    fd["i"] = f
    header = (f"ply\nformat binary_little_endian 1.0\nelement vertex {len(vd)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n")
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii") + vd.tobytes() + fd.tobytes())


def make_big(folder, n_tris, res):
    v, f = sphere(n_tris)
    write_ply(os.path.join(folder, "big.ply"), v, f)
    path = os.path.join(folder, "big.xml")
    with open(path, "w") as fh:
        fh.write(SCENE_XML.format(res=res, eye="0, 0, 4", target="0, 0, 0",
                                  shapes=SHAPE_XML.format(file="big.ply")))
    return path, int(len(f))


def make_many(folder, n_meshes, mesh_tris, res):
    side = int(np.ceil(np.sqrt(n_meshes)))
    shapes, total = [], 0
    os.makedirs(os.path.join(folder, "meshes"), exist_ok=True)
    for i in range(n_meshes):
        cx = (i % side - (side - 1) / 2) * GRID_SPACING
        cy = (i // side - (side - 1) / 2) * GRID_SPACING
        v, f = sphere(mesh_tris, radius=0.6 + 0.5 * ((i * 7919) % 97) / 97, centre=(cx, cy, 0.0),
                      seed=i + 1)
        name = f"meshes/m{i:04d}.ply"
        write_ply(os.path.join(folder, name), v, f)
        shapes.append(SHAPE_XML.format(file=name))
        total += len(f)
    path = os.path.join(folder, "many.xml")
    dist = side * GRID_SPACING * 1.5
    with open(path, "w") as fh:
        fh.write(SCENE_XML.format(res=res, eye=f"0, 0, {dist:.3f}", target="0, 0, 0",
                                  shapes="\n".join(shapes)))
    return path, total


# --- the measured processes ----------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def lap(self):
        c, w = time.process_time(), time.perf_counter()
        out = (c - self.cpu, w - self.wall)
        self.cpu, self.wall = c, w
        return out


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child_diffrender(scene_path, render_spp):
    clock = Clock()
    sys.path.insert(0, ROOT)
    import diffrender as dr
    from diffrender.core import geometry

    dr.init("cpu")
    load_scene, renderer = dr.load_scene, dr.Renderer  # the lazily imported modules, now
    out = {}
    out["import_cpu_s"], out["import_wall_s"] = clock.lap()
    # The BVH part of Renderer(scene): the builders and the collapse into the wide tree.
    spent = [0.0, 0.0]

    def timed(fn):
        def run(*a, **k):
            c = Clock()
            try:
                return fn(*a, **k)
            finally:
                dc, dw = c.lap()
                spent[0] += dc
                spent[1] += dw
        return run

    for name in ("build_bvh", "_small_bvh", "collapse_wide"):
        setattr(geometry, name, timed(getattr(geometry, name)))
    clock.lap()
    scene = load_scene(scene_path)
    out["load_cpu_s"], out["load_wall_s"] = clock.lap()
    r = renderer(scene)
    rc, rw = clock.lap()
    out.update(bvh_cpu_s=spent[0], bvh_wall_s=spent[1], upload_cpu_s=rc - spent[0],
               upload_wall_s=rw - spent[1])
    out["total_cpu_s"] = out["load_cpu_s"] + rc
    out["total_wall_s"] = out["load_wall_s"] + rw
    out["triangles"] = int(r.geometry.n_tris)
    out["load_peak_rss_mb"] = peak_rss_mb()
    if render_spp:
        r.render(spp=render_spp, seed=0)
        clock.lap()
        img = r.render(spp=render_spp, seed=1)
        out["render_cpu_s"], out["render_wall_s"] = clock.lap()
        out["render_mean"] = float(np.mean(img))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def child_mitsuba(scene_path, render_spp):
    clock = Clock()
    sys.path.insert(0, HERE)
    from peers import get_mitsuba

    peer, why = get_mitsuba(MITSUBA_VARIANT, threads=THREADS)
    if peer is None:
        return {"skip": why}
    out = {}
    out["import_cpu_s"], out["import_wall_s"] = clock.lap()
    scene = peer.mi.load_file(scene_path)
    peer.dr.sync_thread()
    out["load_cpu_s"], out["load_wall_s"] = clock.lap()
    out["triangles"] = int(sum(s.face_count() for s in scene.shapes()))
    out["load_peak_rss_mb"] = peak_rss_mb()
    if render_spp:
        peer.render(scene, spp=render_spp, seed=0)
        clock.lap()
        img = peer.render(scene, spp=render_spp, seed=1)
        out["render_cpu_s"], out["render_wall_s"] = clock.lap()
        out["render_mean"] = float(np.mean(img))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def run_child(who, scene_path, render_spp, cold_dir=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", who, "--scene", scene_path,
           "--render-spp", str(render_spp)]
    env = None
    if cold_dir is not None:  # empty kernel caches: diffrender's and Dr.Jit's
        os.makedirs(cold_dir)
        env = dict(os.environ, XDG_CACHE_HOME=cold_dir, HOME=cold_dir)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def stats(values):
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tris", type=int, default=1_000_000, help="triangles of the one-mesh scene")
    ap.add_argument("--meshes", type=int, default=400, help="meshes of the many-mesh scene")
    ap.add_argument("--mesh-tris", type=int, default=2000, help="triangles per mesh (many)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--res", type=int, default=64, help="film size of the scenes (renders)")
    ap.add_argument("--render-spp", type=int, default=0,
                    help="also time a warm render at this spp (0: no render)")
    ap.add_argument("--cold", action="store_true",
                    help="every process starts with empty kernel caches (compiles included)")
    ap.add_argument("--keep", default=None, help="write the scenes here (kept) instead of a "
                    "temporary folder")
    ap.add_argument("--child", choices=("diffrender", "mitsuba"), help=argparse.SUPPRESS)
    ap.add_argument("--scene", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        fn = child_diffrender if a.child == "diffrender" else child_mitsuba
        print(json.dumps(fn(a.scene, a.render_spp)))
        return
    cases = [c for c in a.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case '{c}' (expected {', '.join(CASES)})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.keep or tmp
        os.makedirs(folder, exist_ok=True)
        for case in cases:
            if case == "big":
                path, n = make_big(folder, a.tris, a.res)
            else:
                path, n = make_many(folder, a.meshes, a.mesh_tris, a.res)
            runs = {"diffrender": [], "mitsuba": []}
            for i in range(a.pairs):
                order = ("diffrender", "mitsuba") if i % 2 == 0 else ("mitsuba", "diffrender")
                for who in order:
                    cold = (os.path.join(tmp, "caches", f"{case}-{who}-{i}") if a.cold
                            else None)
                    res = run_child(who, path, a.render_spp, cold)
                    runs[who].append(res)
                    print(json.dumps({"bench": "load", "case": case, "pair": i, "who": who,
                                      "cache": "cold" if a.cold else "warm",
                                      **{k: round(v, 4) if isinstance(v, float) else v
                                         for k, v in res.items()}}), flush=True)
            summary(case, n, runs, a)


def summary(case, n, runs, a):
    d = [r for r in runs["diffrender"] if "total_cpu_s" in r]
    m = [r for r in runs["mitsuba"] if "load_cpu_s" in r]
    out = {"bench": "load_summary", "case": case, "triangles": n, "pairs": a.pairs,
           "meshes": a.meshes if case == "many" else 1, "cache": "cold" if a.cold else "warm"}
    for k in ("load", "bvh", "upload", "total", "import"):
        if d:
            out[f"diffrender_{k}_cpu_s"] = stats([r[f"{k}_cpu_s"] for r in d])
            out[f"diffrender_{k}_wall_s"] = stats([r[f"{k}_wall_s"] for r in d])
    if d:
        out["diffrender_load_peak_rss_mb"] = stats([r["load_peak_rss_mb"] for r in d])
        out["diffrender_peak_rss_mb"] = stats([r["peak_rss_mb"] for r in d])
    if m:
        for k in ("load", "import"):
            out[f"mitsuba_{k}_cpu_s"] = stats([r[f"{k}_cpu_s"] for r in m])
            out[f"mitsuba_{k}_wall_s"] = stats([r[f"{k}_wall_s"] for r in m])
        out["mitsuba_load_peak_rss_mb"] = stats([r["load_peak_rss_mb"] for r in m])
        out["mitsuba_peak_rss_mb"] = stats([r["peak_rss_mb"] for r in m])
    else:
        out["mitsuba_skip"] = next((r.get("skip") or r.get("error") for r in runs["mitsuba"]),
                                   "not run")
    if d and m and len(d) == len(m):
        out["ratio_cpu"] = stats([x["total_cpu_s"] / y["load_cpu_s"] for x, y in zip(d, m)])
        out["ratio_wall"] = stats([x["total_wall_s"] / y["load_wall_s"] for x, y in zip(d, m)])
        out["ratio_load_peak_rss"] = stats([x["load_peak_rss_mb"] / y["load_peak_rss_mb"]
                                            for x, y in zip(d, m)])
        out["ratio_peak_rss"] = stats([x["peak_rss_mb"] / y["peak_rss_mb"] for x, y in zip(d, m)])
        if a.render_spp:
            out["render_ratio_cpu"] = stats([x["render_cpu_s"] / y["render_cpu_s"]
                                             for x, y in zip(d, m)])
    if not d:
        out["diffrender_error"] = next((r.get("error") for r in runs["diffrender"]), "not run")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
