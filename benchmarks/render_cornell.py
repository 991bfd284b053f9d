"""Forward renderer benchmark: the bundled Cornell box (256x256, max_depth 5, 64 spp).

Prints JSON lines:

- ``first_render``: import + engine start + scene load, Renderer construction and the first
  render in this process (kernels compiled, or loaded from the offline cache when warm);
- ``second_renderer``: a second Renderer of the same scene after the first one was dropped:
  its construction and first render re-use the compiled kernels (recycled device set);
- ``steady``: repeated renders (median and best of ``--repeat``), wall and CPU seconds
  (CPU = user + system time of the whole process, all threads: far less sensitive than wall
  time to other jobs on a shared machine), samples/s, and, when Mitsuba 3 is installed, the same
  scene rendered by its ``llvm_ad_rgb`` variant in this process, timed the same way, with the
  ratios ours / Mitsuba.

    python benchmarks/render_cornell.py [--threads N] [--spp 64] [--res 256] [--repeat 5]
"""
import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SCENE = os.path.join(ROOT, "scenes", "cornell-box", "scene.xml")


def cpu_s():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def timed(fn, repeat):
    """(median wall, best wall, median cpu, best cpu) seconds of ``repeat`` calls fn(i)."""
    walls, cpus = [], []
    for i in range(repeat):
        c, t = cpu_s(), time.perf_counter()
        fn(i)
        walls.append(time.perf_counter() - t)
        cpus.append(cpu_s() - c)
    return statistics.median(walls), min(walls), statistics.median(cpus), min(cpus)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spp", type=int, default=64)
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()

    t0 = time.perf_counter()
    c0 = cpu_s()
    from diffrender.engine import init
    init("cpu", threads=a.threads)
    from diffrender.core import Renderer
    from diffrender.scene.loader import load_scene

    scene = load_scene(SCENE, spp=str(a.spp), res=str(a.res))
    t_load = time.perf_counter()
    r = Renderer(scene)
    t_up = time.perf_counter()
    r.render()
    t_first = time.perf_counter()
    n = a.res * a.res * a.spp
    print(json.dumps({"bench": "render_cornell", "what": "first_render", "import_init_load_s":
                      round(t_load - t0, 3), "upload_s": round(t_up - t_load, 3),
                      "first_render_s": round(t_first - t_up, 3),
                      "process_to_image_s": round(t_first - t0, 3),
                      "process_to_image_cpu_s": round(cpu_s() - c0, 3)}), flush=True)
    del r
    gc.collect()
    c, t = cpu_s(), time.perf_counter()
    r = Renderer(load_scene(SCENE, spp=str(a.spp), res=str(a.res)))
    r.render(spp=1)
    print(json.dumps({"bench": "render_cornell", "what": "second_renderer",
                      "construct_and_render_1spp_s": round(time.perf_counter() - t, 3),
                      "cpu_s": round(cpu_s() - c, 3)}), flush=True)
    wm, wb, cm, cb = timed(lambda i: r.render(seed=i + 1), a.repeat)
    out = {"bench": "render_cornell", "what": "steady", "res": a.res, "spp": a.spp,
           "threads": a.threads, "seconds": round(wm, 3), "seconds_best": round(wb, 3),
           "cpu_seconds": round(cm, 3), "cpu_seconds_best": round(cb, 3),
           "msamples_per_s": round(n / wm / 1e6, 3),
           "ns_per_sample_cpu": round(cb / n * 1e9, 1)}
    try:
        import mitsuba as mi
    except ImportError:
        out["peer"] = "mitsuba not installed"
        print(json.dumps(out))
        return
    import drjit as dr
    mi.set_variant("llvm_ad_rgb")
    dr.set_thread_count(a.threads)
    ms = mi.load_file(SCENE, spp=a.spp, res=a.res)
    img = mi.render(ms, spp=a.spp)
    dr.eval(img)
    dr.sync_thread()

    def mitsuba(i):
        im = mi.render(ms, spp=a.spp, seed=i + 1)
        dr.eval(im)
        dr.sync_thread()

    pm, pb, pcm, pcb = timed(mitsuba, a.repeat)
    out.update(peer="mitsuba llvm_ad_rgb", peer_seconds=round(pm, 3),
               peer_cpu_seconds=round(pcm, 3), peer_ns_per_sample_cpu=round(pcb / n * 1e9, 1),
               ratio_to_peer=round(wm / pm, 3), ratio_to_peer_cpu=round(cm / pcm, 3))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
