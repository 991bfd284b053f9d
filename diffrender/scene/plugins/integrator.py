"""Integrators: their specs (the kernels: :mod:`diffrender.core.integrators`) and builder.

diffrender has two light-transport kernels, ``path`` and ``direct``. Mitsuba 3.9.1's other
integrator names load as one of them where the *expected* image is the same, with one notice on
stderr (a :class:`~diffrender.scene.spec.SceneWarning`) saying what differs:

- ``moment``: the image of its first nested integrator (Mitsuba's too); its second-moment AOVs
  (``m2_*``) and the images of further nested integrators are not produced.
- ``aov``: its nested integrator's image, and the AOVs diffrender has (:data:`AOV_TYPES`) listed
  in ``Integrator.params['aovs']`` (Mitsuba name -> diffrender AOV, for
  ``Renderer.render(aovs=...)``); other AOV types are a one-line error.
- the differentiable integrators ``prb``, ``prb_basic``, ``prb_projective`` (path tracing with
  their ``max_depth`` default, 6), ``direct_projective`` (path tracing with ``max_depth`` 2),
  ``ptracer`` (a light tracer: path tracing), ``volpath`` / ``volpathmis`` / ``prbvolpath``
  (volumetric path tracers: diffrender's path tracer, which tracks media where the
  scene uses them, ``core/media.py``): only the variance differs.
- ``stokes`` (polarisation) is a one-line error: diffrender renders unpolarised RGB.

Participating media: a ``<medium>`` nothing uses loads (no effect, as in Mitsuba); one a shape or
the sensor uses is built under a volumetric integrator (``medium.py``) and ignored under ``path`` / ``direct``, which ignore media in
Mitsuba too.
"""
from __future__ import annotations

import warnings

from ...errors import SceneError
from ..model import Integrator
from ..spec import Param, PluginSpec, SceneWarning
from ..tree import Node
from .reader import Reader

#: Mitsuba AOV type -> diffrender AOV (``diffrender.core.AOV_NAMES``).
AOV_TYPES = {"depth": "depth", "sh_normal": "normal", "albedo": "albedo"}
#: Mitsuba 3.9.1's other AOV types (aov.cpp), refused with a one-line error.
AOV_UNSUPPORTED = ("position", "uv", "geo_normal", "dp_du", "dp_dv", "duv_dx", "duv_dy",
                   "prim_index", "shape_index")

#: Mitsuba's max_depth default of the differentiable (Python) integrators (ad/common.py).
AD_MAX_DEPTH = 6
DIRECT_PROJECTIVE_DEPTH = 2  # direct_projective sets max_depth = 2 whatever is given


def _path_params(max_depth: int) -> dict[str, Param]:
    return {"max_depth": Param("integer", max_depth, "longest path, -1 = unbounded"),
            "rr_depth": Param("integer", 5, "depth where Russian roulette starts"),
            "hide_emitters": Param("boolean", False, "")}


def _projective_params(max_depth: int) -> dict[str, Param]:
    return {**_path_params(max_depth),
            "sppc": Param("integer", None, "(derivatives only; ignored)"),
            "sppp": Param("integer", None, "(derivatives only; ignored)"),
            "sppi": Param("integer", None, "(derivatives only; ignored)"),
            "guiding": Param("string", "octree", "(derivatives only; ignored)",
                             choices=("none", "grid", "octree")),
            "guiding_proj": Param("boolean", True, "(derivatives only; ignored)"),
            "guiding_rounds": Param("integer", 1, "(derivatives only; ignored)"),
            "project_seed": Param("string", "both", "(derivatives only; ignored)",
                                  choices=("both", "bsdf", "emitter"))}


