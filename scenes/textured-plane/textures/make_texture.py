"""Regenerates quadrants.png (128 x 128, sRGB PNG): an 8 x 8 checkerboard whose quadrants are
tinted red (top left), green (top right), blue (bottom left) and grey (bottom right)."""
import os

import numpy as np
from PIL import Image

n = 128
y, x = np.mgrid[0:n, 0:n]
checker = ((x // 16 + y // 16) % 2).astype(np.float64)
base = 0.35 + 0.45 * checker  # sRGB-encoded values
tint = np.empty((n, n, 3))
top, left = y < n // 2, x < n // 2
tint[top & left] = (1.0, 0.25, 0.25)
tint[top & ~left] = (0.25, 1.0, 0.25)
tint[~top & left] = (0.25, 0.25, 1.0)
tint[~top & ~left] = (0.8, 0.8, 0.8)
img = np.clip(base[..., None] * tint, 0, 1)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quadrants.png")
Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(out, optimize=True)
