"""``load_scene``: Mitsuba 3 XML, Mitsuba's dict form, or that dict as JSON / YAML -> Scene.

>>> scene = load_scene("scenes/cornell-box/scene.xml", spp=16)      # doctest: +SKIP
>>> scene = load_scene({"type": "scene", "ball": {"type": "sphere"}})  # doctest: +SKIP

``defines`` override ``<default>`` values (the CLI's ``-D name=value``). Relative file names
resolve against the scene file's folder (the current directory for dicts, or ``base_dir=``).
Every error is a one-line :class:`~diffrender.errors.SceneError` naming the file and the line
(XML) or key path (dict forms).
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..errors import SceneError
from .dict_parser import parse_dict_scene
from .model import Scene
from .plugins import build_scene, collect_ids
from .tree import SceneTree
from .xml_parser import parse_xml_scene

FORMATS = {".xml": "xml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def _define_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ", ".join(_define_text(e) for e in v)
    return str(v)


def load_scene(source, base_dir: str | None = None, **defines) -> Scene:
    """Load a scene from a file path (``.xml``, ``.json``, ``.yaml``/``.yml``) or a dict.

    ``defines`` (``spp=64``, ``res=256``) replace ``<default>`` values and ``$name`` uses.
    ``base_dir`` is the folder relative file names resolve against for dict input.
    """
    defs = {str(k): _define_text(v) for k, v in defines.items()}
    if isinstance(source, dict):
        display = "<dict>"
        fmt = "dict"
        root, conv = parse_dict_scene(source, display, defs)
        base = os.path.abspath(base_dir or os.getcwd())
        search = [base]
        file = None
    else:
        path = os.fspath(source)
        display = str(source)
        ext = os.path.splitext(path)[1].lower()
        fmt = FORMATS.get(ext)
        if fmt is None:
            raise SceneError(f"unknown scene format '{ext}'; expected one of "
                             f"{', '.join(FORMATS)}", display)
        if not os.path.isfile(path):
            raise SceneError(f"scene file not found: {os.path.abspath(path)}", display)
        file = path
        base = os.path.dirname(os.path.abspath(path))
        if fmt == "xml":
            root, conv = parse_xml_scene(path, defs, display)
            search = conv.search_paths
        else:
            data = _read_structured(path, display, fmt)
            root, conv = parse_dict_scene(data, display, defs)
            search = [base]
    ids = collect_ids(root)
    effective = dict(conv.defaults)
    effective.update(defs)
    tree = SceneTree(root=root, ids=ids, defaults=dict(conv.defaults), format=fmt, file=file,
                     base_dir=base)

    def resolve_file(name: str) -> str | None:
        if os.path.isabs(name):
            return os.path.normpath(name) if os.path.isfile(name) else None
        for d in search:
            p = os.path.join(d, name)
            if os.path.isfile(p):
                return os.path.normpath(os.path.abspath(p))
        return None

    scene, builder = build_scene(tree, resolve_file)
    scene.source = os.path.abspath(file) if file else None
    scene.source_format = fmt
    scene.tree = tree
    scene.defines = effective
    from .info import parameter_sources, parameters

    tree.params = parameter_sources(scene, builder)
    tree.initial_values = {n: np.array(p.get(), copy=True)
                           for n, p in parameters(scene).items()}
    return scene


def _read_structured(path: str, display: str, fmt: str):
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SceneError(f"malformed JSON: {exc.msg} (column {exc.colno})",
                             f"{display}:{exc.lineno}") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            raise SceneError(f"malformed YAML: {problem} (column {mark.column + 1})",
                             f"{display}:{mark.line + 1}") from None
        raise SceneError(f"malformed YAML: {problem}", display) from None
