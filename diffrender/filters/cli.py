"""``diffrender filter`` and ``diffrender tune`` (click commands; the main CLI group adds them)."""
from __future__ import annotations

import os

import math

import click
import numpy as np

from ..cli_common import Progress, Stopwatch, device_option, handle_errors, start_engine, threads_option
from ..errors import DiffrenderError, ImageError
from ..image import SRGB_EXTS, linear_to_srgb, read_image, srgb_to_linear, write_image

#: ``tune --space`` values (``pipeline.SPACES``, spelled out so that parsing does not import Taichi)
SPACE_CHOICES = ("srgb", "linear")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".exr", ".hdr", ".pic", ".pfm", ".tif", ".tiff", ".bmp", ".npy", ".webp")


def to_space(img, space):
    """Linear image (as ``read_image`` gives) -> the values a pipeline working in ``space`` sees."""
    if space != "srgb":
        return img
    out = np.array(img, np.float32, copy=True)
    c = min(out.shape[2], 3)  # colour channels are encoded, alpha stays linear
    out[:, :, :c] = linear_to_srgb(out[:, :, :c])
    return out


def from_space(img, space):
    """A pipeline's output in ``space`` -> linear (what ``write_image`` takes)."""
    if space != "srgb":
        return img
    out = np.array(img, np.float32, copy=True)
    c = min(out.shape[2], 3)
    out[:, :, :c] = srgb_to_linear(np.maximum(out[:, :, :c], 0.0))
    return out


def _read_all(paths):
    """Read every image; an unreadable one is an error naming all of them (nothing is skipped)."""
    images, bad = [], []
    for p in paths:
        try:
            images.append(read_image(p))
        except ImageError as exc:
            bad.append(str(exc))
    if bad:
        head = f"{len(bad)} unreadable images: " if len(bad) > 1 else ""
        raise ImageError(head + "; ".join(bad))
    return images


def _images_in(folder):
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise ImageError(f"{folder}: no images found (extensions {', '.join(IMAGE_EXTS)})")
    return [os.path.join(folder, f) for f in files]


@click.command("filter")
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.argument("input", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(),
              help="output image, or a folder when INPUT is a folder")
@click.option("--ext", default=None, help="output extension for a folder (default: the input's)")
@device_option
@threads_option
@handle_errors
def filter_cmd(pipeline, input, output, ext, device, threads):
    """Apply the filter PIPELINE (YAML/JSON) to INPUT (an image or a folder of images)."""
    if not os.path.exists(input):
        raise ImageError(f"{input}: no such image file or folder")
    from .pipeline import Pipeline, load_pipeline_file  # lazy engine start

    data = load_pipeline_file(pipeline)  # a missing or unparsable file fails before the engine starts
    start_engine(device, threads)  # before the pipeline: its stages own Taichi fields
    pipe = Pipeline.from_config(data, source=pipeline)
    if os.path.isdir(input):
        if os.path.exists(output) and not os.path.isdir(output):
            raise ImageError(f"{output}: must be a folder when INPUT is a folder")
        jobs = []
        for src in _images_in(input):
            stem, e = os.path.splitext(os.path.basename(src))
            jobs.append((src, os.path.join(output, stem + (ext if ext and ext.startswith(".") else
                                                          (f".{ext}" if ext else e)))))
    else:
        jobs = [(input, output)]
    images = _read_all([src for src, _ in jobs])  # a corrupt file stops the run before any write
    space = pipe.space or "linear"
    watch = Stopwatch()
    if os.path.isdir(input):
        os.makedirs(output, exist_ok=True)
    with Progress("filter", len(jobs), "images", quiet=len(jobs) == 1) as prog:
        for k, ((src, dst), img) in enumerate(zip(jobs, images)):
            out = from_space(pipe(to_space(img, space), where=src), space)
            write_image(dst, out)
            prog.update(k + 1)
            click.echo(f"{src} -> {dst}", err=True)
    click.echo(f"filtered {len(jobs)} image(s) in {space} space in {watch.summary()}", err=True)


def _pairs_from_dir(d):
    ind, outd = os.path.join(d, "input"), os.path.join(d, "target")
    if not (os.path.isdir(ind) and os.path.isdir(outd)):
        raise ImageError(f"{d}: --pairs needs subfolders 'input/' and 'target/' with matching file names")
    targets = {os.path.splitext(os.path.basename(p))[0]: p for p in _images_in(outd)}
    pairs = []
    for p in _images_in(ind):
        stem = os.path.splitext(os.path.basename(p))[0]
        if stem not in targets:
            raise ImageError(f"{p}: no target named '{stem}.*' in {outd}")
        pairs.append((p, targets[stem]))
    return pairs


@click.command("tune")
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--input", "input_", type=click.Path(), help="input image")
@click.option("--target", type=click.Path(), help="target image")
@click.option("--pairs", type=click.Path(file_okay=False), help="folder with input/ and target/")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="tuned pipeline (default: <pipeline>.tuned.<ext>)")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="folder for report.csv and before/after/target images (default: next to -o)")
@click.option("--method", type=click.Choice(["auto", "lbfgs", "adam", "lm"]), default="auto",
              show_default=True)
