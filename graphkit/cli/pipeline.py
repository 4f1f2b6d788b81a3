"""``graphkit pipeline compile | submit | run``: the Kubeflow pipelines from the command line.

kfp is imported only when one of these runs (``pip install 'graphkit[pipelines]'``).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from graphkit.errors import GraphkitError

PIPELINE_NAMES = ("train", "infer")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="Compile, submit or locally run the Kubeflow pipelines.",
                       description="The training pipeline (transform -> idmap -> partition -> train -> infer) and "
                                   "the inference pipeline (new tables -> saved transforms -> infer) as Kubeflow "
                                   "Pipelines v2: compile them for the UI, submit a run with kfp.Client, or run "
                                   "them on this machine with kfp's local runner.")
    ps = p.add_subparsers(dest="pipeline_command", metavar="<action>", required=True)

    c = ps.add_parser("compile", help="Write the pipelines' IR YAML (upload it in the Kubeflow UI).")
    c.add_argument("--output", required=True, help="Folder for graphkit-train-pipeline.yaml and "
                                                   "graphkit-infer-pipeline.yaml.")
    c.add_argument("--components", default=None, metavar="DIR",
                   help="Also write one component YAML per stage to this folder.")
    c.set_defaults(run=run_compile)

    s = ps.add_parser("submit", help="Submit a run to a Kubeflow Pipelines API server (kfp.Client).")
    s.add_argument("--host", required=True, help="API server URL, e.g. http://localhost:8080 after "
                                                 "`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`.")
    _pipeline_args(s)
    s.add_argument("--package", default=None, help="A compiled pipeline YAML (default: compile --pipeline now).")
    s.add_argument("--experiment", default=None, help="Experiment name (default: the server's default).")
    s.add_argument("--run-name", default=None, help="Run name (default: pipeline name and time).")
    s.add_argument("--namespace", default=None, help="Kubeflow profile namespace (multi-user installs).")
    s.add_argument("--token-env", default=None, metavar="VAR",
                   help="Environment variable holding a bearer token for the API server.")
    s.add_argument("--no-cache", action="store_true", help="Disable step caching for this run.")
    s.set_defaults(run=run_submit)

    r = ps.add_parser("run", help="Run a pipeline on this machine (kfp local runner).")
    r.add_argument("--local", action="store_true", required=True,
                   help="Run here with kfp.local.SubprocessRunner (required: use `submit` for a cluster).")
    _pipeline_args(r)
    r.add_argument("--pipeline-root", default=None,
                   help="Where step outputs go (default: out/pipeline_root, or EXAMPLE_DIR/pipeline_root).")
    r.add_argument("--example", default=None, metavar="OUT_DIR",
                   help="Generate the example shop tables in OUT_DIR/tables and run the training pipeline on them.")
    r.add_argument("--num-epochs", type=int, default=None, help="With --example: training epochs (default: 15).")
    r.set_defaults(run=run_local)


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pipeline", default="train", choices=PIPELINE_NAMES, help="Which pipeline (default: train).")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="A pipeline parameter (repeatable), e.g. --param input_dir=s3://bucket/tables "
                        "--param gpus=1 --param 'train_node_selector={\"pool\": \"gpu\"}'.")


# kfp's parameter types -> how a NAME=VALUE string becomes a value
_PARSERS = {
    "STRING": str,
    "NUMBER_INTEGER": int,
    "NUMBER_DOUBLE": float,
    "BOOLEAN": lambda v: {"true": True, "false": False}[v.lower()],
    "STRUCT": json.loads,
    "LIST": json.loads,
}


def parse_params(pipeline: str, pairs: list[str]) -> dict[str, Any]:
    """``["gpus=1", "input_dir=s3://b/t"]`` -> ``{"gpus": 1, "input_dir": "s3://b/t"}``, typed by the pipeline."""
    from graphkit.kubeflow.pipelines import PIPELINES

    inputs = PIPELINES[pipeline].component_spec.inputs or {}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise GraphkitError(f"--param {pair!r} is not NAME=VALUE.")
        if name not in inputs:
            raise GraphkitError(f"pipeline '{pipeline}' has no parameter '{name}'.",
                                hint=f"Its parameters: {', '.join(inputs)}.")
        kind = inputs[name].type
        kind = {"String": "STRING", "Integer": "NUMBER_INTEGER", "Float": "NUMBER_DOUBLE", "Boolean": "BOOLEAN",
                "Dict": "STRUCT", "List": "LIST"}.get(kind, kind)
        try:
            out[name] = _PARSERS.get(kind, str)(value)
        except (ValueError, KeyError):
            raise GraphkitError(f"--param {name}: {value!r} is not a valid {kind.lower()}.") from None
    return out


def run_compile(args: argparse.Namespace) -> int:
    from graphkit.kubeflow.compile import compile_components, compile_pipelines

    for path in compile_pipelines(args.output):
        print(f"pipeline written to {path}")
    if args.components:
        for path in compile_components(args.components):
            print(f"component written to {path}")
    return 0


def run_submit(args: argparse.Namespace) -> int:
    from graphkit.kubeflow.submit import SubmitRequest, submit

    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            raise GraphkitError(f"--token-env {args.token_env}: the variable is not set.")
    req = SubmitRequest(host=args.host, pipeline=args.pipeline, arguments=parse_params(args.pipeline, args.param),
                        experiment=args.experiment, run_name=args.run_name, namespace=args.namespace, token=token,
                        enable_caching=False if args.no_cache else None, package=args.package)
    result = submit(req)
    print(f"run {result.run_id} submitted to {args.host}")
    return 0


def run_local(args: argparse.Namespace) -> int:
    from graphkit.kubeflow.local import run_example
    from graphkit.kubeflow.local import run_local as run_pipeline

    if args.example:
        if args.param or args.pipeline != "train":
            raise GraphkitError("--example runs the training pipeline with its own parameters; "
                                "drop --param/--pipeline, or drop --example.")
        res = run_example(args.example, num_epochs=args.num_epochs)
    else:
        params = parse_params(args.pipeline, args.param)
        res = run_pipeline(args.pipeline, params, args.pipeline_root or os.path.join("out", "pipeline_root"))
    print(f"pipeline '{res.pipeline}' finished; step outputs in {res.pipeline_root}")
    print(f"predictions in {res.predictions}")
    return 0
