"""Compile the pipelines to the IR YAML the Kubeflow UI uploads, and the components to component YAMLs."""

from __future__ import annotations

import os

from kfp import compiler

from graphkit.kubeflow.components import COMPONENTS
from graphkit.kubeflow.pipelines import PIPELINES


def pipeline_file(name: str) -> str:
    return f"graphkit-{name}-pipeline.yaml"


def compile_pipelines(out_dir: str) -> list[str]:
    """Write ``graphkit-<name>-pipeline.yaml`` for every pipeline; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, func in PIPELINES.items():
        path = os.path.join(out_dir, pipeline_file(name))
        compiler.Compiler().compile(func, path)
        paths.append(path)
    return paths


def compile_components(out_dir: str) -> list[str]:
    """Write ``<stage>.yaml`` for every component (loadable with ``kfp.components.load_component_from_file``)."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, comp in COMPONENTS.items():
        path = os.path.join(out_dir, f"{name}.yaml")
        compiler.Compiler().compile(comp, path)
        paths.append(path)
    return paths
