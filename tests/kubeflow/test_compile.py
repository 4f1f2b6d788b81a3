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


def _leaf_tasks(spec):
    """Every container task of the pipeline: (task name, component, the conditions on its path, its inputs)."""
    out = []

    def walk(dag, conds):
        for name, t in dag["tasks"].items():
            cond = t.get("triggerPolicy", {}).get("condition")
            here = conds + ([cond] if cond else [])
            comp = spec["components"][t["componentRef"]["name"]]
            if "dag" in comp:
                walk(comp["dag"], here)
            else:
                out.append((name, t["componentRef"]["name"], here, t.get("inputs", {})))

    walk(spec["root"]["dag"], [])
    return out


def _cond(param, value, negate=False):
    c = f"inputs.parameter_values['pipelinechannel--{param}'] == {value}"
    return f"!({c})" if negate else c


def _producer(inputs, name):
    return inputs["artifacts"][name]["taskOutputArtifact"]["producerTask"]


def test_gpu_steps_get_gpus_image_and_placement_from_parameters():
    from graphkit.kubeflow.image import IMAGE

    spec, platform = _docs(os.path.join(REPO, "pipelines", "compiled", "graphkit-train-pipeline.yaml"))
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["gpus"]["defaultValue"] == 0 and params["train_image"]["defaultValue"] == IMAGE
    gpu_steps = [(name, comp) for name, comp, _, _ in _leaf_tasks(spec)
                 if name.split("-")[0] in ("train", "distill", "infer") or name.startswith("lm-")]
    assert len(gpu_steps) == 3 * 3 + 2 + 2  # train, distill, infer in each branch; lm-finetune, lm-embed in two
    k8s_execs = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name, comp in gpu_steps:
        ex = spec["components"][comp]["executorLabel"]
        container = spec["deploymentSpec"]["executors"][ex]["container"]
        assert container["image"] == "{{$.inputs.parameters['pipelinechannel--train_image']}}", name
        assert container["resources"]["accelerator"] == {
            "resourceCount": "{{$.inputs.parameters['pipelinechannel--gpus']}}",
            "resourceType": "{{$.inputs.parameters['pipelinechannel--gpu_type']}}"}, name
        k8s = k8s_execs[ex]
        assert k8s["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"].endswith("train_node_selector")
        assert k8s["tolerations"][0]["tolerationJson"]["componentInputParameter"].endswith("train_tolerations")
    # every condition that holds a GPU step receives the GPU parameters (kfp forgets them without help)
    gpu_comps = ("comp-train", "comp-lm-", "comp-distill", "comp-infer")
    for comp in spec["components"].values():
        if "dag" in comp and any(t["componentRef"]["name"].startswith(gpu_comps)
                                 for t in comp["dag"]["tasks"].values()):
            assert {"pipelinechannel--gpus", "pipelinechannel--gpu_type"} <= set(comp["inputDefinitions"]["parameters"])


def test_inference_step_gets_its_image_gpus_and_placement_from_parameters():
    from graphkit.kubeflow.image import IMAGE

    spec, platform = _docs(os.path.join(REPO, "pipelines", "compiled", "graphkit-infer-pipeline.yaml"))
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["gpus"]["defaultValue"] == 0 and params["infer_image"]["defaultValue"] == IMAGE
    (comp,) = [comp for name, comp, _, _ in _leaf_tasks(spec) if name == "infer"]
    ex = spec["components"][comp]["executorLabel"]
    container = spec["deploymentSpec"]["executors"][ex]["container"]
    assert container["image"] == "{{$.inputs.parameters['pipelinechannel--infer_image']}}"
    assert container["resources"]["accelerator"]["resourceCount"] == "{{$.inputs.parameters['pipelinechannel--gpus']}}"
    infer_task = spec["root"]["dag"]["tasks"]["infer"]
    assert infer_task["inputs"]["parameters"]["device"]["runtimeValue"]["constant"] == "auto"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][ex]
    assert k8s["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"] == "node_selector"
    assert k8s["tolerations"][0]["tolerationJson"]["componentInputParameter"] == "tolerations"


def test_optional_stages_sit_behind_their_switches():
    spec, _ = _docs(os.path.join(REPO, "pipelines", "compiled", "graphkit-train-pipeline.yaml"))
    params = spec["root"]["inputDefinitions"]["parameters"]
    for switch in ("run_partition", "lm_finetune", "lm_embed", "distill"):
        assert params[switch]["parameterType"] == "BOOLEAN" and params[switch]["defaultValue"] is False
    tasks = {name: (comp, conds, inputs) for name, comp, conds, inputs in _leaf_tasks(spec)}
    assert tasks["transform"][1] == tasks["idmap"][1] == []
    assert tasks["partition"][1] == [_cond("run_partition", "true")]
    # switches off (the default): train -> infer on the idmap graph, with the plain task names
    plain = [_cond("lm_embed", "false")]
    assert tasks["train"][1] == tasks["infer"][1] == plain
    assert tasks["train"][2]["artifacts"]["graph"]["componentInputArtifact"] == "pipelinechannel--idmap-graph"
    assert tasks["distill"][1] == plain + [_cond("distill", "true")]
    # the trained model reaches the distill condition as its input
    assert tasks["distill"][2]["artifacts"]["teacher"]["componentInputArtifact"] == "pipelinechannel--train-model"
    assert tasks["lm-finetune"][1] == plain + [_cond("lm_finetune", "true")]
    # lm_embed: lm-finetune -> lm-embed (the fine-tuned model) -> train, or lm-embed (lm_model) -> train
    embed = [_cond("lm_embed", "false", negate=True)]
    branches = {}
    for name, (_, conds, inputs) in tasks.items():
        if name.startswith("lm-embed"):
            assert conds[:1] == embed and len(conds) == 2
            branches[conds[1]] = (name, inputs)
    tuned_name, tuned = branches[_cond("lm_finetune", "true")]
    pre_name, pre = branches[_cond("lm_finetune", "true", negate=True)]
    assert _producer(tuned, "finetuned_model").startswith("lm-finetune") and "finetuned_model" not in pre["artifacts"]
    for emb_name in (tuned_name, pre_name):
        (train,) = [n for n, (c, _, i) in tasks.items() if c.startswith("comp-train") and
                    "taskOutputArtifact" in i["artifacts"]["graph"] and _producer(i, "graph") == emb_name]
        (infer,) = [n for n, (c, _, i) in tasks.items() if c.startswith("comp-infer") and
                    _producer(i, "model") == train]
        assert _producer(tasks[infer][2], "graph") == emb_name


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
