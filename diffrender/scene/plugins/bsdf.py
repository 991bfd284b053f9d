"""BSDFs: the builder (specs: the modules of :mod:`diffrender.core.bsdfs`)."""
from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np

from ...core.bsdfs import SPECS as BSDF_SPECS
from ...core.shaders import load_shader
from ...errors import SceneError
from ..ior import CONDUCTORS
from ..model import BSDF, Texture
from ..spec import SceneWarning
from ..tree import Node
from .reader import Reader

SPECS = BSDF_SPECS

_TRANSMISSIVE = ("dielectric", "thindielectric", "roughdielectric", "mask", "principledthin")


def _transmissive(b: BSDF) -> str | None:
    """The type of the first BSDF in ``b`` (itself or nested) with a transmission component."""
    if b.type in _TRANSMISSIVE:
        return b.type
    st = b.params.get("spec_trans") if b.type == "principled" else None
    if st is not None and not (st.type == "constant" and not np.any(st.value)):
        return "principled"  # spec_trans given: Mitsuba's has a transmission lobe then
    for c in b.children:
        t = _transmissive(c)
        if t is not None:
            return t
    return None


class BSDFBuilder:
    """Builder methods for BSDFs (mixed into :class:`~.builder.Builder`)."""

    def bsdf(self, node: Node) -> BSDF:
        key = id(node)
        if key in self.built:
            return self.built[key]
        r = Reader(self, node)
        if node.type == "twosided":
            inner = r.children("bsdf")
            if len(inner) != 1:
                raise r.error("twosided needs exactly one nested bsdf" if not inner else
                              "twosided with two different BSDFs (front/back) is not supported")
            r.finish()
            if inner[0].type == "twosided":
                raise SceneError("a twosided BSDF cannot wrap another twosided BSDF",
                                 str(inner[0].loc))
            b = self.bsdf(inner[0])
            trans = _transmissive(b)
            if trans is not None:
                # Mitsuba's twosided refuses these too ("Only materials without a transmission
                # component can be nested!"): mirroring a transmitted direction would turn it
                # into a reflection.
                hint = ("put the twosided inside the mask instead: <bsdf type=\"mask\"><bsdf "
                        "type=\"twosided\">...</bsdf></bsdf>" if trans == "mask" else
                        "a principled with spec_trans transmits from both sides by itself: "
                        "use it without twosided" if trans == "principled" else
                        f"a {trans} is two-sided by itself: use it without twosided")
                raise r.error(f"twosided can only wrap a BSDF without transmission (as in "
                              f"Mitsuba 3), got a {b.type}"
                              + (f" containing a {trans}" if trans != b.type else "")
                              + f"; {hint}")
            out = BSDF(type=b.type, params=dict(b.params), twosided=True, id=node.id or b.id,
                       children=list(b.children))
            self.origin[id(out)] = node
            self.param_node[id(out)] = self.param_node.get(id(b), inner[0])
        elif node.type in ("blendbsdf", "mask"):
            inner = r.children("bsdf")
            need = 2 if node.type == "blendbsdf" else 1
            if len(inner) != need:
                raise r.error(f"{node.type} needs exactly {need} nested bsdf"
                              f"{'s' if need > 1 else ''}, got {len(inner)}")
            wname = "weight" if node.type == "blendbsdf" else "opacity"
            w = r.get(wname)
            r.finish()
            kids = [self.bsdf(c) for c in inner]
            for c, kb in zip(inner, kids):
                if kb.type in ("blendbsdf", "mask", "normalmap", "bumpmap"):
                    raise SceneError(f"a {kb.type} cannot be nested in a {node.type} (composites "
                                     "nest plain BSDFs only)", str(c.loc))
            sides = [kb.twosided for kb in kids]
            if any(sides) and not all(sides):
                raise SceneError(f"a {node.type} mixing twosided and one-sided BSDFs is not "
                                 "supported; make both twosided or neither", str(node.loc))
            if all(sides):
                # mask(twosided(x)) (Mitsuba's own idiom) is twosided(mask(x)): mirroring the
                # directions commutes with the mask's pass-through, and the nested BSDFs are
                # mirrored alike. The renderer flips at the composite.
                flat = []
                for kb in kids:
                    kf = dataclasses.replace(kb, twosided=False)
                    if hasattr(kb, "shader"):
                        kf.shader = kb.shader
                    self.origin[id(kf)] = self.origin.get(id(kb))
                    self.param_node[id(kf)] = self.param_node.get(id(kb))
                    flat.append(kf)
                kids = flat
            out = BSDF(type=node.type, params={wname: w}, id=node.id, children=kids,
                       twosided=all(sides))
            self.origin[id(out)] = node
            self.param_node[id(out)] = node
        elif node.type == "null":
            r.finish()
            black = BSDF(type="diffuse", params={"reflectance": Texture.constant(np.zeros(3))})
            out = BSDF(type="mask", params={"opacity": Texture.constant(np.zeros(1))},
                       id=node.id, children=[black])
            self.origin[id(out)] = node
            self.param_node[id(out)] = node
        elif node.type in ("normalmap", "bumpmap"):
            out = self._perturbed_bsdf(r, node)
        elif node.type == "shader":
            path = self.file(r, "filename", "shader")
            sh = load_shader(path, "bsdf", r.loc("filename"))
            r.extend(sh.param_specs())
            params = sh.read_params(r)
            r.finish()
            out = BSDF(type="shader", params=params, id=node.id)
            out.shader = sh
            self.origin[id(out)] = node
            self.param_node[id(out)] = node
        else:
            params = self._leaf_bsdf_params(r, node)
            r.finish()
            out = BSDF(type=node.type, params=params, id=node.id)
            self.origin[id(out)] = node
            self.param_node[id(out)] = node
        self.built[key] = out
        return out

    def _perturbed_bsdf(self, r: Reader, node: Node) -> BSDF:
        """normalmap / bumpmap: one nested BSDF, a texture, two booleans (and a scale)."""
        t = node.type
        inner = r.children("bsdf")
        if len(inner) != 1:
            raise r.error(f"{t} needs exactly 1 nested bsdf, got {len(inner)}")
        params = {}
        if t == "normalmap":
            tex = r.get("normalmap")
            if tex is None:
                raise r.error("normalmap needs a texture named 'normalmap' (a raw RGB bitmap of "
                              "tangent-space normals)")
            if tex.type == "bitmap" and not tex.raw and tex.filename and \
                    os.path.splitext(tex.filename)[1].lower() in (".png", ".jpg", ".jpeg"):
                warnings.warn(f"{r.loc('normalmap')}: normalmap bitmap without raw=true: its "
                              "values are sRGB-decoded (as in Mitsuba), which bends the normals; "
                              "add <boolean name=\"raw\" value=\"true\"/>", SceneWarning,
                              stacklevel=3)
            params["normalmap"] = tex
        else:
            texs = r.children("texture")
            if len(texs) != 1:
                raise r.error(f"bumpmap needs exactly 1 nested texture (the height map), got "
                              f"{len(texs)}")
            tex = self.texture(texs[0])
            if tex.type not in ("bitmap", "constant"):
                raise SceneError(f"bumpmap height texture must be a bitmap, got a {tex.type} "
                                 "(its uv gradient is not defined)", str(texs[0].loc))
            scale = r.get("scale")
            if not np.isfinite(scale):
                raise r.error(f"bumpmap scale must be finite, got {scale}", "scale")
            params["nested_texture"] = tex
            params["scale"] = Texture.constant(np.full(1, scale, np.float32))
        params["flip_invalid_normals"] = bool(r.get("flip_invalid_normals"))
        params["use_shadowing_function"] = bool(r.get("use_shadowing_function"))
        r.finish()
        kid = self.bsdf(inner[0])
        if kid.type in ("normalmap", "bumpmap"):
            raise SceneError(f"a {kid.type} cannot be nested in a {t} (one perturbation per "
                             "BSDF)", str(inner[0].loc))
        out = BSDF(type=t, params=params, id=node.id, children=[kid])
        self.origin[id(out)] = node
        self.param_node[id(out)] = node
        return out

    def _leaf_bsdf_params(self, r: Reader, node: Node) -> dict:
        """Parameters of a leaf BSDF, read by its spec: every continuous one becomes a Texture
        (the spec default when absent), ``eta`` is ``int_ior / ext_ior`` or the conductor's,
        the options (``nonlinear``, ``distribution``, ``sample_visible``) stay plain values."""
        t = node.type
        ps = r.spec.params
        out = {}
        if "material" in ps:  # conductors
            mat = r.get("material")
            has_ek = r.has("eta") or r.has("k")
            if has_ek and r.has("material"):
                raise r.error(f"{t}: give either 'material' or 'eta'/'k', not both", "material")
            if mat not in CONDUCTORS:
                raise r.error(f"{t}: unknown material '{mat}' (known: {', '.join(CONDUCTORS)})",
                              "material")
            eta, k = CONDUCTORS[mat]
            out["eta"] = (r.get("eta") if r.has("eta")
                          else Texture.constant(np.asarray(eta, np.float32)))
            out["k"] = r.get("k") if r.has("k") else Texture.constant(np.asarray(k, np.float32))
        if "int_ior" in ps:
            ii, ee = r.get("int_ior"), r.get("ext_ior")
            for nm, v in (("int_ior", ii), ("ext_ior", ee)):
                if not (v is not None and np.isfinite(v) and v > 0):
                    raise r.error(f"{t} {nm} must be a positive number, got {v}", nm)
            if ii == ee:
                raise r.error(f"{t}: int_ior and ext_ior are equal ({ii}); the interface would "
                              "be invisible", "int_ior")
            out["eta"] = Texture.constant(np.full(1, ii / ee, np.float32))
        if "nonlinear" in ps:
            out["nonlinear"] = bool(r.get("nonlinear"))
        if "distribution" in ps:
            out.update(self._microfacet(r, t))
        if "specular" in ps and "eta" in ps:  # principled: eta or specular (as Mitsuba)
            if r.has("eta") and r.has("specular"):
                raise r.error(f"{t}: give either 'eta' or 'specular', not both", "specular")
            out["specular" if r.has("eta") else "eta"] = None
        for name, p in ps.items():  # the remaining continuous parameters
            if p.fields() and name not in out and not name.startswith("alpha"):
                out[name] = r.get(name)
        return {k: v for k, v in out.items() if v is not None}

    def _microfacet(self, r: Reader, t: str) -> dict:
        """``distribution``, ``sample_visible`` and the roughness (``alpha`` or, where the spec
        has them, ``alpha_u`` / ``alpha_v`` as in Mitsuba: both or neither, not with alpha)."""
        out = {}
        dist = r.get("distribution")
        out["distribution"] = dist
        out["sample_visible"] = bool(r.get("sample_visible"))
        if "alpha_u" not in r.spec.params:  # roughplastic: isotropic only (as Mitsuba)
            names = ("alpha",)
        else:
            has_uv = r.has("alpha_u") or r.has("alpha_v")
            if has_uv and not (r.has("alpha_u") and r.has("alpha_v")):
                raise r.error(f"{t}: give both 'alpha_u' and 'alpha_v' (or 'alpha')",
                              "alpha_u" if r.has("alpha_u") else "alpha_v")
            if has_uv and r.has("alpha"):
                raise r.error(f"{t}: give either 'alpha' or 'alpha_u'/'alpha_v', not both",
                              "alpha")
            names = ("alpha_u", "alpha_v") if has_uv else ("alpha",)
        for n in names:
            a = r.get(n)
            if a.type == "constant" and not float(np.min(a.value)) > 0:
                raise r.error(f"{t} {n} must be positive, got {float(np.min(a.value))}", n)
            out[n] = a
        return out
