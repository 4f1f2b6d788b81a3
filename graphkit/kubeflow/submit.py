"""Submit a compiled pipeline to a Kubeflow Pipelines API server with ``kfp.Client`` (for CI)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from graphkit.kubeflow.compile import compile_pipelines, pipeline_file


@dataclass
class SubmitRequest:
    host: str
    pipeline: str  # "train" or "infer"
    arguments: dict[str, Any] = field(default_factory=dict)
    experiment: Optional[str] = None
    run_name: Optional[str] = None
    namespace: Optional[str] = None
    token: Optional[str] = None  # a bearer token, e.g. a service account's
    enable_caching: Optional[bool] = None
    package: Optional[str] = None  # a compiled pipeline YAML; default: compile ``pipeline`` now


def submit(req: SubmitRequest, client_factory: Optional[Callable[..., Any]] = None) -> Any:
    """Create a run from the pipeline package; returns kfp's ``RunPipelineResult`` (``run_id``)."""
    if client_factory is None:
        from kfp import Client as client_factory  # noqa: N813
    client = client_factory(host=req.host, namespace=req.namespace, existing_token=req.token)
    with tempfile.TemporaryDirectory(prefix="graphkit-submit-") as tmp:
        package = req.package
        if package is None:
            compile_pipelines(tmp)
            package = os.path.join(tmp, pipeline_file(req.pipeline))
        return client.create_run_from_pipeline_package(
            package, arguments=req.arguments, run_name=req.run_name, experiment_name=req.experiment,
            namespace=req.namespace, enable_caching=req.enable_caching)
