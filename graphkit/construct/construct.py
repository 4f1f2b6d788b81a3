"""``graphkit construct``: transform + idmap in one process, without the intermediate files."""

from __future__ import annotations

import logging
import os
import time
from typing import Optional

from graphkit.construct.idmap_stage import build_graph
from graphkit.construct.transform_stage import transform_graph
from graphkit.errors import GraphkitError
from graphkit.partition.assignment import METHODS
from graphkit.schema.gconstruct import load_graph_config
from graphkit.schema.graph_meta import GraphMeta

log = logging.getLogger(__name__)


PARTITIONS_DIR = "partitions"  # with --num-parts > 1: <output-dir>/partitions, beside the whole graph


def construct_graph(conf_file: str, output_dir: str, graph_name: str, input_dir: Optional[str] = None,
                    add_reverse_edges: bool = False, skip_nonexist_edges: bool = False, seed: int = 0,
                    num_parts: int = 1, part_method: str = "metis",
                    reuse_transforms: Optional[str] = None) -> GraphMeta:
    """Build a graph directory from the tables described by ``conf_file``.

    Relative file paths in the config are looked up in ``input_dir`` (default:
    the config file's folder), then in the working directory. With
    ``num_parts > 1`` the graph is then partitioned into ``output_dir/partitions``.
    With ``reuse_transforms`` (a trained graph's directory) its fitted transforms are
    applied instead of fitting new ones (:mod:`graphkit.construct.reuse`).
    """
    if num_parts < 1:
        raise GraphkitError(f"--num-parts must be >= 1, got {num_parts}.")
    if part_method not in METHODS:
        raise GraphkitError(f"unknown partition method '{part_method}'.", hint=f"Choose one of: {', '.join(METHODS)}.")
    t0 = time.perf_counter()
    cfg = load_graph_config(conf_file)
    base = input_dir if input_dir is not None else os.path.dirname(os.path.abspath(conf_file))
    reuse = None
    if reuse_transforms is not None:
        from graphkit.construct.reuse import load_saved_transforms

        reuse = load_saved_transforms(reuse_transforms)
    tg = transform_graph(cfg, base, seed=seed, reuse=reuse)
    log.info("transform done in %.1fs", time.perf_counter() - t0)
    meta = build_graph(tg, output_dir, graph_name, add_reverse_edges=add_reverse_edges,
                       skip_nonexist_edges=skip_nonexist_edges)
    if num_parts > 1:
        from graphkit.partition.stage import partition_graph

        partition_graph(output_dir, os.path.join(output_dir, PARTITIONS_DIR), num_parts, method=part_method, seed=seed)
    return meta
