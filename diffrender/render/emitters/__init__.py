"""Emitters: one module per plugin, and :class:`EmitterTable` (fields + dispatch).

Light selection is **uniform** over the emitters, as Mitsuba 3 does (``Scene::sample_emitter``:
``index = floor(u * n)``, the sample is rescaled and reused, probability ``1 / n``); area
emitters then pick a point uniformly by area (a triangle by its area through a CDF, then a
uniform point on it).
"""

import numpy as np

from ...engine import ti
from ...errors import SceneError
from ..types import EmitterSample, vec3
from ..warp import square_to_uniform_triangle
from . import area, point

TYPES = {"area": 0, "point": 1}

EmitterInfo = ti.types.struct(type=ti.i32, slot=ti.i32, position=vec3, tri_start=ti.i32,
                              tri_count=ti.i32, area=ti.f32, shape_id=ti.i32)


@ti.data_oriented
class EmitterTable:
    """``rows``: dicts with type, slot, position, shape; area emitters get their triangles from
    ``geometry`` (areas for the CDF)."""

    def __init__(self, geometry, textures, rows):
        self.geometry = geometry
        self.textures = textures
        self.n = len(rows)
        self.info = EmitterInfo.field(shape=max(1, self.n))
        self.n_field = ti.field(ti.i32, shape=())
        self.n_field[None] = self.n
        self.rows = rows
        self._n_tri_total = sum(
            int(geometry.shape_tri_offset[r["shape"] + 1] - geometry.shape_tri_offset[r["shape"]])
            for r in rows if r["type"] == "area")
        self.tri = ti.field(ti.i32, shape=max(1, self._n_tri_total))
        self.cdf = ti.field(ti.f32, shape=max(1, self._n_tri_total))
        self.update_areas()

    def update_areas(self):
        """(Re-)compute the per-emitter triangle lists and area CDFs from the geometry."""
        geometry = self.geometry
        tri_ids, cdfs = [], []
        start = 0
        areas = geometry.triangle_area() if geometry.n_tris else np.zeros(0)
        for i, r in enumerate(self.rows):
            t = TYPES[r["type"]]
            pos = np.zeros(3, np.float32)
            tstart = tcount = 0
            total = 0.0
            if r["type"] == "area":
                s = r["shape"]
                o0, o1 = geometry.shape_tri_offset[s], geometry.shape_tri_offset[s + 1]
                a = areas[o0:o1].astype(np.float64)
                total = float(a.sum())
                if not total > 0:
                    raise SceneError("area emitter on a shape with zero area", r.get("where"))
                tri_ids.append(geometry.tri_rank[o0:o1])
                c = np.cumsum(a) / total
                c[-1] = 1.0
                cdfs.append(c)
                tstart, tcount = start, o1 - o0
                start += tcount
            else:
                pos = np.asarray(r["position"], np.float32).reshape(3)
            self.info[i] = EmitterInfo(type=t, slot=r["slot"], position=pos, tri_start=tstart,
                                       tri_count=tcount, area=total, shape_id=r["shape"])
        if start:
            self.tri.from_numpy(np.concatenate(tri_ids).astype(np.int32))
            self.cdf.from_numpy(np.concatenate(cdfs).astype(np.float32))

    def set_position(self, i, pos):
        self.rows[i]["position"] = np.asarray(pos, np.float64).reshape(3)
        info = self.info[i]
        info.position = np.asarray(pos, np.float32).reshape(3)
        self.info[i] = info

    @ti.func
    def _pick_triangle(self, e, u):
        """Index (into ``tri``) of the triangle of emitter e whose CDF interval holds u, and u
        rescaled to [0, 1) inside that interval."""
        info = self.info[e]
        lo = info.tri_start
        hi = info.tri_start + info.tri_count - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.cdf[mid] <= u:
                lo = mid + 1
            else:
                hi = mid
        c0 = 0.0
        if lo > info.tri_start:
            c0 = self.cdf[lo - 1]
        c1 = self.cdf[lo]
        ur = 0.0
        if c1 > c0:
            ur = ti.min((u - c0) / (c1 - c0), 0.99999994)
        return lo, ur

    @ti.func
    def sample_direction(self, ref, u):
        """Pick an emitter uniformly, then a direction from ``ref`` towards it.
        Returns an EmitterSample (pdf 0 = no contribution)."""
        n = self.n_field[None]
        res = EmitterSample(d=ti.Vector([0.0, 0.0, 1.0]), dist=0.0, p=ref,
                            weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0, delta=0, emitter=-1,
                            uv=ti.Vector([0.0, 0.0]))
        if n > 0:
            x = u.x * n
            e = ti.min(ti.cast(ti.floor(x), ti.i32), n - 1)
            ux = ti.min(x - e, 0.99999994)
            info = self.info[e]
            res.emitter = e
            if info.type == 1:  # point
                inten = self.textures.eval(info.slot, ti.Vector([0.0, 0.0]))
                d, dist, w = point.sample(inten, info.position, ref)
                res.d = d
                res.dist = dist
                res.p = info.position
                res.weight = w * n
                res.pdf = 1.0 / n
                res.delta = 1
            else:  # area
                k, ur = self._pick_triangle(e, ux)
                bc = square_to_uniform_triangle(ti.Vector([ur, u.y]))
                tri = self.tri[k]
                hit_o = self.geometry.surface_at(tri, bc.x, bc.y)
                v = hit_o.p - ref
                dist = v.norm()
                if dist > 0.0:
                    d = v / dist
                    p_sa = area.pdf_solid_angle(info.area, dist, hit_o.ns, d)
                    if p_sa > 0.0:
                        le = self.textures.eval(info.slot, hit_o.uv)
                        res.d = d
                        res.dist = dist
                        res.p = hit_o.p
                        res.pdf = p_sa / n
                        res.uv = hit_o.uv
                        res.weight = area.eval(le, hit_o.ns, -d) / res.pdf
        return res

    @ti.func
    def pdf_direction(self, e, ref, si):
        """Solid-angle density of sampling the point ``si`` (on area emitter e) from ``ref``
        with :meth:`sample_direction` (selection probability included)."""
        info = self.info[e]
        v = si.p - ref
        dist = v.norm()
        res = 0.0
        if info.type == 0 and dist > 0.0:
            res = area.pdf_solid_angle(info.area, dist, si.ns, v / dist) / self.n_field[None]
        return res

    @ti.func
    def eval_hit(self, e, si, w_out):
        """Radiance leaving the emitter surface ``si`` towards ``w_out``."""
        info = self.info[e]
        res = ti.Vector([0.0, 0.0, 0.0])
        if info.type == 0:
            res = area.eval(self.textures.eval(info.slot, si.uv), si.ns, w_out)
        return res
