"""Make ``smoke.vol`` (Mitsuba's binary grid-volume format): a 24^3 density puff, 1 channel,
values in [0, 1] (the medium's ``scale`` sets the extinction). Run from anywhere:

    python scenes/media/make_volume.py
"""
import os

import numpy as np

from diffrender.scene.volumes import write_vol

RES = 24


def puff(res=RES):
    """A lumpy ball: a smooth radial falloff modulated by a few fixed sine waves."""
    c = (np.arange(res) + 0.5) / res * 2.0 - 1.0
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    r = np.sqrt(x * x + (1.3 * y) ** 2 + z * z)
    lumps = 1.0 + 0.35 * np.sin(5 * x + 1) * np.sin(4 * y + 2) * np.sin(6 * z)
    d = np.clip(1.0 - r, 0.0, 1.0) ** 1.5 * lumps
    return np.clip(d / d.max(), 0.0, 1.0).astype(np.float32)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    write_vol(os.path.join(here, "smoke.vol"), puff()[..., None])
