"""Image I/O. Inside diffrender images are linear float32 ``(H, W, C)`` numpy arrays.

- EXR is linear, read and written with the ``openexr`` package (half or float channels).
- EXR channels are found by name whatever the spelling: ``R G B [A]``, ``Y [A]``, lower case,
  or one layer's ``diffuse.R diffuse.G ...``; unprefixed channels win over layers.
- PNG / JPEG / GIF / BMP / TIFF (8 or 16 bit) are sRGB-encoded: decoded and encoded with the
  exact piecewise sRGB curve (IEC 61966-2-1), not a 2.2 gamma. 16-bit PNGs are read with OpenCV
  (Pillow truncates 16-bit colour PNGs to 8 bits).
- ``.hdr`` / ``.pic`` (Radiance RGBE) are linear float, read and written with OpenCV (the values
  Mitsuba's ``Bitmap`` reads).
- ``.pfm`` is linear float: colour (``PF``) or greyscale (``Pf``), either byte order, rows stored
  bottom to top and values multiplied by the header's ``|scale|``, as Mitsuba reads it; written
  little-endian with scale 1.
"""
from __future__ import annotations

import os
import warnings

import imageio.v2 as iio2
import numpy as np
import OpenEXR
from PIL import Image

from . import limits
from .errors import ImageError

LINEAR_EXTS = {".exr", ".hdr", ".pic", ".pfm", ".npy"}
RADIANCE_EXTS = (".hdr", ".pic")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_BIT_DEPTH_OFFSET = 24  # signature (8) + IHDR length/type (8) + width/height (8)
UINT16_MAX = 65535.0
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
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a folder, not an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # decoders' own warnings: the checks below decide
            img, is_linear = _read_any(path, ext)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to decode this image") from None
    except Exception as exc:  # noqa: BLE001 - report any decoder failure as one line
        msg = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ImageError(f"{path}: cannot read image ({msg})") from None
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.size == 0:
        raise ImageError(f"{path}: expected an image, got an array of shape {img.shape}")
    img = np.ascontiguousarray(img, dtype=np.float32)
    bad = ~np.isfinite(img)
    if bad.any():
        y, x, c = (int(i) for i in np.argwhere(bad)[0])
        raise ImageError(f"{path}: non-finite value {img[y, x, c]} at pixel (row {y}, col {x}, "
                         f"channel {c}) ({int(bad.sum())} such values); images must be finite")
    if linear is None:
        linear = is_linear
    if not linear:
        # decode colour channels, keep alpha linear
        c = img.shape[2]
        ncol = 3 if c >= 3 else 1
        img[:, :, :ncol] = srgb_to_linear(img[:, :, :ncol])
    return img


def _check_size(path: str, width: int, height: int) -> None:
    """Refuse an image whose header asks for more than :data:`limits.MAX_IMAGE_PIXELS` before
    it is decoded."""
    if width > limits.MAX_IMAGE_SIDE or height > limits.MAX_IMAGE_SIDE or \
            width * height > limits.MAX_IMAGE_PIXELS:
        raise ImageError(f"{path}: a {width}x{height} image is above the limit of "
                         f"{limits.MAX_IMAGE_PIXELS} pixels ({limits.MAX_IMAGE_SIDE} per side)")


def _read_any(path: str, ext: str):
    """``(array, is_linear)`` from the decoder of the file's format."""
    if ext == ".exr":
        img = _read_exr(path)
        is_linear = True
    elif ext == ".npy":
        arr = np.load(path, mmap_mode="r")
        if arr.ndim in (2, 3):
            _check_size(path, arr.shape[1], arr.shape[0])
        img = np.asarray(arr, dtype=np.float32)
        is_linear = True
    elif ext in RADIANCE_EXTS:
        img = _read_radiance(path)
        is_linear = True
    elif ext == ".pfm":
        img = _read_pfm(path)
        is_linear = True
    elif ext == ".png" and _png_bit_depth(path) == 16:
        _check_size(path, *_png_size(path))
        img = _read_png16(path)
        is_linear = False
    else:
        size = _png_size(path)
        if size is not None:
            _check_size(path, *size)
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise ImageError(f"{path}: the image is above the limit of "
                             f"{limits.MAX_IMAGE_PIXELS} pixels ({exc})") from None
        with im:
            _check_size(path, *im.size)
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
    return img, is_linear


def _cv2():
    """OpenCV, imported on first use (Radiance files and 16-bit PNGs): ~15 MB that loading a
    scene, rendering or writing a PNG/EXR never needs."""
    import cv2

    return cv2


def _read_radiance(path: str) -> np.ndarray:
    cv2 = _cv2()
    bgr = cv2.imread(path, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f"{path}: not a Radiance RGBE (.hdr/.pic) file OpenCV can decode")
    return np.ascontiguousarray(bgr[:, :, ::-1], dtype=np.float32)


def _png_size(path: str) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, None if the file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE):
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _png_bit_depth(path: str) -> int | None:
    with open(path, "rb") as f:
        head = f.read(PNG_BIT_DEPTH_OFFSET + 1)
    if len(head) <= PNG_BIT_DEPTH_OFFSET or not head.startswith(PNG_SIGNATURE):
        return None
    return head[PNG_BIT_DEPTH_OFFSET]


