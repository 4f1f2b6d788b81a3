"""`graphkit pipeline submit` builds the right kfp.Client call (no API server can run here: nothing is sent)."""

import pytest
import yaml

from graphkit.cli.main import build_parser
from graphkit.cli.pipeline import parse_params
from graphkit.errors import GraphkitError


class RecordingClient:
    """Stands in for kfp.Client: records the constructor and create_run call, reads the package it is given."""

    calls: list = []

    def __init__(self, **kwargs):
        self.calls.append(("init", kwargs))

    def create_run_from_pipeline_package(self, package, **kwargs):
        with open(package, encoding="utf-8") as f:
            name = next(yaml.safe_load_all(f))["pipelineInfo"]["name"]
        self.calls.append(("create_run", name, kwargs))
        return type("Result", (), {"run_id": "run-1"})()


def test_parameters_are_typed_by_the_pipeline():
    got = parse_params("train", ["input_dir=s3://b/tables", "gpus=2", "run_partition=true", "seed=07",
                                 'train_node_selector={"pool": "gpu"}', 'train_tolerations=[{"key": "g"}]'])
    assert got == {"input_dir": "s3://b/tables", "gpus": 2, "run_partition": True, "seed": 7,
                   "train_node_selector": {"pool": "gpu"}, "train_tolerations": [{"key": "g"}]}
    with pytest.raises(GraphkitError, match="no parameter 'gpu'"):
        parse_params("train", ["gpu=1"])
    with pytest.raises(GraphkitError, match="not a valid"):
        parse_params("train", ["gpus=two"])


def test_submit_builds_the_client_call(monkeypatch):
    from graphkit.kubeflow import submit as submit_mod

    monkeypatch.setenv("KFP_TOKEN", "secret-token")
    args = build_parser().parse_args([
        "pipeline", "submit", "--host", "http://kfp.example:8080", "--pipeline", "train",
        "--param", "input_dir=s3://b/tables", "--param", "train_config=s3://b/train.yaml", "--param", "gpus=1",
        "--experiment", "ci", "--run-name", "nightly", "--namespace", "team-a", "--token-env", "KFP_TOKEN",
        "--no-cache"])
    RecordingClient.calls = []
    real_submit = submit_mod.submit
    monkeypatch.setattr(submit_mod, "submit", lambda req: real_submit(req, client_factory=RecordingClient))
    assert args.run(args) == 0
    (_, init), (_, pipeline_name, run) = RecordingClient.calls
    assert init == {"host": "http://kfp.example:8080", "namespace": "team-a", "existing_token": "secret-token"}
    assert pipeline_name == "graphkit-train"
    assert run == {"arguments": {"input_dir": "s3://b/tables", "train_config": "s3://b/train.yaml", "gpus": 1},
                   "run_name": "nightly", "experiment_name": "ci", "namespace": "team-a", "enable_caching": False}


def test_run_needs_local():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pipeline", "run"])
