"""Warnings are values with a remedy, not prints: they travel into records and the table's footnotes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Warning_(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str  # stable identifier, e.g. "clock-disagrees"
    message: str
    remedy: str


def warning(code: str, message: str, remedy: str) -> Warning_:
    return Warning_(code=code, message=message, remedy=remedy)
