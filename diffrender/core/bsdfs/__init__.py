"""BSDFs: one module per plugin (``eval``, ``pdf``, ``sample``, ``eval_delta`` as ``ti.func``
in the local shading frame, all taking a :data:`~.common.BSDFParams` bundle), and
:class:`BSDFTable`, the per-scene rows and the dispatch.

Every continuous parameter (reflectances, ``alpha``, ``eta``, ``k``, blend weights, mask
opacities, user-shader parameters) is a texture slot of the renderer's
:class:`~diffrender.core.textures.TextureTable`: constant or textured, stored in fields with
gradient and dual storage, so derivatives flow through the replay for every one of them.

Composites. A row is either a *leaf* (diffuse, conductor, roughconductor, plastic,
roughplastic, dielectric, thindielectric, a user shader) or a *composite* of leaves:
``blendbsdf`` (components ``(1 - weight, weight)``) or ``mask`` (component ``opacity`` plus a
null lobe of probability ``1 - opacity`` that lets the ray through). ``eval``/``pdf`` are the
weighted sums of the components'; ``sample`` picks a component by ``u1`` (rescaled and
reused) and, for a smooth blend sample, returns the mixture's pdf and ``f / pdf``. Composites
nest leaves only (a blend of masks is refused at load).

``twosided`` wraps a BSDF as Mitsuba does: when ``wi`` is below the surface both directions are
mirrored (z -> -z) before the BSDF is evaluated / sampled, and the sampled direction is
mirrored back.

Perturbing wrappers (Mitsuba 3.9's ``normalmap`` and ``bumpmap``). They wrap one BSDF (a leaf
or a blendbsdf / mask) and become a copy of its row with ``pert`` set (1 normal map, 2 bump
map), the slot of the normal map / height texture (``pslot``), of ``scale`` (``sslot``),
``pflags`` (bit 0 ``flip_invalid_normals``, bit 1 ``use_shadowing_function``) and ``tsin`` (the
wrapped BSDF was itself twosided). Every query takes a :data:`~..types.LocalGeo` (dp/du, dp/dv,
n_g in the local frame) and proceeds as Mitsuba's ``PerturbedBSDF``:

1. Mitsuba's shading frame has its tangent ``s0`` along dp/du projected on the tangent plane
   (ours is ``coordinate_system(n_s)``, which only differs by a rotation about n_s); the
   perturbed normal ``n`` is, for a normal map, ``2 rgb - 1`` in the frame (s0, n x s0, n),
   for a bump map ``(dp/du + n (scale dh/du - n.dp/du)) x (dp/dv + ...)`` flipped to the side
   of n_g.
2. ``flip_invalid_normals``: if ``cos(wi) (wi . n) <= 0``, ``n <- (-n_x, -n_y, n_z)``; then
   ``n`` is normalised (a zero or non-finite normal falls back to the unperturbed one), the
   perturbed tangent is ``s0 - n (n . s0)`` normalised, ``t = n x s``.
3. The wrapped BSDF is evaluated / sampled with wi, wo expressed in (s, t, n); a ``wo`` on
   different sides of the unperturbed and the perturbed frame gets zero value and pdf.
4. ``use_shadowing_function``: the value (and a sample's weight) is multiplied by Conty
   Estevez et al.'s (2019) terminator term ``2 / (1 + sqrt(1 + a2 tan^2(wo)))`` with
   ``a2 = min(tan^2(n) / 8, 1)``; the pdf is not.

Lobe codes (``BSDFSample.delta``, recorded by the replay): 0 smooth, 1 delta reflection,
2 delta transmission, 3 null (mask); + 4 x component index.
"""

import numpy as np

from ...engine import ti
from ...errors import SceneError
from ..types import BSDFSample, LocalGeo, vec3
from . import (conductor, dielectric, diffuse, plastic, roughconductor, roughplastic,
               thindielectric)
from .common import BSDFParams

#: plugin name -> type code (leaves)
TYPES = {"diffuse": 0, "conductor": 1, "roughconductor": 2, "plastic": 3, "roughplastic": 4,
         "dielectric": 5, "thindielectric": 6}
#: composite plugins -> kind code
COMPOSITES = {"blendbsdf": 1, "mask": 2}
#: perturbing wrappers -> ``pert`` code
PERTURB = {"normalmap": 1, "bumpmap": 2}
SHADER_BASE = 100  # type code of user shader k: SHADER_BASE + k
MAX_SHADER_PARAMS = 8

