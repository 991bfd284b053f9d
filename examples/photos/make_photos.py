"""Make the photo tutorial's input (docs/photos.md): a multi-view "photo" set that no diffrender
code made. Mitsuba 3 renders examples/photos/scene.xml (box albedo 0.62, 0.35, 0.18) from 10
views; each image then goes through a camera model: lens distortion (Brown-Conrady k1, k2),
off-centre principal point, per-image zoom, vignetting, unknown exposure and white balance per
image, sensor noise, sRGB 8-bit and JPEG (quality 92, 4:2:0 chroma). The cameras are written
as a COLMAP text model with noisy poses and intrinsics, as a reconstruction would give them; the
truth goes to truth.json. Masks of the box come from Mitsuba's ray casts.

    python examples/photos/make_photos.py            # needs mitsuba (pip install 'diffrender[bench]')

Only numpy, OpenCV, Pillow and Mitsuba are used here: the camera conventions are written out
(OpenCV camera axes: x right, y down, z forward; pixel centres at +0.5 as in COLMAP).
"""
import argparse
import json
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ALBEDO = (0.62, 0.35, 0.18)
WIDTH, HEIGHT = 120, 90          # photo size (the optimization's film is smaller)
FOCAL = 105.0                    # pixels, about 59 degrees horizontally
K1, K2 = -0.09, 0.012            # one lens for all views
VIGNETTING = 0.25                # brightness 1 - a r^2, r = distance to the centre / half-diagonal
SUPERSAMPLE = 3                  # rays per output pixel side
OVERSCAN = 2                     # the pinhole render's pixels per output pixel
SPP = 256
N_VIEWS = 10
JPEG_QUALITY = 92
POSE_NOISE_DEG, POSE_NOISE_M = 0.15, 0.004
FOCAL_NOISE = 0.02               # relative error of the model's focal lengths
TARGET = np.array([0.0, 0.2, 0.0])


def look_at_cv(origin, target, up=(0.0, 1.0, 0.0)):
    """camera-to-world with OpenCV axes (x right, y down, z forward)."""
    z = target - origin
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, origin
    return m


def distort(xy, k1, k2):
    r2 = (xy ** 2).sum(-1, keepdims=True)
    return xy * (1 + k1 * r2 + k2 * r2 * r2)


def undistort(xy_d, k1, k2):
    xy = xy_d.copy()
    for _ in range(30):
        xy = xy + (xy_d - distort(xy, k1, k2))
    return xy


def rot_to_quat(R):
    """(w, x, y, z) of a rotation matrix (COLMAP's order)."""
    w = np.sqrt(max(0.0, 1 + R[0, 0] + R[1, 1] + R[2, 2])) / 2
    x = np.copysign(np.sqrt(max(0.0, 1 + R[0, 0] - R[1, 1] - R[2, 2])) / 2, R[2, 1] - R[1, 2])
    y = np.copysign(np.sqrt(max(0.0, 1 - R[0, 0] + R[1, 1] - R[2, 2])) / 2, R[0, 2] - R[2, 0])
    z = np.copysign(np.sqrt(max(0.0, 1 - R[0, 0] - R[1, 1] + R[2, 2])) / 2, R[1, 0] - R[0, 1])
    q = np.array([w, x, y, z])
    return q / np.linalg.norm(q)


