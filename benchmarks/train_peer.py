#!/usr/bin/env python
"""Training speed on the GraphStorm comparison graph, with GraphStorm's own YAMLs, end to end.

    python benchmarks/train_peer.py [--repeats 3]

Generates the peer graph (``../shared/bench/gen_peer_graph.py``), constructs it
with GraphStorm's gconstruct JSON and ``--add-reverse-edges``, then runs
``graphkit train`` as a fresh process for ``nc.yaml`` and ``lp.yaml`` (leak-free
LP, graphkit's default). ``nc_total_s`` is process start to ``metrics.json``
written; epoch times are the medians of the runs' per-epoch times. Last line:

    nc_total_s=<float> nc_epoch_s=<float> nc_test_acc=<float> lp_epoch_s=<float> lp_test_mrr=<float>

GraphStorm 0.5.1 on this machine: NC 47-49 s end to end, ~0.75 s/epoch, accuracy
0.834-0.870; LP ~25 s/epoch, MRR 0.242-0.244 (leaky) / 0.173 (leak-free).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"


def graphkit(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "graphkit.cli.main", "--log-level", "warning", *args], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-lp", action="store_true")
    args = ap.parse_args()
    if not (BENCH / "gen_peer_graph.py").exists():
        raise SystemExit(f"the peer graph generator is not at {BENCH}")
    with tempfile.TemporaryDirectory(prefix="graphkit-train-peer-") as work:
        tables, graph = os.path.join(work, "tables"), os.path.join(work, "graph")
        subprocess.run([sys.executable, str(BENCH / "gen_peer_graph.py"), "--out", tables], check=True,
                       stdout=subprocess.DEVNULL)
        graphkit("construct", "--conf-file", str(BENCH / "graphstorm-configs" / "gconstruct_conf.json"),
                 "--input-dir", tables, "--output-dir", graph, "--add-reverse-edges")
        graphkit("info", graph)  # warm the numba cache so runs measure steady-state start-up
        results: dict[str, list[dict]] = {"nc": [], "lp": []}
        for task in ("nc", "lp"):
            if task == "lp" and args.skip_lp:
                continue
            for r in range(args.repeats):
                model = os.path.join(work, f"{task}-{r}")
                wall = graphkit("train", "--part-config", graph,
                                "--cf", str(BENCH / "graphstorm-configs" / f"{task}.yaml"),
                                "--save-model-path", model, "--seed", str(r))
                with open(os.path.join(model, "metrics.json"), encoding="utf-8") as f:
                    m = json.load(f)
                m["wall_s"] = wall
                results[task].append(m)
                metric = "accuracy" if task == "nc" else "mrr"
                print(f"{task} run {r}: {wall:.1f}s end to end, epochs {[round(x, 2) for x in m['epoch_times_s']]}, "
                      f"eval {statistics.median(m['eval_times_s']):.2f}s, test {metric} {m['test'][metric]:.4f}, "
                      f"peak RSS {m['peak_rss_mb']:.0f} MB", flush=True)

    def med(task: str, fn) -> float:
        vals = [fn(m) for m in results[task]]
        return statistics.median(vals) if vals else float("nan")

    print(f"nc_total_s={med('nc', lambda m: m['wall_s']):.2f} "
          f"nc_epoch_s={med('nc', lambda m: statistics.median(m['epoch_times_s'])):.3f} "
          f"nc_test_acc={med('nc', lambda m: m['test']['accuracy']):.4f} "
          f"lp_epoch_s={med('lp', lambda m: statistics.median(m['epoch_times_s'])):.3f} "
          f"lp_test_mrr={med('lp', lambda m: m['test']['mrr']):.4f}")


if __name__ == "__main__":
    main()
