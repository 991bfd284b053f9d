"""Mesh data for the shape plugins: OBJ and PLY files, and the tessellated analytic shapes.

All functions return object-space data ``(vertices, faces, normals or None, uvs or None)``;
``shape_from_local`` applies ``to_world``, computes Mitsuba's vertex normals when the file has
none, and bakes ``flip_normals`` in.

- OBJ: parsed here, exactly as Mitsuba's loader: polygons are fanned ``(0,1,2), (0,2,3), ...``,
  a vertex is one distinct ``v/vt/vn`` triple (in order of first use), ``flip_tex_coords``
  (default true) maps ``v -> 1 - v``, non-finite values are errors naming the file and line.
- PLY: through ``trimesh`` (ASCII and binary), keeping vertex normals and uvs when present,
  and the other vertex / face properties as Mitsuba's mesh attributes (:func:`ply_attributes`).
- Analytic shapes use Mitsuba's object-space geometry and uv conventions:
  rectangle ``[-1, 1]^2`` at ``z = 0`` with normal +Z and ``uv = (x + 1, y + 1) / 2``;
  cube ``[-1, 1]^3`` with Mitsuba's 24 vertices / 12 triangles and per-face uvs;
  sphere of radius 1 with ``u = phi / 2pi`` (``phi = atan2(y, x)`` in ``[0, 2pi)``) and
  ``v = theta / pi`` (``theta`` from +Z); disk of radius 1 at ``z = 0`` with normal +Z and
  ``uv = (r, phi / 2pi)``.
"""
from __future__ import annotations

import io
import os
import warnings

import numpy as np

from .. import limits
from ..errors import SceneError
from . import transforms as tf

# Tessellation of the analytic shapes. A sphere of radius R pixels on screen deviates from
# its polygonal silhouette by at most R * (1 - cos(pi / SPHERE_SEGMENTS)) along a meridian and
# ~2x that across a facet: 0.3 px for R = 512 px (a sphere twice the height of a 512^2 image).
SPHERE_SEGMENTS = 128  # around the Z axis (phi)
SPHERE_RINGS = 64  # pole to pole (theta)
DISK_SEGMENTS = 128
NORMAL_CHUNK = 1 << 16  # faces per chunk of the vertex normals' per-face work


class MeshFileError(Exception):
    """Raised by the readers; the loader turns it into a SceneError at the shape's location."""


# --------------------------------------------------------------------------------------------
# OBJ
# --------------------------------------------------------------------------------------------

def _obj_index(tok: str, n: int, path: str, lineno: int, what: str) -> int:
    try:
        i = int(tok)
    except ValueError:
        raise MeshFileError(f"{path}:{lineno}: could not parse {what} index \"{tok}\"") from None
    if i < 0:
        i = n + i + 1  # OBJ relative index
    if i < 1 or i > n:
        raise MeshFileError(f"{path}:{lineno}: reference to invalid {what} {tok} "
                            f"(the file has {n} so far)")
    return i


