"""A light projecting an image onto a floor seen from above, rendered by diffrender and by
Mitsuba 3.9.1 from the same file (tests of ``spot`` with a ``texture`` and of ``projector``):
direct illumination of a diffuse floor by a delta light, so the only noise is the pixel
footprint; compared per 4 x 4 block."""
from __future__ import annotations

import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.scene import load_scene

#: Integrator, camera (32 x 32, 64 spp) and floor; the test adds its emitter.
FLOOR_VIEW = """
<integrator type="direct"/>
<sensor type="perspective">
    <float name="fov" value="60"/>
    <transform name="to_world"><lookat origin="0, 0, 4" target="0, 0, 0" up="0, 1, 0"/>
    </transform>
    <film type="hdrfilm"><integer name="width" value="32"/><integer name="height" value="32"/>
        <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="64"/></sampler>
</sensor>
<shape type="rectangle"><transform name="to_world"><scale value="3"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.8"/></bsdf></shape>
"""
SPP = 64
BLOCK = 4


def write_slide(path) -> None:
    """A 6 x 4 image whose red grows left to right and green falls top to bottom: a wrong
    orientation or aspect shows in the blocks' red / green ratio."""
    slide = np.zeros((4, 6, 3), np.float32)
    slide[..., 0] = np.linspace(0.1, 1.0, 6)[None, :]
    slide[..., 1] = np.linspace(1.0, 0.2, 4)[:, None]
    slide[..., 2] = 0.5
    dr.write_image(path, slide)


def render_both(path):
    """(scene, renderer, diffrender's image, Mitsuba's image, both per 4 x 4 block)."""
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    sc = load_scene(path)
    r = Renderer(sc)
    ours = r.render(spp=SPP, seed=2)
    theirs = np.array(mi.render(mi.load_file(str(path)), spp=SPP))[..., :3]
    h, w = ours.shape[:2]

    def block(im):
        return im.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3).mean(axis=(1, 3))

    return sc, r, ours, theirs, block(ours), block(theirs)


def lit_blocks(bt, fraction) -> np.ndarray:
    """The blocks Mitsuba lights with more than ``fraction`` of its brightest (the rim has
    partial pixel coverage, noisy at 64 spp)."""
    return bt.mean(axis=2) > fraction * bt.mean(axis=2).max()
