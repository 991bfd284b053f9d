"""Participating media: the specs of ``homogeneous`` / ``heterogeneous``, their volumes and
phase functions, and the builder.

Mitsuba 3.9.1 semantics (``src/media/``, ``src/volumes/``, ``src/phase/``): extinction
``sigma_t`` (float, RGB or a volume; default 1) times ``scale`` (default 1), single-scattering
``albedo`` (default 0.75), ``sample_emitters`` (default true: next-event estimation from points
in the medium); the phase function is a nested ``<phase>``: ``isotropic`` (the default) or
``hg`` (Henyey–Greenstein, mean cosine ``g``, default 0.8). A ``heterogeneous`` medium reads
``sigma_t`` / ``albedo`` from volumes: ``gridvolume`` (a ``.vol`` file, ``scene/volumes.py``;
trilinear or nearest lookups, wrap modes, ``to_world``, ``use_grid_bbox``) or ``constvolume``;
it exists inside the bounding box of its ``sigma_t`` volume (the unit cube through its
``to_world``). A shape uses a medium as ``interior`` or ``exterior``, a sensor as the medium the
camera sits in. Media are read only where a volumetric integrator (``volpath``, ``volpathmis``,
``prbvolpath``) renders them (``builder.py``); the surface integrators ignore them, as
Mitsuba's do.

Not supported (a one-line error naming the file, line and plugin): a ``gridvolume`` in a
``homogeneous`` medium (Mitsuba requires a constant there too), the phase functions
``rayleigh``, ``blendphase``, ``lut``, ``sggx``, ``tabphase``.
"""
from __future__ import annotations

import numpy as np

from ...errors import SceneError
from ..model import Medium, Volume
from ..spec import Param, PluginSpec
from ..tree import Node, Ref
from ..volumes import read_vol
from .reader import Reader

#: Mitsuba's default mean cosine of ``hg``
HG_DEFAULT_G = 0.8

_MEDIUM_PARAMS = {
    "sigma_t": Param("spectrum", 1.0, "extinction coefficient (per scene unit, times scale); "
                                      "heterogeneous: a volume"),
    "albedo": Param("spectrum", 0.75, "single-scattering albedo; heterogeneous: a volume"),
    "scale": Param("float", 1.0, "multiplies sigma_t"),
    "sample_emitters": Param("boolean", True, "next-event estimation in the medium"),
    "has_spectral_extinction": Param("boolean", True, "(an optimisation hint; ignored)")}

