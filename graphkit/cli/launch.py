"""``graphkit launch``: run a stage as a PyTorchJob / TrainJob on Kubernetes, or under torchrun here.

    graphkit launch --name shop-train --image IMG --workers 2 --gpus-per-worker 4 --max-restarts 3 \\
        --pvc graphkit-data:/mnt/graphkit -- train --part-config /mnt/graphkit/graph --cf /mnt/graphkit/train.yaml \\
        --save-model-path /mnt/graphkit/model                       # 2 pods x 4 GPUs = 8 trainer processes
    graphkit launch --render --kind trainjob ... -- train ...      # print the resource (kubectl apply -f -)
    graphkit launch --local --nproc-per-node 2 -- train ...        # torchrun --standalone on this machine

The ``kubernetes`` client is imported only when a job is created.
"""

from __future__ import annotations

import argparse
import json

from graphkit.errors import GraphkitError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="Run a stage as a PyTorchJob/TrainJob, or under torchrun locally.",
                       description="Launch `graphkit <stage> ...` (everything after --) as a Kubeflow PyTorchJob "
                                   "(kubeflow.org/v1) or TrainJob (trainer.kubeflow.org/v1alpha1): N workers x M "
                                   "GPUs, bare torchrun configured by the operator. Follows the job, streams the "
                                   "master's log, fails with the job's reason, deletes it at the end. With --local, "
                                   "runs torchrun --standalone here; with --render, prints the resource as YAML.")
    p.add_argument("--kind", default="pytorchjob", choices=("pytorchjob", "trainjob"),
                   help="Custom resource to create (default: pytorchjob).")
    p.add_argument("--name", default="graphkit-train", help="Job name, a DNS label (default: graphkit-train).")
    p.add_argument("--namespace", default="graphkit", help="Namespace (default: graphkit).")
    p.add_argument("--image", default=None, help="Container image (default: the pinned graphkit CUDA image "
                                                 "with GPUs, the CPU image without).")
    p.add_argument("--workers", type=int, default=1, help="Pods (nodes); the first is the master (default: 1).")
    p.add_argument("--gpus-per-worker", type=int, default=0, help="GPUs per pod, one process each (default: 0).")
    p.add_argument("--nproc-per-worker", type=int, default=0,
                   help="Trainer processes per CPU pod (default: one per GPU, or 1 without GPUs).")
    p.add_argument("--max-restarts", type=int, default=None,
                   help="Failures the job survives: failed pods (or, in a one-pod job, its processes) are "
                        "restarted and `train` resumes from its last checkpoint (default: 3 on a cluster, "
                        "0 with --local).")
    p.add_argument("--shm-size", default=None, help="Size limit of /dev/shm in multi-process pods, e.g. 16Gi "
                                                    "(the shared-memory graph store; default: no limit).")
    p.add_argument("--gpu-resource", default="nvidia.com/gpu", help="GPU resource name (default: nvidia.com/gpu).")
    p.add_argument("--cpu", default=None, help="CPU request and limit per pod, e.g. 8.")
    p.add_argument("--memory", default=None, help="Memory request and limit per pod, e.g. 32Gi.")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="Environment variable (repeat).")
    p.add_argument("--secret-env", default=None, metavar="SECRET",
                   help="Secret whose keys become environment variables, e.g. graphkit-s3 for S3 credentials.")
    p.add_argument("--pvc", action="append", default=[], metavar="CLAIM:MOUNT_PATH",
                   help="PersistentVolumeClaim to mount in every pod (repeat).")
    p.add_argument("--node-selector", action="append", default=[], metavar="KEY=VALUE",
                   help="Node label the pods need (repeat).")
    p.add_argument("--toleration", action="append", default=[], metavar="JSON",
                   help='A toleration as JSON, e.g. \'{"key": "nvidia.com/gpu", "operator": "Exists", '
                        '"effect": "NoSchedule"}\' (repeat).')
    p.add_argument("--service-account", default="graphkit", help="Pods' service account (default: graphkit).")
    p.add_argument("--runtime", default="torch-distributed", help="TrainJob: ClusterTrainingRuntime name.")
    p.add_argument("--timeout", type=float, default=None, help="Give up after this many seconds.")
    p.add_argument("--keep", action="store_true", help="Do not delete the job when it ends.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--render", action="store_true", help="Print the resource as YAML and exit.")
    mode.add_argument("--local", action="store_true", help="Run torchrun --standalone on this machine instead.")
    p.add_argument("--nproc-per-node", type=int, default=1,
                   help="With --local: trainer processes on this machine (default: 1).")
    p.add_argument("stage", nargs=argparse.REMAINDER, help="-- then the graphkit stage and its options.")
    p.set_defaults(run=run)


def _pairs(items: list[str], sep: str, what: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        k, s, v = item.partition(sep)
        if not s or not k:
            raise GraphkitError(f"{what} {item!r} is not KEY{sep}VALUE.")
        out.append((k, v))
    return out


def job_spec(args: argparse.Namespace):
    """The :class:`~graphkit.kubeflow.jobs.JobSpec` of the command line."""
    from graphkit.kubeflow.image import CUDA_IMAGE, IMAGE
    from graphkit.kubeflow.jobs import JobSpec, Volume

    stage = list(args.stage)
    if stage and stage[0] == "--":
        stage = stage[1:]
    if not stage:
        raise GraphkitError("no stage to launch.", hint="Add -- train --part-config ... --cf ... at the end.")
    tolerations = []
    for t in args.toleration:
        try:
            tol = json.loads(t)
        except json.JSONDecodeError as e:
            raise GraphkitError(f"--toleration {t!r} is not JSON: {e}.") from None
        if not isinstance(tol, dict):
            raise GraphkitError(f"--toleration {t!r} must be a JSON object.")
        tolerations.append(tol)
    return JobSpec(
        name=args.name, namespace=args.namespace, args=stage,
        image=args.image or (CUDA_IMAGE if args.gpus_per_worker else IMAGE),
        workers=args.workers, gpus_per_worker=args.gpus_per_worker, gpu_resource=args.gpu_resource,
        cpu=args.cpu, memory=args.memory, env=dict(_pairs(args.env, "=", "--env")), secret_env=args.secret_env,
        volumes=[Volume(c, m) for c, m in _pairs(args.pvc, ":", "--pvc")],
        node_selector=dict(_pairs(args.node_selector, "=", "--node-selector")), tolerations=tolerations,
        service_account=args.service_account or None, runtime=args.runtime,
        nproc_per_worker=args.nproc_per_worker, max_restarts=_restarts(args), shm_size=args.shm_size)


def _restarts(args: argparse.Namespace) -> int:
    if args.max_restarts is not None:
        return args.max_restarts
    return 0 if args.local else 3


def run(args: argparse.Namespace) -> int:
    spec = job_spec(args)
    if args.local:
        from graphkit.kubeflow.launcher import run_local

        return run_local(spec.args, args.nproc_per_node, spec.max_restarts)
    if args.render:
        import yaml

        from graphkit.kubeflow.jobs import RENDERERS

        print(yaml.safe_dump(RENDERERS[args.kind](spec), sort_keys=False), end="")
        return 0
    from graphkit.kubeflow.launcher import run_on_cluster

    run_on_cluster(spec, args.kind, timeout_s=args.timeout, cleanup=not args.keep)
    return 0
