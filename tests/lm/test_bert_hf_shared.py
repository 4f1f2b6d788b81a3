"""The bert_hf construction transform embeds through the same cached path as `graphkit lm-embed`."""

import json

import numpy as np
from lm_fixtures import MAX_SEQ, construct, write_text_tables

from graphkit.lm.embed_stage import LMEmbedConfig, lm_embed
from graphkit.storage.graph import Graph


def test_lm_embed_finds_the_chunks_bert_hf_cached(tmp_path, tiny_bert):
    cache = str(tmp_path / "cache")
    conf = write_text_tables(str(tmp_path / "tables"), tiny_bert)
    with open(conf) as f:
        cfg = json.load(f)
    cfg["nodes"][0]["features"].append(
        {"feature_col": "text", "feature_name": "bert_emb",
         "transform": {"name": "bert_hf", "bert_model": tiny_bert, "max_seq_length": MAX_SEQ, "pooling": "mean",
                       "infer_batch_size": 5, "cache_dir": cache}})
    with open(conf, "w") as f:
        json.dump(cfg, f)
    g = construct(conf, str(tmp_path / "graph"))

    res = lm_embed(LMEmbedConfig(g, tiny_bert, pooling="mean", cache_dir=cache, device="cpu"))
    assert (res.stats["paper"].chunks, res.stats["paper"].cached, res.stats["paper"].computed) == (1, 1, 0)
    graph = Graph(g)
    np.testing.assert_array_equal(graph.node_feature("paper", "lm_emb"), graph.node_feature("paper", "bert_emb"))
