"""A user's runs never silently replace the repository's published rows: the rows that only the committed
records give, set against the rows that all records give. `bench table` refuses to write the committed table
when a local record would take a published row's place, unless told `--replace`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.recipes import Recipe
from bench.records.schema import RunRecord
from bench.report.rows import Row, hardware_label, select_rows


@dataclass(frozen=True)
class Replacement:
    published: Row  # the row the committed records give
    local: Row  # the row all records give, holding a record git has not committed

    def describe(self) -> str:
        new, old = self.local.record, self.published.record
        return (f"{old.implementation} on {hardware_label(*self.published.hardware)} "
                f"({self.published.section.title}): the published row ({old.run_id}, {old.created[:10]}) "
                f"would become your run's ({new.run_id}, {new.created[:10]})")


def _key(row: Row) -> tuple:
    return row.section.title, row.hardware, row.record.implementation


def replaced_rows(records: list[tuple[Path, RunRecord]], recipes: list[Recipe],
                  committed: set[str]) -> list[Replacement]:
    """The published rows (of the committed records alone, by directory name) that records git has not
    committed would replace."""
    kept = [(d, r) for d, r in records if d.name in committed]
    kept_ids = {r.run_id for _, r in kept}
    published, _ = select_rows(kept, recipes)
    everything = {_key(row): row for row in select_rows(records, recipes)[0]}
    return [Replacement(row, everything[_key(row)]) for row in published
            if _key(row) in everything and not set(everything[_key(row)].members) <= kept_ids]
