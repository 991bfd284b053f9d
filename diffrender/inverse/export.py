"""``diffrender export RUN_DIR``: what an optimization recovered, as files other tools open.

Reads the run's ``config.json`` (written when the run starts) and ``params.json`` (its result),
applies the result to the scene and writes, into the output folder: the scene (Mitsuba XML,
JSON or YAML) referring to the new files, every optimized mesh as PLY or OBJ in world space with
its normals and uvs, every optimized bitmap as EXR (linear) or PNG (sRGB), and the optimized
filter pipeline when the run had one (the first view's values; with per-view stages also
``views.json``, every view's filter parameters).
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..errors import ConfigError
from ..scene.writer import write_scene
from .config import parse_config
from .run import RUN_CONFIG, Problem

PARAMS = "params.json"


def _read_json(path, what):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no {what} here: is this the output folder of `diffrender optimize`?",
                          path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"not valid JSON: {exc}", path) from None


def export_run(run_dir, out: str | None = None, mesh_format: str = "ply",
               texture_format: str = "exr", scene_format: str | None = None,
               allow_shaders: bool = False) -> list[str]:
    """Write the optimized scene of ``run_dir`` into ``out`` (default ``RUN_DIR/export``).
    Returns the paths written."""
    run_dir = os.fspath(run_dir)
    saved = _read_json(os.path.join(run_dir, RUN_CONFIG), "run config (config.json)")
    values = _read_json(os.path.join(run_dir, PARAMS), "result (params.json)")
    if not isinstance(saved, dict) or "config" not in saved or not isinstance(values, dict):
        raise ConfigError("unexpected content", os.path.join(run_dir, RUN_CONFIG))
    cfg = parse_config(saved["config"], where=saved.get("path") or RUN_CONFIG,
                       base_dir=saved.get("base_dir", run_dir))
    problem = Problem(cfg, allow_shaders)
    values = {k: np.asarray(v, np.float64) for k, v in values.items()}
    unknown = sorted(set(values) - set(problem.names))
    if unknown:
        raise ConfigError(f"parameter {unknown[0]!r} is not one of the run's "
                          f"({', '.join(problem.names)})", os.path.join(run_dir, PARAMS))
    for k, v in problem.scene_values(values).items():
        problem.pmap[k] = v
    out = os.fspath(out) if out else os.path.join(run_dir, "export")
    os.makedirs(out, exist_ok=True)
    src = problem.scene.source or "scene.xml"
    ext = {"xml": ".xml", "json": ".json", "yaml": ".yaml", None: None}[scene_format]
    ext = ext or os.path.splitext(src)[1] or ".xml"
    name = os.path.splitext(os.path.basename(src))[0] + ext
    written = write_scene(problem.scene, os.path.join(out, name), mesh_format=mesh_format,
                          texture_format=texture_format)
    paths = [os.path.join(out, w) for w in written]
    if problem.pipeline is not None:
        problem.set_filters(values, 0)
        p = os.path.join(out, "pipeline.yaml")
        problem.pipeline.save(p)
        paths.append(p)
        if problem.per_view:
            p = os.path.join(out, "views.json")
            with open(p, "w", encoding="utf-8") as f:
                json.dump(problem.view_filters(values), f, indent=2)
            paths.append(p)
    return paths
