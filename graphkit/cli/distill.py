"""``graphkit distill``: a trained GNN -> a student (MLP or LM) that needs no graph (docs/distillation.md)."""

from __future__ import annotations

import argparse
import json
import os

from graphkit.cli.train import import_modules, open_graph


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="Distil a trained GNN into a student that needs no graph.",
                       description="Train an MLP on node features (or an LM on node tokens) to reproduce a trained "
                                   "GNN's embeddings (MSE, optionally plus the GNN's soft labels), for nodes with no "
                                   "edges. Writes a student folder usable by `graphkit infer` and "
                                   "distill_metrics.json.")
    p.add_argument("--part-config", required=True, help="Graph directory (or its graph.json).")
    p.add_argument("--restore-model-path", required=True, help="The teacher: a `graphkit train` model folder.")
    p.add_argument("--save-model-path", required=True, help="Folder for the student (written atomically).")
    p.add_argument("--student", choices=("mlp", "lm"), default="mlp",
                   help="mlp: on the node's input features; lm: on its text tokens (default: mlp).")
    p.add_argument("--lm-model", default=None, help="For --student lm: a Hugging Face model folder to start from.")
    p.add_argument("--lm-pooling", choices=("cls", "mean", "pooler"), default="cls",
                   help="For --student lm: how token states become one vector (default: cls).")
    p.add_argument("--ntype", action="append", default=None,
                   help="Node type to distil (repeatable; default: the teacher's node-task target type, else every "
                        "type the student can read).")
    p.add_argument("--num-epochs", type=int, default=20, help="Training epochs (default: 20).")
    p.add_argument("--lr", type=float, default=None, help="Learning rate (default: 1e-3 mlp, 5e-5 lm).")
    p.add_argument("--batch-size", type=int, default=256, help="Nodes per step (default: 256).")
    p.add_argument("--eval-batch-size", type=int, default=4096, help="Nodes per inference batch (default: 4096).")
    p.add_argument("--hidden-size", type=int, default=256, help="MLP hidden width (default: 256).")
    p.add_argument("--num-layers", type=int, default=2, help="MLP linear layers (default: 2).")
    p.add_argument("--dropout", type=float, default=0.0, help="MLP dropout (default: 0).")
    p.add_argument("--soft-label-weight", type=float, default=0.0,
                   help="Weight of the soft-label loss through the teacher's decoder (default: 0 = embeddings only).")
    p.add_argument("--temperature", type=float, default=2.0, help="Soft-label temperature (default: 2).")
    p.add_argument("--no-distill", action="store_true",
                   help="Baseline: the same student trained on the node task's labels only, without the teacher.")
    p.add_argument("--seed", type=int, default=0, help="Random seed (default: 0).")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="Import a module first (e.g. one registering the teacher's custom encoder/decoder).")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from graphkit.distill.train import DistillConfig, distill

    import_modules(args.imports)
    cfg = DistillConfig(student=args.student, lm_model=args.lm_model, lm_pooling=args.lm_pooling, ntypes=args.ntype,
                        num_epochs=args.num_epochs, lr=args.lr, batch_size=args.batch_size,
                        eval_batch_size=args.eval_batch_size, hidden_size=args.hidden_size,
                        num_layers=args.num_layers, dropout=args.dropout, soft_label_weight=args.soft_label_weight,
                        temperature=args.temperature, distill=not args.no_distill, seed=args.seed)
    cfg.validate()  # flag errors before the graph and the teacher are opened
    metrics = distill(open_graph(args.part_config), args.restore_model_path, args.save_model_path, cfg)
    print(json.dumps({k: metrics[k] for k in ("mode", "task", "metric", "best_epoch", "val", "test", "teacher_test",
                                              "test_agreement_with_teacher", "total_time_s")}))
    print(f"student and distill_metrics.json written to {os.path.abspath(args.save_model_path)}")
    return 0
