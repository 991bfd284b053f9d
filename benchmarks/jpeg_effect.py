"""What JPEG does to a target's colours: Mitsuba's Cornell box reference (tests/data/reference,
64 x 64, linear) written as 8-bit sRGB PNG and as JPEG with Pillow at several qualities and
chroma subsamplings, decoded back to linear. Prints one JSON line per setting: the mean absolute
change against the PNG relative to the image's mean, and on the saturated pixels (the coloured
walls: (max - min) / max > 0.5) the ratio JPEG / PNG of each channel's mean. docs/photos.md
quotes it in the JPEG note.

    python benchmarks/jpeg_effect.py
"""
import io
import json
import os
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
REFERENCE = os.path.join(ROOT, "tests", "data", "reference", "cornell_box_64.exr")
SETTINGS = [(92, "4:2:0"), (95, "4:2:0"), (95, "4:4:4")]
SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}   # Pillow's codes
SATURATED = 0.5


def main():
    from diffrender.image import read_image, srgb_to_linear, linear_to_srgb

    lin = np.clip(read_image(REFERENCE)[..., :3].astype(np.float64), 0.0, 1.0)
    s8 = np.round(linear_to_srgb(lin) * 255.0).astype(np.uint8)
    png = srgb_to_linear(s8 / 255.0)
    mx, mn = png.max(-1), png.min(-1)
    sat = (mx > 0.05) & ((mx - mn) / np.maximum(mx, 1e-6) > SATURATED)
    for quality, sub in SETTINGS:
        buf = io.BytesIO()
        Image.fromarray(s8).save(buf, "JPEG", quality=quality, subsampling=SUBSAMPLING[sub])
        buf.seek(0)
        jpg = srgb_to_linear(np.asarray(Image.open(buf)).astype(np.float64) / 255.0)
        print(json.dumps({"quality": quality, "subsampling": sub,
                          "mean_abs_change_percent": round(100 * float(np.abs(jpg - png).sum() / png.sum()), 2),
                          "saturated_pixels": int(sat.sum()),
                          "saturated_channel_ratio_jpeg_over_png": np.round(jpg[sat].mean(0) / png[sat].mean(0), 3).tolist()}))


if __name__ == "__main__":
    main()
