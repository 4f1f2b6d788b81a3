"""Negative samplers: layouts, ID ranges, determinism, distributions, hard negatives, GraphStorm names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from scipy.stats import chisquare

from graphkit.construct.construct import construct_graph
from graphkit.errors import ConfigError, GraphkitError
from graphkit.sampling.negative import (
    ALL_ETYPE_NEGATIVE_SAMPLERS,
    FixedNegativeSampler,
    HardNegativeSampler,
    InBatchNegativeSampler,
    JointNegativeSampler,
    LocalJointNegativeSampler,
    LocalUniformNegativeSampler,
    UniformNegativeSampler,
    build_negative_sampler,
    hard_negative_arrays,
    in_batch_index,
)
from graphkit.storage.graph import Graph

RATES = ("user", "rates", "item")
NUM_NODES = {"user": 7, "item": 13}
SRC = np.array([0, 1, 2, 3, 4, 5])
DST = np.array([3, 3, 0, 12, 7, 1])


def _counts(x: torch.Tensor, n: int) -> np.ndarray:
    return np.bincount(x.numpy().ravel(), minlength=n)


# --- uniform and joint ------------------------------------------------------------------

def test_uniform_shapes_ranges_and_types() -> None:
    s = UniformNegativeSampler(NUM_NODES, k=4, corrupt_src=True)
    neg = s(RATES, SRC, DST, rng=0)
    assert neg.dst.shape == (6, 4) and neg.src.shape == (6, 4) and not neg.joint
    assert neg.dst.dtype == torch.int64 and neg.src.dtype == torch.int64
    assert 0 <= neg.dst.min() and neg.dst.max() < NUM_NODES["item"]
    assert 0 <= neg.src.min() and neg.src.max() < NUM_NODES["user"]
    assert UniformNegativeSampler(NUM_NODES, k=4)(RATES, SRC, DST, rng=0).src is None


def test_joint_shapes_and_broadcast() -> None:
    neg = JointNegativeSampler(NUM_NODES, k=5, corrupt_src=True)(RATES, torch.tensor(SRC), torch.tensor(DST), rng=1)
    assert neg.joint and neg.dst.shape == (5,) and neg.src.shape == (5,)
    per = neg.per_positive(6)
    assert per.dst.shape == (6, 5) and torch.equal(per.dst[3], neg.dst) and torch.equal(per.src[0], neg.src)


@pytest.mark.parametrize("cls", [UniformNegativeSampler, JointNegativeSampler])
def test_deterministic_given_a_seed(cls) -> None:
    s = cls(NUM_NODES, k=8, corrupt_src=True)
    a, b, c = s(RATES, SRC, DST, rng=7), s(RATES, SRC, DST, rng=7), s(RATES, SRC, DST, rng=8)
    assert torch.equal(a.dst, b.dst) and torch.equal(a.src, b.src)
    assert not torch.equal(a.dst, c.dst)
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    assert torch.equal(s(RATES, SRC, DST, rng=g1).dst, s(RATES, SRC, DST, rng=g2).dst)
    assert torch.equal(s(RATES, SRC, DST, rng=g1).dst, s(RATES, SRC, DST, rng=g2).dst)  # both advanced alike


def test_uniform_is_uniform() -> None:
    neg = UniformNegativeSampler(NUM_NODES, k=1000, corrupt_src=True)(RATES, SRC, DST, rng=11)
    assert chisquare(_counts(neg.dst, 13)).pvalue > 1e-3
    assert chisquare(_counts(neg.src, 7)).pvalue > 1e-3
    # every column is uniform too, not only the pooled draws
    col = torch.cat([UniformNegativeSampler(NUM_NODES, 3)(RATES, SRC, DST, rng=i).dst[:, 2] for i in range(500)])
    assert chisquare(_counts(col, 13)).pvalue > 1e-3


def test_joint_is_uniform_over_batches() -> None:
    s = JointNegativeSampler(NUM_NODES, k=16)
    draws = torch.cat([s(RATES, SRC, DST, rng=i).dst for i in range(400)])
    assert chisquare(_counts(draws, 13)).pvalue > 1e-3


# --- local ------------------------------------------------------------------------------

def test_local_samplers_draw_only_from_the_pool() -> None:
    pool = {"item": np.array([2, 5, 11]), "user": np.array([0, 6])}
    lu = LocalUniformNegativeSampler(NUM_NODES, 200, pool, corrupt_src=True)(RATES, SRC, DST, rng=0)
    lj = LocalJointNegativeSampler(NUM_NODES, 600, pool)(RATES, SRC, DST, rng=0)
    assert lu.dst.shape == (6, 200) and lj.dst.shape == (600,)
    for neg, ids in [(lu.dst, pool["item"]), (lu.src, pool["user"]), (lj.dst, pool["item"])]:
        c = _counts(neg, NUM_NODES["item"])
        assert set(np.flatnonzero(c)) == set(ids.tolist())
        assert chisquare(c[ids]).pvalue > 1e-3


def test_local_pool_is_checked() -> None:
    with pytest.raises(GraphkitError, match="outside"):
        LocalJointNegativeSampler(NUM_NODES, 2, {"item": np.array([3, 13])})
    with pytest.raises(GraphkitError, match="empty"):
        LocalJointNegativeSampler(NUM_NODES, 2, {"item": np.array([], dtype=np.int64)})
    s = LocalJointNegativeSampler(NUM_NODES, 2, {"user": np.array([1])})
    with pytest.raises(GraphkitError, match="no local negative-sampling pool for node type 'item'"):
        s(RATES, SRC, DST, rng=0)


# --- in-batch ---------------------------------------------------------------------------

def test_in_batch_negatives_are_the_other_destinations() -> None:
    neg = InBatchNegativeSampler(NUM_NODES, 0)(RATES, SRC, DST, rng=0)
    assert neg.dst.shape == (6, 5)
    for i in range(6):
        assert neg.dst[i].tolist() == np.delete(DST, i).tolist()
    idx = in_batch_index(4)
    off_diag = np.nonzero(~np.eye(4, dtype=bool))[1].reshape(4, 3)
    assert np.array_equal(idx, off_diag)
    assert in_batch_index(1).shape == (1, 0)


def test_inbatch_joint_puts_k_shared_negatives_first() -> None:
    s = InBatchNegativeSampler(NUM_NODES, 3, corrupt_src=True)
    neg = s(RATES, SRC, DST, rng=5)
    assert neg.dst.shape == (6, 3 + 5) and neg.src.shape == (6, 3 + 5)
    assert (neg.dst[:, :3] == neg.dst[0, :3]).all()
    assert neg.dst[2, 3:].tolist() == np.delete(DST, 2).tolist()
    assert neg.src[4, 3:].tolist() == np.delete(SRC, 4).tolist()
    assert torch.equal(neg.dst, s(RATES, SRC, DST, rng=5).dst)


# --- hard and fixed negatives (from an edge_dst_hard_negative feature) ----------------------

@pytest.fixture
def hard_graph(tmp_path: Path) -> Graph:
    pq.write_table(pa.table({"id": [f"u{i}" for i in range(4)]}), tmp_path / "user.parquet")
    pq.write_table(pa.table({"id": [f"i{i}" for i in range(6)]}), tmp_path / "item.parquet")
    pq.write_table(pa.table({
        "src": ["u0", "u1", "u2", "u3", "u0"],
        "dst": ["i0", "i1", "i2", "i0", "i5"],
        "neg": [["i1", "i2", "i3"], ["i0"], [], ["i9", "i4"], ["i1", "i2"]],  # i9 is unknown: dropped
        "fixed": [["i1", "i2"], ["i0", "i3"], ["i4", "i5"], ["i1", "i5"], ["i0", "i0"]],
    }), tmp_path / "rates.parquet")
    conf = {
        "version": "gconstruct-v0.1",
        "nodes": [{"node_type": t, "node_id_col": "id", "format": {"name": "parquet"}, "files": [f"{t}.parquet"]}
                  for t in ("user", "item")],
        "edges": [{"relation": list(RATES), "source_id_col": "src", "dest_id_col": "dst",
                   "format": {"name": "parquet"}, "files": ["rates.parquet"],
                   "features": [{"feature_col": c, "transform": {"name": "edge_dst_hard_negative"}}
                                for c in ("neg", "fixed")]}],
    }
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    construct_graph(str(tmp_path / "conf.json"), str(tmp_path / "g"), "g", add_reverse_edges=True)
    return Graph(str(tmp_path / "g"))


HARD = [{1, 2, 3}, {0}, set(), {4}, {1, 2}]


def test_hard_negatives_come_first_and_padding_never_returned(hard_graph: Graph) -> None:
    hard = hard_negative_arrays(hard_graph, "neg")
    assert list(hard) == [RATES]  # the reverse type does not inherit destination hard negatives
    num = {"user": 4, "item": 6}
    s = HardNegativeSampler(UniformNegativeSampler(num, 4), hard)
    src, dst = hard_graph.edges(RATES)
    eids = np.arange(5)
    for seed in range(50):
        neg = s(RATES, src, dst, eids, rng=seed).dst
        assert neg.shape == (5, 4) and neg.min() >= 0 and neg.max() < 6
        for i, h in enumerate(HARD):
            assert set(neg[i, :len(h)].tolist()) == h  # all hard negatives, first
    # num_hard caps them; each hard negative is as likely to be picked
    s1 = HardNegativeSampler(UniformNegativeSampler(num, 4), hard, num_hard=1)
    first = np.array([s1(RATES, src, dst, eids, rng=seed).dst[0, 0].item() for seed in range(900)])
    assert set(first.tolist()) == {1, 2, 3} and chisquare(np.bincount(first)[1:]).pvalue > 1e-3
    # fewer hard negatives than k: k caps them
    s2 = HardNegativeSampler(UniformNegativeSampler(num, 2), hard)
    neg = s2(RATES, src, dst, eids, rng=0).dst
    assert set(neg[0].tolist()) <= {1, 2, 3} and len(set(neg[0].tolist())) == 2


def test_hard_negatives_over_joint_base_and_other_etypes(hard_graph: Graph) -> None:
    num = {"user": 4, "item": 6}
    s = HardNegativeSampler(JointNegativeSampler(num, 3), hard_negative_arrays(hard_graph, "neg"), num_hard=2)
    src, dst = hard_graph.edges(RATES)
    neg = s(RATES, src, dst, np.arange(5), rng=4).dst
    joint = JointNegativeSampler(num, 3)(RATES, src, dst, rng=4).dst
    assert neg.shape == (5, 3)
    assert neg[2].tolist() == joint.tolist()  # no hard negatives: the joint ones
    assert neg[1, 1:].tolist() == joint[1:].tolist() and neg[1, 0] == 0
    assert set(neg[0, :2].tolist()) <= {1, 2, 3} and neg[0, 2] == joint[2]
    rev = ("item", "rates-rev", "user")
    out = s(rev, dst, src, np.arange(5), rng=4).dst  # no hard negatives for this type
    assert out.shape == (3,)
    with pytest.raises(ValueError, match="edge IDs"):
        s(RATES, src, dst, rng=0)


def test_fixed_negatives(hard_graph: Graph) -> None:
    num = {"user": 4, "item": 6}
    s = build_negative_sampler("fixed", num, 0, evaluation=True, hard=hard_negative_arrays(hard_graph, "fixed"))
    assert isinstance(s, FixedNegativeSampler)
    src, dst = hard_graph.edges(RATES)
    neg = s(RATES, src[[2, 0]], dst[[2, 0]], np.array([2, 0]), rng=0)
    assert neg.dst.tolist() == [[4, 5], [1, 2]] and neg.src is None
    padded = FixedNegativeSampler(num, hard_negative_arrays(hard_graph, "neg"))
    with pytest.raises(GraphkitError, match="fewer predefined negatives"):
        padded(RATES, src, dst, np.arange(5), rng=0)


# --- GraphStorm names -------------------------------------------------------------------

@pytest.mark.parametrize("name,cls,joint", [
    ("uniform", UniformNegativeSampler, False), ("joint", JointNegativeSampler, True),
    ("localuniform", LocalUniformNegativeSampler, False), ("localjoint", LocalJointNegativeSampler, True),
    ("inbatch_joint", InBatchNegativeSampler, False), ("all_etype_uniform", UniformNegativeSampler, False),
    ("all_etype_joint", JointNegativeSampler, True), ("fast_uniform", UniformNegativeSampler, False),
    ("fast_joint", JointNegativeSampler, True), ("fast_localuniform", LocalUniformNegativeSampler, False),
    ("fast_localjoint", LocalJointNegativeSampler, True),
])
def test_graphstorm_train_names(name: str, cls: type, joint: bool) -> None:
    s = build_negative_sampler(name, NUM_NODES, 4, pool={"item": np.arange(13)})
    assert type(s) is cls and not s.corrupt_src
    assert s(RATES, SRC, DST, rng=0).joint == joint
    assert (name in ALL_ETYPE_NEGATIVE_SAMPLERS) == name.startswith("all_etype")


def test_graphstorm_eval_names_corrupt_both_ends() -> None:
    u = build_negative_sampler("uniform", NUM_NODES, 10, evaluation=True)(RATES, SRC, DST, rng=0)
    j = build_negative_sampler("joint", NUM_NODES, 10, evaluation=True)(RATES, SRC, DST, rng=0)
    assert u.dst.shape == u.src.shape == (6, 10) and j.dst.shape == j.src.shape == (10,)
    assert u.src.max() < NUM_NODES["user"] and j.src.max() < NUM_NODES["user"]


def test_hard_wraps_training_samplers() -> None:
    hard = {RATES: np.array([[1, -1]] * 6)}
    s = build_negative_sampler("joint", NUM_NODES, 2, hard=hard, num_hard=1)
    assert isinstance(s, HardNegativeSampler) and isinstance(s.base, JointNegativeSampler)
    assert (s(RATES, SRC, DST, np.arange(6), rng=0).dst[:, 0] == 1).all()


def test_bad_names_and_arguments() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'localjoint'") as e:
        build_negative_sampler("localjoitn", NUM_NODES, 4)
    assert e.value.key == "train_negative_sampler"
    with pytest.raises(ConfigError, match="unknown evaluation negative sampler 'inbatch_joint'"):
        build_negative_sampler("inbatch_joint", NUM_NODES, 4, evaluation=True)
    with pytest.raises(ConfigError, match="needs a pool"):
        build_negative_sampler("localuniform", NUM_NODES, 4)
    with pytest.raises(ConfigError, match="predefined negatives"):
        build_negative_sampler("fixed", NUM_NODES, 4, evaluation=True)
    with pytest.raises(ConfigError, match="at least one negative"):
        build_negative_sampler("uniform", NUM_NODES, 0)
    with pytest.raises(ValueError, match="differ in length"):
        UniformNegativeSampler(NUM_NODES, 2)(RATES, SRC, DST[:3], rng=0)