#: parameter name -> bundle field, per leaf plugin
BUNDLE = {
    "diffuse": {"reflectance": "a"},
    "conductor": {"specular_reflectance": "a", "eta": "b", "k": "c"},
    "roughconductor": {"specular_reflectance": "a", "eta": "b", "k": "c", "alpha": "alpha"},
    "plastic": {"diffuse_reflectance": "a", "specular_reflectance": "b", "eta": "eta"},
    "roughplastic": {"diffuse_reflectance": "a", "specular_reflectance": "b", "eta": "eta",
                     "alpha": "alpha"},
    "dielectric": {"specular_reflectance": "a", "specular_transmittance": "b", "eta": "eta"},
    "thindielectric": {"specular_reflectance": "a", "specular_transmittance": "b", "eta": "eta"},
}
#: defaults of the continuous parameters (Mitsuba 3's), for BSDFs built without the loader
DEFAULTS = {
    "reflectance": (0.5, 3), "specular_reflectance": (1.0, 3), "eta": None, "k": None,
    "alpha": (0.1, 1), "diffuse_reflectance": (0.5, 3), "specular_transmittance": (1.0, 3),
    "weight": (0.5, 1), "opacity": (0.5, 1), "scale": (1.0, 1),
}
_ETA = {"conductor": (0.0, 3), "roughconductor": (0.0, 3), "plastic": (1.49 / 1.000277, 1),
        "roughplastic": (1.49 / 1.000277, 1), "dielectric": (1.5046 / 1.000277, 1),
        "thindielectric": (1.5046 / 1.000277, 1)}


def _fill_defaults(b):
    from ...scene.model import Texture

    names = list(BUNDLE.get(b.type, {}))
    if b.type == "blendbsdf":
        names = ["weight"]
    elif b.type == "mask":
        names = ["opacity"]
    elif b.type == "bumpmap":
        names = ["scale"]
    elif b.type == "normalmap":
        names = []
    for n in names:
        if n not in b.params:
            d = DEFAULTS[n]
            if n == "eta":
                d = _ETA[b.type]
            elif n == "k":
                d = (1.0, 3)
            b.params[n] = Texture.constant(np.full(d[1], d[0], np.float32))


ROUGHPLASTIC = TYPES["roughplastic"]
_LEAF_MODULES = {0: diffuse, 1: conductor, 2: roughconductor, 3: plastic, 4: roughplastic,
                 5: dielectric, 6: thindielectric}
_FIELDS = {TYPES[n]: tuple(BUNDLE[n].values()) for n in BUNDLE}
_SMOOTH = (0, 2, 3, 4)  # leaves with a non-delta part
_DELTA = (1, 3, 5, 6)  # leaves with a delta lobe

def _builtins(codes):
    """The built-in leaf type codes among ``codes``."""
    return tuple(c for c in codes if c < SHADER_BASE)


def _shader_indices(codes):
    """The user shader indices k among ``codes`` (SHADER_BASE + k)."""
    return tuple(c - SHADER_BASE for c in codes if c >= SHADER_BASE)


def field_kinds(rows, kinds_of) -> dict:
    """``{key: kinds}``: the texture kinds (``kinds_of(slots)``, see
    ``TextureTable.kinds_of``) read through each parameter of the table's rows. Keys:
    ``"<type code>.<bundle field>"`` for leaves, ``"w"`` composite weights / opacities, ``"p"``
    normal / bump map textures, ``"s"`` bump scales."""
    slots: dict = {}
    for r in rows:
        if r["kind"] != 0:
            slots.setdefault("w", []).append(r["wslot"])
        elif r["type"] < SHADER_BASE:
            for fld in _FIELDS[r["type"]]:
                slots.setdefault(f"{r['type']}.{fld}", []).append(r[fld])
        if r.get("pert", 0):
            slots.setdefault("p", []).append(r["pslot"])
            slots.setdefault("s", []).append(r["sslot"])
    return {k: kinds_of(v) for k, v in slots.items()}


BSDFInfo = ti.types.struct(type=ti.i32, twosided=ti.i32, kind=ti.i32, a=ti.i32, b=ti.i32,
                           c=ti.i32, alpha=ti.i32, eta=ti.i32, w=ti.f32, flag=ti.i32,
                           comp0=ti.i32, comp1=ti.i32, wslot=ti.i32,
                           sp=ti.types.vector(MAX_SHADER_PARAMS, ti.i32), pert=ti.i32,
                           pslot=ti.i32, sslot=ti.i32, pflags=ti.i32, tsin=ti.i32)


def _row(**kw):
    r = dict(type=0, twosided=0, kind=0, a=-1, b=-1, c=-1, alpha=-1, eta=-1, w=0.5, flag=0,
             comp0=-1, comp1=-1, wslot=-1, sp=[-1] * MAX_SHADER_PARAMS, pert=0, pslot=-1,
             sslot=-1, pflags=3, tsin=0)
    r.update(kw)
    return r


