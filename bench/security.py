"""Keeping credentials out of output: `redact(text)` before anything that might hold a URL or a header is shown.

Redacts the user-info part of URLs (`https://user:token@host` -> `https://***@host`), Authorization headers,
well-known token shapes (GitHub, GitLab, Hugging Face), and any extra secret values the caller names."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MASK = "***"

_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
_AUTH_HEADER = re.compile(r"(?i)(?P<head>\b(?:proxy-)?authorization\s*[:=]\s*(?:basic|bearer|token)?\s*)(?P<value>[^\s'\"]+)")
_TOKEN_SHAPES = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
                           r"|hf_[A-Za-z0-9]{20,})\b")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with credentials replaced by `***`. `secrets`: further literal values to hide (e.g. a token)."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:  # a very short value would mask unrelated text
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['head']}{MASK}", text)
    return _TOKEN_SHAPES.sub(MASK, text)


def secret_from_env(var: str | None) -> str | None:
    """The value of the environment variable `var` (None when unnamed or unset). Never print what this returns."""
    if not var:
        return None
    return os.environ.get(var) or None
