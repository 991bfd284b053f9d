"""Participating media: the specs of ``homogeneous`` and its phase functions, and the builder.

Mitsuba 3.9.1 semantics (``src/media/homogeneous.cpp``, ``src/phase/``): extinction
``sigma_t`` (float or RGB, default 1) times ``scale`` (default 1), single-scattering ``albedo``
(default 0.75), ``sample_emitters`` (default true: next-event estimation from points in the
medium); the phase function is a nested ``<phase>``: ``isotropic`` (the default) or ``hg``
(Henyey–Greenstein, mean cosine ``g``, default 0.8). A shape uses a medium as ``interior`` or
``exterior``, a sensor as the medium the camera sits in. Media are read only where a volumetric
integrator (``volpath``, ``volpathmis``, ``prbvolpath``) renders them (``builder.py``); the
surface integrators ignore them, as Mitsuba's do.

Not supported (a one-line error naming the file, line and plugin): ``heterogeneous`` media
(grid volumes), volumes (``constvolume`` / ``gridvolume``) as ``sigma_t`` / ``albedo``, and the
phase functions ``rayleigh``, ``blendphase``, ``lut``, ``sggx``, ``tabphase``.
"""
from __future__ import annotations

import numpy as np

from ...errors import SceneError
from ..model import Medium
from ..spec import Param, PluginSpec
from ..tree import Node, Ref
from .reader import Reader

#: Mitsuba's default mean cosine of ``hg``
HG_DEFAULT_G = 0.8

SPECS = (
    PluginSpec("medium", "homogeneous", {
        "sigma_t": Param("spectrum", 1.0, "extinction coefficient (per scene unit, times scale)"),
        "albedo": Param("spectrum", 0.75, "single-scattering albedo"),
        "scale": Param("float", 1.0, "multiplies sigma_t"),
        "sample_emitters": Param("boolean", True, "next-event estimation in the medium"),
        "has_spectral_extinction": Param("boolean", True, "(an optimisation hint; ignored)")},
        ("phase",), "homogeneous medium (volpath / volpathmis / prbvolpath)"),
    PluginSpec("phase", "isotropic", {}, (), "isotropic phase function"),
    PluginSpec("phase", "hg", {
        "g": Param("float", HG_DEFAULT_G, "mean cosine, in (-1, 1)")}, (),
        "Henyey-Greenstein phase function"),
)


def _rgb(r: Reader, name: str) -> np.ndarray:
    """A medium coefficient as RGB float32 (a constant: float, rgb or spectrum)."""
    tex = r.get(name)
    if tex.type != "constant":
        raise r.error(f"medium '{r.node.type}' parameter '{name}' must be a constant (float, "
                      f"rgb or spectrum), got a {tex.type} texture", name)
    v = np.asarray(tex.value, np.float32).reshape(-1)
    return np.broadcast_to(v, (3,)).astype(np.float32) if v.size == 1 else v[:3].copy()


class MediumBuilder:
    """Builder methods for media (mixed into :class:`~.builder.Builder`)."""

    def medium(self, node: Node) -> int:
        """The index in ``self.media`` of the medium ``node`` (built once, shared by its users)."""
        key = id(node)
        if key in self.medium_index:
            return self.medium_index[key]
        for c in node.children:  # a nested volume is the first thing to refuse
            t = self.resolve(c) if isinstance(c, Ref) else c
            if t.category == "volume":
                raise SceneError(f"medium '{node.type}' parameter '{c.name}': volumes "
                                 f"('{t.type}') are not supported; give sigma_t and albedo as "
                                 "a float or <rgb>", str(c.loc))
        r = Reader(self, node)
        sigma_t, albedo = _rgb(r, "sigma_t"), _rgb(r, "albedo")
        scale = r.get("scale")
        emitters = r.get("sample_emitters")
        r.get("has_spectral_extinction")
        if np.any(sigma_t < 0) or not np.all(np.isfinite(sigma_t)) or not scale >= 0:
            raise r.error(f"sigma_t * scale must be finite and >= 0, got sigma_t "
                          f"{sigma_t.tolist()}, scale {scale}", "sigma_t")
        if np.any(albedo < 0) or np.any(albedo > 1):
            raise r.error(f"albedo must lie in [0, 1], got {albedo.tolist()}", "albedo")
        phase, g = "isotropic", 0.0
        pn = r.child("phase")
        r.finish()
        if pn is not None:
            pn.used = True
            pr = Reader(self, pn)
            phase = pn.type
            if phase == "hg":
                g = pr.get("g")
                if not -1.0 < g < 1.0:
                    raise pr.error(f"hg parameter g must lie in (-1, 1), got {g}", "g")
            pr.finish()
        m = Medium(type=node.type, sigma_t=sigma_t, albedo=albedo, scale=float(scale),
                   phase=phase, g=float(g), sample_emitters=bool(emitters), id=node.id)
        self.medium_index[key] = len(self.media)
        self.media.append(m)
        self.origin[id(m)] = node
        return self.medium_index[key]


__all__ = ["SPECS", "MediumBuilder", "HG_DEFAULT_G"]
