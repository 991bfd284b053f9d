"""Write a loaded scene back to Mitsuba 3 XML, JSON or YAML with its current parameter values.

``write_scene(scene, path)`` serialises ``scene.tree`` (the parsed plugin tree). Parameters that
still have the value they were loaded with are written as they were (XML attributes keep their
``$name`` uses; ``<default>``s carry the values the scene was loaded with, overrides included);
parameters changed since loading (through ``info.parameters(scene)[name].set(...)`` or directly
on the model objects) are written with their new values:

- colours (``.reflectance``, ``.radiance``, ``.intensity``, checkerboard colours): ``<rgb>``;
- bitmap data (``.data``): a new EXR next to the written scene, ``<stem>.<param>.exr``;
- ``.to_world``: one ``<matrix>`` (a sphere's center/radius folded in; a point light's
  ``position`` replaced);
- ``.fov``: ``<float name="fov">`` with the sensor's current ``fov_axis``; the other sensor
  scalars (``principal_point_offset_x``, ``fx`` ... ``p2``): ``<float>``;
- ``.vertex_positions`` (when they no longer follow ``to_world``) or a mesh attribute
  (``<shape>.vertex_color``): the mesh is written as a world-space PLY next to the scene,
  ``<stem>.<shape>.ply`` (with its mesh attributes), and the shape becomes a ``ply``.

Relative file names are rewritten relative to the folder of the written file. ``<include>``d
files are written inline. Numbers are written with ``repr`` so values round-trip exactly.
"""
from __future__ import annotations

import copy
import json
import os
import re
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import yaml

from ..core.mesh_attribute import bsdf_textures
from ..errors import SceneError
from ..image import write_image
from . import meshes
from . import transforms as tf
from .elements import SENSOR_SCALARS
from .info import parameters
from .ior import ior_value
from .model import Scene
from .plugins import PLUGINS
from .tree import Loc, Node, Prop, Ref, TransformOp

