"""The recipe format, validated with pydantic. Everything downstream receives a `Recipe`, never a dict."""

from __future__ import annotations

import ast
import re
import string
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from bench.paths import check_relative
from bench.security import ENV_NAME, url_has_credentials
from bench.vocabulary import (MAX_DEVICES, MAX_IMAGES_PER_ITER, MAX_IMG_S, MAX_ITERATION, MAX_NODES,
                              LogFormat, image_pin_problem, name_problem)

FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
RECIPE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")  # it becomes part of every run id (at most 200 bytes)
BLOB_PREFIX = re.compile(r"[0-9a-fA-F]{4,40}")
# Placeholders a launch command (and install steps) may use.
# {patches} is the recipe's folder under patches/ (its diffs and the overlay files bench ships, e.g. a smoke
# config).
# {bench} is bench's own source root (the built-in trainer runs from a recipe environment with it on
# PYTHONPATH).
# {procs} is the training processes on each node: one per GPU ({gpus}), or on a CPU run (gpus = 0) the
# `--procs` count (default 1): the count a CPU preset hands to its framework's launcher.
PLACEHOLDERS = frozenset({"gpus", "data", "output", "source", "python", "nodes", "port", "patches",
                          "images_per_iter", "bench", "procs"})
# {images_per_iter}: the recipe's formula at this run's counts, for trainers whose batch setting is global
# (detectron2's SOLVER.IMS_PER_BATCH): the command then trains exactly what bench counts. Launch commands
# only.
COMMAND_ONLY = frozenset({"images_per_iter"})
LogStream = Literal["stdout", "stderr", "file"]


class Strict(BaseModel):
    # a recipe's numbers reach commands, records and the table: NaN and infinity are refused everywhere
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


GpuCount = Annotated[int, Field(ge=0, le=MAX_DEVICES)]  # 0: one CPU process
NodeCount = Annotated[int, Field(ge=1, le=MAX_NODES)]
ProcessCount = Annotated[int, Field(ge=1, le=MAX_DEVICES)]  # CPU processes per node
Replacements = Annotated[int, Field(ge=0)]


def _one_line(value: str) -> str:
    """Text a record and the table show (a title, a family, a GPU model): one line, bounded."""
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


ShownText = Annotated[str, AfterValidator(_one_line)]
ShortText = Annotated[str, Field(max_length=90), AfterValidator(_one_line)]  # two make one shown name


class Framework(Strict):
    name: ShortText
    version: ShortText


class Source(Strict):
    """Where the code comes from. `repo` may be overridden at setup time by a mirror (`--source`)."""

    repo: str
    commit: str
    # where the launch command runs, relative to the checkout (tensorpack: examples/FasterRCNN)
    subdir: str = ""
    token_env: str | None = None  # name of an env var holding a token for a private repository

    @field_validator("commit")
    @classmethod
    def _full_sha(cls, value: str) -> str:
        if not FULL_SHA.match(value):
            raise ValueError(f"must be a full 40-hex commit SHA, got {value!r}")
        return value

    @field_validator("repo")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        if url_has_credentials(value):
            raise ValueError("must not carry credentials; name an environment variable in token_env instead")
        return value

    @field_validator("subdir")
    @classmethod
    def _subdir_inside(cls, value: str) -> str:
        return check_relative(value) if value else value

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return _env_name(value) if value is not None else value


class DiffPatch(Strict):
    """A unified diff under patches/<recipe>/, applied with `git apply`."""

    kind: Literal["diff"]
    file: str  # relative to the patches directory
    ignore_whitespace: bool = False  # whitespace-tolerant apply, only where declared
    expected_blobs: dict[str, str] = {}  # path -> git blob SHA (prefix) the patched file must have
    why: str = ""

    @field_validator("file")
    @classmethod
    def _file_inside(cls, value: str) -> str:
        return check_relative(value)

    @field_validator("expected_blobs")
    @classmethod
    def _blobs(cls, value: dict[str, str]) -> dict[str, str]:
        for path, blob in value.items():
            check_relative(path)
            if not BLOB_PREFIX.fullmatch(blob):
                raise ValueError(f"{path}: blob {blob!r} must be 4 to 40 hex digits")
        return value


