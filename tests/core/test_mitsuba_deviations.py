"""Where Mitsuba 3.9.1 is wrong and diffrender is not (docs/renderer.md, "Where Mitsuba 3.9.1
is wrong"): analytic checks of diffrender's side.

- ``direct`` with ``emitter_samples`` k and a point light: Mitsuba's image is k times its k = 1
  image; the estimator averages the k samples, so the image does not depend on k.
- ``mask`` with opacity o under a point light and ``path``: Mitsuba's ``path`` renders o² times
  the opaque image (its ``direct`` renders o); a cut-out reflecting with probability o reflects
  o times the light. With ``max_depth`` 2 and nothing behind the surface, next-event estimation
  is the whole image and the mask's eval is o f, so the ratio is exactly o per pixel.
"""
import numpy as np

from diffrender.core import Renderer
from diffrender.scene import load_scene

SCENE = """<scene version="3.0.0">
    {integrator}
    <sensor type="perspective">
        <float name="fov" value="40"/>
        <transform name="to_world"><lookat origin="0, 3, 3" target="0, 0, 0" up="0, 1, 0"/>
        </transform>
        <film type="hdrfilm"><integer name="width" value="8"/><integer name="height" value="8"/>
            <rfilter type="box"/></film>
        <sampler type="independent"><integer name="sample_count" value="4"/></sampler>
    </sensor>
    <emitter type="point"><point name="position" x="0" y="2" z="0"/>
        <rgb name="intensity" value="10"/></emitter>
    <shape type="rectangle">
        <transform name="to_world"><rotate x="1" angle="-90"/><scale value="4"/></transform>
        {bsdf}
    </shape>
</scene>
"""
DIFFUSE = '<bsdf type="diffuse"><rgb name="reflectance" value="0.6, 0.5, 0.4"/></bsdf>'


def render(tmp_path, name, integrator, bsdf):
    p = tmp_path / f"{name}.xml"
    p.write_text(SCENE.format(integrator=integrator, bsdf=bsdf))
    return np.asarray(Renderer(load_scene(str(p))).render(spp=4, seed=11), np.float64)


def test_direct_emitter_samples_do_not_scale_a_point_light(tmp_path):
    images = [render(tmp_path, f"es{k}", f'<integrator type="direct"><integer name='
                     f'"emitter_samples" value="{k}"/></integrator>', DIFFUSE) for k in (1, 4)]
    assert images[0].mean() > 0.01
    np.testing.assert_allclose(images[1], images[0], rtol=1e-5, atol=1e-7)


def test_mask_opacity_scales_a_point_light_linearly(tmp_path):
    integ = '<integrator type="path"><integer name="max_depth" value="2"/></integrator>'
    opaque = render(tmp_path, "opaque", integ, DIFFUSE)
    half = render(tmp_path, "half", integ, f'<bsdf type="mask"><float name="opacity" '
                                           f'value="0.5"/>{DIFFUSE}</bsdf>')
    assert opaque.mean() > 0.01
    np.testing.assert_allclose(half, 0.5 * opaque, rtol=1e-5, atol=1e-7)
