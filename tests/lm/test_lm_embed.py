"""`graphkit lm-embed` end to end on a graph built by `graphkit construct` with tokenize_hf."""

import json
import os

import numpy as np
import pytest

from graphkit.cli.main import main
from graphkit.errors import GraphkitError
from graphkit.lm.chunked import embed_rows
from graphkit.lm.embed_stage import LMEmbedConfig, lm_embed
from graphkit.lm.encoder import TextEncoder
from graphkit.lm.tokens import node_tokens
from graphkit.storage.graph import Graph


def _expected(graph_dir, model_dir, pooling="mean", max_seq_length=None):
    tokens = node_tokens(Graph(graph_dir), "paper", max_seq_length)
    return embed_rows(TextEncoder.load(model_dir, pooling, device="cpu"), tokens, 8)[0]


def _files(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)


def test_cli_adds_the_feature_in_place(text_graph, tiny_bert, tmp_path, capsys):
    cache = str(tmp_path / "cache")
    assert main(["lm-embed", "--graph-dir", text_graph, "--lm-model", tiny_bert, "--cache-dir", cache,
                 "--batch-size", "5", "--chunk-size", "10", "--device", "cpu"]) == 0
    assert "paper                        24    32       3       0         3" in capsys.readouterr().out
    g = Graph(text_graph)
    emb = g.node_feature("paper", "lm_emb")
    assert emb.dtype == np.float32 and emb.shape == (24, 32)
    np.testing.assert_allclose(emb, _expected(text_graph, tiny_bert), atol=1e-6)
    assert "lm_emb" not in g.meta.node_types["author"].features
    src = g.meta.construction["node_feature_sources"]["lm_emb"]
    assert src["lm_model"] == tiny_bert and src["pooling"] == "mean" and src["node_types"] == ["paper"]
    assert len(src["model_fingerprint"]) == 64
    assert not [f for f in _files(text_graph) if ".tmp" in f]

    # a rerun must ask before replacing; with --overwrite it finds every chunk in the cache
    assert main(["lm-embed", "--graph-dir", text_graph, "--lm-model", tiny_bert, "--cache-dir", cache]) == 2
    old = g.meta.node_types["paper"].features["lm_emb"].path
    res = lm_embed(LMEmbedConfig(text_graph, tiny_bert, cache_dir=cache, chunk_size=10, overwrite=True,
                                 device="cpu"))
    assert (res.stats["paper"].cached, res.stats["paper"].computed) == (3, 0)
    g2 = Graph(text_graph)
    new = g2.meta.node_types["paper"].features["lm_emb"].path
    assert new != old and not os.path.exists(os.path.join(text_graph, old))  # a new file, the old one removed
    np.testing.assert_array_equal(g2.node_feature("paper", "lm_emb"), emb)


def test_output_dir_hard_links_the_source_and_leaves_it_unchanged(text_graph, tiny_bert, tmp_path):
    before = _files(text_graph)
    out = str(tmp_path / "with_lm")
    assert main(["lm-embed", "--graph-dir", text_graph, "--lm-model", tiny_bert, "--output-dir", out,
                 "--no-cache", "--pooling", "cls", "--max-seq-length", "4", "--feature-name", "text_emb",
                 "--out-dtype", "float16"]) == 0
    assert _files(text_graph) == before and "text_emb" not in Graph(text_graph).meta.node_types["paper"].features
    g = Graph(out)
    emb = g.node_feature("paper", "text_emb")
    assert emb.dtype == np.float16 and emb.shape == (24, 32)
    np.testing.assert_allclose(emb, _expected(text_graph, tiny_bert, "cls", 4), atol=2e-3)
    ids = g.meta.node_types["paper"].features["input_ids"].path
    assert os.stat(os.path.join(out, ids)).st_ino == os.stat(os.path.join(text_graph, ids)).st_ino
    assert os.stat(os.path.join(out, "graph.json")).st_ino != os.stat(os.path.join(text_graph, "graph.json")).st_ino
    assert set(_files(out)) == set(before) | {"nodes/paper/features/text_emb.npy"}


class _Kill(RuntimeError):
    pass


def _killing_encoder(model_dir, after_calls):
    """A real encoder whose model raises on forward call number ``after_calls + 1`` (a crash mid-run)."""
    enc = TextEncoder.load(model_dir, "mean", device="cpu")
    calls = []

    def hook(module, args, kwargs):
        calls.append(1)
        if len(calls) > after_calls:
            raise _Kill("killed")

    enc.model.register_forward_pre_hook(hook, with_kwargs=True)
    return enc


