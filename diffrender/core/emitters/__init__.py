"""Emitters: one module per plugin, and :class:`EmitterTable` (fields + dispatch).

Light selection is **uniform** over the emitters, as Mitsuba 3 does (``Scene::sample_emitter``:
``index = floor(u * n)``, the sample is rescaled and reused, probability ``1 / n``); area
emitters then pick a point uniformly by area (a triangle by its area through a CDF, then a
uniform point on it); the environment (``constant`` or ``envmap``, at most one per scene)
samples a direction (uniform sphere / the envmap's 2D CDF).

Every emitted quantity is ``radiance(e, uv) = texture(slot, uv) * scale`` (the ``scale``
slot only for envmaps): a texture slot, so the replay can re-evaluate and differentiate it.
Geometric factors (distances, a spot's falloff, sampling densities) are the sample's ``geo``.
"""

import importlib
import pkgutil

import numpy as np

from ...engine import ti
from ...errors import SceneError
from ..bsdfs.common import LOBE_SMOOTH
from ..types import PI, EmitterSample, HostRows, vec3
from ..warp import floor_f, mis_power, square_to_uniform_triangle
from . import area, constant, directional, envmap, point, projector, spot


def _discover():
    """The emitter modules of this package: every submodule that declares a ``SPEC``."""
    mods = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if getattr(mod, "SPEC", None) is not None:
            mods[mod.SPEC.type] = mod
    return dict(sorted(mods.items(), key=lambda kv: kv[1].SPEC.code))


#: plugin name -> module, in type-code order
MODULES = _discover()
#: the emitter specs (the loader's and the docs')
SPECS = tuple(m.SPEC for m in MODULES.values())
#: plugin name -> compile-time type code
TYPES = {n: m.SPEC.code for n, m in MODULES.items()}
AREA, POINT, SPOT = area.SPEC.code, point.SPEC.code, spot.SPEC.code
DIRECTIONAL, CONSTANT, ENVMAP = directional.SPEC.code, constant.SPEC.code, envmap.SPEC.code
PROJECTOR = projector.SPEC.code
INFINITE = ("constant", "envmap")
#: ``EmitterSample.dist`` of lights at infinity. Not ``inf``: kernels compile with fast math,
#: under which comparisons with infinity are undefined.
FAR = 3.0e38

EmitterInfo = ti.types.struct(type=ti.i32, slot=ti.i32, scale_slot=ti.i32, position=vec3,
                              tri_start=ti.i32, tri_count=ti.i32, area=ti.f32, shape_id=ti.i32,
                              r0=vec3, r1=vec3, r2=vec3, cos_cutoff=ti.f32, cos_beam=ti.f32,
                              cutoff=ti.f32, inv_transition=ti.f32,
                              tan_half=ti.types.vector(2, ti.f32))


