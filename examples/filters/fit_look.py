"""Fit a photographic "look" from one before/after pair and transfer it to another photo.

The look is made with OpenCV/scikit-image operations that are *not* in the pipeline's family:
an HSV saturation boost, a sigmoid contrast curve, a warm per-channel gamma tint and a cos^4
lens falloff. The pipeline (look.yaml: white balance -> 9-knot monotone tone curve ->
saturation -> colour matrix -> vignette, all identity at the start) is fitted with L-BFGS-B on
scikit-image's coffee photo, then applied to the chelsea photo and compared with the true look
there. Prints the fitted parameters and the errors (RMSE, PSNR in sRGB) before and after.

    python examples/filters/fit_look.py [--method lbfgs|lm] [--out DIR]
"""
import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import diffrender as dr  # noqa: E402


def photo(name):
    from skimage import data

    return dr.srgb_to_linear(getattr(data, name)()[..., :3].astype(np.float32) / 255.0).astype(np.float32)


def true_look(x):
    """The look, in linear light: HSV saturation x1.35, sigmoid contrast, warm tint, cos^4 falloff."""
    s = dr.linear_to_srgb(x).astype(np.float32)
    hsv = cv2.cvtColor(s, cv2.COLOR_RGB2HSV)
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.35, 0, 1)
    s = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    s = 1.0 / (1.0 + np.exp(-7.0 * (s - 0.5)))
    s = (s - 1 / (1 + np.exp(3.5))) / (1 / (1 + np.exp(-3.5)) - 1 / (1 + np.exp(3.5)))
    y = dr.srgb_to_linear(np.clip(s, 0, 1))
    y = y ** np.array([0.92, 1.0, 1.12])  # warm: lift red, lower blue
    h, w = y.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2) / np.hypot((h - 1) / 2, (w - 1) / 2)
    falloff = np.cos(np.arctan(0.6 * r)) ** 4
    return (y * falloff[..., None]).astype(np.float32)


def errors(a, b):
    sa, sb = dr.linear_to_srgb(a), dr.linear_to_srgb(b)
    mse = float(np.mean((np.clip(sa, 0, 1) - np.clip(sb, 0, 1)) ** 2))
    return float(np.sqrt(np.mean((a - b) ** 2))), 10 * np.log10(1.0 / max(mse, 1e-20))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="lbfgs", choices=["lbfgs", "lm", "adam"])
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--out", default=None, help="write before/after/target PNGs and the tuned look here")
    args = ap.parse_args()

    dr.init("cpu")
    train, test = photo("coffee"), photo("chelsea")
    t_train, t_test = true_look(train), true_look(test)
    pipe = dr.Pipeline.load(os.path.join(os.path.dirname(__file__), "look.yaml"), dual=args.method == "lm")
    t0 = time.perf_counter()
    res = dr.tune(pipe, [(train, t_train)], method=args.method, iters=args.iters)
    dt = time.perf_counter() - t0
    print(f"method {res.method}: loss {res.initial_loss:.3e} -> {res.loss:.3e} in {len(res.history) - 1} "
          f"iterations, {dt:.1f} s")
    for k, v in res.params.items():
        print(f"  {k:14s} {v:+.4f}")
    for label, x, t in (("coffee (fitted)", train, t_train), ("chelsea (held out)", test, t_test)):
        rb, pb = errors(x, t)
        ra, pa = errors(pipe(x), t)
        print(f"{label:20s} RMSE {rb:.4f} -> {ra:.4f}   PSNR {pb:.1f} dB -> {pa:.1f} dB")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        pipe.save(os.path.join(args.out, "look.tuned.yaml"))
        for name, img in (("before", test), ("after", pipe(test)), ("target", t_test)):
            dr.write_image(os.path.join(args.out, f"chelsea_{name}.png"), img)
    _, pb = errors(test, t_test)
    _, pa = errors(pipe(test), t_test)
    return 0 if pa - pb > 8 else 1


if __name__ == "__main__":
    sys.exit(main())
