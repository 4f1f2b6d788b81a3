"""Partitions put back together are the graph: nodes, edges, halo, arrays, structure, ID maps."""

from __future__ import annotations

import os

import numpy as np
import pytest

from graphkit.partition.meta import PartitionSetMeta, read_partition_meta
from graphkit.partition.stage import partition_graph
from graphkit.schema.graph_meta import REVERSED_KEY
from graphkit.storage.graph import Graph

CASES = [("shop_dir", "metis", 3), ("shop_dir", "random", 3), ("community_dir", "metis", 4),
         ("community_dir", "random", 2)]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0].split('_')[0]}-{c[1]}-{c[2]}")
def parted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Graph, PartitionSetMeta, str, list[Graph]]:
    fixture, method, num_parts = request.param
    graph_dir = request.getfixturevalue(fixture)
    out = str(tmp_path_factory.mktemp("parts") / "p")
    partition_graph(graph_dir, out, num_parts, method=method, seed=3)
    meta = read_partition_meta(out)
    parts = [Graph(meta.part_dir(out, i)) for i in range(num_parts)]
    return Graph(graph_dir), meta, out, parts


def l2g_nodes(part: Graph, ntype: str) -> np.ndarray:
    assert part.meta.partition is not None
    return part.load(part.meta.partition.node_local_to_global[ntype])


def l2g_edges(part: Graph, etype: tuple[str, str, str]) -> np.ndarray:
    assert part.meta.partition is not None
    return part.load(part.meta.partition.edge_local_to_global[",".join(etype)])


def node_part(meta: PartitionSetMeta, out: str, ntype: str) -> np.ndarray:
    return np.load(os.path.join(out, meta.node_part[ntype].path))


def test_owned_nodes_cover_every_node_once(parted) -> None:
    g, meta, out, parts = parted
    for t in g.node_types:
        owned = []
        for i, p in enumerate(parts):
            n_owned = p.meta.partition.num_owned_nodes[t]
            ids = l2g_nodes(p, t)
            assert np.all(np.diff(ids[:n_owned]) > 0), "owned nodes are in increasing global ID"
            assert np.all(node_part(meta, out, t)[ids[:n_owned]] == i)
            assert meta.parts[i].num_owned_nodes[t] == n_owned
            owned.append(ids[:n_owned])
        allowned = np.concatenate(owned)
        assert len(allowned) == g.num_nodes(t)
        assert np.array_equal(np.sort(allowned), np.arange(g.num_nodes(t)))


def test_owned_edges_are_the_graph(parted) -> None:
    g, meta, out, parts = parted
    for etype in g.edge_types:
        src, dst = g.edges(etype)
        eids, s_all, d_all = [], [], []
        for i, p in enumerate(parts):
            ids = l2g_edges(p, etype)
            ls, ld = p.edges(etype)
            gs, gd = l2g_nodes(p, etype[0])[ls], l2g_nodes(p, etype[2])[ld]
            # every stored edge (owned or halo) has the right global endpoints
            assert np.array_equal(gs, src[ids]) and np.array_equal(gd, dst[ids])
            owned = ld < p.meta.partition.num_owned_nodes[etype[2]]
            assert owned.sum() == p.meta.partition.num_owned_edges[",".join(etype)]
            assert np.all(node_part(meta, out, etype[2])[gd[owned]] == i)
            eids.append(ids[owned])
            s_all.append(gs[owned])
            d_all.append(gd[owned])
        e = np.concatenate(eids)
        assert len(e) == g.num_edges(etype), "each edge lives in exactly one partition"
        order = np.argsort(e)
        assert np.array_equal(e[order], np.arange(g.num_edges(etype)))
        assert np.array_equal(np.concatenate(s_all)[order], src)
        assert np.array_equal(np.concatenate(d_all)[order], dst)


def test_halo_is_the_out_of_partition_in_neighbours(parted) -> None:
    g, meta, out, parts = parted
    for i, p in enumerate(parts):
        for t in g.node_types:
            expected = set()
            for etype in g.edge_types:
                if etype[0] != t:
                    continue
                src, dst = g.edges(etype)
                into_owned = node_part(meta, out, etype[2])[dst] == i
                s = src[into_owned]
                expected |= set(s[node_part(meta, out, t)[s] != i].tolist())
            ids = l2g_nodes(p, t)
            halo = ids[p.meta.partition.num_owned_nodes[t]:]
            assert np.all(np.diff(halo) > 0)
            assert set(halo.tolist()) == expected
            assert meta.parts[i].num_halo_nodes[t] == len(halo)


