"""A comparison suite (`bench/protocol/suite_<name>.toml`): its members, its baseline, and per preset the
protocol every member is checked against (protocol 1 with the preset's overrides plus the settings protocol 1
leaves open)."""

from __future__ import annotations

import sys
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict

from bench.errors import BenchError
from bench.protocol.spec import Protocol, ProtocolSetting, Value, load_protocol

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class SuitePreset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gpus: int
    window: tuple[int, int]
    settings: dict[str, Value] = {}  # protocol values this preset sets differently


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    members: list[str]
    baseline: str
    protocol: int
    deviations: list[str] = []
    settings: dict[str, ProtocolSetting] = {}  # beyond the protocol's
    presets: dict[str, SuitePreset]
    # member -> setting -> why its value is the implementation itself, not a setting it could change
    inherent: dict[str, dict[str, str]] = {}

    def protocol_for(self, preset: str) -> Protocol:
        """The protocol a member run with `preset` is checked against."""
        if preset not in self.presets:
            raise BenchError(f"suite {self.name!r} has no preset {preset!r}; "
                             f"it has: {', '.join(self.presets)}")
        base, chosen = load_protocol(self.protocol), self.presets[preset]
        settings = {**base.settings, **self.settings}
        for name, value in chosen.settings.items():
            if name not in settings:
                raise BenchError(f"suite_{self.name}.toml: presets.{preset}.settings.{name} is not a setting")
            settings[name] = settings[name].model_copy(
                update={"value": value, "evidence": f"suite {self.name} preset {preset}"})
        return base.model_copy(update={"title": f"{base.title}; suite {self.name}, preset {preset}",
                                       "gpus": chosen.gpus, "window": chosen.window, "settings": settings})


def available_suites() -> list[str]:
    return sorted(e.name[len("suite_"):-len(".toml")] for e in resources.files("bench.protocol").iterdir()
                  if e.name.startswith("suite_") and e.name.endswith(".toml"))


@cache
def load_suite(name: str) -> Suite:
    resource = resources.files("bench.protocol") / f"suite_{name}.toml"
    if not resource.is_file():
        raise BenchError(f"no suite named {name!r}; known: {', '.join(available_suites()) or 'none'}")
    suite = Suite.model_validate(tomllib.loads(resource.read_text(encoding="utf-8")))
    if suite.baseline not in suite.members:
        raise BenchError(f"suite_{name}.toml: baseline {suite.baseline!r} is not among the members")
    return suite
