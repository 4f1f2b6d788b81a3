"""The student folder: ``student.json`` (what to build) + ``model.pt`` (its weights) + ``distill_metrics.json``.

``student.json`` is plain data — the student kind, per node type its input
features and sizes (for an LM student its Hugging Face config), the width of
the teacher's embeddings, the teacher's node-task head (decoder type, classes,
label, masks, metrics) and the teacher's path and training config — so a
student is re-created without the teacher or the graph's edges. ``model.pt``
holds only tensors (``torch.load(weights_only=True)``): the students' and the
decoder's state dicts. A folder is recognised as a student by ``student.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import torch

from graphkit import __version__
from graphkit.errors import GraphkitError
from graphkit.training.checkpoint import MODEL_FILE

STUDENT_FILE = "student.json"
METRICS_FILE = "distill_metrics.json"
KINDS = ("mlp", "lm")


@dataclass
class HeadSpec:
    """The teacher's node task on a student's node type: what the decoder outputs and how it is scored."""

    name: str  # the task name, e.g. "node_classification:paper"
    ntype: str
    label: str
    regression: bool
    multilabel: bool
    num_classes: int
    decoder_type: Optional[str]
    mask_names: list[str]  # train, val, test
    metrics: list[str]  # eval_metric names; the first selects the best epoch
    classes: Optional[list] = None  # the user's class values, for predictions


@dataclass
class TypeSpec:
    """One node type's student network."""

    features: list[str]  # mlp: float features (concatenated, as the teacher read them); lm: token features
    in_dim: int = 0  # mlp input width
    hidden: int = 0  # mlp hidden width
    num_layers: int = 0  # mlp linear layers
    dropout: float = 0.0
    lm_config: Optional[dict] = None  # lm: the Hugging Face config (to_dict())
    pooling: str = "cls"
    best_epoch: int = -1


@dataclass
class StudentSpec:
    kind: str  # "mlp" or "lm"
    distilled: bool  # False: the --no-distill baseline (labels only; its own decoder)
    emb_dim: int  # the teacher's embedding width = the student's output width
    types: dict[str, TypeSpec]
    head: Optional[HeadSpec]
    teacher_path: str
    teacher_config: dict = field(default_factory=dict)
    graphkit_version: str = __version__

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(obj: dict[str, Any]) -> StudentSpec:
        obj = dict(obj)
        obj["types"] = {t: TypeSpec(**v) for t, v in obj["types"].items()}
        obj["head"] = HeadSpec(**obj["head"]) if obj.get("head") else None
        return StudentSpec(**obj)


def is_student_dir(path: str) -> bool:
    """A folder written by ``graphkit distill`` (it holds ``student.json``)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, STUDENT_FILE))


def write_student(folder: str, spec: StudentSpec, nets: dict[str, dict], decoder: dict, metrics: dict) -> None:
    """Write the three files into ``folder`` (a temporary folder that the caller renames into place)."""
    torch.save({"students": nets, "decoder": decoder}, os.path.join(folder, MODEL_FILE))
    with open(os.path.join(folder, STUDENT_FILE), "w", encoding="utf-8") as f:
        json.dump(spec.to_json(), f, indent=2, default=str)
    with open(os.path.join(folder, METRICS_FILE), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)


def read_student(path: str) -> tuple[StudentSpec, dict[str, Any]]:
    """``(spec, {"students": {ntype: state_dict}, "decoder": state_dict})`` of a student folder."""
    if not is_student_dir(path):
        raise GraphkitError("not a student model folder (no student.json).", file=path,
                            hint="Point to a folder written by `graphkit distill --save-model-path`.")
    spec_file = os.path.join(path, STUDENT_FILE)
    try:
        with open(spec_file, encoding="utf-8") as f:
            spec = StudentSpec.from_json(json.load(f))
    except (ValueError, TypeError, KeyError) as e:
        raise GraphkitError(f"cannot read the student spec: {e}", file=spec_file) from None
    weights = os.path.join(path, MODEL_FILE)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - missing, truncated or foreign: one clear message
        raise GraphkitError(f"cannot read the student weights: {str(e).splitlines()[0][:200]}", file=weights) from None
    if spec.kind not in KINDS:
        raise GraphkitError(f"unknown student kind '{spec.kind}'.", file=spec_file, hint=f"Kinds: {', '.join(KINDS)}.")
    return spec, state
