"""Integrators: their specs (the kernels: :mod:`diffrender.core.integrators`) and builder."""
from __future__ import annotations

from ..model import Integrator
from ..spec import Param, PluginSpec
from ..tree import Node
from .reader import Reader

SPECS = (
    PluginSpec("integrator", "path", {
        "max_depth": Param("integer", -1, "longest path, -1 = unbounded"),
        "rr_depth": Param("integer", 5, "depth where Russian roulette starts"),
        "hide_emitters": Param("boolean", False, "")}, (), "unidirectional path tracer"),
    PluginSpec("integrator", "direct", {
        "shading_samples": Param("integer", 1, "default of emitter_samples and bsdf_samples"),
        "emitter_samples": Param("integer", None, "(shading_samples)"),
        "bsdf_samples": Param("integer", None, "(shading_samples)"),
        "hide_emitters": Param("boolean", False, "")}, (), "direct illumination"),)


class IntegratorBuilder:
    """Builder method for the integrator."""

    def integrator(self, node: Node) -> Integrator:
        r = Reader(self, node)
        hide = r.get("hide_emitters")
        if node.type == "path":
            md, rr = r.get("max_depth"), r.get("rr_depth")
            if md < -1:
                raise r.error(f"max_depth must be -1 (unbounded) or >= 0, got {md}", "max_depth")
            if rr <= 0:
                raise r.error(f"rr_depth must be positive, got {rr}", "rr_depth")
            r.finish()
            return Integrator("path", md, rr, hide)
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


