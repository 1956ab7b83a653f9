"""Kubernetes manifests for a recipe, built as plain dicts (one function per object) and printed as YAML.

The pattern (issue 6): an initContainer with git clones the pinned commit into an emptyDir at /workspace and
applies the recipe's patches (script and diffs from a ConfigMap rendered alongside); the trainer is the main
container's exec-form command/args, so SIGTERM from `kubectl delete` reaches it; fixed non-root ids, no
privilege, no capabilities; /dev/shm in memory; the dataset on a PVC; GPUs in requests and limits;
restartPolicy Never and a deliberate grace period. One node is an Indexed Job of one pod (so the pod has the
same labels as the several-node form); several nodes are an Indexed Job + headless Service (torchrun c10d
rendezvous at the index-0 pod), a Kubeflow PyTorchJob, or, for MPI recipes, a Kubeflow MPIJob."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import yaml

from bench.errors import BenchError
from bench.images.refs import image_ref
from bench.k8s import distributed, prepare_script
from bench.recipes.render import image_env, placeholder_values, render_command
from bench.recipes.schema import Recipe
from bench.security import redact, url_has_credentials
from bench.vocabulary import image_pin_problem

WORKSPACE = "/workspace"
SOURCE_DIR = prepare_script.SOURCE_DIR
OUTPUT_DIR = f"{WORKSPACE}/output"
DATA_DIR = "/data"
DEFAULT_GIT_IMAGE = "alpine/git:v2.36.1"
DEFAULT_PORT = 29500
# As PID 1 a process ignores SIGTERM unless it handles it (python, bash and torch.distributed.launch do not),
# so the trainer runs under tini, still in exec form: tini -g forwards the signal to the whole process group.
DEFAULT_INIT = "/usr/bin/tini"
IMAGE_SOURCE = "/opt/bench/src"  # where the docker/<name> images keep the checkout they built (see docker/)
MPI_SSH_PORT = 2222  # sshd as a non-root user cannot bind 22; the MPI images listen here (docker/tensorpack)
GPU = "nvidia.com/gpu"
LABEL_PREFIX = "bench.dev"
Operator = Literal["native", "kubeflow"]
_SHELL_TOKENS = {"&&", "||", ";", "|", ">", ">>", "<", "&", "2>&1", "cd", "export", "source", "."}


@dataclass(frozen=True)
class RenderOptions:
    gpus: int | None = None  # per node; default: the recipe's (after its preset)
    nodes: int = 1
    image: str | None = None  # default: the recipe's stack image in `registry`
    registry: str | None = None  # default: BENCH_REGISTRY, else localhost (bench.images.refs)
    namespace: str = "default"
    data_pvc: str = "coco"
    grace: int = 5  # seconds between SIGTERM and SIGKILL: enough for the trainer to flush its log
    run_as: int = 1000
    operator: Operator = "native"
    token_secret: str | None = None  # Secret holding a private repository's token
    token_key: str = "token"
    name: str | None = None  # default bench-<recipe>
    preset: str | None = None
    source: str | None = None  # a mirror of the recipe's repository
    git_image: str = DEFAULT_GIT_IMAGE
    shm_size: str = "16Gi"
    queue: str | None = None  # a Kueue LocalQueue: admits the whole job at once (gang scheduling)
    port: int = DEFAULT_PORT
    init: str | None = DEFAULT_INIT  # PID 1 that forwards SIGTERM to the trainer's process group (None: none)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    objects: list[dict]
    kind: str  # the workload: Job, PyTorchJob or MPIJob
    name: str
    namespace: str
    primary_selector: str  # label selector of the pod whose log is the run's log
    log_container: str  # the container in that pod to follow
    argv: list[str]  # what the primary trainer container executes
    image: str
    gpus: int  # per node
    nodes: int

    @property
    def resource(self) -> str:
        group = "" if self.kind == "Job" else ".kubeflow.org"
        return f"{self.kind.lower()}{group}/{self.name}"


def check_image(image: str) -> str:
    """A tag other than `latest`, or a digest; anything else is refused."""
    if problem := image_pin_problem(image):
        raise BenchError(problem)
    return image


def check_repo_url(url: str) -> str:
    """A URL carrying credentials is refused (the message redacts it): tokens come from a Secret only."""
    if url_has_credentials(url):
        raise BenchError(f"repository URL {redact(url)} carries credentials; put the token in a "
                         f"Kubernetes Secret and pass --token-secret NAME")
    return url


def dns_name(text: str, limit: int = 52) -> str:
    """A DNS-1123 label; short enough that `<name>-<index>` pod hostnames and Kubeflow suffixes fit in 63."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:limit].rstrip("-")
    if not name:
        raise BenchError(f"cannot make a Kubernetes name from {text!r}")
    return name


