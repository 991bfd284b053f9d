"""Forward renderer benchmark: the bundled Cornell box (256x256, max_depth 5, 64 spp).

Prints JSON lines: first render in this process (compile or kernel-cache load included), the
steady-state render time, samples/s, and, when Mitsuba 3 is installed, the same scene rendered
by Mitsuba's ``llvm_ad_rgb`` variant in this process and the time ratio.

    python benchmarks/render_cornell.py [--threads N] [--spp 64] [--res 256] [--repeat 3]
"""
import argparse
import json
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SCENE = os.path.join(ROOT, "scenes", "cornell-box", "scene.xml")


def cpu_s():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spp", type=int, default=64)
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    t0 = time.perf_counter()
    from diffrender.engine import init
    init("cpu", threads=a.threads)
    from diffrender.render import Renderer
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
                      "process_to_image_s": round(t_first - t0, 3)}))
    best, best_cpu = float("inf"), None
    for i in range(a.repeat):
        c = cpu_s()
        t = time.perf_counter()
        r.render(seed=i + 1)
        dt = time.perf_counter() - t
        if dt < best:
            best, best_cpu = dt, cpu_s() - c
    out = {"bench": "render_cornell", "what": "steady", "res": a.res, "spp": a.spp,
           "threads": a.threads, "seconds": round(best, 3), "cpu_seconds": round(best_cpu, 3),
           "msamples_per_s": round(n / best / 1e6, 3)}
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
    mi.render(ms, spp=a.spp)
    dr.sync_thread()
    mbest = float("inf")
    for i in range(a.repeat):
        t = time.perf_counter()
        img = mi.render(ms, spp=a.spp, seed=i + 1)
        dr.eval(img)
        dr.sync_thread()
        mbest = min(mbest, time.perf_counter() - t)
    out.update(peer="mitsuba llvm_ad_rgb", peer_seconds=round(mbest, 3),
               ratio_to_peer=round(best / mbest, 3))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
