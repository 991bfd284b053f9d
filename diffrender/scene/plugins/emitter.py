"""Emitters: the builder (specs: the modules of :mod:`diffrender.core.emitters`)."""
from __future__ import annotations

import numpy as np

from ...core.emitters import SPECS as EMITTER_SPECS
from ...core.emitters import projector
from ...errors import DiffrenderError, SceneError
from ...image import read_image
from .. import transforms as tf
from ..model import Emitter, Texture
from ..tree import Node
from .reader import Reader

SPECS = EMITTER_SPECS


class EmitterBuilder:
    """Builder methods for emitters (mixed into :class:`~.builder.Builder`)."""

    def emitter(self, node: Node) -> Emitter:
        r = Reader(self, node)
        if node.type == "area":
            rad = r.get("radiance")
            r.finish()
            em = Emitter("area", {"radiance": rad}, id=node.id)
        elif node.type == "directionalarea":
            rad = r.get("radiance")
            r.finish()
            em = Emitter("directionalarea", {"radiance": rad}, id=node.id)
        elif node.type == "projector":
            em = self._projector(r, node)
        elif node.type in ("spot", "directional", "constant", "envmap"):
            em = self._light(r, node)
        else:
            inten = r.get("intensity")
            has_pos, has_tw = r.has("position"), r.has("to_world")
            if has_pos and has_tw:
                raise r.error("point emitter: give either 'position' or 'to_world', not both",
                              "to_world")
            if has_tw:
                m = r.get("to_world")
                self._check_transform(m, r, "to_world")
                pos = m[:3, 3].copy()
            else:
                pos = r.get("position")
                pos = np.zeros(3) if pos is None else pos
                m = tf.translate(pos)
            r.finish()
            em = Emitter("point", {"intensity": inten}, to_world=m, position=pos, id=node.id)
        self.origin[id(em)] = node
        return em

    def _light(self, r: Reader, node: Node) -> Emitter:
        t = node.type
        m = r.get("to_world") if "to_world" in r.spec.params else None
        if m is not None:
            self._check_transform(m, r, "to_world")
        m = np.eye(4) if m is None else m
        if t == "spot":
            inten = r.get("intensity")
            cut = r.get("cutoff_angle")
            beam = r.get("beam_width")
            beam = cut * 0.75 if beam is None else beam
            if not 0 < cut <= 180:
                raise r.error(f"spot cutoff_angle must be in (0, 180] degrees, got {cut}",
                              "cutoff_angle")
            if not 0 <= beam <= cut:
                raise r.error(f"spot beam_width must be in [0, cutoff_angle={cut}] degrees, "
                              f"got {beam}", "beam_width")
            params = {"intensity": inten, "cutoff_angle": float(cut), "beam_width": float(beam)}
            tex = r.get("texture")
            if tex is not None:
                if tex.type == "constant":
                    raise r.error("spot 'texture' must be spatially varying (e.g. a bitmap), as "
                                  "in Mitsuba; for a uniform colour use 'intensity'", "texture")
                params["texture"] = tex
            r.finish()
            return Emitter("spot", params, to_world=m, position=m[:3, 3].copy(), id=node.id)
        if t == "directional":
            e = r.get("irradiance")
            if r.has("direction"):
                if r.has("to_world"):
                    raise r.error("directional: give either 'direction' or 'to_world', not "
                                  "both", "direction")
                d = np.asarray(r.get("direction"), np.float64)
                if not np.linalg.norm(d) > 0:
                    raise r.error("directional: direction must be non-zero", "direction")
                m = tf.lookat(np.zeros(3), d, _any_up(d))
            r.finish()
            return Emitter("directional", {"irradiance": e}, to_world=m, id=node.id)
        if t == "constant":
            rad = r.get("radiance")
            r.finish()
            return Emitter("constant", {"radiance": rad}, id=node.id)
        # envmap
        path = self.file(r, "filename", "environment map")
        scale = r.get("scale")
        r.finish()
        try:
            data = read_image(path)
        except DiffrenderError as exc:
            raise SceneError(f"cannot read environment map: {exc}", r.loc("filename")) from None
        c = data.shape[2]
        data = np.repeat(data[:, :, :1], 3, axis=2) if c < 3 else data[:, :, :3]
        data = np.ascontiguousarray(data, np.float32)
        if data.shape[0] < 2 or data.shape[1] < 2:
            raise SceneError(f"environment map {path} must be at least 2x2 pixels, got "
                             f"{data.shape[1]}x{data.shape[0]}", r.loc("filename"))
        if not np.all(np.isfinite(data)) or data.min() < 0:
            raise SceneError(f"environment map {path} has negative or non-finite pixels",
                             r.loc("filename"))
        tex = Texture(type="bitmap", value=data.reshape(-1, 3).mean(axis=0), data=data,
                      filename=path, filter_type="bilinear", wrap_mode="repeat")
        return Emitter("envmap", {"radiance": tex,
                                  "scale": Texture.constant(np.full(1, scale, np.float32))},
                       to_world=m, id=node.id)

    def _projector(self, r: Reader, node: Node) -> Emitter:
        """Mitsuba's ``projector``: the field of view as the perspective camera's, with the
        irradiance texture's aspect (width / height; 1 for a constant) as the film's."""
        m = r.get("to_world")
        m = np.eye(4) if m is None else m
        self._check_transform(m, r, "to_world")
        irr = r.get("irradiance")
        irr = Texture.constant(1.0) if irr is None else irr
        scale = float(r.get("scale"))
        if r.has("fov") and r.has("focal_length"):
            raise r.error("give either 'fov' or 'focal_length', not both", "focal_length")
        if r.has("fov"):
            fov, axis, key = float(r.get("fov")), r.get("fov_axis"), "fov"
        else:
            if r.has("fov_axis"):
                r.get("fov_axis")  # ignored by Mitsuba with a focal length: accept it
            fl = r.get("focal_length").strip()
            try:
                f = float(fl[:-2] if fl.endswith("mm") else fl)
                if not f > 0:
                    raise ValueError
            except ValueError:
                raise r.error(f"could not parse focal_length \"{fl}\" (expected e.g. "
                              "\"50mm\")", "focal_length") from None
            fov, axis, key = projector.focal_length_fov(f), "diagonal", "focal_length"
        data = getattr(irr, "data", None)
        h, w = (np.shape(data)[:2] if irr.type == "bitmap" and data is not None else (1, 1))
        tan_half = projector.tan_half_fov(fov, axis, w / h)
        if not (0.0 < fov < 180.0 and all(np.isfinite(tan_half)) and min(tan_half) > 0):
            raise r.error(f"projector field of view must be in (0, 180) degrees, got {fov:g}",
                          key)
        r.finish()
        return Emitter("projector", {"irradiance": irr,
                                     "scale": Texture.constant(np.full(1, scale, np.float32)),
                                     "tan_half": tan_half},
                       to_world=m, position=m[:3, 3].copy(), id=node.id)

    # -- sensor ------------------------------------------------------------------------------


def _any_up(d):
    d = np.asarray(d, np.float64) / np.linalg.norm(d)
    return (0.0, 0.0, 1.0) if abs(d[1]) > 0.9 else (0.0, 1.0, 0.0)


