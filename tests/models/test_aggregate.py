"""Sparse aggregation: values and gradients equal a dense reference."""

import torch

from graphkit.models.aggregate import merged_csr, spmm
from graphkit.sampling.base import Block


def _dense(indptr, indices, values, n_dst, n_src):
    a = torch.zeros(n_dst, n_src)
    for v in range(n_dst):
        for e in range(int(indptr[v]), int(indptr[v + 1])):
            a[v, indices[e]] += values[e]
    return a


def test_spmm_mean_sum_and_gradients_match_dense():
    torch.manual_seed(0)
    indptr = torch.tensor([0, 2, 2, 5])
    indices = torch.tensor([0, 3, 1, 1, 4])
    w = torch.tensor([0.5, 2.0, 1.0, 3.0, -1.0])
    x = torch.randn(5, 4, requires_grad=True)
    xd = x.detach().clone().requires_grad_()
    out = spmm(indptr, indices, x, 3, values=w, reduce="sum")
    ref = _dense(indptr, indices, w, 3, 5) @ xd
    assert torch.allclose(out, ref, atol=1e-6)
    g = torch.randn(3, 4)
    out.backward(g)
    ref.backward(g)
    assert torch.allclose(x.grad, xd.grad, atol=1e-6)
    mean = spmm(indptr, indices, x.detach(), 3, reduce="mean")
    assert torch.allclose(mean[0], (x[0] + x[3]).detach() / 2)
    assert torch.equal(mean[1], torch.zeros(4))  # no neighbours -> zeros


def test_merged_csr_groups_edges_by_destination():
    e1, e2 = ("a", "r", "a"), ("a", "r-rev", "a")
    block = Block(src_nodes={"a": torch.arange(4)}, num_dst={"a": 2},
                  indptr={e1: torch.tensor([0, 1, 2]), e2: torch.tensor([0, 2, 2])},
                  indices={e1: torch.tensor([2, 3]), e2: torch.tensor([1, 3])},
                  eids={e1: torch.tensor([10, 11]), e2: torch.tensor([20, 21])})
    indptr, indices, eids = merged_csr(block, [e1, e2])
    assert indptr.tolist() == [0, 3, 4]
    assert indices.tolist() == [2, 1, 3, 3]
    assert eids.tolist() == [10, 20, 21, 11]
