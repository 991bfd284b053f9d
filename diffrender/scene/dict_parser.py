"""Mitsuba's dict form (and the same dict written as JSON or YAML) -> plugin tree.

See ``docs/scene-format.md`` for the full description. In short: ``{"type": "scene", key: plugin,
...}`` where every scene-level key is the plugin's id; nested keys are parameter names; values
are numbers, booleans, strings, lists of 3 numbers (points), ``{"type": "rgb", "value": [...]}``,
``{"type": "spectrum", "value": 0.5}``, ``{"type": "ref", "id": "white"}``, transforms (a 4x4
nested list, row-major, or ``{"type": "transform", "translate": [...], "rotate": {...}, ...}``
applied in key order, or a list of one-operation dicts) and nested plugins. Scene-level
``{"type": "default", "name": ..., "value": ...}`` entries and ``"$name"`` in strings work as in
XML. A scene-level key whose value is a dict without ``"type"`` is a group (``"shapes": {"floor":
{...}}``) whose entries are scene-level plugins.
"""
from __future__ import annotations

import numbers
import re

import numpy as np

from ..errors import SceneError
from ..image import srgb_to_linear
from . import transforms as tf
from .plugins import CATEGORIES, MEDIA_CATEGORIES, PLUGINS, category_of
from .tree import Loc, Node, Prop, Ref, TransformOp
from .xml_parser import (_check_matrix, check_float, check_int, check_transform,
                         spectrum_prop_rgb, substitute, tokenize, warn_axis)

VALUE_TYPES = ("rgb", "srgb", "spectrum", "ref", "transform", "point", "vector", "float",
               "integer", "boolean", "string")
OPS = ("translate", "rotate", "scale", "matrix", "lookat")


def _all_types() -> str:
    return "; ".join(f"{c}: {', '.join(sorted(PLUGINS[c]))}" for c in CATEGORIES if c in PLUGINS)


