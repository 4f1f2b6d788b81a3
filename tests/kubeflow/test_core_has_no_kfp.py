"""The core library and the CLI never import kfp or the kubernetes client; only graphkit/kubeflow may."""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CORE_MODULES = ["graphkit", "graphkit.cli.main", "graphkit.cli.pipeline", "graphkit.cli.launch",
                "graphkit.cli.remote", "graphkit.construct.construct", "graphkit.construct.reuse",
                "graphkit.storage.remote", "graphkit.kubeflow", "graphkit.kubeflow.runtime",
                "graphkit.kubeflow.jobs", "graphkit.kubeflow.image"]


def test_importing_the_core_and_the_cli_loads_neither_kfp_nor_kubernetes():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CORE_MODULES) +
            "from graphkit.cli.main import build_parser\nbuild_parser()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('kfp', 'kubernetes', 'boto3'))\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr


def test_only_graphkit_kubeflow_imports_kfp():
    pattern = re.compile(r"^\s*(import kfp|from kfp)\b", re.M)
    offenders = []
    for d, _, files in os.walk(os.path.join(REPO, "graphkit")):
        for f in files:
            path = os.path.join(d, f)
            rel = os.path.relpath(path, REPO)
            if f.endswith(".py") and not rel.startswith(os.path.join("graphkit", "kubeflow")):
                with open(path, encoding="utf-8") as fh:
                    if pattern.search(fh.read()):
                        offenders.append(rel)
    assert offenders == []
