"""A real photograph as the target: recover the exposure and white balance with which a camera
photographed a known planar textured object (docs/photos.md, "A real photograph").

The photo is scikit-image's ``skimage.data.coffee()`` (a cup of coffee on a wooden table,
600 x 400, CC0 by the photographer Rachel Michetti, courtesy of Pikolo Espresso Bar). The
object is a 3 x 2 print of that photo (its albedo texture, 150 x 100 texels, is known), lit by a
large area light, and the target is the photo itself, seen by the camera that frames the print
as the photo does (straight on from 4 m, horizontal field of view 2 atan(1.5 / 4) = 41.11
degrees). Starting with the field of view 4.6% too wide (43 degrees), 0.5 stop too bright and
the red and blue gains 10% off, the run recovers the camera's field of view, the exposure and
the white balance (red and blue gains against green; their truth is 1 under the white light).

    python examples/photos/real_photo.py [--iterations 20] [--out runs/photos-real]

Prints the recovered parameters (and the true field of view) and the PSNR of the final render against the photo (at the
film's 60 x 40 pixels).
"""
import argparse
import json
import math
import os

import numpy as np
import yaml
from skimage import data

import diffrender as dr

WIDTH, HEIGHT = 60, 40            # film; the photo (600 x 400) is area-averaged to it
HALF_W, HALF_H, DISTANCE = 1.5, 1.0, 4.0
TRUE_FOV = math.degrees(2 * math.atan(HALF_W / DISTANCE))
START_FOV = 43.0                  # the camera starts 4.6% too wide
TEXELS = (100, 150)               # the print's texture: the photo, area-averaged

SCENE = f"""<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="2"/></integrator>
  <sensor type="perspective" id="camera">
    <float name="fov" value="{TRUE_FOV}"/>
    <transform name="to_world"><lookat origin="0, 0, {DISTANCE}" target="0, 0, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="{WIDTH}"/><integer name="height" value="{HEIGHT}"/>
      <rfilter type="box"/></film>
  </sensor>
  <shape type="rectangle" id="print">
    <transform name="to_world"><scale x="{HALF_W}" y="{HALF_H}" z="1"/></transform>
    <bsdf type="diffuse" id="print_paint">
      <texture type="bitmap" name="reflectance"><string name="filename" value="print.exr"/>
        <string name="filter_type" value="bilinear"/></texture>
    </bsdf>
  </shape>
  <!-- a large light around the camera: nearly uniform light on the print -->
  <shape type="rectangle" id="light">
    <transform name="to_world"><scale value="6"/><translate x="0" y="0" z="{DISTANCE + 0.5}"/></transform>
    <boolean name="flip_normals" value="true"/>
    <emitter type="area"><rgb name="radiance" value="1.5, 1.5, 1.5"/></emitter>
  </shape>
</scene>
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--out", default=os.path.join("runs", "photos-real"))
    a = ap.parse_args()
    work = os.path.abspath(a.out)
    os.makedirs(work, exist_ok=True)
    inputs = os.path.join(work, "inputs")
    os.makedirs(inputs, exist_ok=True)
    photo = data.coffee()
    dr.write_image(os.path.join(inputs, "coffee.png"), photo.astype(np.float32) / 255.0)  # sRGB as is
    # the print's texture: the photo in linear light (as the target is read), area-averaged
    linear = dr.read_image(os.path.join(inputs, "coffee.png"))[..., :3]
    rows, cols = photo.shape[0] // TEXELS[0], photo.shape[1] // TEXELS[1]
    texture = linear.reshape(TEXELS[0], rows, TEXELS[1], cols, 3).mean(axis=(1, 3))
    # the rectangle's uv origin is its bottom-left corner (Mitsuba's), the image's first row is its
    # top: the texture file holds the photo's rows bottom-up
    dr.write_image(os.path.join(inputs, "print.exr"), np.ascontiguousarray(texture[::-1], np.float32))
    with open(os.path.join(inputs, "scene.xml"), "w") as fh:
        fh.write(SCENE)
    config = {
        "scene": "scene.xml",
        "targets": ["coffee.png"],
        "parameters": {"camera.fov": {"init": START_FOV, "lr": 0.1}, "filters.exposure.ev": {"lr": 0.03},
                       "filters.wb.gain_r": {"lr": 0.01},
                       "filters.wb.gain_b": {"lr": 0.01}},
        "filters": [{"name": "exposure", "type": "exposure",
                     "ev": {"value": 0.5, "learnable": True, "bounds": [-3, 3]}},
                    {"name": "wb", "type": "white_balance", "gain_r": {"value": 1.1, "learnable": True},
                     "gain_g": 1.0, "gain_b": {"value": 0.9, "learnable": True}}],
        "optimizer": {"type": "lbfgs"}, "iterations": a.iterations, "spp": 32, "spp_adjoint": 32,
        "output": os.path.join(work, "run"), "render_every": 20, "video": "none",
    }
    path = os.path.join(inputs, "config.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(config, fh)
    result = dr.optimize(path, overwrite=True)
    final = dr.read_image(os.path.join(work, "run", "final.exr"))
    target = dr.read_image(os.path.join(inputs, "coffee.png"))
    h, w = final.shape[:2]
    target = target.reshape(h, target.shape[0] // h, w, target.shape[1] // w, -1).mean(axis=(1, 3))[..., :3]
    mse = float(np.mean((np.clip(final, 0, 1) - target) ** 2))
    summary = {"fov_deg": round(float(result["camera.fov"]), 4), "true_fov_deg": round(TRUE_FOV, 4),
               "exposure_ev": round(float(result["filters.exposure.ev"]), 4),
               "wb_gain_r": round(float(result["filters.wb.gain_r"]), 4),
               "wb_gain_b": round(float(result["filters.wb.gain_b"]), 4),
               "psnr_db": round(10 * math.log10(1.0 / mse), 2)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
