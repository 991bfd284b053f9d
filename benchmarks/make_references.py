"""Render the Mitsuba 3 reference images of ``tests/data/reference/`` (used by
``tests/core/test_reference_mitsuba.py``).

Each reference is rendered as ``--chunks`` independent passes (seeds ``seed0 + i``) of
``spp / chunks`` samples per pixel; it is stored as

- ``<name>.exr``      the mean image (linear float32 RGB),
- ``<name>.se.exr``   the per-pixel standard error of that mean (from the spread of the passes),
- ``<name>.se4.exr``  the standard error of the 4x4-pixel block means (computed from block means
                      of the passes, so that the correlation between neighbouring pixels that
                      tent/gaussian reconstruction filters introduce is accounted for),
- ``<name>.json``     Mitsuba and Dr.Jit versions, variant, spp, chunks, seeds, the scene file
                      and its defines, the scene file's SHA-256 and this script's name.

Usage (from the repository root; needs the ``bench`` extra and, for llvm_ad_rgb, libLLVM)::

    python benchmarks/make_references.py                 # all references
    python benchmarks/make_references.py --only rfilter_box --spp 1024
    python benchmarks/make_references.py --list
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from peers import get_mitsuba  # noqa: E402

OUT_DIR = os.path.join(ROOT, "tests", "data", "reference")
SCENES = "tests/data/scenes"
BLOCK = 4

#: name -> (scene file relative to the repository root, defines, spp)
REFERENCES = {
    "cornell_box_64": ("scenes/cornell-box/scene.xml", {"res": 64, "max_depth": 5}, 16384),
    "shadow_64": ("scenes/shadow/scene.xml", {"res": 64, "max_depth": 3}, 8192),
    "textured_plane_64": ("scenes/textured-plane/scene.xml", {"res": 64, "max_depth": 3}, 8192),
    "sphere_plane_point": (f"{SCENES}/sphere_plane_point.xml", {"res": 32}, 8192),
    "wall_onesided": (f"{SCENES}/wall_onesided.xml", {"res": 32}, 4096),
    "wall_twosided": (f"{SCENES}/wall_twosided.xml", {"res": 32}, 4096),
    "area_light_direct": (f"{SCENES}/area_light_direct.xml", {"res": 32}, 16384),
    "rfilter_box": (f"{SCENES}/rfilter.xml", {"res": 24, "rfilter": "box"}, 4096),
    "rfilter_tent": (f"{SCENES}/rfilter.xml", {"res": 24, "rfilter": "tent"}, 4096),
    "rfilter_gaussian": (f"{SCENES}/rfilter.xml", {"res": 24, "rfilter": "gaussian"}, 4096),
    "shapes_textured": (f"{SCENES}/shapes_textured.xml", {"res": 48, "max_depth": 4}, 16384),
    "normalmap_32": (f"{SCENES}/normalmap.xml", {"res": 32}, 8192),
    "instancing_32": (f"{SCENES}/instancing.xml", {"res": 32}, 8192),
    "media_24": (f"{SCENES}/media.xml", {"res": 24}, 65536),
}


def scene_sha256(path: str) -> str:
    """SHA-256 of a scene XML file and of the files it names (``<string name="filename">``:
    meshes, textures), so that editing any of them invalidates the reference."""
    import xml.etree.ElementTree as ET

    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    names = sorted({e.get("value") for e in ET.parse(path).getroot().iter("string")
                    if e.get("name") == "filename"})
    for name in names:
        h.update(name.encode())
        with open(os.path.join(os.path.dirname(path), name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def block_mean(img: np.ndarray, b: int) -> np.ndarray:
    """Mean over b x b pixel blocks of a (..., H, W, C) array (H, W multiples of b)."""
    *lead, h, w, c = img.shape
    return img.reshape(*lead, h // b, b, w // b, b, c).mean(axis=(-4, -2))


def render_reference(peer, name: str, spp: int | None, chunks: int, seed0: int) -> dict:
    scene_rel, defines, default_spp = REFERENCES[name]
    spp = int(spp or default_spp)
    if spp % chunks:
        raise SystemExit(f"--spp {spp} is not a multiple of --chunks {chunks}")
    scene_path = os.path.join(ROOT, scene_rel)
    scene = peer.load(scene_path, **defines)
    t0 = time.perf_counter()
    passes = np.stack([peer.render(scene, spp // chunks, seed=seed0 + i) for i in range(chunks)])
    seconds = time.perf_counter() - t0
    passes = passes.astype(np.float64)
    mean = passes.mean(axis=0)
    se = passes.std(axis=0, ddof=1) / np.sqrt(chunks)
    h, w = mean.shape[:2]
    if h % BLOCK or w % BLOCK:
        raise SystemExit(f"{name}: resolution {w}x{h} is not a multiple of the block size {BLOCK}")
    blocks = block_mean(passes, BLOCK)
    se_block = blocks.std(axis=0, ddof=1) / np.sqrt(chunks)
    return {"mean": mean, "se": se, "se_block": se_block, "spp": spp, "seconds": seconds,
            "scene": scene_rel, "defines": defines}


def save(peer, name: str, r: dict, chunks: int, seed0: int) -> None:
    from diffrender.image import write_image

    os.makedirs(OUT_DIR, exist_ok=True)
    base = os.path.join(OUT_DIR, name)
    write_image(base + ".exr", r["mean"].astype(np.float32))
    write_image(base + ".se.exr", r["se"].astype(np.float32))
    write_image(base + f".se{BLOCK}.exr", r["se_block"].astype(np.float32))
    h, w = r["mean"].shape[:2]
    meta = {
        "name": name,
        "scene": r["scene"],
        "scene_sha256": scene_sha256(os.path.join(ROOT, r["scene"])),
        "defines": r["defines"],
        "width": w,
        "height": h,
        "renderer": "mitsuba",
        "mitsuba_version": peer.version,
        "drjit_version": peer.drjit_version,
        "variant": peer.variant,
        "spp": r["spp"],
        "chunks": chunks,
        "spp_per_chunk": r["spp"] // chunks,
        "seeds": list(range(seed0, seed0 + chunks)),
        "block": BLOCK,
        "files": {"mean": f"{name}.exr", "se": f"{name}.se.exr", "se_block": f"{name}.se{BLOCK}.exr"},
        "mean_rgb": [round(float(x), 6) for x in r["mean"].mean(axis=(0, 1))],
        "render_seconds": round(r["seconds"], 2),
        "threads": peer.threads,
        "script": "benchmarks/make_references.py",
        "date": datetime.date.today().isoformat(),
    }
    with open(base + ".json", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=None, help="names to (re)render (default: all)")
    ap.add_argument("--spp", type=int, default=None, help="override every reference's spp")
    ap.add_argument("--chunks", type=int, default=16, help="independent passes per reference")
    ap.add_argument("--seed", type=int, default=1000, help="seed of the first pass")
    ap.add_argument("--variant", default="llvm_ad_rgb")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--list", action="store_true", help="list the references and exit")
    args = ap.parse_args(argv)
    if args.list:
        for name, (scene, defines, spp) in REFERENCES.items():
            print(f"{name:20s} {scene} {defines} spp={spp}")
        return 0
    names = args.only or list(REFERENCES)
    unknown = [n for n in names if n not in REFERENCES]
    if unknown:
        print(f"make_references: unknown reference(s) {', '.join(unknown)}; see --list", file=sys.stderr)
        return 2
    peer, why = get_mitsuba(args.variant, threads=args.threads)
    if peer is None:
        print(f"make_references: Mitsuba is not available: {why}", file=sys.stderr)
        return 1
    for name in names:
        r = render_reference(peer, name, args.spp, args.chunks, args.seed)
        save(peer, name, r, args.chunks, args.seed)
        rel_se = float(np.mean(r["se_block"]) / max(1e-12, float(np.mean(r["mean"]))))
        print(json.dumps({"reference": name, "spp": r["spp"], "seconds": round(r["seconds"], 2),
                          "mean_rgb": [round(float(x), 5) for x in r["mean"].mean(axis=(0, 1))],
                          "mean_rel_block_se": round(rel_se, 5)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
