"""Convert the shared public datasets to tables + gconstruct configs, then construct each graph.

    python examples/convert_public_datasets.py --data-dir ../shared/data --out-dir out/datasets \
        --datasets cora,citeseer,acm,citeseer-text

For each dataset NAME this writes OUT/NAME/tables/ (Parquet + gconstruct.json)
and OUT/NAME/graph/ (the constructed graph, with reverse edges), and prints a
summary of the graph.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable

from graphkit.construct.construct import construct_graph
from graphkit.construct.summary import describe
from graphkit.datasets.public import write_acm, write_citeseer_text, write_planetoid
from graphkit.errors import GraphkitError

WRITERS: dict[str, Callable[[str, str], str]] = {
    "cora": lambda data, out: write_planetoid(os.path.join(data, "planetoid"), "cora", out),
    "citeseer": lambda data, out: write_planetoid(os.path.join(data, "planetoid"), "citeseer", out),
    "acm": lambda data, out: write_acm(os.path.join(data, "acm"), out),
    "citeseer-text": lambda data, out: write_citeseer_text(os.path.join(data, "citeseer-text"), out),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default="../shared/data", help="The shared data folder (default: ../shared/data).")
    p.add_argument("--out-dir", default="out/datasets",
                   help="Where to write tables and graphs (default: out/datasets).")
    p.add_argument("--datasets", default=",".join(WRITERS),
                   help=f"Comma-separated datasets to convert (default: {','.join(WRITERS)}).")
    p.add_argument("--seed", type=int, default=0,
                   help="Construction seed; it fixes citeseer-text's random 60/20/20 split (default: 0).")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in WRITERS]
    if unknown:
        p.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(WRITERS)}.")
    try:
        for name in names:
            t0 = time.perf_counter()
            conf = WRITERS[name](args.data_dir, os.path.join(args.out_dir, name, "tables"))
            meta = construct_graph(conf, os.path.join(args.out_dir, name, "graph"), name, add_reverse_edges=True,
                                   seed=args.seed)
            print(describe(meta))
            print(f"  ({time.perf_counter() - t0:.1f}s; config {conf})\n")
    except GraphkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
