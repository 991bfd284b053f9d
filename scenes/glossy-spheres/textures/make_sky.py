"""Regenerates sky.exr (128 x 64, linear RGB, lat-long in Mitsuba's convention: top row = +Y):
a blue sky gradient, a warm horizon glow, a small bright sun (elevation 40 degrees) and a dark
brown ground. Procedural, no external data."""
import os

import numpy as np


def sky(h=64, w=128, sun_elevation=40.0, sun_azimuth=115.0):
    v = (np.arange(h) + 0.5) / h
    u = (np.arange(w) + 0.5) / w
    theta = np.pi * v[:, None] * np.ones((1, w))
    phi = 2 * np.pi * u[None, :] * np.ones((h, 1))
    up = np.cos(theta)[..., None]
    zenith = np.array([0.18, 0.35, 0.85])
    horizon = np.array([0.85, 0.75, 0.6])
    t = np.clip(up, 0, 1) ** 0.5
    img = np.where(up > 0, horizon * (1 - t) + zenith * t, np.array([0.09, 0.07, 0.05]))
    d = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), -np.sin(theta) * np.cos(phi)], -1)
    el, az = np.radians(sun_elevation), np.radians(sun_azimuth)
    sun = np.array([np.cos(el) * np.sin(az), np.sin(el), -np.cos(el) * np.cos(az)])
    c = d @ sun
    img = img + np.array([40.0, 36.0, 30.0]) * (c > np.cos(np.radians(3.0)))[..., None]
    img = img + np.array([0.6, 0.5, 0.35]) * np.exp((c - 1) * 30)[..., None]
    return img.astype(np.float32)


if __name__ == "__main__":
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", ".."))
    from diffrender.image import write_image

    write_image(os.path.join(here, "sky.exr"), sky())
