#!/usr/bin/env python
"""Control-variate sampling vs plain neighbour sampling, node classification on the peer graph.

    python benchmarks/control_variate.py [--seeds 3]

Trains GraphStorm's ``nc.yaml`` (RGCN, 2 layers, hidden 128) on the peer graph
(``../shared/bench``) three ways: plain sampling with GraphStorm's fanout 10,10;
plain sampling with fanout 2,2; and control-variate sampling with fanout 2,2
(``--control-variate true --fanout 2,2``). Evaluation always uses full
neighbourhoods. Prints per-variant medians and, last:

    plain_epoch_s=<float> plain_acc=<float> cv_epoch_s=<float> cv_acc=<float> small_epoch_s=<float> small_acc=<float>
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(ROOT))

from graphkit.construct.construct import construct_graph  # noqa: E402
from graphkit.storage.graph import Graph  # noqa: E402
from graphkit.training.config import load_train_config  # noqa: E402
from graphkit.training.trainer import Trainer  # noqa: E402

VARIANTS = {"plain": {}, "cv": {"control_variate": True, "fanout": "2,2"}, "small": {"fanout": "2,2"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    if not (BENCH / "gen_peer_graph.py").exists():
        raise SystemExit(f"the peer graph generator is not at {BENCH}")
    with tempfile.TemporaryDirectory(prefix="graphkit-cv-") as work:
        tables = os.path.join(work, "tables")
        subprocess.run([sys.executable, str(BENCH / "gen_peer_graph.py"), "--out", tables], check=True,
                       stdout=subprocess.DEVNULL)
        graph = os.path.join(work, "graph")
        construct_graph(str(BENCH / "graphstorm-configs" / "gconstruct_conf.json"), graph, "peer", input_dir=tables,
                        add_reverse_edges=True)
        out = {}
        for name, overrides in VARIANTS.items():
            epochs, accs = [], []
            for seed in range(args.seeds):
                cfg = load_train_config(str(BENCH / "graphstorm-configs" / "nc.yaml"), {**overrides, "seed": seed})
                with contextlib.redirect_stderr(open(os.devnull, "w")):
                    m = Trainer(Graph(graph), cfg, None).fit()
                epochs.append(statistics.median(m["epoch_times_s"]))
                accs.append(m["test"]["accuracy"])
            out[name] = (statistics.median(epochs), statistics.mean(accs))
            print(f"{name} {overrides}: epoch {out[name][0]:.3f}s, test accuracy {out[name][1]:.4f} "
                  f"({[round(a, 3) for a in accs]})", flush=True)
    print(" ".join(f"{k}_epoch_s={v[0]:.3f} {k}_acc={v[1]:.4f}" for k, v in out.items()))


if __name__ == "__main__":
    main()