class RowBuilder:
    """Flattens model BSDFs (``diffrender.scene.model.BSDF``) into table rows.

    ``slot(texture, where) -> int`` registers a texture slot; ``shaders`` is the list the
    table dispatches user shaders from (``diffrender.core.shaders.BSDFShader``)."""

    def __init__(self, slot, shaders):
        self.slot = slot
        self.shaders = shaders
        self.rows: list[dict] = []
        self._index: dict[int, int] = {}
        self._added: list = []  # the BSDFs of ``_index``: alive, so that no other gets their id

    def add(self, b, where, nested=False) -> int:
        if id(b) in self._index:
            return self._index[id(b)]
        self._added.append(b)
        _fill_defaults(b)
        if b.type in PERTURB:
            return self._add_perturbed(b, where, nested)
        if b.type in COMPOSITES:
            if nested:
                raise SceneError(f"a {b.type} cannot be nested in another composite BSDF "
                                 "(blendbsdf / mask nest plain BSDFs only)", where)
            kids = list(b.children)
            need = 2 if b.type == "blendbsdf" else 1
            if len(kids) != need:
                raise SceneError(f"{b.type} needs exactly {need} nested bsdf(s), got "
                                 f"{len(kids)}", where)
            idx = len(self.rows)
            self.rows.append(None)
            comps = [self.add(k, f"{where} > {b.type} bsdf {i}", nested=True)
                     for i, k in enumerate(kids)]
            wname = "weight" if b.type == "blendbsdf" else "opacity"
            ws = self.slot(b.params[wname], f"{where} {wname}")
            self.rows[idx] = _row(kind=COMPOSITES[b.type], twosided=int(b.twosided),
                                  comp0=comps[0], comp1=comps[1] if need == 2 else -1, wslot=ws)
            self._index[id(b)] = idx
            return idx
        if nested and b.twosided:
            raise SceneError("a twosided BSDF cannot be nested in a composite; wrap the "
                             "composite in twosided instead", where)
        idx = len(self.rows)
        if b.type == "shader":
            sh = getattr(b, "shader", None)
            if sh is None:
                raise SceneError("shader BSDF without a loaded shader (load it with "
                                 "diffrender.core.shaders.load_shader)", where)
            if sh not in self.shaders:
                self.shaders.append(sh)
            k = self.shaders.index(sh)
            sp = [-1] * MAX_SHADER_PARAMS
            for j, name in enumerate(sh.param_names):
                sp[j] = self.slot(b.params[name], f"{where} {name}")
            row = _row(type=SHADER_BASE + k, sp=sp)
        elif b.type in TYPES:
            row = _row(type=TYPES[b.type])
            for pname, fld in BUNDLE[b.type].items():
                row[fld] = self.slot(b.params[pname], f"{where} {pname}")
            row["flag"] = int(bool(b.params.get("nonlinear", False)))
            if b.type in ("plastic", "roughplastic"):
                d = float(np.mean(b.params["diffuse_reflectance"].mean()))
                s = float(np.mean(b.params["specular_reflectance"].mean()))
                row["w"] = s / (d + s) if d + s > 0 else 0.5
        else:
            supported = ", ".join(list(TYPES) + list(COMPOSITES) + list(PERTURB)
                                  + ["shader", "twosided"])
            raise SceneError(f"BSDF '{b.type}' is not supported by the renderer yet "
                             f"(supported: {supported})", where)
        row["twosided"] = int(b.twosided)
        row["comp0"] = idx
        self.rows.append(row)
        self._index[id(b)] = idx
        return idx

    def _add_perturbed(self, b, where, nested):
        """A normalmap / bumpmap: a copy of the wrapped BSDF's row with the perturbation set."""
        if nested:
            raise SceneError(f"a {b.type} cannot be nested in a composite BSDF; wrap the "
                             f"composite in the {b.type} instead", where)
        kids = list(b.children)
        if len(kids) != 1:
            raise SceneError(f"{b.type} needs exactly 1 nested bsdf, got {len(kids)}", where)
        kid = kids[0]
        if kid.type in PERTURB:
            raise SceneError(f"a {kid.type} cannot be nested in a {b.type} (one perturbation "
                             "per BSDF)", where)
        tname = "normalmap" if b.type == "normalmap" else "nested_texture"
        tex = b.params.get(tname)
        if tex is None:
            raise SceneError(f"{b.type} needs a texture ('{tname}')", where)
        if b.type == "bumpmap" and tex.type not in ("bitmap", "constant"):
            raise SceneError(f"bumpmap height texture must be a bitmap or a constant, got a "
                             f"{tex.type} (its uv gradient is not defined)", where)
        k = self.add(kid, f"{where} > {b.type} bsdf")
        row = dict(self.rows[k])
        row["sp"] = list(row["sp"])
        row["pert"] = PERTURB[b.type]
        row["pslot"] = self.slot(tex, f"{where} {tname}")
        if b.type == "bumpmap":
            row["sslot"] = self.slot(b.params["scale"], f"{where} scale")
        row["pflags"] = (int(bool(b.params.get("flip_invalid_normals", True)))
                         | 2 * int(bool(b.params.get("use_shadowing_function", True))))
        row["tsin"] = int(kid.twosided)
        row["twosided"] = int(b.twosided)
        idx = len(self.rows)
        self.rows.append(row)
        self._index[id(b)] = idx
        return idx


