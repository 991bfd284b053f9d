"""Recover a known filter pipeline applied with OpenCV to a real photograph.

Target: OpenCV GaussianBlur(sigma=1.7) -> gamma 0.8 -> 3x3 colour matrix -> unsharp mask
(sigma 1, amount 0.6) applied to scikit-image's astronaut photo (linear light). Start: sigma 1,
gamma 1, identity matrix, amount 0 (recover.yaml). Fits with L-BFGS-B and prints each
parameter's error; every one must be below 0.01.

    python examples/filters/recover_pipeline.py [--method lbfgs|lm|adam] [--size 512]
"""
import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import diffrender as dr  # noqa: E402

TRUE = {
    "blur.sigma": 1.7,
    "gamma.gamma": 0.8,
    "sharpen.amount": 0.6,
}
M = np.array([[1.10, 0.08, -0.05], [0.04, 0.95, 0.06], [-0.03, 0.12, 1.05]])
for a in range(3):
    for b in range(3):
        TRUE[f"color.m{a}{b}"] = float(M[a, b])


def photo(name="astronaut", size=512):
    from skimage import data

    img = getattr(data, name)()[..., :3].astype(np.float32) / 255.0
    if size and size < img.shape[0]:
        img = cv2.resize(img, (size * img.shape[1] // img.shape[0], size), interpolation=cv2.INTER_AREA)
    return dr.srgb_to_linear(img).astype(np.float32)


def opencv_pipeline(x):
    y = cv2.GaussianBlur(x, (0, 0), 1.7, borderType=cv2.BORDER_REFLECT_101)
    y = np.power(y, 0.8).astype(np.float32)
    y = (y.reshape(-1, 3) @ M.T.astype(np.float32)).reshape(y.shape).astype(np.float32)
    b = cv2.GaussianBlur(y, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT_101)
    return (y + 0.6 * (y - b)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="lbfgs", choices=["lbfgs", "lm", "adam"])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--crop", type=int, default=None)
    args = ap.parse_args()

    dr.init("cpu")
    x = photo("astronaut", args.size)
    target = opencv_pipeline(x)
    pipe = dr.Pipeline.load(os.path.join(os.path.dirname(__file__), "recover.yaml"),
                         dual=args.method == "lm")
    t0 = time.perf_counter()
    res = dr.tune(pipe, [(x, target)], method=args.method, iters=args.iters, crop=args.crop)
    dt = time.perf_counter() - t0
    print(f"method {res.method}: loss {res.initial_loss:.3e} -> {res.loss:.3e} in "
          f"{len(res.history) - 1} iterations, {res.evaluations} evaluations, {dt:.1f} s")
    worst = 0.0
    for k, v in TRUE.items():
        got = res.params[k]
        worst = max(worst, abs(got - v))
        print(f"  {k:16s} true {v:+.4f}  recovered {got:+.4f}  error {abs(got - v):.2e}")
    print(f"max parameter error {worst:.2e} ({'OK' if worst < 0.01 else 'FAILED'}: tolerance 0.01)")
    return 0 if worst < 0.01 else 1


if __name__ == "__main__":
    sys.exit(main())