def test_owned_nodes_keep_all_their_in_edges(parted) -> None:
    g, _, _, parts = parted
    for p in parts:
        for etype in g.edge_types:
            indptr, indices, eids = p.csc(etype)
            ids_d, ids_s, ids_e = l2g_nodes(p, etype[2]), l2g_nodes(p, etype[0]), l2g_edges(p, etype)
            g_indptr, g_indices, g_eids = g.csc(etype)
            for v in range(p.meta.partition.num_owned_nodes[etype[2]]):
                gv = ids_d[v]
                got = sorted(zip(ids_e[eids[indptr[v]:indptr[v + 1]]], ids_s[indices[indptr[v]:indptr[v + 1]]]))
                want = sorted(zip(g_eids[g_indptr[gv]:g_indptr[gv + 1]], g_indices[g_indptr[gv]:g_indptr[gv + 1]]))
                assert got == want


def test_structure_is_consistent(parted) -> None:
    g, _, _, parts = parted
    for p in parts:
        for etype in g.edge_types:
            src, dst = p.edges(etype)
            for (indptr, indices, eids), key, other in ((p.csr(etype), src, dst), (p.csc(etype), dst, src)):
                assert len(indptr) == p.num_nodes(etype[0] if key is src else etype[2]) + 1
                assert np.array_equal(np.repeat(np.arange(len(indptr) - 1), np.diff(indptr)), key[eids])
                assert np.array_equal(indices, other[eids])


def test_reverse_types_share_their_forward_arrays(parted) -> None:
    parts = parted[3]
    for p in parts:
        for em in p.meta.edge_types:
            if em.reverse_of is None:
                continue
            fwd = p.meta.edge_type(tuple(em.reverse_of))
            assert {k: a.path for k, a in em.structure.items()} == {
                k: fwd.structure[REVERSED_KEY[k]].path for k in em.structure}
            assert p.meta.partition.edge_local_to_global[",".join(em.etype)] == \
                p.meta.partition.edge_local_to_global[",".join(fwd.etype)]
            assert {k: a.path for k, a in em.masks.items()} == {k: a.path for k, a in fwd.masks.items()}


def test_local_arrays_equal_the_global_rows(parted) -> None:
    g, _, _, parts = parted
    for p in parts:
        for t, nt in g.meta.node_types.items():
            ids = l2g_nodes(p, t)
            pt = p.meta.node_type(t)
            assert pt.num_nodes == len(ids)
            for name in nt.features:
                assert np.array_equal(p.node_feature(t, name), g.node_feature(t, name)[ids])
            for name in nt.masks:
                assert np.array_equal(p.node_mask(t, name), g.node_mask(t, name)[ids])
            for name, lab in nt.labels.items():
                if lab.array is not None:
                    assert np.array_equal(p.node_label(t, name), g.node_label(t, name)[ids])
            assert p.id_map(t).to_pylist() == np.asarray(g.id_map(t).to_pylist(), dtype=object)[ids].tolist()
        for em in g.meta.edge_types:
            ids = l2g_edges(p, em.etype)
            for name in em.features:
                assert np.array_equal(p.edge_feature(em.etype, name), g.edge_feature(em.etype, name)[ids])
            for name in em.masks:
                assert np.array_equal(p.edge_mask(em.etype, name), g.edge_mask(em.etype, name)[ids])


def test_split_counts_add_up(parted) -> None:
    g, _, _, parts = parted
    for t, nt in g.meta.node_types.items():
        for name, lab in nt.labels.items():
            for split, n in lab.split_counts.items():
                assert sum(p.meta.node_type(t).labels[name].split_counts[split] for p in parts) == n
    for em in g.meta.edge_types:
        for name, lab in em.labels.items():
            for split, n in lab.split_counts.items():
                assert sum(p.meta.edge_type(em.etype).labels[name].split_counts[split] for p in parts) == n


def test_partition_json(parted) -> None:
    g, meta, out, parts = parted
    assert meta.num_parts == len(parts) and meta.seed == 3
    assert [p.path for p in meta.parts] == [f"part{i}" for i in range(meta.num_parts)]
    assert os.path.exists(os.path.join(out, meta.source_graph_meta))
    assert meta.source_graph_dir == g.root
    assert 0.0 <= meta.edge_cut <= 1.0
    for t in g.node_types:
        assert meta.counts[f"nodes:{t}"] == [p.meta.partition.num_owned_nodes[t] for p in parts]
        assert node_part(meta, out, t).dtype == np.int32
    assert all(v >= 1.0 for v in meta.balance.values())
