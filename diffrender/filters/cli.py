"""``diffrender filter`` and ``diffrender tune`` (click commands; the main CLI group adds them)."""
from __future__ import annotations

import os

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..cli_common import device_option, handle_errors, start_engine, threads_option
from ..errors import ImageError
from ..image import read_image, write_image

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".exr", ".hdr", ".pic", ".pfm", ".tif", ".tiff", ".bmp", ".npy", ".webp")


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
    from .pipeline import Pipeline  # lazy engine start

    start_engine(device, threads, quiet=True)
    pipe = Pipeline.load(pipeline)
    if os.path.isdir(input):
        if os.path.exists(output) and not os.path.isdir(output):
            raise ImageError(f"{output}: must be a folder when INPUT is a folder")
        os.makedirs(output, exist_ok=True)
        jobs = []
        for src in _images_in(input):
            stem, e = os.path.splitext(os.path.basename(src))
            jobs.append((src, os.path.join(output, stem + (ext if ext and ext.startswith(".") else
                                                          (f".{ext}" if ext else e)))))
    else:
        jobs = [(input, output)]
    for src, dst in jobs:
        img = read_image(src)
        out = pipe(img, where=src)
        write_image(dst, out)
        click.echo(f"{src} -> {dst}", err=True)


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
@click.option("--iters", type=click.IntRange(min=1), default=None,
              help="iterations (default 200 / 500 / 50)")
@click.option("--lr", type=float, default=None, help="Adam step size (default 0.01)")
@click.option("--crop", type=int, default=None, help="random crops of this size (exact margins)")
@click.option("--seed", type=int, default=0)
@device_option
@threads_option
@click.option("--quiet", is_flag=True, help="no progress bar")
@handle_errors
def tune_cmd(pipeline, input_, target, pairs, output, out_dir, method, iters, lr, crop, seed, device,
             threads, quiet):
    """Fit the learnable parameters of PIPELINE so that it maps inputs to targets."""
    if pairs and (input_ or target):
        raise click.UsageError("give either --pairs or --input/--target, not both")
    if not pairs and not (input_ and target):
        raise click.UsageError("give --input and --target, or --pairs DIR")
    from .pipeline import Pipeline  # lazy engine start (these import Taichi)
    from .tune import DEFAULT_ITERS, Tuner, write_report

    start_engine(device, threads, quiet=True)
    files = _pairs_from_dir(pairs) if pairs else [(input_, target)]
    data = [(read_image(a), read_image(b)) for a, b in files]
    pipe = Pipeline.load(pipeline, dual=(method == "lm"))
    if output is None:
        stem, e = os.path.splitext(pipeline)
        output = f"{stem}.tuned{e or '.yaml'}"
    out_dir = out_dir or os.path.dirname(os.path.abspath(output))
    tuner = Tuner(pipe, data, crop=crop, seed=seed, where=[a for a, _ in files])
    before = pipe(data[0][0])
    total = iters or DEFAULT_ITERS.get(method, DEFAULT_ITERS["lbfgs"])
    with Progress(TextColumn("tune"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                  disable=quiet, transient=False, console=Console(stderr=True)) as prog:
        task = prog.add_task("tune", total=total, loss="-")

        def cb(it, loss, params):
            prog.update(task, completed=min(it, total), loss=f"{loss:.4g}")

        res = tuner.run(method, iters, lr, cb)
    pipe.save(output)
    write_report(os.path.join(out_dir, "report.csv"), res)
    after = pipe(data[0][0])
    write_image(os.path.join(out_dir, "before.png"), before)
    write_image(os.path.join(out_dir, "after.png"), after)
    write_image(os.path.join(out_dir, "target.png"), data[0][1])
    click.echo(f"loss {res.initial_loss:.6g} -> {res.loss:.6g} ({res.method}, "
               f"{len(res.history) - 1} iterations)", err=True)
    for k, v in res.params.items():
        click.echo(f"{k} = {v:.6g}")
    click.echo(f"wrote {output}, {os.path.join(out_dir, 'report.csv')}, before/after/target.png",
               err=True)


commands = [filter_cmd, tune_cmd]