#: alias -> (what the notice says differs)
_ALIASES = {
    "prb": "path replay backpropagation: the same image as path (its derivatives are "
           "diffrender's own)",
    "prb_basic": "rendered with path tracing with emitter sampling and MIS (Mitsuba's prb_basic "
                 "samples the BSDF only): the same expected image, a different variance",
    "prb_projective": "the same image as path (its derivatives are diffrender's own)",
    "direct_projective": "path tracing with max_depth 2 (direct illumination): the same image "
                         "(its derivatives are diffrender's own)",
    "ptracer": "rendered with path tracing instead of light tracing: the same expected image "
               "with a different variance (Mitsuba's ptracer cannot see emitters through "
               "delta BSDFs (smooth glass, mirrors); diffrender's path tracer does)",
    "volpath": "rendered with diffrender's path tracer, which renders media where the scene "
               "uses them: the same expected image, a different variance (a scene without "
               "media follows path's rules for masks and thin dielectrics: docs/renderer.md)",
    "volpathmis": "rendered with diffrender's path tracer, which renders media where the scene "
                  "uses them (spectral MIS on every segment): the same expected image, a "
                  "different variance (a scene without media follows path's rules for masks "
                  "and thin dielectrics: docs/renderer.md)",
    "prbvolpath": "rendered with diffrender's path tracer, which renders media where the scene "
                  "uses them: the same expected image (derivatives of scenes with media are not "
                  "supported)",
}

SPECS = (
    PluginSpec("integrator", "path", _path_params(-1), (), "unidirectional path tracer"),
    PluginSpec("integrator", "direct", {
        "shading_samples": Param("integer", 1, "default of emitter_samples and bsdf_samples"),
        "emitter_samples": Param("integer", None, "(shading_samples)"),
        "bsdf_samples": Param("integer", None, "(shading_samples)"),
        "hide_emitters": Param("boolean", False, "")}, (), "direct illumination"),
    PluginSpec("integrator", "moment", {}, ("integrator",),
               "the image of its (first) nested integrator; second moments not produced"),
    PluginSpec("integrator", "aov", {
        "aovs": Param("string", None, "`name:type` pairs, types: "
                      + ", ".join(AOV_TYPES))}, ("integrator",),
               "its nested integrator's image and the AOVs depth, sh_normal, albedo"),
    PluginSpec("integrator", "prb", _path_params(AD_MAX_DEPTH), (), "rendered as path"),
    PluginSpec("integrator", "prb_basic", _path_params(AD_MAX_DEPTH), (), "rendered as path"),
    PluginSpec("integrator", "prb_projective", _projective_params(AD_MAX_DEPTH), (),
               "rendered as path"),
    PluginSpec("integrator", "direct_projective", _projective_params(AD_MAX_DEPTH), (),
               "rendered as path with max_depth 2 (Mitsuba ignores max_depth here)"),
    PluginSpec("integrator", "ptracer", {
        **_path_params(-1),
        "samples_per_pass": Param("integer", None, "(ignored)")}, (), "rendered as path"),
    PluginSpec("integrator", "volpath", _path_params(-1), (),
               "rendered as path, with media"),
    PluginSpec("integrator", "volpathmis", _path_params(-1), (),
               "rendered as path, with media"),
    PluginSpec("integrator", "prbvolpath", _path_params(AD_MAX_DEPTH), (),
               "rendered as path, with media"),
    PluginSpec("integrator", "stokes", {}, ("integrator",),
               "refused: polarisation (one-line error)"),
)


