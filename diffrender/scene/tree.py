"""The parsed plugin tree: the common form of Mitsuba XML, dict, JSON and YAML scenes.

Every front end (``xml_parser``, ``dict_parser``) produces the same tree of :class:`Node`
(plugins), :class:`Prop` (their parameters) and :class:`Ref` (``<ref id=...>``); the builders in
``plugins`` turn it into the :class:`~diffrender.scene.model.Scene`. The tree is kept on
``Scene.tree`` (a :class:`SceneTree`) with source locations and the original text of every value,
so that ``writer`` can write the scene back with changed parameter values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Loc:
    """Where something came from: ``file:line`` (XML) or ``file: key.path`` (dict forms)."""

    file: str
    line: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.file}:{self.line}"
        if self.path:
            return f"{self.file}: {self.path}"
        return self.file

    def child(self, key) -> "Loc":
        """The location of a dict entry below this one (dict forms only)."""
        if isinstance(key, int):
            p = f"{self.path or ''}[{key}]"
        else:
            p = f"{self.path}.{key}" if self.path else str(key)
        return Loc(self.file, self.line, p)


@dataclass
class TransformOp:
    """One operation of a transform in document order (``translate``, ``rotate``, ``scale``,
    ``matrix``, ``lookat``), with its arguments as parsed (``args``) and as written (``text``)."""

    op: str
    args: dict[str, Any]
    text: dict[str, str]
    loc: Loc


@dataclass
class Prop:
    """A plugin parameter.

    ``kind`` is the value's type as written: ``boolean``, ``integer``, ``float``, ``string``,
    ``point``, ``vector``, ``rgb``, ``srgb``, ``spectrum``, ``transform``, ``array`` (a list of
    numbers in the dict forms) or ``text`` (a dict-form string that came from ``$name``
    substitution and is converted to the type the plugin expects). ``value`` is the parsed value
    (Python scalar, numpy array, 4x4 float64 matrix for transforms, ``('constant', v)`` for a
    one-value spectrum); ``text`` the original text (XML attribute or the dict value);
    ``ops`` the transform operations in order.
    """

    name: str
    kind: str
    value: Any
    loc: Loc
    text: Any = None
    ops: list[TransformOp] | None = None
    used: bool = False
    raw: dict[str, str] | None = None  # XML: the element's attributes before $name substitution


@dataclass
class Ref:
    """A reference to a plugin by id (``<ref id="white"/>``, ``{"type": "ref", "id": "white"}``)."""

    id: str
    name: str | None
    loc: Loc
    used: bool = False


@dataclass
class Node:
    """A plugin: ``category`` is the XML tag (``scene``, ``shape``, ``bsdf``, ``emitter``,
    ``sensor``, ``film``, ``sampler``, ``rfilter``, ``integrator``, ``texture``); ``name`` the
    parameter name it fills in its parent (XML ``name=`` attribute or dict key), ``key`` the
    dict key it had in a dict-form scene."""

    category: str
    type: str
    loc: Loc
    id: str | None = None
    name: str | None = None
    props: dict[str, Prop] = field(default_factory=dict)
    children: list["Node | Ref"] = field(default_factory=list)
    key: str | None = None
    used: bool = False
    raw: dict[str, str] | None = None  # XML: the element's attributes before $name substitution

    def describe(self) -> str:
        return f"{self.category} '{self.type}'" + (f" (id '{self.id}')" if self.id else "")


@dataclass
class SceneTree:
    """``root`` (the scene node), ``ids`` (id -> node), ``defaults`` (``<default>`` values as
    written), ``format`` and ``file``; ``params`` maps each differentiable parameter name (see
    ``info.describe``) to the tree element it came from: ``(node, prop_name)``."""

    root: Node
    ids: dict[str, Node]
    defaults: dict[str, str]
    format: str
    file: str | None
    base_dir: str
    params: dict[str, tuple[Node, str]] = field(default_factory=dict)
    initial_values: dict[str, Any] = field(default_factory=dict)  # parameter values at load


def as_array3(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).reshape(3)
