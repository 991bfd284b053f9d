"""Scenes for the visibility gradients at later path vertices (tests/core/test_edges_indirect.py
and benchmarks/bench_edges.py): Mitsuba-style scene dicts, small films, a smooth adjoint."""
import numpy as np

BOX_LIGHT = [-1.0, 2.5, -0.8]
BOX_INTENSITY = 15.0


def _sensor(res, origin, target, up=(0, 1, 0), fov=40):
    return {"type": "perspective", "fov": fov,
            "to_world": {"type": "transform", "lookat": {"origin": list(origin), "target": list(target), "up": list(up)}},
            "film": {"type": "hdrfilm", "width": res, "height": res, "rfilter": {"type": "gaussian"}},
            "sampler": {"type": "independent", "sample_count": 4}}


def _diffuse(rho):
    rho = [rho] * 3 if np.isscalar(rho) else list(rho)
    return {"type": "diffuse", "reflectance": {"type": "rgb", "value": rho}}


def _floor(scale=3.0, rho=0.7):
    return {"type": "rectangle", "bsdf": _diffuse(rho),
            "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [scale] * 3}}


def box_on_plane(res=16, max_depth=3, light="point"):
    """A box (0.6 wide) resting on a diffuse floor under a point light (or a 0.4 x 0.4 area
    light of about the same power at the same place, facing down); parameter ``box.to_world``."""
    if light == "point":
        lamp = {"type": "point", "position": BOX_LIGHT, "intensity": {"type": "rgb", "value": [BOX_INTENSITY] * 3}}
    else:
        half = 0.2
        radiance = BOX_INTENSITY * np.pi / (4 * half * half) / np.pi  # same power as the point light, cosine lobe
        lamp = {"type": "rectangle", "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [radiance] * 3}},
                "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": 90},
                             "scale": [half, half, half], "translate": BOX_LIGHT}}
    return {
        "type": "scene", "integrator": {"type": "path", "max_depth": max_depth},
        "sensor": _sensor(res, [0.8, 1.6, -2.6], [0, 0.2, 0]),
        "floor": _floor(),
        "box": {"type": "cube", "bsdf": _diffuse([0.8, 0.3, 0.2]),
                "to_world": {"type": "transform", "scale": [0.3, 0.3, 0.3], "translate": [0, 0.3, 0]}},
        "lamp": lamp,
    }


def block_on_slab(res=16, max_depth=3, mirror=False, light="area", gap=0.0):
    """A block standing on a slab, under a small area light beside and above it: the block's
    soft shadow falls on the slab. Moved together (``slab.to_world`` and ``block.to_world``),
    the body's own shadow moves with it while every shading point on the slab slides along its
    camera ray. ``mirror``: the camera sees them only in a rough mirror (``roughconductor``,
    alpha 0.05), so the shading points are at path vertex 1. ``light="point"``: a point light
    at the area light's centre instead (a hard shadow on a moving receiver). The block's base is
    sunk 0.01 into the slab (their intersection is a curve no edge sampler follows); ``gap``
    lifts it (0.11: floating 0.1 above the slab)."""
    half = 0.25
    sd = {
        "type": "scene", "integrator": {"type": "path", "max_depth": max_depth},
        "sensor": (dict(_sensor(res, [0, 2.2, 0], [0, 1, 2]), fov=16) if mirror
                   else dict(_sensor(res, [-1.0, 1.9, 0.6], [-1.2, 0.4, 2.0]), fov=30)),
        "slab": {"type": "cube", "bsdf": _diffuse(0.7),
                 "to_world": {"type": "transform", "scale": [0.5, 0.1, 0.5], "translate": [-1.2, 0.3, 2.0]}},
        "block": {"type": "cube", "bsdf": _diffuse([0.8, 0.3, 0.2]),
                  "to_world": {"type": "transform", "scale": [0.12, 0.3, 0.12], "translate": [-1.2, 0.69 + gap, 2.0]}},
        "lamp": {"type": "rectangle", "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [30.0] * 3}},
                 "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": 90},
                              "scale": [half, half, half], "translate": [-1.7, 1.9, 2.4]}},
    }
    if light == "point":
        sd["lamp"] = {"type": "point", "position": [-1.7, 1.9, 2.4], "intensity": {"type": "rgb", "value": [8.0] * 3}}
    if mirror:
        sd["mirror"] = {"type": "rectangle", "bsdf": {"type": "roughconductor", "material": "none", "alpha": 0.05},
                        "to_world": {"type": "transform", "rotate": {"axis": [0, 1, 0], "angle": 225},
                                     "translate": [0, 1, 2]}}
    return sd


SUN_DIRECTION = [0.1, -1.0, 0.2]
SUN_IRRADIANCE = 2.0


