"""The ``graphkit partition`` stage: assign nodes, measure, write the partitions atomically."""

from __future__ import annotations

import logging
import os
import shutil
import time

from graphkit import __version__
from graphkit.errors import GraphkitError
from graphkit.partition.assignment import METHODS, Assignment
from graphkit.partition.layout import PartitionPlan
from graphkit.partition.meta import PARTITION_FILE, SOURCE_GRAPH_FILE, PartitionSetMeta, write_partition_meta
from graphkit.partition.metrics import partition_metrics
from graphkit.partition.writer import write_partitions
from graphkit.schema.graph_meta import META_FILE
from graphkit.storage.atomic import atomic_output_dir
from graphkit.storage.graph import Graph
from graphkit.storage.graph_writer import ArrayWriter
from graphkit.storage.paths import safe_name

log = logging.getLogger(__name__)


def assign(graph: Graph, num_parts: int, method: str = "metis", seed: int = 0) -> Assignment:
    """The partition of every node, by ``method`` (``metis`` or ``random``)."""
    if method == "metis":
        from graphkit.partition.metis import metis_assign

        return metis_assign(graph, num_parts, seed)
    if method == "random":
        from graphkit.partition.random import random_assign

        return random_assign(graph, num_parts, seed)
    raise GraphkitError(f"unknown partition method '{method}'.", hint=f"Choose one of: {', '.join(METHODS)}.")


def partition_graph(graph_dir: str, output_dir: str, num_parts: int, method: str = "metis",
                    seed: int = 0) -> PartitionSetMeta:
    """Partition the graph in ``graph_dir`` into ``num_parts`` graph directories under ``output_dir``."""
    if num_parts < 1:
        raise GraphkitError(f"--num-parts must be >= 1, got {num_parts}.")
    if method not in METHODS:
        raise GraphkitError(f"unknown partition method '{method}'.", hint=f"Choose one of: {', '.join(METHODS)}.")
    graph = Graph(graph_dir)
    if graph.meta.partition is not None:
        raise GraphkitError("this graph directory is already one partition of a graph.", file=graph_dir,
                            hint="Partition the original graph instead.")
    total = sum(graph.num_nodes(t) for t in graph.node_types)
    if num_parts > total:
        raise GraphkitError(f"cannot split a graph of {total} node(s) into {num_parts} partitions.",
                            file=graph_dir, hint="Use fewer --num-parts.")
    t0 = time.perf_counter()
    log.info("partitioning %s into %d part(s) with %s (seed %d)", graph.root, num_parts, method, seed)
    a = assign(graph, num_parts, method, seed)
    t1 = time.perf_counter()
    m = partition_metrics(graph, a.node_part, num_parts)
    log.info("assignment in %.1fs: edge cut %.4f, worst balance %.3f", t1 - t0, m.edge_cut, m.worst_balance)
    with atomic_output_dir(output_dir, markers=(PARTITION_FILE,)) as tmp:
        w = ArrayWriter(tmp)
        node_part = {t: w.save(f"node_part/{safe_name(t)}.npy", p) for t, p in a.node_part.items()}
        shutil.copyfile(os.path.join(graph.root, META_FILE), os.path.join(tmp, SOURCE_GRAPH_FILE))
        parts = write_partitions(PartitionPlan(graph, a.node_part, num_parts), tmp)
        t2 = time.perf_counter()
        meta = PartitionSetMeta(
            graph_name=graph.meta.graph_name, num_parts=num_parts, method=method, seed=seed,
            source_graph_dir=graph.root, source_graph_meta=SOURCE_GRAPH_FILE, node_part=node_part, parts=parts,
            edge_cut=m.edge_cut, balance=m.balance, counts=m.counts, edge_cut_per_etype=m.edge_cut_per_etype,
            details={**a.details, "assign_s": round(t1 - t0, 3), "write_s": round(t2 - t1, 3),
                     "graphkit_version": __version__,
                     "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        )
        write_partition_meta(tmp, meta)
    log.info("%d partition(s) written to %s in %.1fs", num_parts, output_dir, time.perf_counter() - t0)
    return meta
