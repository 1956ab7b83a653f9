"""`bench bundle`: build an offline bundle of a suite for a target machine, or describe this machine as a
target (`--describe-target`)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import typer

from bench.cli.options import member_sources
from bench.errors import BenchError


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _archs(values: list[str]) -> list[str]:
    archs = [a.strip() for value in values for a in value.split(",") if a.strip()]
    for arch in archs:
        number = arch.removesuffix("+PTX")
        try:
            float(number)
        except ValueError:
            raise BenchError(f"--cuda-arch {arch}: expected a compute capability such as 9.0 or "
                             "8.0+PTX") from None
    return archs


def bundle(
    suite: str = typer.Option("current", "--suite", help="The comparison suite whose members are bundled."),
    preset: str = typer.Option("smoke", "--preset", help="The suite's preset the bundle is for."),
    out: Path = typer.Option(None, "--out", help="The bundle's folder (must not exist, or be empty)."),
    source: list[str] = typer.Option([], "--source", help="MEMBER=URL: fetch a member's source from this URL "
                                     "or local mirror (repeatable, or comma-separated)."),
    only: str = typer.Option(None, "--only", help="Only these members (comma-separated); the others are "
                             "listed as left out."),
    target: Path = typer.Option(None, "--target", help="The target's description (the JSON `bench bundle "
                                "--describe-target` printed there); default: this machine."),
    kind: str = typer.Option(None, "--kind", help="full (carries torch and torchvision) or on-top (the "
                             "target's interpreter provides torch); default: on-top when the target has "
                             "torch."),
    cuda_arch: list[str] = typer.Option([], "--cuda-arch", help="GPU architectures to compile for (9.0, "
                                        "8.0+PTX; repeatable); default: the target's GPUs."),
    build_python: Path = typer.Option(None, "--build-python", help="An interpreter of the target's Python "
                                      "version on this machine (default: found on PATH or under pyenv)."),
    max_jobs: int = typer.Option(None, "--max-jobs", min=1, help="Parallel compile jobs (default: CPUs)."),
    toolkit_wheels: bool = typer.Option(False, "--toolkit-wheels", help="Compile with NVIDIA's CUDA toolkit "
                                        "wheels from the package index even when a system toolkit is there."),
    describe_target: bool = typer.Option(False, "--describe-target", help="Print this machine's description "
                                         "as a target (JSON) and exit."),
    python: Path = typer.Option(None, "--python", help="With --describe-target: the target's interpreter "
                                "(default: the one bench makes environments from)."),
) -> None:
    """Build an offline bundle of a suite for a target machine (sources, wheels, manifest)."""
    from bench.bundle.target import describe_target as describe, load_target

    if describe_target:
        from bench.envs import base_python

        typer.echo(json.dumps(describe(python or base_python()).model_dump(mode="json"), indent=1))
        return
    if out is None:
        raise BenchError("--out DIR: where to write the bundle (or --describe-target)")
    from bench.bundle.build import BuildRequest, build_bundle
    from bench.bundle.manifest import size_report
    from bench.envs import base_python

    described = load_target(target) if target else describe(python or base_python())
    chosen = kind or ("on-top" if described.torch else "full")
    if chosen not in ("full", "on-top"):
        raise BenchError(f"--kind {chosen}: choose full or on-top")
    if chosen == "on-top" and not described.torch:
        raise BenchError(f"--kind on-top: the target {described.interpreter} provides no torch")
    archs = _archs(cuda_arch) or (list(described.gpu_archs) if described.torch and described.cuda else [])
    request = BuildRequest(suite=suite, preset=preset, out=out, target=described, kind=chosen,
                           cuda_archs=archs, sources=member_sources(source), build_python=build_python,
                           only=[m.strip() for m in only.split(",") if m.strip()] if only else None,
                           max_jobs=max_jobs or os.cpu_count() or 1, prefer_toolkit_wheels=toolkit_wheels)
    started = time.monotonic()
    manifest = build_bundle(request, _say)
    for line in size_report(manifest):
        typer.echo(line)
    typer.echo(f"bundle {out} built in {time.monotonic() - started:.0f} s")
