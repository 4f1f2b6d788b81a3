"""Distributed training jobs as Kubernetes resources: a PyTorchJob or a TrainJob from one :class:`JobSpec`.

PyTorchJob (``kubeflow.org/v1``, Training Operator): a ``Master`` replica and
``workers - 1`` ``Worker`` replicas, each a pod with one container named ``pytorch``
running a bare ``torchrun -m graphkit.cli.main <stage> ...``; the operator injects
``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``, ``PET_MASTER_ADDR``/``PORT``
(and ``MASTER_ADDR``, ``RANK``, ``WORLD_SIZE``), which torchrun reads.

TrainJob (``trainer.kubeflow.org/v1alpha1``, Kubeflow Trainer v2): the same job against a
``ClusterTrainingRuntime`` (default ``torch-distributed``), with placement, volumes and
environment as pod template overrides of the ``node`` job.

Rendering is plain data; :mod:`graphkit.kubeflow.launcher` creates and follows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from graphkit.errors import GraphkitError

CONTAINER = "pytorch"  # the container name the Training Operator looks for
TORCHRUN = ["torchrun", "-m", "graphkit.cli.main"]  # bare: the operator's PET_* variables configure it
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class Volume:
    """A PersistentVolumeClaim mounted into every replica."""

    claim: str
    mount_path: str
    read_only: bool = False


@dataclass
class JobSpec:
    """A distributed graphkit stage: ``workers`` pods x ``gpus_per_worker`` GPUs, one process per GPU."""

    name: str
    image: str
    args: list[str]  # the graphkit sub-command and its options, e.g. ["train", "--part-config", ...]
    namespace: str = "graphkit"
    workers: int = 1
    gpus_per_worker: int = 0
    gpu_resource: str = "nvidia.com/gpu"
    cpu: Optional[str] = None  # requests = limits, e.g. "8"
    memory: Optional[str] = None  # e.g. "32Gi"
    env: dict[str, str] = field(default_factory=dict)
    secret_env: Optional[str] = None  # a Secret whose keys become environment variables (e.g. S3 credentials)
    volumes: list[Volume] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    service_account: Optional[str] = None
    labels: dict[str, str] = field(default_factory=dict)
    backoff_limit: int = 0
    ttl_seconds_after_finished: Optional[int] = None
    runtime: str = "torch-distributed"  # TrainJob only: the ClusterTrainingRuntime

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or len(self.name) > 63:
            raise GraphkitError(f"job name {self.name!r} is not a DNS label (lower case, digits, '-'; "
                                "at most 63 characters, starting with a letter).")
        if self.workers < 1 or self.gpus_per_worker < 0:
            raise GraphkitError(f"need workers >= 1 and gpus per worker >= 0, got {self.workers} and "
                                f"{self.gpus_per_worker}.")

    @property
    def procs_per_worker(self) -> int:
        return max(self.gpus_per_worker, 1)

    @property
    def world_size(self) -> int:
        return self.workers * self.procs_per_worker

    # --- pieces shared by both kinds -----------------------------------------
    def _resources(self) -> dict[str, Any]:
        amounts: dict[str, Any] = {}
        if self.cpu:
            amounts["cpu"] = self.cpu
        if self.memory:
            amounts["memory"] = self.memory
        if self.gpus_per_worker:
            amounts[self.gpu_resource] = self.gpus_per_worker
        return {"requests": dict(amounts), "limits": dict(amounts)} if amounts else {}

    def _env(self) -> list[dict[str, str]]:
        return [{"name": k, "value": str(v)} for k, v in sorted(self.env.items())]

    def _mounts(self) -> list[dict[str, Any]]:
        return [{"name": f"data-{i}", "mountPath": v.mount_path, **({"readOnly": True} if v.read_only else {})}
                for i, v in enumerate(self.volumes)]

    def _volumes(self) -> list[dict[str, Any]]:
        return [{"name": f"data-{i}", "persistentVolumeClaim": {"claimName": v.claim,
                                                                **({"readOnly": True} if v.read_only else {})}}
                for i, v in enumerate(self.volumes)]

    def _metadata(self) -> dict[str, Any]:
        labels = {"app.kubernetes.io/name": "graphkit", "app.kubernetes.io/component": "training", **self.labels}
        return {"name": self.name, "namespace": self.namespace, "labels": labels}


def _pod_template(spec: JobSpec) -> dict[str, Any]:
    container: dict[str, Any] = {"name": CONTAINER, "image": spec.image, "command": TORCHRUN + list(spec.args),
                                 "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True}}
    for key, value in (("env", spec._env()), ("resources", spec._resources()), ("volumeMounts", spec._mounts())):
        if value:
            container[key] = value
    if spec.secret_env:
        container["envFrom"] = [{"secretRef": {"name": spec.secret_env, "optional": True}}]
    pod: dict[str, Any] = {"containers": [container], **_pod_settings(spec)}
    return {"metadata": {"labels": {"app.kubernetes.io/name": "graphkit"}}, "spec": pod}


def _pod_settings(spec: JobSpec) -> dict[str, Any]:
    """Pod-level settings shared by both renderers: service account, node selector, tolerations, volumes."""
    pod: dict[str, Any] = {}
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod["tolerations"] = [dict(t) for t in spec.tolerations]
    if spec.volumes:
        pod["volumes"] = spec._volumes()
    return pod


def render_pytorchjob(spec: JobSpec) -> dict[str, Any]:
    """The ``kubeflow.org/v1`` PyTorchJob of ``spec``."""
    replicas: dict[str, Any] = {"Master": {"replicas": 1, "restartPolicy": "OnFailure",
                                           "template": _pod_template(spec)}}
    if spec.workers > 1:
        replicas["Worker"] = {"replicas": spec.workers - 1, "restartPolicy": "OnFailure",
                              "template": _pod_template(spec)}
    run_policy: dict[str, Any] = {"cleanPodPolicy": "None", "backoffLimit": spec.backoff_limit}
    if spec.ttl_seconds_after_finished is not None:
        run_policy["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": spec._metadata(),
            "spec": {"nprocPerNode": str(spec.procs_per_worker), "runPolicy": run_policy,
                     "pytorchReplicaSpecs": replicas}}


def render_trainjob(spec: JobSpec) -> dict[str, Any]:
    """The ``trainer.kubeflow.org/v1alpha1`` TrainJob of ``spec`` (the runtime supplies the torchrun launch)."""
    trainer: dict[str, Any] = {"image": spec.image, "command": TORCHRUN + list(spec.args), "numNodes": spec.workers,
                               "numProcPerNode": spec.procs_per_worker}
    if spec.env:
        trainer["env"] = spec._env()
    if spec._resources():
        trainer["resourcesPerNode"] = spec._resources()
    pod: dict[str, Any] = _pod_settings(spec)
    if spec.volumes:
        pod["containers"] = [{"name": "node", "volumeMounts": spec._mounts()}]
    body: dict[str, Any] = {"runtimeRef": {"name": spec.runtime}, "trainer": trainer}
    if pod:
        body["templateOverrides"] = [{"manager": "graphkit", "pod": [{"targetJobs": [{"name": "node"}],
                                                                      "spec": pod}]}]
    if spec.secret_env:
        # TrainJob's env takes plain variables; the Secret's keys are mapped one by one for S3 access.
        trainer.setdefault("env", []).extend(
            {"name": k, "valueFrom": {"secretKeyRef": {"name": spec.secret_env, "key": k, "optional": True}}}
            for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"))
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": spec._metadata(),
            "spec": body}


RENDERERS = {"pytorchjob": render_pytorchjob, "trainjob": render_trainjob}
