"""Readers of multi-view photo sets: COLMAP models (text and binary, through ``pycolmap``) and
NeRF-style ``transforms.json`` (Blender synthetic, instant-ngp, nerfstudio).

Each returns a list of :class:`~.dataset.Frame` in the conventions of :mod:`.camera`.
"""
from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

from ..errors import ConfigError
from .camera import OPENCV_TO_MITSUBA, OPENGL_TO_MITSUBA, CameraModel
from .dataset import Frame

# COLMAP camera models we read: name -> names of its parameters (COLMAP's order)
COLMAP_MODELS = {
    "SIMPLE_PINHOLE": ("f", "cx", "cy"),
    "PINHOLE": ("fx", "fy", "cx", "cy"),
    "SIMPLE_RADIAL": ("f", "cx", "cy", "k1"),
    "RADIAL": ("f", "cx", "cy", "k1", "k2"),
    "OPENCV": ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2"),
    "FULL_OPENCV": ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6"),
}
COLMAP_MODEL_FILES = ("cameras", "images")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".exr", ".hdr", ".pfm", ".tif", ".tiff")


def _colmap_camera(cam, where) -> CameraModel:
    model = cam.model.name if hasattr(cam.model, "name") else str(cam.model)
    names = COLMAP_MODELS.get(model)
    if names is None:
        raise ConfigError(f"camera {cam.camera_id}: COLMAP model {model} is not supported "
                          f"(supported: {', '.join(COLMAP_MODELS)}); undistort the images "
                          "first (colmap image_undistorter)", where)
    v = dict(zip(names, (float(x) for x in cam.params)))
    if any(v.get(k, 0.0) != 0.0 for k in ("k4", "k5", "k6")):
        raise ConfigError(f"camera {cam.camera_id}: FULL_OPENCV's rational terms k4-k6 are not "
                          "supported (k1, k2, k3, p1, p2 are)", where)
    fx = v.get("fx", v.get("f"))
    fy = v.get("fy", v.get("f"))
    dist = {k: v[k] for k in ("k1", "k2", "k3", "p1", "p2") if v.get(k, 0.0) != 0.0}
    # COLMAP's image coordinates: the centre of the top-left pixel is (0.5, 0.5), as ours
    return CameraModel(int(cam.width), int(cam.height), fx, fy, v["cx"], v["cy"],
                       distortion=dist)


def _find_model_dir(path: str) -> str:
    """``path`` itself, or its ``sparse/0`` / ``sparse`` / ``0`` subfolder, holding a model."""
    for sub in ("", os.path.join("sparse", "0"), "sparse", "0"):
        d = os.path.join(path, sub)
        for ext in (".bin", ".txt"):
            if all(os.path.isfile(os.path.join(d, n + ext)) for n in COLMAP_MODEL_FILES):
                return d
    raise ConfigError("no COLMAP model here (expected cameras.bin/images.bin or cameras.txt/"
                      "images.txt, or a sparse/0 folder holding them)", path)


def read_colmap(path: str, images_dir: str | None = None, masks_dir: str | None = None):
    """Frames of a COLMAP model folder (text or binary). Image files are looked up in
    ``images_dir`` (default: an ``images`` folder next to ``sparse``, or beside the model)."""
    try:
        import pycolmap
    except ImportError as exc:  # optional dependency
        raise ConfigError("reading COLMAP models needs pycolmap: pip install "
                          "'diffrender[photos]'", path) from exc
    model_dir = _find_model_dir(path)
    try:
        rec = pycolmap.Reconstruction(model_dir)
    except Exception as exc:  # noqa: BLE001 - pycolmap raises plain RuntimeErrors
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"could not read the COLMAP model: {msg}", model_dir) from None
    if images_dir is None:
        for cand in (os.path.join(path, "images"), os.path.join(model_dir, "images"),
                     os.path.join(os.path.dirname(os.path.dirname(model_dir)), "images")):
            if os.path.isdir(cand):
                images_dir = cand
                break
        else:
            images_dir = path
    frames = []
    for image_id in sorted(rec.images):
        img = rec.images[image_id]
        if hasattr(img, "has_pose") and not img.has_pose:
            continue  # registered images only
        cam = _colmap_camera(rec.cameras[img.camera_id], model_dir)
        m = np.eye(4)
        m[:3, :] = np.asarray(img.cam_from_world().matrix() if callable(img.cam_from_world)
                              else img.cam_from_world.matrix(), np.float64)
        cam.to_world = np.linalg.inv(m) @ OPENCV_TO_MITSUBA
        frames.append(Frame(name=img.name, image=os.path.join(images_dir, img.name), camera=cam,
                            mask=_mask_for(masks_dir, img.name)))
    points = None
    if rec.num_points3D():
        points = np.array([p.xyz for p in rec.points3D.values()], np.float64)
    return frames, points


