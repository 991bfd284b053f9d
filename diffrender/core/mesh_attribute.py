"""Mitsuba's ``mesh_attribute`` texture: a mesh's own per-vertex or per-face values as a texture.

Semantics (Mitsuba 3.9.1, RGB variants): the texture names an attribute of the shape it is
evaluated on (``name``: ``vertex_*`` or ``face_*``, e.g. ``vertex_color`` from a PLY file's
``r g b`` properties, see :func:`diffrender.scene.meshes.ply_attributes`); a vertex attribute
is interpolated with the hit triangle's barycentrics ``(1 - b1 - b2, b1, b2)`` over its three
vertices, a face attribute is the triangle's value; the result is multiplied by ``scale``
(not differentiable). A 1-channel attribute read as a colour is that value on all three
channels; a float parameter (e.g. ``blendbsdf``'s ``weight``) needs a 1-channel attribute.
Values are used as stored (no sRGB decoding, 8-bit colours are not divided by 255).

Differentiable with respect to the attribute values: the scene parameter
``<shape>.<attribute>`` (``rows x channels``, Mitsuba's traverse name under the shape). The
lookup is a gather of the stored values with constant weights, so its adjoint is a
scatter-add into :attr:`MeshAttributeTable.values` (the safe pattern of docs/engine.md).

Texture lookups that may read an attribute take a *texture point* instead of the plain uv:
``(u, v, b1, b2, triangle)`` with the triangle's index in the merged (shape-order) triangle list
(exact as a float32 up to :data:`MAX_TRIANGLES`); scenes without a ``mesh_attribute`` keep
the 2-vector uv (``TextureTable.point_dim``), so their kernels are unchanged.
"""
from __future__ import annotations

import numpy as np

from ..engine import ti
from ..errors import SceneError
from ..scene.spec import Param, PluginSpec
from .types import ivec3, vec3

#: the slot kind of a mesh attribute lookup (``TextureTable``'s kind codes)
KIND_MESH_ATTRIBUTE = 3
#: components of a texture point in scenes with a mesh attribute: u, v, b1, b2, triangle
POINT_DIM = 5
UV_DIM = 2
#: triangle indices travel as float32 in a texture point: exact up to 2^24
MAX_TRIANGLES = 2 ** 24
#: the channel counts a lookup accepts (Mitsuba's eval: 1 or 3)
CHANNELS = (1, 3)
PREFIXES = ("vertex_", "face_")

SPEC = PluginSpec("texture", "mesh_attribute", {
    "name": Param("string", None, "the shape's attribute to read (required): `vertex_*` "
                  "(interpolated over the triangle) or `face_*` (constant per triangle), "
                  "1 or 3 channels; its values are the parameter `<shape>.<name>`"),
    "scale": Param("float", 1.0, "factor applied to the attribute (not differentiable)")},
    doc="a mesh's vertex / face attribute (e.g. PLY vertex colours)", code=KIND_MESH_ATTRIBUTE)


def check_name(name: str) -> str | None:
    """Mitsuba's rule for the ``name`` parameter (it must contain ``vertex_`` or ``face_``); the
    error text, or None when it is valid."""
    if any(p in name for p in PREFIXES):
        return None
    return f"mesh_attribute name must start with 'vertex_' or 'face_', got '{name}'"


def is_vertex(name: str) -> bool:
    """A vertex attribute (interpolated) rather than a face one."""
    return name.startswith("vertex_")


def rows_of(shape, name: str) -> int:
    return len(shape.vertices) if is_vertex(name) else len(shape.faces)


def check_use(tex, shape, shape_name: str, where: str, as_float: bool) -> None:
    """Raise a one-line SceneError unless ``shape`` has the attribute that ``tex`` (a
    mesh_attribute Texture) reads, with a channel count that this use accepts."""
    name = tex.extra["name"]
    loc = tex.extra.get("loc") or where
    have = shape.attributes.get(name)
    if have is None:
        known = ", ".join(sorted(shape.attributes)) or "none"
        raise SceneError(f"mesh_attribute '{name}': shape '{shape_name}' has no such attribute "
                         f"(its attributes: {known})", loc)
    rows, ch = np.shape(have)[0], np.shape(have)[1]
    if rows != rows_of(shape, name):
        raise SceneError(f"mesh_attribute '{name}' of shape '{shape_name}' has {rows} rows, "
                         f"expected one per {'vertex' if is_vertex(name) else 'face'} "
                         f"({rows_of(shape, name)})", loc)
    if ch not in CHANNELS:
        raise SceneError(f"mesh_attribute '{name}' of shape '{shape_name}' has {ch} channels; "
                         "the texture reads 1 or 3", loc)
    if as_float and ch != 1:
        raise SceneError(f"mesh_attribute '{name}' of shape '{shape_name}' has {ch} channels; "
                         "a float parameter needs a 1-channel attribute", loc)


