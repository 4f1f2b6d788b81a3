"""``graphkit train`` and ``graphkit infer``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
from typing import Any

from graphkit.errors import GraphkitError


def _overrides(extra: list[str]) -> dict[str, Any]:
    """``--num-epochs 3 --lr 0.01 --no-validation`` -> {"num_epochs": "3", "lr": "0.01", "no_validation": "true"}."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(extra):
        tok = extra[i]
        if not tok.startswith("--"):
            raise GraphkitError(f"unexpected argument '{tok}'.", hint="Options look like --num-epochs 3.")
        key = tok[2:].replace("-", "_")
        if "=" in key:
            key, val = key.split("=", 1)
            i += 1
        elif i + 1 < len(extra) and not extra[i + 1].startswith("--"):
            val = extra[i + 1]
            i += 2
        else:
            val = "true"
            i += 1
        out[key] = val
    return out


def open_graph(part_config: str):
    """A graph directory, its graph.json, or a partition.json (single-process: the original graph)."""
    from graphkit.storage.graph import Graph

    path = part_config
    if os.path.isfile(path):
        if os.path.basename(path) == "partition.json":
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
            parts = int(meta.get("num_parts", 1))
            path = os.path.join(os.path.dirname(path), "part0") if parts == 1 else os.path.dirname(path)
            if parts > 1:
                raise GraphkitError(f"{parts} partitions need one trainer per partition (torchrun); "
                                    "for one process pass the unpartitioned graph directory.", file=part_config)
        else:
            path = os.path.dirname(path)
    return Graph(path)


_IMPORT_HELP = ("Import a Python module first, e.g. one registering a custom encoder or decoder "
                "(repeatable; docs/custom-models.md).")


def import_modules(names: list[str]) -> None:
    """Import user modules (on ``PYTHONPATH``) for their side effects: registering custom models."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise GraphkitError(f"cannot import module '{name}': {e}",
                                hint="Put the folder that holds it on PYTHONPATH.") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="Train a GNN for the task(s) in a GraphStorm training YAML.",
                       description="Train node/edge classification or regression, link prediction or several "
                                   "tasks at once. Any YAML option can be overridden: --num-epochs 3 --lr 0.01.")
    p.add_argument("--part-config", required=True, help="Graph directory (or its graph.json / partition.json).")
    p.add_argument("--cf", required=True, help="GraphStorm training YAML.")
    p.add_argument("--save-model-path", default=None, help="Folder for model.pt, checkpoints, metrics.json.")
    p.add_argument("--seed", type=int, default=None, help="Random seed (default: the YAML's, else 0).")
    p.add_argument("--resume", action="store_true", help="Continue from <save-model-path>/checkpoints/last.pt.")
    p.add_argument("--inference", action="store_true", help="Only run inference with --restore-model-path.")
    p.add_argument("--restore-model-path", default=None, help="A trained model folder (or model.pt).")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE", help=_IMPORT_HELP)
    p.set_defaults(run=run_train, accepts_overrides=True)

    p = sub.add_parser("infer", help="Embeddings, predictions and ranked links from a trained model.",
                       description="Layer-wise full-graph inference with a trained model; outputs are Parquet "
                                   "keyed by the original node IDs.")
    p.add_argument("--part-config", required=True, help="Graph directory (or its graph.json).")
    p.add_argument("--restore-model-path", required=True, help="A trained model folder (or model.pt).")
    p.add_argument("--save-embed-path", default=None, help="Folder for node embeddings.")
    p.add_argument("--save-prediction-path", default=None, help="Folder for predictions / ranked links.")
    p.add_argument("--topk", type=int, default=10, help="Candidate links per source node (default: 10).")
    p.add_argument("--include-known-links", action="store_true", help="Do not drop existing edges from rankings.")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE", help=_IMPORT_HELP)
    p.set_defaults(run=run_infer, accepts_overrides=True)


def run_train(args: argparse.Namespace) -> int:
    from graphkit.training.config import load_train_config
    from graphkit.training.trainer import Trainer

    import_modules(args.imports)
    overrides = _overrides(args.extra)
    if args.seed is not None:
        overrides["seed"] = args.seed
    cfg = load_train_config(args.cf, overrides)
    graph = open_graph(args.part_config)
    if args.inference:
        if not args.restore_model_path:
            raise GraphkitError("--inference needs --restore-model-path.")
        return _infer(graph, args.restore_model_path, cfg.save_embed_path, cfg.save_prediction_path, 10, True, {})
    save = args.save_model_path or cfg.save_model_path
    trainer = Trainer(graph, cfg, save)
    if args.restore_model_path:
        trainer.restore(args.restore_model_path, optimizer=False)
    if args.resume:
        trainer.resume_if_possible()
    metrics = trainer.fit()
    print(json.dumps({k: metrics[k] for k in ("task", "metric", "best_epoch", "val", "test", "total_time_s")}))
    if save:
        print(f"model and metrics.json written to {os.path.abspath(save)}")
        if cfg.save_embed_path or cfg.save_prediction_path:
            _infer(graph, save, cfg.save_embed_path, cfg.save_prediction_path, 10, True, {})
    return 0


def _infer(graph, model, embed, pred, topk, exclude, overrides) -> int:
    from graphkit.inference.run import run_inference

    if not embed and not pred:
        raise GraphkitError("nothing to write: give --save-embed-path and/or --save-prediction-path.")
    res = run_inference(graph, model, embed, pred, topk=topk, exclude_known_links=exclude, overrides=overrides)
    for t, f in res.embeddings.items():
        print(f"embeddings of {t}: {f}")
    for t, f in res.predictions.items():
        print(f"predictions of {t}: {f}")
    return 0


def run_infer(args: argparse.Namespace) -> int:
    import_modules(args.imports)
    return _infer(open_graph(args.part_config), args.restore_model_path, args.save_embed_path,
                  args.save_prediction_path, args.topk, not args.include_known_links, _overrides(args.extra))