def indirect_shadow(res=16, max_depth=3, light="point"):
    """A point-light shadow seen only through a diffuse bounce: the camera sees nothing but a
    wall; the wall sees the floor, where an occluder (a 0.8 x 0.8 quad at height 1, behind the
    camera) casts the light's shadow (``light="directional"``: a directional light's, about as
    bright on the floor). Parameter ``occ.to_world``."""
    if light == "point":
        lamp = {"type": "point", "position": [0, 3, 0], "intensity": {"type": "rgb", "value": [20] * 3}}
    else:
        lamp = {"type": "directional", "direction": SUN_DIRECTION,
                "irradiance": {"type": "rgb", "value": [SUN_IRRADIANCE] * 3}}
    return {
        "type": "scene", "integrator": {"type": "path", "max_depth": max_depth},
        "sensor": _sensor(res, [0, 1.4, 0.2], [0, 1.4, 1.5]),
        "floor": _floor(rho=0.9),
        "wall": {"type": "rectangle", "bsdf": _diffuse(0.8),
                 "to_world": {"type": "transform", "rotate": {"axis": [0, 1, 0], "angle": 180},
                              "scale": [2, 2, 1], "translate": [0, 0.5, 1.5]}},
        "occ": {"type": "rectangle", "bsdf": _diffuse(0.5),
                "to_world": {"type": "transform", "rotate": {"axis": [1, 0, 0], "angle": 90},
                             "scale": [0.4, 0.4, 0.4], "translate": [0, 1.0, 0.3]}},
        "lamp": lamp,
    }


def smooth_adjoint(res, seed=7):
    """A low-frequency adjoint image (like the gradient of an image loss)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:res, 0:res] + 0.5
    out = np.zeros((res, res, 3))
    for c in range(3):
        a, b, ph = rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5), rng.uniform(0, 6.3)
        out[..., c] = np.sin(2 * np.pi * (a * x / res + b * y / res) + ph) + 0.3 * rng.normal(size=(res, res))
    return out.astype(np.float32)


def _fd_moved(renderer, scene, name, move, adj, h, spp, seeds, seed0):
    """Central finite difference of sum(adj * render) in a parameter ``t`` of ``name``'s
    to_world (a key, or a sequence of keys moved together), ``move(M0, t)`` giving the moved
    matrix; common random numbers per seed: (mean, standard error)."""
    p = scene.parameters()
    names = [name] if isinstance(name, str) else list(name)
    M0 = {n: p[n].copy() for n in names}
    out = []
    for s in range(seeds):
        v = []
        for sg in (1, -1):
            for n in names:
                p[n] = move(M0[n], sg * h)
            v.append(float((renderer.render(spp=spp, seed=seed0 + s).astype(np.float64) * adj).sum()))
        out.append((v[0] - v[1]) / (2 * h))
    for n in names:
        p[n] = M0[n]
    renderer.update()
    return float(np.mean(out)), float(np.std(out) / np.sqrt(max(seeds - 1, 1)))


def fd_translation(renderer, scene, name, axis, adj, h, spp, seeds, seed0=100):
    """Central finite difference of sum(adj * render) in the x/y/z translation of ``name``'s
    to_world (a key, or a sequence of keys translated together), common random numbers per
    seed: (mean, standard error)."""
    def move(M0, t):
        M = M0.copy()
        M[axis, 3] += t
        return M

    return _fd_moved(renderer, scene, name, move, adj, h, spp, seeds, seed0)


ENV_RADIANCE = 1.0


def _environment(envmap=None):
    """A uniform white sky (``constant``), or the ``envmap`` file ``envmap``."""
    if envmap is None:
        return {"type": "constant", "radiance": {"type": "rgb", "value": [ENV_RADIANCE] * 3}}
    return {"type": "envmap", "filename": str(envmap)}


def sky_patch(height=16, base=0.3, patch=30.0):
    """A lat-long environment image (height x 2 height, linear RGB): a dim sky with a bright
    3 x 3-texel patch around the direction (0.6, 0.8, 0) (Mitsuba's mapping: u = atan2(x, -z) /
    2 pi, v = acos(y) / pi), so that it casts a soft shadow towards -x."""
    img = np.full((height, 2 * height, 3), base, np.float32)
    r, c = int(round(np.arccos(0.8) / np.pi * height)), height // 2
    img[r - 1:r + 2, c - 1:c + 2] = patch
    return img


def env_occlusion(res=16, max_depth=2, envmap=None):
    """A floor seen from above under the environment (``constant``, or the ``envmap`` file),
    darkened by the occlusion of the sky by a box (0.6 x 0.8 x 0.6, hovering 0.05 above the
    floor) just outside the view; parameter ``box.to_world``. Nothing that moves is seen
    directly: the gradient is the sky's shadow only (silhouettes seen from the floor)."""
    return {"type": "scene", "integrator": {"type": "path", "max_depth": max_depth},
            "sensor": _sensor(res, [0, 3, 0.01], [0, 0, 0], up=(0, 0, 1), fov=30),
            "floor": _floor(rho=0.8),
            "box": {"type": "cube", "bsdf": _diffuse(0.5),
                    "to_world": {"type": "transform", "scale": [0.3, 0.4, 0.3], "translate": [1.25, 0.45, 0]}},
            "env": _environment(envmap)}


