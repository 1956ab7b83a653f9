"""`bench eval` and `bench data stats`."""

from __future__ import annotations

import json
from pathlib import Path

import typer


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
