"""Textures: the builder (specs: ``diffrender.core.textures.SPECS``)."""
from __future__ import annotations

import numpy as np

from ...core.mesh_attribute import check_name
from ...core.shaders import ShaderParams, load_shader
from ...core.textures import SPECS as TEXTURE_SPECS
from ...errors import DiffrenderError, SceneError
from ...image import read_image
from .. import transforms as tf
from ..model import Texture
from ..tree import Node
from .reader import Reader

SPECS = TEXTURE_SPECS


class TextureBuilder:
    """Builder methods for textures (mixed into :class:`~.builder.Builder`)."""

    def texture(self, node: Node) -> Texture:
        key = id(node)
        if key in self.built:
            return self.built[key]
        r = Reader(self, node)
        if node.type == "rawconstant":
            tex = Texture.constant(self._raw_value(r))
            tex.id = node.id
            r.finish()
            self.built[key] = tex
            return tex
        if node.type == "mesh_attribute":
            tex = self._mesh_attribute(r)
            self.built[key] = tex
            return tex
        to_uv = r.get("to_uv")
        to_uv = np.eye(3) if to_uv is None else tf.to_uv_3x3(to_uv)
        if node.type == "shader":
            path = self.file(r, "filename", "shader")
            sh = load_shader(path, "texture", r.loc("filename"))
            r.extend(sh.param_specs())
            params = sh.read_params(r)
            for n, t in params.items():
                if t.type != "constant":
                    raise SceneError(f"texture shader parameter '{n}' must be a constant",
                                     r.loc(n))
            r.finish()
            holder = ShaderParams(params)
            self.origin[id(holder)] = node
            tex = Texture(type="shader", value=np.full(3, 0.5, np.float32), to_uv=to_uv,
                          filename=path, id=node.id, extra={"shader": sh, "holder": holder})
            self.built[key] = tex
            return tex
        if node.type == "bitmap":
            path = self.file(r, "filename", "texture")
            raw = r.get("raw")
            filt = r.get("filter_type")
            wrap = r.get("wrap_mode")
            try:
                data = read_image(path, linear=True if raw else None)
            except DiffrenderError as exc:
                raise SceneError(f"cannot read texture: {exc}", r.loc("filename")) from None
            c = data.shape[2]
            if c == 1 or c == 2:
                data = np.repeat(data[:, :, :1], 3, axis=2)
            elif c >= 3:
                data = data[:, :, :3]
            data = np.ascontiguousarray(data, np.float32)
            fmt = r.get("format")
            if fmt == "float16":  # Mitsuba stores the texels in half precision
                data = data.astype(np.float16).astype(np.float32)
            elif fmt == "uint8":
                if not raw:
                    raise r.error("bitmap format 'uint8' is supported with raw=true only (8-bit "
                                  "sRGB storage is not reproduced); use format 'variant'",
                                  "format")
                data = np.round(np.clip(data, 0.0, 1.0) * 255.0).astype(np.float32) / 255.0
            if not np.all(np.isfinite(data)):
                raise SceneError(f"texture {path} has non-finite pixels", r.loc("filename"))
            tex = Texture(type="bitmap", value=data.reshape(-1, 3).mean(axis=0), data=data,
                          filename=path, filter_type=filt, wrap_mode=wrap, raw=raw, to_uv=to_uv,
                          id=node.id)
        else:  # checkerboard
            c0 = r.get("color0")
            c1 = r.get("color1")
            for nm, cc in (("color0", c0), ("color1", c1)):
                if cc.type != "constant":
                    raise r.error(f"checkerboard {nm} must be a constant colour", nm)
            tex = Texture(type="checkerboard", value=(c0.value + c1.value) / 2, to_uv=to_uv,
                          id=node.id, extra={"color0": c0.value, "color1": c1.value})
        r.finish()
        self.built[key] = tex
        return tex

    @staticmethod
    def _mesh_attribute(r: Reader) -> Texture:
        """``mesh_attribute``: the attribute's name (checked against the shapes at upload) and
        ``scale``; ``extra["loc"]`` is where errors about the attribute point."""
        name = r.get("name")
        if name is None:
            raise r.error("texture 'mesh_attribute' needs a 'name' (e.g. vertex_color)")
        bad = check_name(name)
        if bad:
            raise r.error(bad, "name")
        scale = float(r.get("scale"))
        if not np.isfinite(scale):
            raise r.error(f"mesh_attribute scale must be finite, got {scale}", "scale")
        r.finish()
        return Texture(type="mesh_attribute", value=np.full(3, scale, np.float32),
                       id=r.node.id, extra={"name": name, "scale": scale, "loc": r.loc("name")})

    @staticmethod
    def _raw_value(r: Reader) -> np.ndarray:
        """``rawconstant``'s ``value``: a float (all three channels) or a 3-vector."""
        prop = r.node.props.get("value")
        if prop is None:
            raise r.error("texture 'rawconstant' needs a 'value' (a float or a 3-vector)")
        if prop.kind in ("float", "integer") and not isinstance(prop.value, bool):
            prop.used = True
            v = np.full(3, float(prop.value))
        else:
            v = r.get("value")
        if not np.all(np.isfinite(v)):
            raise r.error("texture 'rawconstant' value must be finite", "value")
        return np.asarray(v, np.float32)

    # -- emitters ----------------------------------------------------------------------------