@ti.data_oriented
class BSDFTable:
    """``rows``: dicts from :class:`RowBuilder` (or, for tests, (type, twosided, reflectance
    slot) tuples of diffuse BSDFs)."""

    def __init__(self, textures, rows, shaders=()):
        self.textures = textures
        self.shader_list = list(shaders)
        self.shaders = [sh.bsdf_glue() for sh in self.shader_list]
        rows = [(_row(type=r[0], twosided=int(r[1]), a=r[2], comp0=i) if isinstance(r, tuple)
                 else r) for i, r in enumerate(rows)]
        self.n = max(1, len(rows))
        self.info = BSDFInfo.field(shape=self.n)
        self.rows = rows
        # Static (compile-time) configuration: plain tuples / bools, so that a recycled table
        # (the renderer's device-set pool) with another configuration is detected.
        types = {r["type"] for r in rows if r["kind"] == 0}
        self.used = tuple(sorted(t for t in types if t < SHADER_BASE)) or (0,)
        self.used_smooth = tuple(t for t in self.used if t in _SMOOTH)
        self.used_delta = tuple(t for t in self.used if t in _DELTA)
        # The smooth leaves (type codes, user shaders as SHADER_BASE + k) a query can reach as
        # a row's first component (any leaf: a leaf row is its own first component) and as a
        # blend's second one (only the leaves that are second components somewhere).
        n_sh = len(self.shader_list)
        self.smooth_comp0 = self.used_smooth + tuple(SHADER_BASE + k for k in range(n_sh))
        comp1 = {rows[r["comp1"]]["type"] for r in rows if r["kind"] == 1 and r["comp1"] >= 0}
        self.smooth_comp1 = tuple(t for t in self.smooth_comp0 if t in comp1)
        self.has_composite = any(r["kind"] != 0 for r in rows)
        self.has_blend = any(r["kind"] == 1 for r in rows)
        self.has_delta = bool(self.used_delta) or any(r["kind"] == 2 for r in rows)
        self.has_perturb = any(r.get("pert", 0) != 0 for r in rows)
        self.shader_key = tuple(f"{sh.path}#{id(sh)}" for sh in self.shader_list)
        # The texture kinds each parameter reads (constant, bitmap, ...), per leaf type and
        # bundle field, and of the composite weights / perturbation textures: the lookups are
        # compiled for those kinds only (see ``TextureTable.eval_as``). ``kind_sig`` is their
        # plain-tuple form for the renderer's pool.
        self._fkinds = field_kinds(rows, textures.kinds_of)
        self.kind_sig = tuple(f"{k}:{','.join(map(str, v))}" for k, v in sorted(self._fkinds.items()))
        # roughplastic's rough-coat tables (per row; see roughplastic.py)
        self.coat = roughplastic.CoatTable(self.n)
        self.upload()
        self.update_coats()

    def upload(self):
        for i, r in enumerate(self.rows):
            self.info[i] = BSDFInfo(**{k: (np.asarray(v, np.int32) if k == "sp" else v)
                                       for k, v in r.items()})

    def update_coats(self) -> bool:
        """(Re)tabulate the rough coat of every roughplastic row whose constant ``alpha`` /
        ``eta`` changed (Mitsuba's ``parameters_changed``); a textured one keeps the expansion
        point of its first tabulation (the texture's mean). True when something changed."""
        changed = False
        texs = self.textures.textures
        for i, r in enumerate(self.rows):
            if r["kind"] != 0 or r["type"] != ROUGHPLASTIC:
                continue
            vals = []
            for k, default in (("alpha", 0.1), ("eta", 1.49 / 1.000277)):
                s = r[k]
                tex = texs[s] if 0 <= s < len(texs) else None
                if tex is None:
                    vals.append(default)
                elif tex.type == "constant":
                    vals.append(float(np.ravel(tex.value)[0]))
                elif i in self.coat.keys:
                    vals.append(self.coat.keys[i][0 if k == "alpha" else 1])
                else:
                    vals.append(float(np.ravel(tex.mean())[0]))
            changed |= self.coat.set(i, vals[0], vals[1])
        return changed

    @staticmethod
    def check(bsdf, where):
        """Raise a SceneError unless ``bsdf`` (model.BSDF) can be rendered."""
        if (bsdf.type not in TYPES and bsdf.type not in COMPOSITES
                and bsdf.type not in PERTURB and bsdf.type != "shader"):
            raise SceneError(f"BSDF '{bsdf.type}' is not supported by the renderer yet "
                             f"(supported: {', '.join(list(TYPES) + list(COMPOSITES))}, "
                             f"{', '.join(PERTURB)}, shader, twosided)", where)

    # --- parameters --------------------------------------------------------------------------
    # The kernels are specialised to the BSDF types present in the scene (``self.used``): a
    # diffuse-only scene compiles the diffuse code only.

    def _kinds(self, key, fld=None):
        """The texture kinds of ``key`` (a type code and a bundle field, or "w" / "p" / "s"),
        for ``TextureTable.eval_as``."""
        return self._fkinds.get(key if fld is None else f"{key}.{fld}", (0,))

    @ti.func
    def _params(self, code: ti.template(), r, uv):
        """The bundle of leaf row r (of type ``code``), fetching only the slots it uses."""
        info = self.info[r]
        p = BSDFParams(a=ti.Vector([0.0, 0.0, 0.0]), b=ti.Vector([0.0, 0.0, 0.0]),
                       c=ti.Vector([0.0, 0.0, 0.0]), alpha=0.1, eta=1.5, w=info.w,
                       flag=info.flag)
        fields = ti.static(_FIELDS[code])
        if ti.static("a" in fields):
            p.a = self.textures.eval_as(info.a, uv, ti.static(self._kinds(code, "a")))
        if ti.static("b" in fields):
            p.b = self.textures.eval_as(info.b, uv, ti.static(self._kinds(code, "b")))
        if ti.static("c" in fields):
            p.c = self.textures.eval_as(info.c, uv, ti.static(self._kinds(code, "c")))
        if ti.static("alpha" in fields):
            p.alpha = ti.max(self.textures.eval_as(info.alpha, uv, ti.static(self._kinds(code, "alpha"))).x,
                             1e-4)
        if ti.static("eta" in fields):
            p.eta = self.textures.eval_as(info.eta, uv, ti.static(self._kinds(code, "eta"))).x
        return p

    @ti.func
    def _components(self, b, uv):
        w0 = 1.0
        w1 = 0.0
        wp = 0.0
        if ti.static(self.has_composite):
            info = self.info[b]
            if info.kind == 1:
                wt = ti.min(ti.max(self.textures.eval_as(info.wslot, uv, ti.static(self._kinds("w"))).x,
                                   0.0), 1.0)
                w0 = 1.0 - wt
                w1 = wt
            elif info.kind == 2:
                o = ti.min(ti.max(self.textures.eval_as(info.wslot, uv, ti.static(self._kinds("w"))).x,
                                  0.0), 1.0)
                w0 = o
                wp = 1.0 - o
        return w0, w1, wp

    # --- leaves ------------------------------------------------------------------------------

    @ti.func
    def _leaf_eval(self, r, uv, wi, wo, with_pdf: ti.template(), codes: ti.template()):
        """(f, pdf) of leaf row r, whose type is one of ``codes`` (others: zero)."""
        t = self.info[ti.max(r, 0)].type
        res = ti.Vector([0.0, 0.0, 0.0])
        pd = 0.0
        for code in ti.static(_builtins(codes)):
            if t == code:
                p = self._params(code, r, uv)
                if ti.static(code == ROUGHPLASTIC):  # tabulated rough coat
                    res = roughplastic.eval_coat(p, wi, wo, self.coat, r)
                    if ti.static(with_pdf):
                        pd = roughplastic.pdf_coat(p, wi, wo, self.coat, r)
                else:
                    res = _LEAF_MODULES[code].eval(p, wi, wo)
                    if ti.static(with_pdf):
                        pd = _LEAF_MODULES[code].pdf(p, wi, wo)
        for k in ti.static(_shader_indices(codes)):
            if t == SHADER_BASE + k:
                res = self.shaders[k].eval(self, r, uv, wi, wo)
                if ti.static(with_pdf):
                    pd = self.shaders[k].pdf(self, r, uv, wi, wo)
        return res, pd

    @ti.func
    def _leaf_delta(self, r, uv, wi, wo, lobe):
        t = self.info[ti.max(r, 0)].type
        res = ti.Vector([0.0, 0.0, 0.0])
        for code in ti.static(self.used_delta):
            if t == code:
                p = self._params(code, r, uv)
                res = _LEAF_MODULES[code].eval_delta(p, wi, wo, lobe)
        return res

    @ti.func
    def _leaf_sample(self, r, uv, wi, u1, u2):
        t = self.info[ti.max(r, 0)].type
        res = BSDFSample(wo=ti.Vector([0.0, 0.0, 1.0]), weight=ti.Vector([0.0, 0.0, 0.0]),
                         pdf=0.0, delta=0)
        for code in ti.static(self.used):
            if t == code:
                p = self._params(code, r, uv)
                if ti.static(code == ROUGHPLASTIC):
                    res = roughplastic.sample_coat(p, wi, u1, u2, self.coat, r)
                else:
                    res = _LEAF_MODULES[code].sample(p, wi, u1, u2)
        for k in ti.static(range(len(self.shaders))):
            if t == SHADER_BASE + k:
                res = self.shaders[k].sample(self, r, uv, wi, u1, u2)
        return res

    # --- rows (composites) ---------------------------------------------------------------------

    @ti.func
    def _sign(self, b, wi):
        s = 1.0
        if self.info[b].twosided != 0 and wi.z < 0.0:
            s = -1.0
        return s

    @ti.func
    def _eval_pdf_local(self, b, uv, wi, wo, with_pdf: ti.template()):
        info = self.info[b]
        w0, w1, wp = self._components(b, uv)
        f, pd = self._leaf_eval(info.comp0, uv, wi, wo, with_pdf, ti.static(self.smooth_comp0))
        f *= w0
        pd *= w0
        if ti.static(self.has_blend):
            if info.comp1 >= 0:
                f1, pd1 = self._leaf_eval(info.comp1, uv, wi, wo, with_pdf,
                                          ti.static(self.smooth_comp1))
                f += w1 * f1
                pd += w1 * pd1
        return f, pd

    # --- perturbed shading frames (normalmap, bumpmap) ----------------------------------------

    @ti.func
    def local_geo(self, dp_du, dp_dv, ng, s, t, n):
        """The :data:`LocalGeo` of a surface point for the BSDF queries (frame s, t, n); zeros
        (never read) when no BSDF of the scene perturbs its frame."""
        g = LocalGeo(dpdu=ti.Vector([0.0, 0.0, 0.0]), dpdv=ti.Vector([0.0, 0.0, 0.0]),
                     ng=ti.Vector([0.0, 0.0, 1.0]))
        if ti.static(self.has_perturb):
            g.dpdu = ti.Vector([s.dot(dp_du), t.dot(dp_du), n.dot(dp_du)])
            g.dpdv = ti.Vector([s.dot(dp_dv), t.dot(dp_dv), n.dot(dp_dv)])
            g.ng = ti.Vector([s.dot(ng), t.dot(ng), n.dot(ng)])
        return g

    @ti.func
    def _pframe(self, b, uv, wi, g):
        """Perturbed frame (s, t, n) of row b in the local frame, for incident wi (module
        docstring, steps 1-2)."""
        info = self.info[b]
        s0 = ti.Vector([1.0, 0.0, 0.0])
        l2 = g.dpdu.x * g.dpdu.x + g.dpdu.y * g.dpdu.y
        if l2 > 1e-30:
            s0 = ti.Vector([g.dpdu.x, g.dpdu.y, 0.0]) / ti.sqrt(l2)
        t0 = ti.Vector([-s0.y, s0.x, 0.0])
        n = ti.Vector([0.0, 0.0, 1.0])
        if info.pert == 1:
            c = self.textures.eval_as(info.pslot, uv, ti.static(self._kinds("p"))) * 2.0 - 1.0
            n = s0 * c.x + t0 * c.y + ti.Vector([0.0, 0.0, c.z])
        else:
            gr = (self.textures.eval_grad1_as(info.pslot, uv, ti.static(self._kinds("p")))
                  * self.textures.eval_as(info.sslot, uv, ti.static(self._kinds("s"))).x)
            du = ti.Vector([g.dpdu.x, g.dpdu.y, gr.x])
            dv = ti.Vector([g.dpdv.x, g.dpdv.y, gr.y])
            n = du.cross(dv)
            if g.ng.dot(n) < 0.0:
                n = -n
        if info.pflags & 1:
            if wi.z * wi.dot(n) <= 0.0:
                n = ti.Vector([-n.x, -n.y, n.z])
        ln2 = n.dot(n)
        if ln2 > 1e-30 and ln2 < 1e30:
            n = n / ti.sqrt(ln2)
        else:
            n = ti.Vector([0.0, 0.0, 1.0])
        sv = s0 - n * n.dot(s0)
        ls2 = sv.dot(sv)
        if ls2 > 1e-30:
            sv = sv / ti.sqrt(ls2)
        else:
            sv = t0
        return sv, n.cross(sv), n

    @ti.func
    def _terminator(self, nz, woz):
        """Conty Estevez et al.'s shadowing of a perturbed normal with cos ``nz`` towards a
        direction with cos ``woz`` (both relative to the unperturbed normal)."""
        n2 = ti.max(nz * nz, 1e-20)
        w2 = ti.max(woz * woz, 1e-20)
        a2 = ti.min(0.125 * ti.max(1.0 - n2, 0.0) / n2, 1.0)
        return 2.0 / (1.0 + ti.sqrt(1.0 + a2 * (ti.max(1.0 - w2, 0.0) / w2)))

    @ti.func
    def _perturb(self, b, uv, wi, wo, g):
        """(wi', wo', factor, pdf mask): the directions handed to the wrapped BSDF and the
        factors of the value / pdf (steps 3-4; identity for rows without perturbation)."""
        pwi = wi
        pwo = wo
        fac = 1.0
        msk = 1.0
        if ti.static(self.has_perturb):
            info = self.info[b]
            if info.pert != 0:
                fs, ft, fn = self._pframe(b, uv, wi, g)
                pwi = ti.Vector([fs.dot(wi), ft.dot(wi), fn.dot(wi)])
                pwo = ti.Vector([fs.dot(wo), ft.dot(wo), fn.dot(wo)])
                if not (wo.z * pwo.z > 0.0):
                    msk = 0.0
                fac = msk
                if info.pflags & 2:
                    fac *= self._terminator(fn.z, wo.z)
                if info.tsin != 0 and pwi.z < 0.0:
                    pwi.z = -pwi.z
                    pwo.z = -pwo.z
        return pwi, pwo, fac, msk

    # --- rows --------------------------------------------------------------------------------

    @ti.func
    def eval_pdf(self, b, uv, wi, wo, g):
        """(f(wi, wo) cos(theta_o), pdf(wi -> wo)) of the smooth part, local frame; ``g`` the
        point's :data:`LocalGeo` (read by normalmap / bumpmap rows only)."""
        s = self._sign(b, wi)
        wi2 = ti.Vector([wi.x, wi.y, s * wi.z])
        wo2 = ti.Vector([wo.x, wo.y, s * wo.z])
        pwi, pwo, fac, msk = self._perturb(b, uv, wi2, wo2, g)
        f, pd = self._eval_pdf_local(b, uv, pwi, pwo, True)
        return f * fac, pd * msk

    @ti.func
    def eval(self, b, uv, wi, wo, g):
        """f(wi, wo) cos(theta_o) of the smooth part (no pdf: the replay differentiates it)."""
        s = self._sign(b, wi)
        wi2 = ti.Vector([wi.x, wi.y, s * wi.z])
        wo2 = ti.Vector([wo.x, wo.y, s * wo.z])
        pwi, pwo, fac, msk = self._perturb(b, uv, wi2, wo2, g)
        f, _ = self._eval_pdf_local(b, uv, pwi, pwo, False)
        return f * fac

    @ti.func
    def eval_delta(self, b, uv, wi, wo, lobe, g):
        """Mass of the delta lobe ``lobe`` (a code recorded from :meth:`sample`) towards wo."""
        s = self._sign(b, wi)
        wi0 = ti.Vector([wi.x, wi.y, s * wi.z])
        wo0 = ti.Vector([wo.x, wo.y, s * wo.z])
        wi2, wo2, fac, msk = self._perturb(b, uv, wi0, wo0, g)
        info = self.info[b]
        w0, w1, wp = self._components(b, uv)
        c = lobe // 4
        low = lobe % 4
        res = ti.Vector([0.0, 0.0, 0.0])
        if low == 3:
            res = ti.Vector([wp, wp, wp])
        elif low > 0:
            r = info.comp0
            wc = w0
            if c == 1:
                r = info.comp1
                wc = w1
            res = wc * self._leaf_delta(r, uv, wi2, wo2, low)
        return res * fac

    @ti.func
    def sample(self, b, uv, wi, u1, u2, g):
        sg = self._sign(b, wi)
        wi0 = ti.Vector([wi.x, wi.y, sg * wi.z])
        wi2 = wi0
        info = self.info[b]
        fs = ti.Vector([1.0, 0.0, 0.0])
        ft = ti.Vector([0.0, 1.0, 0.0])
        fn = ti.Vector([0.0, 0.0, 1.0])
        s_in = 1.0
        if ti.static(self.has_perturb):
            if info.pert != 0:
                fs, ft, fn = self._pframe(b, uv, wi0, g)
                wi2 = ti.Vector([fs.dot(wi0), ft.dot(wi0), fn.dot(wi0)])
                if info.tsin != 0 and wi2.z < 0.0:
                    s_in = -1.0
                    wi2.z = -wi2.z
        w0, w1, wp = self._components(b, uv)
        c = 2
        r = info.comp0
        wc = w0
        uu = u1
        if u1 < w0:
            c = 0
            uu = u1 / w0
        elif u1 < w0 + w1:
            c = 1
            r = info.comp1
            wc = w1
            uu = (u1 - w0) / w1
        s = BSDFSample(wo=-wi2, weight=ti.Vector([1.0, 1.0, 1.0]), pdf=wp, delta=3)
        if c < 2:
            s = self._leaf_sample(r, uv, wi2, ti.min(uu, 0.99999994), u2)
            if s.delta == 0 and info.kind == 1:
                if s.pdf > 0.0:
                    f, pd = self._eval_pdf_local(b, uv, wi2, s.wo, True)
                    s.pdf = pd
                    s.weight = ti.Vector([0.0, 0.0, 0.0])
                    if pd > 0.0:
                        s.weight = f / pd
            else:
                s.pdf *= wc
                if s.delta > 0:
                    s.delta += 4 * c
        if ti.static(self.has_perturb):
            if info.pert != 0:
                s.wo.z *= s_in
                wo = fs * s.wo.x + ft * s.wo.y + fn * s.wo.z
                if s.wo.z * wo.z > 0.0 and s.weight.max() > 0.0:
                    if info.pflags & 2:
                        s.weight *= self._terminator(fn.z, wo.z)
                else:
                    s.weight = ti.Vector([0.0, 0.0, 0.0])
                    s.pdf = 0.0
                s.wo = wo
        s.wo.z *= sg
        return s

    @ti.func
    def albedo(self, b, uv):
        """Base colour of the first component (the ``albedo`` AOV)."""
        r = self.info[b].comp0
        res = ti.Vector([0.0, 0.0, 0.0])
        t = self.info[ti.max(r, 0)].type
        for code in ti.static(self.used):
            if ti.static("a" in _FIELDS[code]):
                if t == code:
                    res = self.textures.eval(self.info[r].a, uv)
        return res


