"""Compiled pipelines: golden YAML, a strict protobuf parse of the IR, and Kubernetes settings as parameters."""

import filecmp
import os

import pytest
import yaml
from google.protobuf import json_format

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGENERATE = "Regenerate with `bash scripts/generate_kubeflow.sh` and review the diff."


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    from graphkit.kubeflow.compile import compile_components, compile_pipelines

    out = tmp_path_factory.mktemp("compiled")
    compile_pipelines(str(out / "pipelines"))
    compile_components(str(out / "components"))
    return out


def _docs(path):
    with open(path, encoding="utf-8") as f:
        return list(yaml.safe_load_all(f))


@pytest.mark.parametrize("sub,checked_in", [("pipelines", "pipelines/compiled"), ("components", "components/yaml")])
def test_checked_in_yaml_is_current(compiled, sub, checked_in):
    ours = sorted(os.listdir(compiled / sub))
    theirs = sorted(f for f in os.listdir(os.path.join(REPO, checked_in)) if f.endswith(".yaml"))
    assert ours == theirs, REGENERATE
    for name in ours:
        assert filecmp.cmp(compiled / sub / name, os.path.join(REPO, checked_in, name), shallow=False), \
            f"{checked_in}/{name} is stale. {REGENERATE}"


@pytest.mark.parametrize("name", ["graphkit-train-pipeline.yaml", "graphkit-infer-pipeline.yaml"])
def test_ir_parses_strictly_as_pipeline_and_platform_spec(name):
    from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec_doc, platform_doc = _docs(os.path.join(REPO, "pipelines", "compiled", name))
    spec = json_format.ParseDict(spec_doc, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    platform = json_format.ParseDict(platform_doc, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)
    executors = platform.platforms["kubernetes"].deployment_spec.executors
    assert set(executors) <= set(spec.deployment_spec["executors"])
    assert executors
    for key, cfg in executors.items():
        k8s = json_format.ParseDict(json_format.MessageToDict(cfg), k8s_pb.KubernetesExecutorConfig(),
                                    ignore_unknown_fields=False)
        assert [m.mount_path for m in k8s.pvc_mount] == ["/mnt/graphkit"], key
        # a pipeline parameter (prefixed inside the dsl.If sub-DAG), never a name baked into the component
        assert k8s.pvc_mount[0].pvc_name_parameter.component_input_parameter.endswith("pvc_name")
        (secret,) = k8s.secret_as_env
        assert secret.optional and secret.secret_name_parameter.component_input_parameter.endswith("s3_secret")
        assert {m.env_var for m in secret.key_to_env} == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                         "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"}


def test_training_step_gets_gpus_image_and_placement_from_parameters():
    from graphkit.kubeflow.image import IMAGE

    spec, platform = _docs(os.path.join(REPO, "pipelines", "compiled", "graphkit-train-pipeline.yaml"))
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["gpus"]["defaultValue"] == 0 and params["train_image"]["defaultValue"] == IMAGE
    train = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert train["image"] == "{{$.inputs.parameters['pipelinechannel--train_image']}}"
    assert train["resources"]["accelerator"] == {
        "resourceCount": "{{$.inputs.parameters['pipelinechannel--gpus']}}",
        "resourceType": "{{$.inputs.parameters['pipelinechannel--gpu_type']}}"}
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert k8s["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"] == "train_node_selector"
    assert k8s["tolerations"][0]["tolerationJson"]["componentInputParameter"] == "train_tolerations"
    # optional stages sit under a condition; the others are plain DAG tasks
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"transform", "idmap", "condition-1", "train", "infer"}
    assert tasks["condition-1"]["triggerPolicy"]["condition"] == \
        "inputs.parameter_values['pipelinechannel--run_partition'] == true"


def test_components_run_on_the_pinned_image_and_install_nothing():
    from graphkit.kubeflow.image import IMAGE

    folder = os.path.join(REPO, "components", "yaml")
    for name in os.listdir(folder):
        (doc,) = _docs(os.path.join(folder, name))
        for ex in doc["deploymentSpec"]["executors"].values():
            assert ex["container"]["image"] == IMAGE
            cmd = " ".join(ex["container"]["command"])
            assert "pip install" not in cmd and "kfp.dsl.executor_main" in cmd
            assert "run_stage(" in cmd  # the body is the one-line call into graphkit
