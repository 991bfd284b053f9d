"""Render the target of ``optimize.yaml``: the scene as loaded (the bunny at the true pose) at
1024 samples per pixel, seed 0, as ``pose.py`` does. ``python make_target.py`` rewrites
target.exr."""
import os

import diffrender as dr

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_SPP = 1024

if __name__ == "__main__":
    scene = dr.load_scene(os.path.join(HERE, "scene.xml"))
    dr.write_image(os.path.join(HERE, "target.exr"), dr.render(scene, spp=TARGET_SPP, seed=0))
