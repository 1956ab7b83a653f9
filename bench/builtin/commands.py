"""`bench data synth`: write a deterministic synthetic COCO-format dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.errors import BenchError


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
    typer.echo(f"wrote {images} images ({width}x{height}, seed {seed}) to {out}; annotations: {out / ANNOTATIONS}")
