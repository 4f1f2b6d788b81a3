"""Distributed training jobs as Kubernetes resources: a PyTorchJob or a TrainJob from one :class:`JobSpec`.

PyTorchJob (``kubeflow.org/v1``, Training Operator): a ``Master`` replica and
``workers - 1`` ``Worker`` replicas, each a pod with one container named ``pytorch``
running a bare ``torchrun -m graphkit.cli.main <stage> ...``; the operator injects
``PET_NNODES``, ``PET_NPROC_PER_NODE`` (from ``nprocPerNode``), ``PET_NODE_RANK``,
``PET_MASTER_ADDR``/``PORT`` (and ``MASTER_ADDR``, ``RANK``, ``WORLD_SIZE``), which
torchrun reads: ``workers x procs_per_worker`` trainer processes in all, one per GPU
on GPU pods.

Fault tolerance (``max_restarts`` > 0): failed pods are restarted (``restartPolicy:
OnFailure``, ``backoffLimit``), a ``train`` stage runs with ``--resume`` so a restarted
pod continues from ``<save-model-path>/checkpoints/last.pt``, and that path must be on a
mounted volume (a PVC) to outlive the pod. A one-pod job also passes ``--max-restarts``
to torchrun, which restarts the pod's processes in place after a worker dies. Pods
with several processes mount a memory ``emptyDir`` at ``/dev/shm`` (the shared-memory
graph store; Kubernetes gives pods 64 MiB there otherwise).

TrainJob (``trainer.kubeflow.org/v1alpha1``, Kubeflow Trainer v2): the same job against a
``ClusterTrainingRuntime`` (default ``torch-distributed``), with placement, volumes and
environment as pod template overrides of the ``node`` job.

Rendering is plain data; :mod:`graphkit.kubeflow.launcher` creates and follows them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from graphkit.errors import GraphkitError

CONTAINER = "pytorch"  # the container name the Training Operator looks for
SHM_VOLUME = "dshm"  # the memory-backed /dev/shm of multi-process pods
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
    max_restarts: int = 0  # failures the job survives (backoffLimit); train stages then run with --resume
    ttl_seconds_after_finished: Optional[int] = None
    runtime: str = "torch-distributed"  # TrainJob only: the ClusterTrainingRuntime
    nproc_per_worker: int = 0  # trainer processes per pod; 0: one per GPU, or one on a CPU pod
    shm_size: Optional[str] = None  # size limit of the /dev/shm emptyDir of multi-process pods, e.g. "16Gi"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or len(self.name) > 63:
            raise GraphkitError(f"job name {self.name!r} is not a DNS label (lower case, digits, '-'; "
                                "at most 63 characters, starting with a letter).")
        if self.workers < 1 or self.gpus_per_worker < 0:
            raise GraphkitError(f"need workers >= 1 and gpus per worker >= 0, got {self.workers} and "
                                f"{self.gpus_per_worker}.")
        if self.nproc_per_worker < 0 or self.max_restarts < 0:
            raise GraphkitError(f"need processes per worker >= 0 and max restarts >= 0, got "
                                f"{self.nproc_per_worker} and {self.max_restarts}.")
        if self.gpus_per_worker and self.nproc_per_worker not in (0, self.gpus_per_worker):
            raise GraphkitError(f"{self.nproc_per_worker} processes per worker with {self.gpus_per_worker} GPUs: "
                                "GPU pods run one process per GPU.", hint="Leave --nproc-per-worker out with GPUs.")
        self._check_save_path()

    def _check_save_path(self) -> None:
        """A train stage that is restarted or spread over pods must checkpoint to a mounted volume."""
        if not self.args or self.args[0] != "train" or (self.workers == 1 and not self.max_restarts):
            return
        save = _option(self.args, "--save-model-path")
        if save is None or "://" in save:
            return
        if not any(os.path.normpath(save).startswith(os.path.normpath(v.mount_path) + os.sep)
                   or os.path.normpath(save) == os.path.normpath(v.mount_path) for v in self.volumes):
            raise GraphkitError(f"--save-model-path {save} is not on a mounted volume: its checkpoints would "
                                "die with the pod, and a restarted pod could not resume.",
                                hint="Mount a PVC (--pvc CLAIM:/mnt/graphkit) and save under it.")

    @property
    def procs_per_worker(self) -> int:
        return self.nproc_per_worker or max(self.gpus_per_worker, 1)

    def command(self) -> list[str]:
        """``torchrun [--max-restarts=N] -m graphkit.cli.main <stage> ... [--resume]``."""
        head = ["torchrun"]
        if self.max_restarts and self.workers == 1:
            head.append(f"--max-restarts={self.max_restarts}")
        args = list(self.args)
        if self.max_restarts and args and args[0] == "train" and "--resume" not in args:
            args.append("--resume")
        return head + TORCHRUN[1:] + args

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
        mounts = [{"name": f"data-{i}", "mountPath": v.mount_path, **({"readOnly": True} if v.read_only else {})}
                  for i, v in enumerate(self.volumes)]
        if self.procs_per_worker > 1:
            mounts.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
        return mounts

    def _volumes(self) -> list[dict[str, Any]]:
        volumes: list[dict[str, Any]] = [
            {"name": f"data-{i}", "persistentVolumeClaim": {"claimName": v.claim,
                                                            **({"readOnly": True} if v.read_only else {})}}
            for i, v in enumerate(self.volumes)]
        if self.procs_per_worker > 1:
            shm: dict[str, Any] = {"medium": "Memory", **({"sizeLimit": self.shm_size} if self.shm_size else {})}
            volumes.append({"name": SHM_VOLUME, "emptyDir": shm})
        return volumes

    def _metadata(self) -> dict[str, Any]:
        labels = {"app.kubernetes.io/name": "graphkit", "app.kubernetes.io/component": "training", **self.labels}
        return {"name": self.name, "namespace": self.namespace, "labels": labels}


def _option(args: list[str], name: str) -> Optional[str]:
    """The value of ``name`` in a command line (``--name value`` or ``--name=value``)."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def _pod_template(spec: JobSpec) -> dict[str, Any]:
    container: dict[str, Any] = {"name": CONTAINER, "image": spec.image, "command": spec.command(),
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
    if spec._volumes():
        pod["volumes"] = spec._volumes()
    return pod


def render_pytorchjob(spec: JobSpec) -> dict[str, Any]:
    """The ``kubeflow.org/v1`` PyTorchJob of ``spec``."""
    replicas: dict[str, Any] = {"Master": {"replicas": 1, "restartPolicy": "OnFailure",
                                           "template": _pod_template(spec)}}
    if spec.workers > 1:
        replicas["Worker"] = {"replicas": spec.workers - 1, "restartPolicy": "OnFailure",
                              "template": _pod_template(spec)}
    run_policy: dict[str, Any] = {"cleanPodPolicy": "None", "backoffLimit": spec.max_restarts}
    if spec.ttl_seconds_after_finished is not None:
        run_policy["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": spec._metadata(),
            "spec": {"nprocPerNode": str(spec.procs_per_worker), "runPolicy": run_policy,
                     "pytorchReplicaSpecs": replicas}}


def render_trainjob(spec: JobSpec) -> dict[str, Any]:
    """The ``trainer.kubeflow.org/v1alpha1`` TrainJob of ``spec`` (the runtime supplies the torchrun launch).

    A TrainJob has no restart count of its own: the ClusterTrainingRuntime's JobSet
    ``failurePolicy.maxRestarts`` restarts all its pods, which then resume (``--resume``).
    """
    trainer: dict[str, Any] = {"image": spec.image, "command": spec.command(), "numNodes": spec.workers,
                               "numProcPerNode": spec.procs_per_worker}
    if spec.env:
        trainer["env"] = spec._env()
    if spec._resources():
        trainer["resourcesPerNode"] = spec._resources()
    pod: dict[str, Any] = _pod_settings(spec)
    if spec._mounts():
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
