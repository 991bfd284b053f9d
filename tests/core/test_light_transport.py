"""Radiometry against closed forms: furnace, point light, polygonal area light."""
import numpy as np
import pytest

from diffrender.core import Renderer, render
from diffrender.core.camera import camera_params
from tests.helpers.scenes import (area_light, diffuse, make_scene, point_light, quad, sensor,
                                  sphere)


def furnace_scene(albedo, radiance, max_depth, rr_depth=5, res=8, spp=64):
    s = sphere((0, 0, 0), 1.0, subdivisions=2, bsdf=diffuse(albedo), inward=True, smooth=False)
    area_light(s, radiance)
    cam = sensor(origin=(0, 0, -0.3), target=(0, 0, 1), fov=60, width=res, height=res, spp=spp)
    return make_scene([s], sensors=[cam], max_depth=max_depth, rr_depth=rr_depth)


@pytest.mark.parametrize("max_depth", [1, 2, 4])
def test_furnace_finite_depth(max_depth):
    """Closed emitting sphere, albedo a: L = Le * sum_{k < max_depth} a^k, everywhere."""
    a, le = 0.8, 0.5
    img = render(furnace_scene(a, le, max_depth), seed=1)
    expect = le * sum(a ** k for k in range(max_depth))
    assert np.allclose(img.mean(), expect, rtol=0.01), (img.mean(), expect)
    assert np.allclose(img, expect, rtol=0.08)


def test_furnace_russian_roulette_unbiased():
    """Unbounded depth with roulette from the 2nd bounce: L = Le / (1 - a)."""
    a, le = 0.5, 1.0
    img = render(furnace_scene(a, le, max_depth=-1, rr_depth=2, spp=128), seed=2)
    assert np.allclose(img.mean(), le / (1 - a), rtol=0.01), img.mean()


def plane_pixel_points(sc, y_plane=0.0, sub=(0.5, 0.5)):
    """World points where the rays through (x + sub[0], y + sub[1]) of every pixel of sensor 0
    hit the plane y = y_plane."""
    s = sc.sensors[0]
    c = camera_params(s)
    w, h = s.film.width, s.film.height
    xs = (np.arange(w) + sub[0]) / w
    ys = (np.arange(h) + sub[1]) / h
    sx, sy = np.meshgrid(xs, ys)
    d = np.stack([(1 - 2 * sx) * c["tan_x"], (1 - 2 * sy) * c["tan_x"] / c["aspect"],
                  np.ones_like(sx)], -1)
    d = d @ c["rot"].T
    o = c["origin"]
    t = (y_plane - o[1]) / d[..., 1]
    return o + t[..., None] * d


def test_point_light_on_diffuse_plane():
    """L = rho / pi * I cos(theta) / r^2 per pixel (direct lighting only, no noise but the
    pixel jitter)."""
    rho, inten, lp = 0.6, 5.0, np.array([0.3, 1.5, 0.2])
    floor = quad((0, 0, 0), (20, 0, 0), (0, 0, -20), bsdf=diffuse(rho))  # normal +y
    cam = sensor(origin=(0, 3, -3), target=(0, 0, 0.5), fov=40, width=24, height=24, spp=64)
    sc = make_scene([floor], [point_light(lp, inten)], sensors=[cam], max_depth=2)
    img = render(sc)
    # The box-filtered pixel value is the pixel-area average: integrate on an 8x8 sub-grid.
    expect = 0.0
    for i in range(8):
        for j in range(8):
            p = plane_pixel_points(sc, sub=((i + 0.5) / 8, (j + 0.5) / 8))
            v = lp - p
            r2 = (v ** 2).sum(-1)
            expect = expect + rho / np.pi * inten * (v[..., 1] / np.sqrt(r2)) / r2 / 64
    np.testing.assert_allclose(img[..., 0], expect, rtol=0.05)  # jitter noise, grazing rows
    np.testing.assert_allclose(img[12:, :, 0], expect[12:], rtol=0.025)
    assert abs(img[..., 0].mean() / expect.mean() - 1) < 0.003
    # The path tracer with more bounces adds nothing here (a single plane).
    img5 = render(sc, max_depth=5)
    np.testing.assert_allclose(img5, img, rtol=1e-6, atol=1e-7)


