"""`bench k8s render`: every recipe renders, the objects validate against the Kubernetes schemas, and the
pattern's fields are there (exec form, non-root, grace, shm, GPUs, Secret reference, no credentials)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes_validate import utils as kv

from bench.errors import BenchError
from bench.k8s.render import RenderOptions, check_image, render, to_yaml
from bench.images.refs import image_ref
from bench.recipes import find_recipe, load_all
from bench.recipes.render import image_env

K8S_VERSION = "1.33.0"  # a current release; kubernetes-validate ships schemas up to its own latest
RECIPES = load_all()
SINGLE_NODE_KINDS = {"ConfigMap", "Job"}


def pod_specs(obj: dict) -> list[dict]:
    """Every pod template (as PodTemplateSpec) inside an object."""
    spec = obj.get("spec", {})
    if obj["kind"] == "Job":
        return [spec["template"]]
    if obj["kind"] == "PyTorchJob":
        return [r["template"] for r in spec["pytorchReplicaSpecs"].values()]
    if obj["kind"] == "MPIJob":
        return [r["template"] for r in spec["mpiReplicaSpecs"].values()]
    return []


def validate(obj: dict) -> None:
    """Built-in kinds against their schema (strict: no unknown fields); a CRD's embedded pod templates as a
    PodTemplate (the schema has no Kubeflow CRDs)."""
    if obj["apiVersion"].startswith("kubeflow.org/"):
        for template in pod_specs(obj):
            kv.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
                         "template": template}, K8S_VERSION, strict=True)
    else:
        kv.validate(obj, K8S_VERSION, strict=True)


def assert_pattern(obj: dict, *, gpus: int | None, grace: int = 5, uid: int = 1000) -> None:
    for template in pod_specs(obj):
        pod = template["spec"]
        assert pod["restartPolicy"] == "Never"
        assert pod["terminationGracePeriodSeconds"] == grace
        ctx = pod["securityContext"]
        assert ((ctx["runAsUser"], ctx["runAsGroup"], ctx["fsGroup"], ctx["runAsNonRoot"])
                == (uid, uid, uid, True))
        for container in pod["initContainers"] + pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert container["image"].rsplit(":", 1)[-1] != "latest"
            assert "sh" not in {Path(word).name for word in container.get("command", [])[:1]} or \
                container["name"] in ("source", "prepare-run")
        trainer = pod["containers"][0]
        assert trainer["command"] == ["/usr/bin/tini", "-g", "--"]  # exec form: no shell anywhere
        assert trainer["args"] and "-c" not in trainer["args"][:1]
        env = {e["name"]: e.get("value") for e in trainer["env"]}
        assert (env["HOME"] == "/workspace" and env["PYTHONUNBUFFERED"] == "1"
                and env["ANSI_COLORS_DISABLED"] == "1")
        mounts = {m["mountPath"]: m["name"] for m in trainer["volumeMounts"]}
        assert (mounts["/dev/shm"] == "dshm" and mounts["/workspace"] == "workspace"
                and mounts["/data"] == "data")
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
        assert volumes["workspace"]["emptyDir"] == {}
        assert "persistentVolumeClaim" in volumes["data"]
        if gpus is not None and trainer["name"] != "worker" or trainer.get("resources"):
            resources = trainer["resources"]
            assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == gpus
        assert pod["initContainers"][0]["name"] == "source"


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_every_recipe_renders_validates_and_follows_the_pattern(recipe) -> None:
    gpus = 2 if recipe.allowed.gpus is None else recipe.allowed.gpus[0]  # simpledet, matterport: 8 only
    rendered = render(recipe, RenderOptions(gpus=gpus, namespace="bench", data_pvc="coco-2017"))
    kinds = [o["kind"] for o in rendered.objects]
    assert set(kinds) == SINGLE_NODE_KINDS
    for obj in rendered.objects:
        validate(obj)
        assert_pattern(obj, gpus=gpus)
    job = next(o for o in rendered.objects if o["kind"] == "Job")
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["backoffLimit"] == 0
    trainer = job["spec"]["template"]["spec"]["containers"][0]
    assert trainer["image"] == image_ref(recipe.stack.image)
    recipe_env = {e["name"]: e["value"] for e in trainer["env"] if "value" in e}
    assert all(recipe_env[k] == v for k, v in image_env(recipe).items())
    # {bench}, bench's folder on this host, means nothing in the image
    assert not {k for k, v in recipe.env.items() if "{bench}" in v} & recipe_env.keys()
    # the YAML is what was rendered, document for document
    assert list(yaml.safe_load_all(to_yaml(rendered.objects))) == rendered.objects


def test_the_cli_prints_yaml_that_validates() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.cli", "k8s", "render", "detectron2", "--gpus", "4",
                          "--grace", "0", "--run-as", "2000", "--namespace", "labs", "--data-pvc", "coco"],
                         capture_output=True, text=True, check=True).stdout
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Job"]
    for doc in docs:
        validate(doc)
        assert_pattern(doc, gpus=4, grace=0, uid=2000)
    assert "namespace: labs" in out


def test_patches_go_in_the_configmap_as_script_and_diffs() -> None:
    mrcnn = render(find_recipe("maskrcnn-benchmark"), RenderOptions())
    script = mrcnn.objects[0]["data"]["prepare.sh"]
    assert "substitute 1 '**/*.py' 11 torch.uint8 's|torch.uint8|torch.bool|g' 7" in script
    assert "substitute 2 '**/*.cu' 24 AT_CHECK 's|AT_CHECK|TORCH_CHECK|g' 2" in script
    matterport = render(find_recipe("matterport"), RenderOptions())
    data = matterport.objects[0]["data"]
    diffs = [key for key in data if key.endswith(".diff")]
    assert diffs and data[diffs[0]].startswith(("diff", "---", "From", "Index"))
    flag = " --ignore-whitespace" if find_recipe("matterport").patches[0].ignore_whitespace else ""
    assert f"git apply{flag} /bench/prepare/{diffs[0]}" in data["prepare.sh"]
    assert "blob 1 samples/coco/coco.py 239ed75" in data["prepare.sh"]  # the expected post-image is checked


def test_token_only_as_a_secret_reference_and_credentials_refused() -> None:
    recipe = find_recipe("detectron2")
    rendered = render(recipe, RenderOptions(token_secret="repo-token"))
    init = rendered.objects[-1]["spec"]["template"]["spec"]["initContainers"][0]
    token = next(e for e in init["env"] if e["name"] == "GIT_TOKEN")
    assert token == {"name": "GIT_TOKEN",
                     "valueFrom": {"secretKeyRef": {"name": "repo-token", "key": "token"}}}
    trainer = rendered.objects[-1]["spec"]["template"]["spec"]["containers"][0]
    assert all(e["name"] != "GIT_TOKEN" for e in trainer["env"])  # the trainer never sees it
    secret_url = "https://user:s3cr3t-token@github.com/facebookresearch/detectron2.git"
    with pytest.raises(BenchError) as caught:
        render(recipe, RenderOptions(source=secret_url))
    assert "s3cr3t" not in str(caught.value)
    out = subprocess.run([sys.executable, "-m", "bench.cli", "k8s", "render", "detectron2", "--source",
                          secret_url], capture_output=True, text=True)
    assert out.returncode != 0 and "s3cr3t" not in out.stdout + out.stderr


def test_images_must_be_pinned() -> None:
    for bad in ("ghcr.io/x/y", "ghcr.io/x/y:latest", "x@sha256:abc"):
        with pytest.raises(BenchError):
            check_image(bad)
    assert check_image("ghcr.io/x/y@sha256:" + "a" * 64)
    with pytest.raises(BenchError):
        render(find_recipe("detectron2"), RenderOptions(image="ghcr.io/x/y:latest"))
    with pytest.raises(BenchError):
        render(find_recipe("detectron2"), RenderOptions(run_as=0))


def test_several_nodes_native_is_an_indexed_job_with_a_headless_service() -> None:
    rendered = render(find_recipe("torchvision"), RenderOptions(gpus=8, nodes=4, name="tv"))
    service, job = rendered.objects[1], rendered.objects[2]
    for obj in rendered.objects:
        validate(obj)
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 4
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == "tv"
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["MASTER_ADDR"]["value"] == "tv-0.tv"
    args = pod["containers"][0]["args"]
    assert args[:5] == ["torchrun", "--nnodes=4", "--rdzv-backend=c10d",
                        "--rdzv-endpoint=$(MASTER_ADDR):$(MASTER_PORT)", "--rdzv-id=tv"]
    assert "--master_port=29500" not in args and "--nproc_per_node=8" in args
    # detectron2 gets its own flags, right after --num-gpus (its trailing config options swallow the rest)
    d2 = render(find_recipe("detectron2-current"), RenderOptions(nodes=2, name="d2")).argv
    at = d2.index("--num-gpus")
    assert d2[at + 2:at + 8] == ["--num-machines", "2", "--machine-rank", "$(NODE_RANK)", "--dist-url",
                                 "tcp://$(MASTER_ADDR):$(MASTER_PORT)"]
    mb = render(find_recipe("maskrcnn-benchmark"), RenderOptions(nodes=2)).argv
    assert "--node_rank=$(NODE_RANK)" in mb and "--nnodes=2" in mb  # static launch (torch 1.5: no c10d)


def test_several_nodes_kubeflow_pytorchjob_and_mpijob() -> None:
    rendered = render(find_recipe("detectron2-current"), RenderOptions(nodes=3, operator="kubeflow"))
    job = rendered.objects[-1]
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "PyTorchJob"
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert specs["Master"]["replicas"] == 1 and specs["Worker"]["replicas"] == 2
    assert specs["Master"]["template"]["spec"]["containers"][0]["name"] == "pytorch"
    validate(job)
    assert_pattern(job, gpus=8)
    assert "$(RANK)" in rendered.argv
    mpi = render(find_recipe("tensorpack"), RenderOptions(nodes=2, gpus=8))
    job = mpi.objects[-1]
    assert job["apiVersion"] == "kubeflow.org/v2beta1" and job["kind"] == "MPIJob"
    assert job["spec"]["slotsPerWorker"] == 8 and job["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 2
    launcher = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    assert launcher["args"][:3] == ["mpirun", "-np", "16"] and "resources" not in launcher
    worker = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 8
    validate(job)
    with pytest.raises(BenchError, match="simpledet: --nodes 2: it runs on 1 node"):
        render(find_recipe("simpledet"), RenderOptions(nodes=2))


def test_a_file_log_is_streamed_by_a_native_sidecar() -> None:
    rendered = render(find_recipe("tensorpack"), RenderOptions())
    assert rendered.log_container == "log-tail"
    init = rendered.objects[-1]["spec"]["template"]["spec"]["initContainers"]
    tail = next(c for c in init if c["name"] == "log-tail")
    assert tail["restartPolicy"] == "Always" and tail["command"][-1] == "/workspace/output/train_log/log.log"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}).stdout.strip()


def test_the_prepare_script_clones_substitutes_and_checks_counts(tmp_path: Path) -> None:
    """The generated script, run by a POSIX sh against a local repository (what the initContainer does)."""
    repo = tmp_path / "repo"
    (repo / "pkg" / "deep").mkdir(parents=True)
    (repo / "top.py").write_text("a = torch.uint8\n")
    (repo / "pkg" / "deep" / "m.py").write_text("x = torch.uint8; y = torch.uint8\n")
    (repo / "pkg" / "k.cu").write_text("AT_CHECK(1);\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "c")
    commit = _git(repo, "rev-parse", "HEAD")
    recipe = find_recipe("maskrcnn-benchmark")

    def run(expected: int) -> subprocess.CompletedProcess:
        patched = recipe.model_copy(update={"source": recipe.source.model_copy(update={"commit": commit}),
                                            "patches": [recipe.patches[0].model_copy(update={
                                                "expected": {"**/*.py": expected},
                                                "expected_files": {"**/*.py": 2}})]})
        script = tmp_path / f"prepare-{expected}.sh"
        script.write_text(render(patched, RenderOptions()).objects[0]["data"]["prepare.sh"])
        work = tmp_path / f"w{expected}"
        env = {"PATH": os.environ["PATH"], "HOME": str(work), "SRC": str(work / "src"),
               "OUTPUT": str(work / "output"), "REPO": str(repo), "COMMIT": commit}
        work.mkdir()
        return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)

    wrong = run(2)
    assert wrong.returncode == 1 and "expected 2 replacements, found 3" in wrong.stderr
    assert "torch.uint8" in (tmp_path / "w2" / "src" / "top.py").read_text()  # nothing changed
    ok = run(3)
    assert ok.returncode == 0, ok.stderr
    assert ((tmp_path / "w3" / "src" / "pkg" / "deep" / "m.py").read_text()
            == "x = torch.bool; y = torch.bool\n")
    assert (tmp_path / "w3" / "output").is_dir()