def render(recipe: Recipe, opts: RenderOptions) -> Rendered:
    recipe = recipe.with_preset(opts.preset)
    _check_options(recipe, opts)
    name = dns_name(opts.name or f"bench-{recipe.name}")
    gpus = opts.gpus or recipe.gpus
    image = check_image(opts.image or image_ref(recipe.stack.image, opts.registry))
    check_image(opts.git_image)
    argv = render_command(recipe, gpus=gpus, data=DATA_DIR, output=OUTPUT_DIR, source_dir=SOURCE_DIR,
                          nodes=opts.nodes, port=opts.port)
    argv, command_env = _exec_form(recipe, argv)
    ctx = _Context(recipe, opts, name, image, gpus, command_env)
    objects = [ctx.configmap()]
    kind = distributed.launcher_kind(argv)
    if kind == "mpirun" and opts.nodes > 1:
        objects.append(ctx.mpijob(argv))
        return ctx.result(objects, "MPIJob", argv, f"training.kubeflow.org/job-name={name},"
                                                   f"training.kubeflow.org/job-role=launcher")
    if opts.nodes > 1 and opts.operator == "kubeflow":
        topo = distributed.Topology(opts.nodes, gpus, "$(MASTER_ADDR)", "$(MASTER_PORT)", "$(RANK)", name)
        argv = distributed.multi_node_argv(argv, topo, recipe=recipe.name)
        objects.append(ctx.pytorchjob(argv))
        return ctx.result(objects, "PyTorchJob", argv, f"training.kubeflow.org/job-name={name},"
                                                       f"training.kubeflow.org/replica-type=master")
    if opts.nodes > 1:
        topo = distributed.Topology(opts.nodes, gpus, "$(MASTER_ADDR)", "$(MASTER_PORT)", "$(NODE_RANK)",
                                    name)
        if kind == "dist-train-sh":
            if recipe.variant == "published":
                raise BenchError(f"recipe {recipe.name!r}: its tools/dist_train.sh has no multi-node "
                                 f"support at the pinned commit; run it on one node")
        else:
            argv = distributed.multi_node_argv(argv, topo, recipe=recipe.name)
        objects.append(ctx.headless_service())
    objects.append(ctx.indexed_job(argv))
    return ctx.result(objects, "Job", argv, f"batch.kubernetes.io/job-name={name},"
                                            f"batch.kubernetes.io/job-completion-index=0")


def _check_options(recipe: Recipe, opts: RenderOptions) -> None:
    if opts.run_as <= 0:
        raise BenchError(f"--run-as {opts.run_as}: must be a non-root user id (> 0)")
    if opts.nodes < 1 or (opts.gpus is not None and opts.gpus < 1):
        raise BenchError("--nodes and --gpus must be at least 1")
    refusal = recipe.refusal(opts.gpus or recipe.gpus, opts.nodes, preset=opts.preset)
    if refusal is not None:
        raise BenchError(refusal)
    if opts.grace < 0:
        raise BenchError(f"--grace {opts.grace}: must be 0 or more seconds")
    if opts.operator not in ("native", "kubeflow"):
        raise BenchError(f"--operator {opts.operator!r}: expected native or kubeflow")
    if opts.source:
        check_repo_url(opts.source)
    if recipe.source is not None:
        check_repo_url(recipe.source.repo)
        if recipe.source.token_env and not opts.token_secret:
            raise BenchError(f"recipe {recipe.name!r} needs a token for its repository; create a Secret "
                             f"with key '{opts.token_key}' and pass --token-secret NAME "
                             "(a token is never put inline)")
    for value in (opts.token_secret, opts.data_pvc, opts.namespace):
        if value is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", value):
            raise BenchError(f"{value!r} is not a valid Kubernetes object name")