def _read_png16(path: str) -> np.ndarray:
    cv2 = _cv2()
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageError(f"{path}: not a 16-bit PNG OpenCV can decode")
    if raw.ndim == 3:  # OpenCV orders colour channels BGR(A)
        order = [2, 1, 0, 3][:raw.shape[2]] if raw.shape[2] >= 3 else list(range(raw.shape[2]))
        raw = raw[:, :, order]
    return raw.astype(np.float32) / (UINT16_MAX if raw.dtype == np.uint16 else 255.0)


def _read_pfm(path: str) -> np.ndarray:
    """Portable float map as Mitsuba reads it (``Bitmap::read_pfm``)."""
    with open(path, "rb") as f:
        data = f.read()
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:  # magic, width, height, scale; one white-space byte ends the header
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while pos < len(data) and not data[pos:pos + 1].isspace():
            pos += 1
        if start == pos:
            raise ImageError(f"{path}: truncated PFM header")
        tokens.append(data[start:pos])
    pos += 1
    magic = tokens[0]
    if magic not in (b"PF", b"Pf"):
        raise ImageError(f"{path}: not a PFM file (header starts with {magic[:8]!r}, "
                         "expected 'PF' (colour) or 'Pf' (greyscale))")
    try:
        width, height, scale = int(tokens[1]), int(tokens[2]), float(tokens[3])
    except ValueError:
        raise ImageError(f"{path}: invalid PFM header "
                         f"{b' '.join(tokens).decode('latin-1')!r}") from None
    if width <= 0 or height <= 0 or scale == 0.0 or not np.isfinite(scale):
        raise ImageError(f"{path}: invalid PFM header (width {width}, height {height}, "
                         f"scale {scale:g})")
    channels = 3 if magic == b"PF" else 1
    count = width * height * channels
    dtype = np.dtype("<f4" if scale < 0 else ">f4")
    if len(data) - pos < count * 4:
        raise ImageError(f"{path}: PFM data is truncated ({len(data) - pos} bytes, expected "
                         f"{count * 4})")
    img = np.frombuffer(data, dtype=dtype, count=count, offset=pos).reshape(
        height, width, channels)
    return (img[::-1].astype(np.float32) * np.float32(abs(scale)))


def _write_pfm(path: str, img: np.ndarray) -> None:
    c = img.shape[2]
    if c not in (1, 3):
        img = img[:, :, :3] if c == 4 else img[:, :, :1]
    magic = b"PF" if img.shape[2] == 3 else b"Pf"
    h, w = img.shape[:2]
    with open(path, "wb") as f:
        f.write(magic + f"\n{w} {h}\n-1\n".encode("ascii"))
        f.write(np.ascontiguousarray(img[::-1], dtype="<f4").tobytes())


_EXR_GROUPS = (("r", "g", "b", "a"), ("r", "g", "b"), ("y", "a"), ("y",))


def _read_exr(path: str) -> np.ndarray:
    """Colour channels by name: unprefixed ``R G B [A]`` / ``Y [A]`` (any case) first, else the
    one layer (``diffuse.R ...``) that has them, else a single channel; several candidate
    layers and no unprefixed colour are an error that lists them."""
    with OpenEXR.File(path, header_only=True) as f:
        (x0, y0), (x1, y1) = f.header()["dataWindow"]
    _check_size(path, int(x1) - int(x0) + 1, int(y1) - int(y0) + 1)
    with OpenEXR.File(path, separate_channels=True) as f:
        chans = {name: np.asarray(ch.pixels, dtype=np.float32)
                 for name, ch in f.channels().items()}
    layers: dict[str, dict[str, str]] = {}
    for name in chans:
        layer, _, short = name.rpartition(".")
        layers.setdefault(layer, {}).setdefault(short.lower(), name)
    candidates = []
    for layer in sorted(layers, key=lambda k: (k != "", k)):
        found = layers[layer]
        for group in _EXR_GROUPS:
            if all(c in found for c in group):
                candidates.append((layer, [found[c] for c in group]))
                break
    if candidates and (candidates[0][0] == "" or len(candidates) == 1):
        names = candidates[0][1]
    elif candidates:
        raise ImageError(f"{path}: EXR has several layers ("
                         f"{', '.join(layer for layer, _ in candidates)}) and no unprefixed "
                         "R, G, B or Y channels; say which layer (e.g. save it alone)")
    elif len(chans) == 1:
        names = list(chans)
    else:
        raise ImageError(f"{path}: EXR channels {', '.join(sorted(chans))} have no R, G, B "
                         "or Y (any case, optionally layer-prefixed)")
    return np.stack([chans[n] for n in names], axis=-1)


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
        elif ext in RADIANCE_EXTS:
            rgb = np.repeat(img[:, :, :1], 3, axis=2) if img.shape[2] < 3 else img[:, :, :3]
            if not _cv2().imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1], dtype=np.float32)):
                raise ImageError(f"{path}: OpenCV could not write the Radiance file")
        elif ext == ".pfm":
            _write_pfm(path, img)
        elif ext in SRGB_EXTS:
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
