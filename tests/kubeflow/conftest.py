"""Shared fixtures of the Kubeflow-layer tests: offline Kubernetes validation and a tiny shop dataset."""

import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S_VERSION = "1.33.0"  # the Kubernetes version manifests and rendered pods are validated against


def _schema(name: str) -> dict:
    with open(os.path.join(REPO, "manifests", "crds", name), encoding="utf-8") as f:
        return json.load(f)


def validate_resource(obj: dict) -> None:
    """Validate one resource offline, strictly (unknown fields rejected); raises on the first problem.

    Core kinds: kubernetes-validate against Kubernetes K8S_VERSION. PyTorchJob / TrainJob: the vendored
    strict JSON schema (manifests/crds/), then every pod template (or the pod parts a TrainJob overrides)
    with kubernetes-validate as a core/v1 PodTemplate / Pod.
    """
    import jsonschema
    import kubernetes_validate

    kind = obj.get("kind")
    if kind == "PyTorchJob":
        jsonschema.validate(obj, _schema("pytorchjob-v1.schema.json"))
        for rtype, rep in obj["spec"]["pytorchReplicaSpecs"].items():
            kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": obj["metadata"],
                                          "template": rep["template"]}, K8S_VERSION, strict=True)
    elif kind == "TrainJob":
        jsonschema.validate(obj, _schema("trainjob-v1alpha1.schema.json"))
        trainer = obj["spec"].get("trainer", {})
        container = {"name": "node", "image": trainer.get("image", "x"), "command": trainer.get("command", []),
                     "env": trainer.get("env", []), "resources": trainer.get("resourcesPerNode", {})}
        pod = {"containers": [container]}
        for o in obj["spec"].get("templateOverrides", []):
            for po in o.get("pod", []):
                spec = dict(po.get("spec", {}))
                for c in spec.pop("containers", []):
                    container.update({k: v for k, v in c.items() if k != "name"})
                pod.update(spec)
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": pod},
                                     K8S_VERSION, strict=True)
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.fixture(scope="session")
def validate_k8s():
    return validate_resource


@pytest.fixture(scope="session")
def shop_tables(tmp_path_factory):
    """A tiny generated shop dataset: (tables folder, gconstruct.json, train YAML)."""
    from graphkit.datasets.synthetic import ShopSizes, write_shop_dataset, write_shop_train_config

    out = tmp_path_factory.mktemp("shop")
    tables = os.path.join(str(out), "tables")
    conf = write_shop_dataset(tables, ShopSizes(customers=60, products=40, categories=5, purchases=300))
    return tables, conf, write_shop_train_config(os.path.join(str(out), "train_nc.yaml"))