class Substitution(Strict):
    """A regex substitution over file globs, with the number of replacements expected per glob."""

    kind: Literal["substitute"]
    pattern: str
    replacement: str
    expected: dict[str, Replacements]  # recursive glob (pathlib syntax, `**` recursive) -> replacements
    expected_files: dict[str, Replacements] = {}  # optional: glob -> number of files the step must change
    why: str = ""

    @model_validator(mode="after")
    def _globs_declared(self) -> Substitution:
        if not self.expected:
            raise ValueError("expected: name at least one glob with its expected number of replacements")
        extra = set(self.expected_files) - set(self.expected)
        if extra:
            raise ValueError(f"expected_files: glob {sorted(extra)[0]!r} is not among the globs of "
                             "'expected'")
        for glob in self.expected:
            check_relative(glob)
        try:  # the replacement template is checked against the pattern's groups before any file is read
            re.compile(self.pattern).sub(self.replacement, "")
        except (re.error, IndexError) as exc:
            raise ValueError(f"replacement {self.replacement!r}: {exc}") from None
        return self

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except (re.error, RecursionError, OverflowError) as exc:
            raise ValueError(f"pattern {value!r} is not a valid regular expression: {exc}") from None
        return value


PatchStep = Annotated[DiffPatch | Substitution, Field(discriminator="kind")]


class LogSpec(Strict):
    stream: LogStream = "stdout"
    path: str | None = None  # for stream == "file": relative to the run's output dir
    format: LogFormat

    @field_validator("format", mode="before")
    @classmethod
    def _known_format(cls, value: object) -> object:
        if isinstance(value, str) and value not in LogFormat.values():
            raise ValueError(f"unknown log format {value!r}; known: {', '.join(LogFormat.values())}")
        return value

    @model_validator(mode="after")
    def _path_for_file(self) -> LogSpec:
        if (self.stream == "file") != (self.path is not None):
            raise ValueError("a path is needed exactly when stream = 'file'")
        if self.path is not None:
            check_relative(self.path)
        return self


class BaseImage(Strict):
    """The image a child Dockerfile's `ARG BASE` names, and how to make it."""

    image: str  # repository:tag without a registry (bench.images.build.image_ref adds one)
    # relative to the repository root; None: made by `bench image base` or pulled
    dockerfile: str | None = None
    args: dict[str, str] = {}  # build arguments of the base


class Stack(Strict):
    python: str
    framework: str
    cuda: str | None = None
    cudnn: str | None = None
    others: dict[str, str] = {}
    image: str  # a container image that provides this stack (tag pinned, or a digest)
    dockerfile: str | None = None  # relative to the repository root
    base: BaseImage | None = None
    wheels: list[str] = []  # pins installed from a host wheelhouse into the image (see docker/builtin)

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if problem := image_pin_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("dockerfile")
    @classmethod
    def _dockerfile_inside(cls, value: str | None) -> str | None:
        return check_relative(value) if value is not None else value


class BackboneWeights(Strict):
    """The ImageNet backbone weights the published config starts from (`bench setup` fetches them into the
    cache, or takes them from `--weights DIR`). `sha256` may be the hex prefix a file name publishes
    (torch.hub's and OpenMMLab's `name-<first 8 hex of sha256>.pth` convention); None where no checksum is
    published: setup then prints the one it computed and says the file is unverified."""

    url: str
    file: str  # the file's name in the cache and in a --weights DIR
    format: Literal["pkl", "pth"]
    sha256: str | None = None
    evidence: str = ""

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{8,64}", value):
            raise ValueError(f"sha256 {value!r} must be 8 to 64 lower-case hex digits")
        return value

    @field_validator("file")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if "/" in value or value in ("", ".", ".."):
            raise ValueError(f"file {value!r} must be a plain file name")
        return value

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        if url_has_credentials(value):
            raise ValueError("must not carry credentials")
        return value


class Reference(Strict):
    """A published number, shown as published."""

    img_s: Annotated[float, Field(gt=0, le=MAX_IMG_S)]
    gpus: Annotated[int, Field(ge=1, le=MAX_DEVICES)]
    gpu_model: ShownText
    source: str  # where it was published (URL and line, or document and commit)


class Window(Strict):
    start: int = 100
    end: int = 500

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if not 0 <= self.start < self.end <= MAX_ITERATION:
            raise ValueError(f"window start must be >= 0 and below its end, got {self.start}:{self.end}")
        return self


