"""Render the targets of this example: the four views of scene.xml at 32x32, 1024 spp, with the
Cornell box's true red-wall albedo (0.63, 0.065, 0.05). `python make_targets.py` rewrites
view0.exr ... view3.exr."""
import os

import diffrender as dr

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_SPP = 1024

if __name__ == "__main__":
    scene = dr.load_scene(os.path.join(HERE, "scene.xml"))
    for k in range(len(scene.sensors)):
        dr.write_image(os.path.join(HERE, f"view{k}.exr"), dr.render(scene, spp=TARGET_SPP, seed=12345, sensor=k))
