"""``graphkit construct``: transform + idmap in one process, without the intermediate files."""

from __future__ import annotations

import logging
import os
import time
from typing import Optional

from graphkit.construct.idmap_stage import build_graph
from graphkit.construct.transform_stage import transform_graph
from graphkit.errors import GraphkitError
from graphkit.schema.gconstruct import load_graph_config
from graphkit.schema.graph_meta import GraphMeta

log = logging.getLogger(__name__)


def construct_graph(conf_file: str, output_dir: str, graph_name: str, input_dir: Optional[str] = None,
                    add_reverse_edges: bool = False, skip_nonexist_edges: bool = False, seed: int = 0,
                    num_parts: int = 1) -> GraphMeta:
    """Build a graph directory from the tables described by ``conf_file``.

    Relative file paths in the config are looked up in ``input_dir`` (default:
    the config file's folder), then in the working directory.
    """
    if num_parts < 1:
        raise GraphkitError(f"--num-parts must be >= 1, got {num_parts}.")
    if num_parts > 1:
        raise GraphkitError("--num-parts > 1 needs the partitioning stage, which this graphkit version lacks.",
                            hint="Construct with --num-parts 1.")
    t0 = time.perf_counter()
    cfg = load_graph_config(conf_file)
    base = input_dir if input_dir is not None else os.path.dirname(os.path.abspath(conf_file))
    tg = transform_graph(cfg, base, seed=seed)
    log.info("transform done in %.1fs", time.perf_counter() - t0)
    return build_graph(tg, output_dir, graph_name, add_reverse_edges=add_reverse_edges,
                       skip_nonexist_edges=skip_nonexist_edges)
