"""Isolated software environments per recipe variant: a virtual environment under the cache, keyed by its
pins.

`ensure_environment(recipe, source_dir)` gives the interpreter that fills `{python}` and the environment's
package versions (for the run record). A recipe without install steps runs with bench's own Python. Otherwise:

- the environment lives in `cache_dir()/envs/<recipe name>-<key>`, where the key hashes what pins it: the base
  interpreter's version and the install steps as rendered (with `{source}` filled and `{python}` symbolic),
  plus the recipe's `env` table, which install steps see too;
- it is created with `python -m venv` from bench's base interpreter, then each install step runs in bash, in
  the source checkout (or the environment's folder when there is none), with the venv's `bin/` first on PATH
  and `{python}` = the venv's interpreter; their output goes to `install.log` in the environment's folder;
- a marker file, written only after every step has succeeded, makes the next call reuse the environment as it
  is; a folder without the marker (a failed or interrupted install) is removed and built again;
- a failed step raises one clear `BenchError` line after the log's tail has been printed to stderr;
- before building, it says what the build will fetch and roughly what it costs (the stack's measured
  `host_install`, recipes/stacks/), and while a step runs it prints a heartbeat every HEARTBEAT_S seconds:
  the step, how long it has run, the estimate left, and the install log's last line (pip's `Downloading ...`).

Steps that compile (mmcv's ops, detectron2's `_C`) take minutes: pip's own cache keeps downloaded and built
wheels (built from sdists) between environments, so a second environment with the same pins builds nothing
again.

An `EnvironmentSetting` changes where and how an environment is built without changing its steps: an offline
bundle (bench.bundle) builds and installs them with the package index replaced by its wheels (pip's own
environment variables), from another base interpreter, over the site-packages of an interpreter that
already provides the stack (a `.pth` layer: the environment's own packages first, then the layer's), with
`{source}` in install steps standing for a wheel built from the verified checkout. Whatever the setting
changes is part of the environment's key; without one, keys and folders are those of `bench setup`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError, RecipeError
from bench.numbers import duration
from bench.paths import cache_dir, recipes_dir
from bench.recipes.render import placeholder_values, recipe_patches_dir, render_steps, render_template
from bench.recipes.stacks import InstallCost, load_stack
from bench.source.setup import _locked

MARKER = "bench-env.json"  # written last: its presence means every install step succeeded
LOG_NAME = "install.log"
TAIL_LINES = 30
HEARTBEAT_S = 30.0  # a line this often while an install step runs (its output goes to install.log, not here)
# extra `python -m venv` options (tests pass --without-pip: 0.3 s, not 20 s)
VENV_OPTIONS: tuple[str, ...] = ()
PACKAGES_SCRIPT = ("import importlib.metadata as m, json, sys; "
                   "json.dump({d.metadata['Name']: d.version "
                   "for d in m.distributions() if d.metadata['Name']}, "
                   "sys.stdout, sort_keys=True)")

Log = Callable[[str], None]
LAYER_FILE = "_bench_layer.pth"  # lists the site-packages folders an environment sees after its own


@dataclass(frozen=True)
class EnvironmentSetting:
    """How an environment is built when not the way `bench setup` builds it online (see the module's
    docstring)."""

    root: Path | None = None  # the folder environments are made in (default: cache_dir()/envs)
    base_python: Path | None = None  # the interpreter `python -m venv` runs (default: base_python())
    layer: tuple[str, ...] = ()  # site-packages folders the environment sees after its own
    bin_dirs: tuple[str, ...] = ()  # the layer's scripts (ninja, torchrun), on PATH after the environment's
    without_pip: bool = False  # no pip of its own: the layer's runs `python -m pip` (no ensurepip needed)
    env: dict[str, str] = field(default_factory=dict)  # set for the install steps (pip's index, build flags)
    source_package: Path | None = None  # what {source} stands for in install steps (default: the checkout)
    pins: dict[str, str] = field(default_factory=dict)  # what else keys the environment (a bundle's hash)


@dataclass(frozen=True)
class InstallSpec:
    """What `ensure_environment` needs of a recipe, for an environment that is not a recipe's own (a bundle's
    shared stack, a build environment)."""

    name: str
    install: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Environment:
    python: Path  # the interpreter that fills the {python} placeholder
    packages: dict[str, str] = field(default_factory=dict)  # name -> version, for the run record
    path: Path | None = None  # the environment's folder (None: bench's own Python)
    reused: bool = False  # True when an environment built by an earlier call was used as it was
    bin_dirs: tuple[str, ...] = ()  # on PATH after its own bin/ (the layer's scripts: torchrun, ninja)

    def activated(self, env: dict[str, str]) -> dict[str, str]:
        """`env` with this environment activated (its bin/ first on PATH), so that a launch script calling
        `python` by name (mmdetection's dist_train.sh) gets the environment's interpreter; unchanged without
        one."""
        if self.path is None:
            return dict(env)
        env = {k: v for k, v in env.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
        path = os.pathsep.join([str(self.path / "bin"), *self.bin_dirs, env.get("PATH", "")])
        return {**env, "VIRTUAL_ENV": str(self.path), "PATH": path}


def _say_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def base_python() -> Path:
    """The interpreter environments are made from: bench's own, or the one its venv was made from."""
    return Path(getattr(sys, "_base_executable", None) or sys.executable)


def rendered_steps(recipe, source_dir: Path | None, python: str | Path,
                   source_package: Path | None = None) -> list[str]:

    return render_steps(list(recipe.install), source_dir=source_package or source_dir, python=python, gpus=1,
                        patches=recipe_patches_dir(recipe))


def environment_key(recipe, source_dir: Path | None, setting: EnvironmentSetting | None = None) -> str:
    """What pins the environment, hashed: interpreter version, install steps ({python} symbolic), env
    table; with a setting, also its base interpreter, layer, step environment and pins."""
    steps = rendered_steps(recipe, source_dir, "{python}", setting.source_package if setting else None)
    # A step may take a commit from the user (e.g. $BENCH_APEX_COMMIT, where none was published): its value
    # pins too.
    user_pins = sorted({name for step in steps for name in re.findall(r"\$\{?(BENCH_[A-Z0-9_]+)", step)})
    pins = {"python": f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
            "steps": steps, "env": dict(sorted(recipe.env.items())),
            "user_pins": {name: os.environ.get(name, "") for name in user_pins}}
    if setting is not None:
        pins["setting"] = {"base_python": str(setting.base_python or ""), "layer": list(setting.layer),
                           "bin_dirs": list(setting.bin_dirs), "without_pip": setting.without_pip,
                           "env": dict(sorted(setting.env.items())),
                           "pins": dict(sorted(setting.pins.items()))}
    return hashlib.sha256(json.dumps(pins, sort_keys=True).encode()).hexdigest()[:12]


def environment_dir(recipe, source_dir: Path | None, setting: EnvironmentSetting | None = None) -> Path:
    root = setting.root if setting is not None and setting.root is not None else cache_dir() / "envs"
    return root / f"{recipe.name}-{environment_key(recipe, source_dir, setting)}"


def venv_python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def ensure_environment(recipe, source_dir: Path | None, log: Log | None = None,
                       setting: EnvironmentSetting | None = None) -> Environment:
    """Create (or reuse) the recipe's environment and run its install steps in it."""
    if not recipe.install:
        return Environment(python=Path(sys.executable))
    say = log or _say_stderr
    source_dir = Path(source_dir).resolve() if source_dir is not None else None
    setting = setting or EnvironmentSetting()
    env_dir = environment_dir(recipe, source_dir, setting if setting != EnvironmentSetting() else None)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(env_dir):  # one build per environment at a time; a second caller waits, then reuses it
        python = venv_python(env_dir)
        if (env_dir / MARKER).is_file() and python.exists():
            say(f"{recipe.name}: reusing environment {env_dir}")
            return Environment(python=python, packages=installed_packages(python), path=env_dir, reused=True,
                               bin_dirs=setting.bin_dirs)
        if env_dir.exists():
            say(f"{recipe.name}: removing the unfinished environment {env_dir} (no marker: an install failed "
                "or was interrupted)")
            shutil.rmtree(env_dir)
        _build(recipe, source_dir, env_dir, say, setting)
        return Environment(python=python, packages=installed_packages(python), path=env_dir, reused=False,
                           bin_dirs=setting.bin_dirs)


def install_cost(recipe) -> InstallCost | None:
    """The measured cost of installing the recipe's stack (None when it names none, or none was measured)."""
    pins = getattr(recipe, "stack_pins", None)  # an InstallSpec names no stack
    if not pins:
        return None
    try:
        return load_stack(pins, recipes_dir()).host_install
    except RecipeError:
        return None


def _build(recipe, source_dir: Path | None, env_dir: Path, say: Log, setting: EnvironmentSetting) -> None:
    started = time.monotonic()
    say(f"{recipe.name}: creating environment {env_dir} (install log: {env_dir / LOG_NAME}); built once, "
        "reused by every later run with the same pins")
    # the measured download cost applies to an install from the index, not from a bundle or a layered stack
    from_index = not setting.layer and "PIP_NO_INDEX" not in setting.env
    cost = install_cost(recipe) if from_index else None
    if cost is not None:
        say(f"{recipe.name}: the stack's torch and torchvision ({recipe.stack_pins}): {cost.describe()}")
    options = (*VENV_OPTIONS, *(("--without-pip",) if setting.without_pip else ()))
    made = subprocess.run([str(setting.base_python or base_python()), "-m", "venv", *dict.fromkeys(options),
                           str(env_dir)], capture_output=True, text=True)
    if made.returncode != 0:
        message = (made.stderr or made.stdout).strip().splitlines()
        raise BenchError(f"{recipe.name}: could not create a virtual environment in {env_dir}: "
                         f"{message[-1] if message else f'exit status {made.returncode}'}")
    python = venv_python(env_dir)
    if setting.layer:
        (site_packages(python) / LAYER_FILE).write_text("".join(f"{d}\n" for d in setting.layer))
    steps = rendered_steps(recipe, source_dir, python, setting.source_package)
    env = {**_step_environment(recipe, env_dir, source_dir, python, setting.bin_dirs), **setting.env}
    cwd = source_dir if source_dir is not None and source_dir.is_dir() else env_dir
    log_path = env_dir / LOG_NAME
    timings = []
    for number, step in enumerate(steps, 1):
        say(f"{recipe.name}: install step {number}/{len(steps)}: {step}")
        t0 = time.monotonic()
        with open(log_path, "a", encoding="utf-8") as out:
            out.write(f"\n$ {step}\n")
            out.flush()
            code = _run_step(step, cwd, env, out, functools.partial(
                _heartbeat, say, f"{recipe.name}: install step {number}/{len(steps)}", cost, log_path))
        seconds = time.monotonic() - t0
        timings.append({"step": number, "command": step, "seconds": round(seconds, 1)})
        if code != 0:
            tail = log_tail(log_path)
            say(f"--- last {len(tail)} lines of {log_path} ---")
            for line in tail:
                say(line)
            say("---")
            raise BenchError(f"{recipe.name}: install step {number}/{len(steps)} failed with exit status "
                             f"{code} after {seconds:.0f} s: {step} (log: {log_path})")
        say(f"{recipe.name}: install step {number}/{len(steps)} done in {seconds:.0f} s")
    marker = {"recipe": recipe.name, "key": env_dir.name.rsplit("-", 1)[-1], "python": str(python),
              "base_python": str(base_python()), "source_dir": str(source_dir) if source_dir else None,
              "steps": timings, "seconds": round(time.monotonic() - started, 1),
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = env_dir / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    tmp.replace(env_dir / MARKER)
    say(f"{recipe.name}: environment ready in {time.monotonic() - started:.0f} s")


def _run_step(step: str, cwd: Path, env: dict[str, str], out, beat: Callable[[float], None]) -> int:
    """Run one install step in bash (its own process group), calling `beat(seconds so far)` every HEARTBEAT_S
    seconds until it ends; returns its exit status. If bench stops (Ctrl-C), the step's whole group (pip, its
    compilers) goes with it."""
    started = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", step], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            try:
                return proc.wait(timeout=HEARTBEAT_S)
            except subprocess.TimeoutExpired:
                beat(time.monotonic() - started)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def _heartbeat(say: Log, step: str, cost: InstallCost | None, log_path: Path, elapsed: float) -> None:
    """`builtin: install step 1/1 running for 2 min 30 s (ETA ~5 min ...); log: Downloading torch-...`."""
    line = f"{step} running for {duration(elapsed)}"
    if cost is not None:
        left = cost.minutes * 60 - elapsed
        line += (f" (ETA ~{duration(left)}, from the stack's measured {cost.minutes:g} min)" if left > 0
                 else f" (longer than the stack's measured {cost.minutes:g} min)")
    last = next((text.strip() for text in reversed(log_tail(log_path, 5)) if text.strip()), None)
    say(line + (f"; log: {last[:160]}" if last else ""))


def _step_environment(recipe, env_dir: Path, source_dir: Path | None, python: Path,
                      bin_dirs: tuple[str, ...] = ()) -> dict[str, str]:
    """The inherited environment with the venv activated (its bin/ first on PATH) and the recipe's env
    table."""

    env = Environment(python=python, path=env_dir, bin_dirs=bin_dirs).activated(
        {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    values = placeholder_values(gpus=1, data="", output="", source_dir=source_dir, python=python)
    for key, value in recipe.env.items():
        try:
            env[key] = render_template(value, values, quote=False)
        except (ValueError, KeyError):
            env[key] = value
    return env


def log_tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return text.rstrip("\n").splitlines()[-lines:]


def site_packages(python: Path) -> Path:
    """The interpreter's own site-packages folder (purelib)."""
    done = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not done.stdout.strip():
        raise BenchError(f"{python}: cannot read its site-packages folder: {done.stderr.strip()[-200:]}")
    return Path(done.stdout.strip())


def installed_packages(python: Path) -> dict[str, str]:
    """Name -> version of every distribution the interpreter sees (importlib.metadata, in a subprocess)."""
    done = subprocess.run([str(python), "-c", PACKAGES_SCRIPT], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return {}
    try:
        return dict(json.loads(done.stdout))
    except ValueError:
        return {}