FORMATS = {".xml": "xml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def _num(x) -> str:
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _nums(v) -> str:
    return ", ".join(_num(e) for e in np.asarray(v, np.float64).reshape(-1))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


# --------------------------------------------------------------------------------------------
# Applying the changed values to a copy of the tree
# --------------------------------------------------------------------------------------------

def _rgb_prop(name: str, value, loc: Loc) -> Prop:
    return Prop(name, "rgb", np.asarray(value, np.float64).reshape(-1)[:3] * np.ones(3), loc)


def _matrix_prop(name: str, m: np.ndarray, loc: Loc) -> Prop:
    m = np.asarray(m, np.float64)
    op = TransformOp("matrix", {"values": m.reshape(-1).tolist(), "matrix": m}, {}, loc)
    return Prop(name, "transform", m, loc, ops=[op])


def _changed(cur, init) -> bool:
    if init is None:
        return False
    return not np.array_equal(np.asarray(cur), np.asarray(init))


MESH_FORMATS = ("ply", "obj")
TEXTURE_FORMATS = ("exr", "png")


def _apply_updates(scene: Scene, params: dict, out_dir: str, stem: str,
                   written: list[str], mesh_format: str = "ply",
                   texture_format: str = "exr") -> None:
    initial = getattr(scene.tree, "initial_values", {})
    ps = parameters(scene)
    meshes_written: set[int] = set()
    for name, p in ps.items():
        src = params.get(name)
        if src is None:
            continue
        node, pname = src
        cur = p.get()
        f = p.field
        if f == "vertices" or f.startswith("attributes."):
            sh = p.owner
            if f == "vertices":
                follows = sh.local_vertices is not None and np.array_equal(
                    sh.vertices, tf.transform_points(sh.to_world, sh.local_vertices))
                if follows:
                    continue
            if not _changed(cur, initial.get(name)) or id(sh) in meshes_written:
                continue
            meshes_written.add(id(sh))  # vertices and attributes go to one file
            _write_mesh(sh, node, out_dir, f"{stem}.{_safe(sh.id or name)}.{mesh_format}", written)
            continue
        if not _changed(cur, initial.get(name)):
            continue
        if f.startswith("params."):
            parts = f.split(".")
            if len(parts) == 2:
                for c in list(node.children):
                    if getattr(c, "name", None) == parts[1]:
                        node.children.remove(c)
                if parts[1] == "eta" and "int_ior" in getattr(
                        PLUGINS.get(node.category, {}).get(node.type), "params", {}):
                    # the BSDF holds eta = int_ior / ext_ior: write int_ior, keep ext_ior
                    ext = node.props.get("ext_ior")
                    e = ior_value(ext.value) if ext is not None else ior_value("air")
                    v = float(np.asarray(cur).reshape(-1)[0]) * e
                    node.props["int_ior"] = Prop("int_ior", "float", v, node.loc)
                elif np.size(cur) == 1:  # float parameters (alpha, weight, opacity, scale, ...)
                    node.props[parts[1]] = Prop(parts[1], "float",
                                                float(np.asarray(cur).reshape(-1)[0]), node.loc)
                else:
                    node.props[parts[1]] = _rgb_prop(parts[1], cur, node.loc)
            elif parts[2] == "data":
                fn = f"{stem}.{_safe(name)}.{texture_format}"
                write_image(os.path.join(out_dir, fn), np.asarray(cur, np.float32))
                written.append(fn)
                node.props["filename"] = Prop("filename", "string", fn, node.loc, text=fn)
            else:
                node.props[parts[2]] = _rgb_prop(parts[2], cur, node.loc)
        elif f == "to_world":
            m = np.asarray(cur, np.float64)
            for drop in ("center", "radius", "position"):
                node.props.pop(drop, None)
            node.props["to_world"] = _matrix_prop("to_world", m, node.loc)
        elif f == "position":
            node.props.pop("to_world", None)
            node.props["position"] = Prop("position", "point", np.asarray(cur, np.float64),
                                          node.loc)
        elif f == "fov":
            node.props.pop("focal_length", None)
            node.props["fov"] = Prop("fov", "float", float(cur), node.loc)
            node.props["fov_axis"] = Prop("fov_axis", "string", p.owner.fov_axis, node.loc)
        elif f in SENSOR_SCALARS:  # principal point offsets, pixel intrinsics, distortion
            node.props[f] = Prop(f, "float", float(cur), node.loc)


def _write_mesh(sh, node: Node, out_dir: str, fn: str, written: list[str]) -> None:
    """The shape's world-space mesh (with its normals, uvs and mesh attributes) as PLY or OBJ
    (by ``fn``'s extension); the node becomes a ``ply`` / ``obj`` shape referring to it."""
    kind = os.path.splitext(fn)[1][1:]
    read = sorted({t.extra["name"] for t in bsdf_textures(sh.bsdf) if t.type == "mesh_attribute"})
    if read and kind != "ply":
        raise SceneError(f"shape '{sh.id}': its BSDF reads the mesh attributes {', '.join(read)}, "
                         f"which only PLY files hold; write its mesh as ply, not {kind}")
    import trimesh  # lazily, as in meshes.py: loading a scene imports this module

    m = trimesh.Trimesh(np.asarray(sh.vertices), np.asarray(sh.faces), process=False)
    if sh.uvs is not None:
        m.visual = trimesh.visual.TextureVisuals(uv=np.asarray(sh.uvs))
    if sh.normals is not None:
        m.vertex_normals = np.asarray(sh.normals)
    if kind == "obj":
        data = trimesh.exchange.obj.export_obj(m, include_normals=sh.normals is not None,
                                               include_texture=sh.uvs is not None,
                                               write_texture=False, mtl_name=None).encode()
    elif sh.attributes:
        data = meshes.ply_bytes(sh.vertices, sh.faces, sh.normals, sh.uvs, sh.attributes)
    else:
        data = trimesh.exchange.ply.export_ply(m, vertex_normal=sh.normals is not None)
    atomic_write_bytes(os.path.join(out_dir, fn), data)
    written.append(fn)
    node.type = kind
    if node.raw is not None:
        node.raw = dict(node.raw, type=kind)
    for drop in ("to_world", "center", "radius", "flip_normals", "flip_tex_coords",
                 "face_normals", "filename"):
        node.props.pop(drop, None)
    node.props["filename"] = Prop("filename", "string", fn, node.loc, text=fn)
    if sh.normals is None:
        node.props["face_normals"] = Prop("face_normals", "boolean", True, node.loc, text=True)


def _rebase_filenames(root: Node, base_dir: str, out_dir: str, skip: set[str]) -> None:
    def walk(n: Node):
        p = n.props.get("filename")
        if p is not None and isinstance(p.value, str) and p.value not in skip:
            full = p.value if os.path.isabs(p.value) else os.path.join(base_dir, p.value)
            if os.path.exists(full):
                full = os.path.normpath(os.path.abspath(full))
                shared = os.path.commonpath([full, os.path.abspath(out_dir)]) != os.sep
                rel = os.path.relpath(full, out_dir) if shared else full
                if rel != p.value:
                    n.props["filename"] = Prop("filename", "string", rel, p.loc, text=rel)
        for c in n.children:
            if isinstance(c, Node):
                walk(c)

    walk(root)


# --------------------------------------------------------------------------------------------
# XML
# --------------------------------------------------------------------------------------------

def _expected_kind(node: Node, name: str) -> str:
    spec = PLUGINS.get(node.category, {}).get(node.type)
    if spec is None or name not in spec.params:
        return "string"
    return spec.params[name].kind


_XML_TAG = {"float": "float", "integer": "integer", "boolean": "boolean", "string": "string",
            "point": "point", "spectrum": "rgb", "transform": "transform"}


def _attrs(d: dict) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in d.items())


