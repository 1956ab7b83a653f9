"""Shell, paths and secrets (issue 13): generated shell text is executed here, in a sandbox directory with a
canary file that an injected command would create; paths from recipes, records and options that leave their
root are refused; credentials in URLs are found in any case and never printed or recorded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError, RecipeError
from bench.k8s import prepare_script
from bench.pipeline.run import RunOptions, dry_run_steps, resolve
from bench.recipes.loader import load_recipe
from bench.recipes.schema import DiffPatch, Substitution
from bench.security import redact, shell_assignment, shell_comment, shell_quote, split_url_credentials, \
    url_has_credentials
from bench.source.patches import apply_substitution
from bench.source.plan import plan_steps
from bench_roots import BenchEnv
from bench_runs import invoke
from writers import CANARY, INJECT, SHA, toml, write_injection_recipe

SH = shutil.which("sh") or "/bin/sh"
# Every program a generated script may call, as a function that does nothing (or what the script checks for):
# the script runs for real, so that only an injected `touch` could create the canary.
STUBS = """
git() { case "$1" in rev-parse) echo "$COMMIT" ;; apply) return 1 ;; *) return 0 ;; esac; }
python() { :; }
mkdir() { :; }
ln() { :; }
cd() { :; }
find() { :; }
"""


def run_script(text: str, sandbox: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`sh -n` (it parses), then `sh` runs it in `sandbox` with every external program stubbed."""
    sandbox.mkdir(exist_ok=True)
    syntax = subprocess.run([SH, "-n"], input=text, text=True, capture_output=True)
    assert syntax.returncode == 0, syntax.stderr
    script = sandbox / "script.sh"
    script.write_text(STUBS + text)
    return subprocess.run([SH, str(script)], cwd=sandbox, text=True, capture_output=True,
                          env={"PATH": os.environ["PATH"], "HOME": str(sandbox), **(env or {})})


def test_the_canary_works(tmp_path: Path) -> None:
    """The sandbox detects an injection: the same hostile text, unquoted, does create the canary."""
    run_script(f"echo {INJECT}", tmp_path / "box")
    assert (tmp_path / "box" / CANARY).exists()


def test_bench_plan_piped_to_sh_runs_no_injected_command(tmp_path: Path, bench_env: BenchEnv) -> None:
    bench_env.use_patches()
    recipe = load_recipe(write_injection_recipe(tmp_path))
    lines = plan_steps(recipe, gpus=8, data=f"DATA{INJECT}", output=f"OUT{INJECT}",
                       workdir=str(tmp_path / "w"))
    assert all("\n" not in line for line in lines if line.startswith("#"))
    run_script("\n".join(lines) + "\n", tmp_path / "box")
    assert not (tmp_path / "box" / CANARY).exists()


def test_kubernetes_init_script_quotes_a_diff_name_with_a_quote(tmp_path: Path,
                                                                bench_env: BenchEnv) -> None:
    """The diff does not apply (git is stubbed to fail), so the script reaches `fail '... NAME ...'`."""
    bench_env.use_patches()
    recipe = load_recipe(write_injection_recipe(tmp_path))
    recipe = recipe.model_copy(update={"patches": recipe.patches[:1]})
    script = prepare_script.prepare_script(recipe)
    done = run_script(script, tmp_path / "box", {"COMMIT": SHA, "SRC": str(tmp_path / "box"), "REPO": "r",
                                                 "OUTPUT": str(tmp_path / "box")})
    assert done.returncode == 1 and "does not apply" in done.stderr and "it's $(touch" in done.stderr
    assert not (tmp_path / "box" / CANARY).exists()


def test_dry_run_launch_and_prepare_lines_are_quoted(tmp_path: Path, bench_env: BenchEnv) -> None:
    bench_env.use_patches()
    path = write_injection_recipe(tmp_path)
    data = tmp_path / f"data;touch {CANARY};$(touch {CANARY})"
    data.mkdir()
    plan = resolve(load_recipe(path), path, RunOptions(gpus=1, data=data), available_gpus=0, check_gpus=False)
    steps = dry_run_steps(plan)
    lines = [s.split(None, 1)[1] for s in steps if s.startswith(("prepare ", "launch "))]
    assert len(lines) == 2
    run_script("\n".join(lines) + "\n", tmp_path / "box")
    assert not (tmp_path / "box" / CANARY).exists()


