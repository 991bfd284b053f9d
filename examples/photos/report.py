"""Compare what `diffrender optimize examples/photos/recover.yaml` recovered with the truth of
the photo set (examples/photos/set/truth.json).

    python examples/photos/report.py runs/photos-recover

Prints one JSON line: the box's albedo (per channel and its relative error), the key light's
radiance (truth 10) and the fill light's (truth 2, 2, 2.2) when the run learns it, the box's pose error (translation in metres and as a fraction of the box's
diagonal, 0.88 m; rotation in degrees), each photo's exposure (in stops) and white-balance
gains against the truth, and the vignetting coefficient (truth -0.25; when the run learns it). With a reference view
(``filters_reference_view``), exposures, gains and the key light are compared relative to it:
the truth of view k is then ev_k - ev_ref and gains_k / gains_ref, and the key light's truth is
10 x exposure_ref x gains_ref (per channel).
"""
import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BOX_DIAGONAL = 2 * float(np.linalg.norm([0.3, 0.25, 0.2]))   # the box's half-sizes in scene.xml
KEY_RADIANCE = 10.0
FILL_RADIANCE = (2.0, 2.0, 2.2)
VIGNETTING = -0.25


def focal_errors(run_dir, p, truth):
    """When the run refined the photos' fields of view (``sensor_*.fov`` on pinhole sensors,
    ``undistort: true``): each photo's focal length in photo pixels, f = (W / 2) / tan(fov / 2),
    against the truth, next to the error of the COLMAP model's focal length it started from."""
    with open(os.path.join(run_dir, "config.json")) as fh:
        downscale = float((json.load(fh)["config"].get("dataset") or {}).get("downscale", 1.0))
    views = os.path.join(run_dir, "views.json")
    if not os.path.exists(views):
        return {}
    with open(views) as fh:
        views = json.load(fh)
    model = {}
    with open(os.path.join(HERE, "set", "sparse", "0", "cameras.txt")) as fh:
        for line in fh:
            if line.strip() and not line.startswith("#"):
                f = line.split()
                model[int(f[0])] = (int(f[2]), float(f[4]))   # width, fx
    camera_of = {}
    with open(os.path.join(HERE, "set", "sparse", "0", "images.txt")) as fh:
        for line in fh:
            f = line.split()
            if len(f) == 10 and not line.startswith("#"):
                camera_of[f[9]] = int(f[8])
    true_f = {v["name"]: v["fx"] for v in truth["views"]}
    err, err0 = [], []
    for v in views:
        key = f"sensor_{v['sensor']}.fov"
        width, f_model = model[camera_of[v["image"]]]
        if key in p:                       # pinhole sensors (undistort: true)
            f = 0.5 * width / np.tan(np.radians(float(p[key])) / 2)
        elif f"sensor_{v['sensor']}.fx" in p:   # the photo's own camera: fx in film pixels
            f = float(p[f"sensor_{v['sensor']}.fx"]) * downscale
        else:
            return {}
        err.append(100 * (f / true_f[v["image"]] - 1))
        err0.append(100 * (f_model / true_f[v["image"]] - 1))
    return {"focal_error_percent": np.round(err, 2).tolist(),
            "focal_error_percent_max": round(float(np.abs(err).max()), 2),
            "model_focal_error_percent_max": round(float(np.abs(err0).max()), 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    a = ap.parse_args()
    with open(os.path.join(a.run_dir, "params.json")) as fh:
        p = {k: np.asarray(v, np.float64) for k, v in json.load(fh).items()}
    with open(os.path.join(HERE, "set", "truth.json")) as fh:
        truth = json.load(fh)
    albedo = p["box_paint.reflectance"]
    true_albedo = np.asarray(truth["albedo"])
    ev = p["filters.exposure.ev"]
    true_ev = np.log2([v["exposure"] for v in truth["views"]])
    gains = np.stack([p["filters.wb.gain_r"], p["filters.wb.gain_b"]], axis=1)
    true_gains = np.array([[v["white_balance"][0], v["white_balance"][2]] for v in truth["views"]])
    with open(os.path.join(a.run_dir, "config.json")) as fh:
        ref = json.load(fh)["config"].get("filters_reference_view")
    key_truth = np.full(3, KEY_RADIANCE)
    fill_truth = np.asarray(FILL_RADIANCE)
    if ref is not None:
        v = truth["views"][ref]
        key_truth = KEY_RADIANCE * v["exposure"] * np.asarray(v["white_balance"])
        fill_truth = fill_truth * v["exposure"] * np.asarray(v["white_balance"])
        true_ev = true_ev - true_ev[ref]
        true_gains = true_gains / true_gains[ref]
    t = p["box.to_world.translate"]
    out = {
        "albedo": albedo.round(4).tolist(), "true_albedo": true_albedo.tolist(),
        "albedo_error_percent": (100 * (albedo / true_albedo - 1)).round(2).tolist(),
        "key_radiance": p["key_light.emitter.radiance"].round(3).tolist(), "true_key_radiance": key_truth.round(3).tolist(),
        "key_radiance_error_percent": (100 * (p["key_light.emitter.radiance"] / key_truth - 1)).round(2).tolist(),
        "reference_view": ref,
        **({"fill_radiance": p["fill_light.emitter.radiance"].round(3).tolist(),
            "true_fill_radiance": fill_truth.round(3).tolist(),
            "fill_radiance_error_percent": (100 * (p["fill_light.emitter.radiance"] / fill_truth - 1)).round(2).tolist()}
           if "fill_light.emitter.radiance" in p else {}),
        "translation_error_m": round(float(np.linalg.norm(t)), 4),
        "translation_error_of_size_percent": round(100 * float(np.linalg.norm(t)) / BOX_DIAGONAL, 2),
        "rotation_error_deg": round(float(np.linalg.norm(p["box.to_world.rotate"])), 3),
        "exposure_ev_error_max": round(float(np.abs(ev - true_ev).max()), 4),
        "exposure_ev_error_max_after_common_offset": round(float(np.abs(ev - true_ev - np.mean(ev - true_ev)).max()), 4),
        "wb_gain_error_percent_max": round(float(100 * np.abs(gains / true_gains - 1).max()), 2),
        "vignetting_k1": round(float(p.get("filters.vignette.k1", VIGNETTING)), 4), "true_vignetting_k1": VIGNETTING,
    }
    out.update(focal_errors(a.run_dir, p, truth))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
