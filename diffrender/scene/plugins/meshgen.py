"""Meshes of the shape plugins added for Mitsuba's scenes: Mitsuba's ``serialized`` file format
(versions 3 and 4, the ones Mitsuba 3.9.1 reads) and the tessellated ``cylinder``.

``serialized`` (little endian): ``uint16`` magic ``0x041C``, ``uint16`` version (3 or 4), then
a zlib stream: ``uint32`` flags (``0x1`` normals, ``0x2`` texture coordinates, ``0x8`` vertex
colours, ``0x2000`` double precision), the shape name as a null-terminated string (version 4
only), ``uint64`` vertex count ``V`` and triangle count ``F``, ``3V`` positions, ``3V`` normals,
``2V`` texture coordinates, ``3V`` colours (where flagged; float32 or float64), ``3F`` ``uint32``
indices. Several meshes are concatenated; the file ends with their offsets (``uint64`` for
version 4, ``uint32`` for version 3) and a ``uint32`` count, read for ``shape_index`` > 0.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from ..meshes import MeshFileError

SERIALIZED_MAGIC = 0x041C
SERIALIZED_VERSIONS = (3, 4)
HAS_NORMALS, HAS_TEXCOORDS, HAS_COLORS, DOUBLE_PRECISION = 0x0001, 0x0002, 0x0008, 0x2000

#: tessellation of the cylinder (around the axis x along it), as fine around as the sphere
CYLINDER_SEGMENTS = 128
CYLINDER_RINGS = 4


def load_serialized(path: str, shape_index: int = 0):
    """(vertices, faces, normals or None, uvs or None) of mesh ``shape_index`` of ``path``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise MeshFileError(f"{path}: cannot read ({exc.strerror})") from None

    def fail(msg):
        return MeshFileError(f"{path}: {msg}")

    if len(data) < 4:
        raise fail("not a Mitsuba serialized mesh (file too short)")
    magic, version = struct.unpack_from("<HH", data, 0)
    if magic != SERIALIZED_MAGIC:
        raise fail(f"not a Mitsuba serialized mesh (format identifier 0x{magic:04X}, "
                   f"expected 0x{SERIALIZED_MAGIC:04X})")
    if version not in SERIALIZED_VERSIONS:
        raise fail(f"serialized version {version} is not supported (Mitsuba 3.9.1 reads "
                   "versions 3 and 4)")
    offset = 0
    if shape_index < 0:
        raise fail(f"shape_index must be >= 0, got {shape_index}")
    if shape_index > 0:
        (count,) = struct.unpack_from("<I", data, len(data) - 4)
        if shape_index >= count:
            raise fail(f"shape_index {shape_index} is out of range (the file holds {count} "
                       "mesh(es))")
        entry = (len(data) - 8 * (count - shape_index) - 4 if version == 4
                 else len(data) - 4 * (count - shape_index + 1))
        if entry < 4:  # the mesh directory at the end of the file does not fit
            raise fail(f"the mesh directory at the end of the file is invalid (it gives "
                       f"{count} meshes for a {len(data)}-byte file)")
        (offset,) = struct.unpack_from("<Q" if version == 4 else "<I", data, entry)
        if offset + 4 > len(data):
            raise fail(f"mesh {shape_index}: offset {offset} is past the end of the file")
    try:
        raw = zlib.decompressobj().decompress(data[offset + 4:])
    except zlib.error as exc:
        raise fail(f"mesh {shape_index}: corrupt compressed data ({exc})") from None
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(raw):
            raise fail(f"mesh {shape_index}: the data ends early (truncated file)")
        out = raw[pos:pos + n]
        pos += n
        return out

    (flags,) = struct.unpack("<I", take(4))
    if version == 4:
        end = raw.find(b"\0", pos)
        if end < 0:
            raise fail(f"mesh {shape_index}: unterminated shape name")
        pos = end + 1
    nv, nf = struct.unpack("<QQ", take(16))
    dt = np.dtype("<f8") if flags & DOUBLE_PRECISION else np.dtype("<f4")

    def array(count, dtype):
        return np.frombuffer(take(count * dtype.itemsize), dtype).astype(
            np.float64 if dtype.kind == "f" else np.int64)

    v = array(3 * nv, dt).reshape(-1, 3)
    n = array(3 * nv, dt).reshape(-1, 3) if flags & HAS_NORMALS else None
    uv = array(2 * nv, dt).reshape(-1, 2) if flags & HAS_TEXCOORDS else None
    if flags & HAS_COLORS:
        array(3 * nv, dt)  # vertex colours: not used by diffrender's materials
    f = array(3 * nf, np.dtype("<u4")).reshape(-1, 3)
    if nf and int(f.max()) >= nv:
        raise fail(f"mesh {shape_index}: a face refers to vertex {int(f.max())} of {nv}")
    if not (np.all(np.isfinite(v)) and nv and nf):
        raise fail(f"mesh {shape_index}: empty mesh or non-finite positions")
    return v, f.astype(np.int32), n, uv


def coordinate_system(d):
    """Mitsuba's ``coordinate_system`` (Duff et al. 2017): two unit vectors orthogonal to d."""
    x, y, z = d
    sign = 1.0 if z >= 0.0 else -1.0
    a = -1.0 / (sign + z)
    b = x * y * a
    s = np.array([x * x * a * sign + 1.0, b * sign, -x * sign])
    t = np.array([b, sign + y * y * a, -y])
    return s, t


def cylinder_frame(p0, p1, radius) -> np.ndarray:
    """Mitsuba's cylinder object frame: translate(p0) * to_frame(axis) * scale(r, r, length)."""
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    d = p1 - p0
    length = float(np.linalg.norm(d))
    d = d / length
    s, t = coordinate_system(d)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = s * radius, t * radius, d * length, p0
    return m


def cylinder(segments: int = CYLINDER_SEGMENTS, rings: int = CYLINDER_RINGS):
    """The open unit cylinder x^2 + y^2 = 1, 0 <= z <= 1 (Mitsuba's, before its frame), normals
    outward, ``uv = (phi / 2 pi, z)`` as Mitsuba's; the seam vertices are duplicated."""
    phi = np.linspace(0.0, 2.0 * np.pi, segments + 1)
    z = np.linspace(0.0, 1.0, rings + 1)
    pz, pp = np.meshgrid(z, phi, indexing="ij")
    v = np.stack([np.cos(pp), np.sin(pp), pz], -1).reshape(-1, 3)
    n = np.stack([np.cos(pp), np.sin(pp), 0 * pz], -1).reshape(-1, 3)
    uv = np.stack([pp / (2.0 * np.pi), pz], -1).reshape(-1, 2)
    w = segments + 1
    faces = []
    for j in range(rings):
        for i in range(segments):
            a, b = j * w + i, j * w + i + 1
            c, d = a + w, b + w
            faces += [(a, b, d), (a, d, c)]
    return v, np.asarray(faces, np.int32), n, uv
