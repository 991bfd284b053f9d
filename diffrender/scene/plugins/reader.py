"""Typed, usage-tracked reading of one plugin node's parameters (:class:`Reader`): converts
and type-checks them against the plugin's :class:`~diffrender.scene.spec.PluginSpec`, returns
the spec default (Mitsuba 3.9.1's) for a missing one, and at the end rejects anything that was
not read (pbrt's ReportUnused): an unsupported parameter is an error naming it, its location
and the supported ones.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ...errors import SceneError
from ..ior import IOR, ior_value
from ..model import Texture
from ..spec import MEDIA_CATEGORIES, Param, SceneWarning
from ..tree import Node, Prop, Ref
from ..xml_parser import tokenize

_KIND_NAMES = {"float": "a float", "integer": "an integer", "boolean": "a boolean",
               "string": "a string", "point": "a point (3 values)",
               "spectrum": "a colour (rgb, float, spectrum or texture)",
               "transform": "a transform",
               "float_texture": "a float or a texture",
               "ior": "an index of refraction (a float or a material name such as 'bk7')"}



def _show(prop: Prop) -> str:
    t = prop.text if prop.text is not None else prop.value
    if isinstance(t, str):
        return f"{prop.kind} \"{t}\""
    if isinstance(t, np.ndarray):
        return f"{prop.kind} {t.tolist()}"
    return f"{prop.kind} {t!r}"


def _parse_text(prop: Prop, kind: str):
    s = str(prop.value).strip()
    if kind in ("float", "float_texture"):
        return float(s)
    if kind == "ior":
        v = ior_value(s)
        if v is None:
            raise ValueError(s)
        return v
    if kind == "integer":
        return int(s)
    if kind == "boolean":
        if s.lower() not in ("true", "false"):
            raise ValueError(s)
        return s.lower() == "true"
    if kind in ("point", "spectrum"):
        vals = [float(t) for t in tokenize(s)]
        if len(vals) == 1:
            vals = vals * 3
        if len(vals) != 3:
            raise ValueError(s)
        return np.asarray(vals, np.float64)
    if kind == "string":
        return s
    raise ValueError(s)


class Reader:
    """Typed, usage-tracked access to one plugin's parameters and nested plugins."""

    def __init__(self, builder, node: Node):
        """``builder``: the scene builder (its ``spec_for(node)``, ``resolve``, ``texture``)."""
        self.b = builder
        self.node = node
        self.spec = builder.spec_for(node)
        if self.spec.maps_to:
            warnings.warn(f"{node.loc}: {node.category} '{node.type}' is rendered as "
                          f"'{self.spec.maps_to}'", SceneWarning, stacklevel=2)
        node.used = True

    @property
    def owner(self) -> str:
        return f"{self.node.category} '{self.node.type}'"

    def loc(self, name: str | None = None) -> str:
        if name is not None and name in self.node.props:
            return str(self.node.props[name].loc)
        return str(self.node.loc)

    def has(self, name: str) -> bool:
        if name in self.node.props:
            return True
        return any(getattr(c, "name", None) == name for c in self.node.children)

    def error(self, msg: str, name: str | None = None) -> SceneError:
        return SceneError(msg, self.loc(name))

    def get(self, name: str):
        p = self.spec.params[name]
        prop = self.node.props.get(name)
        if prop is not None:
            prop.used = True
            return self._convert(prop, p)
        if p.kind in ("spectrum", "float_texture"):
            for c in self.node.children:
                if getattr(c, "name", None) == name:
                    c.used = True
                    target = self.b.resolve(c) if isinstance(c, Ref) else c
                    if target.category != "texture":
                        raise SceneError(f"{self.owner} parameter '{name}' expects a texture, "
                                         f"got {target.describe()}", str(c.loc))
                    tex = self.b.texture(target)
                    if p.kind == "float_texture" and tex.type in ("checkerboard",
                                                                  "mesh_attribute"):
                        # Mitsuba 3.9 looks float parameters up with eval_1, whose checkerboard
                        # has color0 and color1 the other way round than its eval (colours),
                        # and whose mesh attribute must have one channel
                        tex = dataclasses.replace(tex, extra={**tex.extra, "eval_1": True})
                    return tex
        d = p.default
        if p.kind == "spectrum":
            return None if d is None else Texture.constant(np.full(3, d, np.float32))
        if p.kind == "float_texture":
            return None if d is None else Texture.constant(np.full(1, d, np.float32))
        if p.kind == "ior":
            return ior_value(d)
        if p.kind == "transform" and d is None:
            return None
        if p.kind == "point" and d is not None:
            return np.asarray(d, np.float64)
        return d

    def _convert(self, prop: Prop, p: Param):
        kind = p.kind
        bad = SceneError(f"{self.owner} parameter '{prop.name}' expects {_KIND_NAMES[kind]}, "
                         f"got {_show(prop)}", str(prop.loc))
        if prop.kind == "text":
            try:
                v = _parse_text(prop, kind)
            except (ValueError, TypeError):
                raise bad from None
            if kind == "spectrum":
                return Texture.constant(v.astype(np.float32))
            if kind == "float_texture":
                return Texture.constant(np.full(1, v, np.float32))
            return self._check_choice(prop, p, v)
        if kind == "float":
            if prop.kind in ("float", "integer") and not isinstance(prop.value, bool):
                return float(prop.value)
            raise bad
        if kind == "float_texture":
            if prop.kind in ("float", "integer") and not isinstance(prop.value, bool):
                return Texture.constant(np.full(1, prop.value, np.float32))
            raise bad
        if kind == "ior":
            if prop.kind in ("float", "integer") and not isinstance(prop.value, bool):
                return float(prop.value)
            if prop.kind == "string":
                v = ior_value(prop.value)
                if v is None:
                    raise SceneError(f"{self.owner} parameter '{prop.name}': unknown index of "
                                     f"refraction '{prop.value}' (known: {', '.join(IOR)})",
                                     str(prop.loc))
                return v
            raise bad
        if kind == "integer":
            if prop.kind == "integer" and not isinstance(prop.value, bool):
                return int(prop.value)
            raise bad
        if kind == "boolean":
            if prop.kind == "boolean":
                return bool(prop.value)
            raise bad
        if kind == "string":
            if prop.kind == "string":
                return self._check_choice(prop, p, prop.value)
            raise bad
        if kind == "point":
            if prop.kind in ("point", "vector"):
                return np.asarray(prop.value, np.float64)
            if prop.kind == "array" and np.size(prop.value) == 3:
                return np.asarray(prop.value, np.float64).reshape(3)
            raise bad
        if kind == "transform":
            if prop.kind == "transform":
                return np.asarray(prop.value, np.float64)
            raise bad
        if kind == "spectrum":
            if prop.kind in ("rgb", "srgb"):
                return Texture.constant(np.asarray(prop.value, np.float32))
            if prop.kind in ("float", "integer") and not isinstance(prop.value, bool):
                return Texture.constant(np.full(3, prop.value, np.float32))
            if prop.kind == "spectrum":
                form, val = prop.value
                if form == "constant":
                    return Texture.constant(np.full(3, val, np.float32))
                raise SceneError(f"{self.owner} parameter '{prop.name}': only constant spectra "
                                 "(one value) are supported; give an <rgb> value instead",
                                 str(prop.loc))
            raise bad
        raise AssertionError(kind)

    def _check_choice(self, prop: Prop, p: Param, v):
        if p.choices and isinstance(v, str):
            low = v.lower()
            if low not in p.choices:
                raise SceneError(f"{self.owner} parameter '{prop.name}' must be one of "
                                 f"{', '.join(p.choices)}; got \"{v}\"", str(prop.loc))
            return low
        return v

    def children(self, category: str) -> list[Node]:
        out = []
        for c in self.node.children:
            target = self.b.resolve(c) if isinstance(c, Ref) else c
            if target.category == category and not (
                    getattr(c, "name", None) in self.spec.params):
                c.used = True
                out.append(target)
        return out

    def child(self, category: str) -> Node | None:
        cs = self.children(category)
        if len(cs) > 1:
            raise SceneError(f"{self.owner} has more than one nested {category} (second at "
                             f"{cs[1].loc})", str(self.node.loc))
        return cs[0] if cs else None

    def extend(self, params: dict[str, Param]) -> None:
        """Accept ``params`` too (a user shader's parameters): this reader's own copy of the
        spec, the registry's is not changed."""
        self.spec = dataclasses.replace(self.spec, params={**self.spec.params, **params})

    def finish(self) -> None:
        sup = sorted(list(self.spec.params) + list(self.spec.children))
        sup_s = ", ".join(sup) if sup else "none"
        for prop in self.node.props.values():
            if not prop.used:
                raise SceneError(f"{self.owner} has no parameter '{prop.name}'; supported: "
                                 f"{sup_s}", str(prop.loc))
        for c in self.node.children:
            if not c.used:
                target = self.b.resolve(c) if isinstance(c, Ref) else c
                if target.category in MEDIA_CATEGORIES:
                    self.b.medium_use(self.owner, c, target, self.node)
                    continue
                what = f"a nested {target.category}" + (f" '{c.name}'" if c.name else "")
                raise SceneError(f"{self.owner} cannot contain {what}; supported: {sup_s}",
                                 str(c.loc))


