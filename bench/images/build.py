"""Container images for recipes: a local base from Debian's archive, then base and child builds with Docker or
Podman, tags derived from the recipe and its pins.

Image references come from bench.images.refs. A child Dockerfile takes its base through `ARG BASE`; the
recipe's `[stack.base]` says which Dockerfile and build arguments make that base.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.images.engine import engine_argv, engine_options
from bench.images.refs import image_ref
from bench.paths import cache_dir, data_root, source_checkout
from bench.recipes.schema import Recipe
from bench.vocabulary import EnvVar

LOCAL_BASE = "bench/debian-py:bookworm"
LOCAL_BASE_PACKAGES = "python3,python3-venv,ca-certificates,tini"


@dataclass(frozen=True)
class BuildStep:
    dockerfile: Path
    tag: str
    context: Path
    build_args: dict[str, str] = field(default_factory=dict)

    def argv(self, engine: str) -> list[str]:
        args = [arg for key, value in sorted(self.build_args.items())
                for arg in ("--build-arg", f"{key}={value}")]
        return engine_argv(engine, "build", *engine_options(EnvVar.CONTAINER_OPTIONS),
                           "-f", str(self.dockerfile), *args, "-t", self.tag, str(self.context))


def build_steps(recipe: Recipe, registry: str | None = None, tag: str | None = None,
                context: Path | None = None) -> list[BuildStep]:
    """Base (when the recipe declares one) then child, from bench's data root (the repository, or the copy of
    docker/ and patches/ an installed bench ships) or a prepared context."""
    stack = recipe.stack
    root = data_root()
    if stack.dockerfile is None:
        raise BenchError(f"{recipe.name}: [stack] names no dockerfile, so bench cannot build its image")
    steps: list[BuildStep] = []
    child_args: dict[str, str] = {}
    if stack.base is not None:
        base_ref = image_ref(stack.base.image, registry)
        if stack.base.dockerfile is not None:
            steps.append(BuildStep(root / stack.base.dockerfile, base_ref, root, dict(stack.base.args)))
        child_args["BASE"] = base_ref
    dockerfile = root / stack.dockerfile
    child_args.update(required_args(dockerfile))
    steps.append(BuildStep(dockerfile, tag or image_ref(stack.image, registry), context or root, child_args))
    return steps


REQUIRED_ARG = re.compile(r"^ARG ([A-Z][A-Z0-9_]*)\s*$", re.M)


def required_args(dockerfile: Path) -> dict[str, str]:
    """Build arguments a Dockerfile declares without a default (a commit nobody published, e.g. APEX_COMMIT):
    taken from BENCH_<NAME>, as the recipe's install steps take them; a placeholder that names it
    otherwise."""
    return {name: os.environ.get(f"BENCH_{name}") or f"<set BENCH_{name}>"
            for name in REQUIRED_ARG.findall(dockerfile.read_text(encoding="utf-8"))}


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError:
        raise BenchError(f"{argv[0]}: not found on PATH ({what})") from None
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [f"exit {done.returncode}"]
        raise BenchError(f"{what} failed: {tail[0]}")
    return done.stdout


def image_id(engine: str, tag: str) -> str:
    return _run(engine_argv(engine, "image", "inspect", "--format", "{{.Id}}", tag),
                f"{engine} image inspect").strip()


def build_local_base(engine: str, registry: str | None = None, suite: str = "bookworm") -> str:
    """Debian from Debian's archive (mmdebstrap), imported as the local base; its image ID."""
    tag = image_ref(LOCAL_BASE, registry)
    work = cache_dir() / "images"
    work.mkdir(parents=True, exist_ok=True)
    rootfs = work / f"debian-{suite}-rootfs.tar"
    if not rootfs.exists():
        partial = rootfs.with_suffix(".partial.tar")
        _run(["mmdebstrap", "--variant=minbase", f"--include={LOCAL_BASE_PACKAGES}", suite, str(partial)],
             "mmdebstrap (apt-get install mmdebstrap)")
        partial.rename(rootfs)
    _run(engine_argv(engine, "import", str(rootfs), tag), f"{engine} import")
    return image_id(engine, tag)


def wheelhouse(recipe: Recipe, out: Path) -> Path:
    """bench's own wheel and the recipe's pinned wheels with their dependencies, downloaded on the host (a
    container does not inherit the host's index and CA configuration); requirements.txt lists what to
    install."""
    checkout = source_checkout()
    if checkout is None:
        raise BenchError(f"{recipe.name}: its image installs bench's own wheel, built from a source "
                         "checkout; this bench is an installed copy: run `bench image build` from a "
                         "checkout of bench")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    python = sys.executable
    _run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(checkout)],
         "pip wheel (bench)")
    bench_wheel = next(out.glob("*.whl"))
    pins = list(recipe.stack.wheels)
    _run([python, "-m", "pip", "download", "-q", "-d", str(out), str(bench_wheel), *pins], "pip download")
    (out / "requirements.txt").write_text("\n".join([f"/wheels/{bench_wheel.name}", *pins]) + "\n")
    return out


def prepared_context(recipe: Recipe, prepare: bool = True) -> Path | None:
    """A build context holding a wheelhouse, for recipes that pin wheels ([stack] wheels); else None (the
    repository root is the context). `prepare=False` only names it (a dry run)."""
    if not recipe.stack.wheels:
        return None
    key = hashlib.sha256("\n".join(recipe.stack.wheels).encode()).hexdigest()[:12]
    context = cache_dir() / "images" / f"{recipe.name}-{key}"
    if prepare:
        wheelhouse(recipe, context / "wheels")
    return context


def push(recipe: Recipe, engine: str, registry: str | None = None, tag: str | None = None) -> str:
    """Push the child image to its registry (credentials are the engine's own login, never bench's)."""
    child = build_steps(recipe, registry, tag)[-1].tag
    if child.startswith("localhost/"):
        raise BenchError(f"{child}: a localhost image cannot be pushed; give --registry R or set "
                         "BENCH_REGISTRY")
    _run(engine_argv(engine, "push", child), f"{engine} push {child}")
    return child


def build(recipe: Recipe, engine: str, registry: str | None = None, tag: str | None = None,
          dry_run: bool = False) -> tuple[list[str], str | None]:
    """Build base then child; the shell steps, and the child's image ID (None on a dry run)."""
    context = prepared_context(recipe, prepare=not dry_run)
    steps = build_steps(recipe, registry, tag, context)
    lines = [shlex.join(step.argv(engine)) for step in steps]
    if dry_run:
        if context is not None:
            lines.insert(0, f"# wheelhouse in {context}/wheels: bench's wheel and "
                         + " ".join(recipe.stack.wheels)
                         + " with their dependencies (pip download on this host)")
        return lines, None
    for step in steps:
        missing = sorted(v.strip("<>") for v in step.build_args.values() if v.startswith("<set BENCH_"))
        if missing:
            raise BenchError(f"{step.dockerfile}: {', '.join(missing)} "
                             "(no default: nothing was published for it)")
        _run(step.argv(engine), f"{engine} build {step.tag}")
    return lines, image_id(engine, steps[-1].tag)
