#!/usr/bin/env python3
"""Partitioning speed and quality: METIS vs random on a power-law-ish random graph.

Writes the graph directly in graphkit's format (one node type ``node`` with a
16-dim float feature, a 5-class label and 60/20/20 train/val/test masks; one edge
type ``node,links,node`` plus its reverse type, as ``--add-reverse-edges`` makes),
then times ``graphkit partition`` in a child process, ``--repeats`` times per
method. Endpoints are drawn with probability proportional to ``(rank + 1) ** -0.8``
(a heavy-tailed degree distribution), node IDs shuffled so ID order carries no
locality.

    python benchmarks/partition.py                                   # 100k nodes, 1M edges
    python benchmarks/partition.py --nodes 1000000 --edges 10000000 --parts 4 --repeats 1

The last line is machine-readable:

    metis_s=<median wall s> random_s=<median wall s> metis_edge_cut=<fraction> random_edge_cut=<fraction>

Wall time is the whole command (start-up, assignment, writing every partition);
the lines before it split it into assignment and writing and give peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa

from graphkit.schema.graph_meta import (
    REVERSED_KEY,
    ArrayMeta,
    EdgeTypeMeta,
    GraphMeta,
    LabelMeta,
    NodeTypeMeta,
    write_graph_meta,
)
from graphkit.storage.graph_writer import ArrayWriter, structure_paths, write_id_map, write_structure

NTYPE = "node"
ETYPE = (NTYPE, "links", NTYPE)
ALPHA = 0.8
NUM_CLASSES = 5


def power_law_endpoints(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """``m`` node IDs drawn with P(rank r) ~ (r + 1) ** -ALPHA, ranks shuffled over IDs."""
    cdf = np.cumsum((np.arange(1, n + 1, dtype=np.float64)) ** -ALPHA)
    cdf /= cdf[-1]
    rank = np.searchsorted(cdf, rng.random(m), side="right")
    return rng.permutation(n)[np.minimum(rank, n - 1)]


def write_graph(out: str, n: int, m: int, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = ArrayWriter(out)
    src = power_law_endpoints(rng, n, m)
    dst = power_law_endpoints(rng, n, m)
    sub = "edges/node%2Clinks%2Cnode"
    structure = write_structure(w, structure_paths(sub), src, dst, n, n)
    del src, dst
    write_id_map(out, "id_maps/node.parquet", pa.array(np.arange(n, dtype=np.int64)))
    perm = rng.permutation(n)
    splits = {"train": perm[: int(0.6 * n)], "val": perm[int(0.6 * n): int(0.8 * n)], "test": perm[int(0.8 * n):]}
    masks: dict[str, ArrayMeta] = {}
    for split, rows in splits.items():
        mask = np.zeros(n, dtype=np.int8)
        mask[rows] = 1
        masks[f"{split}_mask"] = w.save(f"nodes/node/masks/{split}_mask.npy", mask)
    label = LabelMeta(name="y", task_type="classification",
                      array=w.save("nodes/node/labels/y.npy", rng.integers(0, NUM_CLASSES, n)),
                      mask_names=list(masks), num_classes=NUM_CLASSES,
                      split_counts={split: len(rows) for split, rows in splits.items()})
    node = NodeTypeMeta(name=NTYPE, num_nodes=n, id_map="id_maps/node.parquet", id_dtype="int64",
                        features={"feat": w.save("nodes/node/features/feat.npy",
                                                 rng.standard_normal((n, dim), dtype=np.float32))},
                        labels={"y": label}, masks=masks)
    fwd = EdgeTypeMeta(src_type=NTYPE, relation="links", dst_type=NTYPE, num_edges=m, structure=structure)
    rev = EdgeTypeMeta(src_type=NTYPE, relation="links-rev", dst_type=NTYPE, num_edges=m,
                       structure={k: structure[REVERSED_KEY[k]] for k in structure}, reverse_of=list(ETYPE))
    write_graph_meta(out, GraphMeta(graph_name="bench", node_types={NTYPE: node}, edge_types=[fwd, rev],
                                    construction={"benchmark": "benchmarks/partition.py", "seed": seed}))


def run_partition(graph_dir: str, out_dir: str, parts: int, method: str, seed: int, log_path: str
                  ) -> tuple[float, float, dict]:
    """``graphkit partition`` in a child process: (wall seconds, peak RSS MB, partition.json)."""
    cmd = [sys.executable, "-m", "graphkit", "partition", "--graph-dir", graph_dir, "--num-parts", str(parts),
           "--part-method", method, "--output-dir", out_dir, "--seed", str(seed)]
    with open(log_path, "w", encoding="utf-8") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        with open(log_path, encoding="utf-8") as f:
            sys.stderr.write(f.read())
        raise SystemExit(f"graphkit partition failed: {' '.join(cmd)}")
    with open(os.path.join(out_dir, "partition.json"), encoding="utf-8") as f:
        meta = json.load(f)
    rss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return wall, rss_mb, meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=100_000, help="Number of nodes (default: 100000).")
    ap.add_argument("--edges", type=int, default=1_000_000, help="Number of edges (default: 1000000).")
    ap.add_argument("--parts", type=int, default=4, help="Number of partitions (default: 4).")
    ap.add_argument("--feat-dim", type=int, default=16, help="Node feature dimension (default: 16).")
    ap.add_argument("--repeats", type=int, default=3, help="Timed runs per method; medians are reported (default: 3).")
    ap.add_argument("--methods", default="metis,random", help="Comma-separated methods (default: metis,random).")
    ap.add_argument("--seed", type=int, default=0, help="Seed for the graph and the partitioning (default: 0).")
    ap.add_argument("--workdir", default=None, help="Where to write the graph and partitions (default: a temp folder).")
    ap.add_argument("--keep", action="store_true", help="Keep the work folder (always kept when --workdir is given).")
    a = ap.parse_args()
    if a.repeats < 1 or a.parts < 1 or min(a.nodes, a.edges, a.feat_dim) < 1:
        ap.error("--nodes, --edges, --feat-dim, --parts and --repeats must be >= 1")
    methods = a.methods.split(",")

    work = a.workdir or tempfile.mkdtemp(prefix="graphkit-bench-partition-")
    os.makedirs(work, exist_ok=True)
    try:
        graph_dir = os.path.join(work, "graph")
        t0 = time.perf_counter()
        write_graph(graph_dir, a.nodes, a.edges, a.feat_dim, a.seed)
        print(f"wrote a {a.nodes:,}-node, {a.edges:,}-edge power-law graph (+ reverse type) in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)
        result: dict[str, tuple[float, float]] = {}
        for method in methods:
            walls, cuts = [], []
            for r in range(a.repeats):
                out = os.path.join(work, f"parts-{method}")
                wall, rss, meta = run_partition(graph_dir, out, a.parts, method, a.seed,
                                                os.path.join(work, f"{method}-{r}.log"))
                d = meta["details"]
                walls.append(wall)
                cuts.append(meta["edge_cut"])
                worst = max(meta["balance"].values())
                print(f"{method} run {r + 1}/{a.repeats}: {wall:.2f}s wall (assign {d['assign_s']:.2f}s"
                      + (f" = homogenize {d['homogenize_s']:.2f}s + METIS {d['metis_s']:.2f}s"
                         if "metis_s" in d else "")
                      + f", write {d['write_s']:.2f}s), peak RSS {rss:,.0f} MB, edge cut {meta['edge_cut']:.4f}, "
                      f"worst balance {worst:.3f}", flush=True)
            result[method] = (statistics.median(walls), statistics.median(cuts))
        nan = (float("nan"), float("nan"))
        m, r = result.get("metis", nan), result.get("random", nan)
        print(f"metis_s={m[0]:.3f} random_s={r[0]:.3f} metis_edge_cut={m[1]:.4f} random_edge_cut={r[1]:.4f}")
    finally:
        if a.workdir is None and not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
