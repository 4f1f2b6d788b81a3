"""Run a pipeline on this machine with kfp's local runner (``SubprocessRunner(use_venv=False)``).

Every step runs as a subprocess of this Python, which must have graphkit and kfp
installed (it is the same lightweight-component command the container runs).
Kubernetes settings (PVC, Secret, GPUs, node selectors) do not apply locally.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Optional

from kfp import local

from graphkit.kubeflow.pipelines import PIPELINES


@dataclass
class LocalRun:
    pipeline: str
    pipeline_root: str
    predictions: str  # the local folder of the pipeline's output


def run_local(pipeline: str, arguments: dict[str, Any], pipeline_root: str) -> LocalRun:
    """Run ``PIPELINES[pipeline]`` with ``arguments``; outputs land under ``pipeline_root``."""
    pipeline_root = os.path.abspath(pipeline_root)
    local.init(local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root, raise_on_error=True)
    with warnings.catch_warnings():
        # kfp warns that an image without "python" in its name may not match this environment: it does.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*", category=RuntimeWarning)
        task = PIPELINES[pipeline](**arguments)
    # the training pipeline returns nothing (its infer task sits in a dsl.If branch): find the infer task that ran
    predictions = task.output.path if task.outputs else _latest_predictions(pipeline_root)
    return LocalRun(pipeline=pipeline, pipeline_root=pipeline_root, predictions=predictions)


def _latest_predictions(pipeline_root: str) -> str:
    """``<run>/infer*/predictions`` of the newest run under ``pipeline_root``."""
    runs = sorted((os.path.join(pipeline_root, r) for r in os.listdir(pipeline_root)), key=os.path.getmtime)
    found = [os.path.join(runs[-1], t, "predictions") for t in sorted(os.listdir(runs[-1])) if t.startswith("infer")]
    if len(found) != 1:
        raise RuntimeError(f"expected one infer task in {runs[-1]}, found {len(found)}")
    return found[0]


def run_example(out_dir: str, num_epochs: Optional[int] = None, sizes: Any = None, seed: int = 0,
                run_partition: bool = False) -> LocalRun:
    """Generate the example shop tables and training YAML under ``out_dir`` and run the training pipeline."""
    from graphkit.datasets.synthetic import ShopSizes, write_shop_dataset, write_shop_train_config

    tables = os.path.abspath(os.path.join(out_dir, "tables"))
    write_shop_dataset(tables, sizes or ShopSizes(), seed=seed)
    train_yaml = write_shop_train_config(os.path.join(tables, "train_nc.yaml"))
    args: dict[str, Any] = {"input_dir": tables, "train_config": train_yaml, "graph_name": "shop", "seed": seed,
                            "run_partition": run_partition}
    if num_epochs is not None:
        args["train_overrides"] = f"--num-epochs {num_epochs}"
    return run_local("train", args, os.path.join(out_dir, "pipeline_root"))
