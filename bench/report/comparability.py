"""Whether a record may stand beside the published table, decided when the table is made, from the record's
facts: its data (synthetic or real, and whether that was recorded at all), its GPU and node counts and window
against the protocol, and its preset as the recipe defines it. The `comparable` flag stored in a record is
never read: it froze what a run believed at the time, and records written before these facts existed carry a
wrong one.

The deviations an implementation has by construction (declared in its recipe, shown in the Deviations column)
do not decide comparability: the published rows have them too. Those a run adds by its counts, its window or
its preset are decided here. Status is the table's first filter: only an ok record has a throughput to rank
(a failed attempt stays in its section, listed among the attempts without a measurement)."""

from __future__ import annotations

from bench.errors import BenchError
from bench.protocol.spec import CURRENT_VERSION, load_protocol
from bench.recipes import Recipe
from bench.records.schema import RunRecord


def not_comparable_because(record: RunRecord, recipes: dict[str, Recipe]) -> list[str]:
    """Why the record cannot be ranked beside the published table (empty when it can)."""
    return [*_data(record), *_preset(record, recipes), *_shape(record)]


def _data(record: RunRecord) -> list[str]:
    if record.dataset is None:
        return ["dataset not recorded"]
    return ["synthetic data"] if record.dataset.get("synthetic", True) else []


def _preset(record: RunRecord, recipes: dict[str, Recipe]) -> list[str]:
    if record.preset is None:
        return []
    recipe = recipes.get(record.implementation)
    preset = recipe.presets.get(record.preset) if recipe else None
    if preset is None:
        return [f"preset {record.preset} unknown"]
    return [] if preset.comparable else [f"preset {record.preset}"]


def _shape(record: RunRecord) -> list[str]:
    version = record.provenance.protocol_version or CURRENT_VERSION
    try:
        protocol = load_protocol(version)
    except BenchError:
        return [f"protocol {version} is unknown to this bench"]
    reasons = []
    if record.gpus != protocol.gpus:
        reasons.append(f"{record.gpus} GPUs (protocol {protocol.gpus})")
    if record.nodes != protocol.nodes:
        reasons.append(f"{record.nodes} nodes (protocol {protocol.nodes})")
    if list(record.window_requested) != list(protocol.window):
        reasons.append(f"window {record.window_requested[0]}:{record.window_requested[1]} "
                       f"(protocol {protocol.window[0]}:{protocol.window[1]})")
    return reasons
