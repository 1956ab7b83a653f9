"""Published recipes pin every package their install steps fetch, as their Dockerfiles do.

For every recipe whose variant is "published", each requirement of each `pip install` in its install steps is
pinned with `==`, the recipe's checkout ({source}, `-e {source}`, `-r {source}/...`), or a git URL at a full
commit (`@<40-hex>`) or at one the user must pass (`@$BENCH_<NAME>_COMMIT`, which the step checks before
installing).
"""

from __future__ import annotations

import re
import shlex

import pytest

from bench.recipes.loader import load_all
from bench.recipes.render import render_steps

SOURCE = "/bench-src"  # what {source} is rendered as here
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;"}
# pip install options that take a value (as the next word, unless written --opt=value).
VALUED = {"-f", "--find-links", "-i", "--index-url", "--extra-index-url", "--global-option",
          "--install-option", "-t", "--target", "--prefix", "--root", "--src", "--platform",
          "--python-version", "--implementation", "--abi", "--upgrade-strategy", "--progress-bar",
          "--cache-dir", "--log", "--trusted-host", "--timeout", "--retries", "--exists-action", "--proxy",
          "--config-settings", "-C"}
PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+$")
GIT_URL = re.compile(r"^git\+https://[^@\s]+@(?:[0-9a-f]{40}|\$BENCH_[A-Z0-9_]+_COMMIT)(?:#[^\s]*)?$")


def published():
    return [r for r in load_all() if r.variant == "published"]


def words(step: str) -> list[str]:
    lexer = shlex.shlex(step, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # '#' inside a git URL (#egg=, #subdirectory=) is not a comment
    return list(lexer)


def commands(step: str) -> list[list[str]]:
    """The simple commands of a shell line, split at && || ; | (a rough parse, enough for install steps)."""
    out, current = [], []
    for word in words(step):
        if word in SEPARATORS:
            if current:
                out.append(current)
            current = []
        else:
            current.append(word)
    if current:
        out.append(current)
    return out


def pip_requirements(step: str) -> list[tuple[str, str]]:
    """(kind, value) for every requirement of every `pip install` in the step: kind is 'req', '-e' or '-r'."""
    found = []
    for argv in commands(step):
        for i in range(len(argv) - 1):
            if argv[i] in ("pip", "pip3") or argv[i].endswith(("/pip", "/pip3")) or \
                    (argv[i] == "-m" and argv[i + 1] in ("pip", "pip3")):
                start = i + 2 if argv[i] == "-m" else i + 1
                if start < len(argv) and argv[start] == "install":
                    found += _requirements(argv[start + 1:])
                break
    return found


def _requirements(args: list[str]) -> list[tuple[str, str]]:
    out, i = [], 0
    while i < len(args):
        word = args[i]
        if word in ("-e", "--editable", "-r", "--requirement", "-c", "--constraint"):
            assert i + 1 < len(args), f"{word} without a value"
            out.append(("-e" if word in ("-e", "--editable") else "-r", args[i + 1]))
            i += 2
        elif word in VALUED:
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            out.append(("req", word))
            i += 1
    return out


def is_source_path(value: str) -> bool:
    return value == SOURCE or value.startswith(SOURCE + "/")


def problem(kind: str, value: str) -> str | None:
    if kind == "-r":
        return (None if is_source_path(value)
                else f"-r {value}: only the recipe's own checkout ({{source}}/...)")
    if kind == "-e":
        return (None if is_source_path(value) or GIT_URL.match(value)
                else f"-e {value}: not {{source}} or a pinned git URL")
    if is_source_path(value) or PINNED.match(value) or GIT_URL.match(value):
        return None
    return (f"{value}: not pinned with == (nor the checkout, nor a git URL at a full commit or "
            "$BENCH_..._COMMIT)")


def test_there_are_published_recipes_with_install_steps():
    assert any(r.install for r in published())


@pytest.mark.parametrize("recipe", published(), ids=lambda r: r.name)
def test_published_install_steps_pin_every_requirement(recipe):
    problems = []
    for step in render_steps(list(recipe.install), source_dir=SOURCE, python="python"):
        for kind, value in pip_requirements(step):
            message = problem(kind, value)
            if message:
                problems.append(f"{message}  [in: {step}]")
        for name in re.findall(r"@\$BENCH_([A-Z0-9_]+_COMMIT)", step):
            # a commit the user must pass: the step refuses to run without it
            assert f'"$BENCH_{name}"' in step and "exit 1" in step, \
                f"recipe {recipe.name}: $BENCH_{name} is used unchecked in: {step}"
    assert not problems, f"recipe {recipe.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("recipe", published(), ids=lambda r: r.name)
def test_published_install_steps_do_install_something_pinned(recipe):
    if not recipe.install:
        pytest.skip("no install steps")
    found = [value for step in render_steps(list(recipe.install), source_dir=SOURCE, python="python")
             for kind, value in pip_requirements(step) if kind == "req" and "==" in value]
    assert found, f"recipe {recipe.name}: no `pip install name==version` in its install steps"


@pytest.mark.parametrize("step, bad", [
    ("python -m pip install numpy", ["numpy"]),
    ("python -m pip install 'h5py<3' keras==2.2.5", ["h5py<3"]),
    ("python -m pip install 'mmcv>=0.5.1,<0.6'", ["mmcv>=0.5.1,<0.6"]),
    ("python -m pip install -r requirements.txt", ["-r"]),
    ("cd /x && pip install 'git+https://github.com/RogerChern/mxnext#egg=mxnext'", ["mxnext"]),
    ("python -m pip install git+https://github.com/NVIDIA/apex.git@master", ["apex"]),
    ("python -m pip install torch==1.5.0+cu101 -f https://download.pytorch.org/whl/torch_stable.html", []),
    ("A=1 python -m pip install --no-cache-dir horovod==0.18.2 && wget -nc http://x/y.npz", []),
    (f"python -m pip install -e {SOURCE} 'git+https://github.com/a/b.git@$BENCH_B_COMMIT#egg=b'", []),
    (f"python -m pip install git+https://github.com/a/b.git@{'0' * 40}#subdirectory=P", []),
])
def test_the_check_itself(step, bad):
    problems = [problem(kind, value) for kind, value in pip_requirements(step)]
    problems = [p for p in problems if p]
    assert len(problems) == len(bad), problems
    for p, fragment in zip(problems, bad):
        assert fragment in p
