"""Sensors, films, reconstruction filters and samplers: their specs and builders."""
from __future__ import annotations

import numpy as np

from ...core.camera import ortho_frame
from ...errors import SceneError
from ..model import Film, ReconstructionFilter, Sampler, Sensor
from ..spec import Param, PluginSpec
from ..tree import Node
from .reader import Reader

def _sampler(type_, extra=None, maps_to="independent"):
    p = {"sample_count": Param("integer", 4, "samples per pixel"),
         "seed": Param("integer", 0, "seed of the random number generator")}
    p.update(extra or {})
    return PluginSpec("sampler", type_, p, (), f"{type_} sampler", maps_to)


def _camera_params(extra, diff=True):
    note = "" if diff else " (not differentiable with this sensor)"
    p = {"fov": Param("float", None, "field of view in degrees along fov_axis" + note, diff=diff,
                      discontinuous=diff),
         "focal_length": Param("string", "50mm", "35mm-equivalent focal length, used when no fov"),
         "fov_axis": Param("string", "x", "", ("x", "y", "diagonal", "smaller", "larger")),
         "near_clip": Param("float", 0.01, ""), "far_clip": Param("float", 10000.0, ""),
         "to_world": Param("transform", None, "camera-to-world (no scaling)" + note, diff=diff,
                           discontinuous=diff)}
    p.update(extra)
    return p


#: the diffrender extension of ``perspective``: pixel intrinsics and Brown–Conrady distortion
INTRINSIC_PARAMS = {
    "fx": Param("float", None, "diffrender extension: focal length in pixels (x); with fy, cx, "
                "cy it replaces fov and the offsets", diff=True, discontinuous=True),
    "fy": Param("float", None, "diffrender extension: focal length in pixels (y)", diff=True,
                discontinuous=True),
    "cx": Param("float", None, "diffrender extension: principal point x in pixels (0 = left "
                "edge)", diff=True, discontinuous=True),
    "cy": Param("float", None, "diffrender extension: principal point y in pixels (0 = top "
                "edge)", diff=True, discontinuous=True),
    **{k: Param("float", 0.0, f"diffrender extension: Brown–Conrady {k} (OpenCV's)", diff=True,
                discontinuous=True) for k in ("k1", "k2", "k3", "p1", "p2")}}

SPECS = (
    PluginSpec("sensor", "perspective", _camera_params({
        "principal_point_offset_x": Param("float", 0.0, "principal point shift, fraction of the "
                                          "width (+: the view moves left)", diff=True,
                                          discontinuous=True),
        "principal_point_offset_y": Param("float", 0.0, "principal point shift, fraction of the "
                                          "height (+: the view moves up)", diff=True,
                                          discontinuous=True),
        "focus_distance": Param("float", 10000.0, "read and ignored, as in Mitsuba"),
        **INTRINSIC_PARAMS}),
        ("film", "sampler"), "pinhole camera"),
    PluginSpec("sensor", "thinlens", _camera_params({
        "aperture_radius": Param("float", None, "radius of the lens aperture (required)"),
        "focus_distance": Param("float", 10000.0, "distance of the plane in focus")}, diff=False),
        ("film", "sampler"), "thin-lens camera (defocus blur)"),
    PluginSpec("sensor", "orthographic", {
        "near_clip": Param("float", 0.01, ""), "far_clip": Param("float", 10000.0, ""),
        "to_world": Param("transform", None, "camera-to-world; its scaling sets the extent (the "
                          "film spans x in [-sx, sx], y in [-sy H/W, sy H/W]); not "
                          "differentiable with this sensor")},
        ("film", "sampler"), "orthographic camera (parallel rays)"),
    PluginSpec("film", "hdrfilm", {
        "width": Param("integer", 768, ""), "height": Param("integer", 576, ""),
        "file_format": Param("string", "openexr", "", ("openexr", "exr", "rgbe", "pfm")),
        "pixel_format": Param("string", "rgb", "", ("rgb", "rgba", "luminance",
                                                    "luminance_alpha", "xyz", "xyza")),
        "component_format": Param("string", "float16", "", ("float16", "float32", "uint32")),
        "sample_border": Param("boolean", False, ""),
        "crop_offset_x": Param("integer", 0, ""), "crop_offset_y": Param("integer", 0, ""),
        "crop_width": Param("integer", None, "(width)"),
        "crop_height": Param("integer", None, "(height)")},
        ("rfilter",), "HDR film"),
    PluginSpec("rfilter", "box", {}, (), "box filter, radius 0.5 px"),
    PluginSpec("rfilter", "tent", {"radius": Param("float", 1.0, "radius in pixels")}, (),
               "tent filter"),
    PluginSpec("rfilter", "gaussian", {"stddev": Param("float", 0.5, "standard deviation in "
                                                                      "pixels; radius 4*stddev")},
               (), "Gaussian filter"),
    _sampler("independent", maps_to=None),
    _sampler("stratified", {"jitter": Param("boolean", True, "")}),
    _sampler("multijitter", {"jitter": Param("boolean", True, "")}),
    _sampler("orthogonal", {"jitter": Param("boolean", True, ""),
                            "strength": Param("integer", 2, "")}),
    _sampler("ldsampler"),
)


