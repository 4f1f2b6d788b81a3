"""``graphkit train`` and ``graphkit infer``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
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
    p.add_argument("--resume", action="store_true", help="Continue from <save-model-path>/checkpoints/last.pt "
                   "(start fresh if there is none): what a restarted torchrun worker or PyTorchJob pod runs.")
    p.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                   help="Where to train (default: the YAML's 'device', else auto: cuda:<local rank> when CUDA is "
                        "available). The same command runs as one process or under torchrun (docs/distributed.md).")
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
    p.add_argument("--device", default="cpu",
                   help="Where the GNN computes the embeddings: cpu (default), auto, cuda or cuda:N; the embeddings "
                        "are kept in host memory and the decoders run on the CPU.")
    p.add_argument("--student", default=None, help="A student folder from `graphkit distill`: nodes of its type(s) "
                   "with no in-neighbours get its embeddings and predictions (docs/distillation.md).")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE", help=_IMPORT_HELP)
    p.set_defaults(run=run_infer, accepts_overrides=True)


def _check_device(device: str) -> str:
    if device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", device):
        return device
    raise GraphkitError(f"unknown device '{device}'.", key="device", hint="Use auto, cpu, cuda or cuda:N.")


def run_train(args: argparse.Namespace) -> int:
    """Train as one process, or as one rank of a torchrun / PyTorchJob job (the same command either way)."""
    from graphkit.distributed.context import init_distributed, shutdown
    from graphkit.distributed.dist_graph import DistGraph, is_partitioned
    from graphkit.distributed.rank_logging import log_with_rank
    from graphkit.distributed.shared_graph import open_training_graph, release_training_graph
    from graphkit.training.config import load_train_config
    from graphkit.training.trainer import Trainer

    import_modules(args.imports)
    overrides = _overrides(args.extra)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.device is not None:
        overrides["device"] = args.device
    cfg = load_train_config(args.cf, overrides)
    partitioned = is_partitioned(args.part_config) and not args.inference  # one partition per rank or machine
    graph = None if partitioned else open_graph(args.part_config)
    if args.inference:
        if not args.restore_model_path:
            raise GraphkitError("--inference needs --restore-model-path.")
        return _infer(graph, args.restore_model_path, cfg.save_embed_path, cfg.save_prediction_path, 10, True, {})
    ctx = init_distributed(_check_device(str(cfg.device)))
    log_with_rank(ctx)
    shared = bool(cfg.shared_memory_graph)
    save = args.save_model_path or cfg.save_model_path
    try:
        train_graph = DistGraph(args.part_config, ctx) if partitioned else open_training_graph(graph.root, ctx, shared)
        trainer = Trainer(train_graph, cfg, save, ctx)
        if args.restore_model_path:
            trainer.restore(args.restore_model_path, optimizer=False)
        if args.resume:
            trainer.resume_if_possible()
        metrics = trainer.fit()
        if partitioned:
            train_graph.close()
        else:
            release_training_graph(graph.root, ctx, shared)
    finally:
        shutdown()
    if not ctx.is_main:
        return 0
    print(json.dumps({k: metrics[k] for k in ("task", "metric", "best_epoch", "val", "test", "total_time_s")}))
    if save:
        print(f"model and metrics.json written to {os.path.abspath(save)}")
        if partitioned and (cfg.save_embed_path or cfg.save_prediction_path):
            print("inference needs the whole graph: run `graphkit infer` on the unpartitioned graph directory")
        elif cfg.save_embed_path or cfg.save_prediction_path:  # rank 0, single-process inference after training
            _infer(graph, save, cfg.save_embed_path, cfg.save_prediction_path, 10, True, {})
    return 0


def _infer(graph, model, embed, pred, topk, exclude, overrides, student=None, device=None) -> int:
    from graphkit.distill.predict import isolated_hook, run_student_inference
    from graphkit.distill.spec import is_student_dir
    from graphkit.inference.run import run_inference

    if not embed and not pred:
        raise GraphkitError("nothing to write: give --save-embed-path and/or --save-prediction-path.")
    if is_student_dir(model):  # a distilled student alone: graph-free
        if student:
            raise GraphkitError("--student completes a GNN; --restore-model-path is a student folder itself.",
                                key="--student", hint="Drop --student to infer with the student alone.")
        res = run_student_inference(graph, model, embed, pred)
    else:
        hook = isolated_hook(graph, student) if student else None
        res = run_inference(graph, model, embed, pred, topk=topk, exclude_known_links=exclude, overrides=overrides,
                            embedding_hook=hook, device=device)
    for t, f in res.embeddings.items():
        print(f"embeddings of {t}: {f}")
    for t, f in res.predictions.items():
        print(f"predictions of {t}: {f}")
    return 0


def run_infer(args: argparse.Namespace) -> int:
    """One process, or every rank of ``torchrun --nproc-per-node=K -m graphkit.cli.main infer ...``: each rank
    computes its share of every layer and writes its parts of the same outputs (docs/distributed.md)."""
    from graphkit.distill.spec import is_student_dir
    from graphkit.distributed.context import init_distributed, shutdown
    from graphkit.distributed.shared_graph import open_training_graph, release_training_graph, use_shared_memory
    from graphkit.storage.shared import release_shared

    import_modules(args.imports)
    ctx = init_distributed(device=_check_device(args.device))  # default cpu: gloo between ranks
    if ctx.distributed and is_student_dir(args.restore_model_path):
        raise GraphkitError("inference with a distilled student alone runs in one process.",
                            hint="Run it without torchrun.")
    graph_dir = open_graph(args.part_config).root
    graph = open_training_graph(graph_dir, ctx)  # one shared-memory copy per machine with several ranks
    try:
        code = _infer(graph, args.restore_model_path, args.save_embed_path, args.save_prediction_path, args.topk,
                      not args.include_known_links, _overrides(args.extra), args.student, ctx.device)
    except BaseException:
        if use_shared_memory(ctx) and ctx.local_rank == 0:  # no barrier: the other ranks may be failing too
            release_shared(graph_dir)  # ranks still mapping it keep their pages until they exit
        raise
    release_training_graph(graph_dir, ctx)
    shutdown()
    return code
