"""Public benchmark graphs (Cora, CiteSeer, ACM, CiteSeer with text) as tables + gconstruct configs.

Each ``write_*`` function reads one raw dataset from the shared data folder
(see ``../shared/data/README.md`` for the raw formats), writes Parquet tables
and ``gconstruct.json`` into ``out_dir`` and returns the config path. Build the
graph with::

    graphkit construct --conf-file OUT/gconstruct.json --output-dir G --add-reverse-edges

Features keep their raw values (no normalisation: a model config decides).
Integer node IDs are the datasets' own row numbers, written as node tables in
order, so node ``i`` of the graph is row ``i`` of the raw feature matrix.
Fixed splits are written as ``custom_split_filenames`` (Parquet files with a
``nid`` column), so they are reproduced exactly.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphkit.errors import InputDataError

CONFIG_FILE = "gconstruct.json"
PLANETOID_VAL = 500  # validation nodes follow the training nodes in allx order


# --- helpers ----------------------------------------------------------------------

def _float_lists(x: np.ndarray) -> pa.Array:
    """A dense ``(N, D)`` matrix as a ``list<float32>`` column."""
    offsets = pa.array(np.arange(0, x.shape[0] * x.shape[1] + 1, x.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(x, dtype=np.float32).reshape(-1)))


def _write(table: dict[str, Any], out_dir: str, name: str) -> str:
    pq.write_table(pa.table(table), os.path.join(out_dir, name))
    return name


def _split_files(out_dir: str, splits: dict[str, np.ndarray], prefix: str = "") -> dict:
    """Write ``{train,valid,test}`` node-ID files; returns the ``custom_split_filenames`` entry."""
    entry: dict[str, Any] = {}
    for part, ids in splits.items():
        entry[part] = [_write({"nid": np.asarray(ids, dtype=np.int64)}, out_dir, f"{prefix}{part}_nids.parquet")]
    entry["column"] = ["nid"]
    return entry


def _write_config(out_dir: str, nodes: list[dict], edges: list[dict]) -> str:
    path = os.path.join(out_dir, CONFIG_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": "gconstruct-v0.1", "nodes": nodes, "edges": edges}, f, indent=2)
    return path


def _parquet(files: list[str], **extra: Any) -> dict:
    return {"format": {"name": "parquet"}, "files": files, **extra}


def _undirected_once(pairs: np.ndarray) -> np.ndarray:
    """Distinct unordered pairs of an ``(E, 2)`` array, self-loops dropped, each as (lower, higher), sorted."""
    rest = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(np.sort(rest, axis=1), axis=0)


def _need(path: str) -> str:
    if not os.path.exists(path):
        raise InputDataError("raw dataset file not found.", file=path,
                             hint="Point data_dir at the shared data folder (see ../shared/data/README.md).")
    return path


# --- Planetoid (Cora, CiteSeer) -----------------------------------------------------

class _PlanetoidUnpickler(pickle.Unpickler):
    """Unpickles only what Planetoid files hold: numpy arrays, scipy CSR matrices, dicts of lists."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("scipy.sparse.csr", "csr_matrix"), ("scipy.sparse._csr", "csr_matrix"),
        ("collections", "defaultdict"), ("__builtin__", "list"), ("builtins", "list"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a Planetoid file")
        with warnings.catch_warnings():  # numpy.core / scipy.sparse.csr are deprecated module paths
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def _load_pickle(path: str) -> Any:
    with open(_need(path), "rb") as f:
        return _PlanetoidUnpickler(f, encoding="latin1").load()


def load_planetoid(data_dir: str, name: str) -> dict[str, np.ndarray]:
    """Cora/CiteSeer exactly as Kipf's ``load_data`` (and PyG's ``read_planetoid_data``) load them.

    Node ``i < len(allx)`` has row ``i`` of ``allx``/``ally``; test node
    ``test.index[j]`` has row ``j`` of ``tx``/``ty`` (the loaders' "reorder by
    sorted test index" amounts to exactly this). IDs in the test range that
    are not in ``test.index`` (15 in CiteSeer) get a zero feature row and no
    label (``-1``; PyG's argmax of a zero row would call them class 0). They
    are in no split. Returns ``feat`` (float32 ``(N, D)``), ``label`` (int64,
    ``-1`` = none), ``edges`` (int64 ``(E, 2)``, each undirected edge once as
    (lower, higher) ID, no self-loops) and ``train``/``valid``/``test`` node IDs.
    """
    base = os.path.join(data_dir, f"ind.{name}")
    parts = ("x", "y", "tx", "ty", "allx", "ally", "graph")
    x, y, tx, ty, allx, ally, graph = (_load_pickle(f"{base}.{k}") for k in parts)
    with open(_need(f"{base}.test.index"), encoding="ascii") as f:
        test = np.array([int(line) for line in f if line.strip()], dtype=np.int64)
    n_all = allx.shape[0]
    if test.min() < n_all:
        raise InputDataError(f"test index {int(test.min())} falls inside allx's {n_all} rows.",
                             file=f"{base}.test.index")
    n = int(test.max()) + 1
    feat = np.zeros((n, allx.shape[1]), dtype=np.float32)
    feat[:n_all] = allx.toarray()
    feat[test] = tx.toarray()
    onehot = np.zeros((n, ally.shape[1]), dtype=np.float32)
    onehot[:n_all] = ally
    onehot[test] = ty
    label = np.where(onehot.sum(axis=1) > 0, onehot.argmax(axis=1), -1).astype(np.int64)

    pairs = np.array([(u, v) for u, vs in graph.items() for v in vs], dtype=np.int64)
    if pairs.min() < 0 or pairs.max() >= n:
        raise InputDataError(f"the adjacency list names node {int(pairs.max())}, but there are {n} nodes.",
                             file=f"{base}.graph")
    edges = _undirected_once(pairs)
    n_train = y.shape[0]
    if not np.array_equal(x.toarray(), feat[:n_train]):
        raise InputDataError("x is not the first rows of allx, as the Planetoid format requires.", file=f"{base}.x")
    return {"feat": feat, "label": label, "edges": edges, "train": np.arange(n_train),
            "valid": np.arange(n_train, n_train + PLANETOID_VAL), "test": np.sort(test)}


def write_planetoid(data_dir: str, name: str, out_dir: str, row_normalize: bool = False) -> str:
    """Write Cora or CiteSeer (``name``) with the Planetoid split; returns the config path.

    One node type ``paper`` (``nid`` 0..N-1, raw bag-of-words ``feat``,
    ``label``) and one edge type ``paper,cites,paper``. The raw adjacency list
    is symmetric, so citation direction is unknown: each undirected edge is
    written ONCE, from the lower to the higher ID, after dropping duplicates
    and self-loops. Pass ``--add-reverse-edges`` to ``graphkit construct``
    (``add_reverse_edges=True``) to get the other direction (``cites-rev``).
    ``row_normalize`` adds the ``row_normalize`` feature transform (the GCN
    paper's preprocessing). The split is Planetoid's: train = the first 140 (Cora) / 120 (CiteSeer)
    nodes, validation = the next 500, test = the 1000 IDs in ``test.index``.
    """
    d = load_planetoid(data_dir, name)
    os.makedirs(out_dir, exist_ok=True)
    label = d["label"]
    nodes = _write({"nid": np.arange(len(label), dtype=np.int64), "feat": _float_lists(d["feat"]),
                    "label": pa.array(label, mask=label < 0)}, out_dir, "nodes.parquet")
    edges = _write({"src": d["edges"][:, 0], "dst": d["edges"][:, 1]}, out_dir, "edges.parquet")
    split = _split_files(out_dir, {k: d[k] for k in ("train", "valid", "test")})
    return _write_config(
        out_dir,
        nodes=[{"node_type": "paper", "node_id_col": "nid", **_parquet([nodes]),
                "features": [{"feature_col": "feat",
                              **({"transform": {"name": "row_normalize"}} if row_normalize else {})}],
                "labels": [{"label_col": "label", "task_type": "classification", "custom_split_filenames": split}]}],
        edges=[{"relation": ["paper", "cites", "paper"], "source_id_col": "src", "dest_id_col": "dst",
                **_parquet([edges])}],
    )


# --- ACM (heterogeneous) ------------------------------------------------------------

def _edge_list(path: str, n_src: int, n_dst: int) -> np.ndarray:
    """An integer edge list, checked against the endpoint types' row counts."""
    e = np.loadtxt(_need(path), dtype=np.int64, ndmin=2)
    for col, n, what in ((0, n_src, "source"), (1, n_dst, "destination")):
        bad = np.flatnonzero((e[:, col] < 0) | (e[:, col] >= n))
        if bad.size:
            raise InputDataError(f"{what} ID {int(e[bad[0], col])} is outside 0..{n - 1}.", file=path,
                                 row=int(bad[0]))
    return e


def write_acm(data_dir: str, out_dir: str, labels_per_class: int = 20) -> str:
    """Write the ACM heterogeneous graph (HeCo's version); returns the config path.

    Node types: ``paper`` (4019; ``feat`` 1902-d from ``p_feat.npz``,
    ``label`` 3 classes), ``author`` (7167; ``feat`` from ``a_feat.npz``) and
    ``subject`` (60; IDs only). Edge types ``paper,written-by,author``
    (``pa.txt``, 13407 edges) and ``paper,has-subject,subject`` (``ps.txt``,
    4019: one subject per paper); pass ``--add-reverse-edges`` for the
    ``*-rev`` directions. The split is HeCo's fixed ``{train,val,test}_<k>.npy``
    with ``k = labels_per_class`` in {20, 40, 60}: 3k/1000/1000 papers.

    Found in the raw data: every ID in ``pa.txt``/``ps.txt`` is within the
    feature row counts (papers 0..4018, authors 0..7166, subjects 0..59), every
    paper, author and subject has at least one edge, and there are no duplicate
    edges. Paper features are row-normalised bag-of-words (each row sums to 1);
    author features are the sum of their papers' paper features
    (``a_feat = PAᵀ · p_feat``). ``labels.npy`` holds integral float64 values.
    """
    if labels_per_class not in (20, 40, 60):
        raise InputDataError(f"ACM has fixed splits for 20, 40 or 60 labels per class, not {labels_per_class}.")
    import scipy.sparse as sp

    p_feat = sp.load_npz(_need(os.path.join(data_dir, "p_feat.npz"))).astype(np.float32).toarray()
    a_feat = sp.load_npz(_need(os.path.join(data_dir, "a_feat.npz"))).astype(np.float32).toarray()
    raw_label = np.load(_need(os.path.join(data_dir, "labels.npy")))
    label = raw_label.astype(np.int64)
    if len(label) != len(p_feat) or not np.array_equal(label, raw_label):
        raise InputDataError(f"expected {len(p_feat)} integral paper labels.",
                             file=os.path.join(data_dir, "labels.npy"))
    pa_edges = _edge_list(os.path.join(data_dir, "pa.txt"), len(p_feat), len(a_feat))
    ps_edges = np.loadtxt(_need(os.path.join(data_dir, "ps.txt")), dtype=np.int64, ndmin=2)
    n_subjects = int(ps_edges[:, 1].max()) + 1
    ps_edges = _edge_list(os.path.join(data_dir, "ps.txt"), len(p_feat), n_subjects)
    splits = {part: np.load(_need(os.path.join(data_dir, f"{raw}_{labels_per_class}.npy"))).astype(np.int64)
              for part, raw in (("train", "train"), ("valid", "val"), ("test", "test"))}

    os.makedirs(out_dir, exist_ok=True)
    papers = _write({"nid": np.arange(len(p_feat), dtype=np.int64), "feat": _float_lists(p_feat), "label": label},
                    out_dir, "papers.parquet")
    authors = _write({"nid": np.arange(len(a_feat), dtype=np.int64), "feat": _float_lists(a_feat)},
                     out_dir, "authors.parquet")
    subjects = _write({"nid": np.arange(n_subjects, dtype=np.int64)}, out_dir, "subjects.parquet")
    writes = _write({"paper": pa_edges[:, 0], "author": pa_edges[:, 1]}, out_dir, "paper_author.parquet")
    has = _write({"paper": ps_edges[:, 0], "subject": ps_edges[:, 1]}, out_dir, "paper_subject.parquet")
    split = _split_files(out_dir, splits, prefix=f"paper_{labels_per_class}_")
    return _write_config(
        out_dir,
        nodes=[
            {"node_type": "paper", "node_id_col": "nid", **_parquet([papers]),
             "features": [{"feature_col": "feat"}],
             "labels": [{"label_col": "label", "task_type": "classification", "custom_split_filenames": split}]},
            {"node_type": "author", "node_id_col": "nid", **_parquet([authors]), "features": [{"feature_col": "feat"}]},
            {"node_type": "subject", "node_id_col": "nid", **_parquet([subjects])},
        ],
        edges=[
            {"relation": ["paper", "written-by", "author"], "source_id_col": "paper", "dest_id_col": "author",
             **_parquet([writes])},
            {"relation": ["paper", "has-subject", "subject"], "source_id_col": "paper", "dest_id_col": "subject",
             **_parquet([has])},
        ],
    )


# --- CiteSeer with raw text -----------------------------------------------------------

def _read_text_blocks(path: str) -> tuple[list[str], list[str], list[str]]:
    """``citeseer_texts.txt``: blocks of three lines (ID, text, class name)."""
    with open(_need(path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline
    if len(lines) % 3:
        raise InputDataError(f"{len(lines)} lines is not a whole number of (id, text, label) blocks.", file=path)
    ids = [s.strip() for s in lines[0::3]]
    if len(set(ids)) != len(ids):
        raise InputDataError("paper IDs are not unique.", file=path)
    return ids, lines[1::3], [s.strip() for s in lines[2::3]]


def write_citeseer_text(data_dir: str, out_dir: str, text_transform: Optional[dict] = None) -> str:
    """Write CiteSeer with paper texts (TAPE's CiteSeer-Orig); returns the config path.

    Node type ``paper``: ``nid`` (the paper's ID string), ``text`` (title and
    abstract), ``label`` (class name: Agents, AI, DB, IR, ML, HCI). The label
    gets a random 60/20/20 ``split_pct`` split, drawn at construction time and
    fixed by its ``--seed`` (``construct_graph(seed=...)``). ``text`` is kept
    as a column with no feature transform unless ``text_transform`` (a
    gconstruct transform, e.g. ``{"name": "bert_hf", "bert_model": DIR,
    "max_seq_length": 128}``) is given, which then produces feature ``text``.

    Edge type ``paper,cites,paper`` from citing to cited paper
    (``citeseer.cites`` lines are ``cited<TAB>citing``). Dropped, as raw data
    quirks: lines naming a paper that is not in the text file (335 of 4732),
    self-citations (120), and the second direction of the 52 mutually citing
    pairs, so each undirected edge is written ONCE (4225 edges); pass
    ``--add-reverse-edges`` for the other direction (``cites-rev``).
    """
    ids, texts, labels = _read_text_blocks(os.path.join(data_dir, "citeseer_texts.txt"))
    cites_path = _need(os.path.join(data_dir, "citeseer.cites"))
    with open(cites_path, encoding="utf-8") as f:
        rows = [line.split() for line in f if line.strip()]
    bad = next((i for i, r in enumerate(rows) if len(r) != 2), None)
    if bad is not None:
        raise InputDataError("expected two paper IDs (cited, citing).", file=cites_path, row=bad)
    known = set(ids)
    edges: dict[frozenset, tuple[str, str]] = {}
    for cited, citing in rows:
        if cited in known and citing in known and cited != citing:
            edges.setdefault(frozenset((cited, citing)), (citing, cited))  # first direction seen wins
    src, dst = zip(*edges.values()) if edges else ((), ())

    os.makedirs(out_dir, exist_ok=True)
    nodes = _write({"nid": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string()),
                    "label": pa.array(labels, pa.string())}, out_dir, "papers.parquet")
    cites = _write({"citing": pa.array(src, pa.string()), "cited": pa.array(dst, pa.string())},
                   out_dir, "cites.parquet")
    features = [] if text_transform is None else [{"feature_col": "text", "transform": dict(text_transform)}]
    return _write_config(
        out_dir,
        nodes=[{"node_type": "paper", "node_id_col": "nid", **_parquet([nodes]), "features": features,
                "labels": [{"label_col": "label", "task_type": "classification", "split_pct": [0.6, 0.2, 0.2]}]}],
        edges=[{"relation": ["paper", "cites", "paper"], "source_id_col": "citing", "dest_id_col": "cited",
                **_parquet([cites])}],
    )
