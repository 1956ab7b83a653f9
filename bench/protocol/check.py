"""Comparing a recipe's declared settings (and its launch arguments) with the benchmark protocol.

Outcomes, per recipe:
- a **deviation**: the effective value of a setting differs from the protocol's (a fact to show, not an
  error);
- an **error**: the recipe contradicts itself (its launch arguments override a setting to something other than
  what it declares, or `images_per_iter` disagrees with images_per_gpu x gpus), declares a setting the
  protocol does not know, or leaves a protocol setting undeclared.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from bench.protocol.overrides import Override, launch_overrides, rules_for
from bench.protocol.spec import Protocol, Value, format_value, load_protocol, same_value
from bench.recipes.render import render_command_line
from bench.recipes.schema import Recipe, devices


@dataclass(frozen=True)
class Deviation:
    setting: str
    label: str
    value: Value
    expected: Value
    evidence: str
    inherent: str = ""  # why the difference is the implementation itself (a suite's `inherent` table)

    @property
    def short(self) -> str:
        """For the run record and the table's deviations column: `img/GPU 1 (protocol 2)`."""
        return f"{self.label} {format_value(self.value)} (protocol {format_value(self.expected)})"


@dataclass
class CheckResult:
    recipe: str
    path: Path | None
    protocol_version: int
    deviations: list[Deviation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _where(recipe: Recipe, path: Path | None) -> str:
    if path is None:
        return f"recipe {recipe.name!r}"
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _launch_tokens(recipe: Recipe, gpus: int, command: str) -> list[str]:
    probe = recipe.model_copy(update={"command": command})
    return shlex.split(render_command_line(probe, gpus=gpus, data="/data", output="/output"))


def _commands(recipe: Recipe) -> list[tuple[str, str, int]]:
    """(what, command template, gpus) for the main command and every comparable preset that has its own
    command."""
    out = [("command", recipe.command, recipe.gpus)]
    for name, preset in recipe.presets.items():
        if preset.comparable and preset.command:
            out.append((f"presets.{name}.command", preset.command, preset.gpus or recipe.gpus))
    return out


def check_recipe(recipe: Recipe, path: Path | None = None, protocol: Protocol | None = None) -> CheckResult:
    protocol = protocol or load_protocol()
    where = _where(recipe, path)
    result = CheckResult(recipe.name, path, protocol.version)
    declared = recipe.protocol

    for name in sorted(set(declared) - set(protocol.settings)):
        result.errors.append(f"{where}: [protocol.{name}] is not a setting of protocol {protocol.version} "
                             f"(known: {', '.join(protocol.settings)})")
    missing = [name for name in protocol.settings if name not in declared]
    if missing:
        result.errors.append(f"{where}: [protocol] does not declare {', '.join(missing)} "
                             f"(each needs value and evidence at the pinned commit)")

    # What the launch arguments set. The main command decides the effective value; comparable presets must
    # agree.
    rules = rules_for(recipe.family, recipe.name)
    effective: dict[str, Override] = {}
    if rules is None:
        result.notes.append(f"{where}: no launch-argument syntax known for family {recipe.family!r}; "
                            "declarations are not cross-checked with the command")
    else:
        for what, command, gpus in _commands(recipe):
            try:
                tokens = _launch_tokens(recipe, gpus, command)
            except ValueError as exc:
                result.errors.append(f"{where}: {what}: cannot be split into arguments ({exc})")
                continue
            for override in launch_overrides(tokens, rules, gpus):
                if what == "command":
                    effective[override.setting] = override
                preset_declared = ({**declared, **recipe.presets[what.split(".")[1]].protocol}
                                   if what.startswith("presets.") else declared)
                _cross_check(result, where, what, override, preset_declared, recipe, gpus)

    # The global batch formula must agree with images per GPU.
    per_gpu = declared.get("images_per_gpu")
    if per_gpu is not None and isinstance(per_gpu.value, (int, float)) \
            and not isinstance(per_gpu.value, bool):
        formula = recipe.planned_images(recipe.gpus)
        if not same_value(formula, per_gpu.value * devices(recipe.gpus)):
            result.errors.append(
                f"{where}: images_per_iter = {recipe.images_per_iter!r} gives {formula} images on "
                f"{recipe.gpus} GPUs, "
                f"but [protocol.images_per_gpu] declares {format_value(per_gpu.value)} per GPU "
                f"({format_value(per_gpu.value * devices(recipe.gpus))} in all)")

    # Deviations: the effective value (launch argument if any, else the declaration) against the protocol.
    if recipe.gpus != protocol.gpus:
        result.deviations.append(Deviation("gpus", "GPUs", recipe.gpus, protocol.gpus, f"{where}: gpus"))
    if (recipe.window.start, recipe.window.end) != tuple(protocol.window):
        result.deviations.append(Deviation("window", "window", [recipe.window.start, recipe.window.end],
                                           list(protocol.window), f"{where}: window"))
    for name, setting in protocol.settings.items():
        if name not in declared:
            continue
        if name in effective:
            value, evidence = effective[name].value, f"launch argument `{effective[name].argument}`"
        else:
            value, evidence = declared[name].value, declared[name].evidence
        if not protocol.accepts(name, value):
            result.deviations.append(Deviation(name, setting.label, value, setting.value, evidence))
    return result


def _cross_check(result: CheckResult, where: str, what: str, override: Override, declared: dict,
                 recipe: Recipe, gpus: int) -> None:
    if override.setting == "gpus":
        if not same_value(override.value, gpus):
            result.errors.append(f"{where}: {what} passes `{override.argument}` but the recipe runs on "
                                 f"{gpus} GPUs")
        return
    declaration = declared.get(override.setting)
    if declaration is None or same_value(override.value, declaration.value):
        return
    result.errors.append(
        f"{where}: {what} passes `{override.argument}`, which makes {override.setting} "
        f"{format_value(override.value)}, but [protocol.{override.setting}] declares "
        f"{format_value(declaration.value)} ({declaration.evidence})")


def deviations_for(recipe: Recipe, protocol: Protocol | None = None) -> list[str]:
    """Short deviation strings for a run record (`RunRecord.deviations`) and the table's deviations column.

    Pass the recipe the run actually used (`recipe.with_preset(preset)`). Never raises for a recipe that
    loaded: undeclared settings become one entry `undeclared: a, b`, and a launch argument that contradicts a
    declaration counts with the value the launch argument sets."""
    result = check_recipe(recipe, protocol=protocol)
    out = [d.short for d in result.deviations]
    missing = [name for name in (protocol or load_protocol()).settings if name not in recipe.protocol]
    if missing:
        out.append("undeclared: " + ", ".join(missing))
    return out