__all__ = ["BSDFTable", "RowBuilder", "TYPES", "COMPOSITES", "PERTURB", "BSDFSample", "diffuse",
           "conductor", "roughconductor", "plastic", "roughplastic", "dielectric",
           "thindielectric"]


_GEO0 = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1], np.float32)


@ti.kernel
def _sample_kernel(table: ti.template(), b: ti.i32, wi: ti.types.ndarray(), u: ti.types.ndarray(),
                   out: ti.types.ndarray(), uvg: ti.types.ndarray()):
    for i in range(u.shape[0]):
        w = ti.Vector([wi[i, 0], wi[i, 1], wi[i, 2]])
        uv = ti.Vector([uvg[9], uvg[10]])
        g = LocalGeo(dpdu=ti.Vector([uvg[0], uvg[1], uvg[2]]),
                     dpdv=ti.Vector([uvg[3], uvg[4], uvg[5]]), ng=ti.Vector([uvg[6], uvg[7], uvg[8]]))
        s = table.sample(b, uv, w, u[i, 0], ti.Vector([u[i, 1], u[i, 2]]), g)
        f, p = table.eval_pdf(b, uv, w, s.wo, g)
        fd = table.eval_delta(b, uv, w, s.wo, s.delta, g)
        for k in ti.static(range(3)):
            out[i, k] = s.wo[k]
            out[i, 3 + k] = s.weight[k]
            out[i, 7 + k] = f[k]
            out[i, 12 + k] = fd[k]
        out[i, 6] = s.pdf
        out[i, 10] = p
        out[i, 11] = ti.cast(s.delta, ti.f32)


