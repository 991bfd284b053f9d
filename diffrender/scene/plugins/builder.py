"""The builder: plugin tree -> :class:`~diffrender.scene.model.Scene`, one mixin per plugin
category (``shape.py``, ``bsdf.py``, ``texture.py``, ``emitter.py``, ``sensor.py``,
``integrator.py``, ``medium.py``); parameters are read through a :class:`~.reader.Reader` by each plugin's spec,
defaults filled here (the renderer never fills the scene)."""
from __future__ import annotations

import os
from typing import Any, Callable

import warnings

from ...errors import SceneError
from ..model import Scene, Sensor
from ..spec import MEDIA_CATEGORIES, PluginSpec, SceneWarning
from ..tree import Node, Ref, SceneTree
from .bsdf import BSDFBuilder
from .emitter import EmitterBuilder
from .integrator import IntegratorBuilder
from .medium import MediumBuilder
from .reader import Reader
from .registry import KNOWN_UNSUPPORTED, PLUGINS, spec_for
from .sensor import SensorBuilder
from .shape import ShapeBuilder
from .texture import TextureBuilder


class Builder(ShapeBuilder, BSDFBuilder, TextureBuilder, EmitterBuilder, SensorBuilder,
              IntegratorBuilder, MediumBuilder):
    """Plugin tree -> :class:`Scene`."""

    def __init__(self, tree: SceneTree, resolve_file: Callable[[str], str | None]):
        self.tree = tree
        self.resolve_file = resolve_file
        self.built: dict[int, Any] = {}  # id(node) -> object (shared BSDFs, textures)
        self.origin: dict[int, Node] = {}  # id(object) -> node, for parameter sources
        self.param_node: dict[int, Node] = {}  # id(BSDF) -> node holding its parameters
        self.area_refs: dict[str, Node] = {}  # id of a scene-level area emitter -> its shape
        self.directional_areas: list[Node] = []  # directionalarea emitters (no contribution)
        self.volumetric = _volumetric_integrator(tree.root)  # media matter only then
        self.media: list = []  # the media used (under a volumetric integrator)
        self.medium_index: dict[int, int] = {}  # id(medium node) -> index in self.media
        self.links: dict[int, dict[str, int]] = {}  # id(shape / sensor node) -> {name: medium}
        self.referenced = _referenced_ids(tree.root)

    # -- references --------------------------------------------------------------------------
    def resolve(self, ref: Ref) -> Node:
        node = self.tree.ids.get(ref.id)
        if node is None:
            raise SceneError(f"reference to unknown id '{ref.id}'", str(ref.loc))
        return node

    def file(self, r: Reader, name: str, what: str) -> str:
        fn = r.get(name)
        if fn is None:
            raise r.error(f"{r.owner} needs a '{name}' parameter")
        path = self.resolve_file(fn)
        if path is None:
            full = fn if os.path.isabs(fn) else os.path.join(self.tree.base_dir, fn)
            raise SceneError(f"{r.node.describe()}: {what} file not found: {full}",
                             r.loc(name))
        return path

    # -- scene -------------------------------------------------------------------------------
    def scene(self) -> Scene:
        root = self.tree.root
        root.used = True
        scene = Scene()
        integrator_node = None
        area_decls: list[Node] = []
        for c in root.children:
            if isinstance(c, Ref):
                raise SceneError(f"a reference ('{c.id}') cannot occur directly in the scene",
                                 str(c.loc))
            c.used = True
            if c.category in MEDIA_CATEGORIES:
                continue  # declared here; it matters only where something uses it
            if (c.category in ("bsdf", "texture") and c.id not in self.referenced
                    and (bad := _unsupported_inside(c, self.tree.ids)) is not None):
                # Mitsuba builds it, but nothing uses it: no effect on the image
                warnings.warn(f"{c.loc}: {c.describe()} is not used by anything and contains "
                              f"{bad.describe()} (at {bad.loc}), which diffrender does not "
                              "support: ignored", SceneWarning, stacklevel=2)
                continue
            if c.category == "shape":
                self.shape(c, scene)
            elif c.category == "sensor":
                sensor = self.sensor(c)
                sensor.medium = self.links.get(id(c), {}).get("medium")
                scene.sensors.append(sensor)
            elif c.category == "integrator":
                if integrator_node is not None:
                    raise SceneError(f"more than one integrator (first at {integrator_node.loc})",
                                     str(c.loc))
                integrator_node = c
                scene.integrator = self.integrator(c)
            elif c.category == "emitter":
                if c.type == "directionalarea":
                    raise SceneError("a directionalarea emitter must be nested in a shape",
                                     str(c.loc))
                if c.type == "area":
                    if c.id is None:
                        raise SceneError("an area emitter must be nested in a shape or "
                                         "declared with an id and referenced from one "
                                         "(<ref id=\"...\"/>)", str(c.loc))
                    area_decls.append(c)  # built by the shape that references it
                    continue
                em = self.emitter(c)
                scene.emitters.append(em)
            elif c.category == "bsdf":
                self.bsdf(c)
            elif c.category == "texture":
                self.texture(c)
            else:
                raise SceneError(f"a {c.category} cannot occur directly in the scene; "
                                 f"it belongs in a {'film' if c.category == 'rfilter' else 'sensor'}",
                                 str(c.loc))
        if self.directional_areas and scene.integrator.params.get("mitsuba_type") == "ptracer":
            raise SceneError("emitter 'directionalarea' is rendered by Mitsuba's ptracer (light "
                             "tracing) only; diffrender renders ptracer as path, where it "
                             "contributes nothing: render with Mitsuba, or use an 'area' "
                             "emitter", str(self.directional_areas[0].loc))
        for c in area_decls:
            if c.id not in self.area_refs:
                raise SceneError(f"area emitter '{c.id}' is declared in the scene but no shape "
                                 f"references it; reference it from a shape with <ref "
                                 f"id=\"{c.id}\"/>", str(c.loc))
        scene.media = self.media
        if not scene.sensors:  # a default perspective camera (Mitsuba 3.9.1 has none)
            scene.sensors.append(Sensor())
        return scene

    # -- participating media ------------------------------------------------------------------
    def medium_use(self, owner: str, link: Node | Ref, target: Node,
                   node: Node | None = None) -> None:
        """A shape's or sensor's medium (``interior`` / ``exterior`` / ``medium``): Mitsuba's
        surface integrators (``path``, ``direct``, ...) ignore media, so it is accepted and
        ignored there; under a volumetric integrator it is built (``medium.py``) and recorded
        for ``node`` in ``self.links``."""
        if target.category != "medium":
            raise SceneError(f"{owner} cannot contain a nested {target.category}; a "
                             f"{target.category} belongs in a medium", str(link.loc))
        link.used = True
        if self.volumetric is None:
            return
        name = link.name or "medium"
        is_shape = node is not None and node.category == "shape"
        allowed = ("interior", "exterior") if is_shape else ("medium",)
        if node is not None and name not in allowed:
            raise SceneError(f"{owner}: a medium reference must be named "
                             f"{' or '.join(repr(a) for a in allowed)}, got '{name}'",
                             str(link.loc))
        idx = self.medium(target)
        if node is not None:
            self.links.setdefault(id(node), {})[name] = idx

    def spec_for(self, node: Node) -> PluginSpec:
        return spec_for(node)


