#!/usr/bin/env python
"""When do sampler worker processes (``num_workers``) help? Training-epoch and pipeline throughput, 0/1/2 workers.

    python benchmarks/sampler_workers.py                                  # 200k + 200k nodes, 4M edges
    python benchmarks/sampler_workers.py --users 50000 --items 50000 --edges 1000000 --max-steps 40

Builds the GraphStorm peer graph (as ``scaling.py``: ``gen_peer_graph.py`` +
``graphkit construct --add-reverse-edges``), then, for each worker count in
``--workers`` (0 = the in-thread prefetcher):

1. **pipeline**: one epoch of the training pipeline alone (seeds -> 10,10
   neighbour sampling -> feature fetch, batches of 512, no model), as the
   trainer builds it: how fast can batches be made?
2. **training**: ``graphkit train`` with GraphStorm's ``nc.yaml``
   (``--no-validation true --num-workers N``), seeds/s from ``metrics.json``'s
   epoch times (median over epochs after the first).

Workers help when making a batch is slower than the model's step and there
are idle cores: the trainer, its torch threads and N samplers share the
machine's cores. Last line (medians over ``--repeats``):

    workers=<list> pipeline_batches_per_s=<list> train_seeds_per_s=<list>
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scaling import BATCH, add_peer_graph_args, epoch_time, peer_graph, train, train_seeds


def pipeline_rate(graph_dir: str, workers: int, seconds: float) -> float:
    """Batches per second of the NC training pipeline (no model), over at most ``seconds`` of one epoch."""
    import numba
    import numpy as np

    from graphkit.loading import FeatureStore, NodeSeeds
    from graphkit.sampling.neighbor import NeighborSampler
    from graphkit.storage.graph import Graph

    numba.set_num_threads(1)  # as in training
    g = Graph(graph_dir)
    mask = g.meta.node_type("item").labels["label"].mask_names[0]
    ids = np.flatnonzero(np.asarray(g.node_mask("item", mask)))
    loader = (NodeSeeds({"item": ids}, BATCH, shuffle=True, seed=0).sample(NeighborSampler(g, "10,10"))
              .fetch(FeatureStore(g, {"user": ["feat"], "item": ["feat"]})).prefetch(2, workers=workers))
    n = 0
    it = iter(loader)
    next(it)  # start-up (fork, first batch) is not timed
    t = time.perf_counter()
    for _ in it:
        n += 1
        if time.perf_counter() - t > seconds:
            break
    it.close()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_peer_graph_args(ap, nodes=200_000, edges=4_000_000, max_steps=60)
    ap.add_argument("--workers", default="0,1,2", help="Sampler worker counts to run (default: 0,1,2).")
    ap.add_argument("--pipeline-seconds", type=float, default=10.0)
    args = ap.parse_args()

    with peer_graph(args, "graphkit-bench-workers-") as (work, graph):
        seeds = train_seeds(graph)
        print(f"{seeds:,} training seeds per epoch ({-(-seeds // BATCH)} batches); {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        counts = [int(w) for w in args.workers.split(",")]
        pipe: dict[int, list[float]] = {}
        rate: dict[int, list[float]] = {}
        for r in range(args.repeats):
            for w in counts:
                pipe.setdefault(w, []).append(pipeline_rate(graph, w, args.pipeline_seconds))
                m, _ = train(graph, os.path.join(work, f"run-{w}-{r}"), 1, args.epochs, ["--num-workers", str(w)])
                rate.setdefault(w, []).append(seeds / epoch_time(m))
                print(f"workers {w}, run {r}: pipeline alone {pipe[w][-1]:.2f} batches/s; training epochs "
                      f"{[round(x, 2) for x in m['epoch_times_s']]} s = {rate[w][-1]:,.0f} seeds/s "
                      f"({rate[w][-1] / BATCH:.2f} batches/s); load {os.getloadavg()[0]:.1f}", flush=True)
        print(f"workers={','.join(map(str, counts))} "
              f"pipeline_batches_per_s={','.join(f'{statistics.median(pipe[w]):.2f}' for w in counts)} "
              f"train_seeds_per_s={','.join(f'{statistics.median(rate[w]):.1f}' for w in counts)}")


if __name__ == "__main__":
    main()
