"""Corpus benchmark: public Mitsuba 3 scenes written by others, loaded unchanged.

The corpus is ``tests/data/corpus/corpus.json`` (repository, path, commit, licence of every
scene; ``SOURCES.md`` next to it says the same for people). Scenes whose licence allows it are
stored under ``tests/data/corpus/<repository name>/<path>``; the others are read from
``--sources DIR``, a folder holding checkouts named ``<owner>+<name>`` (e.g.
``DIR/mitsuba-renderer+mitsuba-data/tests/scenes/...``), and are reported ``"available": false``
without it.

For each scene one JSON line:

- ``loads_mitsuba`` / ``loads_diffrender`` and ``error`` (diffrender's one-line error, or the
  exception type and first line of anything else: that is a bug);
- with both loaded (not ``--load-only``): the film scaled (aspect kept) so its larger side is
  ``--res`` pixels, in both renderers; ``relmse_diffrender`` / ``relmse_mitsuba`` against a
  Mitsuba image at ``--reference-spp``, the block-8 versions, ``mean_bias`` (diffrender's mean
  over the reference's, minus 1) and ``agrees``, the check of ``bench_render.py``: relMSE of
  diffrender vs Mitsuba at equal spp at most 1.5 x twice Mitsuba's own (i.e. diffrender's own
  relMSE about at most 2x Mitsuba's), block-8 relMSE at most 2x Mitsuba's + 1e-5, and |mean
  bias| at most 1.5%; ``mean_bias_mitsuba`` is Mitsuba's own at equal spp (the noise of the
  mean: where it is beyond 1.5% too, the mean-bias check measures noise, not diffrender);
- ``ratio_vs_mitsuba``: diffrender's steady render time over Mitsuba's (best of ``--repeats``
  calls after a warm-up, both at ``--spp``, ``--threads`` threads).

A last line ``{"summary": ...}`` gives the load rate. Usage (repository root)::

    python benchmarks/bench_corpus.py --load-only
    python benchmarks/bench_corpus.py --sources /path/to/checkouts --res 48 --spp 1024
    python benchmarks/bench_corpus.py --scenes sionna-rt/box blender/test1 --res 32
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(ROOT, "tests", "data", "corpus")
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from bench_render import block8  # noqa: E402
from diffrender.metrics import relative_mse as relmse  # noqa: E402

#: Agreement thresholds (``bench_render.py``'s, plus the mean bias of issue #13).
AGREEMENT_RATIO_MAX = 1.5
BLOCK8_FACTOR_MAX = 2.0
BLOCK8_SLACK = 1e-5
MEAN_BIAS_MAX = 0.015
REFERENCE_SEED = 123457


def load_manifest() -> list[dict]:
    with open(os.path.join(CORPUS, "corpus.json"), encoding="utf-8") as f:
        return json.load(f)["scenes"]


def scene_label(entry: dict) -> str:
    """Short name: repository name without ``mitsuba-`` and the file name without ``.xml``."""
    repo = entry["repo"].split("/")[1].replace("mitsuba-", "")
    name = os.path.splitext(os.path.basename(entry["path"]))[0]
    if name in ("scene", "scene_path"):
        name = os.path.basename(os.path.dirname(entry["path"]))
    return f"{repo}/{name}"


def scene_file(entry: dict, sources: str | None) -> str | None:
    if entry["stored"]:
        return os.path.join(CORPUS, entry["repo"].split("/")[1], entry["path"])
    if sources:
        p = os.path.join(sources, entry["repo"].replace("/", "+"), entry["path"])
        if os.path.isfile(p):
            return p
    return None


def one_line(exc: BaseException) -> str:
    from diffrender.errors import DiffrenderError

    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return first if isinstance(exc, DiffrenderError) else f"{type(exc).__name__}: {first}"


# ------------------------------------------------------------------------------ small film size

def scaled(w: int, h: int, res: int) -> tuple[int, int, float]:
    s = res / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s)), s


def shrink_mitsuba(mi, scene, res: int) -> tuple[int, int]:
    params = mi.traverse(scene)
    key = next((k for k in params.keys() if k.endswith("film.size")), None)
    if key is None:
        raise RuntimeError("Mitsuba exposes no film.size to resize")
    base = key[:-len("size")]
    w, h = (int(v) for v in params[key])
    cw, ch = (int(v) for v in params[base + "crop_size"])
    ox, oy = (int(v) for v in params[base + "crop_offset"])
    nw, nh, s = scaled(w, h, res)
    params[key] = mi.ScalarVector2u(nw, nh)
    params[base + "crop_size"] = mi.ScalarVector2u(max(1, round(cw * s)), max(1, round(ch * s)))
    params[base + "crop_offset"] = mi.ScalarPoint2u(round(ox * s), round(oy * s))
    params.update()
    return nw, nh


def shrink_diffrender(scene, res: int) -> None:
    film = scene.sensors[0].film
    nw, nh, s = scaled(film.width, film.height, res)
    if film.crop is not None:
        ox, oy, cw, ch = film.crop
        film.crop = (round(ox * s), round(oy * s), max(1, round(cw * s)), max(1, round(ch * s)))
    film.width, film.height = nw, nh


# ----------------------------------------------------------------------------------------- main

def bench_entry(entry: dict, args, peer, peer_why) -> dict:
    out = {"bench": "corpus", "scene": scene_label(entry), "repo": entry["repo"],
           "path": entry["path"], "stored": entry["stored"]}
    path = scene_file(entry, args.sources)
    out["available"] = path is not None
    if path is None:
        out["error"] = "not stored here (licence or size) and not under --sources"
        return out
    import diffrender

    mscene = None
    if peer is not None:
        try:
            mscene = peer.load(path)
            out["loads_mitsuba"] = True
        except Exception as exc:  # noqa: BLE001 - Mitsuba's own loader error, reported
            out["loads_mitsuba"] = False
            out["mitsuba_error"] = str(exc).strip().splitlines()[0][-300:]
    else:
        out["mitsuba_skip"] = peer_why
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scene = diffrender.load_scene(path)
        out["loads_diffrender"] = True
        if caught:
            out["warnings"] = sorted({str(w.message).splitlines()[0][-200:] for w in caught})
    except Exception as exc:  # noqa: BLE001
        out["loads_diffrender"] = False
        out["error"] = one_line(exc)
        return out
    if args.load_only or mscene is None:
        return out
    try:
        _render(out, scene, path, args, peer)
    except Exception as exc:  # noqa: BLE001 - reported per scene, the corpus goes on
        out["render_error"] = one_line(exc)
    return out


def mitsuba_render(peer, scene, spp: int, seed: int, integrator=None) -> np.ndarray:
    """``mi.render`` in passes of at most MAX_SAMPLES_PER_PASS samples (as ``peers.py``), with
    an explicit integrator where the scene has none (Mitsuba 3.9.1 then refuses to render)."""
    from peers import MAX_SAMPLES_PER_PASS

    w, h = peer.film_size(scene)
    per = max(1, min(spp, MAX_SAMPLES_PER_PASS // max(1, w * h)))
    acc, done, k = None, 0, 0
    while done < spp:
        n = min(per, spp - done)
        img = peer.mi.render(scene, spp=n, seed=(seed * 1000003 + k) & 0xFFFFFFFF,
                             integrator=integrator)
        peer.dr.eval(img)
        peer.dr.sync_thread()
        img = np.asarray(img, np.float64)[:, :, :3] * n
        acc = img if acc is None else acc + img
        done, k = done + n, k + 1
    return (acc / spp).astype(np.float32)


def _render(out: dict, scene, path: str, args, peer) -> None:
    from diffrender.core import Renderer

    mi = peer.mi
    ref_scene = peer.load(path)
    if not ref_scene.sensors() or not any(
            k.endswith("film.size") for k in mi.traverse(ref_scene).keys()):
        raise RuntimeError("the scene has no sensor: Mitsuba 3.9.1 loads it without one and "
                           "cannot render it ('No sensor specified!'); not compared")
    integrator = None
    if ref_scene.integrator() is None:  # diffrender renders with 'path', as documented
        integrator = mi.load_dict({"type": "path"})
        out["note"] = "no integrator: both rendered with 'path' (Mitsuba 3.9.1 needs one)"
    w, h = shrink_mitsuba(mi, ref_scene, args.res)
    out.update(width=w, height=h, spp=args.spp, reference_spp=args.reference_spp)
    ref = mitsuba_render(peer, ref_scene, args.reference_spp, REFERENCE_SEED, integrator)
    mitsuba_render(peer, ref_scene, args.spp, 1, integrator)  # warm-up (JIT)
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        theirs = mitsuba_render(peer, ref_scene, args.spp, 2 + r, integrator)
        times.append(time.perf_counter() - t0)
    t = {"steady_s": min(times)}
    shrink_diffrender(scene, args.res)
    renderer = Renderer(scene)

    def render(seed):
        img = renderer.render(spp=args.spp, seed=seed)
        img = img["color"] if isinstance(img, dict) else img
        return np.asarray(img, np.float32)[:, :, :3]

    t0 = time.perf_counter()
    ours = render(1)
    out["diffrender_warmup_s"] = time.perf_counter() - t0
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        ours = render(2 + r)
        times.append(time.perf_counter() - t0)
    if ours.shape != ref.shape:
        raise RuntimeError(f"image size {ours.shape[1]}x{ours.shape[0]} differs from "
                           f"Mitsuba's {ref.shape[1]}x{ref.shape[0]}")
    mean_ref = float(np.mean(ref))
    out.update(mitsuba_steady_s=t["steady_s"], diffrender_steady_s=min(times),
               ratio_vs_mitsuba=min(times) / t["steady_s"],
               relmse_diffrender=relmse(ours, ref), relmse_mitsuba=relmse(theirs, ref),
               relmse_block8_diffrender=relmse(block8(ours), block8(ref)),
               relmse_block8_mitsuba=relmse(block8(theirs), block8(ref)),
               relmse_vs_mitsuba_equal_spp=relmse(ours, theirs),
               mean_bias=float(np.mean(ours)) / mean_ref - 1.0 if mean_ref > 0 else
               float(np.mean(ours)),
               mean_bias_mitsuba=float(np.mean(theirs)) / mean_ref - 1.0 if mean_ref > 0 else
               float(np.mean(theirs)))
    if mean_ref == 0.0:  # nothing lit (no emitters): nothing to compare
        out["agrees"] = None if float(np.abs(ours).max()) == 0.0 else False
        out["note"] = "Mitsuba's image is black"
        return
    out["agreement_ratio"] = out["relmse_vs_mitsuba_equal_spp"] / max(
        1e-12, 2 * out["relmse_mitsuba"])
    out["agrees"] = bool(
        out["agreement_ratio"] <= AGREEMENT_RATIO_MAX
        and out["relmse_block8_diffrender"] <= BLOCK8_FACTOR_MAX * out["relmse_block8_mitsuba"]
        + BLOCK8_SLACK
        and abs(out["mean_bias"]) <= MEAN_BIAS_MAX)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="diffrender vs Mitsuba 3 on public scenes (JSON lines)")
    ap.add_argument("--sources", default=os.environ.get("DIFFRENDER_CORPUS_SOURCES"),
                    help="folder of checkouts named owner+name, for the scenes not stored here "
                         "(default: $DIFFRENDER_CORPUS_SOURCES)")
    ap.add_argument("--scenes", nargs="*", default=None,
                    help="only scenes whose label or path contains one of these strings")
    ap.add_argument("--load-only", action="store_true", help="only load, do not render")
    ap.add_argument("--res", type=int, default=48, help="larger film side, pixels")
    ap.add_argument("--spp", type=int, default=1024)
    ap.add_argument("--reference-spp", type=int, default=16384)
    ap.add_argument("--repeats", type=int, default=1, help="timed calls after the warm-up")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    from peers import get_mitsuba

    peer, why = get_mitsuba("llvm_ad_rgb", threads=args.threads)
    if peer is not None:  # Mitsuba logs to stdout: keep it to errors, the JSON lines clean
        peer.mi.set_log_level(peer.mi.LogLevel.Error)
    from diffrender import engine

    engine.init("cpu", threads=args.threads)
    entries = load_manifest()
    if args.scenes:
        entries = [e for e in entries if any(s in scene_label(e) or s in e["path"]
                                             for s in args.scenes)]
    rows = []
    for e in entries:
        row = bench_entry(e, args, peer, why)
        rows.append(row)
        print(json.dumps(row), flush=True)
    avail = [r for r in rows if r["available"]]
    mi_ok = [r for r in avail if r.get("loads_mitsuba")]
    summary = {"scenes": len(rows), "available": len(avail),
               "loads_diffrender": sum(bool(r.get("loads_diffrender")) for r in avail),
               "loads_mitsuba": len(mi_ok),
               "loads_diffrender_of_mitsuba_loadable": sum(bool(r.get("loads_diffrender"))
                                                           for r in mi_ok),
               "compared": sum(r.get("agrees") is not None for r in rows),
               "agrees": sum(bool(r.get("agrees")) for r in rows)}
    print(json.dumps({"summary": summary}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
