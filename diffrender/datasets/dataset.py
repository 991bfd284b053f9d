"""A photo set: one frame per image, each with its camera (intrinsics, distortion, pose), image
file and optional mask file."""
from __future__ import annotations

import copy
import difflib
import os
from dataclasses import dataclass, replace

import numpy as np

from .camera import DISTORTION_NAMES, CameraModel

#: tolerance (pixels) under which fx counts as equal to fy (a Mitsuba fov camera)
INTRINSICS_TOLERANCE_PX = 1e-6


@dataclass
class Frame:
    name: str
    image: str
    camera: CameraModel
    mask: str | None = None

    def sensor(self, template, where: str | None = None):
        """A copy of the scene sensor ``template`` (film, filter, sampler, clip planes) looking
        through this frame's camera: pose, field of view, principal point and distortion."""
        cam = self.camera
        s = copy.deepcopy(template)
        s.id = None
        s.film.width, s.film.height = cam.width, cam.height
        s.film.crop = None
        s.to_world = np.array(cam.to_world, np.float64)
        s.fov = cam.fov_x()
        s.fov_axis = "x"
        if cam.has_distortion or abs(cam.fx - cam.fy) > INTRINSICS_TOLERANCE_PX:
            # pixel intrinsics and distortion: the perspective's diffrender extension
            s.fx, s.fy, s.cx, s.cy = (float(v) for v in (cam.fx, cam.fy, cam.cx, cam.cy))
            for k, v in zip(DISTORTION_NAMES, cam.dist()):
                setattr(s, k, float(v))
            s.principal_point_offset_x = s.principal_point_offset_y = None
        else:  # Mitsuba's own parameters: fov and the principal point offset
            s.fx = s.fy = s.cx = s.cy = None
            ox, oy = cam.principal_point_offset()
            s.principal_point_offset_x, s.principal_point_offset_y = float(ox), float(oy)
        return s


@dataclass
class Dataset:
    source: str
    format: str  # "colmap" | "transforms"
    frames: list
    points: np.ndarray | None = None

    def summary(self) -> list[str]:
        """Lines describing what was found (``diffrender dataset info``)."""
        lines = [f"{self.source}: {self.format}, {len(self.frames)} images"
                 + (f", {len(self.points)} points" if self.points is not None else "")]
        cams = {}
        for f in self.frames:
            c = f.camera
            key = (c.width, c.height, round(c.fx, 3), round(c.fy, 3), round(c.cx, 3),
                   round(c.cy, 3), tuple(np.round(c.dist(), 6)))
            cams.setdefault(key, []).append(f.name)
        for (w, h, fx, fy, cx, cy, dist), names in cams.items():
            d = ", ".join(f"{k}={v:g}" for k, v in zip(("k1", "k2", "k3", "p1", "p2"), dist) if v)
            lines.append(f"  camera {w}x{h} fx={fx:g} fy={fy:g} cx={cx:g} cy={cy:g}"
                         + (f" {d}" if d else "") + f": {len(names)} images")
        centres = np.array([f.camera.to_world[:3, 3] for f in self.frames]) if self.frames else None
        if centres is not None:
            lo, hi = centres.min(axis=0), centres.max(axis=0)
            lines.append(f"  camera centres in [{lo[0]:.3g}, {hi[0]:.3g}] x [{lo[1]:.3g}, "
                         f"{hi[1]:.3g}] x [{lo[2]:.3g}, {hi[2]:.3g}]")
        missing = [f.image for f in self.frames if not os.path.isfile(f.image)]
        masks = sum(1 for f in self.frames if f.mask)
        lines.append(f"  images found: {len(self.frames) - len(missing)} of {len(self.frames)}"
                     + (f" (missing e.g. {missing[0]})" if missing else "")
                     + f"; masks: {masks}")
        return lines
