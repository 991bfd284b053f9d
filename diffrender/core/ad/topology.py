"""Edge data of the scene's triangle meshes for edge sampling: unique edges with their one
or two adjacent faces, which of them can be silhouettes, and which are seen as silhouettes from
a point.

Edges between nearly coplanar faces (normals within ``COPLANAR_COS``) are dropped; the geometry
part (positions, normals, silhouettes) is recomputed from the current vertices at every call,
so moving vertices needs no rebuild (the topology never changes).
"""

import numpy as np

COPLANAR_COS = 1.0 - 1e-6


def weld(V, faces):
    """Faces re-indexed so that vertices at the same position (to 1e-9 of the mesh's extent)
    share one index (the first);
    meshes split along seams or per face (Mitsuba's cube: 24 vertices) then have their
    edges shared by both faces instead of two coincident boundary edges."""
    V = np.asarray(V, np.float64).reshape(-1, 3)
    if V.shape[0] == 0:
        return np.asarray(faces, np.int64)
    # positions equal up to round-off (a seam at phi = 2 pi: sin(2 pi) = -2.4e-16) are one
    tol = 1e-9 * max(float(np.abs(V).max()), 1e-30)
    Q = np.round(V / tol)
    _, first, inv = np.unique(Q, axis=0, return_index=True, return_inverse=True)
    rep = first[inv.reshape(-1)]
    return rep[np.asarray(faces, np.int64)]


class EdgeTopology:
    """Unique edges of a triangle mesh (merged over all shapes), by position: coincident
    vertices are welded first, so an edge is shared by the faces on both of its sides.
    Gradients of an edge go to the first vertex at each of its end positions."""

    def __init__(self, faces: np.ndarray, n_verts: int, vertices=None, shape_of_face=None,
                 normals=None, shape_has_normals=None):
        f = np.asarray(faces, np.int64).reshape(-1, 3)
        orig = f.copy()
        if vertices is not None:
            if shape_of_face is None:
                f = weld(vertices, f)
            else:  # weld inside each shape only: distinct shapes never share an edge
                V = np.asarray(vertices, np.float64).reshape(-1, 3)
                sid = np.asarray(shape_of_face)
                out = f.copy()
                for s in np.unique(sid):
                    sel = sid == s
                    used = np.unique(f[sel])
                    loc = np.searchsorted(used, f[sel])
                    out[sel] = used[weld(V[used], loc)]
                f = out
        m = f.shape[0]
        a = f[:, [0, 1, 2]].reshape(-1)
        b = f[:, [1, 2, 0]].reshape(-1)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        face = np.repeat(np.arange(m), 3)
        key = lo * max(1, n_verts) + hi
        order = np.argsort(key, kind="stable")
        key_s, face_s = key[order], face[order]
        first = np.ones(key_s.size, bool)
        first[1:] = key_s[1:] != key_s[:-1]
        start = np.flatnonzero(first)
        count = np.diff(np.append(start, key_s.size))
        self.v = np.stack([lo[order][start], hi[order][start]], axis=1)  # (E, 2)
        self.f0 = face_s[start]
        self.f1 = np.where(count >= 2, face_s[np.minimum(start + 1, key_s.size - 1)], -1)
        self.nonmanifold = count > 2
        self.faces = f
        self.n_edges = int(self.v.shape[0])
        # the shape of each edge (its first face's; 0 without shapes): the edge tree parts
        # shapes first
        self.shape = (np.asarray(shape_of_face, np.int64)[self.f0] if shape_of_face is not None
                      else np.zeros(self.n_edges, np.int64))
        self.smooth = self._smooth(orig, normals, shape_of_face, shape_has_normals)

    def _smooth(self, orig, normals, shape_of_face, shape_has_normals):
        """Per edge: True when the shading is continuous across it (both faces interpolate the
        same vertex normals there). A crease between two faces that are both visible is a
        discontinuity of the image when it is not smooth (flat shading, or split vertices with
        different normals): those edges are sampled like silhouettes."""
        E = self.n_edges
        inner = self.f1 >= 0
        if normals is None or shape_has_normals is None or shape_of_face is None:
            return np.zeros(E, bool)
        N = np.asarray(normals, np.float64).reshape(-1, 3)
        has = np.asarray(shape_has_normals, bool)[np.asarray(shape_of_face)[self.f0]]
        f1 = np.maximum(self.f1, 0)

        def orig_index(face, w):
            m = self.faces[face] == w[:, None]
            return orig[face, np.argmax(m, axis=1)]
        same = np.ones(E, bool)
        for j in range(2):
            w = self.v[:, j]
            n0, n1 = N[orig_index(self.f0, w)], N[orig_index(f1, w)]
            same &= np.all(np.abs(n0 - n1) <= 1e-6, axis=1)
        return inner & has & same

    def face_normals(self, V):
        F = self.faces
        n = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
        ln = np.linalg.norm(n, axis=1, keepdims=True)
        return n / np.where(ln > 0, ln, 1.0)

    def candidates(self, V, fn=None):
        """Indices of the edges that can ever be silhouettes: boundary, non-manifold, or
        between faces that are not (nearly) coplanar."""
        fn = self.face_normals(V) if fn is None else fn
        inner = self.f1 >= 0
        d = np.ones(self.n_edges)
        d[inner] = np.einsum("ij,ij->i", fn[self.f0[inner]], fn[self.f1[inner]])
        keep = (~inner) | self.nonmanifold | (d < COPLANAR_COS)
        return np.flatnonzero(keep)

    def silhouettes(self, V, point, fn=None, cand=None, creases=False, direction=None):
        """Candidate edges that are silhouettes seen from ``point``; with ``creases``, also
        the non-smooth creases with a face turned towards ``point`` (image discontinuities).
        With ``direction`` (``point`` unused): silhouettes seen along parallel rays travelling
        that way (from a point at infinity: a directional light)."""
        fn = self.face_normals(V) if fn is None else fn
        e = self.candidates(V, fn) if cand is None else cand
        inner = self.f1[e] >= 0
        if direction is None:
            w = V[self.v[e, 0]] - np.asarray(point, np.float64)
        else:
            w = np.broadcast_to(np.asarray(direction, np.float64), (e.size, 3))
        s0 = np.einsum("ij,ij->i", fn[self.f0[e]], w)
        s1 = np.einsum("ij,ij->i", fn[np.maximum(self.f1[e], 0)], w)
        sil = (~inner) | self.nonmanifold[e] | (s0 * s1 <= 0.0)
        if creases:
            sil |= ~self.smooth[e] & ((s0 < 0.0) | (s1 < 0.0))
        return e[sil]
