"""The benchmark protocol: versioned data shipped in the package (`protocol_<n>.toml`), loaded into a typed
model.

A protocol fixes the settings under which throughputs are comparable. Recipes declare, per setting, the
effective value at their pinned commit (`[protocol.<setting>]` with `value` and `evidence`);
`bench.protocol.check` compares.
"""

from __future__ import annotations

import math
import re
import sys
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict

from bench.errors import BenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Value = str | int | float | bool | list[int] | list[str]

CURRENT_VERSION = 1  # the protocol new records are measured under


class ProtocolSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Value
    label: str  # short name for deviation strings and table footnotes
    what: str
    evidence: str
    equivalent: list[Value] = []  # declared values accepted as the same computation
    equivalent_why: str = ""


class Protocol(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    title: str
    source: str
    gpus: int
    nodes: int = 1  # the published comparison ran on one machine
    window: tuple[int, int]
    settings: dict[str, ProtocolSetting]

    def accepts(self, name: str, declared: Value) -> bool:
        """Does a declared value match the protocol's value for `name` (or one of its accepted
        equivalents)?"""
        setting = self.settings[name]
        return any(same_value(declared, v) for v in [setting.value, *setting.equivalent])


def _norm_text(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip().lower())


def same_value(a: Value, b: Value) -> bool:
    """Numbers with a relative tolerance of 1e-3 (1/3 == 0.3333), strings case- and whitespace-insensitively,
    lists element by element. A bool only equals a bool."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-12)
    if isinstance(a, str) and isinstance(b, str):
        return _norm_text(a) == _norm_text(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return False


def format_value(value: Value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def available_versions() -> list[int]:
    names = [entry.name for entry in resources.files("bench.protocol").iterdir()]
    return sorted(int(m.group(1)) for n in names if (m := re.fullmatch(r"protocol_(\d+)\.toml", n)))


@cache
def load_protocol(version: int = CURRENT_VERSION) -> Protocol:
    """The protocol of that version, from the package data (`bench/protocol/protocol_<version>.toml`)."""
    resource = resources.files("bench.protocol") / f"protocol_{version}.toml"
    if not resource.is_file():
        known = ", ".join(str(v) for v in available_versions()) or "none"
        raise BenchError(f"no benchmark protocol version {version}; known: {known}")
    protocol = Protocol.model_validate(tomllib.loads(resource.read_text(encoding="utf-8")))
    if protocol.version != version:
        raise BenchError(f"protocol_{version}.toml says version = {protocol.version}")
    return protocol