@pytest.mark.parametrize("field, value", [
    ("token_env", f"TOKEN}}; touch {CANARY}; echo ${{X"),
    ("env key", "A=B"),
    ("env key", f"A;touch {CANARY}"),
    ("expected_blobs value", f"abcd; touch {CANARY}"),
])
def test_recipe_fields_that_cannot_be_quoted_are_refused(tmp_path: Path, field: str, value: str) -> None:
    text = write_injection_recipe(tmp_path).read_text()
    text = {"token_env": lambda t: t.replace('"DEMO_TOKEN"', toml(value)),
            "env key": lambda t: t.replace("env = { GOOD", f"env = {{ {toml(value)}"),
            "expected_blobs value": lambda t: t.replace('"abcd1234"', toml(value))}[field](text)
    (tmp_path / "demo.toml").write_text(text)
    with pytest.raises(RecipeError) as err:
        load_recipe(tmp_path / "demo.toml")
    assert "\n" not in str(err.value) and "demo.toml: field '" in str(err.value)


def test_quoting_helpers() -> None:
    assert shell_quote("a'b") == "'a'\"'\"'b'"
    assert shell_assignment("K", "$(x)") == "K='$(x)'"
    with pytest.raises(BenchError):
        shell_assignment("K=V", "x")
    assert shell_comment("a\nb\rc\u2028d") == "# a b c d"