def _mask_for(masks_dir, name):
    if not masks_dir:
        return None
    stem = os.path.splitext(name)[0]
    for cand in (name, name + ".png", stem + ".png"):
        p = os.path.join(masks_dir, cand)
        if os.path.isfile(p):
            return p
    return None


def _resolve_image(base: str, file_path: str) -> str:
    p = os.path.normpath(os.path.join(base, file_path))
    if os.path.splitext(p)[1].lower() in IMAGE_EXTENSIONS or os.path.isfile(p):
        return p
    for ext in (".png", ".jpg", ".jpeg", ".exr"):  # Blender synthetic omits the extension
        if os.path.isfile(p + ext):
            return p + ext
    return p + ".png"


def _image_size(path: str, where: str) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise ConfigError(f"image {path} does not exist (needed for its size: the file gives "
                          "no w/h)", where) from None
    except OSError as exc:
        raise ConfigError(f"image {path} cannot be read: {exc}", where) from None


def _number(d: dict, key: str, where: str, default=None):
    if key not in d:
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise ConfigError(f"{key}: expected a finite number, got {v!r}", where)
    return float(v)


def read_transforms(path: str, masks_dir: str | None = None):
    """Frames of a NeRF-style ``transforms.json`` (``path`` is the file or its folder).

    Intrinsics: ``fl_x, fl_y, cx, cy, w, h`` (instant-ngp, nerfstudio; ``fl_y`` defaults to
    ``fl_x``, ``cx, cy`` to the centre), or ``camera_angle_x`` (+ optional ``camera_angle_y``;
    Blender synthetic), with distortion ``k1, k2, k3, p1, p2``; every key may be overridden per
    frame. ``transform_matrix`` is camera-to-world with OpenGL camera axes."""
    if os.path.isdir(path):
        path = os.path.join(path, "transforms.json")
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError("file does not exist", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"not valid JSON: {exc}", path) from None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise ConfigError("expected an object with a 'frames' list", path)
    model = data.get("camera_model", "OPENCV")
    if model not in ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE"):
        raise ConfigError(f"camera_model {model!r} is not supported (OPENCV, PINHOLE)", path)
    frames = []
    for i, fr in enumerate(data["frames"]):
        where = f"{path}: frames[{i}]"
        if not isinstance(fr, dict) or "file_path" not in fr or "transform_matrix" not in fr:
            raise ConfigError("expected file_path and transform_matrix", where)
        c = dict(data)
        c.update(fr)
        image = _resolve_image(base, str(fr["file_path"]))
        w, h = _number(c, "w", where), _number(c, "h", where)
        if w is None or h is None:
            w, h = _image_size(image, where)
        w, h = int(w), int(h)
        fx = _number(c, "fl_x", where)
        if fx is None:
            ax = _number(c, "camera_angle_x", where)
            if ax is None:
                raise ConfigError("no focal length: expected fl_x or camera_angle_x", where)
            fx = 0.5 * w / np.tan(0.5 * ax)
        fy = _number(c, "fl_y", where)
        if fy is None:
            ay = _number(c, "camera_angle_y", where)
            fy = 0.5 * h / np.tan(0.5 * ay) if ay is not None and "fl_x" not in c else fx
        cx = _number(c, "cx", where, 0.5 * w)
        cy = _number(c, "cy", where, 0.5 * h)
        dist = {k: _number(c, k, where) for k in ("k1", "k2", "k3", "p1", "p2")
                if _number(c, k, where, 0.0) != 0.0}
        m = np.asarray(fr["transform_matrix"], np.float64)
        if m.shape == (3, 4):
            m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
        if m.shape != (4, 4) or not np.all(np.isfinite(m)):
            raise ConfigError("transform_matrix: expected a finite 4x4 (or 3x4) matrix", where)
        cam = CameraModel(w, h, fx, fy, cx, cy, to_world=m @ OPENGL_TO_MITSUBA, distortion=dist)
        mask = fr.get("mask_path")
        mask = os.path.normpath(os.path.join(base, mask)) if mask else _mask_for(
            masks_dir, os.path.basename(image))
        frames.append(Frame(name=str(fr["file_path"]), image=image, camera=cam, mask=mask))
    return frames, None
