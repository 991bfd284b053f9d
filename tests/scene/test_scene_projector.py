"""Mitsuba's ``projector`` emitter against Mitsuba 3.9.1 rendering the same file: a textured
projector (a non-square image, ``fov_axis`` y, a ``scale``) shining obliquely onto a diffuse
floor seen from above, direct illumination (a delta light on a diffuse surface: the only noise
is the pixel footprint), compared per 4 x 4 block. The image's orientation, its aspect, the
field of view and the ``pi scale E / (z^2 cos)`` normalisation all show in the blocks."""
import numpy as np
import pytest

from diffrender.errors import SceneError
from diffrender.scene import load_scene
from tests.helpers.projected import FLOOR_VIEW, lit_blocks, render_both, write_slide

SCENE = FLOOR_VIEW + """
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
    write_slide(tmp_path / "slide.exr")
    sc, _, _, _, bo, bt = render_both(xml_scene(SCENE))
    # blocks inside the frustum (its rim: partial pixel coverage, noisy at 64 spp)
    lit = lit_blocks(bt, 0.3)
    assert lit.sum() > 6
    assert (bt.mean(axis=2) < 1e-6).sum() > 6  # and blocks outside it: the frustum's extent
    # the image's colours vary across the lit blocks: a wrong orientation would fail
    assert np.ptp(bt[lit][:, 0] / bt[lit][:, 1]) > 0.5
    np.testing.assert_allclose(bo[lit], bt[lit], rtol=0.04)
    np.testing.assert_allclose(bo[~lit].sum(), bt[~lit].sum(), rtol=0.1)
    # its texture is a parameter (derivatives that move geometry under a projector:
    # tests/core/test_edges_spot.py)
    assert "emitter_0.irradiance.data" in sc.parameters()


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
