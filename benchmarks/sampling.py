#!/usr/bin/env python
"""Neighbour-sampling throughput on a power-law-ish random graph.

    python benchmarks/sampling.py --nodes 1000000 --edges 20000000 --fanout 15,10 --batch 1024

Builds the graph in the on-disk format (temporary folder), then samples
mini-batches of uniformly drawn seed nodes with graphkit's NeighborSampler
(sampling + relabelling to local IDs + block tensors) for ``--seconds`` per
run, with 1 thread and with ``--threads`` threads. Prints per-run figures and,
last, the median of ``--repeats`` runs at ``--threads`` threads:

    seeds_per_s=<float> sampled_edges_per_s=<float> threads=<int>
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

import numba
import numpy as np

from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph


def power_law_edges(n: int, e: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Destinations skewed (in-degree ~ power law over node IDs, shuffled), sources uniform."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    dst = perm[(n * rng.random(e) ** 3).astype(np.int64)]  # density ~ x^(-2/3): a few hubs, a long tail
    src = rng.integers(0, n, e, dtype=np.int64)
    return src, dst


def run(sampler: NeighborSampler, n: int, batch: int, seconds: float, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    seeds_done = edges = 0
    b = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ids = rng.choice(n, batch, replace=False)
        sub = sampler.sample_from_nodes({"node": ids}, seed=b)
        seeds_done += batch
        edges += sum(blk.num_edges() for blk in sub.blocks)
        b += 1
    dt = time.perf_counter() - t0
    return seeds_done / dt, edges / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=20_000_000)
    ap.add_argument("--fanout", default="15,10")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=3.0, help="Sampling time per run (default: 3).")
    ap.add_argument("--repeats", type=int, default=3, help="Runs per thread count; medians are reported.")
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="graphkit-bench-sampling-")
    try:
        t = time.perf_counter()
        src, dst = power_law_edges(args.nodes, args.edges, args.seed)
        graph_from_arrays(f"{work}/g", {"node": args.nodes}, {("node", "to", "node"): (src, dst)})
        del src, dst
        print(f"built graph: {args.nodes:,} nodes, {args.edges:,} edges in {time.perf_counter() - t:.1f}s")
        sampler = NeighborSampler(Graph(f"{work}/g"), args.fanout)
        t = time.perf_counter()
        sampler.sample_from_nodes({"node": np.arange(args.batch)})  # compile or load cached kernels
        print(f"warm-up (kernel compile/load): {time.perf_counter() - t:.2f}s")
        result = (0.0, 0.0)
        for threads in sorted({1, args.threads}):
            numba.set_num_threads(threads)
            runs = [run(sampler, args.nodes, args.batch, args.seconds, args.seed + r) for r in range(args.repeats)]
            result = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
            for i, (s, e) in enumerate(runs):
                print(f"threads={threads} run={i}: {s:,.0f} seeds/s, {e / 1e6:.2f}M sampled edges/s")
            print(f"threads={threads} median: {result[1] / 1e6:.2f}M sampled edges/s "
                  f"({result[1] / 1e6 / threads:.2f}M per thread)")
        print(f"seeds_per_s={result[0]:.1f} sampled_edges_per_s={result[1]:.1f} threads={args.threads}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