VOLUMETRIC_INTEGRATORS = ("volpath", "volpathmis", "prbvolpath")


def _volumetric_integrator(root: Node) -> Node | None:
    """The (possibly nested, e.g. in ``moment``) volumetric integrator of the scene, if any."""
    def walk(n: Node) -> Node | None:
        if n.type in VOLUMETRIC_INTEGRATORS:
            return n
        for c in n.children:
            if isinstance(c, Node) and c.category == "integrator":
                found = walk(c)
                if found is not None:
                    return found
        return None

    for c in root.children:
        if isinstance(c, Node) and c.category == "integrator":
            return walk(c)
    return None


def _referenced_ids(root: Node) -> set[str]:
    out: set[str] = set()

    def walk(n: Node):
        for c in n.children:
            if isinstance(c, Ref):
                out.add(c.id)
            else:
                walk(c)

    walk(root)
    return out


def _unsupported_inside(node: Node, ids: dict[str, Node]) -> Node | None:
    """The first plugin at or below ``node`` (following references) that Mitsuba has and
    diffrender lacks."""
    seen: set[int] = set()

    def walk(n: Node) -> Node | None:
        if id(n) in seen:
            return None
        seen.add(id(n))
        if n.category in MEDIA_CATEGORIES or (n.type not in PLUGINS.get(n.category, {}) and
                                              n.type in KNOWN_UNSUPPORTED.get(n.category, ())):
            return n  # a Mitsuba plugin diffrender lacks (not a misspelt one: that is an error)
        for c in n.children:
            t = ids.get(c.id) if isinstance(c, Ref) else c
            if t is not None and (found := walk(t)) is not None:
                return found
        return None

    return walk(node)


def collect_ids(root: Node) -> dict[str, Node]:
    ids: dict[str, Node] = {}

    def walk(n: Node):
        for c in n.children:
            if isinstance(c, Node):
                if c.id is not None:
                    if c.id in ids:
                        raise SceneError(f"duplicate id '{c.id}' (first at {ids[c.id].loc})",
                                         str(c.loc))
                    ids[c.id] = c
                walk(c)

    walk(root)
    return ids


def check_refs(root: Node, ids: dict[str, Node]) -> None:
    def walk(n: Node):
        for c in n.children:
            if isinstance(c, Ref):
                if c.id not in ids:
                    known = ", ".join(sorted(ids)) or "none"
                    raise SceneError(f"reference to unknown id '{c.id}' (known ids: {known})",
                                     str(c.loc))
            else:
                walk(c)

    walk(root)


def build_scene(tree: SceneTree, resolve_file: Callable[[str], str | None]) -> tuple[Scene,
                                                                                      Builder]:
    check_refs(tree.root, tree.ids)
    b = Builder(tree, resolve_file)
    scene = b.scene()
    return scene, b

