"""`bench plan`: the exact shell steps that `bench setup` and a run perform, as text a user could paste."""

from __future__ import annotations

from pathlib import Path

from bench.recipes.render import render_command_line, render_env, render_steps
from bench.recipes.schema import DiffPatch, Recipe
from bench.security import redact, shell_assignment, shell_comment
from bench.security import shell_quote as q
from bench.source.git import is_local_source, split_credentials
from bench.source.patches import diff_path
from bench.source.setup import checkout_dir


def plan_steps(recipe: Recipe, *, gpus: int, data: str, output: str = "OUTPUT", source: str | None = None,
               workdir: str | None = None, python: str = "python", nodes: int = 1,
               port: int = 29500) -> list[str]:
    """Lines of a shell script (comments start with '#'). Every value from the recipe or an option is
    shell-quoted (or, in a comment, kept on the comment's line), so piping this to `sh` runs only these
    steps."""
    lines = [shell_comment(f"bench plan {recipe.name} --gpus {gpus} --data {data}: {recipe.title}")]
    if gpus != recipe.gpus:
        lines.append(shell_comment(f"note: the published setting is {recipe.gpus} GPUs; {gpus} GPUs give "
                                   f"{recipe.planned_images(gpus)} images per iteration "
                                   f"({recipe.images_per_iter})"))
    tree = None
    if recipe.source is not None:
        ctx = split_credentials(source or recipe.source.repo)
        url = redact(ctx.url)
        commit = recipe.source.commit
        tree = checkout_dir(recipe, workdir)
        T = q(str(tree))
        lines.append("# 1. source: a cache keyed by commit")
        if recipe.source.token_env:
            lines.append(shell_comment("(private repository: git reads the token from "
                                       f"${recipe.source.token_env} via GIT_ASKPASS)"))
        if source and is_local_source(ctx.url):
            lines.append(f"git clone --quiet --no-checkout {q(str(Path(ctx.url).resolve()))} {T}")
        else:
            lines += [f"git init --quiet {T}", f"git -C {T} fetch --quiet --depth=1 {q(url)} {q(commit)}"]
        lines.append(f"git -C {T} -c advice.detachedHead=false checkout --quiet --force --detach {q(commit)}")
        if recipe.patches:
            lines.append("# 2. patches, each verified")
        for number, step in enumerate(recipe.patches, 1):
            if isinstance(step, DiffPatch):
                path = q(str(diff_path(step)))
                ws = " --ignore-whitespace" if step.ignore_whitespace else ""
                lines.append(f"git -C {T} apply --check{ws} {path} && git -C {T} apply{ws} {path}"
                             f"  # step {number}")
                for file, blob in step.expected_blobs.items():
                    lines.append(shell_comment(f"step {number}: {file} must be blob {blob}"))
                    lines.append(f"test \"$(git -C {T} hash-object -- {q(file)} | cut -c1-{len(blob)})\" "
                                 f"= {q(blob)}")
            else:
                expects = " ".join(f"--expect {q(f'{g}={n}')}" for g, n in step.expected.items())
                files = " ".join(f"--expect-files {q(f'{g}={n}')}" for g, n in step.expected_files.items())
                lines.append(f"python -m bench.source.patches substitute -C {T} --pattern {q(step.pattern)} "
                             f"--replacement {q(step.replacement)} {expects} {files}".rstrip()
                             + f"  # step {number}")
        lines.append("# (bench setup then writes .git/bench-manifest.json: full SHA, sha256 of every "
                     "patch step)")
    values = dict(gpus=gpus, data=data, output=output, source_dir=tree, python=python, nodes=nodes, port=port)
    if recipe.install:
        lines.append(shell_comment(f"3. software stack (image {recipe.stack.image}; "
                                   "the environment's install steps)"))
        lines += render_steps(recipe.install, **values)
    launch_dir = tree / recipe.source.subdir if tree is not None and recipe.source.subdir else tree
    lines.append("# 4. launch")
    if launch_dir is not None:
        lines.append(f"cd {q(str(launch_dir))}")
    lines.append(f"mkdir -p {q(output)}")
    lines += render_steps(recipe.prepare_run, **values)
    lines += [shell_assignment(key, value, export=True)
              for key, value in render_env(recipe, **values).items()]
    log = recipe.log.stream if recipe.log.stream != "file" else f"{output}/{recipe.log.path}"
    lines.append(shell_comment(f"log: {log}, format {recipe.log.format}; "
                               f"window iterations {recipe.window.start}-{recipe.window.end}; "
                               f"{recipe.planned_images(gpus)} images per iteration"))
    lines.append(render_command_line(recipe, **values))
    return lines