class SensorBuilder:
    """Builder methods for sensors and their film / filter / sampler."""

    def sensor(self, node: Node) -> Sensor:
        r = Reader(self, node)
        film_node = r.child("film")
        film = self.film(film_node) if film_node is not None else Film(
            component_format="float16")  # Mitsuba's hdrfilm default
        sampler_node = r.child("sampler")
        sampler = self.sampler(sampler_node) if sampler_node is not None else Sampler()
        if node.type == "orthographic":
            return self._orthographic(r, node, film, sampler)
        if r.has("fov") and r.has("focal_length"):
            raise r.error("give either 'fov' or 'focal_length', not both", "focal_length")
        if r.has("fov"):
            fov = r.get("fov")
            axis = r.get("fov_axis")
        else:
            if r.has("fov_axis"):
                r.get("fov_axis")  # ignored by Mitsuba with a focal length: accept it
            fl = r.get("focal_length")
            s = fl.strip()
            s = s[:-2] if s.endswith("mm") else s
            try:
                f = float(s)
                if not f > 0:
                    raise ValueError
            except ValueError:
                raise r.error(f"could not parse focal_length \"{fl}\" (expected e.g. \"50mm\")",
                              "focal_length") from None
            fov = float(np.degrees(2.0 * np.arctan(np.sqrt(36.0 ** 2 + 24.0 ** 2) / (2.0 * f))))
            axis = "diagonal"
        near, far = r.get("near_clip"), r.get("far_clip")
        if not 0 < near < far:
            raise r.error(f"need 0 < near_clip < far_clip, got near_clip={near}, "
                          f"far_clip={far}", "near_clip" if r.has("near_clip") else "far_clip")
        m = r.get("to_world")
        m = np.eye(4) if m is None else m
        self._check_transform(m, r, "to_world")
        norms = np.linalg.norm(m[:3, :3], axis=0)
        if np.any(np.abs(norms - 1.0) > 1e-3):
            raise r.error("sensor to_world must not contain scaling (column lengths "
                          f"{np.round(norms, 4).tolist()})", "to_world")
        extra = self._camera_extra(r, node.type)
        r.finish()
        sensor = Sensor(type=node.type, to_world=m, fov=float(fov), fov_axis=axis,
                        near_clip=near, far_clip=far, film=film, sampler=sampler, id=node.id,
                        **extra)
        fx = sensor.fov_x()
        if not 0.0 < fx < 180.0 or not np.isfinite(fx):
            raise r.error(f"the horizontal field of view must be in (0, 180) degrees, got {fx:g}",
                          "fov" if r.has("fov") else ("fx" if r.has("fx") else None))
        self.origin[id(sensor)] = node
        return sensor

    def _orthographic(self, r: Reader, node: Node, film: Film, sampler: Sampler) -> Sensor:
        near, far = r.get("near_clip"), r.get("far_clip")
        if not 0 < near < far:
            raise r.error(f"need 0 < near_clip < far_clip, got near_clip={near}, "
                          f"far_clip={far}", "near_clip" if r.has("near_clip") else "far_clip")
        m = r.get("to_world")
        m = np.eye(4) if m is None else m
        self._check_transform(m, r, "to_world")
        try:
            ortho_frame(m[:3, :3])
        except SceneError as e:
            raise r.error(str(e), "to_world") from None
        r.finish()
        sensor = Sensor(type="orthographic", to_world=m, near_clip=near, far_clip=far, film=film,
                        sampler=sampler, id=node.id)
        self.origin[id(sensor)] = node
        return sensor

    def _camera_extra(self, r: Reader, type_: str) -> dict:
        """The Sensor fields of a thinlens / perspective beyond the pinhole's fov."""
        if type_ == "thinlens":
            if not r.has("aperture_radius"):
                raise r.error("thinlens needs 'aperture_radius'")
            ar, fd = r.get("aperture_radius"), r.get("focus_distance")
            if not ar >= 0:
                raise r.error(f"aperture_radius must be >= 0, got {ar}", "aperture_radius")
            if not fd > 0:
                raise r.error(f"focus_distance must be positive, got {fd}", "focus_distance")
            return dict(aperture_radius=float(ar), focus_distance=float(fd))
        out = {}
        r.get("focus_distance")  # read and ignored by Mitsuba's perspective
        for k in ("principal_point_offset_x", "principal_point_offset_y"):
            if r.has(k):
                out[k] = float(r.get(k))
        given = [k for k in ("fx", "fy", "cx", "cy") if r.has(k)]
        dist = [k for k in ("k1", "k2", "k3", "p1", "p2") if r.has(k)]
        if given or dist:
            if len(given) < 4:
                missing = [k for k in ("fx", "fy", "cx", "cy") if k not in given]
                raise r.error("the intrinsics extension needs all of fx, fy, cx, cy (missing "
                              f"{', '.join(missing)})", (given + dist)[0])
            for k in ("fov", "focal_length", "principal_point_offset_x",
                      "principal_point_offset_y"):
                if r.has(k):
                    raise r.error(f"give either '{k}' or the pixel intrinsics fx, fy, cx, cy, "
                                  "not both", k)
            for k in given + dist:
                out[k] = float(r.get(k))
            for k in ("fx", "fy"):
                if not out[k] > 0:
                    raise r.error(f"{k} must be positive, got {out[k]:g}", k)
        return out

    def film(self, node: Node) -> Film:
        r = Reader(self, node)
        w, h = r.get("width"), r.get("height")
        for nm, v in (("width", w), ("height", h)):
            if v <= 0:
                raise r.error(f"film {nm} must be positive, got {v}", nm)
        rf_node = r.child("rfilter")
        rf = self.rfilter(rf_node) if rf_node is not None else ReconstructionFilter()
        crop = None
        if any(r.has(k) for k in ("crop_offset_x", "crop_offset_y", "crop_width",
                                  "crop_height")):
            ox, oy = r.get("crop_offset_x"), r.get("crop_offset_y")
            cw = r.get("crop_width")
            ch = r.get("crop_height")
            cw = w if cw is None else cw
            ch = h if ch is None else ch
            if ox < 0 or oy < 0 or cw <= 0 or ch <= 0 or ox + cw > w or oy + ch > h:
                raise r.error(f"crop window ({ox}, {oy}, {cw}, {ch}) does not fit in the "
                              f"{w}x{h} film")
            crop = (ox, oy, cw, ch)
        film = Film(width=w, height=h, rfilter=rf, pixel_format=r.get("pixel_format"),
                    component_format=r.get("component_format"),
                    sample_border=r.get("sample_border"), crop=crop, id=node.id,
                    file_format=r.get("file_format"))
        r.finish()
        return film

    def rfilter(self, node: Node) -> ReconstructionFilter:
        r = Reader(self, node)
        if node.type == "box":
            out = ReconstructionFilter("box", radius=0.5, stddev=0.5)
        elif node.type == "tent":
            rad = r.get("radius")
            if not rad > 0:
                raise r.error(f"tent radius must be positive, got {rad}", "radius")
            out = ReconstructionFilter("tent", radius=rad, stddev=0.5)
        else:
            sd = r.get("stddev")
            if not sd > 0:
                raise r.error(f"gaussian stddev must be positive, got {sd}", "stddev")
            out = ReconstructionFilter("gaussian", radius=4.0 * sd, stddev=sd)
        r.finish()
        return out

    def sampler(self, node: Node) -> Sampler:
        r = Reader(self, node)
        n = r.get("sample_count")
        if n <= 0:
            raise r.error(f"sampler '{node.type}': sample_count must be a positive integer, "
                          f"got {n}", "sample_count")
        seed = r.get("seed")
        for extra in ("jitter", "strength"):
            if extra in r.spec.params:
                r.get(extra)
        r.finish()
        return Sampler("independent", n, seed)

