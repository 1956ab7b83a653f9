"""Warnings are values with a remedy, not prints: they travel into records and the table's footnotes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bench.vocabulary import WarningCode


class Warning_(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: WarningCode
    message: str
    remedy: str


def warning(code: WarningCode, message: str, remedy: str) -> Warning_:
    return Warning_(code=code, message=message, remedy=remedy)
