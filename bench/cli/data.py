"""`bench data` (synth, stats, coco) and `bench eval`: the dataset and COCO-metric commands."""

import json
from pathlib import Path

import typer

from bench.errors import BenchError


def evaluate(
    gt: Path = typer.Argument(..., help="Ground truth: a COCO annotation file."),
    dt: Path = typer.Argument(..., help="Detections: a COCO results file (a JSON list)."),
    iou_type: str = typer.Option("bbox", "--iou-type", help="bbox or segm."),
    area_rng: str = typer.Option("coco", "--area-rng",
                                 help="coco (32², 96²), auto (tertiles of the GT areas) or A,B,C: the lower "
                                      "edges of small, medium, large in pixels²."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run COCOeval and explain -1.000 rows."""
    from bench.coco.evaluate import evaluate as run, format_block

    block = run(gt, dt, iou_type, area_rng)
    typer.echo(json.dumps(block, indent=2) if as_json else format_block(block))


def stats(
    annotations: Path = typer.Argument(..., help="A COCO annotation file."),
    plot: Path = typer.Option(None, "--plot", help="Also write an area histogram (PNG) here."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Describe a COCO-format dataset's area distribution."""
    from bench.coco.stats import dataset_stats, format_stats
    from bench.paths import output_file

    if plot is not None:
        output_file(plot, "--plot")
    result = dataset_stats(annotations, plot)
    typer.echo(json.dumps(result, indent=2) if as_json else format_stats(result))


def coco_layout(
    root: Path = typer.Argument(..., help="A COCO 2017 root (train2017/, val2017/, annotations/)."),
) -> None:
    """Check a COCO 2017 layout, and for each recipe whether it has the files the recipe reads and where
    the run links it (the recipe's prepare_run, e.g. datasets/coco for detectron2)."""
    from bench.coco.layout import COCO_2017, missing_files
    from bench.recipes.loader import load_all

    if not root.is_dir():
        raise BenchError(f"{root}: no such directory")
    missing = missing_files(root, COCO_2017)
    typer.echo(f"{root}: COCO 2017 layout " + ("complete" if not missing else f"lacks {', '.join(missing)}"))
    for recipe in load_all():
        lacks = missing_files(root, recipe.data_files)
        links = [step for step in recipe.prepare_run if "{data}" in step]
        typer.echo(f"  {recipe.name}: " + ("ready" if not lacks else f"lacks {', '.join(lacks)}")
                   + (f"; the run links it with: {'; '.join(links)}" if links
                      else "; the run reads --data directly"))
    if missing:
        raise typer.Exit(1)


def synth(
    out: Path = typer.Argument(..., help="Directory to write (train2017/ and annotations/ inside)."),
    images: int = typer.Option(64, "--images", "-n", help="Number of images."),
    size: str = typer.Option("640x480", "--size", help="Image size WxH."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same bytes."),
) -> None:
    """Write a deterministic synthetic COCO-format dataset (JPEG images, instances JSON)."""
    from bench.builtin.synth import ANNOTATIONS, parse_size, synth_dataset
    from bench.paths import output_dir

    try:
        width, height = parse_size(size)
        if images < 1:
            raise ValueError("--images must be at least 1")
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    output_dir(out, "OUT")
    synth_dataset(out, images=images, width=width, height=height, seed=seed)
    typer.echo(f"wrote {images} images ({width}x{height}, seed {seed}) to {out}; "
               f"annotations: {out / ANNOTATIONS}")


app = typer.Typer(no_args_is_help=True, help="Datasets: synthesise a COCO-format one, describe one.")
app.command("synth")(synth)
app.command("stats")(stats)
app.command("coco")(coco_layout)
