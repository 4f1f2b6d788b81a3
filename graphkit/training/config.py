"""Training configuration: GraphStorm's training YAML, read strictly into typed data.

GraphStorm YAMLs put options in sections under ``gsf:`` (``basic``, ``gnn``,
``hyperparam``, ``rgcn``, ``node_classification``, ...). The sections are
namespaces only: every option has one global name. graphkit reads the same
files, rejects unknown options with a did-you-mean hint, and accepts
command-line overrides of any option (``--num-epochs 3``, ``--lr 0.01``).

Loading a config has no side effects: no folders, no logging setup.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

from graphkit.errors import ConfigError, did_you_mean
from graphkit.training.lm_config import check_lm_options

EdgeType = tuple[str, str, str]
log = logging.getLogger(__name__)

# option -> (accepted types, default). None default = unset.
_COMMON: dict[str, tuple[tuple, Any]] = {
    # basic
    "backend": ((str,), "gloo"), "verbose": ((bool,), False), "node_feat_name": ((list, str), None),
    "edge_feat_name": ((list, str), None), "edge_feat_mp_op": ((str,), "concat"), "ip_config": ((str,), None),
    "part_config": ((str,), None),
    "model_select_etype": ((str,), None), "seed": ((int,), 0), "num_workers": ((int,), 0),
    # gnn
    "model_encoder_type": ((str,), "rgcn"), "fanout": ((str, int, list), "10,10"),
    "eval_fanout": ((str, int, list), None),
    "num_layers": ((int,), 2), "hidden_size": ((int,), 128), "use_mini_batch_infer": ((bool,), True),
    "num_heads": ((int,), 4), "attn_dropout": ((float,), 0.0), "gnn_norm": ((str,), None),
    "control_variate": ((bool,), False), "lp_keep_held_out_edges": ((bool,), False),
    # input / output
    "restore_model_path": ((str,), None), "restore_optimizer_path": ((str,), None),
    "save_model_path": ((str,), None), "save_embed_path": ((str,), None), "save_prediction_path": ((str,), None),
    "save_model_frequency": ((int,), -1), "topk_model_to_save": ((int,), 1),
    # where and how to run (graphkit; docs/distributed.md)
    "device": ((str,), "auto"), "shared_memory_graph": ((bool,), True),
    # hyperparam
    "dropout": ((float,), 0.0), "lr": ((float,), 0.001), "num_epochs": ((int,), 10), "batch_size": ((int,), 1024),
    "eval_batch_size": ((int,), 4096), "wd_l2norm": ((float,), 0.0), "alpha_l2norm": ((float,), 0.0),
    "no_validation": ((bool,), False), "sparse_optimizer_lr": ((float,), 0.01), "use_early_stop": ((bool,), False),
    "early_stop_burnin_rounds": ((int,), 0), "early_stop_rounds": ((int,), 3),
    "early_stop_strategy": ((str,), "average_increase"), "eval_frequency": ((int,), -1),
    "max_grad_norm": ((float,), None), "grad_norm_type": ((float,), 2.0), "input_dropout": ((float,), 0.0),
    "input_projection": ((bool,), True),
    # rgcn / rgat / hgt
    "num_bases": ((int,), -1), "use_self_loop": ((bool,), True), "use_node_embeddings": ((bool,), False),
    "construct_feat_ntype": ((list,), None),
    # lm (LM+GNN co-training; graphkit.training.lm_config)
    "node_lm_configs": ((list,), None), "lm_train_nodes": ((int,), 0), "lm_infer_batch_size": ((int,), 32),
    "lm_tune_lr": ((float,), None), "freeze_lm_encoder_epochs": ((int,), 0), "cache_lm_embed": ((bool,), False),
}

_TASK: dict[str, tuple[tuple, Any]] = {
    "target_ntype": ((str,), None), "target_etype": ((list, str), None), "label_field": ((str,), None),
    "multilabel": ((bool,), False), "num_classes": ((int,), None), "imbalance_class_weights": ((str, list), None),
    "eval_metric": ((list, str), None), "class_loss_func": ((str,), "cross_entropy"), "gamma": ((float,), None),
    "alpha": ((float,), None), "regression_loss_func": ((str,), "mse"), "num_decoder_basis": ((int,), 2),
    "decoder_type": ((str,), None), "decoder_edge_feat": ((list, str), None), "decoder_norm": ((str,), None),
    "exclude_training_targets": ((bool,), True), "reverse_edge_types_map": ((list,), None),
    "lp_decoder_type": ((str,), "dot_product"), "lp_embed_normalizer": ((str,), None),
    "lp_loss_func": ((str,), "cross_entropy"), "contrastive_loss_temperature": ((float,), 1.0),
    "num_negative_edges": ((int,), 16), "num_negative_edges_eval": ((int,), 1000),
    "train_negative_sampler": ((str,), "uniform"), "eval_negative_sampler": ((str,), "uniform"),
    "train_etype": ((list, str), None), "eval_etype": ((list, str), None),
    "lp_edge_weight_for_loss": ((list, str), None),
    "report_eval_per_type": ((bool,), False), "mask_fields": ((list,), None), "task_weight": ((float,), 1.0),
    "batch_size": ((int,), None), "topk": ((int,), 10),
}

# GraphStorm options graphkit reads (so GraphStorm YAMLs load unchanged) but does not implement:
# setting one to a non-default value logs a warning that it has no effect.
NOT_IMPLEMENTED = frozenset({
    "backend", "verbose", "ip_config", "part_config", "model_select_etype", "restore_optimizer_path",
    "alpha_l2norm", "eval_frequency", "decoder_norm", "lp_edge_weight_for_loss",
    "report_eval_per_type",
})

TASK_SECTIONS = ("node_classification", "node_regression", "edge_classification", "edge_regression",
                 "link_prediction")
_OTHER_SECTIONS = ("basic", "gnn", "input", "output", "hyperparam", "rgcn", "rgat", "hgt", "gat", "sage", "gcn",
                   "graphsaint", "lm_model", "lm")


@dataclass
class TaskConfig:
    """One task (GraphStorm's task sections); ``kind`` is the section name."""

    kind: str
    options: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        if name in ("kind", "options"):
            raise AttributeError(name)
        if name in self.options:
            return self.options[name]
        if name in _TASK:
            return _TASK[name][1]
        raise AttributeError(name)

    @property
    def name(self) -> str:
        target = self.options.get("target_ntype") or self.options.get("target_etype") or self.options.get("train_etype")
        if isinstance(target, list):
            target = "|".join(str(t) for t in target)
        return f"{self.kind}:{target}" if target else self.kind


@dataclass
class TrainConfig:
    """The whole training configuration; attribute names are GraphStorm's option names."""

    options: dict[str, Any]
    tasks: list[TaskConfig] = field(default_factory=list)
    source: Optional[str] = None

    def __getattr__(self, name: str) -> Any:
        if name in ("options", "tasks", "source"):
            raise AttributeError(name)
        if name in self.options:
            return self.options[name]
        if name in _COMMON:
            return _COMMON[name][1]
        raise AttributeError(name)

    def to_json(self) -> dict:
        return {"options": self.options, "tasks": [{"kind": t.kind, "options": t.options} for t in self.tasks]}

    @staticmethod
    def from_json(obj: dict) -> "TrainConfig":
        return TrainConfig(dict(obj["options"]), [TaskConfig(t["kind"], dict(t["options"])) for t in obj["tasks"]])


def _check_value(key: str, value: Any, spec: tuple[tuple, Any], where: str, file: Optional[str]) -> Any:
    types, _ = spec
    if value is None:
        return None
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if float in types and isinstance(value, str):
        try:
            value = float(value)  # YAML reads 1e-2 as a string
        except ValueError:
            pass
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"expected {names}, got {value!r}.", file=file, key=f"{where}.{key}")
    return value


