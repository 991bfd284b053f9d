"""Mitsuba's binary grid-volume files (``.vol``, read by ``gridvolume``).

Layout (Mitsuba 3's ``VolumeGrid``, little-endian): the bytes ``VOL``, a version byte (3), an
int32 encoding (1: float32), int32 ``xres``, ``yres``, ``zres``, int32 channel count, six
float32 (the grid's bounding box: min xyz, max xyz), then ``xres * yres * zres * channels``
float32 with x varying fastest, then y, then z, channels interleaved.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import SceneError
from ..limits import MAX_VOLUME_VALUES

HEADER = np.dtype([("magic", "S3"), ("version", "u1"), ("encoding", "<i4"), ("res", "<i4", 3),
                   ("channels", "<i4"), ("bbox", "<f4", 6)])
VERSION = 3
FLOAT32 = 1


def read_vol(path: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(data (Z, Y, X, C) float32, bbox (2, 3)) of the ``.vol`` file ``path``; a one-line
    :class:`SceneError` at ``where`` for anything else."""
    def bad(why):
        return SceneError(f"{path}: not a Mitsuba grid volume (.vol): {why}", where)

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(HEADER.itemsize)
            if len(head) < HEADER.itemsize:
                raise bad(f"the file has {size} bytes, less than the {HEADER.itemsize}-byte header")
            h = np.frombuffer(head, HEADER)[0]
            if h["magic"] != b"VOL":
                raise bad("it does not start with 'VOL'")
            if h["version"] != VERSION:
                raise bad(f"version {h['version']}, expected {VERSION}")
            if h["encoding"] != FLOAT32:
                raise bad(f"encoding {h['encoding']}, only 1 (float32) is supported")
            res = [int(x) for x in h["res"]]
            ch = int(h["channels"])
            if min(res) <= 0 or ch not in (1, 3):
                raise bad(f"resolution {res} and {ch} channels (expected positive sizes and 1 "
                          "or 3 channels)")
            n = res[0] * res[1] * res[2] * ch
            if n > MAX_VOLUME_VALUES:
                raise bad(f"{n} values, more than the limit of {MAX_VOLUME_VALUES}")
            if size < HEADER.itemsize + 4 * n:
                raise bad(f"the header announces {n} float32 values, the file holds "
                          f"{(size - HEADER.itemsize) // 4}")
            data = np.frombuffer(f.read(4 * n), "<f4").astype(np.float32)
    except OSError as e:
        raise SceneError(f"{path}: cannot read the volume file: {e.strerror}", where) from None
    if not np.all(np.isfinite(data)):
        raise bad("it holds values that are not finite")
    bbox = np.asarray(h["bbox"], np.float64).reshape(2, 3)
    return data.reshape(res[2], res[1], res[0], ch), bbox


def write_vol(path: str, data: np.ndarray, bbox=((0, 0, 0), (1, 1, 1))) -> None:
    """Write ``data`` (Z, Y, X, C) float32 as a ``.vol`` file (tests, examples)."""
    data = np.asarray(data, np.float32)
    if data.ndim == 3:
        data = data[..., None]
    z, y, x, c = data.shape
    h = np.zeros((), HEADER)
    h["magic"], h["version"], h["encoding"] = b"VOL", VERSION, FLOAT32
    h["res"], h["channels"] = (x, y, z), c
    h["bbox"] = np.asarray(bbox, np.float32).reshape(6)
    with open(path, "wb") as f:
        f.write(h.tobytes())
        f.write(np.ascontiguousarray(data, "<f4").tobytes())


__all__ = ["read_vol", "write_vol"]
