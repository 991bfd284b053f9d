"""A floor and a wall lit by a point light out of view (tests of diffrender.torch / .jax and of
batched views): inter-reflection, and no visibility change under small moves of the floor,
the light or the cameras, so central differences see only the interior derivative."""
import diffrender as dr

FRONT = [0.3, 3, 0.5]  # camera origins (both look at the origin)
SIDE = [2.5, 1.5, 1.0]


def camera(origin, width, height, spp, fov=45):
    return {"type": "perspective", "fov": fov,
            "to_world": {"type": "transform",
                         "lookat": {"origin": origin, "target": [0, 0, 0], "up": [0, 0, 1]}},
            "film": {"type": "hdrfilm", "width": width, "height": height},
            "sampler": {"type": "independent", "sample_count": spp}}


def room(width, height, spp, side_width=None):
    """The room seen by ``sensor`` (front); with ``side_width`` also by ``side`` (fov 50)."""
    d = {"type": "scene", "integrator": {"type": "path", "max_depth": 3},
         "sensor": camera(FRONT, width, height, spp)}
    if side_width is not None:
        d["side"] = camera(SIDE, side_width, height, spp, fov=50)
    d.update({
        "floor": {"type": "rectangle",
                  "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": -90},
                               "scale": [4, 4, 4]},
                  "bsdf": {"type": "diffuse", "id": "floor_mat",
                           "reflectance": {"type": "rgb", "value": [0.8, 0.6, 0.4]}}},
        "wall": {"type": "rectangle",
                 "to_world": {"type": "transform", "scale": [4, 4, 4], "translate": [0, 0, -2.5]},
                 "bsdf": {"type": "twosided", "bsdf": {
                     "type": "diffuse", "reflectance": {"type": "rgb", "value": [0.5, 0.5, 0.5]}}}},
        "lamp": {"type": "point", "position": [0.5, 2, 0.3],
                 "intensity": {"type": "rgb", "value": [10, 10, 10]}},
    })
    return dr.load_scene(d)
