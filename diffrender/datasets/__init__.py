"""Photo sets as optimization targets: COLMAP models and NeRF-style ``transforms.json``, read
into frames (camera + image + mask) in Mitsuba's conventions. See ``docs/photos.md``."""
from __future__ import annotations

import difflib
import os
from dataclasses import replace

import numpy as np

from ..errors import ConfigError
from .camera import CameraModel, focal_from_exif, look_at
from .dataset import Dataset, Frame
from .formats import read_colmap, read_transforms


def load_dataset(path, subset=None, downscale: float = 1.0, masks: str | None = None,
                 images: str | None = None) -> Dataset:
    """Read a photo set: a COLMAP model folder (``cameras``/``images``[/``points3D``] as .txt or
    .bin, or a folder with ``sparse/0``) or a NeRF-style ``transforms.json`` (file or folder).

    ``subset``: a list of image names or indices, or ``"every:K"`` (every K-th image);
    ``downscale``: cameras for images resized by ``1 / downscale`` (the images are resampled
    when they are read as targets); ``masks``: folder of mask images (same names, or name +
    ``.png``); ``images``: folder of the images (COLMAP; default ``images`` beside the model)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError("dataset path does not exist", path)
    is_json = path.endswith(".json") or (os.path.isdir(path)
                                         and os.path.isfile(os.path.join(path, "transforms.json")))
    if is_json:
        frames, points = read_transforms(path, masks_dir=masks)
        fmt = "transforms"
    else:
        frames, points = read_colmap(path, images_dir=images, masks_dir=masks)
        fmt = "colmap"
    if not frames:
        raise ConfigError("the dataset has no (registered) images", path)
    frames = _select(frames, subset, path)
    if not (isinstance(downscale, (int, float)) and np.isfinite(downscale) and downscale >= 1):
        raise ConfigError(f"downscale: expected a number >= 1, got {downscale!r}", path)
    if downscale != 1:
        frames = [replace(f, camera=f.camera.scaled(1.0 / downscale)) for f in frames]
    return Dataset(source=path, format=fmt, frames=frames, points=points)


def _select(frames, subset, where):
    if subset is None:
        return frames
    if isinstance(subset, str):
        if subset.startswith("every:"):
            try:
                k = int(subset[6:])
            except ValueError:
                k = 0
            if k < 1:
                raise ConfigError(f"subset: expected every:K with K >= 1, got {subset!r}", where)
            return frames[::k]
        subset = [subset]
    by_name = {f.name: f for f in frames}
    out = []
    for s in subset:
        if isinstance(s, int) and not isinstance(s, bool):
            if not 0 <= s < len(frames):
                raise ConfigError(f"subset: index {s} out of range (0..{len(frames) - 1})", where)
            out.append(frames[s])
        elif isinstance(s, str) and s in by_name:
            out.append(by_name[s])
        else:
            near = difflib.get_close_matches(str(s), list(by_name), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"subset: no image named {s!r}{hint}", where)
    return out


__all__ = ["CameraModel", "Dataset", "Frame", "focal_from_exif", "load_dataset", "look_at"]
