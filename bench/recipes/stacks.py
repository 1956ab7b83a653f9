"""Shared software stacks: one file declares the PyTorch/torchvision/CUDA pins that several recipes run on.

`recipes/stacks/<name>.toml` holds the pins; a recipe that says `stack_pins = "<name>"` writes `{torch_pin}`
and `{torchvision_pin}` in its install steps (`torch==2.9.1`, `torchvision==0.24.1`), filled in when the
recipe is loaded, so every consumer (environments, plans, images' checks) sees the literal pins and the stack
is declared once. The rendered steps are what the environment key hashes: changing the stack rebuilds every
environment."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from bench.errors import RecipeError
from bench.paths import data_root

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib



class InstallCost(BaseModel):
    """What installing the stack's torch and torchvision into a fresh environment cost where it was measured:
    bench says it before it builds one (a figure to plan by, not a promise: the network and the machine set
    it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    download_gb: float  # what pip downloaded (the sizes pip printed)
    disk_gb: float  # the environment's folder afterwards
    minutes: float  # the install step's wall time
    measured: str  # when, where, how: "2026-12-07, 2-core development machine"

    def describe(self) -> str:
        return (f"about {self.download_gb:g} GB to download, {self.disk_gb:g} GB on disk, "
                f"{self.minutes:g} min (measured {self.measured})")


class SoftwareStack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    python: str
    torch: str
    torchvision: str
    cuda: str
    cuda_tag: str  # the nvidia/cuda tag the images' base is built FROM
    image_index: str  # the wheel index the images install the same torch/torchvision from
    mmcv: str | None = None
    mmengine: str | None = None
    host_install: InstallCost | None = None  # measured: what an environment with these pins costs to build

    def pins(self) -> dict[str, str]:
        """What each stack placeholder stands for."""
        return {"torch_pin": f"torch=={self.torch}", "torchvision_pin": f"torchvision=={self.torchvision}"}


def stacks_dir(recipes_directory: Path) -> Path:
    return recipes_directory / "stacks"


def stack_file(name: str, recipes_directory: Path) -> Path:
    """The stack beside the recipe (recipes/stacks/), else the one bench ships (a recipe copied elsewhere)."""
    beside = stacks_dir(recipes_directory) / f"{name}.toml"
    shipped = stacks_dir(data_root() / "recipes") / f"{name}.toml"
    return beside if beside.is_file() or not shipped.is_file() else shipped


def load_stack(name: str, recipes_directory: Path) -> SoftwareStack:
    path = stack_file(name, recipes_directory)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such stack file (named by a recipe's stack_pins)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read the stack: {exc}") from None
    try:
        stack = SoftwareStack.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RecipeError(f"{path}: field '{'.'.join(map(str, err['loc']))}': {err['msg']}") from None
    if stack.name != name:
        raise RecipeError(f"{path}: field 'name': is {stack.name!r} but the file is named {name!r}")
    return stack


def _fill(text: str, pins: dict[str, str]) -> str:
    for key, value in pins.items():
        text = text.replace("{" + key + "}", value)
    return text


def fill_stack_pins(data: dict, path: Path, pins: dict[str, str] | None = None) -> dict:
    """The recipe's TOML data with `{torch_pin}`/`{torchvision_pin}` in its install steps (the recipe's and
    each preset's) replaced by the pins of the stack its `stack_pins` names, or by `pins` (an on-top bundle's
    target provides its own torch). A recipe without `stack_pins` is returned unchanged (a stack placeholder
    left in it is then an unknown placeholder, which validation reports)."""
    name = data.get("stack_pins")
    if not isinstance(name, str):
        return data
    pins = pins or load_stack(name, Path(path).parent).pins()
    out = dict(data)
    if isinstance(out.get("install"), list):
        out["install"] = [_fill(step, pins) if isinstance(step, str) else step for step in out["install"]]
    presets = out.get("presets")
    if isinstance(presets, dict):
        out["presets"] = {key: _fill_preset(preset, pins) for key, preset in presets.items()}
    return out


def _fill_preset(preset: object, pins: dict[str, str]) -> object:
    if not isinstance(preset, dict) or not isinstance(preset.get("install"), list):
        return preset
    return {**preset, "install": [_fill(s, pins) if isinstance(s, str) else s for s in preset["install"]]}