def _op_xml(op: TransformOp) -> str:
    """An operation of a transform read from XML: its attributes as written."""
    return f"<{op.op}{_attrs(op.text)}/>"


def _op_xml_gen(op: TransformOp) -> str:
    a = op.args
    if op.op in ("translate", "scale"):
        return f"<{op.op} value=\"{_nums(a['v'])}\"/>"
    if op.op == "rotate":
        return f"<rotate value=\"{_nums(a['axis'])}\" angle=\"{_num(a['angle'])}\"/>"
    if op.op == "matrix":
        return f"<matrix value=\"{' '.join(_num(x) for x in np.asarray(a['matrix']).reshape(-1))}\"/>"
    parts = {k: _nums(a[k]) for k in ("origin", "target", "up") if k in a}
    return f"<lookat{_attrs(parts)}/>"


def _prop_xml(node: Node, p: Prop, ind: str) -> list[str]:
    if p.raw is not None:
        if p.kind == "transform":
            out = [f"{ind}<transform{_attrs(p.raw)}>"]
            out += [f"{ind}    {_op_xml(op)}" for op in p.ops or []]
            return out + [f"{ind}</transform>"]
        return [f"{ind}<{p.kind}{_attrs(p.raw)}/>"]
    name = p.name
    k = p.kind
    if k == "text":
        tag = _XML_TAG.get(_expected_kind(node, name), "string")
        return [f"{ind}<{tag}{_attrs({'name': name, 'value': p.text})}/>"]
    if k == "array" and np.size(p.value) == 16:
        k, p = "transform", _matrix_prop(name, np.asarray(p.value).reshape(4, 4), p.loc)
    if k == "transform":
        out = [f"{ind}<transform name=\"{name}\">"]
        out += [f"{ind}    {_op_xml_gen(op)}" for op in (p.ops or [])] or [
            f"{ind}    {_op_xml_gen(TransformOp('matrix', {'matrix': p.value}, {}, p.loc))}"]
        return out + [f"{ind}</transform>"]
    if k == "boolean":
        v = "true" if p.value else "false"
    elif k in ("integer",):
        v = str(int(p.value))
    elif k == "float":
        v = _num(p.value)
    elif k == "string":
        v = str(p.value)
    elif k in ("point", "vector", "array"):
        k = "point" if k == "array" else k
        v = _nums(p.value)
    elif k in ("rgb", "srgb"):
        k, v = "rgb", _nums(p.value)  # srgb values are stored decoded (linear)
    elif k == "spectrum":
        form, val = p.value
        if form == "constant":
            v = _num(val)
        elif form == "pairs":
            v = ", ".join(f"{_num(w)}:{_num(x)}" for w, x in val)
        else:
            return [f"{ind}<spectrum{_attrs({'name': name, 'filename': val})}/>"]
    else:
        raise SceneError(f"cannot write parameter '{name}' of kind {k}", str(p.loc))
    return [f"{ind}<{k}{_attrs({'name': name, 'value': v})}/>"]


