"""A ``spot`` with a projected ``texture`` (Mitsuba's: the intensity times the texture at
``uv = 0.5 + 0.5 (d.x, d.y) / (d.z tan(cutoff))``) against Mitsuba 3.9.1 rendering the same
file: a spot over a diffuse floor seen from above, direct illumination (a delta light on a
diffuse surface: the only noise is the pixel footprint), compared per 4 x 4 block."""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.errors import SceneError
from diffrender.scene import load_scene

SCENE = """
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
<emitter type="spot">
    <transform name="to_world"><lookat origin="0.2, -0.1, 2" target="0.2, -0.1, 0" up="0, 1, 0"/>
    </transform>
    <rgb name="intensity" value="5"/>
    <float name="cutoff_angle" value="35"/>
    <float name="beam_width" value="30"/>
    <texture type="bitmap" name="texture">
        <string name="filename" value="pattern.exr"/>
    </texture>
</emitter>
"""


def test_spot_texture_matches_mitsuba(xml_scene, tmp_path):
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    pattern = np.zeros((4, 6, 3), np.float32)
    pattern[..., 0] = np.linspace(0.1, 1.0, 6)[None, :]
    pattern[..., 1] = np.linspace(1.0, 0.2, 4)[:, None]
    pattern[..., 2] = 0.5
    dr.write_image(tmp_path / "pattern.exr", pattern)
    p = xml_scene(SCENE)
    sc = load_scene(p)
    assert sc.emitters[0].params["texture"].type == "bitmap"
    ours = Renderer(sc).render(spp=64, seed=2)
    theirs = np.array(mi.render(mi.load_file(p), spp=64))[..., :3]
    block = lambda im: im.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3))
    bo, bt = block(ours), block(theirs)
    # blocks inside the cone (its rim: partial pixel coverage, noisy at 64 spp)
    lit = bt.mean(axis=2) > 0.2 * bt.mean(axis=2).max()
    assert lit.sum() > 10
    # the texture's colours vary across the lit blocks: a wrong orientation would fail
    assert np.ptp(bt[lit][:, 0] / bt[lit][:, 1]) > 0.5
    np.testing.assert_allclose(bo[lit], bt[lit], rtol=0.04)


def test_spot_texture_must_vary(xml_scene):
    p = xml_scene('<emitter type="spot"><rgb name="texture" value="0.5"/></emitter>')
    with pytest.raises(SceneError, match="spot 'texture' must be spatially varying"):
        load_scene(p)