@click.option("--iters", type=int, default=None,
              help="iterations, a positive integer (default 200 / 500 / 50)")
@click.option("--lr", type=float, default=None, help="Adam step size, positive (default 0.01)")
@click.option("--crop", type=int, default=None,
              help="random crops of this size in pixels, positive (exact margins)")
@click.option("--space", type=click.Choice(SPACE_CHOICES), default=None,
              help="colour space to fit in: srgb (the values PNG/JPEG files store) or linear "
                   "(light). Default: the pipeline's 'space:', else srgb when every image is "
                   "PNG/JPEG, else linear.")
@click.option("--seed", type=int, default=0)
@device_option
@threads_option
@click.option("--quiet", is_flag=True, help="no progress bar")
@handle_errors
def tune_cmd(pipeline, input_, target, pairs, output, out_dir, method, iters, lr, crop, seed, device,
             threads, quiet, space):
    """Fit the learnable parameters of PIPELINE so that it maps inputs to targets."""
    if pairs and (input_ or target):
        raise click.UsageError("give either --pairs or --input/--target, not both")
    if not pairs and not (input_ and target):
        raise click.UsageError("give --input and --target, or --pairs DIR")
    if iters is not None and iters <= 0:
        raise DiffrenderError(f"--iters: expected a positive number of iterations, got {iters}")
    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        raise DiffrenderError(f"--lr: expected a positive, finite step size, got {lr:g}")
    if crop is not None and crop <= 0:
        raise DiffrenderError(f"--crop: expected a positive crop size in pixels, got {crop}")
    from .pipeline import Pipeline, load_pipeline_file  # lazy engine start (these import Taichi)
    from .tune import DEFAULT_ITERS, Tuner, write_report

    data = load_pipeline_file(pipeline)  # a missing or unparsable file fails before the engine starts
    start_engine(device, threads)  # before the pipeline: its stages own Taichi fields
    pipe = Pipeline.from_config(data, source=pipeline, dual=(method == "lm"))
    files = _pairs_from_dir(pairs) if pairs else [(input_, target)]
    images = _read_all([p for pair in files for p in pair])
    space, why = _tune_space(space, pipe.space, [p for pair in files for p in pair])
    click.echo(f"tune: fitting in {space} space ({why})", err=True)
    data = [(to_space(images[2 * k], space), to_space(images[2 * k + 1], space))
            for k in range(len(files))]
    watch = Stopwatch()
    if output is None:
        stem, e = os.path.splitext(pipeline)
        output = f"{stem}.tuned{e or '.yaml'}"
    out_dir = out_dir or os.path.dirname(os.path.abspath(output))
    tuner = Tuner(pipe, data, crop=crop, seed=seed, where=[a for a, _ in files])
    before = pipe(data[0][0])
    total = iters or DEFAULT_ITERS.get(method, DEFAULT_ITERS["lbfgs"])
    with Progress("tune", total, "iterations", quiet=quiet) as prog:
        def cb(it, loss, params):
            prog.update(min(it, total), loss=f"{loss:.4g}")

        res = tuner.run(method, iters, lr, cb)
    if not math.isfinite(res.loss) or res.loss > res.initial_loss:
        raise DiffrenderError(f"{pipeline}: tuning made the loss worse ({res.initial_loss:.6g} -> "
                              f"{res.loss:.6g}, {res.method}); the pipeline was not written "
                              f"(try a smaller --lr or another --method)")
    pipe.space = space
    pipe.save(output)
    write_report(os.path.join(out_dir, "report.csv"), res)
    after = pipe(data[0][0])
    write_image(os.path.join(out_dir, "before.png"), from_space(before, space))
    write_image(os.path.join(out_dir, "after.png"), from_space(after, space))
    write_image(os.path.join(out_dir, "target.png"), from_space(data[0][1], space))
    click.echo(f"loss {res.initial_loss:.6g} -> {res.loss:.6g} ({res.method}, "
               f"{len(res.history) - 1} iterations, {space} space, {watch.summary()})", err=True)
    for k, v in res.params.items():
        click.echo(f"{k} = {v:.6g}")
    click.echo(f"wrote {output}, {os.path.join(out_dir, 'report.csv')}, before/after/target.png",
               err=True)


def _tune_space(asked, declared, paths):
    """The colour space tune fits in, and why."""
    if asked:
        return asked, "--space"
    if declared:
        return declared, "the pipeline's 'space:'"
    if all(os.path.splitext(p)[1].lower() in SRGB_EXTS for p in paths):
        return "srgb", "the images are 8-bit sRGB files; --space linear to fit in linear light"
    return "linear", "the images are not all PNG/JPEG; --space srgb to fit on sRGB values"


commands = [filter_cmd, tune_cmd]
