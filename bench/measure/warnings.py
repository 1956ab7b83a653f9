"""Warnings are values with a remedy, not prints: they travel into records and the table's footnotes."""

from __future__ import annotations

from dataclasses import dataclass

from bench.vocabulary import WarningCode


@dataclass(frozen=True)
class Warning_:
    """A plain dataclass, not a pydantic model: `bench parse` makes warnings without importing pydantic (0.1 s
    of its start-up); a record's `warnings` field validates them all the same (pydantic reads dataclasses)."""

    __pydantic_config__ = {"extra": "forbid"}  # as every record model: an unknown key is an error

    code: WarningCode
    message: str
    remedy: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", WarningCode(self.code))  # a code outside the vocabulary: ValueError


def warning(code: WarningCode, message: str, remedy: str) -> Warning_:
    return Warning_(code=code, message=message, remedy=remedy)