def bsdf_textures(bsdf, seen=None) -> list:
    """The textures a BSDF reads, its nested BSDFs' included."""
    seen = set() if seen is None else seen
    if bsdf is None or id(bsdf) in seen:
        return []
    seen.add(id(bsdf))
    out = [v for v in bsdf.params.values() if getattr(v, "type", None) is not None
           and hasattr(v, "extra")]
    for c in bsdf.children:
        out += bsdf_textures(c, seen)
    return out


def check_shape(shape, shape_name: str, where: str) -> None:
    """:func:`check_use` for every ``mesh_attribute`` that ``shape``'s BSDF reads."""
    for tex in bsdf_textures(shape.bsdf):
        if tex.type == "mesh_attribute":
            check_use(tex, shape, shape_name, where, bool(tex.extra.get("eval_1")))


@ti.data_oriented
class MeshAttributeTable:
    """The attribute values that the scene's ``mesh_attribute`` slots read, and per triangle
    (merged shape order) where to find them.

    ``values``: the stored rows of every (shape, attribute) pair some slot reads (1-channel
    attributes on all three channels), with gradient and dual storage; ``offset[j, shape]``:
    the first row of binding j (a ``mesh_attribute`` slot) on that shape, -1 where the shape
    lacks it (the lookup gives black; :func:`check_use` refuses BSDFs that would read it);
    ``vertex[j]``: binding j interpolates vertex values; ``tri_face[t]``: (shape, face index
    in the shape) of merged triangle t; ``tri_vi[t]``: its vertex indices in the shape."""

    def __init__(self, textures, shapes):
        """``textures``: the texture table's (Texture, where) slots; ``shapes``: the scene's."""
        self.shapes = list(shapes)
        slots = [i for i, (t, _) in enumerate(textures) if t.type == "mesh_attribute"]
        self.binding = {s: j for j, s in enumerate(slots)}  # slot -> binding row
        self.enabled = bool(slots)
        n_b, n_s = max(1, len(slots)), max(1, len(self.shapes))
        self.entries: dict[tuple[int, str], tuple[int, int, int]] = {}  # -> (offset, rows, ch)
        offsets = np.full((n_b, n_s), -1, np.int32)
        vertex = np.zeros(n_b, np.int32)
        total = 0
        for j, s in enumerate(slots):
            name = textures[s][0].extra["name"]
            vertex[j] = int(is_vertex(name))
            for k, sh in enumerate(self.shapes):
                a = sh.attributes.get(name)
                if a is None or np.ndim(a) != 2 or np.shape(a)[0] != rows_of(sh, name) \
                        or np.shape(a)[1] not in CHANNELS:
                    continue
                if (k, name) not in self.entries:
                    self.entries[(k, name)] = (total, int(np.shape(a)[0]), int(np.shape(a)[1]))
                    total += int(np.shape(a)[0])
                offsets[j, k] = self.entries[(k, name)][0]
        n_tris = sum(len(sh.faces) for sh in self.shapes) if self.enabled else 0
        if n_tris > MAX_TRIANGLES:
            raise SceneError(f"the mesh_attribute texture supports scenes of up to "
                             f"{MAX_TRIANGLES} triangles, this one has {n_tris}")
        self.n_rows = max(1, total)
        self.values = vec3.field(shape=self.n_rows, needs_grad=True, needs_dual=True)
        self.offset = ti.field(ti.i32, shape=(n_b, n_s))
        self.vertex = ti.field(ti.i32, shape=n_b)
        self.tri_face = ti.types.vector(2, ti.i32).field(shape=max(1, n_tris))
        self.tri_vi = ivec3.field(shape=max(1, n_tris))
        self.offset.from_numpy(offsets)
        self.vertex.from_numpy(vertex)
        if n_tris:
            face = np.concatenate([np.stack([np.full(len(sh.faces), k, np.int32),
                                             np.arange(len(sh.faces), dtype=np.int32)], 1)
                                   for k, sh in enumerate(self.shapes)])
            vi = np.concatenate([np.asarray(sh.faces, np.int32).reshape(-1, 3)
                                 for sh in self.shapes])
            self.tri_face.from_numpy(face)
            self.tri_vi.from_numpy(vi)
        self._host = np.zeros((self.n_rows, 3), np.float32)
        for key in self.entries:
            self._fill(*key)
        self.values.from_numpy(self._host)

    def _fill(self, k: int, name: str) -> None:
        off, rows, ch = self.entries[(k, name)]
        a = np.asarray(self.shapes[k].attributes[name], np.float32)
        if a.shape != (rows, ch):
            raise SceneError(f"attribute '{name}' of shape '{self.shapes[k].id}' must keep its "
                             f"shape {(rows, ch)}, got {a.shape}")
        self._host[off:off + rows] = np.repeat(a, 3, axis=1) if ch == 1 else a

    def upload(self, shape, name: str) -> bool:
        """Re-upload one shape's attribute after its value changed; False when no slot reads
        it (nothing to do)."""
        k = next((i for i, s in enumerate(self.shapes) if s is shape), -1)
        if (k, name) not in self.entries:
            return False
        self._fill(k, name)
        self.values.from_numpy(self._host)
        return True

    def _rows(self, shape, name):
        k = next((i for i, s in enumerate(self.shapes) if s is shape), -1)
        return self.entries.get((k, name))

    def gradient(self, grad: np.ndarray, shape, name: str, like: np.ndarray) -> np.ndarray:
        """The gradient of the attribute (shaped like the parameter ``like``) from the values'
        gradient ``grad`` (rows, 3); zero where no slot reads it."""
        e = self._rows(shape, name)
        like = np.asarray(like)
        if e is None:
            return np.zeros(like.shape, np.float64)
        off, rows, ch = e
        g = np.asarray(grad[off:off + rows], np.float64)
        return (g.sum(axis=1, keepdims=True) if ch == 1 else g).reshape(like.shape)

    def add_seed(self, seed: np.ndarray, shape, name: str, tangent: np.ndarray) -> None:
        """Add an attribute's tangent (rows x channels) into ``seed`` (the values' shape)."""
        e = self._rows(shape, name)
        if e is None:
            return
        off, rows, ch = e
        t = np.asarray(tangent, np.float32).reshape(rows, ch)
        seed[off:off + rows] += np.repeat(t, 3, axis=1) if ch == 1 else t

    # --- Taichi side -------------------------------------------------------------------------

    @ti.func
    def eval(self, j, p):
        """The value of binding j at texture point ``p`` (u, v, b1, b2, triangle)."""
        res = ti.Vector([0.0, 0.0, 0.0])
        t = ti.cast(p[4], ti.i32)
        if t >= 0:
            tf = self.tri_face[t]
            off = self.offset[j, tf[0]]
            if off >= 0:
                if self.vertex[j] != 0:
                    vi = self.tri_vi[t]
                    b1 = p[2]
                    b2 = p[3]
                    res = ((1.0 - b1 - b2) * self.values[off + vi[0]]
                           + b1 * self.values[off + vi[1]] + b2 * self.values[off + vi[2]])
                else:
                    res = self.values[off + tf[1]]
        return res


@ti.func
def hit_point(uv, b1, b2, tri):
    """The texture point of surface coordinates ``uv`` at barycentrics (b1, b2) of merged
    triangle ``tri`` (-1: none)."""
    return ti.Vector([uv.x, uv.y, b1, b2, ti.cast(tri, ti.f32)])


__all__ = ["KIND_MESH_ATTRIBUTE", "MAX_TRIANGLES", "MeshAttributeTable", "POINT_DIM", "SPEC",
           "bsdf_textures", "check_name", "check_shape", "check_use", "hit_point", "is_vertex"]