def _node_xml(n: Node | Ref, ind: str) -> list[str]:
    if isinstance(n, Ref):
        a = {"id": n.id}
        if n.name:
            a["name"] = n.name
        return [f"{ind}<ref{_attrs(a)}/>"]
    if n.raw is not None:
        attrs = dict(n.raw)
    else:
        attrs = {"type": n.type}
        if n.id is not None:
            attrs["id"] = n.id
        if n.name is not None and n.category == "texture":
            attrs["name"] = n.name
    body = []
    for p in n.props.values():
        body += _prop_xml(n, p, ind + "    ")
    for c in n.children:
        body += _node_xml(c, ind + "    ")
    if not body:
        return [f"{ind}<{n.category}{_attrs(attrs)}/>"]
    return [f"{ind}<{n.category}{_attrs(attrs)}>"] + body + [f"{ind}</{n.category}>"]


def to_xml(root: Node, defaults: dict[str, str]) -> str:
    lines = ['<?xml version="1.0" encoding="utf-8"?>', '<scene version="3.0.0">']
    for k, v in defaults.items():
        lines.append(f"    <default{_attrs({'name': k, 'value': v})}/>")
    for c in root.children:
        lines += _node_xml(c, "    ")
    lines.append("</scene>")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Dict (JSON / YAML)
# --------------------------------------------------------------------------------------------

def _plain(v):
    if isinstance(v, np.ndarray):
        return [_plain(e) for e in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_plain(e) for e in v]
    if isinstance(v, dict):
        return {k: _plain(e) for k, e in v.items()}
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def _op_dict(op: TransformOp) -> dict:
    a = op.args
    if op.op in ("translate", "scale"):
        return {op.op: _plain(np.asarray(a["v"]))}
    if op.op == "rotate":
        return {"rotate": {"axis": _plain(np.asarray(a["axis"])), "angle": float(a["angle"])}}
    if op.op == "matrix":
        return {"matrix": _plain(np.asarray(a["matrix"]))}
    return {"lookat": {k: _plain(np.asarray(a[k])) for k in ("origin", "target", "up") if k in a}}


def _prop_dict(node: Node, p: Prop):
    if p.raw is None and p.text is not None:
        return _plain(p.text)  # dict-form value as it was written
    k = p.kind
    if p.raw is not None and "value" in p.raw and "$" in p.raw["value"] and k != "transform":
        tag = {"vector": "point"}.get(k, k)
        return {"type": tag, "value": p.raw["value"]}
    if k == "transform":
        return [_op_dict(op) for op in p.ops] if p.ops else _plain(np.asarray(p.value))
    if k in ("boolean", "integer", "float", "string"):
        return _plain(p.value)
    if k in ("point", "vector", "array"):
        return _plain(np.asarray(p.value))
    if k in ("rgb", "srgb"):
        return {"type": "rgb", "value": _plain(np.asarray(p.value))}
    if k == "spectrum":
        form, val = p.value
        if form == "constant":
            return {"type": "spectrum", "value": float(val)}
        if form == "pairs":
            return {"type": "spectrum", "value": [list(x) for x in val]}
        return {"type": "spectrum", "filename": val}
    if k == "text":
        return p.text
    raise SceneError(f"cannot write parameter '{p.name}' of kind {k}", str(p.loc))


