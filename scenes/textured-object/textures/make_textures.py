"""Regenerates the textures of the textured object (128 x 64, lat-long on the sphere's uvs):
albedo.png (sRGB): painted tiles with a grout grid; grout.png (linear, loaded with raw=true):
1 on the grout, 0 on the tiles (the weight of the scene's blend of a smooth and a rough
coat)."""
import os

import numpy as np
from PIL import Image

h, w = 64, 128
y, x = np.mgrid[0:h, 0:w]
grout = ((x % 16) < 2) | ((y % 16) < 2)
tile = (x // 16 + 3 * (y // 16)) % 4
palette = np.array([[0.85, 0.45, 0.2], [0.2, 0.5, 0.75], [0.9, 0.8, 0.35], [0.3, 0.6, 0.35]])
albedo = palette[tile]
albedo[grout] = (0.75, 0.72, 0.68)
mask = np.where(grout, 1.0, 0.0)
here = os.path.dirname(os.path.abspath(__file__))
Image.fromarray((albedo * 255 + 0.5).astype(np.uint8)).save(os.path.join(here, "albedo.png"))
Image.fromarray((mask * 255 + 0.5).astype(np.uint8)).save(os.path.join(here, "grout.png"))
