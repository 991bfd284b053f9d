"""``load_scene``: Mitsuba 3 XML, Mitsuba's dict form, or that dict as JSON / YAML -> Scene.

>>> scene = load_scene("scenes/cornell-box/scene.xml", spp=16)      # doctest: +SKIP
>>> scene = load_scene({"type": "scene", "ball": {"type": "sphere"}})  # doctest: +SKIP

``defines`` override ``<default>`` values (the CLI's ``-D name=value``). Relative file names
resolve against the scene file's folder (the current directory for dicts, or ``base_dir=``).
Every error is a one-line :class:`~diffrender.errors.SceneError` naming the file and the line
(XML) or key path (dict forms).

A shader file (``<bsdf type="shader">``, ``<texture type="shader">``) is a Python program: the
scene loads it only with the user's consent, ``allow_shaders=True`` (the CLI's
``--allow-shaders``) or the file lying in a folder listed in ``DIFFRENDER_SHADER_PATH``
(``os.pathsep``-separated); otherwise :class:`~diffrender.errors.ShaderConsentError`, before
any of it runs.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import limits
from ..documents import check_structure, parse_structured, read_text
from ..errors import SceneError, ShaderConsentError
from .dict_parser import parse_dict_scene
from .info import parameter_sources, parameters
from .model import Scene
from .plugins import build_scene, collect_ids
from .tree import Node, SceneTree
from .xml_parser import parse_xml_scene

FORMATS = {".xml": "xml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
SHADER_PATH_ENV = "DIFFRENDER_SHADER_PATH"  # folders whose shader files may run without asking


def _define_text(name: str, v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ", ".join(_define_text(name, e) for e in v)
    if isinstance(v, int) and v.bit_length() > 63:
        raise SceneError(f"define {name}: the integer is out of the 64-bit range")
    if isinstance(v, float) and not np.isfinite(v):
        raise SceneError(f"define {name}={v}: expected a finite number")
    if not isinstance(v, (str, int, float, np.integer, np.floating)):
        raise SceneError(f"define {name}: expected a string, number or boolean, got "
                         f"{type(v).__name__}")
    return str(v)


def load_scene(source, base_dir: str | None = None, allow_shaders: bool = False,
               **defines) -> Scene:
    """Load a scene from a file path (``.xml``, ``.json``, ``.yaml``/``.yml``) or a dict.

    ``defines`` (``spp=64``, ``res=256``) replace ``<default>`` values and ``$name`` uses.
    ``base_dir`` is the folder relative file names resolve against for dict input.
    ``allow_shaders=True`` lets the scene run the shader files it names (Python programs);
    without it only shaders in a ``DIFFRENDER_SHADER_PATH`` folder run.
    """
    defs = {str(k): _define_text(k, v) for k, v in defines.items()}
    if isinstance(source, dict):
        display = "<dict>"
        fmt = "dict"
        check_structure(source, display)
        root, conv = parse_dict_scene(source, display, defs)
        base = os.path.abspath(base_dir or os.getcwd())
        search = [base]
        file = None
    else:
        if not isinstance(source, (str, os.PathLike)):
            raise SceneError(f"load_scene expects a scene file path or a dict, got "
                             f"{type(source).__name__}")
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        display = str(path)
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
            check_structure(data, display)
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

    if not allow_shaders:
        check_shader_consent(root, resolve_file)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scene, builder = build_scene(tree, resolve_file)
    check_scene(scene, builder, display)
    scene.source = os.path.abspath(file) if file else None
    scene.source_format = fmt
    scene.tree = tree
    scene.defines = effective
    tree.params = parameter_sources(scene, builder)
    tree.initial_values = {n: np.array(p.get(), copy=True)
                           for n, p in parameters(scene).items()}
    for n, v in tree.initial_values.items():  # e.g. a product of large factors
        a = np.asarray(v, np.float64)
        if not np.all(np.isfinite(a)) or (a.size and np.max(np.abs(a)) > limits.FLOAT32_MAX):
            src = tree.params.get(n)
            where = str(src[0].loc) if src is not None else display
            raise SceneError(f"parameter '{n}' is not finite in float32 after loading (values "
                             f"up to {np.nanmax(np.abs(a)):.3g})", where)
    return scene


def trusted_shader_dirs() -> list[str]:
    """The folders listed in ``DIFFRENDER_SHADER_PATH`` (real paths)."""
    raw = os.environ.get(SHADER_PATH_ENV, "")
    return [os.path.realpath(os.path.expanduser(p)) for p in raw.split(os.pathsep) if p.strip()]


def check_shader_consent(root: Node, resolve_file) -> None:
    """Refuse a shader file that is not in a trusted folder (``DIFFRENDER_SHADER_PATH``), before
    anything imports it. A file that cannot be found is left to the plugin's own error."""
    trusted = trusted_shader_dirs()
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(c for c in node.children if isinstance(c, Node))
        if node.type != "shader":
            continue
        prop = node.props.get("filename")
        if prop is None or not isinstance(prop.value, str):
            continue
        path = resolve_file(prop.value)
        if path is None:
            continue
        real = os.path.realpath(path)
        if any(os.path.commonpath([real, d]) == d for d in trusted):
            continue
        raise ShaderConsentError(
            f"shader \"{prop.value}\" ({real}) is a Python program and runs "
            "only with your consent: pass --allow-shaders (CLI) or allow_shaders=True (Python), "
            f"or add its folder to {SHADER_PATH_ENV}", str(prop.loc))


def check_scene(scene: Scene, builder, display: str) -> None:
    """Limits on what the scene asks of the renderer (film size, samples, path depth) and
    finite geometry, checked before anything is allocated."""
    def where(obj):
        node = getattr(builder, "origin", {}).get(id(obj))
        return str(node.loc) if node is not None else display

    for s in scene.sensors:
        f = s.film
        for nm, v in (("width", f.width), ("height", f.height)):
            if v > limits.MAX_FILM_SIDE:
                raise SceneError(f"film {nm} {v} is above the limit of {limits.MAX_FILM_SIDE} "
                                 "pixels", where(s))
        if f.width * f.height > limits.MAX_FILM_PIXELS:
            raise SceneError(f"film of {f.width}x{f.height} pixels is above the limit of "
                             f"{limits.MAX_FILM_PIXELS} pixels", where(s))
        n = s.sampler.sample_count if s.sampler is not None else 0
        if n > limits.MAX_SPP:
            raise SceneError(f"sample_count {n} is above the limit of {limits.MAX_SPP} samples "
                             "per pixel", where(s))
    integ = scene.integrator
    if integ is not None:
        for nm in ("max_depth", "rr_depth"):
            v = getattr(integ, nm, None)
            if isinstance(v, (int, np.integer)) and v > limits.MAX_PATH_DEPTH:
                raise SceneError(f"integrator {nm} {v} is above the limit of "
                                 f"{limits.MAX_PATH_DEPTH}", where(integ))
    for sh in scene.shapes:
        v = getattr(sh, "vertices", None)
        if v is None:
            continue
        v = np.asarray(v)
        if v.size and (not np.all(np.isfinite(v)) or np.max(np.abs(v)) > limits.FLOAT32_MAX):
            raise SceneError("vertex positions overflow float32 after to_world (coordinates "
                             f"up to {np.nanmax(np.abs(v)):.3g})", where(sh))


def _read_structured(path: str, display: str, fmt: str):
    return parse_structured(read_text(path, display), display, fmt)

