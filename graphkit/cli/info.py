"""``graphkit info``: summarise a graph directory."""

from __future__ import annotations

import argparse

from graphkit.construct.summary import describe
from graphkit.schema.graph_meta import read_graph_meta


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="Print a summary of a graph directory.",
                       description="Print node/edge types, counts, features, labels and splits of a graph.")
    p.add_argument("graph_dir", help="A directory written by `graphkit construct`.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    print(describe(read_graph_meta(args.graph_dir)))
    return 0