def _exec_form(recipe: Recipe, argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The argv without a shell: leading `VAR=value` words become environment variables; shell syntax is an
    error, because a `sh -c` wrapper would keep SIGTERM from reaching the trainer."""
    env = {}
    if argv and argv[0] == "env":
        argv = argv[1:]
    while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
        key, value = argv[0].split("=", 1)
        env[key] = value
        argv = argv[1:]
    shell = [word for word in argv if word in _SHELL_TOKENS or word.startswith(("$(", "`"))]
    if not argv or shell:
        raise BenchError(f"recipe {recipe.name!r}: its command needs a shell ({shell[:1] or 'empty'}); "
                         f"a pod runs it in exec form, so write it as one program with arguments")
    return argv, env


class _Context:
    """What every object of one rendering shares."""

    def __init__(self, recipe: Recipe, opts: RenderOptions, name: str, image: str, gpus: int,
                 command_env: dict[str, str]) -> None:
        self.recipe, self.opts, self.name, self.image, self.gpus = recipe, opts, name, image, gpus
        self.command_env = command_env
        self.labels = {"app.kubernetes.io/name": "bench", "app.kubernetes.io/managed-by": "bench",
                       f"{LABEL_PREFIX}/recipe": dns_name(recipe.name, 63), f"{LABEL_PREFIX}/run": name,
                       f"{LABEL_PREFIX}/nodes": str(opts.nodes), f"{LABEL_PREFIX}/gpus-per-node": str(gpus),
                       **opts.labels}
        if opts.queue:
            self.labels["kueue.x-k8s.io/queue-name"] = opts.queue

    def result(self, objects: list[dict], kind: str, argv: list[str], selector: str) -> Rendered:
        log_container = "log-tail" if self.recipe.log.stream == "file" else "trainer"
        if kind == "PyTorchJob":
            log_container = "pytorch" if log_container == "trainer" else log_container
        return Rendered(objects, kind, self.name, self.opts.namespace, selector, log_container, argv,
                        self.image, self.gpus, self.opts.nodes)

    def values(self) -> dict[str, str]:
        return placeholder_values(gpus=self.gpus, data=DATA_DIR, output=OUTPUT_DIR, source_dir=SOURCE_DIR,
                                  nodes=self.opts.nodes, port=self.opts.port)

    def metadata(self, name: str | None = None) -> dict:
        return {"name": name or self.name, "namespace": self.opts.namespace, "labels": dict(self.labels)}

    # --- objects --------------------------------------------------------------------------------------------

    def configmap(self) -> dict:
        data = {prepare_script.SCRIPT_KEY: prepare_script.prepare_script(self.recipe),
                prepare_script.RUN_SCRIPT_KEY: prepare_script.prepare_run_script(self.recipe, self.values()),
                **prepare_script.diff_files(self.recipe)}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self.metadata(f"{self.name}-prepare"),
                "data": data}

    def headless_service(self) -> dict:
        """Stable DNS names <job>-<index>.<service> for the Job's pods, resolvable before they are ready."""
        return {"apiVersion": "v1", "kind": "Service", "metadata": self.metadata(),
                "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                         "selector": {f"{LABEL_PREFIX}/run": self.name},
                         "ports": [{"name": "rendezvous", "port": self.opts.port, "protocol": "TCP"}]}}

    def indexed_job(self, argv: list[str]) -> dict:
        nodes = self.opts.nodes
        env = [{"name": "NODE_RANK", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]
        if nodes > 1:  # (NNODES and PORT: what mmdetection 3.x's tools/dist_train.sh reads)
            env += [{"name": "MASTER_ADDR", "value": f"{self.name}-0.{self.name}"},
                    {"name": "MASTER_PORT", "value": str(self.opts.port)},
                    {"name": "PORT", "value": str(self.opts.port)}, {"name": "NNODES", "value": str(nodes)}]
        pod = self.pod_spec(self.trainer(argv, extra_env=env))
        if nodes > 1:
            pod["subdomain"] = self.name
        spec = {"completionMode": "Indexed", "completions": nodes, "parallelism": nodes, "backoffLimit": 0,
                "template": {"metadata": {"labels": dict(self.labels)}, "spec": pod}}
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": self.metadata(), "spec": spec}

    def pytorchjob(self, argv: list[str]) -> dict:
        """Kubeflow training-operator: it creates the Services and sets
        MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE."""
        def replica(replicas: int) -> dict:
            container = self.trainer(argv, name="pytorch")
            container["ports"] = [{"name": "pytorchjob-port", "containerPort": self.opts.port,
                                   "protocol": "TCP"}]
            return {"replicas": replicas, "restartPolicy": "Never",
                    "template": {"metadata": {"labels": dict(self.labels)}, "spec": self.pod_spec(container)}}

        specs = {"Master": replica(1)}
        if self.opts.nodes > 1:
            specs["Worker"] = replica(self.opts.nodes - 1)
        return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": self.metadata(),
                "spec": {"runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 0},
                         "pytorchReplicaSpecs": specs}}

    def mpijob(self, argv: list[str]) -> dict:
        """Kubeflow mpi-operator v2beta1: the launcher runs mpirun (no GPU), the workers run sshd and
        train."""
        total = self.opts.nodes * self.gpus
        launcher_argv = distributed.mpi_launcher_argv(argv, total, recipe=self.recipe.name)
        ssh = f"-p {MPI_SSH_PORT} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
        launcher = self.trainer(launcher_argv, gpus=0,
                                extra_env=[{"name": "OMPI_MCA_plm_rsh_args", "value": ssh}])
        worker = self.trainer(["/usr/sbin/sshd", "-De", "-f", "/etc/ssh/bench_sshd_config"], name="worker")
        worker["ports"] = [{"name": "ssh", "containerPort": MPI_SSH_PORT, "protocol": "TCP"}]
        worker["workingDir"] = WORKSPACE

        def replica(replicas: int, container: dict) -> dict:
            return {"replicas": replicas, "restartPolicy": "Never",
                    "template": {"metadata": {"labels": dict(self.labels)}, "spec": self.pod_spec(container)}}

        spec = {"slotsPerWorker": self.gpus, "sshAuthMountPath": f"{WORKSPACE}/.ssh",
                "mpiImplementation": "OpenMPI", "launcherCreationPolicy": "WaitForWorkersReady",
                "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": 0},
                "mpiReplicaSpecs": {"Launcher": replica(1, launcher),
                                    "Worker": replica(self.opts.nodes, worker)}}
        return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": self.metadata(),
                "spec": spec}

    # --- pod parts ------------------------------------------------------------------------------------------

    def pod_spec(self, trainer: dict) -> dict:
        init = [self.source_container(), self.prepare_run_container()]
        if self.recipe.log.stream == "file":
            init.append(self.log_tail_container())
        pod = {"restartPolicy": "Never", "terminationGracePeriodSeconds": self.opts.grace,
               "automountServiceAccountToken": False, "enableServiceLinks": False,
               "securityContext": {"runAsUser": self.opts.run_as, "runAsGroup": self.opts.run_as,
                                   "fsGroup": self.opts.run_as, "runAsNonRoot": True,
                                   "seccompProfile": {"type": "RuntimeDefault"}},
               "initContainers": init, "containers": [trainer], "volumes": self.volumes()}
        return pod

    def volumes(self) -> list[dict]:
        return [{"name": "workspace", "emptyDir": {}},
                {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": self.opts.shm_size}},
                {"name": "data",
                 "persistentVolumeClaim": {"claimName": self.opts.data_pvc, "readOnly": True}},
                {"name": "prepare", "configMap": {"name": f"{self.name}-prepare", "defaultMode": 0o444}}]

    def security_context(self) -> dict:
        return {"allowPrivilegeEscalation": False, "privileged": False, "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]}}

    def source_container(self) -> dict:
        source = self.recipe.source
        env = [{"name": "HOME", "value": WORKSPACE}, {"name": "SRC", "value": SOURCE_DIR},
               {"name": "OUTPUT", "value": OUTPUT_DIR}]
        if source is not None:
            env += [{"name": "REPO", "value": self.opts.source or source.repo},
                    {"name": "COMMIT", "value": source.commit}]
        if self.opts.token_secret:
            env.append({"name": "GIT_TOKEN", "valueFrom": {"secretKeyRef": {
                "name": self.opts.token_secret, "key": self.opts.token_key}}})
        return {"name": "source", "image": self.opts.git_image, "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", f"{prepare_script.PATCH_MOUNT}/{prepare_script.SCRIPT_KEY}"],
                "workingDir": WORKSPACE, "env": env, "securityContext": self.security_context(),
                "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE},
                                 {"name": "prepare", "mountPath": prepare_script.PATCH_MOUNT,
                                  "readOnly": True}]}

    def prepare_run_container(self) -> dict:
        """In the trainer's image: copy the extensions the image compiled into the fresh checkout (same commit
        only), then the recipe's prepare_run steps (dataset links) in the launch directory."""
        container = self.trainer([], name="prepare-run", gpus=0)
        container.pop("args")
        container["command"] = ["/bin/sh", f"{prepare_script.PATCH_MOUNT}/{prepare_script.RUN_SCRIPT_KEY}"]
        container["env"] += [{"name": "SRC", "value": SOURCE_DIR},
                             {"name": "IMAGE_SOURCE", "value": IMAGE_SOURCE}]
        if self.recipe.source is not None:
            container["env"].append({"name": "COMMIT", "value": self.recipe.source.commit})
        container["volumeMounts"].append({"name": "prepare", "mountPath": prepare_script.PATCH_MOUNT,
                                          "readOnly": True})
        return container

    def log_tail_container(self) -> dict:
        """A native sidecar (restartPolicy Always, Kubernetes >= 1.29) that streams a file log to stdout, so
        that `kubectl logs -f` sees what the recipe writes to a file; it ends with the trainer."""
        path = f"{OUTPUT_DIR}/{self.recipe.log.path}"
        return {"name": "log-tail", "image": self.opts.git_image, "restartPolicy": "Always",
                "command": ["tail", "-n", "+1", "-F", path], "securityContext": self.security_context(),
                "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE, "readOnly": True}]}

    def trainer(self, argv: list[str], *, name: str = "trainer", gpus: int | None = None,
                extra_env: list[dict] | None = None) -> dict:
        gpus = self.gpus if gpus is None else gpus
        env = {**image_env(self.recipe), **self.command_env, "PYTHONUNBUFFERED": "1",
               "ANSI_COLORS_DISABLED": "1", "HOME": WORKSPACE}
        subdir = self.recipe.source.subdir if self.recipe.source else ""
        container = {
            "name": name, "image": self.image, "imagePullPolicy": "IfNotPresent",
            "command": [self.opts.init, "-g", "--"] if self.opts.init else argv[:1],
            "args": argv if self.opts.init else argv[1:],
            "workingDir": f"{SOURCE_DIR}/{subdir}".rstrip("/") if self.recipe.source else WORKSPACE,
            "env": [{"name": k, "value": str(v)} for k, v in env.items()] + list(extra_env or []),
            "securityContext": self.security_context(),
            "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE},
                             {"name": "dshm", "mountPath": "/dev/shm"},
                             {"name": "data", "mountPath": DATA_DIR, "readOnly": True}]}
        if gpus:
            container["resources"] = {"requests": {GPU: gpus}, "limits": {GPU: gpus}}
        return container


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the patch script, diffs) as literal blocks, so the YAML reads like the files."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(objects: list[dict]) -> str:
    """Multi-document YAML, redacted."""
    return redact(yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                                width=120))


