"""``diffrender dataset info PATH``: what a photo set holds, as the optimizer will read it."""
from __future__ import annotations

import click

from ..cli_common import handle_errors
from . import load_dataset


@click.group("dataset")
def dataset_cmd():
    """Photo sets (COLMAP models, transforms.json) used as optimization targets."""


@dataset_cmd.command("info")
@click.argument("path", type=click.Path())
@click.option("--subset", default=None, help="every:K, or comma-separated image names.")
@click.option("--downscale", type=float, default=1.0, show_default=True,
              help="Cameras for images shrunk by this factor.")
@click.option("--masks", type=click.Path(file_okay=False), default=None, help="Folder of masks.")
@click.option("--images", type=click.Path(file_okay=False), default=None,
              help="Folder of the images (COLMAP; default: 'images' beside the model).")
@handle_errors
def info_cmd(path, subset, downscale, masks, images):
    """Print the cameras, poses and files found in a COLMAP model or transforms.json."""
    if subset and not subset.startswith("every:"):
        subset = [s.strip() for s in subset.split(",") if s.strip()]
    ds = load_dataset(path, subset=subset, downscale=downscale, masks=masks, images=images)
    for line in ds.summary():
        click.echo(line)


commands = [dataset_cmd]