def _read_task(kind: str, obj: Any, where: str, file: Optional[str]) -> TaskConfig:
    if not isinstance(obj, dict):
        raise ConfigError("a task section must be a mapping of options.", file=file, key=where)
    opts = {}
    for k, v in obj.items():
        if k not in _TASK:
            raise ConfigError(f"unknown option '{k}' for {kind}.", file=file, key=f"{where}.{k}",
                              hint=did_you_mean(k, _TASK))
        opts[k] = _check_value(k, v, _TASK[k], where, file)
    return TaskConfig(kind, opts)


def parse_train_config(raw: Any, file: Optional[str] = None) -> TrainConfig:
    if not isinstance(raw, dict) or "gsf" not in raw:
        raise ConfigError("expected a GraphStorm training YAML with a top-level 'gsf:' section.", file=file)
    extra = set(raw) - {"gsf", "version", "lm_model"}
    if extra:
        raise ConfigError(f"unknown top-level key(s) {sorted(extra)}.", file=file, hint="Options go under 'gsf:'.")
    gsf = raw["gsf"]
    if not isinstance(gsf, dict):
        raise ConfigError("'gsf' must be a mapping of sections.", file=file, key="gsf")
    options: dict[str, Any] = {}
    tasks: list[TaskConfig] = []
    if "lm_model" in raw:  # GraphStorm's older layout: top-level lm_model: {node_lm_models: [...]}
        lm = raw["lm_model"]
        if not isinstance(lm, dict) or set(lm) != {"node_lm_models"}:
            raise ConfigError("a top-level lm_model section holds exactly one key, node_lm_models.", file=file,
                              key="lm_model", hint="Or put node_lm_configs under gsf: lm:.")
        options["node_lm_configs"] = lm["node_lm_models"]
    for section, body in gsf.items():
        where = f"gsf.{section}"
        if section in TASK_SECTIONS:
            tasks.append(_read_task(section, body or {}, where, file))
            continue
        if section == "multi_task":
            tasks.extend(_read_multi_task(body, where, file))
            continue
        if section not in _OTHER_SECTIONS:
            raise ConfigError(f"unknown section '{section}'.", file=file, key=where,
                              hint=did_you_mean(section, _OTHER_SECTIONS + TASK_SECTIONS + ("multi_task",)))
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError("a section must be a mapping of options.", file=file, key=where)
        for k, v in body.items():
            if k not in _COMMON:
                raise ConfigError(f"unknown option '{k}'.", file=file, key=f"{where}.{k}",
                                  hint=did_you_mean(k, list(_COMMON)))
            options[k] = _check_value(k, v, _COMMON[k], where, file)
    _warn_not_implemented({**options, **{k: v for t in tasks for k, v in t.options.items()}}, file)
    check_lm_options(options, file)
    if not tasks:
        raise ConfigError("the config has no task section.", file=file, key="gsf",
                          hint=f"Add one of: {', '.join(TASK_SECTIONS)} or multi_task.")
    return TrainConfig(options, tasks, source=file)


