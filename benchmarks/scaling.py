#!/usr/bin/env python
"""Training throughput with 1 and 2 trainer processes on the GraphStorm peer graph, and memory per process.

    python benchmarks/scaling.py                                          # 1M users, 1M items, 20M edges
    python benchmarks/scaling.py --users 50000 --items 50000 --edges 1000000 --repeats 1

Generates the peer graph (``../shared/bench/gen_peer_graph.py``), constructs it
with GraphStorm's ``gconstruct_conf.json`` and ``--add-reverse-edges``, then
trains GraphStorm's ``nc.yaml`` (RGCN, 2 layers, hidden 128, fanout 10,10,
batch 512) with ``--no-validation true`` for ``--epochs`` epochs:

- 1 process: ``graphkit train`` (torch uses every core);
- 2 processes: ``torchrun --standalone --nproc-per-node=2 -m graphkit.cli.main
  train`` (gloo; each rank trains on half the seeds, the graph is mapped from
  one copy in ``/dev/shm``; torchrun gives each rank one OpenMP thread).

Throughput is measured by the training loop itself: training seeds (the
item train mask) / epoch time from ``metrics.json`` (``epoch_times_s``,
median over the epochs after the first, which also pays page faults and
warm-up; then the median over ``--repeats``, run interleaved). ``--max-steps S`` keeps it
affordable: the node-classification train split is cut to ``S x 512`` items
before construction, so one process runs at most ``S`` steps per epoch.

Memory: every 0.2 s the benchmark reads ``/proc/<pid>/smaps_rollup`` of each
trainer process: peak RSS (counts the shared graph pages in every process
that touched them), peak PSS (shared pages divided among the processes
sharing them) and the shared part of RSS. Last line:

    procs1_seeds_per_s=<float> procs2_seeds_per_s=<float> rss_mb_per_proc=<float>

``rss_mb_per_proc``: the largest peak RSS of one trainer process in the
2-process runs (median over repeats).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"
CONFIGS = BENCH / "graphstorm-configs"
BATCH = 512  # nc.yaml's batch_size


# --- the graph ------------------------------------------------------------------

def graphkit_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "graphkit.cli.main", "--log-level", "warning", *args]


def build_peer_graph(work: str, users: int, items: int, edges: int, max_steps: int | None, seed: int = 0) -> str:
    """Generate the peer tables and construct them; returns the graph folder."""
    if not (BENCH / "gen_peer_graph.py").exists():
        raise SystemExit(f"the peer graph generator is not at {BENCH}")
    tables, graph = os.path.join(work, "tables"), os.path.join(work, "graph")
    t = time.perf_counter()
    subprocess.run([sys.executable, str(BENCH / "gen_peer_graph.py"), "--out", tables, "--n-user", str(users),
                    "--n-item", str(items), "--n-edges", str(edges), "--seed", str(seed)], check=True,
                   stdout=subprocess.DEVNULL)
    if max_steps:
        split = os.path.join(tables, "split", "nc_train.parquet")
        table = pq.read_table(split)
        pq.write_table(table.slice(0, min(table.num_rows, max_steps * BATCH)), split)
    print(f"generated {users:,} users, {items:,} items, {edges:,} edges in {time.perf_counter() - t:.1f}s", flush=True)
    t = time.perf_counter()
    subprocess.run(graphkit_cmd("construct", "--conf-file", str(CONFIGS / "gconstruct_conf.json"), "--input-dir",
                                tables, "--output-dir", graph, "--graph-name", "peer", "--add-reverse-edges"),
                   check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    print(f"constructed in {time.perf_counter() - t:.1f}s", flush=True)
    shutil.rmtree(tables, ignore_errors=True)
    return graph


def train_seeds(graph: str) -> int:
    from graphkit.storage.graph import Graph

    g = Graph(graph)
    mask = g.meta.node_type("item").labels["label"].mask_names[0]
    return int(np.asarray(g.node_mask("item", mask)).astype(bool).sum())


# --- memory of running processes --------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", encoding="ascii") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _rollup_mb(pid: int) -> dict[str, float]:
    """Rss, Pss and the shared part of Rss of ``pid`` in MB (empty if it has exited)."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Rss", "Pss", "Shared_Clean", "Shared_Dirty"):
                    out[k] = int(v.split()[0]) / 1024.0
    except OSError:
        return {}
    out["Shared"] = out.pop("Shared_Clean", 0.0) + out.pop("Shared_Dirty", 0.0)
    return out


