"""Render benchmark: diffrender against Mitsuba 3 (``llvm_ad_rgb``) on the bundled scenes.

For every ``scenes/*/scene.xml`` (or ``--scenes``) prints one JSON line with

- ``relmse_diffrender``: relative MSE of diffrender's image at ``--spp`` against a high-spp Mitsuba
  image (``--reference-spp``, cached under ``benchmarks/.cache/``);
- ``relmse_mitsuba``: the same for Mitsuba's own image at equal spp: the Monte Carlo noise floor;
- ``relmse_block8_*``: the same after averaging 8x8 pixel blocks (noise shrinks ~64x, a bias
  does not: this is the number that shows a systematic difference);
- steady-state render times (best of ``--repeats`` after a warm-up call), their ratio
  ``ratio_vs_mitsuba`` (diffrender / Mitsuba: > 1 means diffrender is slower) and samples/s;
- first-call times measured in fresh subprocesses: diffrender with its kernel cache as it is
  (``diffrender_first_call_s``) and with an empty one (``diffrender_first_call_cold_s``, i.e. the
  compile time), Mitsuba with an empty Dr.Jit kernel cache (``mitsuba_first_call_cold_s``).

With ``--spp 1024`` (or more) each line also carries the "agrees within Monte Carlo noise" check:
``relmse_vs_mitsuba_equal_spp`` (diffrender vs Mitsuba, both at ``--spp``), which for two unbiased
renderers with the same noise is about twice the noise floor; ``agreement_ratio`` is it divided by
``2 * relmse_mitsuba`` and ``agrees`` is ``agreement_ratio <= 1.5`` and the block-8 relative MSE of
diffrender at most 2x Mitsuba's + 1e-5.

A missing diffrender renderer or Mitsuba peer is reported in ``diffrender_skip`` /
``mitsuba_skip`` and the other side still runs. A scene with diffrender-only plugins (user
shaders) is compared as a variant without them, rendered by both (``mitsuba_variant`` lists the
changes: shapes with a shader BSDF removed, shader textures replaced by a constant 0.5).
``--same-mesh`` adds Mitsuba's time on the scene with its analytic spheres replaced by the
triangle meshes diffrender tessellates them into (``ratio_vs_mitsuba_same_mesh``: the same
geometry traced by both). Usage (repository root)::

    python benchmarks/bench_render.py                          # all scenes, 256x256, 64 spp
    python benchmarks/bench_render.py --scenes cornell-box --spp 1024
    python benchmarks/bench_render.py --res 128 --no-first-call --reference-spp 1024
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.join(HERE, ".cache")
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from diffrender.metrics import relative_mse as relmse  # noqa: E402
from make_references import block_mean  # noqa: E402


# --------------------------------------------------------------------------------------- scenes


def scene_paths(selection: list[str] | None) -> list[str]:
    """``scenes/<name>/scene.xml`` for every name in ``selection`` (names or paths); all bundled
    scenes when empty."""
    if not selection:
        return sorted(glob.glob(os.path.join(ROOT, "scenes", "*", "scene.xml")))
    out = []
    for s in selection:
        if os.path.isfile(s):
            out.append(os.path.abspath(s))
        elif os.path.isfile(os.path.join(ROOT, "scenes", s, "scene.xml")):
            out.append(os.path.join(ROOT, "scenes", s, "scene.xml"))
        else:
            raise SystemExit(f"bench_render: no scene '{s}' (expected scenes/{s}/scene.xml or a file)")
    return out


def scene_name(path: str) -> str:
    if os.path.basename(path) == "scene.xml":
        return os.path.basename(os.path.dirname(path))
    return os.path.splitext(os.path.basename(path))[0]


def scene_defaults(path: str) -> dict[str, str]:
    """The ``<default name=... value=...>`` entries of a Mitsuba XML file."""
    root = ET.parse(path).getroot()
    return {e.get("name"): e.get("value") for e in root.iter("default")}


def scene_defines(path: str, res: int | None) -> dict:
    """Defines to pass: ``res`` when the scene declares it (Mitsuba rejects unused defines)."""
    d = scene_defaults(path)
    out = {}
    if res is not None:
        if "res" in d:
            out["res"] = int(res)
        else:
            print(f"bench_render: {path} has no <default name=\"res\">; --res ignored", file=sys.stderr)
    return out


def scene_digest(path: str) -> str:
    """SHA-256 of the scene file and every file next to / below it (meshes, textures)."""
    h = hashlib.sha256()
    base = os.path.dirname(path)
    for dirpath, _, files in sorted(os.walk(base)):
        for f in sorted(files):
            p = os.path.join(dirpath, f)
            h.update(os.path.relpath(p, base).encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()[:16]


def mitsuba_variant(path: str) -> tuple[str | None, list[str]]:
    """For a scene with diffrender-only plugins (user ``shader`` BSDFs and textures): the same
    scene without them, written next to it (relative file names stay valid), which both
    renderers then render. Shapes whose BSDF is (or nests) a shader are removed; a shader
    texture becomes ``<float value="0.5">``. Returns (variant file or None, what changed)."""
    tree = ET.parse(path)
    root = tree.getroot()
    notes = []
    parents = {c: p for p in root.iter() for c in p}
    for shape in list(root.iter("shape")):
        if any(b.get("type") == "shader" for b in shape.iter("bsdf")):
            parents[shape].remove(shape)
            notes.append(f"removed shape '{shape.get('id') or shape.get('type')}' (shader BSDF)")
    for tex in list(root.iter("texture")):
        if tex.get("type") == "shader" and tex in parents:
            par = parents[tex]
            i = list(par).index(tex)
            par.remove(tex)
            par.insert(i, ET.Element("float", {"name": tex.get("name", ""), "value": "0.5"}))
            notes.append(f"shader texture '{tex.get('name')}' -> float 0.5")
    if not notes:
        return None, []
    out = os.path.join(os.path.dirname(path), ".bench-mitsuba-variant.xml")
    tree.write(out, encoding="utf-8", xml_declaration=True)
    return out, notes


def same_mesh_variant(path: str, defines: dict, out_dir: str) -> str | None:
    """The scene with each analytic ``sphere`` replaced by the triangle mesh diffrender renders
    for it (a world-space PLY with its normals and uvs in ``out_dir``), so that Mitsuba traces
    the same geometry; None when the scene has no sphere. Other analytic shapes (rectangle,
    cube, disk) are already triangle meshes in Mitsuba too."""
    import warnings

    import trimesh

    import diffrender

    tree = ET.parse(path)
    els = [e for e in tree.getroot().iter("shape") if e.get("type") == "sphere"]
    if not els:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = diffrender.load_scene(path, allow_shaders=True, **defines)
        spheres = [s for s in scene.shapes if s.type == "sphere"]
    assert len(spheres) == len(els), (len(spheres), len(els))
    for k, (el, sh) in enumerate(zip(els, spheres)):
        f = os.path.join(out_dir, f"sphere_{k}.ply")
        m = trimesh.Trimesh(sh.vertices, sh.faces, vertex_normals=sh.normals, process=False)
        if sh.uvs is not None:
            m.visual = trimesh.visual.TextureVisuals(uv=sh.uvs)
        m.export(f)
        for c in list(el):
            if c.tag in ("point", "float", "transform"):
                el.remove(c)
        el.set("type", "ply")
        el.insert(0, ET.Element("string", {"name": "filename", "value": f}))
    out = os.path.join(os.path.dirname(path), ".bench-mitsuba-mesh.xml")
    tree.write(out, encoding="utf-8", xml_declaration=True)
    return out


# ------------------------------------------------------------------------------------ diffrender


def diffrender_renderer(path: str, defines: dict, threads: int):
    """(render(spp, seed) -> image, None) or (None, reason)."""
    try:
        import diffrender
        from diffrender import engine
    except ImportError as exc:
        return None, f"diffrender does not import: {exc}"
    try:
        engine.init("cpu", threads=threads)
    except Exception as exc:  # noqa: BLE001
        return None, f"engine could not start: {exc}"
    try:
        scene = diffrender.load_scene(path, allow_shaders=True, **defines)
    except ImportError as exc:
        return None, f"diffrender.load_scene is not available yet: {exc}"
    except Exception as exc:  # noqa: BLE001
        return None, f"diffrender.load_scene failed: {type(exc).__name__}: {exc}"
    try:
        from diffrender.core import Renderer

        renderer = Renderer(scene)

        def render(spp, seed):
            img = renderer.render(spp=spp, seed=seed)
            img = img["color"] if isinstance(img, dict) else img
            return np.asarray(img, np.float32)[:, :, :3]

        return render, None
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001
        return None, f"diffrender.core.Renderer failed: {type(exc).__name__}: {exc}"
    try:
        from diffrender.core import render as render_fn
    except ImportError as exc:
        return None, f"diffrender.core is not available: {exc}"

    def render(spp, seed):
        return np.asarray(render_fn(scene, spp=spp, seed=seed), np.float32)[:, :, :3]

    return render, None


def time_calls(render, spp: int, repeats: int, seed0: int = 1):
    """Warm-up call, then ``repeats`` timed calls; (last image, warm-up time, times)."""
    t0 = time.perf_counter()
    img = render(spp, seed0)
    warm = time.perf_counter() - t0
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        img = render(spp, seed0 + 1 + r)
        times.append(time.perf_counter() - t0)
    return img, warm, times


# -------------------------------------------------------------- first call in a fresh subprocess


def child_first_call(which: str, path: str, defines: dict, spp: int, threads: int) -> dict:
    """Runs inside the subprocess: everything from import to the first image."""
    t0 = time.perf_counter()
    if which == "diffrender":
        render, why = diffrender_renderer(path, defines, threads)
        if render is None:
            return {"skip": why}
        render(spp, 0)
    else:
        from peers import get_mitsuba

        peer, why = get_mitsuba("llvm_ad_rgb", threads=threads)
        if peer is None:
            return {"skip": why}
        peer.render(peer.load(path, **defines), spp, 0)
    return {"first_call_s": time.perf_counter() - t0}


def first_call(which: str, path: str, defines: dict, spp: int, threads: int, cold: bool,
               timeout: float = 1800) -> tuple[float | None, str | None]:
    env = dict(os.environ)
    env["DIFFRENDER_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory(prefix="bench_render_") as tmp:
        if cold:  # empty kernel caches: diffrender's under XDG_CACHE_HOME, Dr.Jit's under ~/.drjit
            env["XDG_CACHE_HOME"] = tmp
            if which == "mitsuba":
                env["HOME"] = tmp
        cmd = [sys.executable, os.path.abspath(__file__), "--_child", which, "--_path", path,
               "--_defines", json.dumps(defines), "--spp", str(spp), "--threads", str(threads)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return None, f"first call took over {timeout:.0f} s"
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"subprocess failed ({p.returncode}): {tail}"
    r = json.loads(lines[-1])
    return r.get("first_call_s"), r.get("skip")


# ------------------------------------------------------------------------------------- metrics


def block8(img: np.ndarray) -> np.ndarray:
    """8x8 block means (the image cropped to a multiple of 8)."""
    h, w = img.shape[0] // 8 * 8, img.shape[1] // 8 * 8
    return block_mean(np.asarray(img, np.float64)[:h, :w, :3], 8)


def reference_image(peer, path: str, defines: dict, spp: int,
                    name: str | None = None) -> tuple[np.ndarray, str]:
    """High-spp Mitsuba image, cached by scene content, defines, spp and Mitsuba version."""
    from diffrender.image import read_image, write_image

    key = "_".join([name or scene_name(path), *(f"{k}{v}" for k, v in sorted(defines.items())),
                    f"spp{spp}", f"mi{peer.version}", peer.variant, scene_digest(path)])
    file = os.path.join(CACHE, key + ".exr")
    if os.path.isfile(file):
        return read_image(file)[:, :, :3], file
    scene = peer.load(path, **defines)
    img = peer.render(scene, spp, seed=123457)
    os.makedirs(CACHE, exist_ok=True)
    write_image(file, img)
    return img, file


# ----------------------------------------------------------------------------------------- main


def bench_scene(path: str, args, peer, peer_why) -> dict:
    variant, notes = mitsuba_variant(path) if peer is not None else (None, [])
    try:
        return _bench_scene(path, variant, notes, args, peer, peer_why)
    finally:
        if variant is not None and os.path.exists(variant):
            os.remove(variant)


def _bench_scene(path: str, variant, notes, args, peer, peer_why) -> dict:
    defines = scene_defines(path, args.res)
    out = {"bench": "render", "scene": scene_name(path), "file": os.path.relpath(path, ROOT),
           "defines": defines, "spp": args.spp, "threads": args.threads,
           "reference_spp": args.reference_spp, "repeats": args.repeats}
    name = scene_name(path)
    if variant is not None:
        # both renderers render the scene without its diffrender-only parts
        out["mitsuba_variant"] = notes
        name += "-variant"
        path = variant
    ref = ours = theirs = None
    if peer is not None:
        try:  # a scene the peer's loader refuses: reported, diffrender still runs
            peer.load(path, **defines)
        except Exception as exc:  # noqa: BLE001 - the peer's own loader error, reported
            peer_why = "mitsuba cannot load the scene: " + str(exc).splitlines()[0][-200:]
            peer = None
    if peer is not None:
        out["mitsuba"] = peer.describe()
        ref, ref_file = reference_image(peer, path, defines, args.reference_spp, name)
        out["reference"] = os.path.relpath(ref_file, ROOT)
        scene = peer.load(path, **defines)
        t = peer.time_render(scene, args.spp, seed=1, repeats=args.repeats)
        theirs = t["image"]
        w, h = peer.film_size(scene)
        out.update(width=w, height=h, mitsuba_steady_s=t["steady_s"], mitsuba_warmup_s=t["first_s"],
                   mitsuba_samples_per_s=t["samples_per_s"], mitsuba_passes=t["passes"],
                   relmse_mitsuba=relmse(theirs, ref),
                   relmse_block8_mitsuba=relmse(block8(theirs), block8(ref)))
    else:
        out["mitsuba_skip"] = peer_why

    render, why = diffrender_renderer(path, defines, args.threads)
    if render is None:
        out["diffrender_skip"] = why
    else:
        try:
            ours, warm, times = time_calls(render, args.spp, args.repeats)
        except Exception as exc:  # noqa: BLE001
            out["diffrender_skip"] = f"render failed: {type(exc).__name__}: {exc}"
            ours = None
        if ours is not None:
            h, w = ours.shape[:2]
            steady = min(times)
            out.update(diffrender_steady_s=steady, diffrender_warmup_s=warm,
                       diffrender_samples_per_s=w * h * args.spp / steady)
            if ref is not None:
                if ref.shape != ours.shape:
                    out["diffrender_skip"] = f"image size {w}x{h} differs from Mitsuba's {ref.shape[1]}x{ref.shape[0]}"
                else:
                    out["relmse_diffrender"] = relmse(ours, ref)
                    out["relmse_block8_diffrender"] = relmse(block8(ours), block8(ref))
                    out["ratio_vs_mitsuba"] = steady / out["mitsuba_steady_s"]
                    if getattr(args, "same_mesh", False):
                        mesh_dir = tempfile.mkdtemp()
                        mesh = same_mesh_variant(path, defines, mesh_dir)
                        if mesh is not None:
                            try:
                                tm = peer.time_render(peer.load(mesh, **defines), args.spp,
                                                      seed=1, repeats=args.repeats)
                            finally:
                                os.remove(mesh)
                            out["mitsuba_same_mesh_steady_s"] = tm["steady_s"]
                            out["ratio_vs_mitsuba_same_mesh"] = steady / tm["steady_s"]
                    out["relmse_vs_mitsuba_equal_spp"] = relmse(ours, theirs)
                    if args.spp >= 1024:
                        ratio = out["relmse_vs_mitsuba_equal_spp"] / max(1e-12, 2 * out["relmse_mitsuba"])
                        out["agreement_ratio"] = ratio
                        out["agrees"] = bool(ratio <= 1.5 and out["relmse_block8_diffrender"]
                                             <= 2 * out["relmse_block8_mitsuba"] + 1e-5)

    if args.first_call:
        for which, cold, key in (("diffrender", False, "diffrender_first_call_s"),
                                 ("diffrender", True, "diffrender_first_call_cold_s"),
                                 ("mitsuba", True, "mitsuba_first_call_cold_s")):
            if which == "diffrender" and render is None or which == "mitsuba" and peer is None:
                continue
            if cold and not args.cold:
                continue
            val, skip = first_call(which, path, defines, args.spp, args.threads, cold)
            out[key] = val
            if skip:
                out[key.replace("_s", "_skip")] = skip
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="diffrender vs Mitsuba 3 render benchmark (JSON lines)")
    ap.add_argument("--scenes", nargs="*", default=None, help="scene names under scenes/ or XML files")
    ap.add_argument("--spp", type=int, default=64)
    ap.add_argument("--res", type=int, default=256, help="film size (the scene's 'res' default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reference-spp", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=2, help="timed calls after the warm-up")
    ap.add_argument("--no-first-call", dest="first_call", action="store_false",
                    help="skip the fresh-subprocess first-call timings")
    ap.add_argument("--no-cold", dest="cold", action="store_false",
                    help="first-call timings with the kernel caches as they are only")
    ap.add_argument("--same-mesh", action="store_true",
                    help="also time Mitsuba on the scene with its spheres replaced by the "
                         "triangle meshes diffrender renders (ratio_vs_mitsuba_same_mesh)")
    ap.add_argument("--_child", choices=["diffrender", "mitsuba"], help=argparse.SUPPRESS)
    ap.add_argument("--_path", help=argparse.SUPPRESS)
    ap.add_argument("--_defines", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._child:
        print(json.dumps(child_first_call(args._child, args._path, json.loads(args._defines),
                                          args.spp, args.threads)), flush=True)
        return 0

    from peers import get_mitsuba

    peer, why = get_mitsuba("llvm_ad_rgb", threads=args.threads)
    for path in scene_paths(args.scenes):
        line = bench_scene(path, args, peer, why)
        print(json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in line.items()}),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
