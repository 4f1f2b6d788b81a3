"""Model fingerprints and the chunk cache: reruns compute nothing, a changed text recomputes only its chunk."""

import os
import shutil

import numpy as np
import pytest
from lm_fixtures import paper_texts

from graphkit.lm.cache import EmbeddingCache, chunk_key
from graphkit.lm.chunked import embed_rows
from graphkit.lm.embed import tokenize
from graphkit.lm.encoder import TextEncoder
from graphkit.lm.fingerprint import model_fingerprint


@pytest.fixture(scope="module")
def tokens(tiny_bert):
    import transformers

    texts, _ = paper_texts()
    return tokenize(transformers.AutoTokenizer.from_pretrained(tiny_bert), texts, 8)


def test_fingerprint_is_content_not_location(tiny_bert, tmp_path):
    import torch
    import transformers

    copy = str(tmp_path / "copy")
    shutil.copytree(tiny_bert, copy)
    a = transformers.AutoModel.from_pretrained(tiny_bert)
    b = transformers.AutoModel.from_pretrained(copy)
    assert a.config._name_or_path != b.config._name_or_path
    assert model_fingerprint(a) == model_fingerprint(b)
    with torch.no_grad():
        b.encoder.layer[0].output.dense.weight[0, 0] += 1e-3
    assert model_fingerprint(a) != model_fingerprint(b)


def test_chunk_key_depends_on_every_input(tokens):
    chunk = {k: v[:10] for k, v in tokens.items()}
    base = chunk_key("fp", "mean", "fp32", chunk)
    assert base == chunk_key("fp", "mean", "fp32", {k: v.copy() for k, v in chunk.items()})
    changed = {k: v.copy() for k, v in chunk.items()}
    changed["input_ids"][3, 2] += 1
    others = [chunk_key("fp2", "mean", "fp32", chunk), chunk_key("fp", "cls", "fp32", chunk),
              chunk_key("fp", "mean", "bf16", chunk), chunk_key("fp", "mean", "fp32", changed),
              chunk_key("fp", "mean", "fp32", {k: v[:, :6] for k, v in chunk.items()})]
    assert len({base, *others}) == 6


def test_rerun_computes_nothing_and_a_changed_text_only_its_chunk(tiny_bert, tokens, tmp_path):
    cache = EmbeddingCache(str(tmp_path / "cache"))
    enc = TextEncoder.load(tiny_bert, pooling="mean", device="cpu")
    first, s1 = embed_rows(enc, tokens, batch_size=4, cache=cache, chunk_size=10)
    assert (s1.chunks, s1.cached, s1.computed, s1.rows_computed) == (3, 0, 3, 24)
    assert sum(len(f) for _, _, f in os.walk(cache.root)) == 3
    uncached, _ = embed_rows(enc, tokens, batch_size=4, chunk_size=10)
    np.testing.assert_array_equal(first, uncached)

    again, s2 = embed_rows(TextEncoder.load(tiny_bert, pooling="mean", device="cpu"), tokens, 4, cache, 10)
    assert (s2.cached, s2.computed) == (3, 0)
    np.testing.assert_array_equal(again, first)

    edited = {k: v.copy() for k, v in tokens.items()}
    edited["input_ids"][15, 1] = 9  # row 15 is in chunk 1 (rows 10..19)
    third, s3 = embed_rows(enc, edited, 4, cache, 10)
    assert (s3.cached, s3.computed, s3.rows_computed) == (2, 1, 10)
    changed = np.flatnonzero(np.abs(third - first).max(1) > 1e-6)
    np.testing.assert_array_equal(changed, [15])

    cls = TextEncoder.load(tiny_bert, pooling="cls", device="cpu")
    _, s4 = embed_rows(cls, tokens, 4, cache, 10)
    assert (s4.cached, s4.computed) == (0, 3)


def test_a_damaged_entry_is_recomputed(tiny_bert, tokens, tmp_path):
    cache = EmbeddingCache(str(tmp_path / "cache"))
    enc = TextEncoder.load(tiny_bert, device="cpu")
    first, _ = embed_rows(enc, tokens, 4, cache, 24)
    (path,) = [os.path.join(d, f) for d, _, fs in os.walk(cache.root) for f in fs]
    with open(path, "wb") as f:
        f.write(b"not an npy file")
    again, stats = embed_rows(enc, tokens, 4, cache, 24)
    assert (stats.cached, stats.computed) == (0, 1)
    np.testing.assert_array_equal(again, first)
