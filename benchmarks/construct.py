#!/usr/bin/env python3
"""Construction throughput on the GraphStorm comparison graph, with string IDs.

Generates the peer graph of ``shared/bench/gen_peer_graph.py`` (user --rates--> item,
item labels, user/item float features, custom NC and LP splits) at any scale, with
text node IDs ("u0000123", "i0000456"), writes a gconstruct JSON equivalent to
GraphStorm's ``gconstruct_conf.json``, then times ``graphkit construct
--add-reverse-edges`` in a subprocess, ``--repeats`` times.

    python benchmarks/construct.py                      # 5k + 5k nodes, 100k edges
    python benchmarks/construct.py --users 1000000 --items 1000000 --edges 20000000

The last line is machine-readable:

    construct_s=<median wall seconds> edges=<forward input edges> edges_per_s=<edges / construct_s>
    peak_rss_mb=<max over runs>

Wall time includes interpreter start-up and imports, as GraphStorm's 10.6-11.1 s
for 100k edges did. Peak RSS is the child's own ``ru_maxrss`` (``os.wait4``), so the
benchmark process's memory does not count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

NUM_CLASSES = 5
NUM_CLUSTERS = 50
P_IN = 0.5
SIGNAL = 0.5


# --- data ---------------------------------------------------------------------

def string_ids(prefix: str, n: int) -> pa.Array:
    """``prefix`` + zero-padded ``0..n-1`` (at least 7 digits), built with Arrow kernels."""
    width = max(7, len(str(max(n - 1, 0))))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def list_column(x: np.ndarray) -> pa.Array:
    """A ``(N, D)`` float matrix as ``list<float32>``, one row per node."""
    offsets = pa.array(np.arange(0, x.size + 1, x.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(x.reshape(-1).astype(np.float32, copy=False)))


def sample_edges(rng: np.random.Generator, user_p: np.ndarray, item_c: np.ndarray, n_edges: int,
                 num_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique (user, item) pairs, in random order: with probability P_IN the item is drawn
    from the user's preferred cluster, otherwise uniformly (gen_peer_graph.py's model)."""
    n_user, n_item = len(user_p), len(item_c)
    if n_edges > n_user * n_item:
        raise SystemExit(f"--edges {n_edges} exceeds users * items = {n_user * n_item}")
    by_cluster = np.argsort(item_c, kind="stable")
    count = np.bincount(item_c, minlength=num_clusters)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    keys = np.zeros(0, dtype=np.int64)
    m = int(n_edges * 1.2) + 16
    while len(keys) < n_edges:
        u = rng.integers(0, n_user, m)
        v = rng.integers(0, n_item, m)
        k = user_p[u]
        inside = (rng.random(m) < P_IN) & (count[k] > 0)
        kk = k[inside]
        pick = (rng.random(len(kk)) * count[kk]).astype(np.int64)
        v[inside] = by_cluster[start[kk] + pick]
        keys = np.sort(np.concatenate([keys, u.astype(np.int64) * n_item + v]))
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]  # distinct; np.unique is ~10x slower
        m = 2 * m
    keys = rng.permutation(keys)[:n_edges]
    return keys // n_item, keys % n_item