def check_file_size(path: str) -> None:
    """A mesh file is read whole: refuse one beyond :data:`limits.MAX_MESH_FILE_BYTES`."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise MeshFileError(f"{path}: cannot read ({exc.strerror})") from None
    if size > limits.MAX_MESH_FILE_BYTES:
        raise MeshFileError(f"{path}: {size} bytes is above the limit of "
                            f"{limits.MAX_MESH_FILE_BYTES} bytes for a mesh file")


def load_obj(path: str, flip_tex_coords: bool = True):
    check_file_size(path)
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise MeshFileError(f"{path}: cannot read ({exc.strerror})") from None
    fast = _load_obj_fast(lines, flip_tex_coords)
    if fast is not None:
        return fast
    return _load_obj_lines(lines, path, flip_tex_coords)


def _floats(lines: list[str], skip: int, n: int):
    """The records of one type as an (len(lines), k) float array (k >= n), or None if their
    value counts differ."""
    if not lines:
        return np.zeros((0, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            vals = np.fromstring(" ".join([ln[skip:] for ln in lines]), sep=" ")
        except ValueError:  # text numpy cannot read: the per-line reader names the line
            return None
    m = len(lines)
    if vals.size % m or vals.size // m < n:
        return None
    k = vals.size // m
    if any(len(ln.split()) != k + 1 for ln in lines):  # misaligned records
        return None
    return vals.reshape(m, k)[:, :n]


def _load_obj_fast(lines: list[str], flip_tex_coords: bool):
    """Vectorised reader for regular files (every face with the same vertex count and index
    format, no negative indices, finite values); None means "use the per-line reader", which
    also produces the error messages. Same output as the per-line reader."""
    vl, vtl, vnl, fl = [], [], [], []
    for ln in lines:
        c = ln[:3]
        if c[:2] == "v ":
            vl.append(ln)
        elif c == "vt ":
            vtl.append(ln)
        elif c == "vn ":
            vnl.append(ln)
        elif c[:2] == "f ":
            fl.append(ln)
        elif c[:1] in (" ", "\t") or c[:2] in ("v\t", "f\t") or c in ("vt\t", "vn\t"):
            if ln.strip() and ln.split()[0] in ("v", "vt", "vn", "f"):
                return None  # indented or tab-separated records
    if not fl or not vl:
        return None
    vs = _floats(vl, 2, 3)
    vts = _floats(vtl, 3, 2)
    vns = _floats(vnl, 3, 3)
    if vs is None or vts is None or vns is None:
        return None
    if not (np.all(np.isfinite(vs)) and np.all(np.isfinite(vts)) and np.all(np.isfinite(vns))):
        return None
    first = fl[0].split()[1:]
    n = len(first)
    ns = first[0].count("/")
    if n < 3 or ns > 2 or any(t.count("/") != ns for t in first):
        return None
    per_line = n * ns
    if any(ln.count("/") != per_line for ln in fl):
        return None
    text = " ".join([ln[2:] for ln in fl])
    if ns == 2:
        text = text.replace("//", "/0/")
    if "-" in text or "+" in text:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            idx = np.fromstring(text.replace("/", " "), sep=" ", dtype=np.int64)
        except ValueError:
            return None
    if idx.size != len(fl) * n * (ns + 1):
        return None
    keys = np.zeros((len(fl) * n, 3), np.int64)
    keys[:, :ns + 1] = idx.reshape(-1, ns + 1)
    if keys[:, 0].min() < 1 or keys[:, 0].max() > len(vs) or keys[:, 1].max() > len(vts) or \
            keys[:, 2].max() > len(vns) or (ns == 1 and keys[:, 1].min() < 1):
        return None
    code = (keys[:, 0] * (len(vts) + 1) + keys[:, 1]) * (len(vns) + 1) + keys[:, 2]
    uniq, first_at, inverse = np.unique(code, return_index=True, return_inverse=True)
    order = np.argsort(first_at, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    corner = rank[inverse.reshape(-1)].reshape(len(fl), n)
    tris = np.stack([np.stack([corner[:, 0], corner[:, j], corner[:, j + 1]], axis=1)
                     for j in range(1, n - 1)], axis=1).reshape(-1, 3)
    ukeys = keys[first_at[order]]
    verts = vs[ukeys[:, 0] - 1]
    uvs = None
    if len(vts):
        vt0 = np.zeros((len(vts) + 1, 2))
        vt0[1:] = vts
        if flip_tex_coords:
            vt0[1:, 1] = 1.0 - vt0[1:, 1]
        uvs = vt0[ukeys[:, 1]]
    normals = None
    if len(vns) and not np.any(ukeys[:, 2] == 0):
        vn0 = np.zeros((len(vns) + 1, 3))
        vn0[1:] = vns
        normals = vn0[ukeys[:, 2]]
    return verts, tris.astype(np.int32), normals, uvs


def _load_obj_lines(lines: list[str], path: str, flip_tex_coords: bool):
    vs: list[tuple[float, float, float]] = []
    vts: list[tuple[float, float]] = []
    vns: list[tuple[float, float, float]] = []
    key_to_index: dict[tuple[int, int, int], int] = {}
    keys: list[tuple[int, int, int]] = []
    tris: list[tuple[int, int, int]] = []
    for lineno, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s[0] == "#":
            continue
        parts = s.split()
        tag = parts[0]
        if tag in ("v", "vn", "vt"):
            n = 2 if tag == "vt" else 3
            if len(parts) < n + 1:
                raise MeshFileError(f"{path}:{lineno}: could not parse line \"{s}\"")
            try:
                vals = tuple(float(x) for x in parts[1:n + 1])
            except ValueError:
                raise MeshFileError(f"{path}:{lineno}: could not parse line \"{s}\"") from None
            if not all(np.isfinite(vals)):
                what = {"v": "vertex position", "vn": "vertex normal",
                        "vt": "texture coordinate"}[tag]
                raise MeshFileError(f"{path}:{lineno}: non-finite {what} \"{s}\"")
            if tag == "v":
                vs.append(vals)
            elif tag == "vn":
                vns.append(vals)
            else:
                vts.append((vals[0], 1.0 - vals[1] if flip_tex_coords else vals[1]))
        elif tag == "f":
            if len(parts) < 4:
                raise MeshFileError(f"{path}:{lineno}: a face needs at least 3 vertices: \"{s}\"")
            ids = []
            for tok in parts[1:]:
                sub = tok.split("/")
                if len(sub) > 3 or not sub[0]:
                    raise MeshFileError(f"{path}:{lineno}: could not parse face vertex \"{tok}\"")
                vi = _obj_index(sub[0], len(vs), path, lineno, "vertex")
                ti = _obj_index(sub[1], len(vts), path, lineno, "texture coordinate") \
                    if len(sub) > 1 and sub[1] else 0
                ni = _obj_index(sub[2], len(vns), path, lineno, "normal") \
                    if len(sub) > 2 and sub[2] else 0
                key = (vi, ti, ni)
                idx = key_to_index.get(key)
                if idx is None:
                    idx = len(keys)
                    key_to_index[key] = idx
                    keys.append(key)
                ids.append(idx)
            for k in range(1, len(ids) - 1):
                tris.append((ids[0], ids[k], ids[k + 1]))
        # o, g, s, usemtl, mtllib, l, p, ...: ignored, as Mitsuba does
    if not tris:
        raise MeshFileError(f"{path}: the file has no faces")
    karr = np.asarray(keys, np.int64)
    verts = np.asarray(vs, np.float64)[karr[:, 0] - 1]
    uvs = None
    if vts:
        vt = np.zeros((len(vts) + 1, 2))
        vt[1:] = vts
        uvs = vt[karr[:, 1]]
    normals = None
    if vns:
        vn = np.zeros((len(vns) + 1, 3))
        vn[1:] = vns
        normals = vn[karr[:, 2]]
        if np.any(karr[:, 2] == 0):
            normals = None  # some corners lack a normal: recompute all (as a file without vn)
    return verts, np.asarray(tris, np.int32), normals, uvs


# --------------------------------------------------------------------------------------------
# PLY
# --------------------------------------------------------------------------------------------

_PLY_TYPE_BYTES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2,
                   "int16": 2, "uint16": 2, "int": 4, "uint": 4, "int32": 4, "uint32": 4,
                   "float": 4, "float32": 4, "double": 8, "float64": 8}


def check_ply_header(path: str, data: bytes) -> dict[str, int]:
    """Element counts of a PLY header within :data:`limits.MAX_MESH_ELEMENTS` and, for binary
    files, within what the file's size can hold: checked before the reader allocates them.
    Returns the declared count of each element."""
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise MeshFileError(f"{path}: not a PLY file (no 'ply' ... 'end_header' header)")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    binary = any(ln.startswith("format binary") for ln in header)
    elements: list[list[int]] = []  # [count, bytes per element (lists: their count only)]
    counts: dict[str, int] = {}
    for ln in header:
        tok = ln.split()
        if len(tok) == 3 and tok[0] == "element":
            if len(tok[2]) > 12 or not tok[2].isdigit():
                raise MeshFileError(f"{path}: invalid PLY element count \"{tok[2][:20]}\"")
            n = int(tok[2])
            if n > limits.MAX_MESH_ELEMENTS:
                raise MeshFileError(f"{path}: {n} '{tok[1]}' elements is above the limit of "
                                    f"{limits.MAX_MESH_ELEMENTS}")
            elements.append([n, 0])
            counts[tok[1]] = n
        elif len(tok) >= 3 and tok[0] == "property" and elements:
            elements[-1][1] += _PLY_TYPE_BYTES.get(tok[2] if tok[1] == "list" else tok[1], 1)
    need = sum(n * size for n, size in elements)
    if binary and need > len(data) - end:
        raise MeshFileError(f"{path}: the PLY header declares at least {need} bytes of data but "
                            f"the file holds {len(data) - end} (truncated or corrupt)")
    return counts


def load_ply(path: str, flip_tex_coords: bool = False, attributes: dict | None = None):
    """``(vertices, faces, normals, uvs)`` of a PLY file; ``attributes``, when given, receives
    its mesh attributes (:func:`ply_attributes`)."""
    check_file_size(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise MeshFileError(f"{path}: cannot read ({exc.strerror})") from None
    declared = check_ply_header(path, data)
    try:
        # imported here, not at module level: 0.5 s and ~70 MB (scipy, networkx) that scenes
        # without PLY files never need (OBJ files and analytic shapes are read by this module)
        import trimesh
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = trimesh.exchange.ply.load_ply(io.BytesIO(data), prefer_color=None,
                                              fix_texture=False)
        out = _ply_arrays(path, d, flip_tex_coords)
        if attributes is not None:
            raw = (d.get("metadata") or {}).get("_ply_raw") or {}
            found = ply_attributes(path, raw, len(out[0]), len(out[1]))
    except MeshFileError:
        raise
    except MemoryError:
        raise MeshFileError(f"{path}: not enough memory to read this PLY file") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure becomes one line
        msg = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise MeshFileError(f"{path}: not a valid PLY file ({msg})") from None
    # trimesh drops what a truncated ASCII file lacks: compare with the header
    for name, got in (("vertex", len(out[0])), ("face", len(out[1]))):
        if name in declared and got < declared[name]:
            raise MeshFileError(f"{path}: the header declares {declared[name]} '{name}' elements, "
                                f"the file holds {got} (truncated or corrupt)")
    if attributes is not None:
        attributes.update(found)
    return out


#: Property names a PLY element's attributes never take (Mitsuba's reserved names).
_PLY_RESERVED = {"vertex": {"x", "y", "z", "nx", "ny", "nz", "u", "v", "texture_u", "texture_v",
                            "s", "t"},
                 "face": {"vertex_index", "vertex_indices"}}
#: The postfix families of a multi-channel attribute (``{prefix}_x``, ``_y``, ``_z``, ...):
#: family k is ``_PLY_POSTFIXES[k]``; the r/g/b family gets the name ``{prefix}_color``.
_PLY_POSTFIXES = ("xyzw", "rgba", "0123", "1234")
_PLY_RGB_FAMILY = 1


def _ply_columns(block) -> dict[str, np.ndarray]:
    """One element of trimesh's raw PLY data as ``{property: (N,) array}`` in file order
    (binary files: a structured array; ASCII files: a dict of (N, 1) arrays)."""
    data = block.get("data") if isinstance(block, dict) else None
    cols: dict[str, np.ndarray] = {}
    if isinstance(data, np.ndarray) and data.dtype.names:
        for n in data.dtype.names:
            cols[n] = data[n]
    elif isinstance(data, dict):
        cols = dict(data)
    out = {}
    for n, c in cols.items():  # scalar numeric properties (list properties are not attributes)
        c = np.asarray(c)
        if c.dtype.kind in "fiub" and (c.ndim == 1 or (c.ndim == 2 and c.shape[1] == 1)):
            out[n] = c.reshape(-1)
    return out


def ply_attributes(path: str, raw: dict, n_vertices: int, n_faces: int) -> dict[str, np.ndarray]:
    """Mitsuba 3.9.1's mesh attributes of a PLY file (``{name: (rows, channels) float32}``):
    the vertex / face properties other than positions, normals, uvs and indices, named
    ``vertex_<prefix>`` / ``face_<prefix>``. ``r g b [a]`` (or ``red green blue [alpha]``) are
    ``<element>_color``; consecutive properties ``<prefix>_<postfix>`` whose postfixes run
    through one family (``x y z w``, ``r g b a`` (named ``<prefix>_color``), ``0 1 2 3``,
    ``1 2 3 4``) are one attribute of 1 or 3 channels (Mitsuba ignores other counts, and
    properties without a ``_`` postfix). Values are kept as stored: 8-bit colours are not
    divided by 255 and nothing is sRGB-decoded (as Mitsuba's RGB variants)."""
    out: dict[str, np.ndarray] = {}
    for element, rows in (("vertex", n_vertices), ("face", n_faces)):
        cols = _ply_columns(raw.get(element, {}))
        if not cols or any(len(c) != rows for c in cols.values()):
            continue  # e.g. polygons triangulated by the reader: no per-triangle rows
        names = [n for n in cols if n not in _PLY_RESERVED[element]]
        for trio in (("r", "g", "b"), ("red", "green", "blue")):
            if all(n in cols for n in trio):
                alpha = "a" if trio[0] == "r" else "alpha"
                used = list(trio) + ([alpha] if alpha in cols else [])
                out[f"{element}_color"] = np.stack([cols[n] for n in used], 1).reshape(rows, -1)
                names = [n for n in names if n not in used + ["r", "g", "b", "a"]]
                break
        i, seen = 0, set()
        while i < len(names):
            prefix, _, post = names[i].rpartition("_")
            if not prefix or len(post) != 1 or prefix in seen:
                i += 1
                continue
            fam = next((k for k, f in enumerate(_PLY_POSTFIXES) if f[0] == post), None)
            if fam is None:
                i += 1
                continue
            group = [names[i]]
            while (i + len(group) < len(names) and len(group) < 4
                   and names[i + len(group)] == f"{prefix}_{_PLY_POSTFIXES[fam][len(group)]}"):
                group.append(names[i + len(group)])
            i += len(group)
            seen.add(prefix)
            if len(group) not in (1, 3):
                continue  # Mitsuba: "attribute must have either 1 or 3 fields"
            name = f"{element}_{prefix}" + ("_color" if fam == _PLY_RGB_FAMILY else "")
            out[name] = np.stack([cols[n] for n in group], 1).reshape(rows, -1)
    res = {}
    for name, a in out.items():
        a = np.ascontiguousarray(a, np.float32)
        if not np.all(np.isfinite(a)):
            raise MeshFileError(f"{path}: attribute '{name}' has non-finite values")
        res[name] = a
    return res


def _ply_arrays(path: str, d: dict, flip_tex_coords: bool):
    verts = np.asarray(d.get("vertices"), np.float64)
    faces = d.get("faces")
    if faces is None or len(faces) == 0:
        raise MeshFileError(f"{path}: the file has no faces")
    faces = np.asarray(faces, np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise MeshFileError(f"{path}: could not triangulate the faces")
    if faces.min() < 0 or faces.max() >= len(verts):
        raise MeshFileError(f"{path}: a face references a vertex that does not exist")
    bad = ~np.all(np.isfinite(verts), axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise MeshFileError(f"{path}: non-finite vertex position at vertex {i} "
                            f"{verts[i].tolist()}")
    normals = d.get("vertex_normals")
    if normals is not None:
        normals = np.asarray(normals, np.float64)
        if normals.shape != verts.shape:
            normals = None
        elif not np.all(np.isfinite(normals)):
            raise MeshFileError(f"{path}: non-finite vertex normal")
    uvs = None
    vis = d.get("visual")
    if vis is not None and getattr(vis, "uv", None) is not None:
        uvs = np.asarray(vis.uv, np.float64)[:, :2]
        if len(uvs) != len(verts):
            uvs = None
        elif not np.all(np.isfinite(uvs)):
            raise MeshFileError(f"{path}: non-finite texture coordinate")
        elif flip_tex_coords:
            uvs = uvs.copy()
            uvs[:, 1] = 1.0 - uvs[:, 1]
    return verts, faces.astype(np.int32), normals, uvs


def ply_bytes(vertices, faces, normals=None, uvs=None, attributes=None) -> bytes:
    """A binary little-endian PLY of a triangle mesh with its mesh attributes, named so that
    :func:`ply_attributes` (and Mitsuba) read them back under the same names: ``<element>_color``
    as ``r g b [a]``, any other ``<element>_<p>`` as ``<p>_0, <p>_1, ...`` (Mitsuba's
    ``write_ply`` naming)."""
    v = np.asarray(vertices, np.float32).reshape(-1, 3)
    f = np.asarray(faces, np.int32).reshape(-1, 3)
    attributes = attributes or {}
    out = {"vertex": [(n, v[:, k]) for k, n in enumerate("xyz")], "face": []}
    if normals is not None:
        n = np.asarray(normals, np.float32).reshape(-1, 3)
        out["vertex"] += [(c, n[:, k]) for k, c in enumerate(("nx", "ny", "nz"))]
    if uvs is not None:
        t = np.asarray(uvs, np.float32).reshape(-1, 2)
        out["vertex"] += [("u", t[:, 0]), ("v", t[:, 1])]
    for name, a in attributes.items():
        element, _, prefix = name.partition("_")
        a = np.asarray(a, np.float32).reshape(len(v) if element == "vertex" else len(f), -1)
        if prefix == "color" and a.shape[1] in (3, 4):
            cols = "rgba"[:a.shape[1]]
        else:
            cols = [f"{prefix}_{k}" for k in range(a.shape[1])]
        out[element] += [(c, a[:, k]) for k, c in enumerate(cols)]
    vd = np.zeros(len(v), [(n, "<f4") for n, _ in out["vertex"]])
    for n, col in out["vertex"]:
        vd[n] = col
    fd = np.zeros(len(f), [("n", "u1"), ("i", "<i4", (3,))] + [(n, "<f4") for n, _ in out["face"]])
    fd["n"] = 3
    fd["i"] = f
    for n, col in out["face"]:
        fd[n] = col
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(v)}"]
    header += [f"property float {n}" for n, _ in out["vertex"]]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices"]
    header += [f"property float {n}" for n, _ in out["face"]] + ["end_header"]
    return ("\n".join(header) + "\n").encode("ascii") + vd.tobytes() + fd.tobytes()


# --------------------------------------------------------------------------------------------
# Analytic shapes (object space)
# --------------------------------------------------------------------------------------------

def rectangle():
    v = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float64)
    f = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    n = np.tile([0.0, 0.0, 1.0], (4, 1))
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    return v, f, n, uv


_CUBE_V = [[1, -1, -1], [1, -1, 1], [-1, -1, 1], [-1, -1, -1], [1, 1, -1], [-1, 1, -1],
           [-1, 1, 1], [1, 1, 1], [1, -1, -1], [1, 1, -1], [1, 1, 1], [1, -1, 1],
           [1, -1, 1], [1, 1, 1], [-1, 1, 1], [-1, -1, 1], [-1, -1, 1], [-1, 1, 1],
           [-1, 1, -1], [-1, -1, -1], [1, 1, -1], [1, -1, -1], [-1, -1, -1], [-1, 1, -1]]
_CUBE_N = [[0, -1, 0]] * 4 + [[0, 1, 0]] * 4 + [[1, 0, 0]] * 4 + [[0, 0, 1]] * 4 + \
          [[-1, 0, 0]] * 4 + [[0, 0, -1]] * 4
_CUBE_UV = [[0, 1], [1, 1], [1, 0], [0, 0]] * 6
_CUBE_F = [[0, 1, 2], [3, 0, 2], [4, 5, 6], [7, 4, 6], [8, 9, 10], [11, 8, 10],
           [12, 13, 14], [15, 12, 14], [16, 17, 18], [19, 16, 18], [20, 21, 22], [23, 20, 22]]


def cube():
    return (np.array(_CUBE_V, np.float64), np.array(_CUBE_F, np.int32),
            np.array(_CUBE_N, np.float64), np.array(_CUBE_UV, np.float64))


def sphere(segments: int = SPHERE_SEGMENTS, rings: int = SPHERE_RINGS):
    """Unit UV sphere. Interior rings have a seam column (u = 0 and u = 1); each pole is one
    vertex per segment so that every triangle gets the uv of its own longitude."""
    verts, uvs, faces = [], [], []
    # poles: one vertex per segment, u at the segment centre
    for j in range(rings + 1):
        th = np.pi * j / rings
        st, ct = np.sin(th), np.cos(th)
        if j == 0 or j == rings:
            for i in range(segments):
                u = (i + 0.5) / segments
                verts.append((0.0, 0.0, ct))
                uvs.append((u, j / rings))
        else:
            for i in range(segments + 1):
                ph = 2.0 * np.pi * i / segments
                verts.append((st * np.cos(ph), st * np.sin(ph), ct))
                uvs.append((i / segments, j / rings))

    def idx(j, i):
        if j == 0:
            return i
        if j == rings:
            return segments + (rings - 1) * (segments + 1) + i
        return segments + (j - 1) * (segments + 1) + i

    for j in range(rings):
        for i in range(segments):
            a = idx(j, i)  # (theta_j, phi_i)
            b = idx(j + 1, i) if j + 1 < rings else idx(j + 1, i)
            if j == 0:
                # pole triangle: pole, (1, i), (1, i + 1)
                faces.append((a, idx(1, i), idx(1, i + 1)))
            elif j + 1 == rings:
                faces.append((idx(j, i), b, idx(j, i + 1)))
            else:
                c = idx(j, i + 1)
                d = idx(j + 1, i + 1)
                faces.append((a, b, c))
                faces.append((b, d, c))
    v = np.asarray(verts, np.float64)
    # exact unit length (the pole/ring construction is already, this removes rounding)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v, np.asarray(faces, np.int32), v.copy(), np.asarray(uvs, np.float64)


def disk(segments: int = DISK_SEGMENTS):
    """Unit disk at z = 0, normal +Z: a centre vertex per segment (uv (0, phi_mid / 2pi)) and a
    rim with a seam column."""
    verts, uvs, faces = [], [], []
    for i in range(segments):
        verts.append((0.0, 0.0, 0.0))
        uvs.append((0.0, (i + 0.5) / segments))
    for i in range(segments + 1):
        ph = 2.0 * np.pi * i / segments
        verts.append((np.cos(ph), np.sin(ph), 0.0))
        uvs.append((1.0, i / segments))
    for i in range(segments):
        faces.append((i, segments + i, segments + i + 1))
    v = np.asarray(verts, np.float64)
    n = np.tile([0.0, 0.0, 1.0], (len(v), 1))
    return v, np.asarray(faces, np.int32), n, np.asarray(uvs, np.float64)


# --------------------------------------------------------------------------------------------
# Normals, transforms, flip
# --------------------------------------------------------------------------------------------

def _row_norms(x):
    """Euclidean norms of the rows of (N, 3) ``x`` (as ``np.linalg.norm(x, axis=1)``)."""
    sq = x * x
    return np.sqrt(sq[:, 0] + sq[:, 1] + sq[:, 2])


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Mitsuba's smooth normals: each face normal weighted by the corner angle (Thuermer &
    Wuethrich 1998); vertices without a valid face get (1, 0, 0)."""
    # weighted[j, k, i]: component j of face i's normal weighted by its angle at corner k
    # (component-major: each component's corners are one contiguous row for bincount below)
    weighted = np.empty((3, 3, f.shape[0]))
    for c0 in range(0, f.shape[0], NORMAL_CHUNK):  # chunks: small temporaries, reused
        fc = f[c0:c0 + NORMAL_CHUNK]
        p0, p1, p2 = v[fc[:, 0]], v[fc[:, 1]], v[fc[:, 2]]
        edges = (p1 - p0, p2 - p1, p0 - p2)  # edge k runs from corner k to corner k + 1
        lengths = [_row_norms(e) for e in edges]
        fn = np.cross(edges[0], -edges[2])
        ln = _row_norms(fn)[:, None]
        ok = ln[:, 0] > 0
        fn = np.where(ok[:, None], fn / np.where(ln > 0, ln, 1.0), 0.0)
        for k in range(3):
            # the angle at corner k between edge k and the reversed edge k - 1
            a, b = edges[k], edges[k - 1]
            with np.errstate(invalid="ignore", divide="ignore"):
                c = -np.einsum("ij,ij->i", a, b) / (lengths[k] * lengths[k - 1])
            ang = np.arccos(np.clip(np.nan_to_num(c), -1.0, 1.0))
            np.multiply(fn, ang[:, None], out=weighted[:, k, c0:c0 + NORMAL_CHUNK].T)
    # Sums per vertex, corners in the order (all faces' corner 0, then 1, then 2): bincount adds
    # in index order, so the sums are those of the per-corner accumulation, bit for bit.
    idx = f.T.reshape(-1)
    out = np.stack([np.bincount(idx, weights=weighted[j].reshape(-1), minlength=v.shape[0])
                    for j in range(3)], axis=1)
    ln = _row_norms(out)[:, None]
    good = ln[:, 0] > 0
    out = np.where(good[:, None], out / np.where(ln > 0, ln, 1.0), [1.0, 0.0, 0.0])
    return out


def shape_from_local(v, f, n, uv, to_world: np.ndarray, face_normals: bool,
                     flip_normals: bool):
    """World-space mesh data from object-space data, as Mitsuba's mesh loaders do it.

    Returns ``(vertices, faces, normals, uvs, local_vertices, local_normals)``."""
    v = np.asarray(v, np.float64)
    f = np.asarray(f, np.int32)
    identity = np.array_equal(to_world, np.eye(4))
    wv = v.copy() if identity else tf.transform_points(to_world, v)
    if face_normals:
        wn = None
        ln = None
    elif n is not None:
        ln = np.asarray(n, np.float64)
        lnn = np.linalg.norm(ln, axis=1, keepdims=True)
        ln = np.where(lnn > 0, ln / np.where(lnn > 0, lnn, 1.0), [1.0, 0.0, 0.0])
        wn = tf.transform_normals(to_world, ln)
    else:
        wn = vertex_normals(wv, f)
        # the same normals when to_world is the identity (exports with baked positions)
        ln = wn.copy() if identity else vertex_normals(v, f)
    if flip_normals:
        f = f[:, [0, 2, 1]].copy()
        if wn is not None:
            wn = -wn
            ln = -ln
    uv = None if uv is None else np.asarray(uv, np.float64)
    return wv, np.ascontiguousarray(f, np.int32), wn, uv, v.copy(), ln


def mesh_file_exists(path: str) -> bool:
    return os.path.isfile(path)
