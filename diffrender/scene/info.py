"""Scene summaries and the differentiable parameter names.

Naming convention (also in ``docs/scene-format.md``):

- BSDF parameters: ``<bsdf_id>.<param>`` when the BSDF has an id, else
  ``<shape_name>.bsdf.<param>``; a bitmap parameter adds ``.data``
  (``floor.bsdf.reflectance.data``); a checkerboard adds ``.color0`` / ``.color1``.
- Area emitters: ``<shape_name>.emitter.radiance``; other emitters
  ``<emitter_id or emitter_<i>>.intensity`` (point) with ``i`` the index in ``Scene.emitters``,
  and ``<emitter_id or emitter_<i>>.position`` for point lights (Mitsuba's ``position``).
- Shapes: ``<shape_name>.vertex_positions`` and ``<shape_name>.to_world``; a shape's name is its
  id, else ``shape_<index>``. Its mesh attributes (PLY vertex / face properties, read by the
  ``mesh_attribute`` texture) are ``<shape_name>.<attribute>`` (``shape_0.vertex_color``), as
  Mitsuba's traverse names them; the texture itself has no parameter.
- Sensors: ``<sensor_id or sensor>.to_world`` and ``.fov`` (unnamed sensors after the first are
  ``sensor_<i>``), ``.principal_point_offset_x`` / ``_y`` when the scene gives them; a sensor
  given by pixel intrinsics has ``.fx .fy .cx .cy .k1 .k2 .k3 .p1 .p2`` instead of ``.fov``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import transforms as tf
from .meshes import vertex_normals
from .elements import BSDF, SENSOR_SCALARS, Texture

if TYPE_CHECKING:  # the Scene builds this view; imported for annotations only
    from .model import Scene
from .tree import Ref


@dataclass
class Parameter:
    """One differentiable parameter: ``owner`` is the model object, ``field`` what it holds
    (``params.reflectance``, ``params.reflectance.data``, ``params.reflectance.color0``,
    ``vertices``, ``to_world``, ``fov``)."""

    name: str
    owner: Any
    field: str

    def get(self):
        o, f = self.owner, self.field
        if f.startswith("params."):
            parts = f.split(".")
            tex: Texture = o.params[parts[1]]
            if len(parts) == 2:
                return tex.value
            if parts[2] == "data":
                return tex.data
            return tex.extra[parts[2]]
        if f == "vertices":
            return o.vertices
        if f.startswith("attributes."):
            return o.attributes[f[len("attributes."):]]
        return getattr(o, f)

    def set(self, value) -> None:
        """Set the value in the Scene (a shape's ``to_world`` also moves its vertices and
        normals)."""
        o, f = self.owner, self.field
        if f.startswith("params."):
            parts = f.split(".")
            tex: Texture = o.params[parts[1]]
            if len(parts) == 2:
                tex.value = np.asarray(value, np.float32).reshape(np.shape(tex.value))
            elif parts[2] == "data":
                tex.data = np.asarray(value, np.float32).reshape(tex.data.shape)
            else:
                tex.extra[parts[2]] = np.asarray(value, np.float32).reshape(3)
            return
        if f == "vertices":
            o.vertices = np.asarray(value, np.float64).reshape(o.vertices.shape)
            if o.normals is not None:  # Mitsuba recomputes a mesh's normals from new positions
                o.normals = vertex_normals(o.vertices, o.faces)
                o.derived_normals = True
            return
        if f.startswith("attributes."):
            name = f[len("attributes."):]
            o.attributes[name] = np.asarray(value, np.float32).reshape(o.attributes[name].shape)
            return
        if f == "to_world" and hasattr(o, "local_vertices") and o.local_vertices is not None:
            m = np.asarray(value, np.float64).reshape(4, 4)
            o.to_world = m
            o.vertices = tf.transform_points(m, o.local_vertices)
            if o.normals is not None and o.derived_normals:
                o.normals = vertex_normals(o.vertices, o.faces)  # as loaded with this to_world
            elif o.normals is not None and o.local_normals is not None:
                o.normals = tf.transform_normals(m, o.local_normals)
            if o.emitter is not None:
                o.emitter.to_world = m.copy()
            return
        if f == "to_world":
            value = np.asarray(value, np.float64).reshape(4, 4)
            if getattr(o, "type", None) == "point":
                o.position = value[:3, 3].copy()
        if f == "position":
            value = np.asarray(value, np.float64).reshape(3)
            o.to_world = np.array(o.to_world, np.float64)
            o.to_world[:3, 3] = value
        if f in SENSOR_SCALARS:
            value = float(value)
        setattr(o, f, value)


def _texture_params(prefix: str, owner, pname: str, tex: Texture) -> list[Parameter]:
    if tex.type == "bitmap":
        return [Parameter(f"{prefix}.{pname}.data", owner, f"params.{pname}.data")]
    if tex.type == "shader":
        holder = tex.extra["holder"]
        return [Parameter(f"{prefix}.{pname}.{n}", holder, f"params.{n}") for n in holder.params]
    if tex.type == "checkerboard":
        return [Parameter(f"{prefix}.{pname}.{c}", owner, f"params.{pname}.{c}")
                for c in ("color0", "color1")]
    if tex.type == "mesh_attribute":  # its values are the shapes' parameters
        return []
    return [Parameter(f"{prefix}.{pname}", owner, f"params.{pname}")]


def bsdf_name(bsdf: BSDF, shape_name: str) -> str:
    return bsdf.id if bsdf.id else f"{shape_name}.bsdf"


def emitter_names(scene: Scene) -> list[str]:
    names = []
    for i, em in enumerate(scene.emitters):
        if em.type == "area" and em.shape is not None:
            names.append(f"{scene.shapes[em.shape].id or f'shape_{em.shape}'}.emitter")
        else:
            names.append(em.id if em.id else f"emitter_{i}")
    return names


def sensor_names(scene: Scene) -> list[str]:
    names, unnamed = [], 0
    for i, s in enumerate(scene.sensors):
        if s.id:
            names.append(s.id)
        else:
            names.append("sensor" if unnamed == 0 else f"sensor_{i}")
            unnamed += 1
    return names


def _bsdf_params(b: BSDF, prefix: str, add, seen: set) -> None:
    """A BSDF's texture parameters, then its nested BSDFs' (blendbsdf: ``<prefix>.bsdf_0`` /
    ``.bsdf_1``, mask / normalmap / bumpmap: ``<prefix>.nested_bsdf``, as Mitsuba's traverse;
    a nested BSDF with an id is named by its id)."""
    for pname, val in b.params.items():
        if isinstance(val, Texture):
            for p in _texture_params(prefix, b, pname, val):
                add(p)
    for j, c in enumerate(b.children):
        if id(c) in seen:
            continue
        seen.add(id(c))
        cname = c.id if c.id else (
            f"{prefix}.nested_bsdf" if b.type in ("mask", "normalmap", "bumpmap")
            else f"{prefix}.bsdf_{j}")
        _bsdf_params(c, cname, add, seen)


def parameters(scene: Scene) -> dict[str, Parameter]:
    """All differentiable parameters of the scene, by name (see the module docstring)."""
    out: dict[str, Parameter] = {}
    seen_bsdfs: set[int] = set()

    def add(p: Parameter):
        out.setdefault(p.name, p)

    for i, sh in enumerate(scene.shapes):
        name = sh.id or f"shape_{i}"
        b = sh.bsdf
        if id(b) not in seen_bsdfs:
            seen_bsdfs.add(id(b))
            _bsdf_params(b, bsdf_name(b, name), add, seen_bsdfs)
        if sh.emitter is not None:
            for pname, val in sh.emitter.params.items():
                if isinstance(val, Texture):
                    for p in _texture_params(f"{name}.emitter", sh.emitter, pname, val):
                        add(p)
        add(Parameter(f"{name}.vertex_positions", sh, "vertices"))
        add(Parameter(f"{name}.to_world", sh, "to_world"))
        for aname in sh.attributes:
            add(Parameter(f"{name}.{aname}", sh, f"attributes.{aname}"))
    for ename, em in zip(emitter_names(scene), scene.emitters):
        if em.type == "area":
            continue
        for pname, val in em.params.items():
            if isinstance(val, Texture):
                for p in _texture_params(ename, em, pname, val):
                    add(p)
        if em.type == "point":
            add(Parameter(f"{ename}.position", em, "position"))
    for sname, s in zip(sensor_names(scene), scene.sensors):
        add(Parameter(f"{sname}.to_world", s, "to_world"))
        if s.type == "orthographic":  # no intrinsics: its extent is to_world's scaling
            continue
        if s.fx is not None:  # the intrinsics extension (core/camera.py)
            for n in ("fx", "fy", "cx", "cy", "k1", "k2", "k3", "p1", "p2"):
                add(Parameter(f"{sname}.{n}", s, n))
            continue
        add(Parameter(f"{sname}.fov", s, "fov"))
        for n in ("principal_point_offset_x", "principal_point_offset_y"):
            if getattr(s, n) is not None:
                add(Parameter(f"{sname}.{n}", s, n))
    return out


def parameter_names(scene: Scene) -> list[str]:
    return list(parameters(scene))


def describe(scene: Scene) -> dict:
    """A JSON-able summary: shapes, bsdfs, emitters, sensors, integrator, parameters."""
    shapes, bsdfs, seen = [], [], {}
    for i, sh in enumerate(scene.shapes):
        name = sh.id or f"shape_{i}"
        bn = bsdf_name(sh.bsdf, name)
        if id(sh.bsdf) not in seen:
            seen[id(sh.bsdf)] = bn
            b = sh.bsdf
            bsdfs.append({"name": bn, "id": b.id, "type": b.type, "twosided": b.twosided,
                          "params": {k: _tex_summary(v) for k, v in b.params.items()}})
        shapes.append({"name": name, "type": sh.type, "triangles": int(len(sh.faces)),
                       "vertices": int(len(sh.vertices)), "bsdf": seen[id(sh.bsdf)],
                       "emitter": f"{name}.emitter" if sh.emitter is not None else None,
                       "filename": sh.filename,
                       "bbox": [sh.vertices.min(axis=0).tolist(),
                                sh.vertices.max(axis=0).tolist()]})
    emitters = []
    for ename, em in zip(emitter_names(scene), scene.emitters):
        e = {"name": ename, "id": em.id, "type": em.type,
             "params": {k: _tex_summary(v) for k, v in em.params.items()}}
        if em.type == "area":
            e["shape"] = scene.shapes[em.shape].id
        else:
            e["position"] = None if em.position is None else np.asarray(em.position).tolist()
        emitters.append(e)
    sensors = []
    for sname, s in zip(sensor_names(scene), scene.sensors):
        f = s.film
        sensors.append({"name": sname, "type": s.type, "fov": s.fov, "fov_axis": s.fov_axis,
                        "fov_x": s.fov_x(), "width": f.width, "height": f.height,
                        "rfilter": f.rfilter.type, "spp": s.sampler.sample_count,
                        "origin": s.to_world[:3, 3].tolist(),
                        "direction": s.to_world[:3, 2].tolist()})
        extra = [n for n in SENSOR_SCALARS[1:] if getattr(s, n) not in (None, 0.0)]
        if s.type == "thinlens":
            extra += ["aperture_radius", "focus_distance"]
        sensors[-1].update({n: float(getattr(s, n)) for n in extra})
        if s.type == "orthographic":  # no field of view: half-extents of the film (x, y)
            sx, sy, sz = np.linalg.norm(s.to_world[:3, :3], axis=0)
            sensors[-1].update(fov=None, fov_axis=None, fov_x=None,
                               extent=[float(sx), float(sy * f.height / f.width)],
                               direction=(s.to_world[:3, 2] / sz).tolist())
    it = scene.integrator
    integ = {"type": it.type, "max_depth": it.max_depth, "rr_depth": it.rr_depth,
             "hide_emitters": it.hide_emitters, **it.params}
    return {"source": scene.source, "format": scene.source_format, "shapes": shapes,
            "bsdfs": bsdfs, "emitters": emitters, "sensors": sensors, "integrator": integ,
            "parameters": parameter_names(scene)}


def _tex_summary(v) -> Any:
    if isinstance(v, Texture):
        if v.type == "bitmap":
            return {"bitmap": v.filename, "shape": list(v.data.shape)}
        if v.type == "checkerboard":
            return {"checkerboard": [v.extra["color0"].tolist(), v.extra["color1"].tolist()]}
        if v.type == "shader":
            return {"shader": v.filename}
        return np.asarray(v.value).tolist()
    return v


def parameter_sources(scene: Scene, builder) -> dict[str, tuple]:
    """Parameter name -> (tree node, parameter name in that node), for the writer."""
    out = {}
    for name, p in parameters(scene).items():
        o, f = p.owner, p.field
        if f.startswith("params."):
            parts = f.split(".")
            node = builder.param_node.get(id(o)) or builder.origin.get(id(o))
            if node is None:
                continue
            if len(parts) == 2:
                out[name] = (node, parts[1])
            else:
                tex_node = _texture_node(builder, node, parts[1])
                if tex_node is None and getattr(node, "type", None) == "envmap":
                    tex_node = node  # the envmap's own image
                if tex_node is not None:
                    out[name] = (tex_node, "filename" if parts[2] == "data" else parts[2])
        else:
            node = builder.origin.get(id(o))
            if node is None:
                continue
            out[name] = (node, {"vertices": "filename"}.get(f, f))
    return out


def _texture_node(builder, node, pname):
    for c in node.children:
        if getattr(c, "name", None) == pname:
            return builder.resolve(c) if isinstance(c, Ref) else c
    if pname == "nested_texture" and getattr(node, "type", None) == "bumpmap":
        for c in node.children:  # the bump map's one texture, whatever its name
            t = builder.resolve(c) if isinstance(c, Ref) else c
            if t.category == "texture":
                return t
    return None


def diff_scenes(a: Scene, b: Scene, rtol: float = 0.0, atol: float = 0.0) -> list[str]:
    """Differences between two Scenes (ignoring ``source``, ``source_format``, ``tree``,
    ``defines``): an empty list when they are the same."""
    out: list[str] = []

    def cmp(x, y, path):
        if dataclasses.is_dataclass(x) and dataclasses.is_dataclass(y):
            if type(x) is not type(y):
                out.append(f"{path}: {type(x).__name__} != {type(y).__name__}")
                return
            for fld in dataclasses.fields(x):
                if path == "" and fld.name in ("source", "source_format", "tree", "defines"):
                    continue
                cmp(getattr(x, fld.name), getattr(y, fld.name),
                    f"{path}.{fld.name}" if path else fld.name)
            return
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if x is None or y is None:
                out.append(f"{path}: {x is None} vs {y is None} (None)")
                return
            xa, ya = np.asarray(x), np.asarray(y)
            if xa.shape != ya.shape:
                out.append(f"{path}: shape {xa.shape} != {ya.shape}")
            elif not np.allclose(xa, ya, rtol=rtol, atol=atol, equal_nan=True):
                out.append(f"{path}: values differ (max |d| = "
                           f"{np.max(np.abs(xa.astype(float) - ya.astype(float))):g})")
            return
        if isinstance(x, dict) and isinstance(y, dict):
            if set(x) != set(y):
                out.append(f"{path}: keys {sorted(x)} != {sorted(y)}")
                return
            for k in x:
                cmp(x[k], y[k], f"{path}[{k!r}]")
            return
        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            if len(x) != len(y):
                out.append(f"{path}: length {len(x)} != {len(y)}")
                return
            for i, (xe, ye) in enumerate(zip(x, y)):
                cmp(xe, ye, f"{path}[{i}]")
            return
        if isinstance(x, float) and isinstance(y, float):
            if not np.isclose(x, y, rtol=rtol, atol=atol):
                out.append(f"{path}: {x!r} != {y!r}")
            return
        if x != y:
            out.append(f"{path}: {x!r} != {y!r}")

    cmp(a, b, "")
    return out