def _warn_not_implemented(options: dict[str, Any], file: Optional[str]) -> None:
    for k, v in options.items():
        if k in NOT_IMPLEMENTED and v is not None and v != {**_COMMON, **_TASK}[k][1]:
            log.warning("%s: option '%s' (%r) is accepted for GraphStorm compatibility but graphkit does not "
                        "implement it; it has no effect.", file or "config", k, v)


def _read_multi_task(body: Any, where: str, file: Optional[str]) -> list[TaskConfig]:
    if not isinstance(body, list) or not body:
        raise ConfigError("multi_task must be a list of task sections.", file=file, key=where)
    out = []
    for i, item in enumerate(body):
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError("each multi_task entry holds exactly one task section.", file=file, key=f"{where}[{i}]")
        kind, opts = next(iter(item.items()))
        if kind not in TASK_SECTIONS:
            raise ConfigError(f"unknown task '{kind}'.", file=file, key=f"{where}[{i}]",
                              hint=did_you_mean(kind, TASK_SECTIONS))
        out.append(_read_task(kind, opts or {}, f"{where}[{i}].{kind}", file))
    return out


def load_train_config(path: str, overrides: Optional[dict[str, Any]] = None) -> TrainConfig:
    if not os.path.exists(path):
        raise ConfigError("the training config file does not exist.", file=path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}", file=path) from None
    cfg = parse_train_config(raw, path)
    if overrides:
        apply_overrides(cfg, overrides)
    return cfg


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> None:
    """Command-line values win over the file; task options apply to every task."""
    for k, v in overrides.items():
        if k in _COMMON:
            cfg.options[k] = _coerce(k, v, _COMMON[k])
        elif k in _TASK:
            for t in cfg.tasks:
                t.options[k] = _coerce(k, v, _TASK[k])
        else:
            raise ConfigError(f"unknown option --{k.replace('_', '-')}.", key=k,
                              hint=did_you_mean(k, list(_COMMON) + list(_TASK)))
    check_lm_options(cfg.options)


def _coerce(key: str, value: Any, spec: tuple[tuple, Any]) -> Any:
    types = spec[0]
    if not isinstance(value, str):
        return _check_value(key, value, spec, "command line", None)
    if bool in types:
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
    for t in (int, float):
        if t in types:
            try:
                return t(value)
            except ValueError:
                continue
    if list in types and str not in types:
        if value.lstrip().startswith("["):  # a YAML/JSON list, e.g. --node-lm-configs '[{lm_type: bert, ...}]'
            try:
                return _check_value(key, yaml.safe_load(value), spec, "command line", None)
            except yaml.YAMLError as e:
                raise ConfigError(f"cannot read --{key.replace('_', '-')}: {e}", key=key) from None
        return [v for v in value.split(",") if v]
    if str in types:
        return value
    raise ConfigError(f"cannot read --{key.replace('_', '-')} {value!r}.", key=key)


def known_options() -> list[str]:
    return sorted(set(_COMMON) | set(_TASK))
