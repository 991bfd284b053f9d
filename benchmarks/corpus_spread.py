"""Corpus scenes over several seeds: is a difference from Mitsuba beyond Mitsuba's own noise?

``bench_corpus.py`` compares one diffrender render with one Mitsuba render at equal spp; where
its check fails, this script says whether the failure is noise. For each scene (the corpus of
``bench_corpus.py``, chosen with ``--scenes``), at ``--res`` pixels:

- a Mitsuba 3.9.1 (``llvm_ad_rgb``) reference at ``--reference-spp``;
- ``--seeds`` renders at ``--spp`` by Mitsuba and by diffrender; one JSON line with, per
  renderer, the range over seeds of the mean bias (image mean over the reference's, minus 1),
  relMSE and block-8 relMSE against the reference, and of ``bench_corpus.py``'s agreement ratio
  (diffrender's relMSE against Mitsuba's render of the same seed index, over twice Mitsuba's own);
- per shape (``regions``): the pixels that see only that shape (Mitsuba's ``shape_index`` AOV,
  the same shape in 32 one-sample renders; ``background``: nothing), named by the shape's index
  in Mitsuba's scene, its id and its BSDF, with the centre of its pixels (row, column), and
  diffrender's mean over Mitsuba's (both averaged over the seeds) minus 1, its standard error
  from the spread over seeds, and ``z`` (the difference in standard errors). A
  material that renders differently shows as one region with a large ``z``.

Usage (repository root; ``--sources`` as ``bench_corpus.py``)::

    python benchmarks/corpus_spread.py --sources DIR --scenes test_envmap_path --seeds 16
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from bench_corpus import (REFERENCE_SEED, load_manifest, mitsuba_render, scene_file,  # noqa: E402
                          scene_label, shrink_diffrender, shrink_mitsuba)
import diffrender  # noqa: E402
from bench_render import block8  # noqa: E402
from diffrender.metrics import relative_mse as relmse  # noqa: E402

#: one-sample renders of the shape-index AOV that decide which pixels see one shape only
LABEL_PASSES = 32
#: the seeds of the equal-spp renders start here (the reference uses REFERENCE_SEED)
FIRST_SEED = 100
MISS, MIXED = -1, -2


def shape_labels(mi, dr, scene) -> np.ndarray:
    """Per pixel: the index (in ``scene.shapes()``) of the one shape all its samples hit, MISS,
    or MIXED. (The JIT variants' ``shape_index`` AOV is the shape's registry id, not its index.)"""
    ids = np.asarray(dr.reinterpret_array(mi.UInt32, scene.shapes_dr()), np.int64)
    aov = mi.load_dict({"type": "aov", "aovs": "si:shape_index,d:depth"})
    idx, hit = [], []
    for s in range(LABEL_PASSES):
        img = np.asarray(mi.render(scene, spp=1, seed=7000 + s, integrator=aov), np.float64)
        idx.append(img[:, :, -2])
        hit.append(img[:, :, -1] > 0)
    idx, hit = np.array(idx), np.array(hit)
    lab = np.full(idx.shape[1:], MIXED, dtype=np.int64)
    lab[(~hit).all(0)] = MISS
    same = hit.all(0) & (idx.max(0) == idx.min(0))
    index = {int(v): i for i, v in enumerate(ids)}
    lab[same] = [index.get(int(v), MIXED) for v in idx[0][same]]
    return lab


def shape_name(mi, scene, index: int) -> str:
    shapes = scene.shapes()
    if not 0 <= index < len(shapes):
        return f"shape {index}"
    s = shapes[index]
    bsdf = str(s.bsdf()).split("[")[0].strip() if s.bsdf() is not None else "?"
    return f"{index}: {s.id() + ' ' if s.id() else ''}{bsdf}"


def spread(values) -> list[float]:
    return [float(f"{min(values):.4g}"), float(f"{max(values):.4g}")]


def measure(entry, args, peer) -> dict:
    from diffrender.core import Renderer  # starts the engine

    mi = peer.mi
    out = {"bench": "corpus_spread", "scene": scene_label(entry), "res": args.res,
           "spp": args.spp, "reference_spp": args.reference_spp, "seeds": args.seeds}
    path = scene_file(entry, args.sources)
    if path is None:
        out["error"] = "not stored here (licence or size) and not under --sources"
        return out
    ms = peer.load(path)
    shrink_mitsuba(mi, ms, args.res)
    ref = mitsuba_render(peer, ms, args.reference_spp, REFERENCE_SEED).astype(np.float64)
    theirs = [mitsuba_render(peer, ms, args.spp, FIRST_SEED + k).astype(np.float64)
              for k in range(args.seeds)]
    lab = shape_labels(mi, peer.dr, ms)
    scene = diffrender.load_scene(path)
    shrink_diffrender(scene, args.res)
    renderer = Renderer(scene)
    ours = []
    for k in range(args.seeds):
        img = renderer.render(spp=args.spp, seed=FIRST_SEED + k)
        img = img["color"] if isinstance(img, dict) else img
        ours.append(np.asarray(img, np.float64)[:, :, :3])
    mref = float(ref.mean())
    for who, imgs in (("mitsuba", theirs), ("diffrender", ours)):
        out[who] = {"mean_bias": spread([im.mean() / mref - 1 for im in imgs]),
                    "relmse": spread([relmse(im, ref) for im in imgs]),
                    "relmse_block8": spread([relmse(block8(im), block8(ref)) for im in imgs])}
    out["agreement_ratio"] = spread([relmse(d, m) / max(1e-12, 2 * relmse(m, ref))
                                     for d, m in zip(ours, theirs)])
    regions = []
    for v in sorted(set(lab.ravel().tolist()) - {MIXED}):
        m = lab == v
        a = np.array([im[m].mean() for im in ours])
        b = np.array([im[m].mean() for im in theirs])
        rows, cols = np.nonzero(m)
        row = {"region": "background" if v == MISS else shape_name(mi, ms, v),
               "pixels": int(m.sum()),
               "centre": [round(float(rows.mean())), round(float(cols.mean()))],
               "reference_mean": float(f"{ref[m].mean():.5g}")}
        if b.mean() > 0 and args.seeds > 1:
            se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
            row.update(diffrender_over_mitsuba=float(f"{a.mean() / b.mean() - 1:.4g}"),
                       standard_error=float(f"{se / b.mean():.2g}"),
                       z=round(float((a.mean() - b.mean()) / se), 1) if se > 0 else None)
        regions.append(row)
    out["regions"] = regions
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="diffrender vs Mitsuba 3 on corpus scenes, over "
                                             "seeds and per shape (JSON lines)")
    ap.add_argument("--sources", default=os.environ.get("DIFFRENDER_CORPUS_SOURCES"),
                    help="folder of checkouts named owner+name (as bench_corpus.py)")
    ap.add_argument("--scenes", nargs="+", required=True,
                    help="scenes whose label or path contains one of these strings")
    ap.add_argument("--res", type=int, default=48, help="larger film side, pixels")
    ap.add_argument("--spp", type=int, default=1024)
    ap.add_argument("--reference-spp", type=int, default=65536)
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    from peers import get_mitsuba

    peer, why = get_mitsuba("llvm_ad_rgb", threads=args.threads)
    if peer is None:
        print(json.dumps({"bench": "corpus_spread", "error": why}), flush=True)
        return 1
    peer.mi.set_log_level(peer.mi.LogLevel.Error)
    from diffrender import engine

    engine.init("cpu", threads=args.threads)
    for e in load_manifest():
        if any(s in scene_label(e) or s in e["path"] for s in args.scenes):
            print(json.dumps(measure(e, args, peer)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
