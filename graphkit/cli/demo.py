"""``graphkit demo``: generate the example shop tables and run the whole pipeline on them, locally."""

from __future__ import annotations

import argparse
import json
import os

from graphkit.construct.summary import describe


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="Run graphkit end to end on a generated example.",
                       description="Generate a small shop graph as tables (Parquet, CSV, JSON lines) with a "
                                   "gconstruct config, construct the graph, train a GNN to classify products, "
                                   "and write embeddings and predictions keyed by the original IDs.")
    p.add_argument("--output-dir", default="out/demo", help="Where to write tables and results (default: out/demo).")
    p.add_argument("--seed", type=int, default=0, help="Seed for data generation, splits and training (default: 0).")
    p.add_argument("--num-epochs", type=int, default=None, help="Training epochs (default: the demo YAML's 15).")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from graphkit.construct.construct import construct_graph
    from graphkit.datasets.synthetic import write_shop_dataset, write_shop_train_config
    from graphkit.inference.run import run_inference
    from graphkit.storage.graph import Graph
    from graphkit.training.config import load_train_config
    from graphkit.training.trainer import Trainer

    out = args.output_dir
    tables = os.path.join(out, "tables")
    conf = write_shop_dataset(tables, seed=args.seed)
    print(f"1/4 example tables and config written to {os.path.abspath(tables)}")
    graph_dir = os.path.join(out, "graph")
    meta = construct_graph(conf, graph_dir, "shop", add_reverse_edges=True, seed=args.seed)
    print(f"2/4 graph constructed in {os.path.abspath(graph_dir)}")
    print(describe(meta))

    yaml_path = write_shop_train_config(os.path.join(tables, "train_nc.yaml"))
    overrides: dict = {"seed": args.seed}
    if args.num_epochs is not None:
        overrides["num_epochs"] = args.num_epochs
    cfg = load_train_config(yaml_path, overrides)
    model_dir = os.path.join(out, "model")
    graph = Graph(graph_dir)
    metrics = Trainer(graph, cfg, model_dir).fit()
    print(f"3/4 model trained ({len(metrics['epoch_times_s'])} epochs, {metrics['total_time_s']:.1f}s): "
          f"test {json.dumps(metrics['test'])} at best epoch {metrics['best_epoch']}; "
          f"model, metrics.json and training_curves.png in {os.path.abspath(model_dir)}")

    res = run_inference(graph, model_dir, os.path.join(out, "embeddings"), os.path.join(out, "predictions"))
    print(f"4/4 inference done: product predictions in {os.path.abspath(res.predictions[cfg.tasks[0].name])}, "
          f"embeddings in {os.path.abspath(os.path.join(out, 'embeddings'))}")
    return 0
