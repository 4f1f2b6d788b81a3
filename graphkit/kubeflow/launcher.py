"""Launch a distributed graphkit stage: a PyTorchJob/TrainJob on Kubernetes, or torchrun on this machine.

On a cluster (:func:`run_on_cluster`): create the custom resource with the ``kubernetes``
client, follow its conditions, stream the master's log once it runs, raise with the job's
reason and message if it fails, and delete the job at the end (pods go with it).

Locally (:func:`run_local`): ``torchrun --standalone --nproc-per-node=K [--max-restarts=N]
-m graphkit.cli.main ...``: K trainer processes on this machine (docs/distributed.md).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from graphkit.errors import GraphkitError
from graphkit.kubeflow.jobs import RENDERERS, JobSpec

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    success: str  # the condition type that means done
    master_selector: str  # label selector of the pod whose log is the job's log, "{name}" filled in


KINDS = {
    "pytorchjob": Kind("kubeflow.org", "v1", "pytorchjobs", "Succeeded",
                       "training.kubeflow.org/job-name={name},training.kubeflow.org/replica-type=master"),
    "trainjob": Kind("trainer.kubeflow.org", "v1alpha1", "trainjobs", "Complete",
                     "jobset.sigs.k8s.io/jobset-name={name},batch.kubernetes.io/job-completion-index=0"),
}


@dataclass(frozen=True)
class JobState:
    phase: str  # "pending", "running", "succeeded", "failed"
    reason: str = ""
    message: str = ""


def job_state(obj: dict, kind: str) -> JobState:
    """Where a job stands, from its ``status.conditions`` (the latest true condition wins)."""
    conds = [c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
    types = {c.get("type"): c for c in conds}
    if "Failed" in types:
        c = types["Failed"]
        return JobState("failed", c.get("reason", ""), c.get("message", ""))
    if KINDS[kind].success in types:
        c = types[KINDS[kind].success]
        return JobState("succeeded", c.get("reason", ""), c.get("message", ""))
    if "Running" in types:
        return JobState("running")
    last = conds[-1] if conds else {}
    return JobState("pending", last.get("reason", ""), last.get("message", ""))


def _clients() -> tuple[Any, Any]:
    try:
        from kubernetes import client, config
    except ImportError:
        raise GraphkitError("launching on Kubernetes needs the kubernetes client.",
                            hint="pip install 'graphkit[pipelines]'.") from None
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CustomObjectsApi(), client.CoreV1Api()


def run_on_cluster(spec: JobSpec, kind: str = "pytorchjob", poll_s: float = 10.0, timeout_s: Optional[float] = None,
                   cleanup: bool = True, apis: Optional[tuple[Any, Any]] = None,
                   out: Callable[[str], None] = print) -> JobState:
    """Create the job, follow it to the end, clean up; raises :class:`GraphkitError` if it fails."""
    custom, core = apis or _clients()
    k = KINDS[kind]
    body = RENDERERS[kind](spec)
    custom.create_namespaced_custom_object(k.group, k.version, spec.namespace, k.plural, body)
    selector = k.master_selector.format(name=spec.name)
    out(f"{body['kind']} {spec.namespace}/{spec.name} created; logs: kubectl logs -f -n {spec.namespace} -l {selector}")
    start, streamed = time.monotonic(), False
    try:
        while True:
            obj = custom.get_namespaced_custom_object(k.group, k.version, spec.namespace, k.plural, spec.name)
            state = job_state(obj, kind)
            if state.phase == "failed":
                raise GraphkitError(f"{body['kind']} {spec.name} failed: {state.reason or 'no reason given'}"
                                    f"{': ' + state.message if state.message else ''}",
                                    hint=f"kubectl describe {k.plural} -n {spec.namespace} {spec.name}")
            if state.phase == "succeeded":
                out(f"{body['kind']} {spec.name} succeeded")
                return state
            if state.phase == "running" and not streamed:
                streamed = _stream_master_log(core, spec.namespace, selector, out)
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                raise GraphkitError(f"{body['kind']} {spec.name} did not finish within {timeout_s:.0f}s.")
            time.sleep(poll_s)
    finally:
        if cleanup:
            try:
                custom.delete_namespaced_custom_object(k.group, k.version, spec.namespace, k.plural, spec.name,
                                                       propagation_policy="Foreground")
                out(f"{body['kind']} {spec.name} deleted")
            except Exception as e:  # the job may be gone already; cleanup must not hide the real outcome
                log.warning("could not delete %s %s: %s", k.plural, spec.name, e)


def _stream_master_log(core: Any, namespace: str, selector: str, out: Callable[[str], None]) -> bool:
    """Follow the master pod's log until its container exits; False if the pod is not running yet."""
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    running = [p for p in pods if p.status and p.status.phase in ("Running", "Succeeded", "Failed")]
    if not running:
        return False
    name = running[0].metadata.name
    stream = core.read_namespaced_pod_log(name, namespace, container="pytorch" if "training.kubeflow.org" in selector
                                          else None, follow=True, _preload_content=False)
    for line in stream:
        out(line.decode("utf-8", "replace").rstrip("\n") if isinstance(line, bytes) else str(line).rstrip("\n"))
    return True


def torchrun_command(args: list[str], nproc_per_node: int = 1, max_restarts: int = 0) -> list[str]:
    """``torchrun --standalone --nproc-per-node=K [--max-restarts=N] -m graphkit.cli.main ARGS`` with this
    Python; with restarts, a ``train`` stage gets ``--resume`` (restarted workers continue from last.pt)."""
    if nproc_per_node < 1 or max_restarts < 0:
        raise GraphkitError(f"need --nproc-per-node >= 1 and --max-restarts >= 0, got {nproc_per_node} and "
                            f"{max_restarts}.")
    args = list(args)
    if max_restarts and args and args[0] == "train" and "--resume" not in args:
        args.append("--resume")
    restarts = [f"--max-restarts={max_restarts}"] if max_restarts else []
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc_per_node}",
            *restarts, "-m", "graphkit.cli.main", *args]


def run_local(args: list[str], nproc_per_node: int = 1, max_restarts: int = 0) -> int:
    """Run a graphkit stage under torchrun on this machine; returns its exit code."""
    cmd = torchrun_command(args, nproc_per_node, max_restarts)
    log.info("running %s", " ".join(cmd))
    return subprocess.run(cmd, check=False).returncode