def polygon_irradiance(p, n, verts):
    """Irradiance at p (normal n) from a unit-radiance Lambertian polygon (Lambert's formula):
    E = 1/2 * sum_i angle_i * n . normalize(v_i x v_{i+1})."""
    e = np.zeros(p.shape[:-1])
    k = len(verts)
    for i in range(k):
        a = verts[i] - p
        b = verts[(i + 1) % k] - p
        a = a / np.linalg.norm(a, axis=-1, keepdims=True)
        b = b / np.linalg.norm(b, axis=-1, keepdims=True)
        cr = np.cross(a, b)
        ang = np.arccos(np.clip((a * b).sum(-1), -1, 1))
        e += ang * (cr / np.linalg.norm(cr, axis=-1, keepdims=True) * n).sum(-1)
    return 0.5 * np.abs(e)


@pytest.mark.parametrize("integrator", ["path", "direct"])
def test_area_light_on_diffuse_plane(integrator):
    """A square light above a plane: L = rho / pi * Le * E_polygon (closed form)."""
    rho, le = 0.5, 4.0
    floor = quad((0, 0, 0), (30, 0, 0), (0, 0, -30), bsdf=diffuse(rho))
    light = quad((0.2, 1.0, 0.3), (0.4, 0, 0), (0, 0, 0.4), bsdf=diffuse(0.0))  # faces -y
    area_light(light, le)
    # Camera below the light's plane, every pixel-centre ray going down onto the floor.
    cam = sensor(origin=(0, 0.8, -3.0), target=(0, 0, 0.5), fov=20, width=16, height=16, spp=256)
    sc = make_scene([floor, light], sensors=[cam], max_depth=2, integrator=integrator)
    img = render(sc, seed=3)
    expect = 0.0
    for i in range(8):  # pixel-area average of the closed form (box filter)
        for j in range(8):
            p = plane_pixel_points(sc, sub=((i + 0.5) / 8, (j + 0.5) / 8))
            assert ((np.abs(p[..., 0]) < 25) & (np.abs(p[..., 2]) < 25)).all()
            expect = expect + rho / np.pi * le * polygon_irradiance(
                p, np.array([0, 1.0, 0]), light.vertices) / 64
    rel = img[..., 0] / expect
    assert abs(rel.mean() - 1) < 0.01, rel.mean()
    assert np.abs(rel - 1).max() < 0.12


def test_max_depth_semantics():
    """max_depth 0: black; 1: only emitters seen directly; hide_emitters removes those."""
    floor = quad((0, 0, 0), (3, 0, 0), (0, 0, -3), bsdf=diffuse(0.5))
    light = quad((0, 1.0, 1.5), (2, 0, 0), (0, 0, 2), bsdf=diffuse(0.0))
    area_light(light, 3.0)
    cam = sensor(origin=(0, 0.5, -3), target=(0, 0.8, 0.5), fov=45, width=16, height=16, spp=4)
    sc = make_scene([floor, light], sensors=[cam], max_depth=1)
    r = Renderer(sc)
    assert np.all(r.render(max_depth=0) == 0)
    img1 = r.render()
    vals = np.unique(np.round(img1[..., 0], 5))
    assert img1.max() == pytest.approx(3.0, rel=1e-5)  # the light, seen from below, emits
    assert 0.0 in vals  # the floor is black at depth 1
    sc.integrator.hide_emitters = True
    assert np.all(r.render() == 0)
    img2 = r.render(max_depth=2)
    assert img2.max() < 3.0 and img2.mean() > 0  # lit floor, light hidden


def test_one_sided_is_black_from_the_back():
    rho = 0.7
    for twosided, expect_lit in ((False, False), (True, True)):
        # Plane whose normal points away from the camera and the light.
        plane = quad((0, 0, 0), (0, 0, -2), (2, 0, 0), bsdf=diffuse(rho, twosided=twosided))
        assert np.cross(plane.vertices[1] - plane.vertices[0], plane.vertices[2] - plane.vertices[0])[1] < 0
        cam = sensor(origin=(0, 2, -2), target=(0, 0, 0), width=8, height=8, spp=4)
        sc = make_scene([plane], [point_light((0, 1, 0), 2.0)], sensors=[cam], max_depth=2)
        img = render(sc)
        assert (img.max() > 0.05) == expect_lit


def test_area_emitter_front_side_only():
    light = quad((0, 0, 0), (1, 0, 0), (0, 1, 0), bsdf=diffuse(0.0))  # normal +z (away from cam)
    area_light(light, 2.0)
    cam = sensor(origin=(0, 0, -3), target=(0, 0, 0), fov=30, width=8, height=8, spp=2)
    assert render(make_scene([light], sensors=[cam], max_depth=1)).max() == 0
    cam_front = sensor(origin=(0, 0, 3), target=(0, 0, 0), fov=30, width=8, height=8, spp=2)
    assert render(make_scene([light], sensors=[cam_front], max_depth=1)).max() == pytest.approx(2.0)
