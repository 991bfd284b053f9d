"""How a plugin declares itself: :class:`Param` and :class:`PluginSpec` (no dependencies, so that
both the loader and the render modules import it).

Every built-in plugin declares its spec once, next to its code: a BSDF or emitter module of
:mod:`diffrender.core` as ``SPEC``, a texture as an entry of ``diffrender.core.textures.SPECS``,
shapes, sensors and integrators next to their builders in :mod:`diffrender.scene.plugins`. The
registry (:data:`diffrender.scene.plugins.PLUGINS`) is assembled from them; the loader reads
parameters by these specs and fills their defaults (Mitsuba 3.9.1's), the renderer's dispatch
tables take the type codes, and the parameter tables of ``docs/scene-format.md`` are generated
from them (``python3 -m diffrender.scene.plugins.doc_tables``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: parameter kinds the loader converts (``diffrender.scene.plugins.reader``)
KINDS = ("float", "integer", "boolean", "string", "point", "spectrum", "transform",
         "float_texture", "ior")


#: Categories of participating media (``<medium>``, ``<phase>``, ``<volume>``): kept in the plugin
#: tree, an error only where a volumetric integrator would use them (``plugins/builder.py``).
MEDIA_CATEGORIES = ("medium", "phase", "volume")


class SceneWarning(UserWarning):
    """A scene element is accepted but rendered differently from Mitsuba (e.g. a stratified
    sampler rendered with independent samples)."""


@dataclass(frozen=True)
class Param:
    """One plugin parameter.

    ``kind``: one of :data:`KINDS`; ``default``: Mitsuba 3.9.1's (None: required, or computed
    by the builder, see ``doc``); ``choices``: allowed strings; ``diff``: differentiable (a
    scene parameter of ``Scene.parameters()``); ``discontinuous``: its derivative also has a
    visibility (edge) part; ``field``: for BSDF leaves, the
    :data:`~diffrender.core.bsdfs.common.BSDFParams` fields it fills (a name or a tuple)."""

    kind: str
    default: Any = None
    doc: str = ""
    choices: tuple[str, ...] | None = None
    diff: bool = False
    discontinuous: bool = False
    field: str | tuple[str, ...] | None = None

    def fields(self) -> tuple[str, ...]:
        if self.field is None:
            return ()
        return (self.field,) if isinstance(self.field, str) else tuple(self.field)


@dataclass(frozen=True)
class PluginSpec:
    """One plugin: its category (``bsdf``, ``emitter``, ...), Mitsuba type name, parameters
    (name -> :class:`Param`, in documentation order), the nested plugin categories it accepts,
    a one-line doc, ``maps_to`` (rendered as another type, with a :class:`SceneWarning`),
    ``code`` (the compile-time type code of the render tables, where the category has one) and
    ``lobes`` (BSDF leaves: ``"smooth"``, ``"delta"`` or both) and ``model``: see
    :meth:`all_params`."""

    category: str
    type: str
    params: dict[str, Param] = field(default_factory=dict)
    children: tuple[str, ...] = ()
    doc: str = ""
    maps_to: str | None = None
    code: int | None = None
    lobes: tuple[str, ...] = ()
    model: dict[str, Param] = field(default_factory=dict)

    def all_params(self) -> dict[str, Param]:
        """File parameters and ``model`` ones: parameters of the loaded model that the builder
        computes from file parameters (a BSDF's ``eta`` = ``int_ior / ext_ior``)."""
        return {**self.params, **self.model}

    def defaults(self) -> dict[str, Any]:
        """Parameter name -> Mitsuba's default (None where there is none)."""
        return {n: p.default for n, p in self.params.items()}


def spec_table(specs) -> str:
    """A Markdown table of the parameters of ``specs`` (plugin, parameter, kind, default,
    differentiable, doc), as in ``docs/scene-format.md``."""
    rows = ["| plugin | parameter | kind | default | differentiable | description |",
            "|---|---|---|---|---|---|"]
    for s in specs:
        ps = s.all_params()
        if not ps:
            rows.append(f"| `{s.type}` | — | | | | {s.doc} |")
            continue
        for i, (n, p) in enumerate(ps.items()):
            name = f"`{s.type}`" if i == 0 else ""
            d = "—" if p.default is None else f"`{_fmt(p.default)}`"
            diff = "yes" + (" (edges)" if p.discontinuous else "") if p.diff else ""
            kind = p.kind + (f" ({' / '.join(p.choices)})" if p.choices else "")
            doc = f"(computed by the loader) {p.doc}" if n in s.model else p.doc
            rows.append(f"| {name} | `{n}` | {kind} | {d} | {diff} | {doc} |")
    return "\n".join(rows)


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return ", ".join(_fmt(x) for x in v)
    return str(v)