@ti.data_oriented
class EmitterTable:
    """``rows``: dicts with type, slot, position, shape (+ scale_slot, rotation, spot angles,
    a projector's ``tan_half`` field of view, envmap size); area emitters get their triangles from ``geometry`` (areas for the CDF)."""

    def __init__(self, geometry, textures, rows):
        self.geometry = geometry
        self.textures = textures
        self.n = len(rows)
        self.info = EmitterInfo.field(shape=max(1, self.n))
        self._info = HostRows(self.info)
        self.n_field = ti.field(ti.i32, shape=())
        self.n_field[None] = self.n
        self.rows = rows
        self.types = tuple(sorted({TYPES[r["type"]] for r in rows}))
        # Static: the texture kinds of the emitted quantities and of the scales (the lookups
        # compiled in ``radiance``; see ``TextureTable.eval_as``).
        self.radiance_kinds = textures.kinds_of([r["slot"] for r in rows])
        self.has_scale = any(r.get("scale_slot", -1) >= 0 for r in rows)
        self.scale_kinds = textures.kinds_of([r.get("scale_slot", -1) for r in rows])
        #: Static: some emitter lies at infinity (shadow rays without an end point).
        self.has_infinite = any(t in self.types for t in (DIRECTIONAL, CONSTANT, ENVMAP))
        envs = [i for i, r in enumerate(rows) if r["type"] in INFINITE]
        if len(envs) > 1:
            raise SceneError("a scene can have at most one environment emitter (constant or "
                             f"envmap), got {len(envs)}", rows[envs[1]].get("where"))
        self.env = envs[0] if envs else -1  # static: kernels are specialised to it
        self.env_type = TYPES[rows[self.env]["type"]] if envs else -1
        hw = rows[self.env]["size"] if self.env_type == ENVMAP else (1, 1)
        self.env_h, self.env_w = int(hw[0]), int(hw[1])
        self.env_gh = max(self.env_h, 2)  # rows of the sampling grid (envmap.build_distribution)
        self.env_q = ti.field(ti.f32, shape=(self.env_gh, self.env_w))
        self.env_row_cdf = ti.field(ti.f32, shape=self.env_gh - 1)
        self.env_col_cdf = ti.field(ti.f32, shape=(self.env_gh - 1, self.env_w))
        self.env_norm = ti.field(ti.f32, shape=())
        self._n_tri_total = sum(
            int(geometry.shape_tri_offset[r["shape"] + 1] - geometry.shape_tri_offset[r["shape"]])
            for r in rows if r["type"] == "area")
        self.tri = ti.field(ti.i32, shape=max(1, self._n_tri_total))
        self.cdf = ti.field(ti.f32, shape=max(1, self._n_tri_total))
        self.update_areas()
        self.update_env()

    def update_env(self):
        """(Re-)build the envmap's sampling distribution from its texels."""
        if self.env_type != ENVMAP:
            return
        r = self.rows[self.env]
        data = np.asarray(r["texture"].data, np.float32)
        if data.ndim == 2:
            data = data[:, :, None]
        if data.shape[2] == 1:
            data = np.repeat(data, 3, axis=2)
        q, rc, cc, norm = envmap.build_distribution(data[:, :, :3])
        self.env_q.from_numpy(q)
        self.env_row_cdf.from_numpy(rc)
        self.env_col_cdf.from_numpy(cc)
        self.env_norm[None] = norm

    def update_areas(self):
        """(Re-)compute the per-emitter triangle lists and area CDFs from the geometry."""
        geometry = self.geometry
        tri_ids, cdfs = [], []
        start = 0
        has_area = geometry.n_tris and any(r["type"] == "area" for r in self.rows)
        areas = geometry.triangle_area() if has_area else np.zeros(0)
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
            elif r.get("position") is not None:
                pos = np.asarray(r["position"], np.float32).reshape(3)
            rot = np.asarray(r.get("rotation", np.eye(3)), np.float32).reshape(3, 3)
            cut = float(r.get("cutoff", 0.0))
            beam = float(r.get("beam", 0.0))
            self._info[i] = EmitterInfo(
                type=t, slot=r["slot"], scale_slot=r.get("scale_slot", -1), position=pos,
                tri_start=tstart, tri_count=tcount, area=total, shape_id=r.get("shape", -1),
                r0=rot[:, 0], r1=rot[:, 1], r2=rot[:, 2], cos_cutoff=np.cos(cut),
                cos_beam=np.cos(beam), cutoff=cut,
                inv_transition=1.0 / (cut - beam) if cut > beam else 0.0,
                tan_half=np.asarray(r.get("tan_half", (1.0, 1.0)), np.float32))
        self._info.flush()
        if start:
            self.tri.from_numpy(np.concatenate(tri_ids).astype(np.int32))
            self.cdf.from_numpy(np.concatenate(cdfs).astype(np.float32))

    def set_position(self, i, pos):
        self.rows[i]["position"] = np.asarray(pos, np.float64).reshape(3)
        self._info.arrays["position"][i] = np.asarray(pos, np.float32).reshape(3)
        self._info.flush()

    # --- Taichi side ---------------------------------------------------------------------

    @ti.func
    def radiance(self, e, uv):
        """The parameter-dependent emitted quantity of emitter e (radiance, intensity or
        irradiance) at texture coordinates uv, times its ``scale``."""
        info = self.info[e]
        res = self.textures.eval_as(info.slot, uv, ti.static(self.radiance_kinds))
        if ti.static(self.has_scale):
            if info.scale_slot >= 0:
                sc = self.textures.eval_as(info.scale_slot, uv, ti.static(self.scale_kinds))
                if info.type == SPOT:  # a spot's projected texture: a colour
                    res *= sc
                else:
                    res *= sc.x
        return res

    @ti.func
    def _to_world(self, e, v):
        info = self.info[e]
        return info.r0 * v.x + info.r1 * v.y + info.r2 * v.z

    @ti.func
    def _to_local(self, e, v):
        info = self.info[e]
        return ti.Vector([info.r0.dot(v), info.r1.dot(v), info.r2.dot(v)])

    @ti.func
    def _search(self, cdf: ti.template(), row, n, u):
        """First index i in [0, n) with u < cdf[row, i] (row < 0: a 1D cdf)."""
        lo = 0
        hi = n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            c = 0.0
            if ti.static(len(cdf.shape) == 1):
                c = cdf[mid]
            else:
                c = cdf[row, mid]
            if c <= u:
                lo = mid + 1
            else:
                hi = mid
        return lo

    @ti.func
    def env_eval(self, d):
        """(radiance seen along world direction d, texture uv) of the environment."""
        res = ti.Vector([0.0, 0.0, 0.0])
        tuv = ti.Vector([0.0, 0.0])
        if ti.static(self.env_type == CONSTANT):
            res = self.radiance(self.env, tuv)
        elif ti.static(self.env_type == ENVMAP):
            uv = envmap.dir_to_uv(self._to_local(self.env, d))
            tuv = envmap.texture_uv(uv, self.env_h)
            res = self.radiance(self.env, tuv)
        return res, tuv

    @ti.func
    def env_pdf(self, d):
        """Solid-angle density of sampling world direction d (selection included)."""
        res = 0.0
        n = ti.cast(self.n_field[None], ti.f32)
        if ti.static(self.env_type == CONSTANT):
            res = 1.0 / (4.0 * PI) / n
        elif ti.static(self.env_type == ENVMAP):
            uv = envmap.dir_to_uv(self._to_local(self.env, d))
            st = ti.sin(PI * uv.y)
            if st > 0.0:
                res = self._env_grid_pdf(uv) / (2.0 * PI * PI * st) / n
        return res

    @ti.func
    def _env_cell(self, c, r):
        """The four corners (q00, q10, q01, q11) of sampling-grid cell (column c, row r)."""
        c1 = c + 1
        if c1 == self.env_w:
            c1 = 0
        return self.env_q[r, c], self.env_q[r, c1], self.env_q[r + 1, c], self.env_q[r + 1, c1]

    @ti.func
    def _env_density(self, q):
        """Density over the (u, v) square where the grid's bilinear interpolant is q."""
        return q / self.env_norm[None] * (self.env_w * (self.env_gh - 1))

    @ti.func
    def _env_grid_pdf(self, uv):
        """Density of the envmap's sampling over the (u, v) square at uv."""
        c, r, s, t = envmap.grid_coords(uv, self.env_w, self.env_gh)
        q00, q10, q01, q11 = self._env_cell(c, r)
        return self._env_density(envmap.bilerp(q00, q10, q01, q11, s, t))

    @ti.func
    def env_miss(self, d, prev_pdf, prev_delta):
        """(radiance x MIS weight of a BSDF-sampled ray that left the scene along d,
        MIS weight, texture uv)."""
        le, tuv = self.env_eval(d)
        w = 1.0
        if prev_delta == LOBE_SMOOTH:
            w = mis_power(prev_pdf, self.env_pdf(d))
        return le * w, w, tuv

    @ti.func
    def _pick_triangle(self, e, u):
        """Index (into ``tri``) of the triangle of emitter e whose CDF interval holds u, and u
        rescaled to [0, 1) inside that interval."""
        info = self.info[e]
        lo = info.tri_start
        hi = info.tri_start + info.tri_count - 1
        while lo < hi:  # branch-free halving (which half is a coin flip)
            mid = (lo + hi) // 2
            right = self.cdf[mid] <= u
            lo = ti.select(right, mid + 1, lo)
            hi = ti.select(right, hi, mid)
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
                            uv=ti.Vector([0.0, 0.0]), geo=0.0, tri=-1,
                            bc=ti.Vector([0.0, 0.0]))
        if n > 0:
            nf = ti.cast(n, ti.f32)
            x = u.x * n
            e = ti.min(ti.cast(ti.floor(x), ti.i32), n - 1)
            ux = ti.min(x - e, 0.99999994)
            info = self.info[e]
            res.emitter = e
            if ti.static(POINT in self.types or SPOT in self.types):
                if info.type == POINT or info.type == SPOT:
                    v = info.position - ref
                    dist = v.norm()
                    if dist > 0.0:
                        fall = 1.0
                        if ti.static(SPOT in self.types):
                            if info.type == SPOT:
                                dl = self._to_local(e, -v / dist)
                                fall = spot.falloff(dl.z, info.cos_cutoff, info.cos_beam,
                                                    info.cutoff, info.inv_transition)
                                if fall > 0.0:
                                    res.uv = spot.direction_to_uv(dl, info.cutoff)
                        res.d = v / dist
                        res.dist = dist
                        res.p = info.position
                        res.geo = nf * fall / (dist * dist)
                        res.weight = self.radiance(e, res.uv) * res.geo
                        res.pdf = 1.0 / nf
                        res.delta = 1
            if ti.static(PROJECTOR in self.types):
                if info.type == PROJECTOR:
                    v = info.position - ref
                    dist = v.norm()
                    pl = self._to_local(e, -v)
                    if dist > 0.0 and pl.z > 0.0:
                        uv = projector.local_to_uv(pl, info.tan_half)
                        if uv.x >= 0.0 and uv.x <= 1.0 and uv.y >= 0.0 and uv.y <= 1.0:
                            res.d = v / dist
                            res.dist = dist
                            res.p = info.position
                            res.uv = uv
                            # pi / (z^2 cos), cos = z / dist (Mitsuba's weight)
                            res.geo = nf * PI * dist / (pl.z * pl.z * pl.z)
                            res.weight = self.radiance(e, uv) * res.geo
                            res.pdf = 1.0 / nf
                            res.delta = 1
            if ti.static(DIRECTIONAL in self.types):
                if info.type == DIRECTIONAL:  # travels along local +Z
                    d = -self._to_world(e, ti.Vector([0.0, 0.0, 1.0]))
                    res.d = d
                    res.dist = FAR
                    res.p = ref + d
                    res.geo = nf
                    res.weight = self.radiance(e, res.uv) * nf
                    res.pdf = 1.0 / nf
                    res.delta = 1
            if ti.static(CONSTANT in self.types):
                if info.type == CONSTANT:
                    d = constant.square_to_uniform_sphere(ti.Vector([ux, u.y]))
                    res.d = d
                    res.dist = FAR
                    res.p = ref + d
                    res.pdf = 1.0 / (4.0 * PI) / nf
                    res.geo = 1.0 / res.pdf
                    res.weight = self.radiance(e, res.uv) * res.geo
            if ti.static(ENVMAP in self.types):
                if info.type == ENVMAP:
                    row = self._search(self.env_row_cdf, -1, self.env_gh - 1, ux)
                    r0 = 0.0
                    if row > 0:
                        r0 = self.env_row_cdf[row - 1]
                    vr = ti.min((ux - r0) / ti.max(self.env_row_cdf[row] - r0, 1e-30), 0.99999994)
                    col = self._search(self.env_col_cdf, row, self.env_w, u.y)
                    c0 = 0.0
                    if col > 0:
                        c0 = self.env_col_cdf[row, col - 1]
                    ur = ti.min((u.y - c0) / ti.max(self.env_col_cdf[row, col] - c0, 1e-30),
                                0.99999994)
                    # a point in the cell: invert the bilinear patch (v, then u given v)
                    q00, q10, q01, q11 = self._env_cell(col, row)
                    t = envmap.sample_linear(q00 + q10, q01 + q11, vr)
                    sx = envmap.sample_linear((1.0 - t) * q00 + t * q01,
                                              (1.0 - t) * q10 + t * q11, ur)
                    ux_ = (col + sx + 0.5) / self.env_w
                    ux_ = ux_ - floor_f(ux_)
                    uv = ti.Vector([ux_, (row + t) / (self.env_gh - 1)])
                    st = ti.sin(PI * uv.y)
                    if st > 0.0:
                        d = self._to_world(e, envmap.uv_to_dir(uv))
                        tuv = envmap.texture_uv(uv, self.env_h)
                        res.d = d
                        res.dist = FAR
                        res.p = ref + d
                        res.uv = tuv
                        qs = envmap.bilerp(q00, q10, q01, q11, sx, t)
                        res.pdf = self._env_density(qs) / (2.0 * PI * PI * st) / nf
                        res.geo = 1.0 / res.pdf
                        res.weight = self.radiance(e, tuv) * res.geo
            if ti.static(AREA in self.types):
                if info.type == AREA:
                    k, ur = self._pick_triangle(e, ux)
                    bc = square_to_uniform_triangle(ti.Vector([ur, u.y]))
                    tri = self.tri[k]
                    hit_o = self.geometry.surface_at(tri, bc.x, bc.y)
                    v = hit_o.p - ref
                    dist = v.norm()
                    if dist > 0.0:
                        d = v * (1.0 / dist)
                        p_sa = area.pdf_solid_angle(info.area, dist, hit_o.ns, d)
                        if p_sa > 0.0:
                            le = self.radiance(e, hit_o.uv)
                            res.d = d
                            res.dist = dist
                            res.p = hit_o.p
                            res.pdf = p_sa / nf
                            res.uv = hit_o.uv
                            res.geo = 1.0 / res.pdf
                            res.weight = area.eval(le, hit_o.ns, -d) * res.geo
                            res.tri = tri
                            res.bc = bc
        return res

    @ti.func
    def pdf_direction(self, e, ref, si):
        """Solid-angle density of sampling the point ``si`` (on area emitter e) from ``ref``
        with :meth:`sample_direction` (selection probability included)."""
        info = self.info[e]
        v = si.p - ref
        dist = v.norm()
        res = 0.0
        if info.type == AREA and dist > 0.0:
            res = area.pdf_solid_angle(info.area, dist, si.ns, v / dist) / self.n_field[None]
        return res

    @ti.func
    def eval_hit(self, e, si, w_out):
        """Radiance leaving the emitter surface ``si`` towards ``w_out``."""
        info = self.info[e]
        res = ti.Vector([0.0, 0.0, 0.0])
        if info.type == AREA:
            res = area.eval(self.radiance(e, si.uv), si.ns, w_out)
        return res


__all__ = ["EmitterTable", "TYPES", "SPECS", "MODULES", "INFINITE", "AREA", "POINT", "SPOT",
           "DIRECTIONAL", "CONSTANT", "ENVMAP", "PROJECTOR", *MODULES]
