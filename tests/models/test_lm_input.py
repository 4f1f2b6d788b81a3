"""``LMNodeEncoder``: which rows run with gradients, forward-only sub-batches, the embedding cache
(reuse within an epoch in training, exact reuse in evaluation), frozen epochs and gradient
checkpointing, on a tiny random BERT."""

from __future__ import annotations

import pytest
import torch

from graphkit.loading.features import TextFeatures
from graphkit.models.lm_input import LMNodeEncoder

transformers = pytest.importorskip("transformers")

SEQ = 6


def tiny_bert(dropout: float = 0.1) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                  vocab_size=30, max_position_embeddings=SEQ, hidden_dropout_prob=dropout,
                                  attention_probs_dropout_prob=dropout)
    return transformers.BertModel(cfg)


def texts(n: int, seed: int = 0) -> TextFeatures:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 30, (n, SEQ), generator=g)
    length = torch.randint(2, SEQ + 1, (n,), generator=g)
    mask = (torch.arange(SEQ) < length[:, None]).to(torch.int8)
    ids = ids * mask  # right padding with [PAD] = 0, as tokenize_hf writes it
    return TextFeatures(ids, mask, torch.zeros_like(mask))


class RowCounter:
    """Rows and calls that reach the LM (a forward hook: counts what really ran)."""

    def __init__(self, lm: torch.nn.Module) -> None:
        self.rows, self.calls = 0, 0
        lm.register_forward_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs, out) -> None:
        self.rows += kwargs["input_ids"].shape[0]
        self.calls += 1

    def take(self) -> int:
        rows, self.rows, self.calls = self.rows, 0, 0
        return rows


def test_seeds_first_rows_run_with_gradients_interleaved_across_node_types():
    enc = LMNodeEncoder(tiny_bert(), ["a", "b"], {"a": 50, "b": 50}, train_nodes=3).train()
    nodes = {"a": torch.tensor([10, 11, 12]), "b": torch.tensor([20, 21])}
    out = enc(nodes, {"a": texts(3), "b": texts(2, 1)})
    # positions 0 of a and b, then position 1 of a: the seeds of each type come first
    assert {t: v.tolist() for t, v in enc.last_trained.items()} == {"a": [10, 11], "b": [20]}
    assert out["a"].shape == (3, 8) and out["b"].shape == (2, 8) and out["a"].requires_grad
    out["a"][2].sum().backward(retain_graph=True)  # a forward-only row: no gradient reaches the LM
    assert all(p.grad is None or not p.grad.any() for p in enc.lm.parameters())
    out["a"][0].sum().backward()
    assert enc.lm.embeddings.word_embeddings.weight.grad.any()


def test_forward_only_rows_run_in_eval_mode_in_sub_batches_and_match_the_lm():
    lm = tiny_bert(dropout=0.5)
    enc = LMNodeEncoder(lm, ["a"], {"a": 10}, train_nodes=0, infer_batch_size=4, pooling="mean").train()
    count = RowCounter(lm)
    x = texts(10)
    out = enc({"a": torch.arange(10)}, {"a": x})["a"]
    assert (count.rows, count.calls) == (10, 3) and lm.training and not out.requires_grad
    with torch.no_grad():  # the full-length, untrimmed batch through the LM in eval mode
        ref = lm.eval()(input_ids=x.input_ids, attention_mask=x.attention_mask.long()).last_hidden_state
        m = x.attention_mask[..., None].float()
        ref = (ref * m).sum(1) / m.sum(1)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_cache_reuses_rows_within_an_epoch_and_exactly_in_evaluation():
    lm = tiny_bert()
    enc = LMNodeEncoder(lm, ["a"], {"a": 20}, train_nodes=2, cache=True, pooling="mean").train()
    count = RowCounter(lm)
    ids, x = torch.arange(6), texts(6)
    enc.set_epoch(0)
    enc({"a": ids}, {"a": x})
    assert count.take() == 6  # 2 with gradients + 4 forward-only
    enc({"a": ids}, {"a": x})
    assert count.take() == 2 and enc.stats == {"with_grad": 4, "forward_only": 4, "cache_hits": 4}
    with torch.no_grad():
        lm.pooler.dense.bias.add_(1.0)  # what an optimizer step does: the LM's weights change in place
    enc({"a": ids}, {"a": x})
    assert count.take() == 2  # training reuses this epoch's rows, though one step old
    enc.set_epoch(1)
    enc({"a": ids}, {"a": x})
    assert count.take() == 6  # a new epoch starts over

    enc.eval()  # evaluation reuses only rows computed forward-only with the current weights
    with torch.no_grad():
        out = enc({"a": ids}, {"a": x})["a"]
    assert count.take() == 2  # the 2 rows computed with gradients (train mode) are recomputed
    fresh = LMNodeEncoder(lm, ["a"], {"a": 20}, pooling="mean").eval()
    with torch.no_grad():
        torch.testing.assert_close(out, fresh({"a": ids}, {"a": x})["a"], atol=1e-6, rtol=1e-6)
    count.take()  # the uncached encoder's rows
    with torch.no_grad():
        lm.pooler.dense.bias.add_(1.0)
        enc({"a": ids}, {"a": x})
    assert count.take() == 6  # weights changed: nothing is exact any more


def test_frozen_epochs_run_every_row_forward_only():
    lm = tiny_bert()
    enc = LMNodeEncoder(lm, ["a"], {"a": 10}, train_nodes=-1, freeze_epochs=2).train()
    for epoch, grad in ((0, False), (1, False), (2, True)):
        enc.set_epoch(epoch)
        out = enc({"a": torch.arange(4)}, {"a": texts(4)})["a"]
        assert out.requires_grad == grad and (enc.last_trained != {}) == grad
    assert all(p.requires_grad for p in lm.parameters())  # a fixed parameter set for DDP


def test_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for checkpoint in (False, True):
        lm = tiny_bert(dropout=0.0)
        enc = LMNodeEncoder(lm, ["a"], {"a": 10}, train_nodes=-1, gradient_checkpoint=checkpoint).train()
        name = "is_activation_checkpointing" if hasattr(lm, "activation_checkpointing_enable") else \
            "is_gradient_checkpointing"  # transformers 5 / 4
        assert getattr(lm, name) == checkpoint
        enc({"a": torch.arange(5)}, {"a": texts(5)})["a"].pow(2).sum().backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in lm.parameters() if p.grad is not None]))
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("precision", ["fp32", "auto", "bf16"])
def test_precision_on_the_cpu(precision):
    from graphkit.lm.device import cpu_has_native_bf16

    x = texts(6)
    ref = LMNodeEncoder(tiny_bert(), ["a"], {"a": 6}, pooling="mean", precision="fp32").eval()(
        {"a": torch.arange(6)}, {"a": x})["a"]
    enc = LMNodeEncoder(tiny_bert(), ["a"], {"a": 6}, pooling="mean", precision=precision).eval()
    out = enc({"a": torch.arange(6)}, {"a": x})["a"]
    assert out.dtype == torch.float32
    if precision == "bf16" and cpu_has_native_bf16():  # bfloat16 autocast ran: close, not equal
        assert not torch.equal(out, ref)
        torch.testing.assert_close(out, ref, atol=0.05, rtol=0.05)
    else:  # auto is fp32 on the CPU, and so is bf16 without native support
        torch.testing.assert_close(out, ref, atol=0, rtol=0)
    with pytest.raises(ValueError, match="precision"):
        LMNodeEncoder(tiny_bert(), ["a"], {"a": 6}, precision="fp16")