@dataclass
class MemoryWatch:
    """Peak Rss/Pss/Shared of each trainer process: ``root`` itself, or its children (torchrun's ranks)."""

    root: int
    children: bool
    peaks: dict[int, dict[str, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            for pid in (_children(self.root) if self.children else [self.root]):
                now = _rollup_mb(pid)
                peak = self.peaks.setdefault(pid, {})
                for k, v in now.items():
                    peak[k] = max(peak.get(k, 0.0), v)

    def stop(self) -> list[dict[str, float]]:
        self._stop.set()
        self._thread.join()
        return [p for p in self.peaks.values() if p]


# --- one training run -------------------------------------------------------------

def train(graph: str, out: str, procs: int, epochs: int, extra: list[str]) -> tuple[dict, list[dict[str, float]]]:
    args = ["train", "--part-config", graph, "--cf", str(CONFIGS / "nc.yaml"), "--save-model-path", out,
            "--num-epochs", str(epochs), "--no-validation", "true", *extra]
    if procs == 1:
        cmd = graphkit_cmd(*args)
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
               *graphkit_cmd(*args)[1:]]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watch = MemoryWatch(proc.pid, children=procs > 1)
    _, err = proc.communicate()
    mem = watch.stop()
    if proc.returncode != 0:
        raise SystemExit(f"training with {procs} process(es) failed:\n{err[-4000:]}")
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        return json.load(f), mem


def epoch_time(metrics: dict) -> float:
    times = metrics["epoch_times_s"]
    return statistics.median(times[1:] if len(times) > 1 else times)


def add_peer_graph_args(ap: argparse.ArgumentParser, nodes: int, edges: int, max_steps: int) -> None:
    """The options of a benchmark on the peer graph: its size, the runs, and where they are kept."""
    ap.add_argument("--users", type=int, default=nodes)
    ap.add_argument("--items", type=int, default=nodes)
    ap.add_argument("--edges", type=int, default=edges)
    ap.add_argument("--epochs", type=int, default=2, help="Epochs per run (default: 2; the first is not timed).")
    ap.add_argument("--max-steps", type=int, default=max_steps,
                    help=f"Cut the train split to this many batches of {BATCH} (default: {max_steps}; "
                         "0: the whole 80%%).")
    ap.add_argument("--repeats", type=int, default=1, help="Runs per setting (median; default: 1).")
    ap.add_argument("--graph", default=None, help="Reuse a constructed peer graph instead of building one.")
    ap.add_argument("--workdir", default=None, help="Keep the graph and runs here (default: a temporary folder).")


@contextlib.contextmanager
def peer_graph(args: argparse.Namespace, prefix: str) -> Iterator[tuple[str, str]]:
    """(work folder, graph folder) from :func:`add_peer_graph_args` options; a temporary work folder is removed."""
    work = args.workdir or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work, exist_ok=True)
    try:
        yield work, args.graph or build_peer_graph(work, args.users, args.items, args.edges, args.max_steps or None)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_peer_graph_args(ap, nodes=1_000_000, edges=20_000_000, max_steps=200)
    ap.add_argument("--procs", default="1,2", help="Process counts to run (default: 1,2).")
    ap.add_argument("--extra", default="", help="More `graphkit train` options, e.g. '--num-workers 1'.")
    args = ap.parse_args()

    with peer_graph(args, "graphkit-bench-scaling-") as (work, graph):
        seeds = train_seeds(graph)
        print(f"graph {graph}: {seeds:,} training seeds per epoch; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores", flush=True)
        rate: dict[int, list[float]] = {}
        rss: dict[int, list[float]] = {}
        for r in range(args.repeats):  # interleaved, so that a busy spell of the machine hits both alike
            for procs in (int(p) for p in args.procs.split(",")):
                m, mem = train(graph, os.path.join(work, f"run-{procs}-{r}"), procs, args.epochs, args.extra.split())
                dt = epoch_time(m)
                rate.setdefault(procs, []).append(seeds / dt)
                rss.setdefault(procs, []).append(max((p.get("Rss", 0.0) for p in mem), default=float("nan")))
                per = ", ".join(f"RSS {p.get('Rss', 0):.0f} / PSS {p.get('Pss', 0):.0f} / "
                                f"shared {p.get('Shared', 0):.0f}" for p in mem)
                print(f"{procs} process(es), run {r}: epochs {[round(x, 2) for x in m['epoch_times_s']]} s, "
                      f"{seeds / dt:,.0f} seeds/s; peak MB per process: {per}; "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)

        def med(d: dict[int, list[float]], k: int) -> float:
            return statistics.median(d[k]) if k in d else float("nan")

        print(f"procs1_seeds_per_s={med(rate, 1):.1f} procs2_seeds_per_s={med(rate, 2):.1f} "
              f"rss_mb_per_proc={med(rss, 2):.1f}")


if __name__ == "__main__":
    main()
