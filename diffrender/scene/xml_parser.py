"""Mitsuba 3 XML -> plugin tree (:mod:`diffrender.scene.tree`), with line numbers.

Follows Mitsuba's parser (``src/core/xml.cpp``): ``<default>`` values and ``$name`` substitution
in every attribute value (longest names first), ``<include>``, ``<path>``, ``<ref>``,
``<transform>`` operations, value tokenisation on commas and white space, the version < 2.0
upgrade (camelCase parameter names, ``lookAt``). Errors are :class:`SceneError` with
``file:line``.
"""
from __future__ import annotations

import codecs
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from xml.parsers import expat

import numpy as np

from .. import limits
from ..errors import SceneError
from ..image import srgb_to_linear
from . import spectra
from . import transforms as tf
from .spec import SceneWarning
from .tree import Loc, Node, Prop, Ref, TransformOp

OBJECT_TAGS = ("scene", "shape", "bsdf", "emitter", "sensor", "film", "sampler", "rfilter",
               "integrator", "texture")
UNSUPPORTED_OBJECT_TAGS = ("medium", "phase", "volume")
PROPERTY_TAGS = ("boolean", "integer", "float", "string", "point", "vector", "rgb", "srgb",
                 "spectrum", "transform")
TRANSFORM_OPS = ("translate", "rotate", "scale", "matrix", "lookat")
OTHER_TAGS = ("ref", "default", "include", "path")
ALL_TAGS = OBJECT_TAGS + PROPERTY_TAGS + TRANSFORM_OPS + OTHER_TAGS

MAX_INCLUDE_DEPTH = 15

_NAME_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Elem:
    tag: str
    attrs: dict[str, str]
    line: int
    file: str
    children: list["Elem"] = field(default_factory=list)

    def loc(self) -> Loc:
        return Loc(self.file, self.line)


def tokenize(s: str) -> list[str]:
    return [t for t in re.split(r"[,\s]+", s.strip()) if t]


def parse_float(text: str, what: str, loc: Loc) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise SceneError(f"{what}: could not parse \"{text}\" as a float", str(loc)) from None
    return check_float(v, text, what, loc)


def check_float(v: float, text, what: str, loc: Loc) -> float:
    """``v`` if it is a finite number within float32's range (the renderer's precision)."""
    if not math.isfinite(v):
        raise SceneError(f"{what}: \"{text}\" is not a finite number", str(loc))
    if abs(v) > limits.FLOAT32_MAX:
        raise SceneError(f"{what}: {text} is out of the float32 range "
                         f"(|x| <= {limits.FLOAT32_MAX:.4g})", str(loc))
    return v


INT_RANGE = (-(1 << 31), (1 << 31) - 1)


def parse_int(text: str, what: str, loc: Loc) -> int:
    """A 32-bit integer (the renderer's integer parameters are 32-bit)."""
    t = text.strip()
    if len(t) > 32:  # also keeps int() away from 5000-digit strings
        raise SceneError(f"{what}: \"{t[:20]}...\" ({len(t)} characters) is not a 32-bit "
                         "integer", str(loc))
    try:
        v = int(t)
    except ValueError:
        raise SceneError(f"{what}: could not parse \"{text}\" as an integer", str(loc)) from None
    return check_int(v, what, loc)


def check_int(v: int, what: str, loc: Loc) -> int:
    if not INT_RANGE[0] <= v <= INT_RANGE[1]:
        raise SceneError(f"{what}: {v} is out of the 32-bit integer range "
                         f"[{INT_RANGE[0]}, {INT_RANGE[1]}]", str(loc))
    return v


def parse_floats(text: str, what: str, loc: Loc) -> list[float]:
    return [parse_float(t, what, loc) for t in tokenize(text)]


# --------------------------------------------------------------------------------------------
# Raw XML with line numbers (expat)
# --------------------------------------------------------------------------------------------