SPECS = (
    PluginSpec("medium", "homogeneous", _MEDIUM_PARAMS, ("phase",),
               "homogeneous medium (volpath / volpathmis / prbvolpath)"),
    PluginSpec("medium", "heterogeneous", _MEDIUM_PARAMS, ("phase", "volume"),
               "medium with sigma_t / albedo from volumes (delta tracking)"),
    PluginSpec("phase", "isotropic", {}, (), "isotropic phase function"),
    PluginSpec("phase", "hg", {
        "g": Param("float", HG_DEFAULT_G, "mean cosine, in (-1, 1)")}, (),
        "Henyey-Greenstein phase function"),
    PluginSpec("volume", "gridvolume", {
        "filename": Param("string", None, "Mitsuba .vol file (float32, 1 or 3 channels)"),
        "to_world": Param("transform", None, "maps the unit cube to world space (identity)"),
        "use_grid_bbox": Param("boolean", False, "place the grid at the bounding box its file "
                                                 "stores"),
        "filter_type": Param("string", "trilinear", "lookup",
                             choices=("trilinear", "nearest")),
        "wrap_mode": Param("string", "clamp", "outside the unit cube",
                           choices=("clamp", "repeat", "mirror")),
        "raw": Param("boolean", False, "(RGB rendering: no effect)"),
        "max_value": Param("float", None, "majorant override (the grid's maximum)"),
        "accel": Param("boolean", True, "(GPU texture hint; ignored)")}, (),
        "voxel grid from a .vol file"),
    PluginSpec("volume", "constvolume", {
        "value": Param("spectrum", 1.0, "the constant"),
        "to_world": Param("transform", None, "maps the unit cube to world space (identity)")},
        (), "constant volume"),
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
        volumes: dict[str, Volume] = {}
        for c in node.children:  # volumes: sigma_t / albedo of a heterogeneous medium
            t = self.resolve(c) if isinstance(c, Ref) else c
            if t.category != "volume":
                continue
            if c.name not in ("sigma_t", "albedo"):
                raise SceneError(f"medium '{node.type}': a nested volume must be named 'sigma_t' "
                                 f"or 'albedo', got '{c.name}'", str(c.loc))
            c.used = True
            vol = self.volume(t)
            if node.type == "homogeneous" and vol.type != "constvolume":
                raise SceneError(f"medium 'homogeneous' parameter '{c.name}': a {vol.type} is "
                                 "not constant; use a heterogeneous medium", str(c.loc))
            volumes[c.name] = vol
        r = Reader(self, node)
        rgb: dict[str, np.ndarray] = {}  # constant coefficients (float, rgb, constvolume)
        for n in ("sigma_t", "albedo"):
            vol = volumes.get(n)
            if vol is None:
                rgb[n] = _rgb(r, n)
            elif node.type == "homogeneous":  # a constvolume (a grid was refused above)
                rgb[n] = np.asarray(volumes.pop(n).value, np.float32).copy()
            v = rgb[n] if n in rgb else (vol.data if vol.type == "gridvolume" else vol.value)
            if np.any(np.asarray(v) < 0) or not np.all(np.isfinite(v)):
                raise r.error(f"{n} must be finite and >= 0", n)
            if n == "albedo" and np.any(np.asarray(v) > 1):
                shown = np.round(np.max(v), 4) if np.size(v) > 3 else np.asarray(v).tolist()
                raise r.error(f"albedo must lie in [0, 1], got {shown}", n)
        scale = r.get("scale")
        emitters = r.get("sample_emitters")
        r.get("has_spectral_extinction")
        if not scale >= 0 or not np.isfinite(scale):
            raise r.error(f"scale must be finite and >= 0, got {scale}", "scale")
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
        if node.type == "heterogeneous":  # every coefficient as a volume (a constant one where given as rgb / float)
            for n in ("sigma_t", "albedo"):
                volumes.setdefault(n, Volume(type="constvolume", value=rgb.get(n)))
        ones = np.ones(3, np.float32)
        m = Medium(type=node.type, sigma_t=rgb.get("sigma_t", ones), albedo=rgb.get("albedo", ones),
                   scale=float(scale), phase=phase, g=float(g), sample_emitters=bool(emitters),
                   id=node.id, volume_sigma_t=volumes.get("sigma_t"),
                   volume_albedo=volumes.get("albedo"))
        self.medium_index[key] = len(self.media)
        self.media.append(m)
        self.origin[id(m)] = node
        return self.medium_index[key]

    def volume(self, node: Node) -> Volume:
        """A ``gridvolume`` / ``constvolume`` (RGB: a 1-channel grid is read as grey)."""
        r = Reader(self, node)
        to_world = r.get("to_world")
        to_world = np.eye(4) if to_world is None else np.asarray(to_world, np.float64)
        if node.type == "constvolume":
            tex = r.get("value")
            r.finish()
            v = np.asarray(tex.value, np.float32).reshape(-1)
            v = np.broadcast_to(v, (3,)).copy() if v.size == 1 else v[:3].copy()
            return Volume(type="constvolume", value=v, to_world=to_world)
        path = self.file(r, "filename", "volume")
        data, bbox = read_vol(path, str(r.loc("filename")))
        if r.get("use_grid_bbox"):
            ext = bbox[1] - bbox[0]
            if np.any(ext <= 0):
                raise r.error(f"use_grid_bbox: the grid's bounding box {bbox.tolist()} is "
                              "empty", "use_grid_bbox")
            unit_to_bbox = np.diag([*ext, 1.0])
            unit_to_bbox[:3, 3] = bbox[0]
            to_world = to_world @ unit_to_bbox
        filt, wrap = r.get("filter_type"), r.get("wrap_mode")
        r.get("raw")
        r.get("accel")
        mx = r.get("max_value")
        r.finish()
        vol = Volume(type="gridvolume", data=data, to_world=to_world, filter_type=filt,
                     wrap_mode=wrap, filename=path)
        if mx is not None and mx < vol.max():
            raise r.error(f"max_value {mx} is below the grid's maximum {vol.max():g}: it must "
                          "bound the values", "max_value")
        return vol


__all__ = ["SPECS", "MediumBuilder", "HG_DEFAULT_G"]
