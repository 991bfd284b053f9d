"""Plugins: specs, reading and building, one module per category.

- :mod:`.reader` — :class:`Reader`, typed and usage-tracked access to a plugin's parameters;
- :mod:`.registry` — ``PLUGINS`` (category -> type -> spec), assembled from the declarations
  (``SPEC`` of each module of :mod:`diffrender.core.bsdfs` / :mod:`diffrender.core.emitters`,
  ``diffrender.core.textures.SPECS``, the ``SPECS`` of :mod:`.shape`, :mod:`.sensor`,
  :mod:`.integrator`), the known-unsupported Mitsuba plugins and the lookups;
- :mod:`.shape`, :mod:`.bsdf`, :mod:`.texture`, :mod:`.emitter`, :mod:`.sensor`,
  :mod:`.integrator` — the builders, composed in :mod:`.builder`;
- :mod:`.doc_tables` — the parameter tables of ``docs/scene-format.md``.
"""
from ..spec import MEDIA_CATEGORIES, Param, PluginSpec, SceneWarning
from .builder import Builder, build_scene, check_refs, collect_ids
from .reader import Reader
from .registry import CATEGORIES, KNOWN_UNSUPPORTED, PLUGINS, category_of, spec_for, supported

__all__ = ["Param", "PluginSpec", "SceneWarning", "Builder", "build_scene", "check_refs",
           "collect_ids", "Reader", "CATEGORIES", "KNOWN_UNSUPPORTED", "MEDIA_CATEGORIES", "PLUGINS",
           "category_of",
           "spec_for", "supported"]