def read_xml(path: str, display: str) -> Elem:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise SceneError(f"scene file not found: {path}") from None
    except OSError as exc:
        raise SceneError(f"cannot read scene file: {exc}") from None
    return parse_xml_bytes(data, display)


def parse_xml_bytes(data: bytes, display: str) -> Elem:
    """Parse with expat; XML that pugixml (Mitsuba's parser) accepts and expat rejects is
    first made well-formed by :func:`pugixml_compatible` (same lines), so a real syntax error
    is still reported with its file:line."""
    m = _DECL_RE.match(data)
    if m:
        enc = m.group(1).decode("ascii")
        try:
            codecs.lookup(enc)
        except LookupError:
            raise SceneError(f"unknown encoding \"{enc[:40]}\" in the XML declaration "
                             "(expected UTF-8, UTF-16 or ISO-8859-1)", f"{display}:1") from None
    try:
        return _expat_parse(data, display)
    except (expat.ExpatError, LookupError, ValueError):  # ValueError: a codec's decode error
        pass
    try:
        return _expat_parse(pugixml_compatible(data), display)
    except expat.ExpatError as exc:
        msg = expat.errors.messages.get(exc.code, str(exc))
        raise SceneError(f"malformed XML: {msg} (column {exc.offset + 1})",
                         f"{display}:{exc.lineno}") from None


def _expat_parse(data: bytes, display: str) -> Elem:
    parser = expat.ParserCreate()
    stack: list[Elem] = []
    root: list[Elem] = []

    def start(name, attrs):
        if len(stack) >= limits.MAX_NESTING:
            raise SceneError(f"elements nested more than {limits.MAX_NESTING} levels deep",
                             f"{display}:{parser.CurrentLineNumber}")
        e = Elem(name, dict(attrs), parser.CurrentLineNumber, display)
        if stack:
            stack[-1].children.append(e)
        else:
            root.append(e)
        stack.append(e)

    def end(name):
        stack.pop()

    def chars(text):
        if text.strip() and (stack or not root):
            line = parser.CurrentLineNumber
            where = f"<{stack[-1].tag}>" if stack else "the document"
            raise SceneError(f"unexpected text \"{text.strip()[:40]}\" inside {where}; "
                             "values go in value=\"...\" attributes", f"{display}:{line}")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.ordered_attributes = False
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        # like pugixml, whatever follows the root element (text, a second root) is ignored
        junk = expat.errors.codes[expat.errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT]
        if not (exc.code == junk and root and not stack):
            raise
    if not root:
        raise SceneError("malformed XML: no root element", f"{display}:1")
    return root[0]


_DECL_RE = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_BARE_AMP_RE = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")
_ATTR_RE = re.compile(r"""([^\s=/>]+)\s*=\s*("[^"]*"|'[^']*')""")
_LATIN1_NAMES = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252"}


def pugixml_compatible(data: bytes) -> bytes:
    """Rewrite XML that pugixml accepts (and Mitsuba loads) but expat rejects into well-formed
    UTF-8 XML with the same lines: comments containing ``--`` or ending in ``--->`` (licence
    headers), a bare ``&`` or an unknown entity such as ``&nbsp;`` (kept as text, as pugixml
    does), ``<`` inside attribute values, bytes that are not UTF-8 (Latin-1 comments), a repeated
    attribute (the first wins, as in Mitsuba)."""
    m = _DECL_RE.match(data)
    declared = m.group(1).decode("ascii").lower() if m else "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        enc = "latin-1" if declared in _LATIN1_NAMES else "utf-8"
        if data.startswith(b"\xef\xbb\xbf"):
            enc, data = "utf-8", data[3:]
        text = data.decode(enc, errors="replace")
    if m:
        text = re.sub(r"(<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2", r"\1\2UTF-8\2", text,
                      count=1)
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = text.find("<", i)
        if j < 0:
            out.append(_BARE_AMP_RE.sub("&amp;", text[i:]))
            break
        out.append(_BARE_AMP_RE.sub("&amp;", text[i:j]))
        if text.startswith("<!--", j):
            k = text.find("-->", j + 4)
            if k < 0:  # unterminated: left for expat to report
                out.append(text[j:])
                break
            body = re.sub(r"[^\n]", " ", text[j + 4:k])
            out.append("<!--" + body + "-->")
            i = k + 3
        elif text.startswith("<![CDATA[", j) or text.startswith("<?", j):
            close = "]]>" if text[j + 1] == "!" else "?>"
            k = text.find(close, j)
            k = n if k < 0 else k + len(close)
            out.append(text[j:k])
            i = k
        elif text.startswith("<!", j):
            k = text.find(">", j)
            k = n if k < 0 else k + 1
            out.append(text[j:k])
            i = k
        else:
            k, quote = j + 1, None
            while k < n:
                ch = text[k]
                if quote:
                    if ch == quote:
                        quote = None
                elif ch in "\"'":
                    quote = ch
                elif ch == ">":
                    break
                k += 1
            out.append(_clean_tag(text[j:k + 1]))
            i = k + 1
    return "".join(out).encode("utf-8")