# -- paths ----------------------------------------------------------------------------------------------
def test_substitution_glob_leaving_the_checkout_is_refused(tmp_path: Path) -> None:
    tree, outside = tmp_path / "tree", tmp_path / "victim.py"
    tree.mkdir()
    outside.write_text("x = 1\n")
    step = Substitution.model_construct(kind="substitute", pattern="x", replacement="y",
                                        expected={"../*.py": 1}, expected_files={}, why="")
    with pytest.raises(BenchError, match=r"\.\./\*\.py"):
        apply_substitution(tree, step, number=1, recipe="demo")
    # the command `bench plan` prints for a substitution step
    done = subprocess.run([sys.executable, "-m", "bench.source.patches", "substitute", "-C", str(tree),
                           "--pattern", "x", "--replacement", "y", "--expect", "../*.py=1"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert outside.read_text() == "x = 1\n"


def test_substitution_through_a_link_out_of_the_checkout_is_refused(tmp_path: Path) -> None:
    tree, elsewhere = tmp_path / "tree", tmp_path / "elsewhere"
    tree.mkdir()
    elsewhere.mkdir()
    (elsewhere / "victim.py").write_text("x = 1\n")
    (tree / "link").symlink_to(elsewhere)
    step = Substitution(kind="substitute", pattern="x", replacement="y", expected={"link/*.py": 1})
    with pytest.raises(BenchError, match="leaves"):
        apply_substitution(tree, step, number=1, recipe="demo")
    assert (elsewhere / "victim.py").read_text() == "x = 1\n"


@pytest.mark.parametrize("field, value", [
    ("patches.0.diff.file", "../../etc/passwd"),
    ("patches.0.diff.file", "/etc/passwd"),
    ("patches.0.diff.expected_blobs", "../outside.py"),
    ("patches.1.substitute", "../*.py"),
    ("log", "../../escape.log"),
])
def test_recipe_paths_leaving_their_root_are_refused(tmp_path: Path, field: str, value: str) -> None:
    text = write_injection_recipe(tmp_path).read_text()
    if field == "patches.0.diff.file":
        text = text.replace(toml(f"it's $(touch {CANARY}).diff"), toml(value))
    elif field == "patches.0.diff.expected_blobs":
        text = text.replace(toml("a b" + INJECT.replace("\n", " ")), toml(value))
    elif field == "patches.1.substitute":
        text = text.replace('"*.py" = 1', f"{toml(value)} = 1")
    else:
        text = text.replace(toml("train.log" + INJECT), toml(value))
    (tmp_path / "demo.toml").write_text(text)
    with pytest.raises(RecipeError) as err:
        load_recipe(tmp_path / "demo.toml")
    assert f"field '{field}" in str(err.value) and "\n" not in str(err.value)


def test_diff_outside_the_patches_directory_never_enters_the_configmap(tmp_path: Path,
                                                                       bench_env: BenchEnv) -> None:
    bench_env.use_patches().mkdir()
    (tmp_path / "secret").write_text("root:x:0:0\n")
    recipe = load_recipe(write_injection_recipe(tmp_path))
    step = DiffPatch.model_construct(kind="diff", file="../secret", ignore_whitespace=False,
                                     expected_blobs={}, why="")
    with pytest.raises(BenchError, match="leaves"):
        prepare_script.diff_files(recipe.model_copy(update={"patches": [step]}))


def test_a_record_whose_run_id_leaves_results_is_refused(tmp_path: Path) -> None:
    from bench.records.store import load_record

    source = sorted(Path("results/runs").glob("*/record.json"))[0]
    record = json.loads(source.read_text())
    record["run_id"] = "../../../escaped"
    run = tmp_path / "results" / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "record.json").write_text(json.dumps(record))
    with pytest.raises(BenchError, match="run_id"):
        load_record(run)
    from bench.cli import app

    code, _, err = invoke(app, ["table", "--runs", str(tmp_path / "results" / "runs"),
                                "--out", str(tmp_path / "results" / "README.md")])
    assert code == 0 and "warning: skipped" in err and "run_id" in err  # left out, never written anywhere
    assert not (tmp_path / "escaped.png").exists() and not list(tmp_path.glob("**/escaped*"))
    assert not (tmp_path / "escaped.png").exists() and not list(tmp_path.rglob("escaped*"))


# -- credentials ------------------------------------------------------------------------------------------
URLS = ["HTTP://user:TOKEN123@host/x.git", "https://TOKEN123@host/x.git", "Https://u:TOKEN123@h:8443/x",
        "git+SSH://user:TOKEN123@host/x", "https://user:p@ssTOKEN123@host/x.git"]


@pytest.mark.parametrize("url", URLS)
def test_credentials_are_found_in_any_case_and_redacted(url: str) -> None:
    assert url_has_credentials(url)
    assert "TOKEN123" not in redact(url) and "TOKEN123" not in split_url_credentials(url)[0]
    assert "TOKEN123" not in redact(f"cloning '{url}' failed") and "TOKEN123" not in redact(json.dumps([url]))
    assert not url_has_credentials(url.split("//")[0] + "//host/x.git")


@pytest.mark.parametrize("url", URLS[:2])
def test_a_recipe_repo_with_credentials_is_refused(tmp_path: Path, url: str) -> None:
    text = write_injection_recipe(tmp_path).read_text().replace("https://example.invalid/demo.git", url)
    (tmp_path / "demo.toml").write_text(text)
    with pytest.raises(RecipeError) as err:
        load_recipe(tmp_path / "demo.toml")
    assert "field 'source.repo'" in str(err.value) and "TOKEN123" not in str(err.value)


def test_run_dry_run_with_credentials_in_source_prints_none(tmp_path: Path) -> None:
    from bench.cli import app

    recipe = Path("recipes/detectron2.toml").resolve()
    code, out, err = invoke(app, ["run", "--recipe", str(recipe), "--source", URLS[0], "--dry-run",
                                  "--gpus", "8"])
    assert code == 0 and "source   bench setup detectron2: HTTP://***@host/x.git" in out
    assert "TOKEN123" not in out + err


def test_nothing_reaches_a_record_with_credentials(tmp_path: Path) -> None:
    from bench.records.schema import RunRecord
    from bench.records.store import load_record, save_record

    source = sorted(Path("results/runs").glob("*/record.json"))[0]
    record = RunRecord.model_validate_json(source.read_text())
    record = record.model_copy(update={"log_tail": [f"fatal: could not read from {URLS[0]}"],
                                       "reason": "Authorization: Bearer abcdef123456"})
    save_record(record, tmp_path)
    text = (tmp_path / "record.json").read_text()
    assert "TOKEN123" not in text and "abcdef123456" not in text
    assert load_record(tmp_path).log_tail == ["fatal: could not read from HTTP://***@host/x.git"]
