"""A ``spot`` with a projected ``texture`` (Mitsuba's: the intensity times the texture at
``uv = 0.5 + 0.5 (d.x, d.y) / (d.z tan(cutoff))``) against Mitsuba 3.9.1 rendering the same
file: a spot over a diffuse floor seen from above, direct illumination (a delta light on a
diffuse surface: the only noise is the pixel footprint), compared per 4 x 4 block."""
import numpy as np
import pytest

from diffrender.errors import SceneError
from diffrender.scene import load_scene
from tests.helpers.projected import FLOOR_VIEW, lit_blocks, render_both, write_slide

SCENE = FLOOR_VIEW + """
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
    write_slide(tmp_path / "pattern.exr")
    sc, _, _, _, bo, bt = render_both(xml_scene(SCENE))
    assert sc.emitters[0].params["texture"].type == "bitmap"
    # blocks inside the cone (its rim: partial pixel coverage, noisy at 64 spp)
    lit = lit_blocks(bt, 0.2)
    assert lit.sum() > 10
    # the texture's colours vary across the lit blocks: a wrong orientation would fail
    assert np.ptp(bt[lit][:, 0] / bt[lit][:, 1]) > 0.5
    np.testing.assert_allclose(bo[lit], bt[lit], rtol=0.04)


def test_spot_texture_must_vary(xml_scene):
    p = xml_scene('<emitter type="spot"><rgb name="texture" value="0.5"/></emitter>')
    with pytest.raises(SceneError, match="spot 'texture' must be spatially varying"):
        load_scene(p)
