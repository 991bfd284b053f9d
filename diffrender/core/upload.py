"""The scene upload: from the scene model to the rows of the device tables, and back again
when parameters change.

:class:`SceneUpload` reads a :class:`~diffrender.scene.model.Scene` (it never writes into it)
and produces what the components are built from: the texture slots (every colour parameter of
every BSDF and emitter), the BSDF rows (through :class:`~diffrender.core.bsdfs.RowBuilder`),
the emitter rows, the per-shape BSDF / emitter indices, and the pool key of the device set
(:mod:`diffrender.core.pool`). :meth:`SceneUpload.build` makes the components in a device set;
:meth:`SceneUpload.react` hands each changed parameter to the component that owns it.
"""
from __future__ import annotations

import numpy as np

from .. import engine
from ..errors import SceneError
from ..scene.elements import SENSOR_SCALARS
from ..scene.model import BSDF, Texture
from .bsdfs import BSDFTable, RowBuilder, field_kinds
from .camera import Camera
from .emitters import TYPES as EMITTER_TYPES
from .emitters import EmitterTable
from .film import Film, film_class
from .geometry import Geometry, capacity_class
from .integrators import Integrator
from .media import MediumTable, uses_media
from .mesh_attribute import check_shape
from .textures import TextureTable
from .pool import make

SAMPLE_BUFFER_BYTES = 8 * 2 ** 20  # per-pass sample buffer budget (colour + positions), CPU
GPU_SAMPLE_BUFFER_BYTES = 32 * 2 ** 20  # the same on a GPU (more samples per launch)
SAMPLE_RECORD_BYTES = 52  # bytes per sample of the film's buffers (colour, position, AOVs)
FILM_MARGIN = 8  # pixels around the film that the sample buffers cover (filter support)
MAX_SAMPLES_PER_PASS = 64

#: parameter kinds that move a shape (vertices, or the object-to-world transform)
GEOMETRY_KINDS = ("vertex_positions", "to_world")
#: parameter kinds of a sensor
CAMERA_KINDS = ("to_world", *SENSOR_SCALARS)
#: the parameter kind of a point light's position
LIGHT_POSITION = "position"
#: the parameter kind of a shape's mesh attribute (``<shape>.vertex_color``)
MESH_ATTRIBUTE = "mesh_attribute"


def where_in(scene, what):
    """``<scene file>: <what>`` for error messages."""
    src = scene.source or "<scene>"
    return f"{src}: {what}"