@pytest.mark.parametrize("to_new_dir", [False, True])
def test_a_killed_run_leaves_no_feature_and_a_restart_resumes(text_graph, tiny_bert, tmp_path, to_new_dir):
    cache = str(tmp_path / "cache")
    out = str(tmp_path / "out") if to_new_dir else None
    before = {f: open(os.path.join(text_graph, f), "rb").read() for f in _files(text_graph)}
    cfg = LMEmbedConfig(text_graph, tiny_bert, output_dir=out, cache_dir=cache, batch_size=4, chunk_size=8,
                        device="cpu")
    with pytest.raises(_Kill):  # chunks of 8 rows = 2 batches: killed during the second chunk
        lm_embed(cfg, encoder=_killing_encoder(tiny_bert, after_calls=3))
    after = {f: open(os.path.join(text_graph, f), "rb").read() for f in _files(text_graph)}
    assert after == before  # graph.json, features: nothing changed, no temporary file left behind
    assert sorted(os.listdir(tmp_path)) == ["cache", "graph"]  # no output dir, no temporary sibling

    res = lm_embed(cfg)
    assert (res.stats["paper"].chunks, res.stats["paper"].cached, res.stats["paper"].computed) == (3, 1, 2)
    np.testing.assert_allclose(Graph(out or text_graph).node_feature("paper", "lm_emb"),
                               _expected(text_graph, tiny_bert), atol=1e-6)


def test_clear_errors(text_graph, tiny_bert, tmp_path, capsys):
    def err(*extra):
        code = main(["lm-embed", "--graph-dir", text_graph, "--lm-model", tiny_bert, "--no-cache", *extra])
        assert code == 2
        return capsys.readouterr().err

    assert "node type 'author' has no token features" in err("--ntypes", "author")
    assert "tokenize_hf" in err("--ntypes", "author")
    assert "Did you mean 'paper'" in err("--ntypes", "papr")
    assert "not allowed" in err("--feature-name", "input_ids")
    assert "inside the source graph" in err("--output-dir", os.path.join(text_graph, "sub"))
    code = main(["lm-embed", "--graph-dir", text_graph, "--lm-model", str(tmp_path / "no-model"), "--no-cache"])
    assert code == 2 and "cannot load the model from model name" in capsys.readouterr().err
    with pytest.raises(GraphkitError, match="vocabulary of 10"):
        import transformers

        small = str(tmp_path / "small")
        transformers.BertModel(transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                                                       intermediate_size=8, vocab_size=10)).save_pretrained(small)
        lm_embed(LMEmbedConfig(text_graph, small, cache_dir=None, device="cpu"))
    assert "lm_emb" not in Graph(text_graph).meta.node_types["paper"].features


def test_graph_without_text(tmp_path, tiny_bert):
    from lm_fixtures import construct

    d = tmp_path / "tables"
    d.mkdir()
    (d / "n.csv").write_text("id,x\na,1\nb,2\n")
    (d / "e.csv").write_text("s,t\na,b\n")
    conf = d / "g.json"
    conf.write_text(json.dumps({"version": "gconstruct-v0.1", "nodes": [
        {"node_type": "n", "node_id_col": "id", "format": {"name": "csv"}, "files": ["n.csv"],
         "features": [{"feature_col": "x"}]}], "edges": [
        {"relation": ["n", "to", "n"], "source_id_col": "s", "dest_id_col": "t", "format": {"name": "csv"},
         "files": ["e.csv"]}]}))
    g = construct(str(conf), str(tmp_path / "g"))
    with pytest.raises(GraphkitError, match="no node type of this graph has token features"):
        lm_embed(LMEmbedConfig(g, tiny_bert, cache_dir=None))


def test_overwrite_into_a_new_directory_leaves_the_source_feature(text_graph, tiny_bert, tmp_path):
    lm_embed(LMEmbedConfig(text_graph, tiny_bert, cache_dir=None, pooling="cls", device="cpu"))
    src_before = Graph(text_graph).node_feature("paper", "lm_emb").copy()
    out = str(tmp_path / "out")
    lm_embed(LMEmbedConfig(text_graph, tiny_bert, output_dir=out, cache_dir=None, overwrite=True, device="cpu"))
    np.testing.assert_array_equal(Graph(text_graph).node_feature("paper", "lm_emb"), src_before)
    np.testing.assert_allclose(Graph(out).node_feature("paper", "lm_emb"), _expected(text_graph, tiny_bert),
                               atol=1e-6)
    # the copy holds the new file only (the hard link to the source's old file is gone)
    assert [f for f in _files(out) if "lm_emb" in f] == [Graph(out).meta.node_types["paper"].features["lm_emb"].path]