def small_rotation(rng, deg):
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    a = np.radians(deg) * rng.normal()
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "set"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--spp", type=int, default=SPP)
    args = ap.parse_args()
    import cv2
    import mitsuba as mi

    mi.set_variant("scalar_rgb")
    rng = np.random.default_rng(args.seed)
    for sub in ("images", "masks", os.path.join("sparse", "0")):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    truth = {"albedo": ALBEDO, "k1": K1, "k2": K2, "views": []}
    cams, imgs = [], []
    for v in range(N_VIEWS):
        az = 2 * np.pi * (v + rng.uniform(-0.25, 0.25)) / N_VIEWS
        el = np.radians(rng.uniform(22, 38))
        dist = rng.uniform(2.6, 3.2)
        origin = TARGET + dist * np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
        c2w = look_at_cv(origin, TARGET + rng.normal(0, 0.05, 3))
        f = FOCAL * rng.uniform(0.95, 1.05)   # zoom
        cx, cy = WIDTH / 2 + rng.uniform(-2, 2), HEIGHT / 2 + rng.uniform(-2, 2)
        # pixel centres (+0.5 convention), supersampled
        s = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE
        ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
        u = xs[:, :, None, None] + s[None, None, None, :]
        w = ys[:, :, None, None] + s[None, None, :, None]
        u, w = np.broadcast_arrays(u, w)
        xy = undistort(np.stack([(u - cx) / f, (w - cy) / f], -1), K1, K2)
        # pinhole render covering every ray, centred on the optical axis
        half = np.abs(xy).max(axis=(0, 1, 2, 3)) * 1.02
        pw, ph = OVERSCAN * WIDTH, OVERSCAN * HEIGHT
        fp = min(pw / 2 / half[0], ph / 2 / half[1])
        fov = float(np.degrees(2 * np.arctan(pw / 2 / fp)))
        to_world = c2w @ np.diag([-1.0, -1.0, 1.0, 1.0])   # Mitsuba: image right is camera -x
        scene = mi.load_file(os.path.join(HERE, "scene.xml"), res_x=str(pw), res_y=str(ph),
                             spp=str(args.spp), albedo=", ".join(map(str, ALBEDO)))
        sensor = scene.sensors()[0]
        sp = mi.traverse(sensor)
        sp["x_fov"] = fov
        sp["to_world"] = mi.ScalarTransform4f(to_world.tolist())
        sp.update()
        img = np.array(mi.render(scene, sensor=sensor, seed=v), np.float32)
        # (H, W, sub-row, sub-column) -> rows (H, sub-row), columns (W, sub-column)
        grid = xy.transpose(0, 2, 1, 3, 4).reshape(HEIGHT * SUPERSAMPLE, WIDTH * SUPERSAMPLE, 2)
        mapx = (fp * grid[..., 0] + pw / 2 - 0.5).astype(np.float32)
        mapy = (fp * grid[..., 1] + ph / 2 - 0.5).astype(np.float32)
        sub = cv2.remap(img, mapx, mapy, cv2.INTER_LINEAR)
        photo = sub.reshape(HEIGHT, SUPERSAMPLE, WIDTH, SUPERSAMPLE, 3).mean(axis=(1, 3))
        # mask: Mitsuba ray casts through the pixel centres
        xy_c = undistort(np.stack([(xs + 0.5 - cx) / f, (ys + 0.5 - cy) / f], -1), K1, K2)
        d = np.concatenate([xy_c, np.ones((HEIGHT, WIDTH, 1))], -1) @ c2w[:3, :3].T
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        box = [sh for sh in scene.shapes() if sh.id() == "box"][0]
        for j in range(HEIGHT):
            for i in range(WIDTH):
                ray = mi.Ray3f(mi.Point3f(*origin), mi.Vector3f(*(d[j, i] / np.linalg.norm(d[j, i]))))
                si = scene.ray_intersect(ray)
                if si.is_valid() and si.shape == box:
                    mask[j, i] = 255
        # camera response
        r = np.hypot((xs + 0.5 - WIDTH / 2), (ys + 0.5 - HEIGHT / 2)) / np.hypot(WIDTH / 2, HEIGHT / 2)
        exposure = float(2 ** rng.uniform(-0.5, 0.5))
        wb = [float(1 + rng.uniform(-0.08, 0.08)), 1.0, float(1 + rng.uniform(-0.08, 0.08))]
        x = photo * (1 - VIGNETTING * r ** 2)[:, :, None] * exposure * np.array(wb)
        x = x + rng.normal(size=x.shape) * np.sqrt(4e-4 * np.clip(x, 0, None) + 1e-5)
        x = np.clip(x, 0, 1)
        srgb = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
        name = f"view_{v:02d}.jpg"
        Image.fromarray((srgb * 255 + 0.5).astype(np.uint8)).save(
            os.path.join(args.out, "images", name), quality=JPEG_QUALITY)
        Image.fromarray(mask).save(os.path.join(args.out, "masks", name[:-4] + ".png"))
        # what a reconstruction reports: noisy pose and intrinsics
        R_noise = small_rotation(rng, POSE_NOISE_DEG)
        c2w_est = c2w.copy()
        c2w_est[:3, :3] = R_noise @ c2w[:3, :3]
        c2w_est[:3, 3] += rng.normal(0, POSE_NOISE_M, 3)
        w2c = np.linalg.inv(c2w_est)
        f_est = f * (1 + rng.normal(0, FOCAL_NOISE))
        cams.append(f"{v + 1} OPENCV {WIDTH} {HEIGHT} {f_est!r} {f_est!r} {cx + rng.normal(0, 0.5)!r} "
                    f"{cy + rng.normal(0, 0.5)!r} {K1 * (1 + rng.normal(0, 0.05))!r} "
                    f"{K2 * (1 + rng.normal(0, 0.05))!r} 0 0")
        q = rot_to_quat(w2c[:3, :3])
        imgs.append(f"{v + 1} {' '.join(repr(float(c)) for c in q)} "
                    f"{' '.join(repr(float(c)) for c in w2c[:3, 3])} {v + 1} {name}\n")
        truth["views"].append({"name": name, "fx": f, "fy": f, "cx": cx, "cy": cy,
                               "cam_to_world_opencv": c2w.tolist(), "exposure": exposure,
                               "white_balance": wb})
        print(f"{name}: fov of the pinhole render {fov:.1f} deg, exposure {exposure:.3f}", flush=True)
    sparse = os.path.join(args.out, "sparse", "0")
    with open(os.path.join(sparse, "cameras.txt"), "w") as fh:
        fh.write("# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n" + "\n".join(cams) + "\n")
    with open(os.path.join(sparse, "images.txt"), "w") as fh:
        fh.write("# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n# POINTS2D[]\n")
        for line in imgs:
            fh.write(line + "\n")
    with open(os.path.join(sparse, "points3D.txt"), "w") as fh:
        fh.write("# POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[]\n")
    with open(os.path.join(args.out, "truth.json"), "w") as fh:
        json.dump(truth, fh, indent=1)


if __name__ == "__main__":
    main()
