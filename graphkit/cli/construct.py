"""``graphkit construct`` / ``transform`` / ``idmap``: tables -> graph directory."""

from __future__ import annotations

import argparse
import os

from graphkit.construct.summary import describe
from graphkit.partition.assignment import METHODS


def _common_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conf-file", required=True,
                   help="GraphStorm gconstruct-v0.1 JSON describing node and edge tables.")
    p.add_argument("--input-dir", default=None,
                   help="Folder that relative file paths in the config are relative to "
                        "(default: the config file's folder; the working directory is tried next).")
    p.add_argument("--seed", type=int, default=0, help="Seed for random train/val/test splits (default: 0).")
    p.add_argument("--reuse-transforms", default=None, metavar="GRAPH_DIR",
                   help="Apply the fitted transforms, label metadata and edge-only ID maps of this trained graph "
                        "instead of fitting new ones: for new tables at inference time (default: fit).")


def _common_graph(p: argparse.ArgumentParser) -> None:
    p.add_argument("--graph-name", default="graph", help="Name recorded in graph.json (default: graph).")
    p.add_argument("--add-reverse-edges", action="store_true",
                   help="Add an edge type (dst, REL-rev, src) for every edge type; it shares the forward "
                        "type's arrays, features and split masks, so evaluation never leaks through it.")
    p.add_argument("--skip-nonexist-edges", action="store_true",
                   help="Drop edges whose endpoints are not in the node tables (default: error).")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("construct", help="Build a graph from tables (transform + idmap).",
                       description="Build a graph directory from CSV/Parquet/JSON tables described by a "
                                   "GraphStorm gconstruct JSON config: feature transformation, then ID mapping.")
    _common_input(p)
    p.add_argument("--output-dir", required=True, help="Graph directory to write (replaced atomically).")
    _common_graph(p)
    p.add_argument("--num-parts", type=int, default=1,
                   help="Number of partitions; above 1 the graph is also partitioned into "
                        "OUTPUT_DIR/partitions, as `graphkit partition` does (default: 1).")
    p.add_argument("--part-method", default="metis", choices=METHODS,
                   help="Partitioning method when --num-parts > 1 (default: metis).")
    p.set_defaults(run=run_construct)

    p = sub.add_parser("transform", help="Stage 1: fit and apply feature/label transforms.",
                       description="Read the tables, fit and apply feature and label transforms and splits, "
                                   "and write transformed per-type data with raw IDs for `graphkit idmap`.")
    _common_input(p)
    p.add_argument("--output-dir", required=True, help="Directory for the transformed data.")
    p.set_defaults(run=run_transform)

    p = sub.add_parser("idmap", help="Stage 2: map raw IDs to integers and build the graph.",
                       description="Map raw node IDs to contiguous integers per node type, resolve edge "
                                   "endpoints, build CSR/CSC structure and write the graph directory.")
    p.add_argument("--input-dir", required=True, help="Output of `graphkit transform`.")
    p.add_argument("--output-dir", required=True, help="Graph directory to write (replaced atomically).")
    _common_graph(p)
    p.set_defaults(run=run_idmap)


def run_construct(args: argparse.Namespace) -> int:
    from graphkit.construct.construct import construct_graph

    meta = construct_graph(args.conf_file, args.output_dir, args.graph_name, input_dir=args.input_dir,
                           add_reverse_edges=args.add_reverse_edges, skip_nonexist_edges=args.skip_nonexist_edges,
                           seed=args.seed, num_parts=args.num_parts, part_method=args.part_method,
                           reuse_transforms=args.reuse_transforms)
    print(describe(meta))
    print(f"graph written to {os.path.abspath(args.output_dir)}")
    if args.num_parts > 1:
        from graphkit.construct.construct import PARTITIONS_DIR
        from graphkit.partition.meta import read_partition_meta
        from graphkit.partition.summary import describe_partitions

        parts_dir = os.path.join(args.output_dir, PARTITIONS_DIR)
        print(describe_partitions(read_partition_meta(parts_dir)))
        print(f"partitions written to {os.path.abspath(parts_dir)}")
    return 0


def run_transform(args: argparse.Namespace) -> int:
    from graphkit.construct.transform_stage import transform_graph, write_transformed
    from graphkit.schema.gconstruct import load_graph_config

    cfg = load_graph_config(args.conf_file)
    base = args.input_dir if args.input_dir is not None else os.path.dirname(os.path.abspath(args.conf_file))
    reuse = None
    if args.reuse_transforms is not None:
        from graphkit.construct.reuse import load_saved_transforms

        reuse = load_saved_transforms(args.reuse_transforms)
    tg = transform_graph(cfg, base, seed=args.seed, reuse=reuse)
    write_transformed(tg, args.output_dir)
    print(f"transformed data written to {os.path.abspath(args.output_dir)}")
    return 0


def run_idmap(args: argparse.Namespace) -> int:
    from graphkit.construct.idmap_stage import build_graph
    from graphkit.construct.transform_stage import read_transformed

    tg = read_transformed(args.input_dir)
    meta = build_graph(tg, args.output_dir, args.graph_name, add_reverse_edges=args.add_reverse_edges,
                       skip_nonexist_edges=args.skip_nonexist_edges)
    print(describe(meta))
    print(f"graph written to {os.path.abspath(args.output_dir)}")
    return 0
