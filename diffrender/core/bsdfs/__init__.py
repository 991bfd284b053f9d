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

Lobe codes (``BSDFSample.delta``, recorded by the replay): ``LOBE_SMOOTH``, ``LOBE_REFLECT``
(delta reflection), ``LOBE_TRANSMIT`` (delta transmission), ``LOBE_NULL`` (mask); plus
``LOBE_COMPONENT`` x component index (:mod:`.common`).

Discovery. Every module of this package that declares a ``SPEC``
(:class:`~diffrender.scene.spec.PluginSpec`: name, compile-time type ``code``, parameters with
Mitsuba's defaults and the bundle fields they fill, ``lobes``) is a leaf BSDF with ``eval``,
``pdf``, ``sample``, ``eval_delta`` and optionally ``host_row(params)`` (row options computed on
the host). The dispatch tables below (``TYPES``, ``BUNDLE``, the smooth / delta code lists) and
the loader's specs are built from them: adding a BSDF is adding its module.
"""

import importlib
import pkgutil

import numpy as np

from ...engine import ti
from ...errors import SceneError
from ...scene.model import Texture
from ..types import BSDFSample, HostRows, LocalGeo
from . import composites
from .common import (BUNDLE_FIELDS, EXTRA_FIELDS, HAS_DELTA, HAS_SMOOTH, LOBE_COMPONENT,
                     LOBE_NULL, LOBE_SMOOTH, LOBE_TRANSMIT, N_EXTRA, BSDFParams)
from .composites import BLEND, LEAF, MASK, PFLAG_FLIP_INVALID, PFLAG_SHADOWING, SHADER_BASE


def _discover():
    """The leaf BSDF modules of this package: every submodule that declares a ``SPEC``."""
    mods = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(mod, "SPEC", None)
        if spec is not None:
            if spec.code in {m.SPEC.code for m in mods.values()}:
                raise RuntimeError(f"BSDF type code {spec.code} of {info.name} is taken")
            mods[spec.type] = mod
    return dict(sorted(mods.items(), key=lambda kv: kv[1].SPEC.code))


#: plugin name -> module (leaves), in type-code order
LEAVES = _discover()
#: the specs of every BSDF plugin (leaves, then wrappers and shaders)
SPECS = tuple(m.SPEC for m in LEAVES.values()) + composites.SPECS
#: plugin name -> type code (leaves)
TYPES = {n: m.SPEC.code for n, m in LEAVES.items()}
#: composite plugins -> kind code
COMPOSITES = {"blendbsdf": BLEND, "mask": MASK}
#: perturbing wrappers -> ``pert`` code
PERTURB = {"normalmap": composites.NORMALMAP, "bumpmap": composites.BUMPMAP}
MAX_SHADER_PARAMS = 8

#: parameter name -> bundle fields, per leaf plugin (from the specs' ``Param.field``)
BUNDLE = {n: {k: p.fields() for k, p in m.SPEC.all_params().items() if p.fields()}
          for n, m in LEAVES.items()}
_LEAF_MODULES = {m.SPEC.code: m for m in LEAVES.values()}
_FIELDS = {TYPES[n]: tuple(f for f in BUNDLE_FIELDS if any(f in v for v in BUNDLE[n].values()))
           for n in BUNDLE}
_SMOOTH = tuple(m.SPEC.code for m in LEAVES.values() if HAS_SMOOTH in m.SPEC.lobes)
_DELTA = tuple(m.SPEC.code for m in LEAVES.values() if HAS_DELTA in m.SPEC.lobes)
_WRAPPERS = {s.type: s for s in composites.SPECS}
roughplastic = LEAVES["roughplastic"]  # its rough-coat tables are rows of the table
ROUGHPLASTIC = roughplastic.SPEC.code
thindielectric = LEAVES["thindielectric"]  # its transmission is a null event in media
THINDIELECTRIC = thindielectric.SPEC.code


def default_texture(spec, name):
    """The spec default of a continuous parameter as a constant Texture (a new one per call:
    never shared between BSDFs), None when it has no default."""
    p = spec.all_params()[name]
    if p.default is None:
        return None
    n = 3 if p.kind == "spectrum" else 1
    return Texture.constant(np.full(n, p.default, np.float32))


def _param(b, name, defaults):
    """``b.params[name]``, else the spec default (kept in ``defaults``, never written into the
    scene)."""
    if name in b.params:
        return b.params[name]
    key = (id(b), name)
    if key not in defaults:
        spec = LEAVES[b.type].SPEC if b.type in LEAVES else _WRAPPERS[b.type]
        defaults[key] = default_texture(spec, name)
    return defaults[key]


def row_slot(row, fld):
    """The texture slot of bundle field ``fld`` in a row dict (``x<k>``: ``row["x"][k]``)."""
    if fld in EXTRA_FIELDS:
        return row["x"][EXTRA_FIELDS.index(fld)]
    return row[fld]


def _leaf_slots(b, slot, where, defaults, row):
    """Fill ``row`` with the slots of a leaf BSDF's bundle fields: each field from the first
    parameter that fills it and is given, else from the first with a default."""
    for fld in _FIELDS[TYPES[b.type]]:
        names = [n for n, fl in BUNDLE[b.type].items() if fld in fl]
        given = [n for n in names if n in b.params]
        name = given[0] if given else next(n for n in names if _param(b, n, defaults) is not None)
        s = slot(_param(b, name, defaults), f"{where} {name}")
        if fld in EXTRA_FIELDS:
            row["x"][EXTRA_FIELDS.index(fld)] = s
        else:
            row[fld] = s


def _has_extra(code):
    """Whether leaf type ``code`` fills any of the extra scalar fields."""
    return any(f in EXTRA_FIELDS for f in _FIELDS[code])


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
        if r["kind"] != LEAF:
            slots.setdefault("w", []).append(r["wslot"])
        elif r["type"] < SHADER_BASE:
            for fld in _FIELDS[r["type"]]:
                slots.setdefault(f"{r['type']}.{fld}", []).append(row_slot(r, fld))
        if r.get("pert", 0):
            slots.setdefault("p", []).append(r["pslot"])
            slots.setdefault("s", []).append(r["sslot"])
    return {k: kinds_of(v) for k, v in slots.items()}


BSDFInfo = ti.types.struct(type=ti.i32, twosided=ti.i32, kind=ti.i32, a=ti.i32, b=ti.i32,
                           c=ti.i32, alpha=ti.i32, alpha_v=ti.i32, eta=ti.i32, w=ti.f32,
                           flag=ti.i32,
                           comp0=ti.i32, comp1=ti.i32, wslot=ti.i32,
                           sp=ti.types.vector(MAX_SHADER_PARAMS, ti.i32), pert=ti.i32,
                           pslot=ti.i32, sslot=ti.i32, pflags=ti.i32, tsin=ti.i32,
                           frame=ti.i32)


def _row(**kw):
    r = dict(type=0, twosided=0, kind=LEAF, a=-1, b=-1, c=-1, alpha=-1, alpha_v=-1, eta=-1,
             x=[-1] * N_EXTRA, w=0.5, flag=0, comp0=-1, comp1=-1, wslot=-1, sp=[-1] * MAX_SHADER_PARAMS,
             pert=composites.NO_PERTURBATION, pslot=-1, sslot=-1,
             pflags=PFLAG_FLIP_INVALID | PFLAG_SHADOWING, tsin=0, frame=0)
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
        self._defaults: dict = {}  # (id(bsdf), name) -> default Texture of a missing parameter
        self._added: list = []  # the BSDFs of ``_index``: alive, so that no other gets their id

    def add(self, b, where, nested=False) -> int:
        if id(b) in self._index:
            return self._index[id(b)]
        self._added.append(b)
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
            ws = self.slot(_param(b, wname, self._defaults), f"{where} {wname}")
            self.rows[idx] = _row(kind=COMPOSITES[b.type], twosided=int(b.twosided),
                                  comp0=comps[0], comp1=comps[1] if need == 2 else -1, wslot=ws,
                                  frame=max(self.rows[c]["frame"] for c in comps))
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
            _leaf_slots(b, self.slot, where, self._defaults, row)
            if "alpha_v" in _FIELDS[row["type"]] and row["alpha_v"] != row["alpha"]:
                row["frame"] = 1  # anisotropic: x along dp/du, as Mitsuba's shading frame
            host_row = getattr(LEAVES[b.type], "host_row", None)
            if host_row is not None:
                row.update(host_row({**{n: _param(b, n, self._defaults)
                                        for n in ("diffuse_reflectance", "specular_reflectance")
                                        if n in BUNDLE[b.type]}, **b.params}))
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
        row["x"] = list(row["x"])
        row["pert"] = PERTURB[b.type]
        row["pslot"] = self.slot(tex, f"{where} {tname}")
        if b.type == "bumpmap":
            row["sslot"] = self.slot(_param(b, "scale", self._defaults), f"{where} scale")
        sp = _WRAPPERS[b.type].params
        row["pflags"] = (PFLAG_FLIP_INVALID * int(bool(b.params.get(
                             "flip_invalid_normals", sp["flip_invalid_normals"].default)))
                         | PFLAG_SHADOWING * int(bool(b.params.get(
                             "use_shadowing_function", sp["use_shadowing_function"].default))))
        row["tsin"] = int(kid.twosided)
        row["twosided"] = int(b.twosided)
        idx = len(self.rows)
        self.rows.append(row)
        self._index[id(b)] = idx
        return idx


@ti.func
def _rot(v, c, s):
    """v in the frame rotated about z by the angle (c, s) = (cos, sin)."""
    return ti.Vector([c * v.x + s * v.y, c * v.y - s * v.x, v.z])


@ti.func
def _unrot(v, c, s):
    return ti.Vector([c * v.x - s * v.y, s * v.x + c * v.y, v.z])


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
        # the slots of the extra scalar fields x0..x8 (row["x"]), apart from ``info`` so that
        # the rows of plugins without them stay as small as before
        self.xslots = ti.Vector.field(N_EXTRA, ti.i32, shape=self.n)
        self.rows = rows
        # Static (compile-time) configuration: plain tuples / bools, so that a recycled table
        # (the renderer's device-set pool) with another configuration is detected.
        types = {r["type"] for r in rows if r["kind"] == LEAF}
        self.used = tuple(sorted(t for t in types if t < SHADER_BASE)) or (0,)
        self.used_smooth = tuple(t for t in self.used if t in _SMOOTH)
        self.used_delta = tuple(t for t in self.used if t in _DELTA)
        # The smooth leaves (type codes, user shaders as SHADER_BASE + k) a query can reach as
        # a row's first component (any leaf: a leaf row is its own first component) and as a
        # blend's second one (only the leaves that are second components somewhere).
        n_sh = len(self.shader_list)
        self.smooth_comp0 = self.used_smooth + tuple(SHADER_BASE + k for k in range(n_sh))
        comp1 = {rows[r["comp1"]]["type"] for r in rows if r["kind"] == BLEND and r["comp1"] >= 0}
        self.smooth_comp1 = tuple(t for t in self.smooth_comp0 if t in comp1)
        self.has_composite = any(r["kind"] != LEAF for r in rows)
        self.has_blend = any(r["kind"] == BLEND for r in rows)
        self.has_delta = bool(self.used_delta) or any(r["kind"] == MASK for r in rows)
        self.has_perturb = any(r.get("pert", 0) != composites.NO_PERTURBATION for r in rows)
        #: some row's frame is aligned with dp/du (anisotropic roughness)
        self.has_aligned = any(r.get("frame", 0) != 0 for r in rows)
        #: the queries read the LocalGeo (replays must record it)
        self.needs_geo = self.has_perturb or self.has_aligned
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
        rows = HostRows(self.info)
        xslots = np.zeros((self.xslots.shape[0], N_EXTRA), np.int32)
        for i, r in enumerate(self.rows):
            rows[i] = BSDFInfo(**{k: (np.asarray(v, np.int32) if k == "sp" else v)
                                  for k, v in r.items() if k != "x"})
            if any(s >= 0 for s in r["x"]):
                xslots[i] = np.asarray(r["x"], np.int32)
        rows.flush()
        self.xslots.from_numpy(xslots)

    def update_coats(self) -> bool:
        """(Re)tabulate the rough coat of every roughplastic row whose constant ``alpha`` /
        ``eta`` changed (Mitsuba's ``parameters_changed``); a textured one keeps the expansion
        point of its first tabulation (the texture's mean). True when something changed."""
        changed = False
        texs = self.textures.textures
        for i, r in enumerate(self.rows):
            if r["kind"] != LEAF or r["type"] != ROUGHPLASTIC:
                continue
            vals = []
            spec = LEAVES["roughplastic"].SPEC
            for k, default in (("alpha", spec.params["alpha"].default),
                               ("eta", spec.model["eta"].default)):
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
            changed |= self.coat.set(i, vals[0], vals[1],
                                     bool(r.get("flag", 0) & roughplastic.FLAG_BECKMANN))
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
                       c=ti.Vector([0.0, 0.0, 0.0]), alpha=0.1, alpha_v=0.1, eta=1.5,
                       x=ti.Vector([0.0] * N_EXTRA), w=info.w, flag=info.flag)
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
        if ti.static("alpha_v" in fields):
            p.alpha_v = ti.max(self.textures.eval_as(info.alpha_v, uv,
                                                     ti.static(self._kinds(code, "alpha_v"))).x,
                               1e-4)
        if ti.static("eta" in fields):
            p.eta = self.textures.eval_as(info.eta, uv, ti.static(self._kinds(code, "eta"))).x
        if ti.static(_has_extra(code)):
            xs = self.xslots[r]
            for k in ti.static(range(N_EXTRA)):
                if ti.static(EXTRA_FIELDS[k] in fields):
                    p.x[k] = self.textures.eval_as(xs[k], uv,
                                                   ti.static(self._kinds(code, EXTRA_FIELDS[k]))).x
        return p

    @ti.func
    def _components(self, b, uv):
        w0 = 1.0
        w1 = 0.0
        wp = 0.0
        if ti.static(self.has_composite):
            info = self.info[b]
            if info.kind == BLEND:
                wt = ti.min(ti.max(self.textures.eval_as(info.wslot, uv, ti.static(self._kinds("w"))).x,
                                   0.0), 1.0)
                w0 = 1.0 - wt
                w1 = wt
            elif info.kind == MASK:
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
                         pdf=0.0, delta=LOBE_SMOOTH)
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
        if ti.static(self.has_perturb or self.has_aligned):
            g.dpdu = ti.Vector([s.dot(dp_du), t.dot(dp_du), n.dot(dp_du)])
            g.dpdv = ti.Vector([s.dot(dp_dv), t.dot(dp_dv), n.dot(dp_dv)])
            g.ng = ti.Vector([s.dot(ng), t.dot(ng), n.dot(ng)])
        return g

    @ti.func
    def _align(self, b, g):
        """(cos, sin) of the rotation about the normal that takes dp/du's direction to +x, for
        rows whose frame is aligned (anisotropic roughness; a perturbed row aligns its own
        frame, :meth:`_pframe`); the identity otherwise."""
        c = 1.0
        sn = 0.0
        if ti.static(self.has_aligned):
            info = self.info[b]
            if info.frame != 0 and info.pert == composites.NO_PERTURBATION:
                l2 = g.dpdu.x * g.dpdu.x + g.dpdu.y * g.dpdu.y
                if l2 > 1e-30:
                    inv = 1.0 / ti.sqrt(l2)
                    c = g.dpdu.x * inv
                    sn = g.dpdu.y * inv
        return c, sn

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
        if info.pert == composites.NORMALMAP:
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
        if info.pflags & PFLAG_FLIP_INVALID:
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
            if info.pert != composites.NO_PERTURBATION:
                fs, ft, fn = self._pframe(b, uv, wi, g)
                pwi = ti.Vector([fs.dot(wi), ft.dot(wi), fn.dot(wi)])
                pwo = ti.Vector([fs.dot(wo), ft.dot(wo), fn.dot(wo)])
                if not (wo.z * pwo.z > 0.0):
                    msk = 0.0
                fac = msk
                if info.pflags & PFLAG_SHADOWING:
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
        ca, sa = self._align(b, g)
        wi2 = _rot(ti.Vector([wi.x, wi.y, s * wi.z]), ca, sa)
        wo2 = _rot(ti.Vector([wo.x, wo.y, s * wo.z]), ca, sa)
        pwi, pwo, fac, msk = self._perturb(b, uv, wi2, wo2, g)
        f, pd = self._eval_pdf_local(b, uv, pwi, pwo, True)
        return f * fac, pd * msk

    @ti.func
    def eval(self, b, uv, wi, wo, g):
        """f(wi, wo) cos(theta_o) of the smooth part (no pdf: the replay differentiates it)."""
        s = self._sign(b, wi)
        ca, sa = self._align(b, g)
        wi2 = _rot(ti.Vector([wi.x, wi.y, s * wi.z]), ca, sa)
        wo2 = _rot(ti.Vector([wo.x, wo.y, s * wo.z]), ca, sa)
        pwi, pwo, fac, msk = self._perturb(b, uv, wi2, wo2, g)
        f, _ = self._eval_pdf_local(b, uv, pwi, pwo, False)
        return f * fac

    @ti.func
    def eval_delta(self, b, uv, wi, wo, lobe, g):
        """Mass of the delta lobe ``lobe`` (a code recorded from :meth:`sample`) towards wo."""
        s = self._sign(b, wi)
        ca, sa = self._align(b, g)
        wi0 = _rot(ti.Vector([wi.x, wi.y, s * wi.z]), ca, sa)
        wo0 = _rot(ti.Vector([wo.x, wo.y, s * wo.z]), ca, sa)
        wi2, wo2, fac, msk = self._perturb(b, uv, wi0, wo0, g)
        info = self.info[b]
        w0, w1, wp = self._components(b, uv)
        c = lobe // LOBE_COMPONENT
        low = lobe % LOBE_COMPONENT
        res = ti.Vector([0.0, 0.0, 0.0])
        if low == LOBE_NULL:
            res = ti.Vector([wp, wp, wp])
        elif low > LOBE_SMOOTH:
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
        ca, sa = self._align(b, g)
        wi0 = _rot(ti.Vector([wi.x, wi.y, sg * wi.z]), ca, sa)
        wi2 = wi0
        info = self.info[b]
        fs = ti.Vector([1.0, 0.0, 0.0])
        ft = ti.Vector([0.0, 1.0, 0.0])
        fn = ti.Vector([0.0, 0.0, 1.0])
        s_in = 1.0
        if ti.static(self.has_perturb):
            if info.pert != composites.NO_PERTURBATION:
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
        s = BSDFSample(wo=-wi2, weight=ti.Vector([1.0, 1.0, 1.0]), pdf=wp, delta=LOBE_NULL)
        if c < 2:
            s = self._leaf_sample(r, uv, wi2, ti.min(uu, 0.99999994), u2)
            if s.delta == LOBE_SMOOTH and info.kind == BLEND:
                if s.pdf > 0.0:
                    f, pd = self._eval_pdf_local(b, uv, wi2, s.wo, True)
                    s.pdf = pd
                    s.weight = ti.Vector([0.0, 0.0, 0.0])
                    if pd > 0.0:
                        s.weight = f / pd
            else:
                s.pdf *= wc
                if s.delta > LOBE_SMOOTH:
                    s.delta += LOBE_COMPONENT * c
        if ti.static(self.has_perturb):
            if info.pert != composites.NO_PERTURBATION:
                s.wo.z *= s_in
                wo = fs * s.wo.x + ft * s.wo.y + fn * s.wo.z
                if s.wo.z * wo.z > 0.0 and s.weight.max() > 0.0:
                    if info.pflags & PFLAG_SHADOWING:
                        s.weight *= self._terminator(fn.z, wo.z)
                else:
                    s.weight = ti.Vector([0.0, 0.0, 0.0])
                    s.pdf = 0.0
                s.wo = wo
        s.wo = _unrot(s.wo, ca, sa)
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


    # --- null events (participating media, ``core/media.py``) ----------------------------

    @ti.func
    def null_transmission(self, b, uv, wi):
        """What a shadow ray keeps crossing the surface (Mitsuba's ``eval_null_transmission``):
        ``1 - opacity`` of a mask (1 for a ``null`` BSDF), a thindielectric's ``T_s T'`` at the
        local incident direction ``wi``, 0 for every other BSDF."""
        info = self.info[b]
        res = ti.Vector([0.0, 0.0, 0.0])
        if ti.static(self.has_composite):
            if info.kind == MASK:
                _w0, _w1, wp = self._components(b, uv)
                res = ti.Vector([wp, wp, wp])
        if ti.static(THINDIELECTRIC in self.used):
            if info.kind == LEAF and info.type == THINDIELECTRIC:
                p = self._params(THINDIELECTRIC, b, uv)
                res = p.b * (1.0 - thindielectric.reflectance(p, wi))
        return res

    @ti.func
    def is_null(self, b, lobe):
        """Whether the sampled ``lobe`` of row ``b`` is a null event (the ray goes on unchanged:
        a mask's pass-through, a thindielectric's transmission)."""
        res = lobe % LOBE_COMPONENT == LOBE_NULL
        if ti.static(THINDIELECTRIC in self.used):
            info = self.info[b]
            if info.kind == LEAF and info.type == THINDIELECTRIC and lobe == LOBE_TRANSMIT:
                res = True
        return res


__all__ = ["BSDFTable", "RowBuilder", "TYPES", "COMPOSITES", "PERTURB", "SPECS", "LEAVES",
           "BSDFSample", *LEAVES]


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
