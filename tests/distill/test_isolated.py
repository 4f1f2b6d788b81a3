"""Removing nodes' edges for evaluation, and teacher vs students on test nodes without edges."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from distill_graph import NUM_ISOLATED, run_distill

from graphkit.distill.isolated import EdgeRemovedGraph, evaluate_isolated, in_degree, isolated_nodes, isolated_report
from graphkit.sampling.neighbor import NeighborSampler


def test_isolated_nodes_are_the_planted_ones(dgraph):
    iso = isolated_nodes(dgraph, "paper")
    assert len(iso) == NUM_ISOLATED
    for e in dgraph.edge_types:  # no edge of any type touches them
        src, dst = (np.asarray(a) for a in dgraph.edges(e))
        if e[0] == "paper":
            assert not np.isin(src, iso).any()
        if e[2] == "paper":
            assert not np.isin(dst, iso).any()
    assert (in_degree(dgraph, "paper") > 0).sum() == 400 - NUM_ISOLATED
    # every author wrote 3 papers: in-neighbours through the reverse type writes-rev
    assert len(isolated_nodes(dgraph, "author")) == 0 and in_degree(dgraph, "author").sum() == 3 * 120


def test_edge_removed_graph_drops_exactly_the_edges_touching_the_nodes(dgraph):
    drop = np.array([0, 5, 17, 200])
    view = EdgeRemovedGraph(dgraph, {"paper": drop})
    for e in dgraph.edge_types:
        src, dst = (np.asarray(a) for a in dgraph.edges(e))
        keep = np.ones(src.size, dtype=bool)
        if e[0] == "paper":
            keep &= ~np.isin(src, drop)
        if e[2] == "paper":
            keep &= ~np.isin(dst, drop)
        for (indptr, indices, eids), owner_is_dst in ((view.csc(e), True), (view.csr(e), False)):
            assert indptr[-1] == keep.sum() == indices.size == eids.size
            owner = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
            # every kept entry is the same edge as in the original graph, under the same edge ID
            np.testing.assert_array_equal(np.sort(eids), np.flatnonzero(keep))
            pairs = (indices, owner) if owner_is_dst else (owner, indices)
            np.testing.assert_array_equal(pairs[0], src[eids])
            np.testing.assert_array_equal(pairs[1], dst[eids])
    assert set(drop) <= set(isolated_nodes(view, "paper"))
    block = NeighborSampler(view, [-1]).sample_from_nodes({"paper": drop}).blocks[0]
    assert len(block.indptr) == 4  # paper's in-edge types: cites, cites-rev, writes, hosts
    assert all(int(p[-1]) == 0 for p in block.indptr.values())  # a sampler on the view finds no neighbours
    full = NeighborSampler(dgraph, [-1]).sample_from_nodes({"paper": drop}).blocks[0]
    assert sum(int(p[-1]) for p in full.indptr.values()) == in_degree(dgraph, "paper")[drop].sum() > 0


@pytest.fixture(scope="module")
def baseline_dir(dgraph, teacher_dir, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("baseline") / "mlp")
    return run_distill(dgraph, teacher_dir, out, "--num-epochs", "60", "--lr", "0.003", "--hidden-size", "64",
                       "--batch-size", "64", "--no-distill")


def test_teacher_loses_its_edges_students_do_not_need_them(dgraph, teacher_dir, student_dir, baseline_dir):
    t = evaluate_isolated(dgraph, teacher_dir, "test")
    assert t.model == "teacher" and t.ntype == "paper" and t.num_nodes == 80
    assert t.with_edges["accuracy"] >= 0.95
    assert t.isolated["accuracy"] <= t.with_edges["accuracy"] - 0.1  # a GNN on nodes without edges
    s = evaluate_isolated(dgraph, student_dir, "test")
    with open(os.path.join(student_dir, "distill_metrics.json"), encoding="utf-8") as f:
        assert s.isolated == s.with_edges == json.load(f)["test"]  # the student reads no edges
    assert s.model == "distilled-student" and s.isolated["accuracy"] > t.isolated["accuracy"]
    report = isolated_report(dgraph, teacher_dir,
                             {"distilled-student": student_dir, "no-distill-student": baseline_dir})
    assert report["teacher-with-edges"] == t.with_edges["accuracy"]
    assert report["teacher-isolated"] == t.isolated["accuracy"]
    assert report["distilled-student"] == s.isolated["accuracy"]
    assert 0.6 <= report["no-distill-student"] <= 1.0