ENV_BOX_CENTRE = [0.0, 0.3, 0.0]  # env_silhouette's box


def env_silhouette(res=16, max_depth=2, envmap=None):
    """A box (0.6 wide) in front of the sky (``constant``, or the ``envmap`` file): its
    silhouettes against the background; parameter ``box.to_world``."""
    return {"type": "scene", "integrator": {"type": "path", "max_depth": max_depth},
            "sensor": _sensor(res, [0.8, 1.6, -2.6], [0, 0.2, 0]),
            "box": {"type": "cube", "bsdf": _diffuse([0.8, 0.3, 0.2]),
                    "to_world": {"type": "transform", "scale": [0.3, 0.3, 0.3], "translate": list(ENV_BOX_CENTRE)}},
            "env": _environment(envmap)}


def turned(M0, angle, centre):
    """``M0`` turned by ``angle`` (radians) about the vertical axis through ``centre``."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.eye(4)
    R[0, 0], R[0, 2], R[2, 0], R[2, 2] = c, s, -s, c
    T = np.eye(4)
    T[:3, 3] = centre
    Ti = np.eye(4)
    Ti[:3, 3] = -np.asarray(centre, np.float64)
    return T @ R @ Ti @ np.asarray(M0, np.float64)


def fd_turn(renderer, scene, name, centre, adj, h, spp, seeds, seed0=100):
    """Central finite difference of sum(adj * render) in the angle of ``name``'s to_world
    turned about the vertical axis through ``centre`` (:func:`turned`), common random numbers
    per seed: (mean, standard error)."""
    return _fd_moved(renderer, scene, name, lambda M0, t: turned(M0, t, centre), adj, h, spp,
                     seeds, seed0)


def _mirror(angle, at, half=0.3, alpha=0.01):
    """A nearly smooth mirror (``roughconductor``: geometry derivatives refuse delta BSDFs): a
    square of side 2 half, turned about x by ``angle``."""
    return {"type": "rectangle", "bsdf": {"type": "roughconductor", "material": "none", "alpha": alpha},
            "to_world": {"type": "transform", "scale": [half] * 3,
                         "rotate": {"axis": [1, 0, 0], "angle": angle}, "translate": list(at)}}


def periscope(res=16, max_depth=6):
    """A soft shadow seen only at path vertex 4: the camera (fov 2) looks along +z into four
    nearly smooth mirrors (up, along, down, along: vertices 0-3), which show a diffuse wall (vertex 4)
    lit by a small area light; an occluder half-way between them casts the penumbra that the
    mirrors show. Nothing else sees the light or the occluder. Parameter ``occ.to_world``;
    ``max_depth`` 6 reaches the light from the wall."""
    light_at, mid = np.array([-1.2, 1.0, 3.8]), np.array([-0.6, 1.0, 4.4])
    tangent = np.array([np.cos(np.pi / 4), 0.0, -np.sin(np.pi / 4)])  # in the occluder's plane
    return {
        "type": "scene", "integrator": {"type": "path", "max_depth": max_depth},
        "sensor": dict(_sensor(res, [0, 1, -3], [0, 1, 0]), fov=2),
        "m1": _mirror(-135, [0, 1, 0]),
        "m2": _mirror(45, [0, 3, 0]),
        "m3": _mirror(135, [0, 3, 2]),
        "m4": _mirror(-45, [0, 1, 2]),
        "wall": {"type": "rectangle", "bsdf": _diffuse(0.8),
                 "to_world": {"type": "transform", "scale": [2, 2, 1],
                              "rotate": {"axis": [0, 1, 0], "angle": 180}, "translate": [0, 1, 5]}},
        "lamp": {"type": "rectangle", "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [400.0] * 3}},
                 "to_world": {"type": "transform", "scale": [0.1] * 3,
                              "rotate": {"axis": [0, 1, 0], "angle": 45}, "translate": list(light_at)}},
        "occ": {"type": "rectangle", "bsdf": _diffuse(0.5),
                "to_world": {"type": "transform", "scale": [0.3] * 3,
                             "rotate": {"axis": [0, 1, 0], "angle": 45},
                             "translate": list(mid - 0.3 * tangent)}},
    }
