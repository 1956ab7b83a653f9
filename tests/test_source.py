"""Source preparation on small git repositories the tests build themselves (no network, no mirrors)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench.errors import BenchError, PatchError
from bench.recipes.schema import Recipe
from bench.security import redact
from bench.source.git import git_environment, split_credentials
from bench.source.setup import checkout_dir, prepare

ORIGINAL = "import torch\n\nmask = torch.zeros(3, dtype=torch.uint8)\nkeep = mask.to(torch.uint8)\n"
GOOD_DIFF = """diff --git a/pkg/model.py b/pkg/model.py
--- a/pkg/model.py
+++ b/pkg/model.py
@@ -1,4 +1,5 @@
 import torch
 
+# patched by the benchmark
 mask = torch.zeros(3, dtype=torch.uint8)
 keep = mask.to(torch.uint8)
"""  # noqa: W293 (the diff's blank context line is a single space, as git writes it)
STALE_DIFF = GOOD_DIFF.replace(" keep = mask.to(torch.uint8)", " keep = mask.to(torch.float32)")


def run(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def upstream(tmp_path) -> tuple[Path, str]:
    """A repository with two commits; the first is the pinned one."""
    repo = tmp_path / "upstream"
    (repo / "pkg" / "ops").mkdir(parents=True)
    run("init", "-q", str(repo), cwd=tmp_path)
    (repo / "pkg" / "model.py").write_text(ORIGINAL)
    (repo / "top.py").write_text("x = torch.uint8\n")
    (repo / "pkg" / "ops" / "kernel.cu").write_text("AT_CHECK(a);\nAT_CHECK(b);\n")
    (repo / ".gitignore").write_text("build/\n")
    run("add", "-A", cwd=repo)
    run("commit", "-q", "-m", "pinned", cwd=repo)
    pinned = run("rev-parse", "HEAD", cwd=repo)
    (repo / "pkg" / "model.py").write_text(ORIGINAL + "# later\n")
    run("commit", "-qam", "later", cwd=repo)
    return repo, pinned


@pytest.fixture(autouse=True)
def isolated(bench_env):
    (bench_env.use_patches() / "demo").mkdir(parents=True)


def make_recipe(repo: Path, commit: str, patches: list[dict], token_env: str | None = None) -> Recipe:
    return Recipe.model_validate({
        "name": "demo", "title": "demo", "family": "demo", "variant": "published",
        "framework": {"name": "PyTorch", "version": "1.5"},
        "source": {"repo": str(repo), "commit": commit, "token_env": token_env},
        "patches": patches, "command": "{python} train.py", "log": {"format": "detectron2"},
        "stack": {"python": "3.7", "framework": "PyTorch", "image": "ghcr.io/bench-images/demo:1"}})


def diff_step(tmp_path: Path, text: str, **extra) -> dict:
    (tmp_path / "patches" / "demo" / "fix.diff").write_text(text)
    return {"kind": "diff", "file": "demo/fix.diff", **extra}


def blob_of(text: str, cwd: Path) -> str:
    return subprocess.run(["git", "hash-object", "--stdin"], input=text, capture_output=True, text=True,
                          cwd=cwd, check=True).stdout.strip()


UINT8 = {"kind": "substitute", "pattern": r"torch\.uint8", "replacement": "torch.bool",
         "expected": {"**/*.py": 3}, "expected_files": {"**/*.py": 2}}
AT_CHECK = {"kind": "substitute", "pattern": "AT_CHECK", "replacement": "TORCH_CHECK",
            "expected": {"**/*.cu": 2}}


def test_prepare_checks_out_the_pinned_commit_applies_and_verifies(tmp_path, upstream):
    repo, pinned = upstream
    patched = ORIGINAL.replace("mask = ", "# patched by the benchmark\nmask = ")
    step = diff_step(tmp_path, GOOD_DIFF, expected_blobs={"pkg/model.py": blob_of(patched, tmp_path)[:7]})
    messages: list[str] = []
    prepared = prepare(make_recipe(repo, pinned, [step, UINT8, AT_CHECK]), log=messages.append)
    tree = prepared.path
    assert tree == tmp_path / "cache" / "src" / f"demo-{pinned}"
    assert run("rev-parse", "HEAD", cwd=tree) == pinned
    assert "# later" not in (tree / "pkg" / "model.py").read_text()
    assert "torch.uint8" not in (tree / "pkg" / "model.py").read_text()
    # '**' includes the top level, like zsh/globstar
    assert (tree / "top.py").read_text() == "x = torch.bool\n"
    assert (tree / "pkg" / "ops" / "kernel.cu").read_text() == "TORCH_CHECK(a);\nTORCH_CHECK(b);\n"
    manifest = json.loads(prepared.manifest.read_text())
    assert manifest["commit"] == pinned and len(manifest["commit"]) == 40
    assert [p["kind"] for p in manifest["patches"]] == ["diff", "substitute", "substitute"]
    assert all(len(p["sha256"]) == 64 and p["applied"] for p in manifest["patches"])
    assert manifest["patches"][1]["globs"]["**/*.py"]["replacements"] == 3
    assert [p["sha256"] for p in prepared.patch_hashes] == [p["sha256"] for p in manifest["patches"]]
    assert not prepared.reused and any("applied and verified" in m for m in messages)


def test_second_call_reuses_the_verified_tree(tmp_path, upstream):
    repo, pinned = upstream
    recipe = make_recipe(repo, pinned, [UINT8])
    first = prepare(recipe)
    stamp = (first.path / "pkg" / "model.py").stat().st_mtime_ns
    second = prepare(recipe)
    assert second.reused and second.path == first.path and second.patch_hashes == first.patch_hashes
    assert (second.path / "pkg" / "model.py").stat().st_mtime_ns == stamp  # nothing rewritten
    (first.path / "build").mkdir()  # ignored build outputs do not make the tree dirty
    (first.path / "build" / "ext.so").write_text("binary")
    assert prepare(recipe).reused


def test_a_diff_that_does_not_apply_names_the_step_and_the_file(tmp_path, upstream):
    repo, pinned = upstream
    recipe = make_recipe(repo, pinned, [UINT8, diff_step(tmp_path, STALE_DIFF)])
    with pytest.raises(PatchError) as info:
        prepare(recipe)
    message = str(info.value)
    assert "patch step 2" in message and "demo/fix.diff" in message and "does not apply" in message
    assert "pkg/model.py" in message
    assert not (checkout_dir(recipe) / ".git" / "bench-manifest.json").exists()


def test_a_wrong_blob_after_the_diff_is_an_error(tmp_path, upstream):
    repo, pinned = upstream
    recipe = make_recipe(repo, pinned,
                         [diff_step(tmp_path, GOOD_DIFF, expected_blobs={"pkg/model.py": "0000000"})])
    with pytest.raises(PatchError, match=r"patch step 1 \(diff demo/fix.diff\): pkg/model.py has blob \w+ "
                                         r".*expected 0000000"):
        prepare(recipe)


def test_whitespace_tolerance_only_where_declared(tmp_path, upstream):
    repo, pinned = upstream
    mangled = GOOD_DIFF.replace(" mask = torch", "mask = torch")  # context line lost its leading space
    mangled = mangled.replace(" keep = mask", "   keep = mask")
    with pytest.raises(PatchError, match="does not apply"):
        prepare(make_recipe(repo, pinned, [diff_step(tmp_path, mangled)]))


def test_a_substitution_count_mismatch_is_an_error_and_writes_nothing(tmp_path, upstream):
    repo, pinned = upstream
    wrong = {**UINT8, "expected": {"**/*.py": 11}, "expected_files": {}}
    recipe = make_recipe(repo, pinned, [wrong])
    with pytest.raises(PatchError) as info:
        prepare(recipe)
    message = str(info.value)
    assert "patch step 1" in message and "'**/*.py' gives 3 replacements in 2 files, expected 11" in message
    assert "pkg/model.py (2)" in message and "top.py (1)" in message
    assert "torch.uint8" in (checkout_dir(recipe) / "pkg" / "model.py").read_text()  # not half-applied
    files_wrong = {**UINT8, "expected_files": {"**/*.py": 7}}
    with pytest.raises(PatchError, match="expected 3 in 7 files"):
        prepare(make_recipe(repo, pinned, [files_wrong]))


def test_the_literal_non_recursive_glob_would_miss_files(tmp_path, upstream):
    repo, pinned = upstream
    literal = {"kind": "substitute", "pattern": "AT_CHECK", "replacement": "TORCH_CHECK",
               "expected": {"*/*.cu": 2}}
    with pytest.raises(PatchError, match="gives 0 replacements"):
        prepare(make_recipe(repo, pinned, [literal]))


@pytest.mark.parametrize("damage", ["edit", "untracked", "delete", "checkout-other"])
def test_rerunning_on_a_dirty_tree_resets_and_patches_again(tmp_path, upstream, damage):
    repo, pinned = upstream
    recipe = make_recipe(repo, pinned, [UINT8, AT_CHECK])
    tree = prepare(recipe).path
    model = tree / "pkg" / "model.py"
    if damage == "edit":
        model.write_text("hand edit\n")
    elif damage == "untracked":
        (tree / "stray.py").write_text("x = torch.uint8\n")
    elif damage == "delete":
        (tree / "pkg" / "ops" / "kernel.cu").unlink()
    else:
        run("checkout", "-q", "--force", "--detach", run("rev-parse", "HEAD", cwd=repo), cwd=tree)
    messages: list[str] = []
    again = prepare(recipe, log=messages.append)
    assert not again.reused
    assert any("resetting" in m for m in messages), messages
    assert run("rev-parse", "HEAD", cwd=tree) == pinned
    assert model.read_text() == ORIGINAL.replace("torch.uint8", "torch.bool")
    assert not (tree / "stray.py").exists()
    assert (tree / "pkg" / "ops" / "kernel.cu").read_text().count("TORCH_CHECK") == 2
    assert prepare(recipe).reused


def test_changed_patch_steps_are_reapplied_from_a_clean_tree(tmp_path, upstream):
    repo, pinned = upstream
    prepare(make_recipe(repo, pinned, [UINT8]))
    messages: list[str] = []
    prepared = prepare(make_recipe(repo, pinned, [AT_CHECK]), log=messages.append)
    assert any("patch steps changed" in m for m in messages)
    assert "torch.uint8" in (prepared.path / "pkg" / "model.py").read_text()  # the old step is gone
    assert "TORCH_CHECK" in (prepared.path / "pkg" / "ops" / "kernel.cu").read_text()


def test_source_override_and_workdir(tmp_path, upstream):
    repo, pinned = upstream
    mirror = tmp_path / "mirror.git"
    run("clone", "-q", "--bare", str(repo), str(mirror), cwd=tmp_path)
    recipe = make_recipe(Path("/nonexistent/upstream"), pinned, [])
    prepared = prepare(recipe, source=str(mirror), workdir=tmp_path / "work")
    assert prepared.path == tmp_path / "work" / f"demo-{pinned}"
    assert json.loads(prepared.manifest.read_text())["repo"] == str(mirror)


def test_a_commit_missing_from_the_source_is_a_clear_error(tmp_path, upstream):
    repo, _ = upstream
    with pytest.raises(BenchError, match="commit 0123456789abcdef0123456789abcdef01234567 is not in"):
        prepare(make_recipe(repo, "0123456789abcdef0123456789abcdef01234567", []))


def test_a_mirror_that_lacks_blobs_is_reported_or_checked_out_without_them(tmp_path, upstream):
    repo, pinned = upstream
    (repo / "big.bin").write_bytes(b"\x00" * 64)
    run("add", "big.bin", cwd=repo)
    run("commit", "-qm", "big", cwd=repo)
    commit = run("rev-parse", "HEAD", cwd=repo)
    blob = run("rev-parse", "HEAD:big.bin", cwd=repo)
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # a snapshot without its largest file
    recipe = make_recipe(repo, commit, [UINT8])
    with pytest.raises(BenchError, match=r"lacks the blobs of 1 files .*big.bin.*--allow-missing-blobs"):
        prepare(recipe)
    prepared = prepare(recipe, allow_missing_blobs=True)
    assert prepared.missing_paths == ("big.bin",)
    assert json.loads(prepared.manifest.read_text())["missing_paths"] == ["big.bin"]
    assert prepare(recipe, allow_missing_blobs=True).reused


def test_redact_hides_credentials():
    text = ("fatal: could not read from https://alice:s3cr3t-token@git.example.com/x.git and "
            "https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/y; Authorization: Bearer abc.def; "
            "token github_pat_11ABCDEFG0123456789_abcdefghijklmnop")
    shown = redact(text, ["extra-secret"])
    for secret in ("alice", "s3cr3t-token", "ghp_abcdef", "abc.def", "github_pat_11"):
        assert secret not in shown
    assert "https://***@git.example.com/x.git" in shown
    assert redact("value extra-secret here", ["extra-secret"]) == "value *** here"


def test_credentials_leave_the_url_and_reach_git_only_through_askpass(tmp_path, monkeypatch):
    ctx = split_credentials("https://bob:pa55word-xyz@git.example.com/r.git")
    assert ctx.url == "https://git.example.com/r.git" and ctx.password == "pa55word-xyz"
    monkeypatch.setenv("DEMO_TOKEN", "tok-123456789")
    ctx = split_credentials("https://git.example.com/r.git", "tok-123456789")
    with git_environment(ctx) as env:
        helper = Path(env["GIT_ASKPASS"])
        assert "tok-123456789" not in helper.read_text()

        def ask(prompt: str) -> str:
            return subprocess.run([str(helper), prompt], env=env, capture_output=True, text=True).stdout

        assert ask("Password for 'https://x-access-token@git.example.com': ").strip() == "tok-123456789"
        assert ask("Username for 'https://git.example.com': ").strip() == "x-access-token"
    assert not helper.exists()


def test_a_token_is_never_printed_written_or_left_in_errors(tmp_path, upstream, monkeypatch):
    repo, pinned = upstream
    token = "tok-SECRET-0123456789"
    monkeypatch.setenv("DEMO_TOKEN", token)
    recipe = make_recipe(repo, pinned, [UINT8], token_env="DEMO_TOKEN")
    messages: list[str] = []
    prepared = prepare(recipe, log=messages.append)
    assert token not in "\n".join(messages)
    for path in prepared.path.joinpath(".git").rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    # an unreachable URL with credentials in it: the error shows neither the password nor the token
    with pytest.raises(BenchError) as info:
        prepare(recipe, source="https://user:pw-SECRET-987654@127.0.0.1:9/r.git", workdir=tmp_path / "w",
                log=messages.append)
    text = str(info.value) + "\n".join(messages)
    assert "pw-SECRET-987654" not in text and token not in text and "user:" not in text
    assert not any(token in line or "pw-SECRET" in line
                   for p in (tmp_path / "w").rglob("*") if p.is_file()
                   for line in [p.read_bytes().decode("latin-1")])


def test_builtin_recipes_need_no_source():
    recipe = Recipe.model_validate({
        "name": "builtin", "title": "b", "family": "builtin", "variant": "builtin",
        "framework": {"name": "PyTorch", "version": "2"}, "command": "{python} -m x",
        "log": {"format": "torchvision"},
        "stack": {"python": "3.11", "framework": "PyTorch", "image": "ghcr.io/bench-images/builtin:1"}})
    prepared = prepare(recipe)
    assert prepared.path is None and prepared.commit is None
