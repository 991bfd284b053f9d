"""Write ``sphere.ply``: the light of Mitsuba's object-pose tutorial, a unit UV sphere with
128 segments and 128 rings (16258 vertices, 32512 triangles, the pole on the y axis, vertex
normals), the same tessellation as the tutorial's ``sphere.obj`` (a Blender UV sphere). The
mesh is generated here rather than copied.

    python examples/bunny_pose/make_sphere.py
"""
import os

import numpy as np

SEGMENTS = 128
RINGS = 128


def uv_sphere(segments=SEGMENTS, rings=RINGS):
    """Vertices (poles once each, no seam column) and counter-clockwise (outward) faces."""
    th = np.pi * np.arange(1, rings) / rings
    ph = 2.0 * np.pi * np.arange(segments) / segments
    st, ct = np.sin(th)[:, None], np.cos(th)[:, None]
    ring = np.stack([st * np.sin(ph), np.broadcast_to(ct, st.shape * np.array([1, segments])),
                     st * np.cos(ph)], -1).reshape(-1, 3)
    v = np.concatenate([[[0.0, 1.0, 0.0]], ring, [[0.0, -1.0, 0.0]]])
    top, bottom = 0, v.shape[0] - 1

    def idx(j, i):  # ring j in [0, rings - 2], segment i (wrapping)
        return 1 + j * segments + (i % segments)
    i = np.arange(segments)
    faces = [np.stack([np.full(segments, top), idx(0, i), idx(0, i + 1)], 1)]
    for j in range(rings - 2):
        a, b, c, d = idx(j, i), idx(j + 1, i), idx(j, i + 1), idx(j + 1, i + 1)
        faces += [np.stack([a, b, c], 1), np.stack([b, d, c], 1)]
    faces.append(np.stack([idx(rings - 2, i), np.full(segments, bottom), idx(rings - 2, i + 1)], 1))
    f = np.concatenate(faces).astype(np.int32)
    return v, f


def write_ply(path, v, f):
    vd = np.zeros(len(v), [(c, "<f4") for c in ("x", "y", "z", "nx", "ny", "nz")])
    for k, c in enumerate("xyz"):
        vd[c] = v[:, k]
        vd["n" + c] = v[:, k]
    fd = np.zeros(len(f), [("n", "u1"), ("i", "<i4", (3,))])
    fd["n"] = 3
    fd["i"] = f
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(v)}"]
    header += [f"property float {c}" for c in vd.dtype.names]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii") + vd.tobytes() + fd.tobytes())
    os.replace(tmp, path)


if __name__ == "__main__":
    v, f = uv_sphere()
    # outward orientation: the faces' normals point away from the centre
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert np.all(np.einsum("ij,ij->i", n, v[f].mean(1)) > 0)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sphere.ply")
    write_ply(out, v, f)
    print(f"{out}: {len(v)} vertices, {len(f)} triangles")
