"""``tokenize_hf`` and ``bert_hf``: text through a Hugging Face tokenizer / encoder."""

from __future__ import annotations

import numpy as np

from graphkit.construct.transforms.base import Param, Transform, register

POOLINGS = ("pooler", "cls", "mean")  # graphkit.lm.embed.POOLINGS, without importing torch here


def _texts(values: np.ndarray) -> list[str]:
    return ["" if v is None else v for v in values]


@register
class TokenizeHF(Transform):
    """Token IDs for LM fine-tuning or co-training: features ``input_ids``,
    ``attention_mask`` and ``token_type_ids`` (GraphStorm's fixed names), each
    ``(N, max_seq_length)``."""

    name = "tokenize_hf"
    input = "text"
    max_columns = 1
    params = {
        "bert_model": Param((str,), required=True, doc="A local model folder or a hub name."),
        "max_seq_length": Param((int,), required=True, doc="Tokens per text (truncated/padded)."),
    }

    def validate(self) -> None:
        if self.p["max_seq_length"] < 1:
            raise self.error("max_seq_length", "max_seq_length must be >= 1.")

    def output_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "token_type_ids"]

    def apply(self, values: np.ndarray, state: dict) -> dict[str, np.ndarray]:
        from graphkit.lm.embed import tokenize
        from graphkit.lm.loading import load_tokenizer

        tok = load_tokenizer(self.p["bert_model"], key=f"{self.spec.key}.bert_model")
        return tokenize(tok, _texts(values), self.p["max_seq_length"])


@register
class BertHF(Transform):
    """Text embeddings from a Hugging Face encoder, batched, on GPU when present.

    ``pooling`` is ``pooler`` (GraphStorm's choice; falls back to ``cls`` for
    models without a pooler), ``cls`` or ``mean``.
    """

    name = "bert_hf"
    input = "text"
    max_columns = 1
    params = {
        "bert_model": Param((str,), required=True, doc="A local model folder or a hub name."),
        "max_seq_length": Param((int,), required=True, doc="Tokens per text (truncated/padded)."),
        "infer_batch_size": Param((int,), default=1024, doc="Texts per forward pass."),
        "pooling": Param((str,), default="pooler", doc="pooler, cls or mean."),
        "cache_dir": Param((str,), default=None, doc="Cache embedded chunks here (graphkit.lm.cache); none: off."),
    }

    def validate(self) -> None:
        if self.p["max_seq_length"] < 1:
            raise self.error("max_seq_length", "max_seq_length must be >= 1.")
        if self.p["infer_batch_size"] < 1:
            raise self.error("infer_batch_size", "infer_batch_size must be >= 1.")
        if self.p["pooling"] not in POOLINGS:
            raise self.error("pooling", f"unknown pooling '{self.p['pooling']}'.", f"Choices: {', '.join(POOLINGS)}.")

    def apply(self, values: np.ndarray, state: dict) -> dict[str, np.ndarray]:
        # the same embedding path as `graphkit lm-embed` (graphkit.lm.chunked), cached when cache_dir is set
        from graphkit.lm.cache import EmbeddingCache
        from graphkit.lm.chunked import embed_rows
        from graphkit.lm.embed import tokenize
        from graphkit.lm.encoder import TextEncoder
        from graphkit.lm.loading import load_tokenizer

        key = f"{self.spec.key}.bert_model"
        tokens = tokenize(load_tokenizer(self.p["bert_model"], key), _texts(values), self.p["max_seq_length"])
        encoder = TextEncoder.load(self.p["bert_model"], self.p["pooling"], key=key)
        emb, _ = embed_rows(encoder, tokens, self.p["infer_batch_size"], EmbeddingCache(self.p["cache_dir"]),
                            desc=f"bert_hf {self.feature.name}")
        return {self.feature.name: emb.astype(self.out_dtype)}
