"""kustomize manifests: every overlay builds and validates offline (core kinds with kubernetes-validate at a pinned
Kubernetes version, the PyTorchJob against the strict vendored schema); RBAC is least privilege."""

import os
import shutil
import subprocess

import pytest
import yaml

from graphkit.kubeflow.image import CUDA_IMAGE, IMAGE
from graphkit.kubeflow.jobs import JobSpec, Volume, render_pytorchjob

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFESTS = os.path.join(REPO, "manifests")
OVERLAYS = ("local", "gpu")


def _kustomize_cmd():
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        probe = subprocess.run(["kubectl", "kustomize", "--help"], capture_output=True)
        if probe.returncode == 0:
            return ["kubectl", "kustomize"]
    return None


def build(overlay: str) -> list[dict]:
    """The overlay's resources: `kustomize build` (or `kubectl kustomize`); without either, the base's files
    loaded in Python (patches are then not applied, which the test that needs them skips on)."""
    cmd = _kustomize_cmd()
    if cmd is not None:
        out = subprocess.run(cmd + [os.path.join(MANIFESTS, "overlays", overlay)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    with open(os.path.join(MANIFESTS, "base", "kustomization.yaml"), encoding="utf-8") as f:
        files = yaml.safe_load(f)["resources"]
    docs = []
    for name in files:
        with open(os.path.join(MANIFESTS, "base", name), encoding="utf-8") as f:
            docs.extend(d for d in yaml.safe_load_all(f) if d)
    return docs


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_and_validates(overlay, validate_k8s):
    docs = build(overlay)
    assert sorted(d["kind"] for d in docs) == ["Namespace", "PersistentVolumeClaim", "PyTorchJob", "Role",
                                                "RoleBinding", "Secret", "ServiceAccount"]
    for d in docs:
        validate_k8s(d)
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "graphkit"


def test_gpu_overlay_asks_for_a_gpu_on_the_cuda_image():
    if _kustomize_cmd() is None:
        pytest.skip("neither kustomize nor kubectl is installed: overlay patches cannot be applied")
    (job,) = [d for d in build("gpu") if d["kind"] == "PyTorchJob"]
    pod = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert pod["containers"][0]["image"] == CUDA_IMAGE
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    (pvc,) = [d for d in build("local") if d["kind"] == "PersistentVolumeClaim"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_role_is_least_privilege():
    with open(os.path.join(MANIFESTS, "base", "graphkit-role.yaml"), encoding="utf-8") as f:
        role = yaml.safe_load(f)
    rules = {(r["apiGroups"][0], r["resources"][0]): sorted(r["verbs"]) for r in role["rules"]}
    job_verbs = sorted(["create", "get", "list", "watch", "delete"])
    assert rules == {("kubeflow.org", "pytorchjobs"): job_verbs, ("trainer.kubeflow.org", "trainjobs"): job_verbs,
                     ("", "pods"): ["get", "list"], ("", "pods/log"): ["get"]}
    assert all(len(r["apiGroups"]) == 1 and len(r["resources"]) == 1 for r in role["rules"])


def test_one_resource_per_file_named_app_kind():
    for folder in ("base", os.path.join("overlays", "local"), os.path.join("overlays", "gpu")):
        for name in os.listdir(os.path.join(MANIFESTS, folder)):
            if name == "kustomization.yaml":
                continue
            with open(os.path.join(MANIFESTS, folder, name), encoding="utf-8") as f:
                docs = [d for d in yaml.safe_load_all(f) if d]
            assert len(docs) == 1, name
            if isinstance(docs[0], dict):
                assert name == f"graphkit-{docs[0]['kind'].lower()}.yaml"


def test_example_secret_holds_placeholders_only():
    with open(os.path.join(MANIFESTS, "base", "graphkit-secret.yaml"), encoding="utf-8") as f:
        secret = yaml.safe_load(f)
    data = secret["stringData"]
    assert data["AWS_ACCESS_KEY_ID"] == data["AWS_SECRET_ACCESS_KEY"] == "REPLACE_ME"
    assert "data" not in secret


def test_standalone_pytorchjob_is_what_graphkit_launch_renders():
    with open(os.path.join(MANIFESTS, "base", "graphkit-pytorchjob.yaml"), encoding="utf-8") as f:
        checked_in = yaml.safe_load(f)
    spec = JobSpec(name="graphkit-train", image=IMAGE, service_account="graphkit", secret_env="graphkit-s3",
                   volumes=[Volume("graphkit-data", "/mnt/graphkit")],
                   args=["train", "--part-config", "/mnt/graphkit/graph", "--cf", "/mnt/graphkit/train.yaml",
                         "--save-model-path", "/mnt/graphkit/model"])
    assert checked_in == render_pytorchjob(spec)
