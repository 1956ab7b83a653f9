"""The Kubernetes launcher: `kubectl apply` the rendered manifests, wait for the pod whose log is the run's
log, follow it with `kubectl logs -f`, and stop the run by deleting the workload (the pod gets SIGTERM, then
SIGKILL after its terminationGracePeriodSeconds).

Every line of the followed log is written unchanged to `pod.log` in the run directory and stamped on the
harness clock (`time.monotonic()` when `kubectl logs` delivered it) like the local launcher's lines, so the
same watcher serves both. `kubectl logs` merges the container's stdout and stderr into one stream, "log"."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

from bench.errors import BenchError
from bench.k8s.render import Rendered
from bench.launch.base import Launcher
from bench.security import redact

STREAM = "log"
LOG_NAME = "pod.log"
_STARTED = ("Running", "Succeeded", "Failed")
_HOPELESS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
             "CreateContainerError"}


class KubernetesLauncher(Launcher):
    def __init__(self, rendered: Rendered, manifests: str, run_dir: Path, *, kubectl: str = "kubectl",
                 start_timeout: float = 900.0, poll_s: float = 1.0) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(run_dir)
        self.rendered, self.manifests, self.kubectl = rendered, manifests, kubectl
        self.start_timeout, self.poll_s = start_timeout, poll_s
        self.pod: str | None = None
        self.logs: subprocess.Popen[bytes] | None = None
        self.deleted = False
        self._exit_code: int | None = None
        self._exit_checked_at: float | None = None
        self._reader: threading.Thread | None = None

    # -- kubectl ------------------------------------------------------------------------------------
    def _kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        argv = [self.kubectl, "--namespace", self.rendered.namespace, *args]
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            raise BenchError(f"{self.kubectl}: not found on PATH (bench k8s run drives a cluster through "
                             "kubectl)") from None
        if check and done.returncode != 0:
            raise BenchError(f"kubectl {args[0]} failed ({done.returncode}): "
                             f"{redact(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '')}")
        return done.stdout

    def _pods(self) -> list[dict]:
        out = self._kubectl("get", "pods", "-l", self.rendered.primary_selector, "-o", "json")
        return json.loads(out or "{}").get("items", [])

    # -- starting -----------------------------------------------------------------------------------
    def start(self) -> None:
        self._open_stream(STREAM)
        try:
            self._kubectl("apply", "-f", "-", stdin=self.manifests)
            self.pod = self._wait_for_pod()
        except BaseException:
            self.cleanup()
            self._close_stream(STREAM)
            raise
        self.started_at = time.monotonic()
        argv = [self.kubectl, "--namespace", self.rendered.namespace, "logs", "-f", self.pod,
                "-c", self.rendered.log_container]
        stderr = open(self.run_dir / "kubectl-logs.stderr", "wb")
        self.logs = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        stderr.close()
        self._reader = threading.Thread(target=self._read_log, daemon=True, name="bench-kubectl-logs")
        self._reader.start()

    def _wait_for_pod(self) -> str:
        """The primary pod's name once its log container has started; a clear error when it cannot start."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for pod in self._pods():
                name, status = pod["metadata"]["name"], pod.get("status", {})
                for container in (status.get("initContainerStatuses", [])
                                  + status.get("containerStatuses", [])):
                    waiting = container.get("state", {}).get("waiting", {})
                    if waiting.get("reason") in _HOPELESS:
                        raise BenchError(f"pod {name}: container {container['name']}: {waiting['reason']}: "
                                         f"{redact(waiting.get('message', ''))}")
                    terminated = container.get("state", {}).get("terminated", {})
                    if container["name"] in ("source", "prepare-run") and terminated.get("exitCode", 0) != 0:
                        tail = self._kubectl("logs", name, "-c", container["name"], "--tail", "5",
                                             check=False)
                        raise BenchError(f"pod {name}: {container['name']} failed: "
                                         f"{redact(' | '.join(tail.strip().splitlines()))}")
                if status.get("phase") in _STARTED:
                    return name
            time.sleep(self.poll_s)
        raise BenchError(f"no pod of {self.rendered.resource} started within {self.start_timeout:.0f} s "
                         f"(see kubectl describe {self.rendered.resource})")

    def _read_log(self) -> None:
        assert self.logs is not None and self.logs.stdout is not None
        with open(self.run_dir / LOG_NAME, "wb") as out:
            for raw in iter(self.logs.stdout.readline, b""):
                t = time.monotonic()
                out.write(raw)
                out.flush()
                self._deliver(STREAM, raw.decode("utf-8", errors="replace"), t)
        self.logs.stdout.close()
        self._close_stream(STREAM)

    # -- the run's state ------------------------------------------------------------------------------
    def poll(self) -> int | None:
        if not self._alive() and self.logs is not None:
            return self._trainer_exit_code()
        return None

    def _trainer_exit_code(self) -> int | None:
        """The trainer container's exit code (asked at most every poll_s; None while unknown)."""
        if self._exit_code is not None or self.pod is None:
            return self._exit_code
        now = time.monotonic()
        if self._exit_checked_at is not None and now - self._exit_checked_at < self.poll_s:
            return None
        self._exit_checked_at = now
        out = self._kubectl("get", "pod", self.pod, "-o", "json", check=False)
        try:
            statuses = json.loads(out).get("status", {}).get("containerStatuses", [])
        except json.JSONDecodeError:
            return None
        trainer = "pytorch" if self.rendered.kind == "PyTorchJob" else "trainer"
        for status in statuses:
            terminated = status.get("state", {}).get("terminated")
            if status["name"] == trainer and terminated:
                self._exit_code = int(terminated.get("exitCode"))
        return self._exit_code

    def _alive(self) -> bool:
        if self.logs is None:
            return False
        if self._reader is not None and not self._reader.is_alive():  # EOF: kubectl is exiting; let it finish
            try:
                self.logs.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        return self.logs.poll() is None

    def _signal_all(self, sig: int) -> None:
        """SIGTERM: delete the workload (Kubernetes sends SIGTERM, waits the grace period, then SIGKILL).
        SIGKILL: force-delete the pod and stop following its log."""
        if sig == signal.SIGKILL:
            if self.pod:
                self._kubectl("delete", "pod", self.pod, "--grace-period=0", "--force", "--wait=false",
                              check=False)
            if self._alive():
                self.logs.kill()
            return
        if not self.deleted:
            self.deleted = True
            self._kubectl("delete", self.rendered.resource, "--wait=false", check=False)

    def _reap(self, timeout: float) -> int | None:
        if self.logs is None:
            return None
        try:
            self.logs.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader is not None:
            self._reader.join(timeout=5)
        deadline = time.monotonic() + min(timeout, 10.0)
        while self._trainer_exit_code() is None and not self.deleted and time.monotonic() < deadline:
            time.sleep(self.poll_s / 4)
        return self._exit_code

    def cleanup(self) -> None:
        """Delete everything that was applied (the log is saved; the workload may be gone already)."""
        self._kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=false", stdin=self.manifests,
                      check=False)
