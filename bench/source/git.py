"""Running git for source preparation: one place that builds git's environment (credentials through
GIT_ASKPASS, never on a command line or on disk) and turns a failure into a one-line, redacted
`BenchError`."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.security import redact, split_url_credentials
from bench.vocabulary import EnvVar

# The askpass helper holds no secret: it prints the value of an environment variable git's child inherits.
_ASKPASS = """#!/bin/sh
case "$1" in
  Username*|username*) printf '%s\\n' "${BENCH_GIT_USERNAME:-x-access-token}" ;;
  *) printenv BENCH_GIT_PASSWORD ;;
esac
"""


@dataclass
class GitContext:
    """How to run git against one source: the URL without credentials, and the secrets git may need."""

    url: str  # what git is given (credentials removed); also what is safe to show and record
    username: str | None = None
    password: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.username) if s]


def split_credentials(url: str, token: str | None = None) -> GitContext:
    """A `GitContext` for `url`: user-info in the URL is moved out of it; `token` (from
    recipe.source.token_env) becomes the password when the URL carries none."""
    url, username, password = split_url_credentials(url)
    return GitContext(url=url, username=username, password=password or token)


@contextmanager
def git_environment(ctx: GitContext) -> Iterator[dict[str, str]]:
    """The environment for git subprocesses: no prompts, and credentials through an askpass helper if any."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **ctx.extra_env}
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):  # a caller's git context must not leak in
        env.pop(var, None)
    if not ctx.password:
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="bench-askpass-") as tmp:
        helper = Path(tmp) / "askpass.sh"
        helper.write_text(_ASKPASS)
        helper.chmod(stat.S_IRWXU)
        env.update({"GIT_ASKPASS": str(helper), EnvVar.GIT_PASSWORD: ctx.password})
        if ctx.username:
            env[EnvVar.GIT_USERNAME] = ctx.username
        yield env


def git(args: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        secrets: Sequence[str] = (), check: bool = True, what: str | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `git ARGS`; on failure raise a BenchError with git's message, redacted."""
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          errors="surrogateescape")
    if check and proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        message = (" / ".join(line.strip() for line in detail[-4:] if line.strip())
                   or f"exit {proc.returncode}")
        shown = what or "git " + " ".join(args)
        raise BenchError(redact(f"{shown} failed: {message}", secrets))
    return proc


def is_local_source(source: str) -> bool:
    """A path on this machine (a mirror), as opposed to a URL."""
    return ("://" not in source and not (":" in source.split("/", 1)[0] and "@" in source)
            and Path(source).exists())