def write_dataset(out: str, n_user: int, n_item: int, n_edges: int, dim: int, seed: int = 0) -> int:
    """Write the tables, split files and ``gconstruct.json`` under ``out``; returns the edge count."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(out, "split"), exist_ok=True)
    mu = rng.normal(size=(NUM_CLUSTERS, dim)).astype(np.float32)
    item_c = rng.integers(0, NUM_CLUSTERS, n_item)
    user_p = rng.integers(0, NUM_CLUSTERS, n_user)
    item_feat = SIGNAL * mu[item_c] + rng.standard_normal((n_item, dim), dtype=np.float32)
    user_feat = SIGNAL * mu[user_p] + rng.standard_normal((n_user, dim), dtype=np.float32)
    src, dst = sample_edges(rng, user_p, item_c, n_edges, NUM_CLUSTERS)
    del user_p

    user_ids, item_ids = string_ids("u", n_user), string_ids("i", n_item)
    pq.write_table(pa.table({"nid": user_ids, "feat": list_column(user_feat)}),
                   os.path.join(out, "nodes_user.parquet"))
    pq.write_table(pa.table({"nid": item_ids, "feat": list_column(item_feat),
                             "label": pa.array((item_c % NUM_CLASSES).astype(np.int64))}),
                   os.path.join(out, "nodes_item.parquet"))
    del user_feat, item_feat
    src_ids, dst_ids = pc.take(user_ids, pa.array(src)), pc.take(item_ids, pa.array(dst))
    del src, dst
    pq.write_table(pa.table({"src": src_ids, "dst": dst_ids}), os.path.join(out, "edges_rates.parquet"))

    # node split over items, 80/10/10 (sorted IDs); edge split 80/10/10 (edges are shuffled)
    perm = rng.permutation(n_item)
    n_tr, n_va = int(0.8 * n_item), int(0.1 * n_item)
    for name, rows in (("train", perm[:n_tr]), ("val", perm[n_tr:n_tr + n_va]), ("test", perm[n_tr + n_va:])):
        pq.write_table(pa.table({"nid": pc.take(item_ids, pa.array(np.sort(rows)))}),
                       os.path.join(out, "split", f"nc_{name}.parquet"))
    e = len(src_ids)
    e_tr, e_va = int(0.8 * e), int(0.1 * e)
    for name, lo, hi in (("train", 0, e_tr), ("val", e_tr, e_tr + e_va), ("test", e_tr + e_va, e)):
        pq.write_table(pa.table({"src": src_ids.slice(lo, hi - lo), "dst": dst_ids.slice(lo, hi - lo)}),
                       os.path.join(out, "split", f"lp_{name}.parquet"))

    with open(os.path.join(out, "gconstruct.json"), "w", encoding="utf-8") as f:
        json.dump(gconstruct_config(), f, indent=1)
    return e


def gconstruct_config() -> dict:
    """shared/bench/graphstorm-configs/gconstruct_conf.json, as GraphStorm ran it."""
    feat = [{"feature_col": "feat", "feature_name": "feat", "out_dtype": "float32"}]
    parquet = {"name": "parquet"}
    return {
        "version": "gconstruct-v0.1",
        "nodes": [
            {"node_type": "user", "node_id_col": "nid", "format": parquet, "files": ["nodes_user.parquet"],
             "features": feat},
            {"node_type": "item", "node_id_col": "nid", "format": parquet, "files": ["nodes_item.parquet"],
             "features": feat,
             "labels": [{"label_col": "label", "task_type": "classification",
                         "custom_split_filenames": {"train": "split/nc_train.parquet", "valid": "split/nc_val.parquet",
                                                    "test": "split/nc_test.parquet", "column": ["nid"]},
                         "label_stats_type": "frequency_cnt"}]},
        ],
        "edges": [
            {"relation": ["user", "rates", "item"], "source_id_col": "src", "dest_id_col": "dst",
             "format": parquet, "files": ["edges_rates.parquet"],
             "labels": [{"task_type": "link_prediction",
                         "custom_split_filenames": {"train": "split/lp_train.parquet", "valid": "split/lp_val.parquet",
                                                    "test": "split/lp_test.parquet", "column": ["src", "dst"]}}]},
        ],
    }


# --- timing -------------------------------------------------------------------

def run_construct(conf: str, out_dir: str, log_path: str) -> tuple[float, float]:
    """Run ``graphkit construct --add-reverse-edges`` in a child process: (wall seconds, peak RSS MB)."""
    cmd = [sys.executable, "-m", "graphkit", "construct", "--conf-file", conf, "--output-dir", out_dir,
           "--add-reverse-edges"]
    with open(log_path, "w", encoding="utf-8") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        with open(log_path, encoding="utf-8") as f:
            sys.stderr.write(f.read())
        raise SystemExit(f"graphkit construct failed with exit code {proc.returncode}: {' '.join(cmd)}")
    # ru_maxrss is in KiB on Linux, bytes on macOS
    rss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return wall, rss_mb


def phase_lines(log_path: str) -> list[str]:
    """The construction log lines that carry timings."""
    with open(log_path, encoding="utf-8") as f:
        return [line.rstrip() for line in f if re.search(r"\d+\.\d+s\b", line)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=5000, help="Number of user nodes (default: 5000).")
    ap.add_argument("--items", type=int, default=5000, help="Number of item nodes (default: 5000).")
    ap.add_argument("--edges", type=int, default=100000, help="Number of user-rates-item edges (default: 100000).")
    ap.add_argument("--feat-dim", type=int, default=16, help="Feature dimension (default: 16).")
    ap.add_argument("--repeats", type=int, default=3,
                    help="Timed construction runs; the median is reported (default: 3).")
    ap.add_argument("--seed", type=int, default=0, help="Data generation seed (default: 0).")
    ap.add_argument("--workdir", default=None, help="Where to write tables and graphs (default: a temporary folder).")
    ap.add_argument("--keep", action="store_true", help="Keep the work folder (always kept when --workdir is given).")
    a = ap.parse_args()
    if a.repeats < 1 or min(a.users, a.items, a.edges, a.feat_dim) < 1:
        ap.error("--users, --items, --edges, --feat-dim and --repeats must be >= 1")

    work = a.workdir or tempfile.mkdtemp(prefix="graphkit-bench-construct-")
    os.makedirs(work, exist_ok=True)
    try:
        tables = os.path.join(work, "tables")
        t0 = time.perf_counter()
        n_edges = write_dataset(tables, a.users, a.items, a.edges, a.feat_dim, a.seed)
        print(f"generated {a.users:,} users, {a.items:,} items, {n_edges:,} edges (string IDs) "
              f"in {time.perf_counter() - t0:.1f}s under {tables}", flush=True)
        conf = os.path.join(tables, "gconstruct.json")
        times, rss = [], []
        for i in range(a.repeats):
            out = os.path.join(work, "graph")
            log_path = os.path.join(work, f"construct-{i}.log")
            load = os.getloadavg()[0]  # other processes on the machine skew wall times
            wall, peak = run_construct(conf, out, log_path)
            times.append(wall)
            rss.append(peak)
            print(f"run {i + 1}/{a.repeats}: {wall:.2f}s, peak RSS {peak:.0f} MB, "
                  f"{n_edges / wall:,.0f} edges/s (load average before: {load:.1f})", flush=True)
            for line in phase_lines(log_path):
                print(f"    {line}")
        med = statistics.median(times)
        if a.workdir is None and a.keep:
            print(f"kept {work}")
        print(f"construct_s={med:.3f} edges={n_edges} edges_per_s={n_edges / med:.1f} peak_rss_mb={max(rss):.1f}")
    finally:
        if a.workdir is None and not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