@ti.kernel
def _eval_kernel(table: ti.template(), b: ti.i32, wi: ti.types.ndarray(), wo: ti.types.ndarray(),
                 out: ti.types.ndarray(), uvg: ti.types.ndarray()):
    for i in range(wo.shape[0]):
        a = ti.Vector([wi[i, 0], wi[i, 1], wi[i, 2]])
        o = ti.Vector([wo[i, 0], wo[i, 1], wo[i, 2]])
        g = LocalGeo(dpdu=ti.Vector([uvg[0], uvg[1], uvg[2]]),
                     dpdv=ti.Vector([uvg[3], uvg[4], uvg[5]]), ng=ti.Vector([uvg[6], uvg[7], uvg[8]]))
        f, p = table.eval_pdf(b, ti.Vector([uvg[9], uvg[10]]), a, o, g)
        for k in ti.static(range(3)):
            out[i, k] = f[k]
        out[i, 3] = p


def _uvg(uv, geo):
    """uv (2) and a LocalGeo as 9 floats (dp/du, dp/dv, n_g; default: the local axes)."""
    g = _GEO0 if geo is None else np.asarray(geo, np.float32).reshape(9)
    return np.ascontiguousarray(np.concatenate([g, np.asarray(uv, np.float32).reshape(2)]))