class SceneUpload:
    """The device-table rows of ``scene`` as seen from ``sensor`` (validated), and the key of
    the device set that can hold them."""

    def __init__(self, scene, sensor, max_leaf: int = 4):
        self.scene = scene
        self.sensor = sensor
        self.max_leaf = int(max_leaf)
        # Texture slots: every colour parameter of every BSDF / emitter.
        self.slots: list[tuple[Texture, str]] = []
        self.slot_of: dict[int, int] = {}
        self.bsdf_slots: set[int] = set()  # the slots read by a BSDF (coats depend on them)
        self.shaders: list = []
        self._rows(scene)
        self.cap = self._pass_capacity()
        self.key = self._key()

    # --- rows ------------------------------------------------------------------------------

    def slot(self, tex, where) -> int:
        """The slot of ``tex`` (a Texture, or a value made a constant texture)."""
        if not isinstance(tex, Texture):
            tex = Texture.constant(tex)
        if tex.type == "shader":  # its parameters first: constant slots it reads
            for n, t in tex.extra["holder"].params.items():
                self.slot(t, f"{where} {n}")
        if id(tex) not in self.slot_of:
            self.slot_of[id(tex)] = len(self.slots)
            self.slots.append((tex, where))
        return self.slot_of[id(tex)]

    def _bsdf_slot(self, tex, where) -> int:
        s = self.slot(tex, where)
        self.bsdf_slots.add(s)
        return s

    def _rows(self, scene):
        rows = RowBuilder(self._bsdf_slot, self.shaders)
        shape_bsdf, shape_emitter = [], []
        emitter_rows = []
        for i, sh in enumerate(scene.shapes):
            where = where_in(scene, f"shape '{sh.id or i}'")
            b = sh.bsdf if sh.bsdf is not None else BSDF()
            BSDFTable.check(b, where + " bsdf")
            shape_bsdf.append(rows.add(b, where + " bsdf"))
            shape_emitter.append(-1)
            faces = np.asarray(sh.faces)
            if faces.ndim != 2 or faces.shape[1] != 3:
                raise SceneError(f"faces must be an (M, 3) array, got shape {faces.shape}", where)
            nv = np.asarray(sh.vertices).reshape(-1, 3).shape[0]
            if faces.size and (faces.min() < 0 or faces.max() >= nv):
                raise SceneError(f"face indices must be in [0, {nv}), got "
                                 f"[{faces.min()}, {faces.max()}]", where)
        self.emitter_index = {}
        for j, em in enumerate(scene.emitters):
            where = where_in(scene, f"emitter '{em.id or j}'")
            if em.type not in EMITTER_TYPES:
                raise SceneError(f"emitter '{em.type}' is not supported by the renderer yet "
                                 f"(supported: {', '.join(EMITTER_TYPES)})", where)
            if em.type == "area":
                if em.shape is None or not 0 <= em.shape < len(scene.shapes):
                    raise SceneError("area emitter is not attached to a shape", where)
                rad = em.params.get("radiance", Texture.constant(1.0))
                shape_emitter[em.shape] = len(emitter_rows)
                emitter_rows.append(dict(type="area", slot=self.slot(rad, where + " radiance"),
                                         shape=em.shape, where=where))
            else:
                emitter_rows.append(self.emitter_row(em, self.slot, where))
            self.emitter_index[id(em)] = len(emitter_rows) - 1
        # Shapes whose emitter is set on the shape but not listed in scene.emitters.
        for i, sh in enumerate(scene.shapes):
            if sh.emitter is not None and shape_emitter[i] < 0 and id(sh.emitter) not in self.emitter_index:
                where = where_in(scene, f"shape '{sh.id or i}' emitter")
                rad = sh.emitter.params.get("radiance", Texture.constant(1.0))
                shape_emitter[i] = len(emitter_rows)
                self.emitter_index[id(sh.emitter)] = len(emitter_rows)
                emitter_rows.append(dict(type="area", slot=self.slot(rad, where + " radiance"),
                                         shape=i, where=where))
        self.bsdf_rows = rows.rows
        self.shape_bsdf, self.shape_emitter = shape_bsdf, shape_emitter
        self.emitter_rows = emitter_rows
        self._check_mesh_attributes(scene)

    def _check_mesh_attributes(self, scene):
        """Every ``mesh_attribute`` a shape's BSDF reads names an attribute of that shape (1 or
        3 channels; 1 where it is read as a float); emitters do not read them."""
        for r in self.emitter_rows:
            for key in ("slot", "scale_slot"):
                s = r.get(key, -1)
                if 0 <= s < len(self.slots) and self.slots[s][0].type == "mesh_attribute":
                    raise SceneError("a mesh_attribute texture as an emitter's radiance is not "
                                     "supported yet (BSDF parameters only)", r["where"])
        if not any(t.type == "mesh_attribute" for t, _ in self.slots):
            return
        for i, sh in enumerate(scene.shapes):
            check_shape(sh, sh.id or f"shape_{i}", where_in(scene, f"shape '{sh.id or i}' bsdf"))

    @staticmethod
    def emitter_row(em, slot, where):
        """Table row of a non-area emitter."""
        m = np.asarray(em.to_world, np.float64)
        rot = m[:3, :3] / np.maximum(np.linalg.norm(m[:3, :3], axis=0, keepdims=True), 1e-30)

        def const(name, default=1.0):
            t = em.params.get(name, Texture.constant(default))
            if isinstance(t, Texture) and t.type != "constant":
                raise SceneError(f"{em.type} light {name} must be a constant colour", where)
            return slot(t, f"{where} {name}")

        if em.type == "point":
            pos = em.position if em.position is not None else m[:3, 3]
            return dict(type="point", slot=const("intensity"), position=pos, shape=-1,
                        where=where)
        if em.type == "spot":
            cut = float(em.params.get("cutoff_angle", 20.0))
            beam = float(em.params.get("beam_width", cut * 0.75))
            if not 0 < cut <= 180 or not 0 <= beam <= cut:
                raise SceneError(f"spot light needs 0 < beam_width <= cutoff_angle <= 180 "
                                 f"degrees, got beam_width={beam}, cutoff_angle={cut}", where)
            tex = em.params.get("texture")  # projected texture: the row's scale slot
            return dict(type="spot", slot=const("intensity"), position=m[:3, 3], rotation=rot,
                        cutoff=np.radians(cut), beam=np.radians(beam), shape=-1, where=where,
                        **({} if tex is None else {"scale_slot": slot(tex, f"{where} texture")}))
        if em.type == "projector":
            irr = em.params["irradiance"]
            return dict(type="projector", slot=slot(irr, f"{where} irradiance"),
                        scale_slot=slot(em.params["scale"], f"{where} scale"),
                        position=m[:3, 3], rotation=rot, tan_half=em.params["tan_half"],
                        shape=-1, where=where)
        if em.type == "directional":
            return dict(type="directional", slot=const("irradiance"), rotation=rot, shape=-1,
                        where=where)
        if em.type == "constant":
            return dict(type="constant", slot=const("radiance"), shape=-1, where=where)
        if em.type == "envmap":
            tex = em.params.get("radiance")
            if not isinstance(tex, Texture) or tex.type != "bitmap":
                raise SceneError("envmap needs an image (its 'radiance' bitmap)", where)
            sc = em.params.get("scale") or Texture.constant(np.ones(1, np.float32))
            return dict(type="envmap", slot=slot(tex, f"{where} radiance"),
                        scale_slot=slot(sc, f"{where} scale"), rotation=rot, shape=-1,
                        texture=tex, size=tex.data.shape[:2], where=where)
        raise SceneError(f"emitter '{em.type}' is not supported by the renderer", where)

    # --- the device set's key ----------------------------------------------------------------

    def film_size(self):
        film = self.sensor.film
        w = film.crop[2] if film.crop else film.width
        h = film.crop[3] if film.crop else film.height
        return w, h

    def film_class(self):
        """The field extents of the film (its size class: films of one class share kernels)."""
        w, h = self.film_size()
        return film_class(w), film_class(h)

    def _pass_capacity(self) -> int:
        """Samples per pixel of one pass (the film's sample buffers fit the byte budget)."""
        w, h = self.film_class()
        per_spp = (w + FILM_MARGIN) * (h + FILM_MARGIN) * SAMPLE_RECORD_BYTES
        budget = GPU_SAMPLE_BUFFER_BYTES if engine.on_gpu() else SAMPLE_BUFFER_BYTES
        return max(1, min(MAX_SAMPLES_PER_PASS, budget // max(1, per_spp)))

    def _types_of(self, slots):
        """The texture kinds compiled into the lookups of ``slots`` (as type names)."""
        return tuple(sorted({self.slots[s][0].type for s in slots if 0 <= s < len(self.slots)}))

    def _key(self):
        """Field sizes and the kernels' static configuration: two scenes with the same key can
        share a device set (same fields, same compiled kernels)."""
        scene, film = self.scene, self.sensor.film
        bsdf_rows, emitter_rows = self.bsdf_rows, self.emitter_rows
        n_tris = sum(int(np.asarray(sh.faces).reshape(-1, 3).shape[0]) for sh in scene.shapes)
        n_verts = sum(int(np.asarray(sh.vertices).reshape(-1, 3).shape[0]) for sh in scene.shapes)
        em_tris = sum(int(np.asarray(scene.shapes[r["shape"]].faces).reshape(-1, 3).shape[0])
                      for r in emitter_rows if r["type"] == "area")
        rf = film.rfilter
        types_of = self._types_of
        kinds = (types_of(range(len(self.slots))),
                 tuple(sorted(field_kinds(bsdf_rows, types_of).items())),
                 types_of([r["slot"] for r in emitter_rows]),
                 types_of([r.get("scale_slot", -1) for r in emitter_rows]),
                 tuple(sorted({bsdf_rows[r["comp1"]]["type"] for r in bsdf_rows
                               if r["kind"] == 1 and r["comp1"] >= 0})))
        attrs = sorted({(i, t.extra["name"]) for t, _ in self.slots if t.type == "mesh_attribute"
                        for i, sh in enumerate(scene.shapes) if t.extra["name"] in sh.attributes})
        mesh_attr = (n_tris, sum(len(scene.shapes[i].attributes[n]) for i, n in attrs)) \
            if any(t.type == "mesh_attribute" for t, _ in self.slots) else None
        return (len(self.slots),
                tuple(np.shape(t.data)[:2] for t, _ in self.slots if t.type == "bitmap"),
                mesh_attr,
                len(bsdf_rows), len(emitter_rows), em_tris, capacity_class(n_tris),
                capacity_class(n_verts), capacity_class(len(scene.shapes)), self.max_leaf,
                self.film_class(),
                bool(film.sample_border), rf.type, getattr(rf, "radius", None),
                getattr(rf, "stddev", None), self.cap,
                # the kernels' static configuration (types compiled in, shaders, environment)
                tuple(sorted({(r["type"], r["kind"], r.get("pert", 0)) for r in bsdf_rows})),
                tuple(id(sh) for sh in self.shaders),
                tuple(id(t.extra["shader"]) for t, _ in self.slots if t.type == "shader"),
                tuple(r["type"] for r in emitter_rows),
                tuple(tuple(r["size"]) for r in emitter_rows if r["type"] == "envmap"), kinds,
                # participating media: tracked or not, how many, the phase functions
                (len(scene.media), len(scene.shapes), tuple(sorted({m.phase for m in scene.media})),
                 tuple(sorted({m.type for m in scene.media})),
                 tuple(np.shape(v.data) for m in scene.media
                       for v in (m.volume_sigma_t, m.volume_albedo)
                       if v is not None and v.type == "gridvolume"))
                if uses_media(scene) else None)

    # --- components ----------------------------------------------------------------------

    def build(self, dset) -> dict:
        """The components, made in (or recycled from) the device set ``dset``."""
        scene = self.scene
        c = {}
        c["textures"] = make(dset, "textures", TextureTable, self.slots, scene.shapes)
        c["geometry"] = make(dset, "geometry", Geometry, scene.shapes, self.shape_bsdf,
                             self.shape_emitter, self.max_leaf)
        c["bsdfs"] = make(dset, "bsdfs", BSDFTable, c["textures"], self.bsdf_rows, self.shaders)
        c["emitters"] = make(dset, "emitters", EmitterTable, c["geometry"], c["textures"],
                             self.emitter_rows)
        c["camera"] = make(dset, "camera", Camera, self.sensor, where_in(scene, "sensor"))
        c["film"] = make(dset, "film", Film, self.sensor, self.cap, where_in(scene, "film"))
        c["media"] = make(dset, "media", MediumTable, scene, self.sensor)
        c["integrator"] = make(dset, "integrator", Integrator, c["geometry"], c["bsdfs"],
                               c["emitters"], c["camera"], c["media"])
        return c

    # --- parameter changes -----------------------------------------------------------------

    def react(self, r, changed) -> None:
        """Upload the parameters ``changed`` (names) to the components of the Renderer ``r``:
        each change goes to the component that owns it, and each component redoes only its own
        derived data (BVH refit and emitter areas for geometry, the envmap's CDF for its
        radiance, roughplastic coats for BSDF textures)."""
        scene = self.scene
        pmap = scene.parameters()
        geometry_changed = env_changed = bsdf_changed = False
        for name in changed:
            p = pmap.info(name)
            owner, kind = p.owner, p.kind
            if kind in GEOMETRY_KINDS and any(owner is s for s in scene.shapes):
                if kind == "to_world":
                    apply_shape_to_world(owner)
                geometry_changed = True
            elif kind in CAMERA_KINDS and any(owner is s for s in scene.sensors):
                if owner is self.sensor:
                    r.camera.update(self.sensor)
            elif kind == LIGHT_POSITION:
                r.emitters.set_position(self.emitter_index[id(owner)], owner.position)
            elif kind == MESH_ATTRIBUTE:
                r.textures.mesh.upload(owner, p.key)
            else:
                tex = owner.params.get(p.key) if hasattr(owner, "params") else None
                if not (isinstance(tex, Texture) and id(tex) in self.slot_of):
                    raise SceneError(f"parameter '{name}' cannot be updated by the renderer")
                slot = self.slot_of[id(tex)]
                r.textures.upload(slot)
                if getattr(owner, "type", None) == "envmap" and p.key == "radiance":
                    env_changed = True
                bsdf_changed |= slot in self.bsdf_slots
        if geometry_changed:
            r.geometry.refit_vertices(scene.shapes)
            r.emitters.update_areas()
        if env_changed:
            r.emitters.update_env()
        if bsdf_changed:
            r.bsdfs.update_coats()  # roughplastic: re-tabulate the coat at a new alpha / eta


def apply_shape_to_world(shape):
    """Re-derive a shape's world-space vertices and normals from its object-space ones."""
    if shape.local_vertices is None:
        raise SceneError(f"shape '{shape.id}': to_world changed but the shape has no "
                         "object-space vertices")
    m = np.asarray(shape.to_world, np.float64)
    lv = np.asarray(shape.local_vertices, np.float64)
    shape.vertices = lv @ m[:3, :3].T + m[:3, 3]
    if shape.local_normals is not None:
        n = np.asarray(shape.local_normals, np.float64) @ np.linalg.inv(m[:3, :3])
        shape.normals = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)


__all__ = ["SceneUpload", "apply_shape_to_world", "where_in", "SAMPLE_BUFFER_BYTES"]