class IntegratorBuilder:
    """Builder method for the integrator."""

    def integrator(self, node: Node) -> Integrator:
        r = Reader(self, node)
        t = node.type
        if t == "stokes":
            raise r.error("integrator 'stokes' renders Stokes vectors, which need a polarised "
                          "Mitsuba variant; diffrender renders unpolarised RGB: use its nested "
                          "integrator directly")
        if t == "moment":
            return self._moment(r)
        if t == "aov":
            return self._aov(r)
        if t == "direct":
            return self._direct(r)
        hide = r.get("hide_emitters")
        md, rr = r.get("max_depth"), r.get("rr_depth")
        if md < -1:
            raise r.error(f"max_depth must be -1 (unbounded) or >= 0, got {md}", "max_depth")
        if rr <= 0:
            raise r.error(f"rr_depth must be positive, got {rr}", "rr_depth")
        for extra in r.spec.params:  # derivative-only / scheduling options: read, ignored
            if extra not in ("max_depth", "rr_depth", "hide_emitters"):
                r.get(extra)
        r.finish()
        if t == "direct_projective":
            md = DIRECT_PROJECTIVE_DEPTH
        if t != "path":
            self._notice(r, _ALIASES[t])
        return Integrator("path", md, rr, hide, params={"mitsuba_type": t} if t != "path"
                          else {})

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _notice(r: Reader, what: str) -> None:
        warnings.warn(f"{r.loc()}: integrator '{r.node.type}': {what}", SceneWarning,
                      stacklevel=3)

    def _direct(self, r: Reader) -> Integrator:
        hide = r.get("hide_emitters")
        ss = r.get("shading_samples")
        es = r.get("emitter_samples")
        bs = r.get("bsdf_samples")
        es = ss if es is None else es
        bs = ss if bs is None else bs
        for nm, v in (("shading_samples", ss), ("emitter_samples", es), ("bsdf_samples", bs)):
            if v < 0:
                raise r.error(f"{nm} must be >= 0, got {v}", nm)
        if es + bs == 0:
            raise r.error("emitter_samples and bsdf_samples cannot both be 0")
        r.finish()
        return Integrator("direct", max_depth=2, rr_depth=5, hide_emitters=hide,
                          params={"emitter_samples": es, "bsdf_samples": bs})

    def _nested(self, r: Reader, what: str) -> tuple[Integrator, list[Node]]:
        nested = r.children("integrator")
        if not nested:
            raise r.error(f"integrator '{r.node.type}' without a nested integrator: Mitsuba's "
                          f"image is black here ({what}); diffrender renders an image: nest "
                          "one, e.g. <integrator type=\"path\"/>")
        for c in nested:
            c.used = True
        first = self.integrator(nested[0])
        return first, nested

    def _moment(self, r: Reader) -> Integrator:
        first, nested = self._nested(r, "only second-moment AOVs are written")
        r.finish()
        extra = (f"; the {len(nested) - 1} further nested integrator(s) are not rendered"
                 if len(nested) > 1 else "")
        self._notice(r, f"renders its nested integrator '{nested[0].type}' (the same image); "
                        f"the second-moment AOVs (m2_*) are not produced{extra}")
        first.params = {**first.params, "wrapped_by": "moment"}
        return first

    def _aov(self, r: Reader) -> Integrator:
        spec = r.get("aovs")
        if spec is None:
            raise r.error("integrator 'aov' needs an 'aovs' string of name:type pairs, e.g. "
                          "\"dd.y:depth,nn:sh_normal\"")
        aovs: dict[str, str] = {}
        for token in (t.strip() for t in spec.split(",")):
            if not token:
                continue
            item = token.split(":")
            if len(item) != 2 or not item[0].strip() or not item[1].strip():
                raise r.error(f"integrator 'aov': invalid AOV '{token}'; expected name:type, "
                              "e.g. \"dd.y:depth\"", "aovs")
            name, typ = item[0].strip(), item[1].strip()
            if typ in AOV_UNSUPPORTED:
                raise r.error(f"integrator 'aov': AOV type '{typ}' is not supported by "
                              f"diffrender (supported: {', '.join(AOV_TYPES)}); remove "
                              f"'{token}' from 'aovs'", "aovs")
            if typ not in AOV_TYPES:
                raise r.error(f"integrator 'aov': unknown AOV type '{typ}' (Mitsuba's are "
                              f"{', '.join((*AOV_TYPES, *AOV_UNSUPPORTED))})", "aovs")
            if name in aovs:
                raise r.error(f"integrator 'aov': AOV name '{name}' is given twice", "aovs")
            aovs[name] = AOV_TYPES[typ]
        first, nested = self._nested(r, "only the AOVs are written")
        r.finish()
        if len(nested) > 1:
            raise r.error(f"integrator 'aov' with {len(nested)} nested integrators: diffrender "
                          "renders one image; keep one nested integrator")
        if "albedo" in aovs.values():
            self._notice(r, "the albedo AOV is the colour parameter of the material's first "
                            "component (Mitsuba's eval_diffuse_reflectance: the same for "
                            "diffuse, an approximation for other materials)")
        first.params = {**first.params, "aovs": aovs}
        return first