def placeholders_in(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


_ALLOWED_FORMULA_NODES = (ast.Expression, ast.BinOp, ast.Constant, ast.Name, ast.Load, ast.Mult, ast.Add,
                          ast.Sub, ast.FloorDiv)
FORMULA_NAMES = ("gpus", "nodes")


MAX_FORMULA = 200  # characters of a formula; its numbers are at most MAX_IMAGES_PER_ITER


def parse_formula(formula: str) -> ast.Expression:
    """A formula of `gpus` (all devices of all nodes) and `nodes` such as `2 * gpus`: integers, + - * // only.
    Anything else is a ValueError that says what is wrong (never a SyntaxError or a traceback)."""
    if len(formula) > MAX_FORMULA:
        raise ValueError(f"formula {formula[:40]!r}...: longer than {MAX_FORMULA} characters")
    try:
        tree = ast.parse(formula.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: a literal of 4,300+ digits
        raise ValueError(f"formula {formula!r} is not an expression such as '2 * gpus'") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_FORMULA_NODES):
            raise ValueError(f"formula {formula!r} may use only integers, gpus, nodes and + - * //")
        if isinstance(node, ast.Constant) and (type(node.value) is not int
                                               or not 0 <= node.value <= MAX_IMAGES_PER_ITER):
            raise ValueError(f"formula {formula!r}: {str(node.value)[:20]!r} is not an integer from 0 to "
                             f"{MAX_IMAGES_PER_ITER}")
        if isinstance(node, ast.Name) and node.id not in FORMULA_NAMES:
            raise ValueError(f"formula {formula!r} names {node.id!r}; only 'gpus' and 'nodes' are known")
    return tree


def evaluate_formula(formula: str, gpus: int, nodes: int = 1) -> int:
    """Images per iteration (global) from the formula at `gpus` devices in all over `nodes` nodes: a positive
    integer, or a ValueError naming the formula and the counts."""
    tree = parse_formula(formula)
    try:
        value = eval(compile(tree, "<formula>", "eval"), {"__builtins__": {}}, {"gpus": gpus, "nodes": nodes})
    except ZeroDivisionError:
        raise ValueError(f"formula {formula!r} divides by zero at gpus={gpus}, nodes={nodes}") from None
    if not 1 <= value <= MAX_IMAGES_PER_ITER:
        shown = value if -10**12 < value < 10**12 else "a number far out of range"
        raise ValueError(f"formula {formula!r} gives {shown} images per iteration at gpus={gpus}, "
                         f"nodes={nodes}; it must be from 1 to {MAX_IMAGES_PER_ITER}")
    return int(value)


def processes_per_node(gpus_per_node: int, cpu_processes: int = 1) -> int:
    """Training processes on each node: one per GPU, or on a CPU run (gpus == 0) its process count."""
    return gpus_per_node if gpus_per_node > 0 else cpu_processes


def devices(gpus_per_node: int, nodes: int = 1, cpu_processes: int = 1) -> int:
    """Devices training in all (the world size): GPUs of all nodes, or the CPU processes of all nodes."""
    return processes_per_node(gpus_per_node, cpu_processes) * nodes


class AllowedCounts(Strict):
    """The GPU and node counts a command honours, declared as data: any other is refused before anything
    starts (a command that ignores {gpus} would otherwise be labelled with a GPU count it never used)."""

    gpus: list[GpuCount] | None = None  # GPUs per node; None: any count >= 1 (0, the CPU, only where listed)
    nodes: list[NodeCount] | None = None  # None: any count >= 1
    procs: list[ProcessCount] | None = None  # CPU processes per node (gpus = 0, `--procs`); None: any count
    why: str = ""  # shown when a count is refused

    def refusal(self, gpus: int, nodes: int, procs: int = 1) -> str | None:
        """Why (gpus, nodes, CPU processes per node) cannot be honoured, or None when it can."""
        if self.gpus is None and not 1 <= gpus <= MAX_DEVICES:
            return (f"--gpus {gpus}: it runs on 1 or more GPUs (at most {MAX_DEVICES})"
                    + (f" ({self.why})" if self.why else ""))
        if self.gpus is not None and gpus not in self.gpus:
            return (f"--gpus {gpus}: it runs on {_counts(self.gpus)} GPU(s) only"
                    + (f" ({self.why})" if self.why else ""))
        if not 1 <= nodes <= MAX_NODES or (self.nodes is not None and nodes not in self.nodes):
            allowed = _counts(self.nodes) if self.nodes is not None else f"1 to {MAX_NODES}"
            return (f"--nodes {nodes}: it runs on {allowed} node(s) only"
                    + (f" ({self.why})" if self.why else ""))
        unlisted = self.procs is not None and procs not in self.procs
        if gpus == 0 and (not 1 <= procs <= MAX_DEVICES or unlisted):
            allowed = _counts(self.procs) if self.procs is not None else f"1 to {MAX_DEVICES}"
            return (f"--procs {procs}: it runs {allowed} CPU process(es) per node only"
                    + (f" ({self.why})" if self.why else ""))
        return None


def _counts(values: list[int]) -> str:
    return " or ".join(str(v) for v in values)


class Preset(Strict):
    """A named set of overrides (e.g. `smoke`: small, short, not comparable with the published table)."""

    description: str
    comparable: bool  # can its numbers stand beside the published table?
    window: Window | None = None
    command: str | None = None
    env: dict[str, str] = {}
    gpus: GpuCount | None = None
    allowed: AllowedCounts | None = None  # replaces the recipe's when given
    synthetic_data: dict[str, int | str] | None = None  # arguments of `bench data synth`, when no --data
    # A preset may run without the recipe's git checkout (e.g. the package's release from the package index,
    # with overlay files from patches/<name>/): checkout = false drops `source` and `patches`; the launch runs
    # in the run's directory. `install` and `prepare_run`, when given, replace the recipe's.
    checkout: bool = True
    install: list[str] | None = None
    prepare_run: list[str] | None = None
    # Protocol settings this preset's command makes different from the recipe's [protocol] (value + evidence),
    # and the suite's open settings (workers, grouping, ...): merged over the recipe's by with_preset.
    protocol: dict[str, DeclaredSetting] = {}

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return _env_names(value)


class DeclaredSetting(Strict):
    """The effective value of a protocol setting at the pinned commit, with its evidence."""

    value: str | int | float | bool | list[int] | list[str]
    evidence: str


def _env_name(name: str) -> str:
    if not ENV_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return name


def _env_names(env: dict[str, str]) -> dict[str, str]:
    for name in env:
        _env_name(name)
    return env


class Recipe(Strict):
    name: str
    title: ShownText
    family: ShownText  # implementations share a family across variants (detectron2 and detectron2-current)
    variant: Literal["published", "current", "builtin"]
    framework: Framework
    source: Source | None = None  # None for the built-in implementation, which ships with bench
    patches: list[PatchStep] = []
    env: dict[str, str] = {}
    install: list[str] = []  # shell steps that build the software stack (run inside the recipe's environment)
    command: str  # launch template with {gpus}, {data}, {output}, ...; run in source.subdir of the checkout
    published_command: str | None = None  # the launch command exactly as published (provenance; not run)
    # shell steps run in the launch directory before launching (link {data}, caches)
    prepare_run: list[str] = []
    log: LogSpec
    images_per_iter: str = "2 * gpus"  # global images per iteration; `gpus` counts the devices of all nodes
    gpus: GpuCount = 8
    allowed: AllowedCounts = AllowedCounts()
    window: Window = Window()
    stack: Stack
    # What the command reads under --data (a trailing / is a non-empty directory); `bench run` checks them
    # first.
    data_files: list[str] = ["train2017/", "annotations/instances_train2017.json"]
    weights: BackboneWeights | None = None  # the ImageNet backbone weights of the published config
    # a shared stack (recipes/stacks/<name>.toml) whose pins the install steps use
    stack_pins: str | None = None
    reference: Reference | None = None
    presets: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")], Preset] = {}
    # the preset `bench run` picks when none is named and the machine has no GPU
    cpu_preset: str | None = None
    protocol: dict[str, DeclaredSetting] = {}
    notes: str = ""

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not RECIPE_NAME.fullmatch(value):
            raise ValueError(f"must be lower-case letters, digits, '-' or '_', got {value!r}")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return _env_names(value)

    @field_validator("images_per_iter")
    @classmethod
    def _formula(cls, value: str) -> str:
        evaluate_formula(value, gpus=1)
        return value

    @model_validator(mode="after")
    def _placeholders(self) -> Recipe:
        templates = {"command": self.command,
                     **{f"presets.{k}.command": p.command for k, p in self.presets.items() if p.command}}
        for key, p in self.presets.items():
            templates.update({f"presets.{key}.install.{i}": v for i, v in enumerate(p.install or [])})
            templates.update({f"presets.{key}.prepare_run.{i}": v for i, v in enumerate(p.prepare_run or [])})
        templates.update({f"env.{k}": v for k, v in self.env.items()})
        templates.update({f"install.{i}": v for i, v in enumerate(self.install)})
        templates.update({f"prepare_run.{i}": v for i, v in enumerate(self.prepare_run)})
        for where, template in templates.items():
            unknown = placeholders_in(template) - PLACEHOLDERS
            if unknown:
                raise ValueError(f"{where}: unknown placeholder {{{sorted(unknown)[0]}}}; "
                                 f"known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}")
            misplaced = placeholders_in(template) & COMMAND_ONLY
            if misplaced and not where.endswith("command"):
                raise ValueError(f"{where}: {{{sorted(misplaced)[0]}}} may be used only in a launch command")
        if self.cpu_preset is not None and self.cpu_preset not in self.presets:
            raise ValueError(f"cpu_preset {self.cpu_preset!r} is not among the presets "
                             f"({', '.join(self.presets)})")
        if self.source is None and self.variant != "builtin":
            raise ValueError("source is required unless variant = 'builtin'")
        self._check_declared_counts()
        return self

    def _check_declared_counts(self) -> None:
        """Each default GPU count (the recipe's, each preset's) is one its command honours, and the formula
        gives a positive number of images there."""
        for where, applied in [("gpus", self),
                               *((f"presets.{k}.gpus", self.with_preset(k)) for k in self.presets)]:
            refusal = applied.allowed.refusal(applied.gpus, 1)
            if refusal is not None:
                raise ValueError(f"{where} = {applied.gpus} is not among the allowed counts: {refusal}")
            try:
                applied.planned_images(applied.gpus)
            except ValueError as exc:
                raise ValueError(f"images_per_iter: {exc}") from None

    def refusal(self, gpus: int, nodes: int = 1, preset: str | None = None, procs: int = 1) -> str | None:
        """Why this recipe (with `preset` applied) cannot run on `gpus` GPUs per node (or `procs` CPU
        processes per node) and `nodes` nodes, as one line naming it, or None when it can."""
        why = (f"--gpus {gpus}: must be 0 (CPU) or more" if gpus < 0
               else self.allowed.refusal(gpus, nodes, procs))
        if why is None and gpus == 0 and procs > 1 and "procs" not in placeholders_in(self.command):
            why = f"--procs {procs}: its command has no {{procs}}, so it runs one CPU process per node"
        return f"{self.name}" + (f" (preset {preset})" if preset else "") + f": {why}" if why else None

    def planned_images(self, gpus_per_node: int, nodes: int = 1, cpu_processes: int = 1) -> int:
        """Global images per iteration at `gpus_per_node` GPUs (0: `cpu_processes` CPU processes) on `nodes`
        nodes."""
        return self.images_for(devices(gpus_per_node, nodes, cpu_processes), nodes)

    def images_for(self, gpus: int, nodes: int = 1) -> int:
        return evaluate_formula(self.images_per_iter, gpus=gpus, nodes=nodes)

    def with_preset(self, preset: str | None) -> Recipe:
        """This recipe with a preset's overrides applied (the preset name is kept by the caller)."""
        if preset is None:
            return self
        if preset not in self.presets:
            raise ValueError(f"recipe {self.name!r} has no preset {preset!r}; "
                             f"it has: {', '.join(self.presets) or 'none'}")
        p = self.presets[preset]
        update: dict = {"env": {**self.env, **p.env}}
        if p.window:
            update["window"] = p.window
        if p.command:
            update["command"] = p.command
        if p.gpus is not None:
            update["gpus"] = p.gpus
        if p.allowed is not None:
            update["allowed"] = p.allowed
        if not p.checkout:
            update.update(source=None, patches=[])
        if p.install is not None:
            update["install"] = list(p.install)
        if p.prepare_run is not None:
            update["prepare_run"] = list(p.prepare_run)
        if p.protocol:
            update["protocol"] = {**self.protocol, **p.protocol}
        return self.model_copy(update=update)


Preset.model_rebuild()