def _node_dict(n: Node, key: str | None, top: bool) -> dict:
    d: dict[str, Any] = {"type": n.type}
    if n.id is not None and not (top and key == n.id):
        d["id"] = n.id
    for name, p in n.props.items():
        d[name] = _prop_dict(n, p)
    used: dict[str, int] = {}
    for c in n.children:
        base = c.name or (c.category if isinstance(c, Node) else "bsdf")
        cnt = used.get(base, 0)
        used[base] = cnt + 1
        ck = base if cnt == 0 else f"{base}_{cnt + 1}"
        if isinstance(c, Ref):
            d[ck] = {"type": "ref", "id": c.id}
        else:
            d[ck] = _node_dict(c, ck, False)
    return d


def to_dict(root: Node, defaults: dict[str, str]) -> dict:
    d: dict[str, Any] = {"type": "scene"}
    for k, v in defaults.items():
        d[f"${k}"] = {"type": "default", "name": k, "value": v}
    for i, c in enumerate(root.children):
        # keys are ids; '__elm__' keys are not (mi.xml.dict_to_xml's convention)
        key = c.key or c.id or ("integrator" if c.category == "integrator" else f"__elm__{i}")
        while key in d:
            key = f"__elm__{i}_{key}"
        d[key] = _node_dict(c, key, True)
    return d


# --------------------------------------------------------------------------------------------

def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so
    that ``path`` holds either its old content or all of the new."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_scene(scene: Scene, path, format: str | None = None, mesh_format: str = "ply",
                texture_format: str = "exr") -> list[str]:
    """Write ``scene`` to ``path`` (format from the extension or ``format``: ``xml``, ``json``,
    ``yaml``). Changed meshes are written as ``mesh_format`` (``ply`` or ``obj``, with normals
    and uvs), changed bitmaps as ``texture_format`` (``exr`` linear, or ``png`` sRGB 8-bit).
    Returns the files written (the scene first, then any new meshes / textures, relative to the
    scene's folder)."""
    path = os.fspath(path)
    fmt = format or FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt not in ("xml", "json", "yaml"):
        raise SceneError(f"cannot write scene format '{os.path.splitext(path)[1]}'; expected "
                         ".xml, .json, .yaml or .yml", path)
    tree = scene.tree
    if tree is None:
        raise SceneError("this Scene has no plugin tree (it was not made by load_scene)", path)
    out_dir = os.path.dirname(os.path.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(path))[0]
    root, params = copy.deepcopy((tree.root, tree.params))
    written: list[str] = []
    if mesh_format not in MESH_FORMATS:
        raise SceneError(f"mesh format must be one of {', '.join(MESH_FORMATS)}, got {mesh_format!r}", path)
    if texture_format not in TEXTURE_FORMATS:
        raise SceneError(f"texture format must be one of {', '.join(TEXTURE_FORMATS)}, got "
                         f"{texture_format!r}", path)
    _apply_updates(scene, params, out_dir, stem, written, mesh_format, texture_format)
    _rebase_filenames(root, tree.base_dir, out_dir, set(written))
    defaults = dict(scene.defines or tree.defaults)
    if fmt == "xml":
        text = to_xml(root, defaults)
    elif fmt == "json":
        text = json.dumps(to_dict(root, defaults), indent=2) + "\n"
    else:
        text = yaml.safe_dump(to_dict(root, defaults), sort_keys=False)
    atomic_write_bytes(path, text.encode("utf-8"))
    return [os.path.basename(path)] + written