def _clean_tag(tag: str) -> str:
    seen: set[str] = set()

    def attr(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        if name in seen:
            return re.sub(r"[^\n]", " ", m.group(0))
        seen.add(name)
        q, body = value[0], value[1:-1]
        return f"{name}={q}{_BARE_AMP_RE.sub('&amp;', body).replace('<', '&lt;')}{q}"

    return _ATTR_RE.sub(attr, tag)


# --------------------------------------------------------------------------------------------
# Version upgrade, defaults and $name substitution
# --------------------------------------------------------------------------------------------

def _camel_to_snake(name: str) -> str:
    out = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return out.lower() if out != name else name


def _upgrade_v1(e: Elem) -> None:
    """Mitsuba < 2.0 files: camelCase parameter names become snake_case, ``lookAt`` becomes
    ``lookat``, diffuse ``diffuse_reflectance`` becomes ``reflectance``."""
    if e.tag == "lookAt":
        e.tag = "lookat"
    if e.tag != "default" and "name" in e.attrs:
        e.attrs["name"] = _camel_to_snake(e.attrs["name"])
    for c in e.children:
        _upgrade_v1(c)
    if e.tag == "bsdf" and e.attrs.get("type") == "diffuse":
        for c in e.children:
            if c.attrs.get("name") == "diffuse_reflectance":
                c.attrs["name"] = "reflectance"


def _parse_version(text: str, loc: Loc) -> tuple[int, ...]:
    try:
        parts = tuple(int(p) for p in text.strip().split("."))
        if not 1 <= len(parts) <= 3:
            raise ValueError
        return parts
    except ValueError:
        raise SceneError(f"could not parse version number \"{text}\"", str(loc)) from None


def substitute(value: str, params: list[tuple[str, str]], loc: Loc, used: set[str],
               xml: bool = True) -> str:
    """Replace ``$name`` (longest names first, as Mitsuba); an undefined ``$name`` is an error."""
    if "$" not in value:
        return value
    for name, repl in params:
        token = "$" + name
        if token in value:
            value = value.replace(token, repl)
            used.add(name)
    if "$" in value:
        m = _NAME_RE.search(value)
        bad = m.group(1) if m else None
        if bad is None:
            raise SceneError(f"stray '$' in value \"{value}\"", str(loc))
        how = (f"<default name=\"{bad}\" value=\"...\"/>" if xml else
               f"{{\"type\": \"default\", \"name\": \"{bad}\", \"value\": ...}}")
        raise SceneError(f"undefined parameter ${bad} in \"{value}\": add {how} to the scene "
                         f"or pass {bad}=... (-D {bad}=...)", str(loc))
    return value


# --------------------------------------------------------------------------------------------
# Elem -> Node
# --------------------------------------------------------------------------------------------

class XMLConverter:
    def __init__(self, path: str, display: str, defines: dict[str, str]):
        self.path = path
        self.display = display
        self.base_dir = os.path.dirname(os.path.abspath(path))
        self.defines = {k: str(v) for k, v in defines.items()}
        self.defaults: dict[str, str] = {}
        self.used: set[str] = set()
        self.search_paths: list[str] = [self.base_dir]
        self._params: list[tuple[str, str]] = []
        self._include_depth = 0
        self._included = 0  # <include>s expanded, all levels together
        self._prescanned = 0
        self._elements = 0

    # -- entry -------------------------------------------------------------------------------
    def convert(self) -> Node:
        root = read_xml(self.path, self.display)
        loc = root.loc()
        if root.tag != "scene":
            raise SceneError(f"root element must be <scene>, found <{root.tag}>", str(loc))
        self._check_version(root)
        self._prescan_defaults(root, 0)
        self._update_params()
        node = Node("scene", "scene", loc)
        attrs = {k: v for k, v in root.attrs.items() if k != "version"}
        if set(attrs) - {"type", "id"}:
            bad = sorted(set(attrs) - {"type", "id"})[0]
            raise SceneError(f"unexpected attribute \"{bad}\" in element <scene>", str(loc))
        self._fill_object(root, node)
        unused = sorted(set(self.defines) - self.used - set(self.defaults))
        if unused:
            raise SceneError(f"parameter '{unused[0]}' was defined (-D {unused[0]}=...) but the "
                             "scene does not use it", self.display)
        return node

    def _update_params(self) -> None:
        merged = dict(self.defaults)
        merged.update(self.defines)
        self._params = sorted(merged.items(), key=lambda kv: -len(kv[0]))

    def _add_default(self, c: Elem) -> None:
        """A ``<default>``: the first definition of a name in document order (included files
        expanded in place) wins, and ``-D name=...`` beats them all, as in Mitsuba 3.9."""
        self._check_attrs(c, ("name", "value"), required=("name", "value"))
        name = c.attrs["name"]
        if not name or "," in name:
            raise SceneError(f"<default>: invalid name \"{name}\"", str(c.loc()))
        self.defaults.setdefault(name, c.attrs["value"])

    def _prescan_defaults(self, root: Elem, depth: int) -> None:
        """Collect ``<default>``s before anything is substituted: the scene's own and those of
        the files it includes at its top level, in document order. An include that cannot be
        read here is skipped (converting it reports the error with its line)."""
        for c in root.children:
            if c.tag == "default":
                self._add_default(c)
            elif c.tag == "include" and depth < MAX_INCLUDE_DEPTH and "filename" in c.attrs:
                self._prescanned += 1
                if self._prescanned > limits.MAX_INCLUDED_FILES:
                    continue  # converting reports the include bomb with its line
                self._update_params()
                try:
                    filename = substitute(c.attrs["filename"], self._params, c.loc(), set())
                except SceneError:
                    continue
                path = self.resolve(filename)
                if path is None:
                    continue
                try:
                    inc = read_xml(path, _include_display(self.display, filename))
                except SceneError:
                    continue
                if inc.tag == "scene":
                    self._prescan_defaults(inc, depth + 1)

    def _check_version(self, root: Elem) -> None:
        loc = root.loc()
        if "version" not in root.attrs:
            raise SceneError("missing version attribute in root element <scene> "
                             "(write <scene version=\"3.0.0\">)", str(loc))
        v = _parse_version(root.attrs["version"], loc)
        if v[0] < 2:
            _upgrade_v1(root)

    # -- helpers -----------------------------------------------------------------------------
    def _subst_attrs(self, e: Elem) -> dict[str, str]:
        loc = e.loc()
        return {k: substitute(v, self._params, loc, self.used) for k, v in e.attrs.items()}

    @staticmethod
    def _check_attrs(e: Elem, allowed, required=(), attrs=None) -> None:
        attrs = e.attrs if attrs is None else attrs
        for a in attrs:
            if a not in allowed:
                raise SceneError(f"unexpected attribute \"{a}\" in element <{e.tag}>; "
                                 f"expected: {', '.join(allowed)}", str(e.loc()))
        for a in required:
            if a not in attrs:
                raise SceneError(f"missing attribute \"{a}\" in element <{e.tag}>",
                                 str(e.loc()))

    # -- objects -----------------------------------------------------------------------------
    def _fill_object(self, e: Elem, node: Node) -> None:
        for c in e.children:
            self._child(c, node, top=(node.category == "scene"))

    def _child(self, c: Elem, parent: Node, top: bool) -> None:
        loc = c.loc()
        tag = c.tag
        self._elements += 1
        if self._elements > limits.MAX_SCENE_ELEMENTS:
            raise SceneError(f"the scene has more than {limits.MAX_SCENE_ELEMENTS} elements "
                             "with its includes expanded", str(loc))
        if tag == "default":
            if not top:
                raise SceneError("<default> must be a direct child of <scene>", str(loc))
            return
        if tag in ("path", "include", "ref"):
            attrs = self._subst_attrs(c)
            if tag == "path":
                self._check_attrs(c, ("value",), ("value",), attrs)
                if not top:
                    raise SceneError("<path> must be a direct child of <scene>", str(loc))
                p = attrs["value"]
                if not os.path.isabs(p):
                    p = os.path.join(self.base_dir, p)
                if not os.path.isdir(p):
                    raise SceneError(f"<path>: folder \"{attrs['value']}\" not found", str(loc))
                self.search_paths.insert(0, p)
                return
            if tag == "include":
                self._check_attrs(c, ("filename",), ("filename",), attrs)
                self._include(c, attrs["filename"], parent, top)
                return
            self._check_attrs(c, ("id", "name"), ("id",), attrs)
            parent.children.append(Ref(attrs["id"], attrs.get("name"), loc))
            return
        if tag in OBJECT_TAGS:
            if tag == "scene":
                raise SceneError("<scene> cannot be nested", str(loc))
            attrs = self._subst_attrs(c)
            self._check_attrs(c, ("type", "id", "name"), ("type",), attrs)
            child = Node(tag, attrs["type"], loc, id=attrs.get("id"), name=attrs.get("name"),
                         raw=dict(c.attrs))
            self._fill_object(c, child)
            parent.children.append(child)
            return
        if tag in UNSUPPORTED_OBJECT_TAGS:  # kept in the tree: an error only where it is used
            attrs = self._subst_attrs(c)
            self._check_attrs(c, ("type", "id", "name"), ("type",), attrs)
            child = Node(tag, attrs["type"], loc, id=attrs.get("id"), name=attrs.get("name"),
                         raw=dict(c.attrs))
            self._fill_object(c, child)
            parent.children.append(child)
            return
        if tag in PROPERTY_TAGS:
            prop = self._property(c, parent)
            if prop.name in parent.props:
                raise SceneError(f"parameter '{prop.name}' is given twice in "
                                 f"{parent.category} '{parent.type}' (first at "
                                 f"{parent.props[prop.name].loc})", str(loc))
            parent.props[prop.name] = prop
            return
        if tag in TRANSFORM_OPS:
            raise SceneError(f"<{tag}> can only occur inside a <transform>", str(loc))
        raise SceneError(f"unexpected element <{tag}>; expected one of: {', '.join(ALL_TAGS)}",
                         str(loc))

    def _include(self, c: Elem, filename: str, parent: Node, top: bool) -> None:
        loc = c.loc()
        path = self.resolve(filename)
        if path is None:
            raise SceneError(f"included file \"{filename}\" not found", str(loc))
        self._include_depth += 1
        self._included += 1
        if self._included > limits.MAX_INCLUDED_FILES:
            raise SceneError(f"more than {limits.MAX_INCLUDED_FILES} <include>s expanded in "
                             "one scene (files that include each other many times)", str(loc))
        if self._include_depth > MAX_INCLUDE_DEPTH:
            raise SceneError(f"<include> nested more than {MAX_INCLUDE_DEPTH} levels deep",
                             str(loc))
        root = read_xml(path, _include_display(self.display, filename))
        if root.tag == "scene":
            if "version" in root.attrs:
                v = _parse_version(root.attrs["version"], root.loc())
                if v[0] < 2:
                    _upgrade_v1(root)
            for cc in root.children:
                if cc.tag == "default":  # usually already collected by _prescan_defaults
                    if cc.attrs.get("name") not in self.defaults:
                        self._add_default(cc)
                        self._update_params()
                    continue
                self._child(cc, parent, top)
        else:
            self._child(root, parent, top)
        self._include_depth -= 1

    def resolve(self, filename: str) -> str | None:
        if os.path.isabs(filename):
            return filename if os.path.exists(filename) else None
        for d in self.search_paths:
            p = os.path.join(d, filename)
            if os.path.exists(p):
                return p
        return None

    # -- properties --------------------------------------------------------------------------
    def _property(self, c: Elem, parent: Node | None = None) -> Prop:
        prop = self._property_value(c)
        if prop.kind == "spectrum" and parent is not None:
            rgb = spectrum_prop_rgb(prop, parent.category == "emitter")
            if rgb is not None:  # written back as its <rgb> equivalent
                return Prop(prop.name, "rgb", rgb, prop.loc, text=prop.text)
        prop.raw = dict(c.attrs)
        return prop

    def _property_value(self, c: Elem) -> Prop:
        loc = c.loc()
        tag = c.tag
        attrs = self._subst_attrs(c)
        if tag == "transform":
            self._check_attrs(c, ("name",), ("name",), attrs)
            name = attrs["name"]
            ops = []
            m = np.eye(4)
            with np.errstate(all="ignore"):
                for o in c.children:
                    op = self._transform_op(o)
                    ops.append(op)
                    m = op.args["matrix"] @ m
            check_transform(m, f"<transform name=\"{name}\">", loc)
            return Prop(name, "transform", m, loc, text=None, ops=ops)
        if tag in ("point", "vector"):
            self._check_attrs(c, ("name", "value", "x", "y", "z"), ("name",), attrs)
            v = self._xyz(c, attrs, 0.0, f"<{tag} name=\"{attrs['name']}\">")
            text = attrs.get("value") or {k: attrs[k] for k in "xyz" if k in attrs}
            return Prop(attrs["name"], tag, v, loc, text=text)
        self._check_attrs(c, ("name", "value") + (("filename",) if tag == "spectrum" else ()),
                          ("name",), attrs)
        name = attrs["name"]
        what = f"<{tag} name=\"{name}\">"
        if tag == "spectrum":
            has_v, has_f = "value" in attrs, "filename" in attrs
            if has_v == has_f:
                raise SceneError(f"{what}: needs exactly one of value=\"...\" or filename=\"...\"",
                                 str(loc))
            if has_f:
                return Prop(name, "spectrum", ("file", attrs["filename"]), loc,
                            text=attrs["filename"])
            text = attrs["value"]
            toks = tokenize(text)
            if len(toks) == 1 and ":" not in toks[0]:
                return Prop(name, "spectrum", ("constant", parse_float(toks[0], what, loc)), loc,
                            text=text)
            pairs = []
            for t in toks:
                p = t.split(":")
                if len(p) != 2:
                    raise SceneError(f"{what}: invalid spectrum \"{text}\" (expected one value or "
                                     "wavelength:value pairs)", str(loc))
                pairs.append((parse_float(p[0], what, loc), parse_float(p[1], what, loc)))
            return Prop(name, "spectrum", ("pairs", pairs), loc, text=text)
        if "value" not in attrs:
            raise SceneError(f"missing attribute \"value\" in element <{tag}>", str(loc))
        text = attrs["value"]
        if tag == "string":
            return Prop(name, "string", text, loc, text=text)
        if tag == "boolean":
            low = text.strip().lower()
            if low not in ("true", "false"):
                raise SceneError(f"{what}: could not parse \"{text}\" as a boolean "
                                 "(must be \"true\" or \"false\")", str(loc))
            return Prop(name, "boolean", low == "true", loc, text=text)
        if tag == "integer":
            return Prop(name, "integer", parse_int(text, what, loc), loc, text=text)
        if tag == "float":
            return Prop(name, "float", parse_float(text.strip(), what, loc), loc, text=text)
        if tag in ("rgb", "srgb"):
            s = text.strip()
            if tag == "srgb" and s.startswith("#"):
                h = s[1:]
                if len(h) != 6 or not re.fullmatch(r"[0-9a-fA-F]{6}", h):
                    raise SceneError(f"{what}: could not parse \"{text}\" as #rrggbb", str(loc))
                vals = [int(h[i:i + 2], 16) / 255.0 for i in (0, 2, 4)]
            else:
                vals = parse_floats(s, what, loc)
                if len(vals) == 1:
                    vals = vals * 3
                if len(vals) != 3:
                    raise SceneError(f"{what}: needs one or three values, got \"{text}\"",
                                     str(loc))
            v = np.asarray(vals, np.float64)
            if tag == "srgb":
                v = np.asarray(srgb_to_linear(v), np.float64)
            return Prop(name, tag, v, loc, text=text)
        raise AssertionError(tag)

    def _xyz(self, c: Elem, attrs: dict, default: float, what: str) -> np.ndarray:
        loc = c.loc()
        if "value" in attrs:
            if any(k in attrs for k in "xyz"):
                raise SceneError(f"{what}: can't mix value=\"...\" with x/y/z attributes",
                                 str(loc))
            vals = parse_floats(attrs["value"], what, loc)
            if len(vals) == 1:
                vals = vals * 3
            if len(vals) != 3:
                raise SceneError(f"{what}: value=\"{attrs['value']}\" must have 1 or 3 elements",
                                 str(loc))
            return np.asarray(vals, np.float64)
        return np.asarray([parse_float(attrs[k], what, loc) if k in attrs else default
                           for k in "xyz"], np.float64)

    def _transform_op(self, o: Elem) -> TransformOp:
        loc = o.loc()
        if o.tag not in TRANSFORM_OPS:
            raise SceneError(f"<transform> can only contain {', '.join(TRANSFORM_OPS)}; "
                             f"found <{o.tag}>", str(loc))
        if o.children:
            raise SceneError(f"<{o.tag}> cannot have child elements", str(loc))
        attrs = self._subst_attrs(o)
        what = f"<{o.tag}>"
        if o.tag == "translate":
            self._check_attrs(o, ("value", "x", "y", "z"), (), attrs)
            v = self._xyz(o, attrs, 0.0, what)
            return TransformOp("translate", {"v": v, "matrix": tf.translate(v)}, dict(o.attrs), loc)
        if o.tag == "scale":
            self._check_attrs(o, ("value", "x", "y", "z"), (), attrs)
            v = self._xyz(o, attrs, 1.0, what)
            return TransformOp("scale", {"v": v, "matrix": tf.scale(v)}, dict(o.attrs), loc)
        if o.tag == "rotate":
            self._check_attrs(o, ("value", "x", "y", "z", "angle"), ("angle",), attrs)
            axis = self._xyz(o, attrs, 0.0, what)
            angle = parse_float(attrs["angle"], what, loc)
            try:
                m = tf.rotate(axis, angle)
            except ValueError as exc:
                raise SceneError(f"<rotate>: {exc} (got axis {axis.tolist()})", str(loc)) from None
            warn_axis(axis, loc)
            return TransformOp("rotate", {"axis": axis, "angle": angle, "matrix": m}, dict(o.attrs), loc)
        if o.tag == "matrix":
            self._check_attrs(o, ("value",), ("value",), attrs)
            vals = parse_floats(attrs["value"], what, loc)
            if len(vals) not in (9, 16):
                raise SceneError(f"<matrix>: expected 16 or 9 values, got {len(vals)}", str(loc))
            m = tf.matrix(vals)
            _check_matrix(m, "<matrix>", loc)
            return TransformOp("matrix", {"values": vals, "matrix": m}, dict(o.attrs), loc)
        # lookat
        self._check_attrs(o, ("origin", "target", "up"), ("origin", "target"), attrs)
        vec = {}
        for k in ("origin", "target", "up"):
            if k in attrs:
                vals = parse_floats(attrs[k], what, loc)
                if len(vals) != 3:
                    raise SceneError(f"<lookat>: \"{k}\" must have exactly 3 values, got "
                                     f"\"{attrs[k]}\"", str(loc))
                vec[k] = np.asarray(vals, np.float64)
        try:
            m = tf.lookat(vec["origin"], vec["target"], vec.get("up"))
        except ValueError as exc:
            raise SceneError(f"invalid <lookat>: {exc}", str(loc)) from None
        return TransformOp("lookat", {**vec, "matrix": m}, dict(o.attrs), loc)


def _include_display(display: str, filename: str) -> str:
    """How an included file is named in messages: relative to the including file's name."""
    return filename if os.path.isabs(filename) else os.path.join(os.path.dirname(display),
                                                                 filename)


def spectrum_prop_rgb(prop: Prop, emitter: bool) -> np.ndarray | None:
    """The linear RGB Mitsuba's RGB variants make of a ``spectrum`` value: wavelength:value
    pairs integrated against the CIE curves (:mod:`.spectra`), and a one-value spectrum on an
    emitter (not white in sRGB); None for what stays a spectrum (a one-value spectrum elsewhere,
    a file)."""
    form, val = prop.value
    if form == "pairs":
        try:
            return spectra.pairs_to_rgb(val, emitter=emitter,
                                        unbounded=prop.name in spectra.UNBOUNDED_PARAMS)
        except ValueError as exc:
            raise SceneError(f"spectrum '{prop.name}': {exc} (got \"{prop.text}\")",
                             str(prop.loc)) from None
    if form == "constant" and emitter:
        return spectra.uniform_emitter_rgb(val)
    return None


def warn_axis(axis: np.ndarray, loc: Loc) -> None:
    n = float(np.linalg.norm(axis))
    if abs(n - 1.0) > 1e-6:
        warnings.warn(f"{loc}: rotate axis {axis.tolist()} has length {n:g}; Mitsuba 3 does not "
                      "normalise it, so this transform also scales/shears (as in Mitsuba); "
                      "use a unit axis for a pure rotation", SceneWarning, stacklevel=2)


def check_transform(m: np.ndarray, what: str, loc: Loc) -> None:
    """A composed transform must stay finite within float32's range."""
    if not np.all(np.isfinite(m)) or np.max(np.abs(m)) > limits.FLOAT32_MAX:
        raise SceneError(f"{what}: the composed matrix overflows float32 (entries up to "
                         f"{np.nanmax(np.abs(m)):.3g})", str(loc))


def _check_matrix(m: np.ndarray, what: str, loc: Loc) -> None:
    if not np.all(np.isfinite(m)):
        raise SceneError(f"{what}: matrix has non-finite entries", str(loc))
    if abs(np.linalg.det(m[:3, :3])) < 1e-12:
        raise SceneError(f"{what}: matrix is singular (its 3x3 part has zero determinant)",
                         str(loc))
    if not np.allclose(m[3], [0, 0, 0, 1]):
        raise SceneError(f"{what}: projective matrices are not supported (last row must be "
                         "0 0 0 1)", str(loc))


def parse_xml_scene(path: str, defines: dict[str, str], display: str | None = None):
    conv = XMLConverter(path, display or str(path), defines)
    root = conv.convert()
    return root, conv