def _is_num(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class DictConverter:
    def __init__(self, display: str, defines: dict[str, str]):
        self.display = display
        self.defines = {k: str(v) for k, v in defines.items()}
        self.defaults: dict[str, str] = {}
        self.used: set[str] = set()
        self._params: list[tuple[str, str]] = []

    def loc(self, path: str | None) -> Loc:
        return Loc(self.display, None, path)

    def err(self, msg: str, loc: Loc) -> SceneError:
        return SceneError(msg, str(loc))

    # -- entry -------------------------------------------------------------------------------
    def convert(self, d) -> Node:
        top = self.loc(None)
        if not isinstance(d, dict):
            raise self.err(f"a scene must be a dict/object with \"type\": \"scene\", got "
                           f"{type(d).__name__}", top)
        if d.get("type") != "scene":
            raise self.err("the top-level dict needs \"type\": \"scene\""
                           + (f" (got \"{d.get('type')}\")" if "type" in d else ""),
                           self.loc("type"))
        for key, v in d.items():
            if isinstance(v, dict) and v.get("type") == "default":
                loc = self.loc(str(key))
                extra = set(v) - {"type", "name", "value"}
                if extra or "name" not in v or "value" not in v:
                    raise self.err("a default needs exactly \"name\" and \"value\"", loc)
                if isinstance(v["value"], int) and v["value"].bit_length() > 63:
                    raise self.err(f"default '{v['name']}': {_short(v['value'])} is out of the "
                                   "64-bit integer range", loc.child("value"))
                self.defaults.setdefault(str(v["name"]), _text(v["value"]))
        merged = dict(self.defaults)
        merged.update(self.defines)
        self._params = sorted(merged.items(), key=lambda kv: -len(kv[0]))
        root = Node("scene", "scene", top)
        for key, v in d.items():
            if key == "type":
                continue
            if isinstance(v, dict) and v.get("type") == "default":
                continue
            self._scene_entry(root, str(key), v, self.loc(str(key)))
        unused = sorted(set(self.defines) - self.used - set(self.defaults))
        if unused:
            raise SceneError(f"parameter '{unused[0]}' was defined (-D {unused[0]}=...) but the "
                             "scene does not use it", self.display)
        _refs_by_key(root)
        return root

    def _scene_entry(self, root: Node, key: str, v, loc: Loc) -> None:
        if isinstance(v, dict) and "type" not in v:
            for k2, v2 in v.items():  # a group of plugins
                if isinstance(v2, dict) and "type" in v2:
                    self._scene_entry(root, str(k2), v2, loc.child(str(k2)))
                else:
                    raise self.err(f"scene entry '{key}' is neither a plugin (a dict with "
                                   "\"type\") nor a group of plugins", loc.child(str(k2)))
            return
        if not isinstance(v, dict):
            raise self.err(f"scene entry '{key}' must be a plugin (a dict with \"type\"), got "
                           f"{type(v).__name__}", loc)
        t = self._str(v["type"], loc.child("type"))
        if t in VALUE_TYPES and t != "point":  # 'point' here is the point emitter
            raise self.err(f"a '{t}' value cannot occur directly in the scene; it belongs "
                           "inside a plugin", loc)
        # keys are ids, except '__elm__...' keys (mi.xml.dict_to_xml's convention)
        node = self._plugin(t, v, loc, name=None,
                            default_id=None if key.startswith("__elm__") else key)
        node.key = key
        root.children.append(node)

    # -- plugins -----------------------------------------------------------------------------
    def _plugin(self, t: str, d: dict, loc: Loc, name: str | None, default_id: str | None
                ) -> Node:
        cat = category_of(t)
        if cat is None:
            raise self.err(f"unknown plugin type '{t}'; supported: {_all_types()}",
                           loc.child("type"))
        if t not in PLUGINS.get(cat, {}) and cat not in MEDIA_CATEGORIES:
            raise self.err(f"unsupported {cat} type '{t}'; supported: "
                           f"{', '.join(sorted(PLUGINS[cat]))}", loc.child("type"))
        pid = d.get("id", default_id)
        if pid is not None:
            pid = self._str(pid, loc.child("id"))
        node = Node(cat, t, loc, id=pid, name=name)
        for k, v in d.items():
            if k in ("type", "id"):
                continue
            k = str(k)
            self._entry(node, k, v, loc.child(k))
        return node

    def _entry(self, node: Node, k: str, v, loc: Loc) -> None:
        if isinstance(v, dict):
            if "type" not in v:
                raise self.err(f"'{k}' is a dict without \"type\" (expected a plugin or a typed "
                               "value such as {\"type\": \"rgb\", \"value\": [...]})", loc)
            t = self._str(v["type"], loc.child("type"))
            if t == "ref":
                extra = set(v) - {"type", "id", "name"}
                if extra or "id" not in v:
                    raise self.err("a ref needs exactly \"id\"", loc)
                node.children.append(Ref(self._str(v["id"], loc.child("id")), k, loc))
                return
            if t in VALUE_TYPES and not (t == "point" and set(v) - {"type", "name", "value",
                                                                    "x", "y", "z"}):
                prop = self._typed_value(k, t, v, loc)
                if prop.kind == "spectrum":
                    rgb = spectrum_prop_rgb(prop, node.category == "emitter")
                    if rgb is not None:
                        prop = Prop(k, "rgb", rgb, loc, text=v)
                node.props[k] = prop
                return
            node.children.append(self._plugin(t, v, loc, name=k, default_id=None))
            return
        node.props[k] = self._plain_value(k, v, loc)

    # -- values ------------------------------------------------------------------------------
    def _sub(self, s: str, loc: Loc) -> tuple[str, bool]:
        if "$" not in s:
            return s, False
        return substitute(s, self._params, loc, self.used, xml=False), True

    def _str(self, s, loc: Loc) -> str:
        if not isinstance(s, str):
            raise self.err(f"expected a string, got {_short(s)}", loc)
        return self._sub(s, loc)[0]

    def _num(self, x, loc: Loc, what: str) -> float:
        if _is_num(x):
            try:
                return check_float(float(x), _short(x), what, loc)
            except OverflowError:  # an int beyond float64
                return check_float(float("inf"), _short(x), what, loc)
        if isinstance(x, str):
            s, _ = self._sub(x, loc)
            try:
                v = float(s)
            except ValueError:
                pass
            else:
                return check_float(v, s, what, loc)
        raise self.err(f"{what}: expected a number, got {_short(x)}", loc)

    def _vec(self, x, loc: Loc, what: str, n=(3,), default: float = 0.0) -> np.ndarray:
        if isinstance(x, str):
            s, _ = self._sub(x, loc)
            vals = [self._num(t, loc, what) for t in tokenize(s)]
        elif _is_num(x):
            vals = [float(x)]
        elif isinstance(x, dict) and set(x) <= {"x", "y", "z"}:
            vals = [self._num(x[c], loc, what) if c in x else default for c in "xyz"]
        elif isinstance(x, (list, tuple)):
            flat = np.asarray(x, dtype=object).reshape(-1).tolist() if all(
                isinstance(e, (list, tuple)) for e in x) and x else list(x)
            vals = [self._num(e, loc, what) for e in flat]
        else:
            raise self.err(f"{what}: expected a list of numbers, got {_short(x)}", loc)
        if len(vals) == 1 and 3 in n and 1 not in n:
            vals = vals * 3
        if len(vals) not in n:
            raise self.err(f"{what}: expected {' or '.join(map(str, n))} values, got "
                           f"{len(vals)}", loc)
        return np.asarray(vals, np.float64)

    def _plain_value(self, k: str, v, loc: Loc) -> Prop:
        if isinstance(v, bool):
            return Prop(k, "boolean", v, loc, text=v)
        if isinstance(v, numbers.Integral):
            return Prop(k, "integer", check_int(int(v), f"'{k}'", loc), loc, text=v)
        if isinstance(v, numbers.Real):
            return Prop(k, "float", self._num(v, loc, f"'{k}'"), loc, text=v)
        if isinstance(v, str):
            s, subst = self._sub(v, loc)
            return Prop(k, "text" if subst else "string", s, loc, text=v)
        if isinstance(v, (list, tuple, np.ndarray)):
            v = v.tolist() if isinstance(v, np.ndarray) else v
            if v and all(isinstance(e, dict) for e in v):
                return self._transform(k, v, loc)
            if len(v) == 4 and all(isinstance(e, (list, tuple)) and len(e) == 4 for e in v):
                m = self._vec(v, loc, k, n=(16,))
                mm = m.reshape(4, 4)
                _check_matrix(mm, k, loc)
                op = TransformOp("matrix", {"values": m.tolist(), "matrix": mm}, {"value": v},
                                 loc)
                return Prop(k, "transform", mm, loc, text=v, ops=[op])
            arr = self._vec(v, loc, k, n=(len(v),)) if v else None
            if arr is None:
                raise self.err(f"'{k}' is an empty list", loc)
            return Prop(k, "array", arr, loc, text=v)
        if v is None:
            raise self.err(f"'{k}' has no value (null)", loc)
        raise self.err(f"'{k}': unsupported value {_short(v)}", loc)

    def _typed_value(self, k: str, t: str, v: dict, loc: Loc) -> Prop:
        keys = set(v) - {"type", "name"}
        if t == "transform":
            return self._transform(k, v, loc)
        if t in ("point", "vector"):
            if "value" in v:
                if keys != {"value"}:
                    raise self.err(f"{t} '{k}': give either \"value\" or x/y/z", loc)
                val = self._vec(v["value"], loc.child("value"), k)
            else:
                if not keys <= {"x", "y", "z"}:
                    raise self.err(f"{t} '{k}': unexpected keys {sorted(keys - set('xyz'))}", loc)
                val = self._vec({c: v[c] for c in keys}, loc, k)
            return Prop(k, t, val, loc, text=v)
        if keys != {"value"} and not (t == "spectrum" and keys == {"filename"}):
            raise self.err(f"a '{t}' value needs exactly \"value\"" + (
                " (or \"filename\")" if t == "spectrum" else "") + f", got {sorted(keys)}", loc)
        if t == "spectrum":
            if "filename" in v:
                return Prop(k, "spectrum", ("file", self._str(v["filename"], loc)), loc, text=v)
            x = v["value"]
            if _is_num(x) or (isinstance(x, str) and len(tokenize(self._sub(x, loc)[0])) == 1
                              and ":" not in x):
                return Prop(k, "spectrum", ("constant", self._num(x, loc.child("value"), k)),
                            loc, text=v)
            if isinstance(x, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2
                                                    for p in x):
                pairs = [(self._num(a, loc, k), self._num(b, loc, k)) for a, b in x]
                return Prop(k, "spectrum", ("pairs", pairs), loc, text=v)
            raise self.err(f"spectrum '{k}': value must be one number or [wavelength, value] "
                           "pairs", loc.child("value"))
        x = v["value"]
        vloc = loc.child("value")
        if t in ("rgb", "srgb"):
            if t == "srgb" and isinstance(x, str) and x.strip().startswith("#"):
                h = x.strip()[1:]
                if not re.fullmatch(r"[0-9a-fA-F]{6}", h):
                    raise self.err(f"srgb '{k}': could not parse \"{x}\" as #rrggbb", vloc)
                val = np.asarray([int(h[i:i + 2], 16) / 255.0 for i in (0, 2, 4)])
            else:
                val = self._vec(x, vloc, f"{t} '{k}'")
            if t == "srgb":
                val = np.asarray(srgb_to_linear(val), np.float64)
            return Prop(k, t, val, loc, text=v)
        # explicitly typed scalars: {"type": "integer", "value": "$spp"} (mi.xml.dict_to_xml)
        if isinstance(x, str):
            s, _ = self._sub(x, vloc)
            return Prop(k, "text", s, vloc, text=v) if t != "string" else Prop(
                k, "string", s, vloc, text=v)
        p = self._plain_value(k, x, vloc)
        if t == "float" and p.kind == "integer":
            p.kind, p.value = "float", float(p.value)
        if p.kind != t:
            raise self.err(f"'{k}' is declared {t} but its value is {_short(x)}", vloc)
        return p

    # -- transforms --------------------------------------------------------------------------
    def _transform(self, k: str, v, loc: Loc) -> Prop:
        items: list[tuple[str, object, Loc]] = []
        if isinstance(v, dict):
            for op, args in v.items():
                if op in ("type", "name"):
                    continue
                items.append((str(op), args, loc.child(str(op))))
        else:
            for i, e in enumerate(v):
                eloc = loc.child(i)
                if len(e) != 1:
                    raise self.err("each transform step is a dict with one operation "
                                   f"({', '.join(OPS)})", eloc)
                (op, args), = e.items()
                items.append((str(op), args, eloc.child(str(op))))
        m = np.eye(4)
        ops = []
        with np.errstate(all="ignore"):
            for op, args, oloc in items:
                o = self._op(op, args, oloc)
                ops.append(o)
                m = o.args["matrix"] @ m
        check_transform(m, f"transform '{k}'", loc)
        return Prop(k, "transform", m, loc, text=v, ops=ops)

    def _op(self, op: str, a, loc: Loc) -> TransformOp:
        if op == "translate":
            vec = self._vec(a, loc, "translate")
            return TransformOp(op, {"v": vec, "matrix": tf.translate(vec)}, {"value": a}, loc)
        if op == "scale":
            vec = self._vec(a, loc, "scale", default=1.0)
            return TransformOp(op, {"v": vec, "matrix": tf.scale(vec)}, {"value": a}, loc)
        if op == "rotate":
            if not isinstance(a, dict) or "angle" not in a:
                raise self.err("rotate needs {\"axis\": [x, y, z], \"angle\": degrees}", loc)
            extra = set(a) - {"axis", "angle", "x", "y", "z"}
            if extra:
                raise self.err(f"rotate: unexpected keys {sorted(extra)}", loc)
            if "axis" in a:
                axis = self._vec(a["axis"], loc.child("axis"), "rotate axis", n=(3,))
            else:
                axis = self._vec({c: a[c] for c in "xyz" if c in a}, loc, "rotate axis")
            ang = self._num(a["angle"], loc.child("angle"), "rotate angle")
            try:
                m = tf.rotate(axis, ang)
            except ValueError as exc:
                raise self.err(f"rotate: {exc}", loc) from None
            warn_axis(axis, loc)
            return TransformOp(op, {"axis": axis, "angle": ang, "matrix": m}, {"value": a}, loc)
        if op == "matrix":
            vals = self._vec(a, loc, "matrix", n=(16, 9))
            m = tf.matrix(vals)
            _check_matrix(m, "matrix", loc)
            return TransformOp(op, {"values": vals.tolist(), "matrix": m}, {"value": a}, loc)
        if op == "lookat":
            if not isinstance(a, dict) or not {"origin", "target"} <= set(a) or set(a) - {
                    "origin", "target", "up"}:
                raise self.err("lookat needs {\"origin\": [...], \"target\": [...], "
                               "\"up\": [...]}", loc)
            vec = {kk: self._vec(a[kk], loc.child(kk), f"lookat {kk}", n=(3,)) for kk in a}
            try:
                m = tf.lookat(vec["origin"], vec["target"], vec.get("up"))
            except ValueError as exc:
                raise self.err(f"invalid lookat: {exc}", loc) from None
            return TransformOp(op, {**vec, "matrix": m}, {"value": a}, loc)
        raise self.err(f"unknown transform operation '{op}'; supported: {', '.join(OPS)}", loc)


def _refs_by_key(root: Node) -> None:
    """``{"type": "ref", "id": "mat"}`` finds the scene-level plugin under the key ``"mat"`` even
    when that plugin has another explicit ``"id"`` (as ``mi.load_dict`` resolves it); ids win
    where both exist."""
    ids: set[str] = set()
    refs: list[Ref] = []

    def walk(n: Node) -> None:
        for c in n.children:
            if isinstance(c, Ref):
                refs.append(c)
            else:
                if c.id is not None:
                    ids.add(c.id)
                walk(c)

    walk(root)
    by_key = {c.key: c for c in root.children if isinstance(c, Node) and c.key is not None}
    for r in refs:
        target = by_key.get(r.id)
        if r.id in ids or target is None:
            continue
        if target.id is None:  # an '__elm__' key: the key becomes its id
            target.id = r.id
            ids.add(r.id)
        r.id = target.id


def _short(x) -> str:
    """``repr(x)`` cut to a readable length (a 5000-digit integer is not printed)."""
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 100:
        return f"an integer of {len(hex(x)) - 2} hex digits"
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ", ".join(_text(e) for e in v)
    return str(v)


def parse_dict_scene(d, display: str, defines: dict[str, str]):
    conv = DictConverter(display, defines)
    root = conv.convert(d)
    return root, conv
