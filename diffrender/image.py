"""Image I/O. Inside diffrender images are linear float32 ``(H, W, C)`` numpy arrays.

- EXR is linear, read and written with the ``openexr`` package (half or float channels).
- PNG / JPEG / GIF / BMP / TIFF (8 or 16 bit) are sRGB-encoded: decoded and encoded with the
  exact piecewise sRGB curve (IEC 61966-2-1), not a 2.2 gamma.
- ``.hdr`` (Radiance) and ``.pfm`` are linear, through imageio.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import ImageError

LINEAR_EXTS = {".exr", ".hdr", ".pfm", ".npy"}
SRGB_EXTS = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"}


def srgb_to_linear(x):
    """Exact sRGB decoding curve; works on numpy arrays (any float dtype)."""
    x = np.asarray(x)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    """Exact sRGB encoding curve; negative values map to 0 before encoding."""
    x = np.maximum(np.asarray(x), 0.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)


def _ext(path) -> str:
    return os.path.splitext(str(path))[1].lower()


def read_image(path, linear: bool | None = None) -> np.ndarray:
    """Read an image as linear float32 ``(H, W, C)``.

    ``linear=None`` decides by extension (EXR/HDR/PFM are linear, 8/16-bit formats are sRGB).
    ``linear=True`` reads an 8-bit file without sRGB decoding (data textures, normal maps).
    """
    path = str(path)
    ext = _ext(path)
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such image file")
    try:
        if ext == ".exr":
            img = _read_exr(path)
            is_linear = True
        elif ext == ".npy":
            img = np.load(path).astype(np.float32)
            is_linear = True
        elif ext in (".hdr", ".pfm"):
            import imageio.v3 as iio

            img = np.asarray(iio.imread(path), dtype=np.float32)
            is_linear = True
        else:
            from PIL import Image

            with Image.open(path) as im:
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)
                mode = im.mode
                if mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = np.asarray(im, dtype=np.float32) / 65535.0
                else:
                    if mode not in ("L", "RGB", "RGBA", "LA"):
                        im = im.convert("RGBA" if "A" in mode or "transparency" in im.info else "RGB")
                    arr = np.asarray(im, dtype=np.float32) / 255.0
            img = arr
            is_linear = False
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - report any decoder failure as one line
        raise ImageError(f"{path}: cannot read image ({exc})") from exc
    if img.ndim == 2:
        img = img[:, :, None]
    img = np.ascontiguousarray(img, dtype=np.float32)
    if linear is None:
        linear = is_linear
    if not linear:
        # decode colour channels, keep alpha linear
        c = img.shape[2]
        ncol = 3 if c >= 3 else 1
        img[:, :, :ncol] = srgb_to_linear(img[:, :, :ncol])
    return img


def _read_exr(path: str) -> np.ndarray:
    import OpenEXR

    with OpenEXR.File(path) as f:
        chans = f.channels()
        if "RGBA" in chans:
            return np.asarray(chans["RGBA"].pixels, dtype=np.float32)
        if "RGB" in chans:
            return np.asarray(chans["RGB"].pixels, dtype=np.float32)
        names = list(chans.keys())
        if len(names) == 1:
            return np.asarray(chans[names[0]].pixels, dtype=np.float32)
        order = [n for n in ("R", "G", "B", "A") if n in chans] or sorted(names)
        return np.stack([np.asarray(chans[n].pixels, dtype=np.float32) for n in order], axis=-1)


def write_image(path, image, channels: list[str] | None = None) -> None:
    """Write a linear float image; the format follows the extension.

    EXR is written linear (float32, ZIP). 8-bit formats are sRGB-encoded and clamped to [0, 1].
    A ``(H, W)`` or ``(H, W, 1)`` image is written as one channel (Y in EXR, grey elsewhere).
    """
    path = str(path)
    ext = _ext(path)
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4) and ext != ".exr":
        raise ImageError(f"{path}: cannot write an image of shape {tuple(np.shape(image))}")
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    try:
        if ext == ".exr":
            _write_exr(path, img, channels)
        elif ext == ".npy":
            np.save(path, img)
        elif ext in (".hdr", ".pfm"):
            import imageio.v3 as iio

            iio.imwrite(path, img if img.shape[2] != 1 else img[:, :, 0])
        elif ext in SRGB_EXTS:
            from PIL import Image

            out = img.copy()
            ncol = 3 if img.shape[2] >= 3 else 1
            out[:, :, :ncol] = linear_to_srgb(out[:, :, :ncol])
            out = np.clip(np.nan_to_num(out), 0.0, 1.0)
            u8 = np.round(out * 255.0).astype(np.uint8)
            if u8.shape[2] == 1:
                u8 = u8[:, :, 0]
            elif u8.shape[2] == 2:
                u8 = u8[:, :, 0]
            if ext in (".jpg", ".jpeg") and u8.ndim == 3 and u8.shape[2] == 4:
                u8 = u8[:, :, :3]
            kwargs = {"quality": 95} if ext in (".jpg", ".jpeg") else {}
            Image.fromarray(u8).save(path, **kwargs)
        else:
            raise ImageError(
                f"{path}: unsupported image extension '{ext}' "
                f"(expected one of {', '.join(sorted(LINEAR_EXTS | SRGB_EXTS))})"
            )
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ImageError(f"{path}: cannot write image ({exc})") from exc


def _write_exr(path: str, img: np.ndarray, channels: list[str] | None) -> None:
    import OpenEXR

    c = img.shape[2]
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if channels is not None:
        if len(channels) != c:
            raise ImageError(f"{path}: {len(channels)} channel names for {c} channels")
        data = {n: np.ascontiguousarray(img[:, :, i]) for i, n in enumerate(channels)}
    elif c == 3:
        data = {"RGB": np.ascontiguousarray(img)}
    elif c == 4:
        data = {"RGBA": np.ascontiguousarray(img)}
    elif c == 1:
        data = {"Y": np.ascontiguousarray(img[:, :, 0])}
    else:
        data = {f"C{i}": np.ascontiguousarray(img[:, :, i]) for i in range(c)}
    with OpenEXR.File(header, data) as f:
        f.write(path)


def write_animation(path, frames, fps: int = 10) -> None:
    """Write linear float frames as an sRGB GIF or MP4 (imageio)."""
    import imageio.v2 as iio2

    u8 = [np.round(np.clip(linear_to_srgb(np.asarray(f)[..., :3]), 0, 1) * 255).astype(np.uint8)
          for f in frames]
    ext = _ext(path)
    try:
        if ext == ".gif":
            iio2.mimsave(str(path), u8, duration=1000.0 / fps, loop=0)
        else:
            iio2.mimsave(str(path), u8, fps=fps)
    except Exception as exc:  # noqa: BLE001
        raise ImageError(f"{path}: cannot write animation ({exc})") from exc
