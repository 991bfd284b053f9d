"""The plugin registry: every supported plugin's spec by category, assembled from the places
they are declared (BSDF and emitter modules of :mod:`diffrender.core`, the texture specs of
``diffrender.core.textures``, shapes / sensors / integrators next to their builders here)."""
from __future__ import annotations

from ...errors import SceneError
from ..spec import PluginSpec
from ..tree import Node
from . import bsdf, emitter, integrator, medium, sensor, shape, texture

PLUGINS: dict[str, dict[str, PluginSpec]] = {}
for _mod in (shape, bsdf, texture, emitter, sensor, integrator, medium):
    for _s in _mod.SPECS:
        PLUGINS.setdefault(_s.category, {})[_s.type] = _s

#: Mitsuba 3 plugins that exist but are not supported here (for clear error messages).
KNOWN_UNSUPPORTED = {
    "shape": ("bsplinecurve", "linearcurve",
              "sdfgrid", "ellipsoids", "ellipsoidsmesh", "merge", "blender"),
    "bsdf": ("roughdiffuse", "hair", "measured", "pplastic",
             "bumpmap", "normalmap", "polarizer", "retarder",
             "circular", "measured_polarized"),
    "emitter": ("projector",),
    "sensor": ("radiancemeter", "irradiancemeter", "distant",
               "batch"),
    "film": ("specfilm",),
    "rfilter": ("mitchell", "catmullrom", "lanczos"),
    "integrator": ("depth", "volprim_rf_basic"),
    "texture": ("volume",),
    "phase": ("rayleigh", "blendphase", "lut", "sggx", "tabphase"),
}

CATEGORIES = ("shape", "bsdf", "texture", "emitter", "sensor", "film", "rfilter", "sampler",
              "integrator")


def category_of(type_: str) -> str | None:
    """The plugin category of a type name (``'obj'`` -> ``'shape'``), None if unknown."""
    for cat, specs in PLUGINS.items():
        if type_ in specs:
            return cat
    for cat, types in KNOWN_UNSUPPORTED.items():
        if type_ in types:
            return cat
    return None


def supported(category: str) -> str:
    return ", ".join(sorted(PLUGINS.get(category, {})))


def spec_for(node: Node) -> PluginSpec:
    specs = PLUGINS.get(node.category, {})
    if node.type in specs:
        return specs[node.type]
    other = category_of(node.type)
    if other is not None and other != node.category and node.type in PLUGINS.get(other, {}):
        raise SceneError(f"'{node.type}' is a {other} plugin, not a {node.category}; "
                         f"supported {node.category} types: {supported(node.category)}",
                         str(node.loc))
    raise SceneError(f"unsupported {node.category} type '{node.type}'; supported: "
                     f"{supported(node.category)}", str(node.loc))


