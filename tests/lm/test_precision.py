"""Precision on the CPU: ``bf16`` runs bfloat16 autocast where the CPU has it natively, falls back
to fp32 (with a warning) elsewhere; ``auto`` is fp32 on the CPU; co-training never picks fp16."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from graphkit.lm import device as lm_device
from graphkit.lm.device import resolve_precision
from graphkit.lm.embed import embed_tokens, tokenize

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
NATIVE = lm_device.cpu_has_native_bf16()
needs_native_bf16 = pytest.mark.skipif(not NATIVE, reason="this CPU has no native bfloat16 (AVX512-BF16 or AMX)")


@pytest.mark.parametrize("native, asked, expected, warns", [
    (True, "bf16", "bf16", False),
    (False, "bf16", "fp32", True),
    (True, "fp16", "fp32", True),
    (True, "auto", "fp32", False),
    (True, "fp32", "fp32", False),
])
def test_cpu_precision(monkeypatch, caplog, native, asked, expected, warns):
    monkeypatch.setattr(lm_device, "cpu_has_native_bf16", lambda: native)
    with caplog.at_level(logging.WARNING, logger="graphkit.lm.device"):
        assert resolve_precision(asked, CPU) == expected
    assert bool(caplog.records) == warns, caplog.text
    if warns:
        assert "fp32" in caplog.text


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(True, False, True), (False, True, True),
                                                         (False, False, False)])
def test_x86_native_bf16_needs_avx512_bf16_or_amx(monkeypatch, avx512_bf16, amx, expected):
    # oneDNN's own check says yes on any AVX-512 CPU, where bf16 is emulated: it must not decide on x86
    monkeypatch.setattr(lm_device.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    lm_device.cpu_has_native_bf16.cache_clear()
    try:
        assert lm_device.cpu_has_native_bf16() is expected
    finally:
        lm_device.cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize("bf16_gpu, fp16, expected", [(True, True, "bf16"), (False, True, "fp16"),
                                                      (True, False, "bf16"), (False, False, "fp32")])
def test_gpu_auto_precision(monkeypatch, bf16_gpu, fp16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_gpu)
    assert resolve_precision("auto", CUDA, fp16=fp16) == expected


@needs_native_bf16
def test_bf16_embeddings_on_the_cpu_are_close_to_fp32_and_float32(tiny_bert):
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(tiny_bert)
    model = transformers.AutoModel.from_pretrained(tiny_bert).eval()
    tokens = tokenize(tok, ["the graph node", "word", "the text token sentence word graph walk"], 8)
    fp32 = embed_tokens(model, tokens, 2, "mean", device="cpu", precision="fp32")
    bf16 = embed_tokens(model, tokens, 2, "mean", device="cpu", precision="bf16")
    assert bf16.dtype == np.float32
    assert not np.array_equal(bf16, fp32)  # autocast really ran in bfloat16
    cos = (bf16 * fp32).sum(1) / np.linalg.norm(bf16, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cos.min() > 0.999, cos


@needs_native_bf16
def test_supervised_fine_tuning_in_bf16_on_the_cpu(text_graph_src, tiny_bert, tmp_path):
    from graphkit.lm.finetune.run import FinetuneConfig, finetune_lm
    from graphkit.lm.loading import load_model

    cfg = FinetuneConfig(text_graph_src, tiny_bert, str(tmp_path / "ft"), mode="supervised", epochs=6,
                         batch_size=4, lr=3e-3, warmup_ratio=0.0, device="cpu", precision="bf16")
    m = finetune_lm(cfg).metrics
    losses = [e["train_loss"] for e in m["epochs"]]
    assert m["precision"] == "bf16"
    assert losses[-1] < 0.8 * losses[0], losses
    assert next(load_model(str(tmp_path / "ft")).parameters()).dtype == torch.float32  # weights stay float32
