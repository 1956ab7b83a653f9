"""Keeping credentials out of output and values out of shell syntax: the one place for both rules.

* `redact(text)` before anything that might hold a URL or a header is shown or written: it replaces the
  user-info part of URLs (`https://user:token@host` -> `https://***@host`, any case of scheme), Authorization
  headers, well-known token shapes (GitHub, GitLab, Hugging Face), and any extra secret values the caller
  names.
* `split_url_credentials(url)` / `url_has_credentials(url)`: the one rule for what counts as credentials in a
  URL.
* `shell_quote`, `shell_assignment`, `shell_comment`: every value that reaches generated shell text goes
  through one of these, so that piping `bench plan` (or a generated script) to `sh` runs only the intended
  commands."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

from bench.errors import BenchError

MASK = "***"

# user-info runs to the last '@' before the path (as urlsplit reads it), so `user:p@ss@host` hides all of
# `p@ss`; quotes and whitespace end it, so that redacting JSON or a shell line keeps it well-formed.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s\"'<>]+)@")
_AUTH_HEADER = re.compile(r"(?i)(?P<head>\b(?:proxy-)?authorization\s*[:=]\s*(?:basic|bearer|token)?\s*)"
                          r"(?P<value>[^\s'\"]+)")
_TOKEN_SHAPES = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
                           r"|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{20,})\b")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


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


def split_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(url without user-info, username, password). `https://TOKEN@host` gives the token as the password.
    The scheme is matched in any case (`HTTP://user:TOKEN@host` carries credentials too)."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, has_password, password = userinfo.partition(":")
    username, password = unquote(user) or None, unquote(password) or None
    if not has_password:  # https://TOKEN@host: the token alone
        username, password = None, username
    return urlunsplit(parts._replace(netloc=host)), username, password


def url_has_credentials(url: str) -> bool:
    """True when `url` carries a user name or a password (in any case of scheme), or when `redact` would hide
    something in it."""
    _, username, password = split_url_credentials(url)
    return bool(username or password) or redact(url) != url


def secret_from_env(var: str | None) -> str | None:
    """The value of the environment variable `var` (None when unnamed or unset). Never print what this
    returns."""
    if not var:
        return None
    return os.environ.get(var) or None


def shell_quote(value: object) -> str:
    """One shell word that stands for `value` exactly (POSIX quoting: sh, bash, busybox sh)."""
    return shlex.quote(str(value))


def shell_join(argv: Iterable[object]) -> str:
    """An argv as one shell line, each word quoted."""
    return " ".join(shell_quote(word) for word in argv)


def shell_assignment(name: str, value: object, *, export: bool = False) -> str:
    """`NAME='value'` (or `export NAME='value'`); a name that is not an environment variable name is
    refused."""
    if not ENV_NAME.fullmatch(name):
        raise BenchError(f"environment variable name {name!r} is not a valid name ([A-Za-z_][A-Za-z0-9_]*)")
    return f"{'export ' if export else ''}{name}={shell_quote(value)}"


def shell_comment(text: object) -> str:
    """`# text` on one line: line breaks and other control characters in `text` are shown as spaces, so
    nothing after them can become a command."""
    return "# " + _CONTROL.sub(" ", str(text))
