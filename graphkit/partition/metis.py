"""METIS k-way partitioning of the homogenized graph, balancing every constraint at once.

pymetis (2025.2) always hands METIS ``ncon = 1``: multi-column ``vweights``
given to ``pymetis.part_graph`` are silently read as one column. METIS itself
balances several constraints, and the extension module pymetis ships exports
its C API, so :func:`kway_partition` calls ``METIS_PartGraphKway`` from that
library through ctypes with ``ncon`` set (no copies: numpy arrays of METIS's
``idx_t``). A pymetis build without those symbols falls back to
``pymetis.part_graph`` with the first constraint only, and says so.
"""

from __future__ import annotations

import ctypes
import logging
import time
from functools import lru_cache
from typing import Any, Optional

import numpy as np

from graphkit.partition.assignment import Assignment
from graphkit.partition.constraints import balance_constraints
from graphkit.partition.homogenize import homogenize
from graphkit.storage.graph import Graph

log = logging.getLogger(__name__)

_METIS_OK = 1
_METIS_ERRORS = {-2: "input error", -3: "out of memory", -4: "error"}
_OPTIONS_LEN = 64  # >= METIS_NOPTIONS (40 in METIS 5.1/5.2); METIS reads only its own


@lru_cache(maxsize=1)
def _metis_c_api() -> Optional[tuple[Any, Any, Any]]:
    """``(METIS_PartGraphKway, METIS_SetDefaultOptions, option indices)`` from pymetis's library, if exported."""
    from pymetis import _internal

    try:
        lib = ctypes.CDLL(_internal.__file__)
        kway, defaults = lib.METIS_PartGraphKway, lib.METIS_SetDefaultOptions
    except (OSError, AttributeError):
        return None
    kway.argtypes = [ctypes.c_void_p] * 13
    kway.restype = ctypes.c_int
    defaults.argtypes = [ctypes.c_void_p]
    defaults.restype = ctypes.c_int
    return kway, defaults, _internal.options_indices


def idx_dtype() -> np.dtype:
    """METIS's ``idx_t`` in the installed pymetis (int64 in the PyPI wheels)."""
    import pymetis

    return pymetis.zero_copy_dtype()


def kway_partition(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, num_parts: int,
                   seed: int = 0) -> tuple[np.ndarray, int]:
    """Partition a symmetric simple graph (CSR) into ``num_parts``, balancing each column of ``weights``.

    Returns the part of every vertex (int32) and METIS's edge cut (undirected edges).
    """
    n = len(indptr) - 1
    if num_parts == 1:
        return np.zeros(n, dtype=np.int32), 0
    idx = idx_dtype()
    xadj = np.ascontiguousarray(indptr, dtype=idx)
    adjncy = np.ascontiguousarray(indices, dtype=idx)
    vwgt = np.ascontiguousarray(weights, dtype=idx)
    api = _metis_c_api()
    if api is None:
        import pymetis

        log.warning("this pymetis does not export METIS_PartGraphKway: balancing only '%s' (column 0) "
                    "instead of all %d constraints", "node count", vwgt.shape[1])
        res = pymetis.part_graph(num_parts, pymetis.CSRAdjacency(xadj, adjncy),
                                 vweights=np.ascontiguousarray(vwgt[:, 0]), recursive=False,
                                 options=pymetis.Options(seed=seed))
        return np.asarray(res.vertex_part, dtype=np.int32), int(res.edge_cuts)
    kway, defaults, opt = api
    options = np.zeros(_OPTIONS_LEN, dtype=idx)
    defaults(options.ctypes.data)
    options[opt.SEED] = seed
    options[opt.NUMBERING] = 0
    nvtxs, ncon, nparts = (np.array([v], dtype=idx) for v in (n, vwgt.shape[1], num_parts))
    edgecut = np.zeros(1, dtype=idx)
    part = np.zeros(n, dtype=idx)
    status = kway(nvtxs.ctypes.data, ncon.ctypes.data, xadj.ctypes.data, adjncy.ctypes.data, vwgt.ctypes.data,
                  None, None, nparts.ctypes.data, None, None, options.ctypes.data, edgecut.ctypes.data,
                  part.ctypes.data)
    if status != _METIS_OK:
        raise RuntimeError(f"METIS_PartGraphKway failed: {_METIS_ERRORS.get(status, status)}")
    return part.astype(np.int32), int(edgecut[0])


def metis_assign(graph: Graph, num_parts: int, seed: int = 0) -> Assignment:
    t0 = time.perf_counter()
    hom = homogenize(graph)
    cons = balance_constraints(graph, hom)
    t1 = time.perf_counter()
    log.info("METIS input: %d nodes, %d undirected edges, %d balance constraints (%s) in %.1fs",
             hom.num_nodes, len(hom.indices) // 2, len(cons.names), ", ".join(cons.names), t1 - t0)
    part, cut = kway_partition(hom.indptr, hom.indices, cons.weights, num_parts, seed)
    t2 = time.perf_counter()
    log.info("METIS k-way into %d parts: %d undirected edges cut, %.1fs", num_parts, cut, t2 - t1)
    node_part = {t: p.copy() for t, p in hom.split(part).items()}
    details = {"constraints": cons.names, "metis_objective_cut": cut,
               "homogenize_s": round(t1 - t0, 3), "metis_s": round(t2 - t1, 3)}
    return Assignment(num_parts=num_parts, method="metis", node_part=node_part, details=details)
