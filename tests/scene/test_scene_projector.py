"""Mitsuba's ``projector`` emitter against Mitsuba 3.9.1 rendering the same file: a textured
projector (a non-square image, ``fov_axis`` y, a ``scale``) shining obliquely onto a diffuse
floor seen from above, direct illumination (a delta light on a diffuse surface: the only noise
is the pixel footprint), compared per 4 x 4 block. The image's orientation, its aspect, the
field of view and the ``pi scale E / (z^2 cos)`` normalisation all show in the blocks."""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.errors import GradientError, SceneError
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
<emitter type="projector">
    <transform name="to_world"><lookat origin="0.6, -0.3, 1.8" target="0.1, 0, 0" up="0, 1, 0"/>
    </transform>
    <float name="fov" value="40"/>
    <string name="fov_axis" value="y"/>
    <float name="scale" value="2"/>
    <texture type="bitmap" name="irradiance">
        <string name="filename" value="slide.exr"/>
    </texture>
</emitter>
"""


def test_projector_matches_mitsuba(xml_scene, tmp_path):
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    slide = np.zeros((4, 6, 3), np.float32)
    slide[..., 0] = np.linspace(0.1, 1.0, 6)[None, :]
    slide[..., 1] = np.linspace(1.0, 0.2, 4)[:, None]
    slide[..., 2] = 0.5
    dr.write_image(tmp_path / "slide.exr", slide)
    p = xml_scene(SCENE)
    sc = load_scene(p)
    r = Renderer(sc)
    ours = r.render(spp=64, seed=2)
    theirs = np.array(mi.render(mi.load_file(p), spp=64))[..., :3]
    block = lambda im: im.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3))
    bo, bt = block(ours), block(theirs)
    # blocks inside the frustum (its rim: partial pixel coverage, noisy at 64 spp)
    lit = bt.mean(axis=2) > 0.3 * bt.mean(axis=2).max()
    assert lit.sum() > 6
    assert (bt.mean(axis=2) < 1e-6).sum() > 6  # and blocks outside it: the frustum's extent
    # the image's colours vary across the lit blocks: a wrong orientation would fail
    assert np.ptp(bt[lit][:, 0] / bt[lit][:, 1]) > 0.5
    np.testing.assert_allclose(bo[lit], bt[lit], rtol=0.04)
    np.testing.assert_allclose(bo[~lit].sum(), bt[~lit].sum(), rtol=0.1)
    # its texture is a parameter; moving geometry under it is refused (area / point only)
    assert "emitter_0.irradiance.data" in sc.parameters()
    with pytest.raises(GradientError, match="geometry derivatives support area and point"):
        r.vjp(np.ones_like(ours), ["shape_0.vertex_positions"], spp=1, seed=0)


@pytest.mark.parametrize("body,match", [
    ('<float name="fov" value="30"/><string name="focal_length" value="35mm"/>',
     "give either 'fov' or 'focal_length'"),
    ('<float name="fov" value="180"/>', r"field of view must be in \(0, 180\)"),
    ('<string name="focal_length" value="wide"/>', "could not parse focal_length"),
])
def test_projector_bad_field_of_view(xml_scene, body, match):
    p = xml_scene(f'<emitter type="projector">{body}</emitter>')
    with pytest.raises(SceneError, match=match):
        load_scene(p)
