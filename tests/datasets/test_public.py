"""The public-dataset converters, run on the real data in ``../shared/data`` and constructed.

Every test that needs the shared data skips when the folder is absent (a fresh
clone). The numbers asserted are those of the raw files, counted independently
(see the docstrings in ``graphkit/datasets/public.py``).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from graphkit.construct.construct import construct_graph
from graphkit.datasets import public
from graphkit.schema.gconstruct import load_graph_config
from graphkit.storage.graph import Graph

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CITES = ("paper", "cites", "paper")
CITES_REV = ("paper", "cites-rev", "paper")


def _data(sub: str) -> Path:
    path = SHARED_DATA / sub
    if not path.is_dir():
        pytest.skip(f"shared dataset folder {path} is absent (it is not part of the repository)")
    return path


def _construct(conf: str, out: Path, name: str, seed: int = 0) -> Graph:
    construct_graph(conf, str(out), name, add_reverse_edges=True, seed=seed)
    return Graph(str(out))


def _split(g: Graph, ntype: str) -> list[np.ndarray]:
    return [np.flatnonzero(g.node_mask(ntype, m)) for m in ("train_mask", "val_mask", "test_mask")]


def _check_undirected_once(g: Graph, n_edges: int) -> None:
    src, dst = (np.asarray(a) for a in g.edges(CITES))
    assert len(src) == n_edges
    assert g.num_edges(CITES_REV) == n_edges
    assert (src != dst).all()
    pairs = np.sort(np.stack([src, dst], axis=1), axis=1)
    assert len(np.unique(pairs, axis=0)) == n_edges  # no edge also written in the other direction


@pytest.fixture(scope="module")
def cora(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    tmp = tmp_path_factory.mktemp("cora")
    conf = public.write_planetoid(str(_data("planetoid")), "cora", str(tmp / "tables"))
    return _construct(conf, tmp / "graph", "cora")


@pytest.fixture(scope="module")
def citeseer(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    tmp = tmp_path_factory.mktemp("citeseer")
    conf = public.write_planetoid(str(_data("planetoid")), "citeseer", str(tmp / "tables"))
    return _construct(conf, tmp / "graph", "citeseer")


def test_cora(cora: Graph) -> None:
    g = cora
    assert g.num_nodes("paper") == 2708
    feat = np.asarray(g.node_feature("paper", "feat"))
    assert feat.shape == (2708, 1433) and feat.dtype == np.float32
    assert set(np.unique(feat)) == {0.0, 1.0}  # raw bag of words, not normalised
    lab = g.meta.node_type("paper").labels["label"]
    assert lab.num_classes == 7
    train, val, test = _split(g, "paper")
    assert (len(train), len(val), len(test)) == (140, 500, 1000)
    np.testing.assert_array_equal(train, np.arange(140))
    np.testing.assert_array_equal(val, np.arange(140, 640))
    test_index = np.loadtxt(SHARED_DATA / "planetoid" / "ind.cora.test.index", dtype=np.int64)
    np.testing.assert_array_equal(test, np.sort(test_index))
    assert np.bincount(np.asarray(g.node_label("paper", "label"))[train]).tolist() == [20] * 7
    _check_undirected_once(g, 5278)


def test_citeseer(citeseer: Graph) -> None:
    g = citeseer
    assert g.num_nodes("paper") == 3327
    feat = np.asarray(g.node_feature("paper", "feat"))
    assert feat.shape == (3327, 3703)
    label = np.asarray(g.node_label("paper", "label"))
    assert g.meta.node_type("paper").labels["label"].num_classes == 6
    train, val, test = _split(g, "paper")
    assert (len(train), len(val), len(test)) == (120, 500, 1000)
    # The 15 IDs in the test range missing from test.index: zero features, no label, in no split.
    test_index = np.loadtxt(SHARED_DATA / "planetoid" / "ind.citeseer.test.index", dtype=np.int64)
    missing = np.setdiff1d(np.arange(test_index.min(), 3327), test_index)
    assert len(missing) == 15
    assert not feat[missing].any()
    assert (label[missing] == -1).all() and (label[np.setdiff1d(np.arange(3327), missing)] >= 0).all()
    assert not np.isin(missing, np.concatenate([train, val, test])).any()
    # tx row j belongs to node test.index[j] (the loaders' reorder by sorted test index)
    tx = public._load_pickle(str(SHARED_DATA / "planetoid" / "ind.citeseer.tx")).toarray()
    np.testing.assert_array_equal(feat[test_index[:50]], tx[:50])
    _check_undirected_once(g, 4552)
    src, dst = g.edges(CITES)
    assert 3327 - len(np.unique(np.concatenate([src, dst]))) == 48  # isolated papers


def test_acm(tmp_path: Path) -> None:
    data = _data("acm")
    conf = public.write_acm(str(data), str(tmp_path / "tables"))
    g = _construct(conf, tmp_path / "graph", "acm")
    assert {t: g.num_nodes(t) for t in g.node_types} == {"paper": 4019, "author": 7167, "subject": 60}
    assert g.node_feature("paper", "feat").shape == (4019, 1902)
    assert g.node_feature("author", "feat").shape == (7167, 1902)
    assert not g.meta.node_type("subject").features
    assert g.meta.node_type("paper").labels["label"].num_classes == 3
    train, val, test = _split(g, "paper")
    assert (len(train), len(val), len(test)) == (60, 1000, 1000)
    np.testing.assert_array_equal(train, np.sort(np.load(data / "train_20.npy")))
    assert np.bincount(np.asarray(g.node_label("paper", "label"))[train]).tolist() == [20, 20, 20]
    written = ("paper", "written-by", "author")
    assert g.num_edges(written) == 13407
    assert g.num_edges(("author", "written-by-rev", "paper")) == 13407
    assert g.num_edges(("paper", "has-subject", "subject")) == 4019
    pa_txt = np.loadtxt(data / "pa.txt", dtype=np.int64)
    src, dst = g.edges(written)
    np.testing.assert_array_equal(np.stack([src, dst], axis=1), pa_txt)  # integer IDs are row numbers

    conf40 = public.write_acm(str(data), str(tmp_path / "tables40"), labels_per_class=40)
    split = load_graph_config(conf40).nodes[0].labels[0].custom_split
    assert split is not None
    sizes = [pq.read_table(tmp_path / "tables40" / getattr(split, p)[0]).num_rows for p in ("train", "valid", "test")]
    assert sizes == [120, 1000, 1000]


def test_citeseer_text(tmp_path: Path) -> None:
    data = _data("citeseer-text")
    conf = public.write_citeseer_text(str(data), str(tmp_path / "tables"))
    g = _construct(conf, tmp_path / "graph", "citeseer-text", seed=3)
    assert g.num_nodes("paper") == 3186
    lab = g.meta.node_type("paper").labels["label"]
    assert lab.num_classes == 6 and sorted(lab.classes) == sorted(["Agents", "AI", "DB", "IR", "ML", "HCI"])
    assert lab.split_counts == {"train": 1911, "val": 637, "test": 637}  # floors of 60/20/20 of 3186
    assert not g.meta.node_type("paper").features  # text stays a column for a later LM stage
    assert pq.read_table(tmp_path / "tables" / "papers.parquet").column("text")[0].as_py().startswith("Argument in")
    ids = g.id_map("paper").to_pylist()
    assert ids[0] == "norman00argument"
    _check_undirected_once(g, 4225)
    # citing -> cited: "100157<TAB>364207" in citeseer.cites means 364207 cites 100157
    src, dst = g.edges(CITES)
    pos = {v: i for i, v in enumerate(ids)}
    assert ((src == pos["364207"]) & (dst == pos["100157"])).any()

    # the random split is fixed by the construction seed
    same = _construct(conf, tmp_path / "graph2", "citeseer-text", seed=3)
    other = _construct(conf, tmp_path / "graph3", "citeseer-text", seed=4)
    np.testing.assert_array_equal(_split(g, "paper")[0], _split(same, "paper")[0])
    assert not np.array_equal(_split(g, "paper")[0], _split(other, "paper")[0])


def test_citeseer_text_transform_goes_into_config(tmp_path: Path) -> None:
    data = _data("citeseer-text")
    bert = {"name": "bert_hf", "bert_model": "/models/minilm", "max_seq_length": 128}
    conf = public.write_citeseer_text(str(data), str(tmp_path), text_transform=bert)
    with open(conf, encoding="utf-8") as f:
        assert json.load(f)["nodes"][0]["features"] == [{"feature_col": "text", "transform": bert}]
    feat = load_graph_config(conf).nodes[0].features[0]
    assert (feat.name, feat.transform.name) == ("text", "bert_hf")


def test_planetoid_unpickler_refuses_other_classes(tmp_path: Path) -> None:
    path = tmp_path / "ind.evil.x"
    path.write_bytes(pickle.dumps(os.getcwd))  # a callable: not something a Planetoid file holds
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        public._load_pickle(str(path))