def sample_np(table, b, wi, u, uv=(0.5, 0.5), geo=None):
    """Host-side BSDF sampling (tests): wi (N, 3) local, u (N, 3) -> dict of wo, weight, pdf,
    lobe, the eval / pdf of the sampled direction and the delta mass of the sampled lobe.
    ``geo``: dp/du, dp/dv, n_g in the local frame (9 floats) for normalmap / bumpmap rows."""
    u = np.ascontiguousarray(u, np.float32).reshape(-1, 3)
    wi = np.ascontiguousarray(np.broadcast_to(np.asarray(wi, np.float32), u.shape))
    out = np.zeros((u.shape[0], 15), np.float32)
    _sample_kernel(table, b, wi, u, out, _uvg(uv, geo))
    return {"wo": out[:, 0:3], "weight": out[:, 3:6], "pdf": out[:, 6], "eval": out[:, 7:10],
            "eval_pdf": out[:, 10], "lobe": out[:, 11].astype(np.int32),
            "delta": out[:, 12:15]}


def eval_np(table, b, wi, wo, uv=(0.5, 0.5), geo=None):
    """Host-side (f cos, pdf) for directions wi, wo (N, 3) (tests)."""
    wo = np.ascontiguousarray(wo, np.float32).reshape(-1, 3)
    wi = np.ascontiguousarray(np.broadcast_to(np.asarray(wi, np.float32), wo.shape))
    out = np.zeros((wo.shape[0], 4), np.float32)
    _eval_kernel(table, b, wi, wo, out, _uvg(uv, geo))
    return out[:, :3], out[:, 3]
