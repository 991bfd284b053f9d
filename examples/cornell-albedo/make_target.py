"""Render the target of this example: the bundled Cornell box at 64x64, 4096 spp, with its true
red-wall albedo (0.63, 0.065, 0.05). `python make_target.py` rewrites target.exr."""
import os

import diffrender as dr

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    scene = dr.load_scene(os.path.join(HERE, "..", "..", "scenes", "cornell-box", "scene.xml"), res=64)
    dr.write_image(os.path.join(HERE, "target.exr"), dr.render(scene, spp=4096, seed=12345))
