"""One `bench run`: recipe (+ preset) -> source -> environment -> launch -> watch -> measure -> record.

`resolve` does everything that can fail before a process is started (recipe, preset, GPUs, data, window),
`dry_run_steps` says what `execute` would do, and `execute` does it and writes the record atomically.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import __version__
from bench.builtin.synth import ensure_synthetic, synthetic_path, synthetic_text
from bench.bundle.install import OpenedBundle
from bench.coco.layout import check_data_root
from bench.envs import Environment, ensure_environment
from bench.errors import BenchError
from bench.files import write_atomic
from bench.images.engine import ENGINES
from bench.images.refs import image_ref
from bench.launch.batch import PlannedBatch
from bench.launch.container import (ContainerLauncher, ContainerRun, ContainerSpec, give_to_container_user,
                                    run_argv)
from bench.launch.local import LocalLauncher
from bench.launch.slurm import partition_problem, slurm_launcher
from bench.launch.watch import Progress, StopRequest, WatchResult, Watcher
from bench.logs.registry import new_parser
from bench.measure.assess import Measurement, measure
from bench.measure.host_load import HostLoad
from bench.measure.warnings import warning
from bench.paths import repo_relative, runs_dir
from bench.protocol.check import deviations_for
from bench.protocol.spec import CURRENT_VERSION
from bench.recipes.loader import find_recipe, load_recipe, recipe_hash, recipe_path
from bench.recipes.render import (image_env, placeholder_values, render_command, render_command_line,
                                  render_env, render_steps, render_template)
from bench.recipes.schema import PLACEHOLDERS, Recipe, Window, devices, placeholders_in
from bench.records.builder import Ending, Identity, RecordFacts, build_record as build, measured_segment
from bench.records.environment import capture, compute_capabilities, gpu_count, gpu_model
from bench.records.provenance import patch_files_for, provenance_hash
from bench.records.schema import PatchHash, Provenance, RunRecord
from bench.records.store import RECORD_NAME, new_run_id, save_record
from bench.security import redact, shell_assignment, shell_join
from bench.slurm.render import SlurmRun
from bench.pipeline.telemetry import sampler_for, sampler_step, telemetry_of
from bench.source.setup import prepare
from bench.vocabulary import HARNESS_ENV, EnvVar, ParseStatus, RunStatus, StopReason, WarningCode

# every bench image puts its stack's interpreter first on PATH (docker/base/README.md)
CONTAINER_PYTHON = "python"
SHELL_TOKENS = {"&&", "||", ";", "|", ">", "<", ">>", "2>&1"}
FALLBACK_NAME = ".record.fallback.json"  # the record bench's supervisor installs if bench dies mid-run


@dataclass
class RunOptions:
    gpus: int | None = None
    procs: int | None = None  # --procs: CPU processes per node (a run with gpus = 0); default 1
    data: Path | None = None
    window: tuple[int, int] | None = None
    timeout: float | None = None
    preset: str | None = None
    source: str | None = None
    grace: float = 10.0
    progress: bool = True  # a live display, when stderr is a terminal
    repeat_group: str | None = None
    scale_group: str | None = None  # `bench run --scale`: the runs of one scaling measurement share it
    # --no-env: the stack is already here (a container image); skip the install steps
    own_python: bool = False
    # "local", or a container engine ("docker", "podman"): the trainer runs in an image
    launcher: str = "local"
    # the container image (default: the recipe's stack image, see bench.images.build)
    image: str | None = None
    slurm: SlurmRun | None = None  # --launcher slurm: nodes, GPUs per node, partition, time, account, image
    # `bench run --suite`: {name, id, preset, round, members}, kept in the record's extra
    suite: dict | None = None
    telemetry: bool = True  # --no-telemetry: no sampler beside the run (bench.telemetry)
    # --bundle: an offline bundle, verified and matched to this machine; sources and wheels come from it
    bundle: OpenedBundle | None = None


@dataclass
class Plan:
    """A recipe resolved against the options: what will run, before anything runs."""

    recipe: Recipe  # with the preset applied
    recipe_path: Path
    preset: str | None
    comparable: bool
    gpus: int
    images_per_iter: int
    window: tuple[int, int]
    data: Path | None
    procs: int = 1  # CPU processes per node when gpus is 0 (a GPU run has one process per GPU)
    threads: int | None = None  # OMP_NUM_THREADS bench sets for a run of several CPU processes (see below)
    synthetic_data: dict | None = None  # generated on first use when no --data is given
    options: RunOptions = field(default_factory=RunOptions)
    notes: list[str] = field(default_factory=list)  # what a dry run should say besides the steps
    # --launcher docker|podman: the engine and image the trainer runs in
    container: ContainerRun | None = None
    slurm: SlurmRun | None = None  # --launcher slurm: the job's shape (the GPUs are on its nodes, not here)

    @property
    def nodes(self) -> int:
        return self.slurm.nodes if self.slurm is not None else 1

    @property
    def world_size(self) -> int:
        """Training processes of all nodes: GPUs, or CPU processes."""
        return devices(self.gpus, self.nodes, self.procs)

    @property
    def planned_batch(self) -> PlannedBatch:
        return PlannedBatch(self.images_per_iter, self.world_size, self.recipe.images_per_iter)

    @property
    def needs_data(self) -> bool:
        return "data" in placeholders_in(self.recipe.command) or any(
            "data" in placeholders_in(step) for step in self.recipe.prepare_run)


def load(name: str | None, recipe_file: Path | None) -> tuple[Recipe, Path]:
    if recipe_file is not None:
        return load_recipe(recipe_file), recipe_file.resolve()
    if not name:
        raise BenchError("name a recipe (see `bench list`) or give --recipe FILE")
    return find_recipe(name), recipe_path(name)


def resolve(recipe: Recipe, recipe_path: Path, options: RunOptions, available_gpus: int | None = None,
            check_gpus: bool = True) -> Plan:
    """Everything checked before launching. More GPUs than the machine has, or no --data where the command
    needs it, is an error (gpus == 0 is CPU); a dry run (`check_gpus=False`) only notes them, so that the
    steps can be read on any machine.
    With no --preset and no --gpus on a machine without a GPU, a recipe's `cpu_preset` (e.g. smoke) is
    used."""
    notes: list[str] = []
    if options.preset is None and options.gpus is None and recipe.cpu_preset:
        if available_gpus is None:

            available_gpus = gpu_count()
        if available_gpus == 0:
            options.preset = recipe.cpu_preset
            comparable = recipe.presets[recipe.cpu_preset].comparable
            notes.append(f"no GPU here: preset {recipe.cpu_preset!r}" + ("" if comparable else
                         " (NOT comparable with the published table)") + "; name --preset to choose another")
    try:
        applied = recipe.with_preset(options.preset)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    preset = recipe.presets.get(options.preset) if options.preset else None
    slurm = slurm_for(options)
    gpus = options.gpus if options.gpus is not None else applied.gpus
    if slurm is not None and slurm.gpus_per_node is not None:
        gpus = slurm.gpus_per_node
    procs = cpu_processes(options, gpus)
    nodes = slurm.nodes if slurm else 1
    refusal = applied.refusal(gpus, nodes, preset=options.preset, procs=procs)
    if refusal is not None:
        raise BenchError(refusal)
    images_per_iter = planned_images(applied, recipe_path, gpus, nodes, procs)
    if slurm is not None and check_gpus and (problem := partition_problem(slurm)) is not None:
        raise BenchError(f"{recipe.name}: {problem}")
    if gpus > 0 and slurm is None:
        if available_gpus is None:

            available_gpus = gpu_count()
        if gpus > available_gpus and not check_gpus:
            notes.append(f"this machine has {available_gpus} GPU(s): a real run would stop here")
        elif gpus > available_gpus:
            fix = (f"pass --gpus N with N <= {available_gpus}" if available_gpus
                   else "--gpus 0 runs on CPU, where the recipe supports it (e.g. a smoke preset)")
            raise BenchError(f"{recipe.name} asks for {gpus} GPU(s) but this machine has {available_gpus}: "
                             f"{fix}")
    window = options.window or (applied.window.start, applied.window.end)
    data = options.data.resolve() if options.data is not None else None
    if data is not None and not data.exists():
        raise BenchError(f"--data {options.data}: no such directory")
    _check_data_files(applied, data, notes if not check_gpus else None)
    synthetic = data is None and preset is not None and preset.synthetic_data is not None
    if synthetic and preset.comparable:
        notes.append("synthetic data (no --data): the record is not comparable with the published table, "
                     "which trained on COCO")
    plan = Plan(recipe=applied, recipe_path=recipe_path, preset=options.preset,
                # the published table trained on COCO: a run on synthetic data never stands beside it
                comparable=(preset.comparable if preset else True) and not synthetic, gpus=gpus,
                images_per_iter=images_per_iter, procs=procs,
                threads=cpu_threads(applied, gpus, procs, slurm),
                window=window, data=data, synthetic_data=preset.synthetic_data if preset else None,
                options=options, notes=notes, container=container_for(applied, options), slurm=slurm)
    if plan.container is None and not options.own_python and not (slurm and slurm.container_image):
        host_stack_problem(applied, 0 if slurm else gpus, notes, strict=check_gpus)
    if plan.needs_data and data is None and plan.synthetic_data is None:
        if check_gpus:
            raise BenchError(f"{recipe.name} needs a COCO-format dataset: pass --data DIR")
        notes.append("a real run needs a COCO-format dataset: pass --data DIR")
    return plan


def _check_data_files(recipe: Recipe, data: Path | None, notes: list[str] | None = None) -> None:
    """A --data root that lacks what the recipe reads fails here, in one line, before anything is launched (a
    dry run, which passes `notes`, only notes it)."""
    reads_data = any("data" in placeholders_in(t) for t in [recipe.command, *recipe.prepare_run])
    if data is None or not reads_data:
        return

    try:
        check_data_root(data, recipe.data_files, recipe.name)
    except BenchError as exc:
        if notes is None:
            raise
        notes.append(f"a real run would stop here: {exc}")


def cpu_processes(options: RunOptions, gpus: int) -> int:
    """CPU processes per node: --procs on a CPU run (default 1). A GPU run has one process per GPU, so
    --procs with GPUs is an error."""
    if options.procs is None:
        return 1
    if gpus > 0:
        raise BenchError(f"--procs {options.procs} counts CPU processes (a run on --gpus 0 or a CPU preset); "
                         f"this run has {gpus} GPU(s) per node, one process each")
    if options.procs < 1:
        raise BenchError(f"--procs {options.procs}: must be 1 or more")
    return options.procs


THREADS_ENV = "OMP_NUM_THREADS"


def cpu_threads(recipe: Recipe, gpus: int, procs: int, slurm: SlurmRun | None) -> int | None:
    """Threads per process of a run of several CPU processes on this machine: its cores divided among them,
    the same rule for every framework (torchrun alone would set 1, detectron2's launcher nothing, and N
    processes of all the cores' threads each oversubscribe the machine). None where bench sets nothing: GPU
    runs, one process, a value already in the environment or the recipe, a Slurm job (the nodes' cores are
    not known here)."""
    if gpus > 0 or procs < 2 or slurm is not None or THREADS_ENV in os.environ or THREADS_ENV in recipe.env:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // procs)


def describe_scale(plan: Plan) -> str:
    """"2 GPU(s)", "2 CPU process(es)", "2 node(s) x 1 CPU process(es)"."""
    each = f"{plan.gpus} GPU(s)" if plan.gpus > 0 else f"{plan.procs} CPU process(es)"
    return f"{plan.nodes} node(s) x {each}" if plan.nodes > 1 else each


def scale_facts(plan: Plan, parser) -> dict:
    """The record's `extra.scale`: how many processes trained where, as planned and as the log said."""
    report = parser.batch
    return {"device": "gpu" if plan.gpus > 0 else "cpu", "nodes": plan.nodes,
            "processes_per_node": plan.gpus if plan.gpus > 0 else plan.procs, "world_size": plan.world_size,
            "world_size_in_log": report.world_size if report is not None else None,
            "threads_per_process": plan.threads,
            **({"group": plan.options.scale_group} if plan.options.scale_group else {})}


def planned_images(recipe: Recipe, recipe_path: Path, gpus: int, nodes: int = 1, procs: int = 1) -> int:
    """The recipe's images per iteration at this count, or one line naming the file and the field."""
    try:
        return recipe.planned_images(gpus, nodes, procs)
    except ValueError as exc:
        raise BenchError(f"{recipe_path}: field 'images_per_iter': {exc}") from None


def container_for(recipe: Recipe, options: RunOptions) -> ContainerRun | None:
    """--launcher docker|podman: the engine and the image (--image, else the recipe's, with the registry that
    BENCH_REGISTRY names or localhost)."""
    if options.launcher in ("local", "slurm"):
        if options.image:
            raise BenchError("--image needs a container launcher: add --launcher docker or --launcher podman"
                             + (" (with Slurm: --container-image, through pyxis)"
                                if options.launcher == "slurm" else ""))
        return None

    if options.launcher not in ENGINES:
        raise BenchError(f"--launcher {options.launcher}: choose local, {', '.join(ENGINES)} or slurm")
    return ContainerRun(engine=options.launcher, image=options.image or image_ref(recipe.stack.image))


def slurm_for(options: RunOptions) -> SlurmRun | None:
    """--launcher slurm: the job's shape (its defaults when no Slurm option was given)."""
    if options.launcher != "slurm":
        if options.slurm is not None:
            raise BenchError("--partition, --nodes, --gpus-per-node, --time, --account and --container-image "
                             "need --launcher slurm")
        return None
    return options.slurm or SlurmRun()


CUDA10_MAX_CAPABILITY = 7.5  # CUDA 10.x ships no sm_80/sm_86/sm_90 code: Ampere and Hopper need CUDA >= 11


def host_stack_problem(recipe: Recipe, gpus: int, notes: list[str], strict: bool) -> None:
    """A published stack that cannot run on this host (its Python is not bench's, its CUDA cannot drive this
    GPU) is refused before anything starts, naming what can run it; a dry run only notes it."""
    problems = []
    host_python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if recipe.install and recipe.variant == "published" and recipe.stack.python != host_python:
        problems.append(f"its stack is Python {recipe.stack.python}, bench's environments are built from "
                        f"Python {host_python}")
    if gpus > 0 and recipe.stack.cuda and recipe.stack.cuda.startswith("10."):

        newer = [c for c in compute_capabilities() if c > CUDA10_MAX_CAPABILITY]
        if newer:
            problems.append(f"CUDA {recipe.stack.cuda} has no kernels for this GPU (compute capability "
                            f"{max(newer):g})")
    if not problems:
        return
    remedy = "run it in its image: --launcher docker (or podman)"
    if recipe_path(f"{recipe.family}-current").is_file():
        remedy += f", or run the maintained stack: {recipe.family}-current"
    message = f"{recipe.name} cannot run on this host: {'; '.join(problems)}; {remedy}"
    if strict:
        raise BenchError(message)
    notes.append(message)


def command_for(recipe: Recipe, **values) -> list[str]:
    """The argv to launch: the rendered command, through bash when it uses shell syntax."""
    argv = render_command(recipe, **values)
    if any(token in SHELL_TOKENS for token in argv) or (argv and "=" in argv[0]
                                                         and not argv[0].startswith("-")):

        return ["bash", "-c", render_command_line(recipe, **values)]
    return argv


def _fill(template: str, values: dict[str, str]) -> str:
    """Placeholders in env values and prepare_run steps (text without known placeholders stays as is)."""
    fields = placeholders_in(template)
    if not fields or not fields <= PLACEHOLDERS:
        return template

    return render_template(template, placeholder_values(**values), quote=False)


def dry_run_steps(plan: Plan) -> list[str]:
    r = plan.recipe
    steps = [f"recipe   {r.name} ({plan.recipe_path})" + (f", preset {plan.preset}" if plan.preset else "")]
    if r.source is not None:
        source = redact(plan.options.source or r.source.repo)
        steps.append(f"source   bench setup {r.name}: {source} at {r.source.commit}, {len(r.patches)} patch "
                     "step(s), verified")
    else:
        steps.append("source   built in (no checkout)")
    own = plan.options.own_python or not r.install or plan.container is not None
    if plan.container is not None:
        steps.append(f"env      the image {plan.container.image} ({plan.container.engine}): its `python`")
    else:
        steps.append("env      " + ("bench's own Python" + (" (--no-env)" if r.install else "") if own
                                    else "install steps: " + "; ".join(r.install)))
    if plan.data is None and plan.synthetic_data:
        data = str(synthetic_path(dict(plan.synthetic_data)))
        steps.append(f"data     synthetic dataset ({synthetic_text(dict(plan.synthetic_data))}), "
                     f"generated on first use into {data}")
    else:
        data = str(plan.data) if plan.data else "<--data DIR>" if plan.needs_data else "(not used)"
    values = dict(gpus=plan.gpus, data=data, output="results/runs/<run-id>/output",
                  source_dir="<checkout>" if r.source else None, nodes=plan.nodes, procs=plan.procs,
                  python=(CONTAINER_PYTHON if plan.container
                          else sys.executable if own else "<environment python>"))
    steps += [f"prepare  {line}" for line in render_steps(r.prepare_run, **values)]
    recipe_env = image_env(r) if plan.container is not None else render_env(r)
    env = {**{k: _fill(v, values) for k, v in recipe_env.items()}, **HARNESS_ENV,
           **({THREADS_ENV: str(plan.threads)} if plan.threads is not None else {})}
    launch = " ".join(shell_assignment(k, v) for k, v in env.items()) + " "
    if plan.container is not None:

        spec = ContainerSpec(engine=plan.container.engine, image=plan.container.image, name="bench-<run-id>",
                             workdir=Path("<checkout or run directory>"), env=env, gpus=plan.gpus)
        launch += shell_join(run_argv(spec, command_for(r, **values)))
        steps.append("mounts   the checkout and the output directory (read-write), the data (read-only), "
                     "each at its own path; the container is removed when the run ends")
    else:
        launch += shell_join(command_for(r, **values))
    steps.append("launch   " + launch)
    where = f"{r.log.stream}" + (f" ({r.log.path} in the output directory)" if r.log.path else "")
    steps.append(f"watch    {r.log.format} log on {where}; every line stamped on the harness clock "
                 "(clock.tsv)")
    if plan.options.telemetry:
        steps.append(f"sample   {sampler_step(plan)}")
    a, b = plan.window
    steps.append(f"stop     after iteration {b} (+1 progress line): SIGTERM to every process of the run, "
                 f"{plan.options.grace:g} s grace, SIGKILL" + (f"; --timeout {plan.options.timeout:g} s"
                                                               if plan.options.timeout else ""))
    steps.append(f"measure  window {a}:{b}, {plan.images_per_iter} images/iteration on "
                 f"{describe_scale(plan)}; framework timings and harness clock")
    steps.append("record   results/runs/<run-id>/record.json (atomic)")
    steps += [f"note     {note}" for note in plan.notes]
    return steps


# -- executing ------------------------------------------------------------------------------------------
def _run_prepare_steps(plan: Plan, values: dict, cwd: Path, env: dict, run_dir: Path) -> None:
    import subprocess

    for line in render_steps(plan.recipe.prepare_run, **values):  # values shell-quoted
        with open(run_dir / "prepare.log", "a", encoding="utf-8") as log:
            log.write(f"$ {line}\n")
            log.flush()
            done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise BenchError(f"prepare step {line!r} failed with exit status {done.returncode} "
                             f"(see {run_dir / 'prepare.log'})")


def execute(plan: Plan, stop_request: StopRequest | None = None) -> tuple[Path, RunRecord]:

    recipe = plan.recipe
    # how busy other processes keep this machine, from here on (a Slurm job's trainer runs elsewhere)
    host_load = HostLoad() if plan.slurm is None else None
    bundle = plan.options.bundle
    use = bundle.member(recipe.name) if bundle is not None else None
    prepared = prepare(recipe, source=use.source if use else plan.options.source)

    # the image provides the stack; `python` on its PATH is the stack's interpreter
    if plan.container is not None:
        environment = Environment(python=Path(CONTAINER_PYTHON))
    else:  # --no-env: the machine already provides the stack; bench's own Python runs it
        install = bundle.install_recipe(plan.recipe_path, plan.preset) if bundle is not None else recipe
        environment = ensure_environment(install.model_copy(update={"install": []}) if plan.options.own_python
                                         else install, prepared.path, setting=use.setting if use else None)
    data = plan.data
    if data is None and plan.synthetic_data is not None:

        data = ensure_synthetic(dict(plan.synthetic_data))
    run_id = new_run_id(recipe.name)
    run_dir = runs_dir() / run_id
    output = run_dir / "output"
    output.mkdir(parents=True)
    if plan.recipe_path.is_file():
        (run_dir / "recipe.toml").write_bytes(plan.recipe_path.read_bytes())
    values = dict(gpus=plan.gpus, data=data or "", output=output, source_dir=prepared.path,
                  python=environment.python, nodes=plan.nodes, procs=plan.procs)
    command = command_for(recipe, **values)
    env = {**environment.activated(dict(os.environ)),
           **{k: _fill(v, values) for k, v in render_env(recipe).items()}, **HARNESS_ENV}
    if plan.threads is not None:
        env[THREADS_ENV] = str(plan.threads)
    cwd = prepared.path / recipe.source.subdir if prepared.path is not None and recipe.source else run_dir
    _run_prepare_steps(plan, values, cwd, env, run_dir)
    if stop_request is not None and stop_request.reason is not None:
        raise BenchError(f"{recipe.name}: interrupted before the launch; nothing was started ({run_dir})")
    from concurrent.futures import ThreadPoolExecutor

    # The fingerprint (a subprocess of the run's interpreter) is taken while the run warms up, not before it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        fingerprint = pool.submit(_fingerprint, plan, environment.python)
        run_dir, record = _launch_and_record(plan, run_id, run_dir, command, cwd, env, prepared, environment,
                                             fingerprint, stop_request, data, host_load)
    return run_dir, record


def _fingerprint(plan: Plan, python: Path) -> dict:
    """The environment the run really had: the run's interpreter (inside the image for a container run), the
    host's GPUs, and for a container run the image's ID and the GPUs and driver seen inside it."""

    if plan.container is None:
        return capture(python, plan.gpus)
    info = capture(plan.container.python_argv(), plan.gpus)
    info["container"] = plan.container.facts(plan.gpus)
    return info


def _launch_and_record(plan: Plan, run_id: str, run_dir: Path, command: list[str], cwd: Path, env: dict,
                       prepared, environment, fingerprint, stop_request: StopRequest | None,
                       data: Path | None, host_load: HostLoad | None = None):
    """Launch, watch, record. Every ending writes a record: bench's supervisor installs the fallback one if
    bench is killed, and an internal error of bench after the launch writes one saying so (then is shown in
    one line)."""
    recipe = plan.recipe
    log_file = run_dir / "output" / recipe.log.path if recipe.log.stream == "file" else None
    fallback = provisional_record(plan, run_id, command, prepared, environment, data)
    fallback_path = run_dir / FALLBACK_NAME
    write_atomic(fallback_path, fallback.model_dump_json(indent=2) + "\n")
    launcher = _launcher(plan, run_id, run_dir, command, cwd, env, prepared, data, log_file,
                         record=run_dir / RECORD_NAME, fallback_record=fallback_path)
    try:
        record = _watch_and_build(plan, run_id, command, launcher, prepared, environment, fingerprint,
                                  stop_request or StopRequest(), data, sampler_for(plan, run_dir, env),
                                  host_load)
        save_record(record, run_dir)
    except Exception as exc:
        launcher.stop(plan.options.grace)  # (the watcher stops the run itself when the error is in it)
        raise _record_internal_error(fallback, run_dir, exc) from None
    finally:
        launcher.release()
        fallback_path.unlink(missing_ok=True)
    return run_dir, record


def _launcher(plan: Plan, run_id: str, run_dir: Path, command: list[str], cwd: Path, env: dict, prepared,
              data: Path | None, log_file: Path | None, **supervision) -> LocalLauncher:
    """The local launcher, the Slurm launcher, or the container launcher when the plan names an engine and
    image."""
    if plan.slurm is not None:

        return slurm_launcher(plan, run_id, run_dir, command, cwd, env, prepared, data, log_file,
                              **supervision)
    if plan.container is None:
        return LocalLauncher(command, cwd=cwd, env=env, run_dir=run_dir, log_file=log_file,
                             grace=plan.options.grace, **supervision)

    writable = [p for p in (prepared.path, run_dir / "output") if p is not None]
    spec = plan.container.spec(run_id, cwd, writable, [data] if data else [],
                               {k: env[k] for k in (*image_env(plan.recipe), *HARNESS_ENV,
                                                    *([THREADS_ENV] if plan.threads else []))}, plan.gpus)
    give_to_container_user([run_dir], spec.user)
    return ContainerLauncher(spec, command, run_dir=run_dir, env=env, log_file=log_file,
                             grace=plan.options.grace, **supervision)


def _watch_and_build(plan: Plan, run_id: str, command: list[str], launcher: LocalLauncher, prepared,
                     environment, fingerprint, stop_request: StopRequest, data: Path | None,
                     sampler=None, host_load: HostLoad | None = None) -> RunRecord:
    """Launch and watch, with the telemetry sampler (if any) beside the run from before the launch until the
    run has ended, whatever ends it; `host_load` notes how busy other processes kept the machine around it."""
    parser = new_parser(plan.recipe.log.format)
    try:
        if sampler is not None:
            try:
                sampler.start()
            except OSError:  # telemetry is never worth a run: the record then has none
                sampler = None
        watch = _watch(plan, launcher, parser, stop_request, sampler, host_load)
    finally:
        if sampler is not None:
            sampler.stop()
    record = build_record(plan, run_id, command, parser, watch, prepared, environment, fingerprint.result(),
                          data=data, run_dir=launcher.run_dir)
    record.extra["harness"]["containment"] = launcher.containment
    if host_load is not None:
        record.extra["harness"]["host_load"] = host_load.facts()
        if not any(w.code == WarningCode.HOST_BUSY for w in record.warnings):  # the sampler's comes first
            record.warnings.extend(w for w in [host_load.warning()] if w is not None)
    return launcher.finish_record(record)


def _watch(plan: Plan, launcher: LocalLauncher, parser, stop_request: StopRequest, sampler,
           host_load: HostLoad | None) -> WatchResult:
    recipe, options = plan.recipe, plan.options
    if host_load is not None:
        host_load.launched()
    try:
        launcher.start()
    except OSError as exc:
        launcher.close()
        return WatchResult(stop_reason=StopReason.EXITED, exit_code=None, arrival={}, tail=[f"bench: {exc}"],
                           started_at=0.0, ended_at=0.0)
    if sampler is not None:
        sampler.follow(launcher.telemetry_root)
    progress = Progress(recipe.name, plan.window, plan.images_per_iter, enabled=options.progress)
    watcher = Watcher(launcher, parser, stream=recipe.log.stream, window=plan.window,
                      images_per_iter=plan.images_per_iter, timeout=options.timeout, grace=options.grace,
                      stop_request=stop_request, progress=progress, planned_batch=plan.planned_batch)
    watch = watcher.run()
    if host_load is not None:  # (a container's trainer is the engine's child, not bench's)
        host_load.finish(trainer_is_our_child=plan.container is None)
    return watch


def provisional_record(plan: Plan, run_id: str, command: list[str], prepared, environment,
                       data: Path | None) -> RunRecord:
    """The record of a run that bench does not live to record, written before the launch: status
    interrupted; the supervisor completes it (reason, exit code) if bench is killed, `_record_internal_error`
    if bench fails."""
    nothing = WatchResult(stop_reason=StopReason.BENCH_KILLED, exit_code=None, arrival={}, tail=[],
                          started_at=0.0, ended_at=0.0)
    record = build_record(plan, run_id, command, new_parser(plan.recipe.log.format), nothing, prepared,
                          environment, {}, data=data)
    return record.model_copy(update={"status": RunStatus.INTERRUPTED, "log_tail": [], "reason": (
        "bench itself was killed mid-run: its supervisor stopped the run (the log up to then is kept; "
        "`bench parse` reads it)")})


def _record_internal_error(fallback: RunRecord, run_dir: Path, exc: Exception) -> BenchError:
    """Write the record of a run that an error in bench's own code ended (the traceback goes to a file beside
    it); returns the one-line error to show."""
    import traceback

    where = run_dir / "bench-error.log"
    where.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    harness = {**fallback.extra.get("harness", {}), "stop_reason": StopReason.BENCH_ERROR.value}
    record = fallback.model_copy(update={
        "status": RunStatus.FAILED,
        "reason": f"internal error of bench after the launch ({message}); the run was "
        "stopped; traceback in bench-error.log", "extra": {**fallback.extra, "harness": harness}})
    if not (run_dir / RECORD_NAME).exists():
        save_record(record, run_dir)
    return BenchError(f"internal error of bench after the launch: {message} (run stopped; record "
                      f"{run_dir / RECORD_NAME}, traceback {where})")


# -- the record -----------------------------------------------------------------------------------------
def _error_line(tail: list[str]) -> str | None:
    """The exception line of the last traceback in the tail ('RuntimeError: ...'), if any."""
    for text in reversed(tail):
        head = text.split(":", 1)[0].strip()
        if ":" in text and head.replace(".", "").isidentifier() and (
                head.endswith(("Error", "Exception")) or head in ("KeyboardInterrupt", "SystemExit")):
            return text.strip()
    return None


def run_status(m: Measurement, watch: WatchResult, parser) -> tuple[RunStatus, str, list]:
    """The run's status from how it ended and what was measured; extra warnings."""
    extra = []
    code = watch.exit_code
    measured = RunStatus.of(m.status)
    last = (f"last iteration seen {m.last_iteration}" if m.last_iteration is not None
            else "no progress line seen")
    if watch.stop_reason is StopReason.BATCH_MISMATCH:
        return (RunStatus.BATCH_MISMATCH,
                watch.batch_mismatch or "the trainer's batch contradicts the recipe", extra)
    if watch.stop_reason is StopReason.INTERRUPTED:
        return RunStatus.INTERRUPTED, f"bench was interrupted (Ctrl-C or SIGTERM); {last}", extra
    if watch.stop_reason is StopReason.TIMEOUT:
        return RunStatus.TIMEOUT, f"--timeout reached before the window was measured; {last}", extra
    if watch.stop_reason is StopReason.WINDOW or m.status in (ParseStatus.CRASHED, ParseStatus.DIVERGED,
                                                              ParseStatus.MIXED):
        return measured, m.reason, extra
    # The training ended by itself.
    if m.status is ParseStatus.OK:
        if code not in (0, None):
            extra.append(warning(WarningCode.EXIT_AFTER_WINDOW,
                                 f"the training exited with status {code} after the window",
                                 "the window was measured before the failure; see stderr.log"))
        return RunStatus.OK, m.reason, extra
    if code not in (0, None) or (code is None and not parser.records):
        error = _error_line(watch.tail) or (watch.tail[-1] if watch.tail else "no output")
        status = RunStatus.CRASHED if parser.records else RunStatus.FAILED
        return status, f"exit status {code}: {error}; {last}", extra
    return measured, m.reason, extra


def recipe_deviations(recipe: Recipe) -> list[str]:
    try:
        return deviations_for(recipe)
    except Exception as exc:  # a protocol check must never cost a measured run its record
        return [f"protocol check failed: {exc}"]


def _dataset(plan: Plan, data: Path | None) -> dict:
    synthetic = plan.data is None and plan.synthetic_data is not None
    return {"path": str(data) if data else None, "synthetic": synthetic,
            "synthetic_params": dict(plan.synthetic_data) if synthetic else None}


def watch_ending(m: Measurement, watch: WatchResult, parser, diagnoses: list | None = None) -> Ending:
    """How a live run ended, from the watcher's result and the measurement (every launcher's runs); with the
    telemetry's diagnoses (bench.measure.diagnosis) among its warnings."""
    status, reason, warnings = run_status(m, watch, parser)
    return Ending(status, reason, exit_code=watch.exit_code, tail=watch.tail,
                  warnings=[*warnings, *(diagnoses or [])])


def harness_facts(watch: WatchResult, stream: str, **more) -> dict:
    """What the record says about the harness's side of a live run."""
    return {"stop_reason": watch.stop_reason.value, "stop_iteration": watch.stop_iteration,
            "wall_s": round(watch.ended_at - watch.started_at, 3), "lines": watch.lines_per_stream,
            "clock_stream": stream, "unparsed_lines": watch.unparsed_lines,
            "first_unparsed": watch.first_unparsed, **more}


def build_record(plan: Plan, run_id: str, command: list[str], parser, watch: WatchResult, prepared,
                 environment, env_info: dict, data: Path | None = None,
                 run_dir: Path | None = None) -> RunRecord:
    """The run's record; `run_dir`: where the telemetry series are (none for the record prepared before the
    launch)."""

    recipe = plan.recipe
    m = measure(parser, plan.images_per_iter, plan.window, watch.arrival)
    batch = plan.planned_batch.choose(parser.batch)
    m.batch_evidence = batch.evidence
    if environment.packages:
        env_info["packages"] = dict(environment.packages)
    provenance = Provenance(
        recipe=recipe.name, recipe_path=repo_relative(plan.recipe_path),
        recipe_sha256=recipe_hash(plan.recipe_path) if plan.recipe_path.is_file() else "",
        repo=recipe.source.repo if recipe.source else None, commit=prepared.commit,
        patches=[PatchHash(**p) for p in prepared.patch_hashes],
        container_image=(plan.container.image if plan.container is not None
                         else os.environ.get(EnvVar.CONTAINER_IMAGE)) or None,
        protocol_version=CURRENT_VERSION, bench_version=__version__,
        bundle=plan.options.bundle.sha256 if plan.options.bundle is not None else None)
    provenance.hash = provenance_hash(recipe, plan.recipe_path, patch_files_for(recipe),
                                      provenance.container_image, CURRENT_VERSION, __version__)
    files = {"stdout": "stdout.log", "stderr": "stderr.log", "clock": "clock.tsv"}
    files["log"] = f"output/{recipe.log.path}" if recipe.log.stream == "file" else files[recipe.log.stream]
    facts = RecordFacts(
        run_id=run_id, identity=Identity.of(recipe), provenance=provenance, gpus=plan.gpus, nodes=plan.nodes,
        window=plan.window, log_format=recipe.log.format,
        images_per_iter_source=batch.source,
        gpu_model=gpu_model(env_info, plan.gpus), preset=plan.preset, comparable=plan.comparable,
        command=command, log_files=files, environment=env_info, dataset=_dataset(plan, data),
        repeat_group=plan.options.repeat_group,
        deviations=recipe_deviations(recipe.model_copy(update={
            "gpus": plan.gpus, "window": Window(start=plan.window[0], end=plan.window[1])})),
        extra={"harness": harness_facts(watch, recipe.log.stream, grace_s=plan.options.grace,
                                        timeout_s=plan.options.timeout),
               "scale": scale_facts(plan, parser), **_suite_extra(plan)})
    facts.telemetry, diagnoses = telemetry_of(run_dir, measured_segment(parser, m), m, watch.arrival)
    return build(facts, parser, m, watch_ending(m, watch, parser, diagnoses))


def _suite_extra(plan: Plan) -> dict:
    extra = {"suite": dict(plan.options.suite)} if plan.options.suite else {}
    if plan.options.bundle is not None:
        extra["bundle"] = plan.options.bundle.provenance()
    return extra
